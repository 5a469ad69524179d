//! Judging a posture against the needs: `priv-superuser` (the `administrator` tag),
//! `priv-excess` (other tags, permissions that reach names outside the needs, another vhost),
//! what stays unknown; each need's state for core, which judges `priv-missing` and
//! `priv-unknown` from them. Pure functions over what [`inspect`](crate::inspect) read, so
//! every rule is unit-tested without a broker.

use attache_core::{Account, Excess, Finding, Fix, Grant, NeedCheck, NeedState, Privilege};
use serde::Serialize;

use crate::inspect::{Answer, Posture, Tags};
use crate::needs::{Need, Verb};
use crate::provision::{permissions, quote};

/// What the management API lets each tag do, for the evidence.
fn tag_power(tag: &str) -> &'static str {
    match tag {
        "monitoring" => {
            "sees every vhost, every connection and channel of every user, and node data"
        }
        "policymaker" => "sets policies and parameters in its vhosts",
        "management" => "lists every queue, exchange and binding of its vhosts, with counts",
        "impersonator" => "acts as other users",
        _ => "opens the management API",
    }
}

/// The `set_permissions` that grants exactly the needs' names in `vhost` (it also takes away
/// whatever reaches beyond them).
fn exact_permissions(user: &str, vhost: &str, needs: &[Need]) -> String {
    let [configure, write, read] = permissions(needs);
    format!(
        "rabbitmqctl set_permissions -p {} {} {configure} {write} {read}",
        quote(vhost),
        quote(user)
    )
}

/// The kind's own facts in the account: its tags and what each probe answered.
#[derive(Serialize)]
struct Extension<'a> {
    tags: &'a Tags,
    beyond_the_needs: Vec<(&'static str, &'a Answer)>,
    default_vhost: Option<&'a Answer>,
}

impl attache_core::Posture for Posture {
    fn account(&self) -> Account {
        let needs: Vec<Need> = self.needs.iter().map(|(n, _)| n.clone()).collect();
        let fix = Fix::statement(exact_permissions(&self.user, &self.vhost, &needs));
        let mut privileges = Vec::new();
        for (verb, answer) in &self.beyond {
            if *answer == Answer::Allowed {
                privileges.push(Privilege::direct(
                    verb.as_str(),
                    format!("names outside the needs in vhost {}", self.vhost),
                ));
            }
        }
        let mut checks = Vec::new();
        for (need, answer) in &self.needs {
            let what = need.to_string();
            let state = match answer {
                Answer::Allowed => {
                    privileges.push(Privilege::direct(need.verb().as_str(), what.clone()));
                    NeedState::Granted
                }
                Answer::Denied(said) => NeedState::Missing {
                    detail: format!("{what} is not granted (the broker said: {said})"),
                    fix: Some(fix.clone()),
                },
                Answer::Unknown(why) => NeedState::Unknown {
                    detail: why.clone(),
                },
            };
            checks.push(NeedCheck {
                need: what.clone(),
                what,
                implied: false,
                state,
            });
        }
        if self.default_vhost == Some(Answer::Allowed) {
            privileges.push(Privilege::direct("open", "vhost /"));
        }
        let mut unknown = vec![
            "the account's permission regexes and topic permissions (RabbitMQ shows them only to administrators; probes tested the needs' names and a random name per permission)".to_owned(),
        ];
        let attributes = match &self.tags {
            Tags::Read(tags) => tags.clone(),
            Tags::Unreadable(why) => {
                unknown.push(why.clone());
                Vec::new()
            }
        };
        for (verb, answer) in &self.beyond {
            if let Answer::Unknown(why) = answer {
                unknown.push(format!(
                    "whether {} reaches beyond the needs ({why})",
                    verb.as_str()
                ));
            }
        }
        if let Some(Answer::Unknown(why)) = &self.default_vhost {
            unknown.push(format!("whether the account may open the vhost / ({why})"));
        }
        Account {
            user: Some(self.user.clone()),
            database: Some(self.vhost.clone()),
            server_version: None,
            attributes,
            roles: Vec::new(),
            privileges,
            owns: Vec::new(),
            unknown,
            needs: checks,
            extension: Default::default(),
        }
        .with_extension(&Extension {
            tags: &self.tags,
            beyond_the_needs: self.beyond.iter().map(|(v, a)| (v.as_str(), a)).collect(),
            default_vhost: self.default_vhost.as_ref(),
        })
    }

