//! Judging a posture against the needs: `priv-superuser`, `priv-role-admin`, `priv-excess`,
//! what stays unknown, and `cred-empty` for a `nopass` account; each need's state for core,
//! which judges `priv-missing` and `priv-unknown` from them. Pure functions over
//! what [`inspect`](crate::inspect) read, so every rule is unit-tested without a server.
//!
//! With the rules readable, they are evaluated as Redis evaluates them (in order, categories
//! expanded from the Redis 7.0 catalog) and compared with the union of the needs. Without,
//! only what the probes showed is judged, and the rest is said to be unknown.

use std::collections::BTreeSet;

use attache_core::{Account, CheckId, Finding, Fix, NeedCheck, Privilege, Severity, Via};
use serde::Serialize;

use crate::inspect::{
    AclRules, Answer, NOT_PROBED, NeedItem, NeedState, PermissionSet, Posture, Probe, Purpose,
};
use crate::needs::{Catalog, CommandSet, Coverage, KeyPattern, Need, covers};

/// Commands beyond the needs that are not counted as excess: they reveal nothing but the
/// account's own name.
pub const HARMLESS: &[&str] = &["acl|whoami"];

/// Whether `entry` is left out of excess: [`HARMLESS`], and every `…|help` subcommand.
fn harmless(entry: &str) -> bool {
    HARMLESS.contains(&entry) || entry.ends_with("|help")
}

/// What the needs ask for, together.
struct Wanted {
    commands: CommandSet,
    keys: Vec<KeyPattern>,
    channels: Vec<String>,
    words: Vec<String>,
}

fn wanted(needs: &[Need]) -> Wanted {
    let mut commands = CommandSet::default();
    let mut keys: Vec<KeyPattern> = Vec::new();
    let mut channels: Vec<String> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    for n in needs {
        commands.union(&CommandSet::from_rules(&n.commands));
        for k in &n.keys {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        for c in &n.channels {
            if !channels.contains(c) {
                channels.push(c.clone());
            }
        }
        for w in &n.commands {
            let w = w.to_string();
            if !words.contains(&w) {
                words.push(w);
            }
        }
    }
    Wanted {
        commands,
        keys,
        channels,
        words,
    }
}

fn reset_commands(user: &str, w: &Wanted) -> String {
    format!("ACL SETUSER {user} -@all {}", w.words.join(" "))
}

fn reset_keys(user: &str, w: &Wanted) -> String {
    let keys: Vec<String> = w.keys.iter().map(ToString::to_string).collect();
    format!("ACL SETUSER {user} resetkeys {}", keys.join(" "))
        .trim_end()
        .to_owned()
}

fn reset_channels(user: &str, w: &Wanted) -> String {
    let channels: Vec<String> = w.channels.iter().map(|c| format!("&{c}")).collect();
    format!("ACL SETUSER {user} resetchannels {}", channels.join(" "))
        .trim_end()
        .to_owned()
}

fn listing(entries: &BTreeSet<String>) -> String {
    const SHOWN: usize = 8;
    let names: Vec<&str> = entries.iter().take(SHOWN).map(String::as_str).collect();
    if entries.len() > SHOWN {
        format!("{}, … ({} commands)", names.join(", "), entries.len())
    } else {
        names.join(", ")
    }
}

fn note(entry: &str) -> &'static str {
    match entry {
        "acl|getuser" | "acl|list" => {
            " (reads every user's rules and password hashes, not only the account's own)"
        }
        "acl|setuser" => " (creates users and changes anyone's rules, its own included)",
        "config|set" => " (changes the server's configuration, e.g. its data directory)",
        "flushall" | "flushdb" => " (deletes every key)",
        _ => "",
    }
}

