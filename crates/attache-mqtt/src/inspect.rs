//! What the account can see of itself, without side effects.
//!
//! MQTT has no way to ask for one's own rights. What an account can learn it learns from the
//! broker's answers to subscriptions: MQTT 5's SUBACK says `0x87 Not authorized` where the
//! broker checks subscriptions (Mosquitto's dynamic-security plugin does). Every probe runs on
//! attache's own connection with a fresh random client id, a clean start, no session expiry and
//! no will; each subscription is at QoS 0 with retain handling 2 (no retained message is sent)
//! and is unsubscribed as soon as it is granted. A message published live in that round trip
//! is read and dropped. attache **never publishes**: a publish is delivered (or, on MQTT 3.1.1,
//! silently dropped when denied), so no publish right can be probed, and publish needs stay
//! unknown.
//!
//! | probe | what a granted SUBACK means |
//! |---|---|
//! | each `subscribe` need's filter | the need is granted |
//! | `#` | the account reads every topic of every app on the broker |
//! | `$SYS/#` | it reads the broker's own tree (clients, load, and the broker's log where it publishes one) |
//! | `$CONTROL/dynamic-security/#` | the dynamic-security plugin's admin topic, which only its `admin` role is given |
//! | `attache/probe/<random>` | a filter wider than the needs reaches a topic no one uses |
//! | `$SYS/broker/version`, retained handling 0 | the one probe that asks for a retained message: whether the broker *delivers* `$SYS` to the account (and its version) |
//!
//! Mosquitto's `acl_file` checks no subscription (its SUBACK is always success: the source
//! says `/* FIXME - implement ACL subscription strings. */`) and filters reads at delivery,
//! silently. A broker that grants every probe, the admin topic included, either checks no
//! subscription or lets the account subscribe to everything: the delivered `$SYS` message tells
//! which (see [`crate::checks`]).

use serde::Serialize;

use crate::connect::{Session, Subscribed};
use crate::needs::{Need, Verb};

pub use attache_core::Answer;

/// A subscription beyond the needs that attache tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// `#`: every topic.
    Everything,
    /// `$SYS/#`: the broker's own tree.
    Sys,
    /// `$CONTROL/dynamic-security/#`: the dynamic-security plugin's admin topic.
    Control,
    /// `attache/probe/<random>`: a topic no one uses, outside the needs.
    Outside,
}

impl Probe {
    /// Every probe, in the order they run.
    pub const ALL: [Probe; 4] = [
        Probe::Everything,
        Probe::Sys,
        Probe::Control,
        Probe::Outside,
    ];

    /// The filter as reports write it.
    pub fn filter(self) -> &'static str {
        match self {
            Probe::Everything => "#",
            Probe::Sys => "$SYS/#",
            Probe::Control => CONTROL,
            Probe::Outside => "attache/probe/<random>",
        }
    }
}

/// The dynamic-security plugin's admin topic.
pub const CONTROL: &str = "$CONTROL/dynamic-security/#";
/// The retained message every Mosquitto keeps in its `$SYS` tree.
pub const VERSION_TOPIC: &str = "$SYS/broker/version";

/// Whether the broker delivered its `$SYS/broker/version` to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "sys", content = "detail")]
pub enum Sys {
    /// Delivered: the broker's version as it says it.
    Delivered(String),
    /// Granted, and nothing delivered: the broker withholds `$SYS` from the account (or keeps
    /// no `$SYS` tree).
    Withheld,
    /// The subscription was refused.
    Refused,
    /// Not known; why.
    Unknown(String),
}

/// What inspection read of the account.
#[derive(Debug, Clone)]
pub struct Posture {
    /// The user.
    pub user: String,
    /// Each need and what its probe answered (publish needs: unknown).
    pub needs: Vec<(Need, Answer)>,
    /// Each subscription beyond the needs and its answer.
    pub probes: Vec<(Probe, Answer)>,
    /// What the `$SYS/broker/version` probe saw.
    pub sys: Sys,
}

impl Posture {
    /// Whether the broker checks subscriptions: it refused at least one probe.
    pub fn checks_subscriptions(&self) -> bool {
        self.needs
            .iter()
            .map(|(_, a)| a)
            .chain(self.probes.iter().map(|(_, a)| a))
            .any(|a| matches!(a, Answer::Denied(_)))
    }

    /// A probe's answer.
    pub fn probe(&self, probe: Probe) -> Option<&Answer> {
        self.probes
            .iter()
            .find(|(p, _)| *p == probe)
            .map(|(_, a)| a)
    }
}

fn answer(probe: Result<Subscribed, String>, what: &str) -> Answer {
    match probe {
        Ok(s) => match s.granted {
            Ok(()) => Answer::Allowed,
            Err(code) => Answer::Denied(code),
        },
        Err(why) => Answer::Unknown(format!("subscribing to {what}: {why}")),
    }
}

/// Why a publish need stays unknown.
pub const PUBLISH_UNKNOWN: &str = "only publishing tests a publish right, and attache never publishes to probe (MQTT 3.1.1 drops a denied message silently; MQTT 5 says 0x87 only after the message was sent)";

/// Reads the account's posture through `session`: the probes above.
pub async fn inspect(session: &mut Session, needs: &[Need], user: &str) -> Posture {
    let mut answers = Vec::new();
    for need in needs {
        let a = match need.verb {
            Verb::Publish => Answer::Unknown(format!("{need}: {PUBLISH_UNKNOWN}")),
            Verb::Subscribe => answer(
                session.probe_subscribe(&need.filter, false).await,
                &need.filter,
            ),
        };
        answers.push((need.clone(), a));
    }
    let mut probes = Vec::new();
    for probe in Probe::ALL {
        let filter = match probe {
            Probe::Outside => format!("attache/probe/{}", attache_core::probe::unique_suffix()),
            other => other.filter().to_owned(),
        };
        let a = answer(
            session.probe_subscribe(&filter, false).await,
            probe.filter(),
        );
        probes.push((probe, a));
    }
    let sys = match session.probe_subscribe(VERSION_TOPIC, true).await {
        Err(why) => Sys::Unknown(format!("subscribing to {VERSION_TOPIC}: {why}")),
        Ok(Subscribed {
            granted: Err(_), ..
        }) => Sys::Refused,
        Ok(Subscribed { delivered, .. }) => delivered
            .into_iter()
            .find(|(topic, _)| topic == VERSION_TOPIC)
            .map_or(Sys::Withheld, |(_, version)| Sys::Delivered(version)),
    };
    Posture {
        user: user.to_owned(),
        needs: answers,
        probes,
        sys,
    }
}
