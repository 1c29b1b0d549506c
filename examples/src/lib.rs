//! Small helpers shared by the examples.

use base64::Engine;

/// The DER bytes of every `CERTIFICATE` block in a PEM file. Errors when
/// there is none or one does not decode.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END).ok_or("unterminated certificate block")?;
        let b64: String = after[..end].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("bad base64 in certificate: {e}"))?;
        out.push(der);
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no CERTIFICATE block".to_owned());
    }
    Ok(out)
}

/// This process's peak resident memory (`VmHWM` of /proc/self/status), in
/// KiB, where /proc tells it.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `n / seconds`, rounded, or 0 for no time.
pub fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (n as f64 / seconds).round()
    } else {
        0.0
    }
}
