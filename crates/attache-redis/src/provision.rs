//! The least-privileged account for a manifest's needs, in Redis's own words: one
//! `ACL SETUSER` that makes the account afresh, holding exactly the needs.
//!
//! `reset` first (no password, no keys, no channels, no commands, off), then `on`, the
//! password, and the needs' words. attache never invents the password: given one (read from a
//! file the administrator named), it is written in as `>password`, quoted for `redis-cli`;
//! without one, the statement carries `#<password-sha256-hex>`. Redis takes `#<hex>` as the
//! SHA-256 of the password (that is all it keeps), so the administrator fills in the hash and the
//! plaintext never reaches a command line; left unfilled, Redis rejects the marker (it is not 64
//! hex digits) and, `ACL SETUSER` being all-or-nothing, changes nothing.

use attache_core::{Provision, ProvisionRequest};

use crate::Redis;

/// The marker standing for the password's SHA-256, which Redis refuses as it is.
pub const PASSWORD_PARAMETER: &str = "#<password-sha256-hex>";

/// One `ACL SETUSER <account> reset on <password> resetchannels resetkeys -@all <needs…>`.
/// Commands, keys and channels are the union of the needs: Redis grants keys and channels to
/// an account, not to one of its commands.
pub fn provision(request: &ProvisionRequest<'_, Redis>) -> Provision {
    let (needs, account) = (request.needs, request.account);
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !words.contains(&w) {
            words.push(w);
        }
    };
    for need in needs {
        need.commands.iter().for_each(|r| push(r.to_string()));
    }
    for need in needs {
        need.keys.iter().for_each(|k| push(k.to_string()));
    }
    for need in needs {
        need.channels.iter().for_each(|c| push(format!("&{c}")));
    }
    let password_word = request.password_or(PASSWORD_PARAMETER, |pw| quote(&format!(">{pw}")));
    let words: Vec<String> = words.iter().map(|w| quote(w)).collect();
    let statement = format!(
        "ACL SETUSER {} reset on {password_word} resetchannels resetkeys -@all {}",
        quote(account),
        words.join(" ")
    )
    .trim_end()
    .to_owned();
    request.answer(
        "redis",
        vec![statement],
        vec![
            match request.password {
                Some(_) => "run as an administrator over TLS: redis-cli --tls --cacert ca.crt -h HOST -p PORT --user ADMIN --askpass < grants.redis (the file holds the password: keep it out of version control)".into(),
                None => format!("replace {PASSWORD_PARAMETER} with the SHA-256 of the account's password, e.g. printf %s \"$(cat PASSWORD_FILE)\" | sha256sum | cut -d' ' -f1 (Redis keeps only that hash; unfilled, the server refuses the statement and changes nothing); then run it as an administrator over TLS: redis-cli --tls --cacert ca.crt -h HOST -p PORT --user ADMIN --askpass < grants.redis"),
            },
            "make it last: ACL SAVE when the server reads users from an aclfile (write passwords there as #<sha256>: an aclfile line splits at spaces), else CONFIG REWRITE".into(),
            "serve TLS only, in redis.conf: port 0, tls-port 6379, tls-cert-file, tls-key-file, tls-ca-cert-file, tls-protocols \"TLSv1.2 TLSv1.3\" (tls-auth-clients yes to demand client certificates)".into(),
            "let no one in without a password: ACL SETUSER default off, and `user default off` in redis.conf or the aclfile".into(),
            "Redis grants keys and channels to the account, not to one command: every command above reaches every key pattern above; a binding that selects a database other than 0 also needs +select".into(),
        ],
    )
}

/// An argument as `redis-cli` reads it: bare when it holds no space, quote, backslash or
/// control character, else in double quotes with `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH`.
pub fn quote(arg: &str) -> String {
    let bare = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if bare {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Secret;
    use attache_testkit::unit;

    const NEEDS: &[&str] = &[
        "+get +set +expire ~session:*",
        "+publish &events",
        "+get %R~cache:*",
    ];

    #[test]
    fn one_statement_makes_the_account_afresh() {
        let p = unit::provision::<Redis>(NEEDS, "signup-app", None);
        assert_eq!(
            p.statements,
            [
                "ACL SETUSER signup-app reset on #<password-sha256-hex> resetchannels resetkeys -@all +get +set +expire +publish ~session:* %R~cache:* &events"
            ]
        );
        assert_eq!(p.language, "redis");
        assert!(p.notes.iter().any(|n| n.contains("sha256sum")));
        assert!(p.notes.iter().any(|n| n.contains("user default off")));
        assert!(p.notes.iter().any(|n| n.contains("port 0")));
    }

    #[test]
    fn a_given_password_is_quoted_in() {
        let pw = Secret::new("planted pass\"word\\".to_owned());
        let p = unit::provision::<Redis>(NEEDS, "app", Some(&pw));
        assert!(
            p.statements[0].starts_with(
                "ACL SETUSER app reset on \">planted pass\\\"word\\\\\" resetchannels"
            ),
            "{}",
            p.statements[0]
        );
        assert!(!p.notes.iter().any(|n| n.contains("sha256sum")));
    }

    #[test]
    fn quoting_is_what_redis_cli_reads() {
        assert_eq!(quote("plain:*"), "plain:*");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("it's"), "\"it's\"");
        assert_eq!(quote("\u{1}"), "\"\\x01\"");
    }
}
