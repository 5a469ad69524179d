//! The one type that holds a secret.
//!
//! A [`Secret`] never prints: `Debug` shows `Secret(****)`, there is no `Display`, no
//! `Serialize`, and the bytes are zeroed when it is dropped. Reading the value takes the
//! deliberately awkward [`Secret::expose_secret`], so every place that does it stands out in
//! review.

use std::fmt;

use zeroize::Zeroizing;

/// A password, a URL carrying a password, a private key: anything that must never be printed.
///
/// ```
/// use attache_core::Secret;
///
/// let s = Secret::new("hunter2".to_owned());
/// assert_eq!(format!("{s:?}"), "Secret(****)");
/// assert_eq!(s.expose_secret(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value. The `String` moves in, so no unzeroed copy stays behind in the caller.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret's value. Call it only where the value must reach the wire.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A short fingerprint (hex of a SHA-256 prefix) to compare secrets without holding them,
    /// e.g. to find one password reused by several resources. Not reversible.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("planted-abc".into());
        assert!(!format!("{s:?}").contains("planted"));
        assert!(!format!("{:#?}", Some(&s)).contains("planted"));
    }

    #[test]
    fn fingerprint_is_stable_and_distinct() {
        let a = Secret::new("one".into());
        assert_eq!(a.fingerprint(), Secret::new("one".into()).fingerprint());
        assert_ne!(a.fingerprint(), Secret::new("two".into()).fingerprint());
        assert!(!a.fingerprint().contains("one"));
    }
}
