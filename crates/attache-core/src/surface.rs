//! What a kind declares about itself, as data: how its bindings look, which service-binding
//! types and files are its own, its well-known default passwords, how it words its TLS
//! remedies, and its sections of the check pages. Core reads these; core's own code names no
//! protocol.

use crate::binding::UrlShape;
use crate::finding::CheckId;
use crate::transport::TlsAdvice;

/// A kind's surface: everything core needs to know about it that is not code.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    /// The kind's name for people, as its servers' makers write it: the heading of its
    /// sections in the check pages.
    pub title: &'static str,
    /// Its connection URL: schemes, path, parameters.
    pub url: UrlShape,
    /// The service-binding `type` values it accepts (compared without case).
    pub binding_types: &'static [&'static str],
    /// The service-binding files it reads beyond the ones every kind reads
    /// ([`SERVICE_BINDING_FILES`](crate::discover::SERVICE_BINDING_FILES)).
    pub binding_files: &'static [&'static str],
    /// Passwords its servers or images ship with, beyond the generic ones
    /// ([`DEFAULT_PASSWORDS`]): accepted, they are `cred-default`.
    pub default_passwords: &'static [&'static str],
    /// How its TLS findings tell users to fix them.
    pub tls: TlsAdvice,
    /// The remedy of a `cred-empty` when the server let the account in with no password and no
    /// client certificate.
    pub no_credential_fix: &'static str,
    /// The remedy of a `priv-unknown`: how to let the account see its own privileges.
    pub unknown_fix: &'static str,
    /// Its sections of the check pages, as one Markdown text (the kind's `checks.md`): each
    /// section starts at a line `<!-- check: ID -->`; what comes before the first is not shown.
    /// `attache explain` appends a check's section to core's page under the kind's title.
    pub pages: &'static str,
}

impl Surface {
    /// The kind's section of `check`'s page, if it has one.
    pub fn page(&self, check: CheckId) -> Option<&'static str> {
        self.sections()
            .find(|(id, _)| *id == check.as_str())
            .map(|(_, body)| body)
    }

    /// Every section of [`Surface::pages`]: the id after `<!-- check:` and the text up to the
    /// next section, trimmed.
    pub fn sections(&self) -> impl Iterator<Item = (&'static str, &'static str)> + use<> {
        self.pages.split(SECTION).skip(1).map(|part| {
            let (id, body) = part.split_once("-->").unwrap_or((part, ""));
            (id.trim(), body.trim())
        })
    }
}

/// What opens a section of a kind's check pages: `<!-- check: ID -->`.
const SECTION: &str = "<!-- check:";

/// Passwords that are well-known defaults whatever the server: accepted, they are
/// `cred-default`. A password equal to the user name is one too.
pub const DEFAULT_PASSWORDS: &[&str] = &[
    "password", "admin", "root", "changeme", "secret", "123456", "guest", "default",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found_by_their_marker() {
        let surface = Surface {
            title: "Example",
            url: UrlShape {
                schemes: &["example"],
                example: "example://host",
                path: "database",
                params: &[],
                canonical: None,
                fragment: false,
                fields: &[],
            },
            binding_types: &["example"],
            binding_files: &[],
            default_passwords: &[],
            tls: TlsAdvice {
                verify_full: "",
                plaintext: "",
                socket: "",
                server_tls: "",
                ca: "",
                client_cert: "",
            },
            no_credential_fix: "",
            unknown_fix: "",
            pages: "<!-- preface -->\n\n<!-- check: tls-plaintext -->\n\nPlain.\n\n# not a marker\n\n<!-- check: auth-failed -->\nRefused.\n",
        };
        assert_eq!(
            surface.page(CheckId::TlsPlaintext),
            Some("Plain.\n\n# not a marker")
        );
        assert_eq!(surface.page(CheckId::AuthFailed), Some("Refused."));
        assert_eq!(surface.page(CheckId::CredEmpty), None);
        assert_eq!(surface.sections().count(), 2);
    }
}
