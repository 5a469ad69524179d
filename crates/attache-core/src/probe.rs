//! What kinds that learn an account's rights by trying them share: the answer of one probe,
//! and a name no one uses to probe with (a random queue, topic or client id), so a probe never
//! touches what the app or anyone else uses.

use serde::Serialize;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "answer", content = "detail")]
pub enum Answer {
    /// The server's check passed.
    Allowed,
    /// The server refused; what it said.
    Denied(String),
    /// Not known; why.
    Unknown(String),
}

/// Hex digits unique to this call in this process and unlikely anywhere else (the time, the
/// process id and a counter): unique, not secret.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{n:x}", nanos, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_differ_and_are_hex() {
        let (a, b) = (unique_suffix(), unique_suffix());
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(
            serde_json::to_value(Answer::Denied("no".into())).unwrap(),
            serde_json::json!({"answer": "denied", "detail": "no"})
        );
    }
}
