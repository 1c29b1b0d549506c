//! Distribution files (`.dist`): any bytes. Whatever parses must answer
//! for its title, version and description, with the plain-text
//! description within the length asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsus_publish::distribution::{Distribution, DistributionLimits};

fuzz_target!(|data: &[u8]| {
    let mut limits = DistributionLimits::default();
    limits.max_input_len(1 << 16).max_elements(5_000);
    let Ok(dist) = Distribution::parse_with(data, &limits) else {
        return;
    };
    let _ = (dist.title(), dist.version(), dist.server_comment());
    for n in [0, 1, 40, 1500] {
        if let Some(text) = dist.description_text(n) {
            assert!(text.chars().count() <= n);
        }
    }
    for pkg in &dist.pkg_refs {
        assert_eq!(dist.pkg_ref(&pkg.id).map(|p| &p.id), Some(&pkg.id));
    }
    let _ = dist.os_version_constraints();
});
