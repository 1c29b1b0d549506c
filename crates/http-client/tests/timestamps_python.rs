//! Time stamps checked against Python's `datetime`, an implementation we
//! did not write: Python writes random instants in the forms Apple's
//! services use, we read them back, and the other way round.

use std::time::{Duration, UNIX_EPOCH};

use pippin_http_client::{Offset, format_timestamp, parse_timestamp};

const SCRIPT: &str = r#"
import datetime, random, sys
random.seed(int(sys.argv[1]))
utc = datetime.timezone.utc
for _ in range(2000):
    secs = random.randrange(0, 253402300799)
    t = datetime.datetime.fromtimestamp(secs, utc)
    minutes = random.randrange(-23 * 60, 23 * 60 + 1)
    local = t.astimezone(datetime.timezone(datetime.timedelta(minutes=minutes)))
    print(secs, t.strftime("%Y-%m-%dT%H:%M:%S%z"), local.isoformat(), local.strftime("%Y-%m-%dT%H:%M:%S%z"))
"#;

#[test]
fn python_writes_we_read() {
    if !test_support::require_python("python_writes_we_read", &["datetime"]) {
        return;
    }
    let out = test_support::run_ok(&[&test_support::python(), "-c", SCRIPT, "7"], b"");
    let text = String::from_utf8(out).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let secs: u64 = parts[0].parse().unwrap();
        let want = UNIX_EPOCH + Duration::from_secs(secs);
        for form in &parts[1..] {
            assert_eq!(parse_timestamp(form), Some(want), "{form}");
        }
        n += 1;
    }
    assert_eq!(n, 2000);
}

#[test]
fn we_write_python_reads() {
    if !test_support::require_python("we_write_python_reads", &["datetime"]) {
        return;
    }
    let mut input = String::new();
    let mut secs = 17u64;
    for _ in 0..2000 {
        // A cheap spread over 1970..9999.
        secs = secs
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            % 253_402_300_799;
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        input.push_str(&format!(
            "{secs} {} {}\n",
            format_timestamp(t, Offset::Z),
            format_timestamp(t, Offset::Numeric)
        ));
    }
    let check = r#"
import datetime, sys
n = 0
for line in sys.stdin:
    secs, z, numeric = line.split()
    a = datetime.datetime.strptime(z.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    b = datetime.datetime.strptime(numeric, "%Y-%m-%dT%H:%M:%S%z")
    assert int(a.timestamp()) == int(secs) == int(b.timestamp()), line
    n += 1
print(n)
"#;
    let out = test_support::run_ok(&[&test_support::python(), "-c", check], input.as_bytes());
    assert_eq!(String::from_utf8(out).unwrap().trim(), "2000");
}
