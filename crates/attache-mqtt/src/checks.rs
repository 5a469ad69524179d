//! Judging a posture against the needs. Pure functions over what [`inspect`](crate::inspect)
//! read, so every rule is unit-tested without a broker.
//!
//! - **The broker checks subscriptions** (it refused at least one probe: Mosquitto's
//!   dynamic-security plugin): each `subscribe` need is granted or missing (`priv-missing`,
//!   with the `addRoleACL` that grants it); the admin topic `$CONTROL/dynamic-security/#`
//!   granted is `priv-superuser`; `#` granted is `priv-excess` high (every app's messages),
//!   `$SYS/#` or a random topic outside the needs `priv-excess` medium.
//! - **Every probe granted, and the broker delivers `$SYS` to the account**: it may subscribe
//!   to everything, the admin topic included: `priv-superuser` (the dynamic-security `admin`
//!   role, a role with `subscribePattern #`, or a broker with no access control at all).
//! - **Every probe granted, and `$SYS` withheld**: the broker checks no subscription and
//!   filters reads at delivery (Mosquitto's `acl_file`): what the account may read is not
//!   known (`priv-unknown`), and said.
//! - Publish rights are never probed: each `publish` need, and publishing beyond the needs,
//!   is `priv-unknown`.

use attache_core::{Account, Excess, Finding, Fix, Grant, NeedCheck, NeedState, Privilege};
use serde::Serialize;

use crate::inspect::{Answer, PUBLISH_UNKNOWN, Posture, Probe, Sys};
use crate::needs::Verb;
use crate::provision::quote;

/// The kind's own facts in the account.
#[derive(Serialize)]
struct Extension<'a> {
    subscriptions_checked: bool,
    beyond_the_needs: Vec<(&'static str, &'a Answer)>,
    sys: &'a Sys,
}

/// Why nothing a broker that checks no subscription grants can be believed.
const UNCHECKED: &str = "the broker granted every subscription attache tried (`#` and `$CONTROL/dynamic-security/#` too) yet withheld its `$SYS` tree: it checks no subscription (Mosquitto's acl_file does not) and filters what the account reads at delivery, silently";

impl Posture {
    /// Every probe was granted and the broker delivered `$SYS` to the account: it may
    /// subscribe to (and read) everything.
    pub fn reads_everything(&self) -> bool {
        !self.checks_subscriptions() && matches!(self.sys, Sys::Delivered(_))
    }
}

impl attache_core::Posture for Posture {
    fn account(&self) -> Account {
        let checked = self.checks_subscriptions();
        let everything = self.reads_everything();
        let mut privileges = Vec::new();
        let mut checks = Vec::new();
        for (need, answer) in &self.needs {
            let what = need.to_string();
            let state = match (need.verb, answer) {
                (Verb::Publish, _) => NeedState::Unknown {
                    detail: format!("{what}: {PUBLISH_UNKNOWN}"),
                },
                (Verb::Subscribe, Answer::Unknown(why)) => NeedState::Unknown {
                    detail: why.clone(),
                },
                (Verb::Subscribe, _) if everything => {
                    privileges.push(Privilege::direct("subscribe", &need.filter));
                    NeedState::Granted
                }
                (Verb::Subscribe, _) if !checked => NeedState::Unknown {
                    detail: format!("{what}: {UNCHECKED}"),
                },
                (Verb::Subscribe, Answer::Allowed) => {
                    privileges.push(Privilege::direct("subscribe", &need.filter));
                    NeedState::Granted
                }
                (Verb::Subscribe, Answer::Denied(code)) => NeedState::Missing {
                    detail: format!("{what} is not granted (SUBACK {code})"),
                    fix: Some(Fix::statement(format!(
                        "mosquitto_ctrl dynsec addRoleACL {role} subscribePattern {filter} allow; mosquitto_ctrl dynsec addRoleACL {role} publishClientReceive {filter} allow",
                        role = quote(&self.user),
                        filter = quote(&need.filter),
                    ))),
                },
            };
            checks.push(NeedCheck {
                need: what.clone(),
                what,
                implied: false,
                state,
            });
        }
        let mut unknown = vec![
            "what the account may publish beyond its needs (only publishing tests it, and attache never publishes to probe)".to_owned(),
        ];
        if checked {
            for (probe, answer) in &self.probes {
                match answer {
                    Answer::Allowed => {
                        privileges.push(Privilege::direct("subscribe", probe.filter()))
                    }
                    Answer::Unknown(why) => unknown.push(format!(
                        "whether the account may subscribe to {} ({why})",
                        probe.filter()
                    )),
                    Answer::Denied(_) => {}
                }
            }
        } else if !everything {
            unknown.push(format!(
                "what the account may read beyond its needs: {UNCHECKED}"
            ));
        }
        let server_version = match &self.sys {
            Sys::Delivered(v) => Some(v.clone()),
            _ => None,
        };
        Account {
            user: Some(self.user.clone()),
            server_version,
            privileges,
            unknown,
            needs: checks,
            ..Account::default()
        }
        .with_extension(&Extension {
            subscriptions_checked: checked,
            beyond_the_needs: self.probes.iter().map(|(p, a)| (p.filter(), a)).collect(),
            sys: &self.sys,
        })
    }