    fn judge(&self, resource: &str) -> Vec<Finding> {
        let user = &self.user;
        let mut out = Vec::new();
        let clear_tags = Fix::statement(format!("rabbitmqctl set_user_tags {}", quote(user)));
        let mut excess = Excess::default();
        if let Tags::Read(tags) = &self.tags {
            if tags.iter().any(|t| t == "administrator") {
                out.push(
                    Finding::superuser(
                        resource,
                        format!(
                            "account {user} has the administrator tag: it manages every user, vhost and permission, and reads password hashes and definitions through the management API"
                        ),
                        format!(
                            "give the app an account without tags: rabbitmqctl set_user_tags {} (and `attache grants` for its permissions)",
                            quote(user)
                        ),
                    )
                    .with_evidence([format!("tags: {}", tags.join(", "))]),
                );
            }
            for tag in tags.iter().filter(|t| *t != "administrator") {
                let grant = Grant::new(
                    "the management API",
                    "user tag",
                    format!("tag {tag} ({})", tag_power(tag)),
                )
                .blanket(tag == "monitoring")
                .fix(clear_tags.clone());
                excess.grant(grant);
            }
        }
        let needs: Vec<Need> = self.needs.iter().map(|(n, _)| n.clone()).collect();
        let narrow = Fix::statement(exact_permissions(user, &self.vhost, &needs));
        for (verb, answer) in &self.beyond {
            if *answer != Answer::Allowed {
                continue;
            }
            let power = match verb {
                Verb::Configure => "configure (declare and delete any queue or exchange)",
                Verb::Write => "write (publish to and bind to any name)",
                Verb::Read => "read (consume from any queue)",
            };
            excess.grant(
                Grant::new(
                    format!("names outside the needs in vhost {}", self.vhost),
                    "a random name was allowed",
                    power,
                )
                .blanket(*verb == Verb::Configure)
                .fix(narrow.clone()),
            );
        }
        if self.default_vhost == Some(Answer::Allowed) {
            excess.grant(
                Grant::new("vhost /", "permissions in another vhost", "open").fix(Fix::statement(
                    format!("rabbitmqctl clear_permissions -p / {}", quote(user)),
                )),
            );
        }
        out.extend(excess.findings(resource, user));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::{CheckId, Posture as _, Severity};
    use attache_testkit::unit::{Case, only};

    const NEEDS: &[&str] = &[
        "configure queue orders.work",
        "write exchange orders",
        "read queue orders.work",
    ];

    impl Case for Posture {
        type Kind = crate::Amqp;
        fn base() -> Posture {
            Posture {
                user: "app".into(),
                vhost: "prod".into(),
                tags: Tags::Read(Vec::new()),
                beyond: Verb::ALL
                    .iter()
                    .map(|v| (*v, Answer::Denied("ACCESS_REFUSED".into())))
                    .collect(),
                needs: NEEDS
                    .iter()
                    .map(|n| (n.parse().unwrap(), Answer::Allowed))
                    .collect(),
                default_vhost: Some(Answer::Denied("NOT_ALLOWED".into())),
            }
        }
    }

    /// The regexes themselves stay unknown to any account but an administrator: said once,
    /// medium, and nothing else is found when every probe is as the needs say.
    #[test]
    fn exactly_the_needs_leaves_only_the_regexes_unknown() {
        let f = Posture::base().judged();
        let u = only(&f, CheckId::PrivUnknown, Severity::Medium);
        assert!(u.message.contains("permission regexes"), "{}", u.message);
        for need in Posture::base().account().needs {
            assert_eq!(need.state, NeedState::Granted, "{}", need.what);
        }
    }

    fn without_unknown(f: Vec<Finding>) -> Vec<Finding> {
        f.into_iter()
            .filter(|f| {
                !(f.check == CheckId::PrivUnknown && f.message.contains("permission regexes"))
            })
            .collect()
    }

    #[test]
    fn the_administrator_tag_is_superuser_and_other_tags_excess() {
        let f = without_unknown(
            Posture::with(|p| p.tags = Tags::Read(vec!["administrator".into()])).judged(),
        );
        let su = only(&f, CheckId::PrivSuperuser, Severity::Critical);
        assert!(su.remedy.contains("set_user_tags 'app'"), "{}", su.remedy);
        let f = without_unknown(
            Posture::with(|p| p.tags = Tags::Read(vec!["management".into()])).judged(),
        );
        only(&f, CheckId::PrivExcess, Severity::Medium);
        let f = without_unknown(
            Posture::with(|p| p.tags = Tags::Read(vec!["monitoring".into()])).judged(),
        );
        let e = only(&f, CheckId::PrivExcess, Severity::High);
        assert!(e.evidence[0].contains("every vhost"), "{:?}", e.evidence);
    }

    #[test]
    fn permissions_beyond_the_needs_are_excess_configure_high() {
        let f = without_unknown(Posture::with(|p| p.beyond[0].1 = Answer::Allowed).judged());
        let e = only(&f, CheckId::PrivExcess, Severity::High);
        assert!(
            e.remedy.contains(
                "set_permissions -p 'prod' 'app' '^orders\\.work$' '^orders$' '^orders\\.work$'"
            ),
            "{}",
            e.remedy
        );
        let f = without_unknown(Posture::with(|p| p.beyond[2].1 = Answer::Allowed).judged());
        only(&f, CheckId::PrivExcess, Severity::Medium);
    }

    #[test]
    fn another_vhost_is_excess_with_its_fix() {
        let f =
            without_unknown(Posture::with(|p| p.default_vhost = Some(Answer::Allowed)).judged());
        let e = only(&f, CheckId::PrivExcess, Severity::Medium);
        assert!(
            e.remedy.contains("clear_permissions -p / 'app'"),
            "{}",
            e.remedy
        );
    }

    #[test]
    fn a_denied_need_is_missing_and_an_unknown_one_said() {
        let f = without_unknown(
            Posture::with(|p| p.needs[2].1 = Answer::Denied("ACCESS_REFUSED - read".into()))
                .judged(),
        );
        let m = only(&f, CheckId::PrivMissing, Severity::High);
        assert!(m.evidence[0].contains("read queue orders.work is not granted"));
        assert!(m.remedy.contains("set_permissions"));
        let f = without_unknown(
            Posture::with(|p| p.needs[0].1 = Answer::Unknown("no probe".into())).judged(),
        );
        let u = only(&f, CheckId::PrivUnknown, Severity::Medium);
        assert!(
            u.message.contains("configure queue orders.work"),
            "{}",
            u.message
        );
        let f = without_unknown(
            Posture::with(|p| p.tags = Tags::Unreadable("no management API".into())).judged(),
        );
        let u = only(&f, CheckId::PrivUnknown, Severity::Medium);
        assert!(u.message.contains("no management API"), "{}", u.message);
    }
}
