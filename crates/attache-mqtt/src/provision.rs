//! The least-privileged account for a manifest's needs, in Mosquitto's own tool: the
//! dynamic-security plugin's `mosquitto_ctrl dynsec` commands, which an administrator runs
//! against a live broker (no reload).
//!
//! - `createClient` with the password (given: quoted for the shell; not given: a shell
//!   parameter, `"${PASSWORD:?…}"`, that stops the script unfilled);
//! - `createRole` named as the account, then one `addRoleACL` per need: `publishClientSend`
//!   for `publish`, `subscribePattern` and `publishClientReceive` for `subscribe`;
//! - `addClientRole`.
//!
//! The `acl_file` way is written in the notes (`mosquitto_passwd -b` and the `user`/`topic`
//! lines), with what it costs: an acl_file checks no subscription, so attache cannot see what
//! such an account may read.

use attache_core::{Provision, ProvisionRequest};

use crate::Mqtt;
use crate::needs::Verb;

/// The shell parameter standing for the password when none was given.
pub const PASSWORD_PARAMETER: &str = "\"${PASSWORD:?set PASSWORD to the account's password}\"";

/// The `mosquitto_ctrl dynsec` commands for `request`'s needs.
pub fn provision(request: &ProvisionRequest<'_, Mqtt>) -> Provision {
    let account = quote(request.account);
    let password = request.password_or(PASSWORD_PARAMETER, quote);
    let ctl = "mosquitto_ctrl dynsec";
    let mut statements = vec![
        format!("{ctl} createClient {account} -p {password}"),
        format!("{ctl} createRole {account}"),
    ];
    let mut acl_lines = vec![format!("user {}", request.account)];
    for need in request.needs {
        let filter = quote(&need.filter);
        match need.verb {
            Verb::Publish => {
                statements.push(format!(
                    "{ctl} addRoleACL {account} publishClientSend {filter} allow"
                ));
                acl_lines.push(format!("topic write {}", need.filter));
            }
            Verb::Subscribe => {
                statements.push(format!(
                    "{ctl} addRoleACL {account} subscribePattern {filter} allow"
                ));
                statements.push(format!(
                    "{ctl} addRoleACL {account} publishClientReceive {filter} allow"
                ));
                acl_lines.push(format!("topic read {}", need.filter));
            }
        }
    }
    statements.push(format!("{ctl} addClientRole {account} {account}"));
    request.answer(
        "mosquitto_ctrl",
        statements,
        vec![
            match request.password {
                Some(_) => "run as the broker's dynamic-security administrator: sh grants.sh (the file holds the password: keep it out of version control)".into(),
                None => "run as the broker's dynamic-security administrator with the account's password: PASSWORD=\"$(cat PASSWORD_FILE)\" sh grants.sh (unset, the commands stop before changing anything)".into(),
            },
            "mosquitto_ctrl reads how to reach the broker from ~/.config/mosquitto_ctrl, one option a line: -h <host>, -p 8883, --cafile <ca.crt>, -u <admin>, -P <admin password> (keep that file 0600)".into(),
            format!(
                "with a password_file and an acl_file instead: mosquitto_passwd -b <password_file> {} <password>, these lines in the acl_file: {}; then SIGHUP the broker. An acl_file checks no subscription, so attache cannot see what such an account may read (priv-unknown)",
                request.account,
                acl_lines.join(" / ")
            ),
            "serve MQTT over TLS only (listener 8883 with cafile, certfile, keyfile; no plain listener 1883), and keep allow_anonymous false".into(),
        ],
    )
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

    #[test]
    fn the_commands_grant_exactly_the_needs() {
        let p = unit::provision::<Mqtt>(
            &["publish sensors/temp", "subscribe commands/#"],
            "sensor-app",
            None,
        );
        assert_eq!(p.language, "mosquitto_ctrl");
        assert_eq!(
            p.statements,
            [
                format!("mosquitto_ctrl dynsec createClient 'sensor-app' -p {PASSWORD_PARAMETER}"),
                "mosquitto_ctrl dynsec createRole 'sensor-app'".to_owned(),
                "mosquitto_ctrl dynsec addRoleACL 'sensor-app' publishClientSend 'sensors/temp' allow".to_owned(),
                "mosquitto_ctrl dynsec addRoleACL 'sensor-app' subscribePattern 'commands/#' allow".to_owned(),
                "mosquitto_ctrl dynsec addRoleACL 'sensor-app' publishClientReceive 'commands/#' allow".to_owned(),
                "mosquitto_ctrl dynsec addClientRole 'sensor-app' 'sensor-app'".to_owned(),
            ]
        );
        assert!(p.notes.iter().any(|n| n.contains("PASSWORD=")));
        assert!(p.notes.iter().any(|n| {
            n.contains("user sensor-app / topic write sensors/temp / topic read commands/#")
        }));
    }

    #[test]
    fn a_given_password_is_quoted_for_the_shell() {
        let pw = Secret::new("planted it's $HOME".to_owned());
        let p = unit::provision::<Mqtt>(&["subscribe q/#"], "app", Some(&pw));
        assert_eq!(
            p.statements[0],
            "mosquitto_ctrl dynsec createClient 'app' -p 'planted it'\\''s $HOME'"
        );
    }
}
