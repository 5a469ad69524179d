//! Judging a posture against the needs: `priv-superuser` (a user of the system account),
//! `priv-excess` (no permissions at all, allow entries beyond the needs, `>`, JetStream's or the
//! system's API), each need's state for core. Pure functions over what
//! [`inspect`](crate::inspect) read, unit-tested without a server.

use attache_core::{Account, Excess, Finding, Fix, Grant, NeedCheck, NeedState, Privilege, Via};
use serde::Serialize;

use crate::inspect::{Answer, Lists, Permissions, Posture, Seen};
use crate::needs::{Need, Verb, covers, overlaps};
use crate::provision::{PASSWORD_PARAMETER, USER_INFO, user_entry};

/// An allow entry: a subject and, for subscriptions, a queue group.
fn entry(text: &str) -> (&str, Option<&str>) {
    match text.split_once(char::is_whitespace) {
        Some((subject, queue)) => (subject, Some(queue.trim())),
        None => (text, None),
    }
}

/// Whether the allow entry `allow` grants `need`.
fn grants(allow: &str, need: &Need) -> bool {
    let (subject, queue) = entry(allow);
    covers(subject, &need.subject)
        && match (queue, &need.queue) {
            (None, _) => true,
            (Some(q), Some(n)) => q == n,
            (Some(_), None) => false,
        }
}

/// Whether the allow entry `allow` is within `need` (so not beyond the needs).
fn within(allow: &str, need: &Need) -> bool {
    let (subject, queue) = entry(allow);
    covers(&need.subject, subject)
        && match (&need.queue, queue) {
            (None, _) => true,
            (Some(n), Some(q)) => q == n,
            (Some(_), None) => false,
        }
}

/// The state of `need` under `lists` (`None`: everything allowed).
fn state(need: &Need, lists: Option<&Lists>, fix: &Fix) -> NeedState {
    let Some(lists) = lists else {
        return NeedState::Granted;
    };
    let allowed = lists.allow.is_empty() || lists.allow.iter().any(|a| grants(a, need));
    if !allowed {
        return NeedState::not_granted(&need.to_string(), Some(fix.clone()));
    }
    match lists
        .deny
        .iter()
        .find(|d| overlaps(entry(d).0, &need.subject))
    {
        Some(deny) => NeedState::Missing {
            detail: format!("{need} is denied in part by the deny entry {deny}"),
            fix: Some(fix.clone()),
        },
        None => NeedState::Granted,
    }
}

/// Whether an allow entry is attache's own way to read the permissions.
fn attaches_own(verb: Verb, allow: &str, inbox: &str) -> bool {
    match verb {
        Verb::Publish => allow == USER_INFO,
        Verb::Subscribe => allow == format!("{inbox}.>"),
    }
}

/// Whether an allow entry reaches everything, or an administrative API.
fn blanket(allow: &str) -> bool {
    let subject = entry(allow).0;
    subject == ">" || subject.starts_with("$JS.API") || subject.starts_with("$SYS.")
}

fn lists_of(perms: &Permissions, verb: Verb) -> Option<&Lists> {
    match verb {
        Verb::Publish => perms.publish.as_ref(),
        Verb::Subscribe => perms.subscribe.as_ref(),
    }
}

/// The kind's own facts in the account.
#[derive(Serialize)]
struct Extension<'a> {
    permissions: Option<&'a Permissions>,
    unrestricted: bool,
    system_account: &'a Answer,
}

