//! The least-privileged account for a manifest's needs, in RabbitMQ's own tool:
//! `rabbitmqctl` commands an administrator runs on a broker node.
//!
//! - `add_user` with the password (given: quoted for the shell; not given: a shell parameter,
//!   `"${PASSWORD:?…}"`, that stops the script unfilled), then `set_user_tags` with no tags (an
//!   app account needs none: every tag opens the management API);
//! - `set_permissions` in the binding's vhost with one anchored regular expression per
//!   permission matching exactly the names the needs give it (`^(orders|orders\.work)$`), `^$`
//!   for a permission no need asks for;
//! - `set_topic_permissions` per topic exchange the needs name.
//!
//! The vhost is the deployment's, not the manifest's: the commands read it from the shell
//! parameter `VHOST`, which stops them when unset.

use attache_core::{Provision, ProvisionRequest};

use crate::Amqp;
use crate::needs::{Need, Verb, exactly, topic_regex};

/// The shell parameter standing for the password when none was given.
pub const PASSWORD_PARAMETER: &str = "\"${PASSWORD:?set PASSWORD to the account's password}\"";
/// The shell parameter standing for the binding's vhost.
pub const VHOST_PARAMETER: &str = "\"${VHOST:?set VHOST to the binding's vhost}\"";

/// The `rabbitmqctl` commands for `request`'s needs.
pub fn provision(request: &ProvisionRequest<'_, Amqp>) -> Provision {
    let account = quote(request.account);
    let password = request.password_or(PASSWORD_PARAMETER, quote);
    let mut statements = vec![
        format!("rabbitmqctl add_user {account} {password}"),
        format!("rabbitmqctl set_user_tags {account}"),
    ];
    let [configure, write, read] = permissions(request.needs);
    statements.push(format!(
        "rabbitmqctl set_permissions -p {VHOST_PARAMETER} {account} {configure} {write} {read}"
    ));
    let mut exchanges: Vec<&str> = request
        .needs
        .iter()
        .filter_map(|n| match n {
            Need::Topic { exchange, .. } => Some(exchange.as_str()),
            Need::Resource { .. } => None,
        })
        .collect();
    exchanges.sort();
    exchanges.dedup();
    for exchange in exchanges {
        let keys = |verb: Verb| {
            let regexes: Vec<String> = request
                .needs
                .iter()
                .filter_map(|n| match n {
                    Need::Topic {
                        verb: v,
                        exchange: e,
                        key,
                    } if *v == verb && e == exchange => Some(topic_regex(verb, key)),
                    _ => None,
                })
                .collect();
            let joined = match regexes.len() {
                0 => "^$".to_owned(),
                1 => regexes[0].clone(),
                _ => format!("({})", regexes.join("|")),
            };
            quote(&joined)
        };
        statements.push(format!(
            "rabbitmqctl set_topic_permissions -p {VHOST_PARAMETER} {account} {} {} {}",
            quote(exchange),
            keys(Verb::Write),
            keys(Verb::Read)
        ));
    }
    request.answer(
        "rabbitmqctl",
        statements,
        vec![
            match request.password {
                Some(_) => "run on a broker node as its administrator: VHOST=<the binding's vhost> sh grants.sh (the file holds the password: keep it out of version control)".into(),
                None => "run on a broker node as its administrator with the account's password and the binding's vhost: PASSWORD=\"$(cat PASSWORD_FILE)\" VHOST=<vhost> sh grants.sh (unset, the commands stop before changing anything)".into(),
            },
            "create the vhost first if it does not exist: rabbitmqctl add_vhost \"$VHOST\"".into(),
            "serve AMQPS only: listeners.tcp = none, listeners.ssl.default = 5671 and ssl_options.* in rabbitmq.conf; keep the management API on HTTPS (management.ssl.*)".into(),
            "remove or lock the guest user (rabbitmqctl delete_user guest), and keep loopback_users at its default".into(),
            "no topic permission on an exchange means every routing key is allowed on it: the set_topic_permissions lines above narrow only the exchanges they name".into(),
        ],
    )
}

/// The configure, write and read regexes for exactly the needs' names, quoted for the shell.
pub fn permissions(needs: &[Need]) -> [String; 3] {
    Verb::ALL.map(|verb| {
        let names: Vec<&str> = needs
            .iter()
            .filter_map(|n| match n {
                Need::Resource { verb: v, name, .. } if *v == verb => Some(name.as_str()),
                _ => None,
            })
            .collect();
        quote(&exactly(&names))
    })
}

/// An argument as a POSIX shell reads it: in single quotes, each `'` written `'\''`.
pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Secret;
    use attache_testkit::unit;

    const NEEDS: &[&str] = &[
        "configure queue orders.work",
        "write exchange orders",
        "read queue orders.work",
        "read exchange orders",
        "write topic events key eu.*",
        "read topic events key eu.#",
    ];

    #[test]
    fn the_commands_grant_exactly_the_needs() {
        let p = unit::provision::<Amqp>(NEEDS, "signup-app", None);
        assert_eq!(p.language, "rabbitmqctl");
        assert_eq!(
            p.statements,
            [
                format!("rabbitmqctl add_user 'signup-app' {PASSWORD_PARAMETER}"),
                "rabbitmqctl set_user_tags 'signup-app'".to_owned(),
                format!(
                    "rabbitmqctl set_permissions -p {VHOST_PARAMETER} 'signup-app' '^orders\\.work$' '^orders$' '^(orders|orders\\.work)$'"
                ),
                format!(
                    "rabbitmqctl set_topic_permissions -p {VHOST_PARAMETER} 'signup-app' 'events' '^eu\\.[^.]+$' '^eu\\.#$'"
                ),
            ]
        );
        assert!(p.notes.iter().any(|n| n.contains("PASSWORD=")));
        assert!(p.notes.iter().any(|n| n.contains("guest")));
    }

    #[test]
    fn a_given_password_is_quoted_for_the_shell() {
        let pw = Secret::new("planted it's $HOME".to_owned());
        let p = unit::provision::<Amqp>(&["read queue q"], "app", Some(&pw));
        assert_eq!(
            p.statements[0],
            "rabbitmqctl add_user 'app' 'planted it'\\''s $HOME'"
        );
        assert!(p.statements[2].ends_with("'app' '^$' '^$' '^q$'"));
    }
}