/// A posture is judged from its rules when the account could read them, else from its probes.
impl attache_core::Posture for Posture {
    fn judge(&self, resource: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let w = wanted(&self.asked);
        match &self.rules {
            Some(rules) => judge_rules(resource, &self.user, rules, &w, &mut out),
            None => judge_probes(resource, self, &w, &mut out),
        }
        out
    }
    fn account(&self) -> Account {
        account(self)
    }
}

fn unknown(resource: &str, message: String, evidence: Vec<String>) -> Finding {
    Finding::new(
        CheckId::PrivUnknown,
        Severity::Medium,
        resource,
        message,
        "have an admin compare `ACL GETUSER <user>` with `attache grants`; attache does not ask for \
         +acl|getuser, which would let the account read every user's rules and password hashes",
    )
    .with_evidence(evidence)
}

fn judge_rules(resource: &str, user: &str, rules: &AclRules, w: &Wanted, out: &mut Vec<Finding>) {
    let catalog = Catalog::get();
    if rules.flags.iter().any(|f| f == "nopass") && user != "default" {
        out.push(Finding::new(
            CheckId::CredEmpty,
            Severity::Critical,
            resource,
            format!("account {user} accepts any password (nopass)"),
            format!("ACL SETUSER {user} resetpass #<password-sha256-hex> (the SHA-256 of a long random password, which goes into the binding's password file)"),
        ));
    }
    if !rules.unreadable.is_empty() {
        out.push(unknown(
            resource,
            format!("some of account {user}'s rules are words attache cannot read"),
            rules.unreadable.clone(),
        ));
    }

    let mut high_evidence = Vec::new();
    let mut medium_evidence = Vec::new();
    let mut remedies: BTreeSet<String> = BTreeSet::new();
    let mut superuser = false;
    for (i, set) in rules.sets().enumerate() {
        let label = if i == 0 {
            String::new()
        } else {
            format!(" (selector {i})")
        };
        let cs = CommandSet::from_rules(&set.commands);
        for u in &cs.unknown {
            out.push(unknown(
                resource,
                format!(
                    "account {user}'s rule `{u}`{label} names a category attache does not know"
                ),
                Vec::new(),
            ));
        }
        if cs.is_everything() {
            superuser = true;
            out.push(
                Finding::superuser(resource,
                    format!(
                        "account {user} may run every command (+@all){label}, ACL SETUSER and CONFIG SET included: it is an administrator"
                    ),
                    format!(
                        "give the app its own least-privileged user (`attache grants`), or: {}; {}; {}",
                        reset_commands(user, w),
                        reset_keys(user, w),
                        reset_channels(user, w)
                    ),
                )
                .with_evidence(set_evidence(set)),
            );
            continue;
        }
        let excess: BTreeSet<String> = cs
            .entries()
            .into_iter()
            .filter(|e| !w.commands.allows(e) && !harmless(e))
            .collect();
        if ["acl|setuser", "acl|deluser", "acl|load"]
            .iter()
            .any(|e| excess.contains(*e))
        {
            out.push(Finding::role_admin(resource,
                format!("account {user} may create users and change their rules{label}, its own included"),
                format!("ACL SETUSER {user} -acl"),
            ));
        }
        // Which of the account's own words grant the excess.
        for rule in set.commands.iter().filter(|r| r.allow) {
            let reach: BTreeSet<String> = match catalog.expand(&rule.spec) {
                None => excess.clone(),
                Some(e) => e.intersection(&excess).cloned().collect(),
            };
            let (dangerous, other): (BTreeSet<String>, BTreeSet<String>) =
                reach.into_iter().partition(|e| catalog.is_dangerous(e));
            if !dangerous.is_empty() {
                let notes: String = dangerous.iter().map(|e| note(e)).collect();
                high_evidence.push(format!(
                    "`{rule}`{label} grants {}{notes}",
                    listing(&dangerous)
                ));
            }
            if !other.is_empty() {
                medium_evidence.push(format!(
                    "`{rule}`{label} grants {} beyond the needs",
                    listing(&other)
                ));
            }
        }
        if cs.starts_from_all() {
            medium_evidence.push(format!(
                "the rules{label} start from +@all: every command newer than attache's Redis 7.0 catalog is allowed too"
            ));
        }
        if !excess.is_empty() {
            remedies.insert(reset_commands(user, w));
        }
        // Keys and channels beyond the needs.
        for k in &set.keys {
            for (on, access, need_has) in [(k.read, "read", true), (k.write, "write", false)] {
                if !on {
                    continue;
                }
                let outers = w
                    .keys
                    .iter()
                    .filter(|n| if need_has { n.read } else { n.write });
                match covers(outers.map(|n| n.pattern.as_str()), &k.pattern) {
                    Coverage::Yes => {}
                    Coverage::No(witness) => {
                        medium_evidence.push(format!(
                            "key pattern {k}{label} gives {access} access to keys no need names (e.g. `{witness}`)"
                        ));
                        remedies.insert(reset_keys(user, w));
                    }
                    Coverage::Unknown => out.push(unknown(
                        resource,
                        format!("whether key pattern {k}{label} stays within the needs' patterns ({access})"),
                        Vec::new(),
                    )),
                }
            }
        }
        for c in &set.channels {
            match covers(w.channels.iter().map(String::as_str), c) {
                Coverage::Yes => {}
                Coverage::No(witness) => {
                    medium_evidence.push(format!(
                        "channel pattern &{c}{label} reaches channels no need names (e.g. `{witness}`)"
                    ));
                    remedies.insert(reset_channels(user, w));
                }
                Coverage::Unknown => out.push(unknown(
                    resource,
                    format!("whether channel pattern &{c}{label} stays within the needs' patterns"),
                    Vec::new(),
                )),
            }
        }
    }
    if !superuser {
        excess_findings(
            resource,
            user,
            high_evidence,
            medium_evidence,
            remedies,
            out,
        );
    }
}