impl attache_core::Posture for Posture {
    fn account(&self) -> Account {
        let fix = Fix::statement(format!(
            "give {} exactly its needs in nats-server's configuration: {}",
            self.user,
            user_entry(&self.user, PASSWORD_PARAMETER, &self.needs)
        ));
        let mut privileges = Vec::new();
        let mut unknown = Vec::new();
        let held = |privilege: &str, on: &str| Privilege {
            privilege: privilege.to_owned(),
            on: on.to_owned(),
            via: Via::Directly,
            grantable: false,
        };
        let checks = match &self.seen {
            Seen::Read(perms) => {
                for verb in [Verb::Publish, Verb::Subscribe] {
                    match perms.as_ref().and_then(|p| lists_of(p, verb)) {
                        None => privileges.push(held(verb.as_str(), "every subject")),
                        Some(lists) => {
                            for a in &lists.allow {
                                privileges.push(held(verb.as_str(), a));
                            }
                            for d in &lists.deny {
                                privileges.push(held(&format!("{} denied", verb.as_str()), d));
                            }
                        }
                    }
                }
                self.needs
                    .iter()
                    .map(|n| {
                        let lists = perms.as_ref().and_then(|p| lists_of(p, n.verb));
                        (n, state(n, lists, &fix))
                    })
                    .collect::<Vec<_>>()
            }
            Seen::Probed {
                why,
                subscribe,
                everything,
            } => {
                unknown.push(format!("the account's exact permissions ({why})"));
                if *everything == Answer::Allowed {
                    privileges.push(held("subscribe", ">"));
                }
                self.needs
                    .iter()
                    .map(|n| {
                        let found = subscribe.iter().find(|(m, _)| m == n).map(|(_, a)| a);
                        let state = match (n.verb, found) {
                            (Verb::Publish, _) => NeedState::Unknown {
                                detail: format!(
                                    "{n}: only publishing checks publish permission, and attache never publishes to probe"
                                ),
                            },
                            (_, Some(Answer::Allowed)) => {
                                privileges.push(held("subscribe", &n.subject));
                                NeedState::Granted
                            }
                            (_, Some(Answer::Denied(said))) => NeedState::Missing {
                                detail: format!("{n} is not granted (the server said: {said})"),
                                fix: Some(fix.clone()),
                            },
                            (_, Some(Answer::Unknown(why))) => {
                                NeedState::Unknown { detail: why.clone() }
                            }
                            (_, None) => NeedState::Unknown {
                                detail: format!("{n}: not probed"),
                            },
                        };
                        (n, state)
                    })
                    .collect()
            }
        };
        if let Answer::Unknown(why) = &self.system {
            unknown.push(format!("whether the account is the system account ({why})"));
        }
        let (perms, unrestricted) = match &self.seen {
            Seen::Read(p) => (p.as_ref(), p.is_none()),
            Seen::Probed { .. } => (None, false),
        };
        Account {
            user: Some(self.user.clone()),
            database: self.account.clone(),
            server_version: None,
            attributes: if self.system == Answer::Allowed {
                vec!["system account".into()]
            } else {
                Vec::new()
            },
            roles: Vec::new(),
            privileges,
            owns: Vec::new(),
            unknown,
            needs: checks
                .into_iter()
                .map(|(n, state)| NeedCheck {
                    need: n.to_string(),
                    what: n.to_string(),
                    implied: false,
                    state,
                })
                .collect(),
            extension: Default::default(),
        }
        .with_extension(&Extension {
            permissions: perms,
            unrestricted,
            system_account: &self.system,
        })
    }