    fn judge(&self, resource: &str) -> Vec<Finding> {
        let user = &self.user;
        let remedy = format!(
            "give the app an account whose role holds only its needs (`attache grants`), and keep the admin role for administrators: mosquitto_ctrl dynsec removeClientRole {} admin",
            quote(user)
        );
        let mut out = Vec::new();
        if self.reads_everything() {
            out.push(
                Finding::superuser(
                    resource,
                    format!(
                        "account {user} was granted every subscription attache tried, the dynamic-security admin topic included, and the broker delivers its $SYS tree to it: on a broker that checks subscriptions (the dynamic-security plugin) that is the shape of the admin role `mosquitto_ctrl dynsec init` makes, or of `subscribePattern #`, and it reads every message on the broker (the admin role also publishes the plugin's commands, which attache cannot see without publishing); on one that checks none (an acl_file), it reads at least $SYS, and nothing tells it from the first"
                    ),
                    remedy.clone(),
                )
                .with_evidence(self.evidence()),
            );
            return out;
        }
        if !self.checks_subscriptions() {
            return out;
        }
        if self.probe(Probe::Control) == Some(&Answer::Allowed) {
            out.push(
                Finding::superuser(
                    resource,
                    format!(
                        "account {user} may subscribe to {}, the dynamic-security plugin's admin topic, which only its admin role is given (with publishing there: creating clients, setting passwords, changing every role)",
                        Probe::Control.filter()
                    ),
                    remedy,
                )
                .with_evidence(self.evidence()),
            );
        }
        let mut excess = Excess::default();
        let narrow = |filter: &str| {
            Fix::statement(format!(
                "mosquitto_ctrl dynsec removeRoleACL <the role of {user} that grants it> subscribePattern {}",
                quote(filter)
            ))
        };
        let all = self.probe(Probe::Everything) == Some(&Answer::Allowed);
        for (probe, answer) in &self.probes {
            if *answer != Answer::Allowed {
                continue;
            }
            let grant = match probe {
                Probe::Everything => Grant::new(
                    "every topic",
                    "a SUBACK granted #",
                    "subscribe (reads every message of every app on the broker)",
                )
                .blanket(true)
                .fix(narrow("#")),
                Probe::Sys => Grant::new(
                    "$SYS/#",
                    "a SUBACK granted $SYS/#",
                    "subscribe (the broker's own tree: its clients, its load, its log where it publishes one)",
                )
                // With `#`, one finding says both.
                .blanket(all)
                .fix(narrow("$SYS/#")),
                Probe::Outside if !all => Grant::new(
                    "topics outside the needs",
                    "a SUBACK granted a random topic",
                    "subscribe",
                )
                .fix(Fix::statement(format!(
                    "mosquitto_ctrl dynsec getClient {} (and narrow the subscribePattern of its roles to the needs)",
                    quote(user)
                ))),
                Probe::Outside | Probe::Control => continue,
            };
            excess.grant(grant);
        }
        out.extend(excess.findings(resource, user));
        out
    }
}