/// What each need asks for, against every set of the account's rules.
fn rule_items(rules: &AclRules, needs: &[Need]) -> Vec<(NeedItem, NeedState)> {
    let catalog = Catalog::get();
    let sets: Vec<(&PermissionSet, CommandSet)> = rules
        .sets()
        .map(|s| (s, CommandSet::from_rules(&s.commands)))
        .collect();
    let mut items = Vec::new();
    for need in needs {
        let from = need.to_string();
        let expected = CommandSet::from_rules(&need.commands).entries();
        for rule in need.commands.iter().filter(|r| r.allow) {
            let reach: BTreeSet<String> = catalog
                .expand(&rule.spec)
                .map(|e| e.intersection(&expected).cloned().collect())
                .unwrap_or_else(|| expected.clone());
            let missing: BTreeSet<String> = reach
                .into_iter()
                .filter(|e| !sets.iter().any(|(_, cs)| cs.allows(e)))
                .collect();
            let item = NeedItem {
                from: from.clone(),
                what: format!("command {}", rule.spec),
                grant: rule.to_string(),
            };
            items.push((
                item,
                if missing.is_empty() {
                    NeedState::Granted
                } else {
                    NeedState::Missing(format!("not allowed: {}", listing(&missing)))
                },
            ));
        }
        for k in &need.keys {
            let outers: Vec<&str> = sets
                .iter()
                .flat_map(|(s, _)| &s.keys)
                .filter(|a| a.access_covers(k))
                .map(|a| a.pattern.as_str())
                .collect();
            let state = match covers(outers, &k.pattern) {
                Coverage::Yes => NeedState::Granted,
                Coverage::No(witness) => {
                    NeedState::Missing(format!("e.g. key `{witness}` is out of reach"))
                }
                Coverage::Unknown => NeedState::Unknown(
                    "the account's key patterns neither clearly cover it nor clearly miss it"
                        .into(),
                ),
            };
            items.push((
                NeedItem {
                    from: from.clone(),
                    what: format!("key pattern {k}"),
                    grant: k.to_string(),
                },
                state,
            ));
        }
        for c in &need.channels {
            let outers: Vec<&str> = sets
                .iter()
                .flat_map(|(s, _)| &s.channels)
                .map(String::as_str)
                .collect();
            let state = match covers(outers, c) {
                Coverage::Yes => NeedState::Granted,
                Coverage::No(witness) => {
                    NeedState::Missing(format!("e.g. channel `{witness}` is out of reach"))
                }
                Coverage::Unknown => NeedState::Unknown(
                    "the account's channel patterns neither clearly cover it nor clearly miss it"
                        .into(),
                ),
            };
            items.push((
                NeedItem {
                    from: from.clone(),
                    what: format!("channel &{c}"),
                    grant: format!("&{c}"),
                },
                state,
            ));
        }
    }
    items
}