    fn judge(&self, resource: &str) -> Vec<Finding> {
        let user = &self.user;
        let mut out = Vec::new();
        if self.system == Answer::Allowed {
            out.push(
                Finding::superuser(
                    resource,
                    format!(
                        "account {user} is a user of the system account: it reads every server's events and statistics and can act on every account"
                    ),
                    "give the app a user of an application account, with exactly its needs (`attache grants`)",
                )
                .with_evidence(["$SYS.REQ.SERVER.PING answered"]),
            );
        }
        let fix = Fix::statement(format!(
            "narrow the user's permissions to: {}",
            user_entry(user, PASSWORD_PARAMETER, &self.needs)
        ));
        let mut excess = Excess::default();
        match &self.seen {
            Seen::Read(None) => excess.power(
                "no permissions are set: it may publish and subscribe to every subject of its account",
                [fix.clone()],
            ),
            Seen::Read(Some(perms)) => {
                for verb in [Verb::Publish, Verb::Subscribe] {
                    let needs: Vec<&Need> = self.needs.iter().filter(|n| n.verb == verb).collect();
                    match lists_of(perms, verb) {
                        None => excess.power(
                            format!("{} on every subject (no {} list)", verb.as_str(), verb.as_str()),
                            [fix.clone()],
                        ),
                        Some(lists) if lists.allow.is_empty() => excess.power(
                            format!(
                                "{} on every subject but its deny list",
                                verb.as_str()
                            ),
                            [fix.clone()],
                        ),
                        Some(lists) => {
                            for a in &lists.allow {
                                if attaches_own(verb, a, &self.inbox)
                                    || needs.iter().any(|n| within(a, n))
                                {
                                    continue;
                                }
                                excess.grant(
                                    Grant::new(a.clone(), format!("{} allow list", verb.as_str()), verb.as_str())
                                        .blanket(blanket(a))
                                        .fix(fix.clone()),
                                );
                            }
                        }
                    }
                }
            }
            Seen::Probed { everything, .. } => {
                if *everything == Answer::Allowed {
                    excess.power("it may subscribe to `>`: every subject", [fix.clone()]);
                }
            }
        }
        out.extend(excess.findings(resource, user));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::{CheckId, Severity};
    use attache_testkit::unit::{Case, only};

    const NEEDS: &[&str] = &[
        "publish orders.>",
        "subscribe orders.>",
        "subscribe work.* queue workers",
    ];

    fn lists(allow: &[&str], deny: &[&str]) -> Option<Lists> {
        Some(Lists {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
    }

    impl Case for Posture {
        type Kind = crate::Nats;
        fn base() -> Posture {
            Posture {
                user: "app".into(),
                account: Some("APP".into()),
                seen: Seen::Read(Some(Permissions {
                    publish: lists(&["orders.>", USER_INFO], &[]),
                    subscribe: lists(&["orders.>", "work.* workers", "_INBOX.app.>"], &[]),
                })),
                system: Answer::Denied("no responders".into()),
                needs: NEEDS.iter().map(|n| n.parse().unwrap()).collect(),
                inbox: "_INBOX.app".into(),
            }
        }
    }

    attache_testkit::case_tests!(Posture);

    fn with_permissions(publish: Option<Lists>, subscribe: Option<Lists>) -> Vec<Finding> {
        Posture::with(|p| {
            p.seen = Seen::Read(Some(Permissions { publish, subscribe }));
        })
        .judged()
    }

    #[test]
    fn the_system_account_is_superuser() {
        let f = Posture::with(|p| p.system = Answer::Allowed).judged();
        only(&f, CheckId::PrivSuperuser, Severity::Critical);
    }

    #[test]
    fn no_permissions_at_all_is_high_excess() {
        let f = Posture::with(|p| p.seen = Seen::Read(None)).judged();
        let e = only(&f, CheckId::PrivExcess, Severity::High);
        assert!(e.evidence[0].contains("every subject"), "{:?}", e.evidence);
        assert!(e.remedy.contains("allow: [\"orders.>\""), "{}", e.remedy);
    }

    #[test]
    fn allow_entries_beyond_the_needs_are_excess_and_apis_high() {
        let f = with_permissions(
            lists(&["orders.>", USER_INFO, "audit.*"], &[]),
            lists(&["orders.>", "work.* workers", "_INBOX.app.>"], &[]),
        );
        let e = only(&f, CheckId::PrivExcess, Severity::Medium);
        assert!(e.evidence[0].contains("audit.*"), "{:?}", e.evidence);
        let f = with_permissions(
            lists(&["orders.>", USER_INFO, "$JS.API.>"], &[]),
            lists(&["orders.>", "work.* workers", "_INBOX.app.>"], &[]),
        );
        only(&f, CheckId::PrivExcess, Severity::High);
        let f = with_permissions(None, lists(&["orders.>", "work.* workers"], &[]));
        only(&f, CheckId::PrivExcess, Severity::High);
    }

    #[test]
    fn needs_are_judged_against_allow_and_deny() {
        // The queue group is missing: a plain `work.*` entry would cover it, `work.* other` not.
        let f = with_permissions(
            lists(&["orders.>", USER_INFO], &[]),
            lists(&["orders.>", "work.* other"], &[]),
        );
        let m = f
            .iter()
            .find(|f| f.check == CheckId::PrivMissing)
            .expect("priv-missing");
        assert!(m.message.contains("work.* queue workers"), "{}", m.message);
        let f = with_permissions(
            lists(&["orders.>", USER_INFO], &["orders.secret"]),
            lists(&["orders.>", "work.* workers"], &[]),
        );
        let m = only(&f, CheckId::PrivMissing, Severity::High);
        assert!(m.evidence[0].contains("denied in part"), "{:?}", m.evidence);
        // A plain `work.*` allows subscribing outside the queue group: beyond the need.
        let f = with_permissions(
            lists(&["orders.>", USER_INFO], &[]),
            lists(&["orders.>", "work.*"], &[]),
        );
        only(&f, CheckId::PrivExcess, Severity::Medium);
    }

    #[test]
    fn probed_postures_leave_publish_unknown_and_catch_subscribe_everything() {
        let probed = |everything: Answer| {
            Posture::with(|p| {
                p.seen = Seen::Probed {
                    why: "the account may not ask".into(),
                    subscribe: p
                        .needs
                        .iter()
                        .filter(|n| n.verb == Verb::Subscribe)
                        .map(|n| (n.clone(), Answer::Allowed))
                        .collect(),
                    everything,
                }
            })
            .judged()
        };
        let f = probed(Answer::Denied("violation".into()));
        let checks: Vec<_> = f.iter().map(|f| (f.check, f.severity)).collect();
        assert_eq!(
            checks,
            [
                (CheckId::PrivUnknown, Severity::Medium),
                (CheckId::PrivUnknown, Severity::Medium)
            ],
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.message.contains("publish orders.>")));
        let f = probed(Answer::Allowed);
        assert!(
            f.iter()
                .any(|f| f.check == CheckId::PrivExcess && f.severity == Severity::High)
        );
    }
}
