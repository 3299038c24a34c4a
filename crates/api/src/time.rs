//! Timestamps as the API writes them: `metav1.Time` (seconds) and `metav1.MicroTime`.

use k8s_openapi::jiff::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as a timestamp.
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The current time in `metav1.Time` form: RFC 3339 in UTC with whole seconds.
pub fn now_rfc3339() -> String {
    now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time in `metav1.MicroTime` form: RFC 3339 in UTC with microseconds.
pub fn now_micro_rfc3339() -> String {
    now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let s = super::now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.starts_with("20"));
        let m = super::now_micro_rfc3339();
        assert_eq!(m.len(), 27, "{m}");
    }
}