fn set_evidence(set: &PermissionSet) -> Vec<String> {
    let words = |v: Vec<String>| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join(" ")
        }
    };
    vec![
        format!(
            "commands: {}",
            words(set.commands.iter().map(ToString::to_string).collect())
        ),
        format!(
            "keys: {}",
            words(set.keys.iter().map(ToString::to_string).collect())
        ),
        format!(
            "channels: {}",
            words(set.channels.iter().map(|c| format!("&{c}")).collect())
        ),
    ]
}

fn excess_findings(
    resource: &str,
    user: &str,
    high: Vec<String>,
    medium: Vec<String>,
    remedies: BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    let remedy = remedies.into_iter().collect::<Vec<_>>().join("; ");
    if !high.is_empty() {
        out.push(
            Finding::new(
                CheckId::PrivExcess,
                Severity::High,
                resource,
                format!("account {user} may run dangerous or administrative commands beyond the manifest's needs"),
                remedy.clone(),
            )
            .with_evidence(high),
        );
    }
    if !medium.is_empty() {
        out.push(
            Finding::new(
                CheckId::PrivExcess,
                Severity::Medium,
                resource,
                format!("account {user} may do more than the manifest's needs"),
                remedy,
            )
            .with_evidence(medium),
        );
    }
}

fn shown(p: &Probe) -> String {
    let what = match &p.answer {
        Answer::Ran => "got past the ACL",
        Answer::KeyDenied => "got past the command check (the key was refused)",
        Answer::ChannelDenied => "got past the command check (the channel was refused)",
        Answer::CommandDenied => "was refused",
        Answer::Unknown(_) => "told nothing",
    };
    format!("`{}` {what}", p.shown)
}

