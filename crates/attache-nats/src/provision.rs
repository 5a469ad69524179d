//! The least-privileged account for a manifest's needs, in nats-server's configuration
//! language: one user entry for `authorization { users = [ … ] }` (or an account's `users`),
//! with allow lists of exactly the needs' subjects, plus what attache needs to read them:
//! publish on `$SYS.REQ.USER.INFO` (the server answers it with the caller's own permissions)
//! and subscribe on the account's own inbox (`_INBOX.<user>.>`, where the answer comes back).
//!
//! The password, given, is written in as a quoted string; not given, the entry refers to the
//! variable `$NATS_PASSWORD`, which nats-server resolves from its environment and without
//! which it refuses the configuration.

use attache_core::{Provision, ProvisionRequest};

use crate::Nats;
use crate::needs::{Need, Verb};

/// The variable standing for the password when none was given.
pub const PASSWORD_PARAMETER: &str = "$NATS_PASSWORD";

/// What attache publishes to read the account's permissions.
pub const USER_INFO: &str = "$SYS.REQ.USER.INFO";

/// `text` as a quoted string of nats-server's configuration (JSON's quoting).
pub fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// The allow lists of exactly `needs`, and attache's own two entries, for `user`.
pub fn allow_lists(user: &str, needs: &[Need]) -> (Vec<String>, Vec<String>) {
    let mut publish: Vec<String> = Vec::new();
    let mut subscribe: Vec<String> = Vec::new();
    for need in needs {
        let (list, entry) = match (need.verb, &need.queue) {
            (Verb::Publish, _) => (&mut publish, need.subject.clone()),
            (Verb::Subscribe, None) => (&mut subscribe, need.subject.clone()),
            (Verb::Subscribe, Some(q)) => (&mut subscribe, format!("{} {q}", need.subject)),
        };
        if !list.contains(&entry) {
            list.push(entry);
        }
    }
    publish.push(USER_INFO.to_owned());
    subscribe.push(format!("_INBOX.{user}.>"));
    (publish, subscribe)
}

/// The user entry for `user` holding exactly `needs`, its password written as `password`.
pub fn user_entry(user: &str, password: &str, needs: &[Need]) -> String {
    let (publish, subscribe) = allow_lists(user, needs);
    let list = |l: &[String]| l.iter().map(|e| quote(e)).collect::<Vec<_>>().join(", ");
    format!(
        "{{ user: {}, password: {password}, permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}",
        quote(user),
        list(&publish),
        list(&subscribe)
    )
}

/// The user entry for `request`'s needs.
pub fn provision(request: &ProvisionRequest<'_, Nats>) -> Provision {
    let password = request.password_or(PASSWORD_PARAMETER, quote);
    request.answer(
        "nats-server.conf",
        vec![user_entry(request.account, &password, request.needs)],
        vec![
            "put the entry in `authorization { users = [ … ] }`, or in the `users` of the account the app belongs to, then reload: nats-server --signal reload".into(),
            match request.password {
                Some(_) => "the entry holds the password: keep the file out of version control, or store a bcrypt hash (nats server passwd) in its place".into(),
                None => format!("{PASSWORD_PARAMETER} is read from nats-server's environment; unset, the server refuses the configuration. A bcrypt hash (nats server passwd) may stand in its place"),
            },
            "serve TLS to clients: a `tls { cert_file, key_file }` block, so the server's INFO says tls_required".into(),
            format!("{USER_INFO} and _INBOX.<user>.> let attache read the account's own permissions; nothing else"),
            "in operator mode (JWT accounts), the same lists with nsc: nsc add user --allow-pub … --allow-sub …".into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Secret;
    use attache_testkit::unit;

    #[test]
    fn one_entry_with_exactly_the_needs() {
        let p = unit::provision::<Nats>(
            &[
                "publish orders.>",
                "subscribe replies.*",
                "subscribe work.* queue workers",
            ],
            "app",
            None,
        );
        assert_eq!(p.language, "nats-server.conf");
        assert_eq!(
            p.statements,
            [
                "{ user: \"app\", password: $NATS_PASSWORD, permissions: { publish: { allow: [\"orders.>\", \"$SYS.REQ.USER.INFO\"] }, subscribe: { allow: [\"replies.*\", \"work.* workers\", \"_INBOX.app.>\"] } } }"
            ]
        );
        let pw = Secret::new("planted \"pw\"".into());
        let p = unit::provision::<Nats>(&["publish a"], "app", Some(&pw));
        assert!(
            p.statements[0].contains("password: \"planted \\\"pw\\\"\""),
            "{}",
            p.statements[0]
        );
    }
}
