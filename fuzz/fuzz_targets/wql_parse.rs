//! WQL: parsing any text never panics; an accepted query passes its own
//! check, and its canonical display parses back to the same query and
//! displays the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = sccm_wmi::wql::parse(text) else {
        return;
    };
    assert_eq!(query.check(), Ok(()), "{query}");
    let canonical = query.to_string();
    let again = sccm_wmi::wql::parse(&canonical).expect("canonical WQL parses");
    assert_eq!(again, query, "{canonical}");
    assert_eq!(again.to_string(), canonical);
});