fn judge_probes(resource: &str, p: &Posture, w: &Wanted, out: &mut Vec<Finding>) {
    let catalog = Catalog::get();
    let user = &p.user;
    let allowed = |purpose: Purpose| -> Vec<&Probe> {
        p.probes
            .iter()
            .filter(|x| x.purpose == purpose && x.answer.command_allowed() == Some(true))
            .collect()
    };
    let excess = allowed(Purpose::Excess);
    if let Some(setuser) = excess.iter().find(|x| x.entry == "acl|setuser") {
        out.push(
            Finding::role_admin(
                resource,
                format!("account {user} may create users and change their rules, its own included"),
                format!("ACL SETUSER {user} -acl"),
            )
            .with_evidence([shown(setuser)]),
        );
    }
    let mut high = Vec::new();
    let mut medium = Vec::new();
    let mut remedy_words = Vec::new();
    for x in &excess {
        let line = format!("{}{}: {}", x.entry, note(&x.entry), shown(x));
        if catalog.is_dangerous(&x.entry) {
            high.push(line);
        } else {
            medium.push(line);
        }
        remedy_words.push(format!("-{}", x.entry));
    }
    let mut remedies = BTreeSet::new();
    if !remedy_words.is_empty() {
        remedies.insert(format!("ACL SETUSER {user} {}", remedy_words.join(" ")));
    }
    for x in allowed(Purpose::WideKeys) {
        if x.answer == Answer::Ran {
            medium.push(format!("keys beyond the needs' patterns: {}", shown(x)));
            remedies.insert(reset_keys(user, w));
        }
    }
    for x in allowed(Purpose::WideChannels) {
        if x.answer == Answer::Ran {
            medium.push(format!(
                "channels beyond the needs' patterns: {} (an empty message to a channel no one uses)",
                shown(x)
            ));
            remedies.insert(reset_channels(user, w));
        }
    }
    excess_findings(resource, user, high, medium, remedies, out);

    let probed: Vec<String> = p
        .probes
        .iter()
        .filter(|x| x.purpose == Purpose::Excess)
        .map(|x| x.entry.clone())
        .collect();
    let mut evidence = vec![format!(
        "ACL GETUSER {user}: {}",
        p.rules_refused.as_deref().unwrap_or("no answer")
    )];
    if !probed.is_empty() {
        evidence.push(format!(
            "probed without side effects: {}",
            probed.join(", ")
        ));
    }
    evidence.push(format!(
        "not probed (no side-effect-free probe): {}, and every other command",
        NOT_PROBED.join(", ")
    ));
    out.push(unknown(
        resource,
        format!(
            "account {user} may not read its own ACL; beyond what attache could probe, what it may run is unknown"
        ),
        evidence,
    ));
}

/// Each need item and whether the account holds it: from its rules where it may read them,
/// else from the probes.
pub fn need_items(p: &Posture, needs: &[Need]) -> Vec<(NeedItem, NeedState)> {
    match &p.rules {
        Some(rules) => rule_items(rules, needs),
        None => p.needs.clone(),
    }
}

/// The account's own rules (or one selector's), as reports show them.
#[derive(Serialize)]
struct SetView {
    commands: String,
    keys: Vec<String>,
    channels: Vec<String>,
}

impl SetView {
    fn of(s: &PermissionSet) -> SetView {
        SetView {
            commands: s
                .commands
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            keys: s.keys.iter().map(ToString::to_string).collect(),
            channels: s.channels.iter().map(|c| format!("&{c}")).collect(),
        }
    }
}

#[derive(Serialize)]
struct RulesView {
    #[serde(flatten)]
    root: SetView,
    flags: Vec<String>,
    selectors: Vec<SetView>,
}

#[derive(Serialize)]
struct ProbeView {
    command: String,
    entry: String,
    purpose: &'static str,
    answer: &'static str,
}

/// What only Redis accounts have, reported beside core's fields (no password hash, no random
/// probe names).
#[derive(Serialize)]
struct Extension {
    /// `ACL GETUSER`'s answer, where the account may read it.
    rules: Option<RulesView>,
    /// Why it could not, when it could not.
    rules_refused: Option<String>,
    /// The probes run instead.
    probes: Vec<ProbeView>,
}