impl Posture {
    /// One line per subscription probe and the `$SYS` delivery.
    fn evidence(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .probes
            .iter()
            .map(|(p, a)| {
                let said = match a {
                    Answer::Allowed => "granted".to_owned(),
                    Answer::Denied(code) => format!("refused ({code})"),
                    Answer::Unknown(why) => format!("unknown ({why})"),
                };
                format!("SUBSCRIBE {}: {said}", p.filter())
            })
            .collect();
        lines.push(match &self.sys {
            Sys::Delivered(v) => format!("$SYS/broker/version delivered: {v}"),
            Sys::Withheld => "$SYS/broker/version withheld".to_owned(),
            Sys::Refused => "$SYS/broker/version refused".to_owned(),
            Sys::Unknown(why) => format!("$SYS/broker/version unknown ({why})"),
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::{CheckId, Posture as _, Severity};
    use attache_testkit::unit::{Case, assert_has, only};

    const NEEDS: &[&str] = &["publish orders/new", "subscribe orders/#"];

    impl Case for Posture {
        type Kind = crate::Mqtt;
        /// A dynamic-security account holding exactly the needs.
        fn base() -> Posture {
            Posture {
                user: "app".into(),
                needs: NEEDS
                    .iter()
                    .map(|n| {
                        let need: crate::needs::Need = n.parse().unwrap();
                        let a = match need.verb {
                            Verb::Publish => Answer::Unknown("never published".into()),
                            Verb::Subscribe => Answer::Allowed,
                        };
                        (need, a)
                    })
                    .collect(),
                probes: Probe::ALL
                    .iter()
                    .map(|p| (*p, Answer::Denied("0x87 Not authorized".into())))
                    .collect(),
                sys: Sys::Refused,
            }
        }
    }

    fn known(f: Vec<Finding>) -> Vec<Finding> {
        f.into_iter()
            .filter(|f| f.check != CheckId::PrivUnknown)
            .collect()
    }

    /// Publishing is never probed: the publish need and publishing beyond the needs are said,
    /// medium; nothing else is found when the subscriptions are as the needs say.
    #[test]
    fn exactly_the_needs_leaves_only_publishing_unknown() {
        let p = Posture::base();
        assert!(p.checks_subscriptions());
        let f = p.judged();
        assert_eq!(
            attache_testkit::unit::checks(&f),
            [
                (CheckId::PrivUnknown, Severity::Medium),
                (CheckId::PrivUnknown, Severity::Medium)
            ],
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.message.contains("publish orders/new")));
        assert!(f.iter().any(|f| f.message.contains("publish beyond")));
        let account = p.account();
        assert_eq!(account.needs[1].state, NeedState::Granted);
    }

    #[test]
    fn a_refused_subscribe_need_is_missing_with_the_acl_that_grants_it() {
        let f = known(
            Posture::with(|p| p.needs[1].1 = Answer::Denied("0x87 Not authorized".into())).judged(),
        );
        let m = only(&f, CheckId::PrivMissing, Severity::High);
        assert_has(
            &m.evidence[0],
            "subscribe orders/# is not granted (SUBACK 0x87",
        );
        assert_has(
            &m.remedy,
            "mosquitto_ctrl dynsec addRoleACL 'app' subscribePattern 'orders/#' allow",
        );
    }

    #[test]
    fn the_admin_topic_is_superuser_and_hash_blanket_excess() {
        let f = known(Posture::with(|p| p.probes[2].1 = Answer::Allowed).judged());
        let su = only(&f, CheckId::PrivSuperuser, Severity::Critical);
        assert_has(&su.remedy, "removeClientRole 'app' admin");
        let f = known(Posture::with(|p| p.probes[0].1 = Answer::Allowed).judged());
        let e = only(&f, CheckId::PrivExcess, Severity::High);
        assert_has(&e.evidence[0], "every app");
        let f = known(Posture::with(|p| p.probes[1].1 = Answer::Allowed).judged());
        only(&f, CheckId::PrivExcess, Severity::Medium);
        let f = known(Posture::with(|p| p.probes[3].1 = Answer::Allowed).judged());
        only(&f, CheckId::PrivExcess, Severity::Medium);
        // `#` says what a random topic would: one finding.
        let f = known(
            Posture::with(|p| {
                p.probes[0].1 = Answer::Allowed;
                p.probes[3].1 = Answer::Allowed;
            })
            .judged(),
        );
        only(&f, CheckId::PrivExcess, Severity::High);
    }

    fn all_granted(sys: Sys) -> Posture {
        Posture::with(|p| {
            for (_, a) in &mut p.probes {
                *a = Answer::Allowed;
            }
            p.sys = sys;
        })
    }

    #[test]
    fn everything_granted_and_sys_delivered_is_superuser() {
        let p = all_granted(Sys::Delivered("mosquitto version 2.0.11".into()));
        let f = known(p.judged());
        let su = only(&f, CheckId::PrivSuperuser, Severity::Critical);
        assert_has(&su.message, "every message on the broker");
        assert_has(
            &su.message,
            "on one that checks none (an acl_file), it reads at least $SYS",
        );
        assert!(su.evidence.iter().any(|e| e.contains("version delivered")));
        assert_eq!(
            p.account().server_version.as_deref(),
            Some("mosquitto version 2.0.11")
        );
    }

    /// Mosquitto's acl_file: every SUBACK success, `$SYS` withheld. Nothing is known of what
    /// the account reads, and that is said; nothing is guessed.
    #[test]
    fn a_broker_that_checks_no_subscription_leaves_reading_unknown() {
        let p = all_granted(Sys::Withheld);
        assert!(!p.checks_subscriptions());
        let f = p.judged();
        assert!(f.iter().all(|f| f.check == CheckId::PrivUnknown), "{f:#?}");
        assert!(
            f.iter()
                .any(|f| f.message.contains("subscribe orders/#")
                    && f.evidence[0].contains("acl_file")),
            "{f:#?}"
        );
        assert!(
            f.iter()
                .any(|f| f.message.contains("read beyond its needs")),
            "{f:#?}"
        );
    }
}