/// The account's posture in core's model.
fn account(p: &Posture) -> Account {
    let user = &p.user;
    let mut privileges = Vec::new();
    if let Some(rules) = &p.rules {
        for (i, set) in rules.sets().enumerate() {
            let view = SetView::of(set);
            let selector = if i == 0 {
                String::new()
            } else {
                format!(" (selector {i})")
            };
            privileges.push(Privilege {
                privilege: view.commands,
                on: format!(
                    "keys {}; channels {}{selector}",
                    words(view.keys),
                    words(view.channels)
                ),
                via: Via::Directly,
                grantable: false,
            });
        }
    }
    for x in p
        .probes
        .iter()
        .filter(|x| x.answer.command_allowed() == Some(true))
    {
        privileges.push(Privilege {
            privilege: format!("+{}", x.entry),
            on: format!("what a probe reached (`{}`)", x.shown),
            via: Via::Directly,
            grantable: false,
        });
    }
    let needs = need_items(p, &p.asked)
        .into_iter()
        .map(|(item, state)| NeedCheck {
            need: item.from,
            what: item.what.clone(),
            implied: false,
            state: match state {
                NeedState::Granted => attache_core::NeedState::Granted,
                NeedState::Missing(why) => attache_core::NeedState::Missing {
                    detail: format!("{} is not granted: {why}", item.what),
                    fix: Some(Fix::new(
                        format!("ACL SETUSER {user} "),
                        item.grant,
                        " ",
                        "",
                    )),
                },
                NeedState::Unknown(why) => attache_core::NeedState::Unknown {
                    detail: format!("{}: {why}", item.what),
                },
            },
        })
        .collect();
    let probes = p
        .probes
        .iter()
        .map(|x| ProbeView {
            command: x.shown.clone(),
            entry: x.entry.clone(),
            purpose: match x.purpose {
                Purpose::Need => "need",
                Purpose::Excess => "excess",
                Purpose::WideKeys => "wide-keys",
                Purpose::WideChannels => "wide-channels",
            },
            answer: match &x.answer {
                Answer::Ran => "allowed",
                Answer::CommandDenied => "command-denied",
                Answer::KeyDenied => "key-denied",
                Answer::ChannelDenied => "channel-denied",
                Answer::Unknown(_) => "unknown",
            },
        })
        .collect();
    Account {
        user: Some(user.clone()),
        database: Some(p.db.to_string()),
        attributes: p
            .rules
            .as_ref()
            .map(|r| r.flags.clone())
            .unwrap_or_default(),
        privileges,
        unknown: p.unknown.clone(),
        needs,
        ..Account::default()
    }
    .with_extension(&Extension {
        rules: p.rules.as_ref().map(|r| RulesView {
            root: SetView::of(&r.root),
            flags: r.flags.clone(),
            selectors: r.selectors.iter().map(SetView::of).collect(),
        }),
        rules_refused: p.rules_refused.clone(),
        probes,
    })
}

fn words(v: Vec<String>) -> String {
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use attache_testkit::unit;

    /// Everything an audit judges of a posture read against `needs`.
    fn judge(p: &Posture, needs: &[Need]) -> Vec<Finding> {
        unit::judge::<crate::Redis>(&Posture {
            asked: needs.to_vec(),
            ..p.clone()
        })
    }
    use crate::needs::{Word, parse_word, split_words};
    use std::str::FromStr;

    fn needs() -> Vec<Need> {
        ["+get +set +expire ~session:*", "+publish &events"]
            .iter()
            .map(|n| Need::from_str(n).unwrap())
            .collect()
    }

    fn rules(commands: &str, keys: &str, channels: &str) -> AclRules {
        let mut set = PermissionSet::default();
        for w in split_words(&format!("{commands} {keys} {channels}")) {
            match parse_word(&w).unwrap() {
                Word::Command(r) => set.commands.push(r),
                Word::Keys(k) => set.keys.push(k),
                Word::Channel(c) => set.channels.push(c),
                other => panic!("{other:?}"),
            }
        }
        AclRules {
            flags: vec!["on".into()],
            root: set,
            selectors: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    fn posture(r: AclRules) -> Posture {
        Posture {
            user: "app".into(),
            rules: Some(r),
            ..Posture::default()
        }
    }

    fn checks(f: &[Finding]) -> Vec<(CheckId, Severity)> {
        f.iter().map(|f| (f.check, f.severity)).collect()
    }

    #[test]
    fn exactly_the_needs_is_clean() {
        let p = posture(rules(
            "-@all +get +set +expire +publish",
            "~session:*",
            "&events",
        ));
        assert_eq!(judge(&p, &needs()), vec![]);
        // acl|whoami reveals nothing but the name: not excess.
        let p = posture(rules(
            "-@all +get +set +expire +publish +acl|whoami",
            "~session:*",
            "&events",
        ));
        assert_eq!(judge(&p, &needs()), vec![]);
    }

    #[test]
    fn everything_is_superuser() {
        let p = posture(rules("+@all", "~*", "&*"));
        let f = judge(&p, &needs());
        assert_eq!(
            checks(&f),
            vec![(CheckId::PrivSuperuser, Severity::Critical)]
        );
        unit::assert_lists(&f[0].evidence, "keys: ~*");
        unit::assert_has(
            &f[0].remedy,
            "ACL SETUSER app -@all +get +set +expire +publish",
        );
    }

    #[test]
    fn dangerous_commands_are_high_excess_named_by_the_granting_word() {
        let p = posture(rules(
            "-@all +get +set +expire +publish +flushall +config",
            "~session:*",
            "&events",
        ));
        let f = judge(&p, &needs());
        assert_eq!(checks(&f), vec![(CheckId::PrivExcess, Severity::High)]);
        let ev = f[0].evidence.join("\n");
        assert!(
            ev.contains("`+flushall` grants flushall (deletes every key)"),
            "{ev}"
        );
        assert!(
            ev.contains(
                "`+config` grants config|get, config|resetstat, config|rewrite, config|set"
            ),
            "{ev}"
        );
        let p = posture(rules(
            "-@all +get +set +expire +publish +@dangerous",
            "~session:*",
            "&events",
        ));
        let f = judge(&p, &needs());
        assert!(checks(&f).contains(&(CheckId::PrivRoleAdmin, Severity::High)));
        let excess = f.iter().find(|f| f.check == CheckId::PrivExcess).unwrap();
        assert!(
            excess.evidence[0].contains("commands)"),
            "{:?}",
            excess.evidence
        );
    }

    #[test]
    fn wide_keys_and_channels_and_plain_commands_are_medium_excess() {
        let p = posture(rules("-@all +get +set +expire +publish +del", "~*", "&*"));
        let f = judge(&p, &needs());
        assert_eq!(checks(&f), vec![(CheckId::PrivExcess, Severity::Medium)]);
        let ev = f[0].evidence.join("\n");
        assert!(ev.contains("`+del` grants del"), "{ev}");
        assert!(
            ev.contains(
                "key pattern ~* gives read access to keys no need names (e.g. `attache-witness`)"
            ),
            "{ev}"
        );
        assert!(ev.contains("channel pattern &*"), "{ev}");
        unit::assert_has(&f[0].remedy, "ACL SETUSER app resetkeys ~session:*");
    }

    #[test]
    fn missing_lists_the_words_to_grant() {
        let p = posture(rules("-@all +get +set +publish", "~session:*", "&events"));
        let f = judge(&p, &needs());
        assert_eq!(checks(&f), vec![(CheckId::PrivMissing, Severity::High)]);
        assert_eq!(
            f[0].message,
            "need `+get +set +expire ~session:*` is not met"
        );
        assert_eq!(f[0].remedy, "ACL SETUSER app +expire");
        let p = posture(rules(
            "-@all +get +set +expire +publish",
            "~other:*",
            "&events",
        ));
        let f = judge(&p, &needs());
        assert!(checks(&f).contains(&(CheckId::PrivMissing, Severity::High)));
        assert!(
            f.iter().any(|f| f.remedy == "ACL SETUSER app ~session:*"),
            "{f:#?}"
        );
    }

    #[test]
    fn categories_cover_commands_both_ways() {
        // The account holds +@string for a need of +get: excess (set, incr, …), not missing.
        let p = posture(rules(
            "-@all +@string +expire +publish",
            "~session:*",
            "&events",
        ));
        let f = judge(&p, &needs());
        assert_eq!(checks(&f), vec![(CheckId::PrivExcess, Severity::Medium)]);
        // A need of +@read against an account with exactly @read: clean.
        let n = vec![Need::from_str("+@read ~session:*").unwrap()];
        let p = posture(rules("-@all +@read", "~session:*", ""));
        assert_eq!(judge(&p, &n), vec![]);
        let p = posture(rules("-@all +@read -get", "~session:*", ""));
        let f = judge(&p, &n);
        assert_eq!(checks(&f), vec![(CheckId::PrivMissing, Severity::High)]);
    }

    #[test]
    fn nopass_is_cred_empty_and_unreadable_words_are_unknown() {
        let mut r = rules("-@all +get +set +expire +publish", "~session:*", "&events");
        r.flags.push("nopass".into());
        r.unreadable.push("+@brandnew".into());
        let f = judge(&posture(r), &needs());
        assert_eq!(
            checks(&f),
            vec![
                (CheckId::CredEmpty, Severity::Critical),
                (CheckId::PrivUnknown, Severity::Medium)
            ]
        );
    }

    fn probe(entry: &str, purpose: Purpose, answer: Answer) -> Probe {
        Probe {
            entry: entry.into(),
            shown: entry.to_uppercase(),
            purpose,
            answer,
            reply: String::new(),
        }
    }

    #[test]
    fn probes_judge_what_they_showed_and_say_the_rest_is_unknown() {
        let item = |what: &str| NeedItem {
            from: "+get +set +expire ~session:*".into(),
            what: what.into(),
            grant: "+expire".into(),
        };
        let p = Posture {
            user: "app".into(),
            rules_refused: Some(
                "NOPERM this user has no permissions to run the 'acl|getuser' command".into(),
            ),
            probes: vec![
                probe("flushall", Purpose::Excess, Answer::Ran),
                probe("config|set", Purpose::Excess, Answer::CommandDenied),
                probe("acl|setuser", Purpose::Excess, Answer::Ran),
                probe("del", Purpose::Excess, Answer::KeyDenied),
                probe("get", Purpose::WideKeys, Answer::Ran),
            ],
            needs: vec![
                (item("command get"), NeedState::Granted),
                (item("command expire"), NeedState::Missing("refused".into())),
                (
                    item("channel &events"),
                    NeedState::Unknown("would publish".into()),
                ),
            ],
            ..Posture::default()
        };
        let f = judge(&p, &needs());
        let c = checks(&f);
        for expected in [
            (CheckId::PrivRoleAdmin, Severity::High),
            (CheckId::PrivExcess, Severity::High),
            (CheckId::PrivExcess, Severity::Medium),
            (CheckId::PrivMissing, Severity::High),
            (CheckId::PrivUnknown, Severity::Medium),
        ] {
            assert!(c.contains(&expected), "{expected:?} in {c:?}");
        }
        let high = f
            .iter()
            .find(|f| f.check == CheckId::PrivExcess && f.severity == Severity::High)
            .unwrap();
        assert!(
            high.evidence.iter().any(|e| e.starts_with("flushall")),
            "{:?}",
            high.evidence
        );
        assert!(!high.evidence.iter().any(|e| e.starts_with("config|set")));
        let medium = f
            .iter()
            .find(|f| f.check == CheckId::PrivExcess && f.severity == Severity::Medium)
            .unwrap();
        assert!(
            medium.evidence.iter().any(|e| e.starts_with("del")),
            "{:?}",
            medium.evidence
        );
        assert!(
            medium.evidence.iter().any(|e| e.starts_with("keys beyond")),
            "{:?}",
            medium.evidence
        );
        let missing = f.iter().find(|f| f.check == CheckId::PrivMissing).unwrap();
        assert_eq!(missing.remedy, "ACL SETUSER app +expire");
        let unknown: Vec<_> = f
            .iter()
            .filter(|f| f.check == CheckId::PrivUnknown)
            .collect();
        assert_eq!(unknown.len(), 2, "{unknown:#?}");
        assert!(
            unknown
                .iter()
                .any(|f| f.message.contains("may not read its own ACL"))
        );
    }
}
