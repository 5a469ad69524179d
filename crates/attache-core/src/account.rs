//! What inspection learned about the account, in one model for every kind, and the judgements
//! that are the same for every kind: `priv-missing` from the needs' states, `priv-unknown` from
//! what could not be read, `priv-excess` from what the kind found beyond the needs
//! ([`Excess`]).
//!
//! A kind fills an [`Account`]: who the account is, its attributes and roles, every privilege
//! it holds and how ([`Privilege`], [`Via`]), what it owns, what it could not read, and for
//! each concrete thing the needs ask for whether it is held ([`NeedCheck`]). What only its
//! protocol has (an account's TLS requirement, an ACL's selectors) goes into a typed
//! extension of its own, serialized beside the shared fields
//! ([`Account::with_extension`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Serialize, Serializer};

use crate::finding::{CheckId, Finding, Severity};

/// The account's posture as read through the account itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Account {
    /// The account as the server knows it (`app`, `app@%`); `None` when it could not be read.
    pub user: Option<String>,
    /// The database (or namespace) the session is in, if the kind has one.
    pub database: Option<String>,
    /// The server's version, if the account may read it.
    pub server_version: Option<String>,
    /// Attributes of the account that matter (`SUPERUSER`, `CREATEROLE`, `nopass`, …).
    pub attributes: Vec<String>,
    /// Roles the account can assume.
    pub roles: Vec<Role>,
    /// Every privilege it holds, with how it holds it.
    pub privileges: Vec<Privilege>,
    /// Objects it (or a role it can assume) owns.
    pub owns: Vec<String>,
    /// What could not be read, and why: each one is a `priv-unknown` finding.
    pub unknown: Vec<String>,
    /// For each concrete thing the needs ask for, whether the account holds it.
    pub needs: Vec<NeedCheck>,
    /// What only this kind knows, as its typed extension serialized (see
    /// [`with_extension`](Self::with_extension)).
    #[serde(flatten)]
    pub extension: serde_json::Map<String, serde_json::Value>,
}

impl Account {
    /// Adds the kind's own facts: `ext` must serialize to a map (a struct with named fields);
    /// its fields appear beside the shared ones.
    pub fn with_extension(mut self, ext: &impl Serialize) -> Self {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(ext) {
            self.extension.extend(map);
        }
        self
    }
}

/// A role the account can assume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// The role.
    pub name: String,
    /// The chain of grants from the account to it (the last is the role itself).
    pub through: Vec<String>,
    /// Its attributes that matter.
    pub attributes: Vec<String>,
    /// Whether the account can grant it onwards.
    pub admin_option: bool,
    /// Whether it is active as the account logs in, where the kind tells active from granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// How the account holds a privilege.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// Granted to the account itself.
    Directly,
    /// Granted to everyone.
    Public,
    /// Granted to a role the account can assume.
    Role {
        /// The role.
        name: String,
        /// The chain of grants from the account to it.
        through: Vec<String>,
    },
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Directly => f.write_str("directly"),
            Via::Public => f.write_str("via PUBLIC"),
            Via::Role { name, through } if through.len() > 1 => {
                write!(f, "via role {name} (through {})", through.join(" → "))
            }
            Via::Role { name, .. } => write!(f, "via role {name}"),
        }
    }
}

/// One privilege the account holds. Reports show it as one line:
/// `SELECT (email) on TABLE public.users (via role readers, WITH GRANT OPTION)`, and sort by
/// that line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Privilege {
    /// The privilege in the server's words (`SELECT (email)`, `+get`).
    pub privilege: String,
    /// What it applies to (`TABLE public.users`, `keys ~session:*`).
    pub on: String,
    /// How the account holds it.
    pub via: Via,
    /// Whether the account can grant it onwards.
    pub grantable: bool,
}

impl Privilege {
    /// `privilege` on `on`, held directly, not grantable onwards (what a probe that passed
    /// shows).
    pub fn direct(privilege: impl Into<String>, on: impl Into<String>) -> Privilege {
        Privilege {
            privilege: privilege.into(),
            on: on.into(),
            via: Via::Directly,
            grantable: false,
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} ({}", self.privilege, self.on, self.via)?;
        if self.grantable {
            f.write_str(", WITH GRANT OPTION")?;
        }
        f.write_str(")")
    }
}

impl Ord for Privilege {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string()
            .cmp(&other.to_string())
            .then_with(|| (&self.privilege, &self.on).cmp(&(&other.privilege, &other.on)))
    }
}

impl PartialOrd for Privilege {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Privilege {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether the account holds one concrete thing a need asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedCheck {
    /// The need as the manifest writes it, or why it is implied.
    pub need: String,
    /// The concrete thing (`INSERT on TABLE public.signups`).
    pub what: String,
    /// Implied by the needs rather than written (CONNECT on the database, USAGE on a schema).
    #[serde(skip)]
    pub implied: bool,
    /// Whether it is held.
    #[serde(flatten)]
    pub state: NeedState,
}

/// Whether a need is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum NeedState {
    /// Held.
    Granted,
    /// Not held: refuses the attach (`priv-missing`).
    Missing {
        /// The evidence line (`INSERT on TABLE public.signups is not granted`).
        detail: String,
        /// What grants it, if the kind can say.
        #[serde(skip)]
        fix: Option<Fix>,
    },
    /// The object does not exist, or the account cannot see it (`priv-missing`).
    NoObject {
        /// The evidence line.
        detail: String,
    },
    /// The check itself failed: counted as missing, never assumed held (`priv-missing`).
    Unchecked {
        /// The evidence line, with why.
        detail: String,
    },
    /// Not known, and said so (`priv-unknown`, medium).
    Unknown {
        /// The evidence line, with why.
        detail: String,
    },
}

impl NeedState {
    /// `what` is not held: "`what` is not granted", and what grants it if the kind can say.
    pub fn not_granted(what: &str, fix: Option<Fix>) -> NeedState {
        NeedState::Missing {
            detail: format!("{what} is not granted"),
            fix,
        }
    }

    /// The object a need names does not exist, or the account cannot see it (a `column` of it,
    /// when the need names one).
    pub fn no_object(object: &str, column: Option<&str>) -> NeedState {
        NeedState::NoObject {
            detail: match column {
                Some(c) => format!("{object} has no column {c} (or the account cannot see it)"),
                None => format!("{object} does not exist (or the account cannot see it)"),
            },
        }
    }

    /// Checking `what` failed (`why`): counted as missing, never assumed held.
    pub fn unchecked(what: &str, why: &str) -> NeedState {
        NeedState::Unchecked {
            detail: format!("{what} could not be checked: {why}"),
        }
    }
}

/// A statement that grants what a need lacks. Fixes with the same `head`, `separator` and
/// `tail` merge into one statement: `GRANT` `SELECT, INSERT` ` ON t TO app;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What comes before the words (`GRANT `, `ACL SETUSER app `).
    pub head: String,
    /// The word this need item adds (`INSERT`, `+expire`).
    pub word: String,
    /// How merged words are joined (`, `, ` `).
    pub separator: &'static str,
    /// What comes after them (` ON TABLE public.signups TO app;`).
    pub tail: String,
}

impl Fix {
    /// A fix that merges with others of the same head, separator and tail.
    pub fn new(
        head: impl Into<String>,
        word: impl Into<String>,
        separator: &'static str,
        tail: impl Into<String>,
    ) -> Fix {
        Fix {
            head: head.into(),
            word: word.into(),
            separator,
            tail: tail.into(),
        }
    }

    /// A whole statement that merges with nothing but itself.
    pub fn statement(statement: impl Into<String>) -> Fix {
        Fix::new("", statement, "", "")
    }
}

/// Fixes merged as [`Fix`] says, in the order first met; a repeated word or statement is
/// written once.
#[derive(Debug, Default)]
struct Fixes(Vec<(Fix, Vec<String>)>);

impl Fixes {
    fn add(&mut self, fix: &Fix) {
        let same = |(f, _): &&mut (Fix, Vec<String>)| {
            f.head == fix.head
                && f.separator == fix.separator
                && f.tail == fix.tail
                && (!f.separator.is_empty() || f.word == fix.word)
        };
        match self.0.iter_mut().find(same) {
            Some((_, words)) if words.contains(&fix.word) => {}
            Some((_, words)) => words.push(fix.word.clone()),
            None => self.0.push((fix.clone(), vec![fix.word.clone()])),
        }
    }

    fn statements(&self) -> impl Iterator<Item = String> + '_ {
        self.0
            .iter()
            .map(|(f, words)| format!("{}{}{}", f.head, words.join(f.separator), f.tail))
    }
}

/// The remedy of a `priv-missing` whose items have no fix: nothing to grant, something to
/// create or correct.
const NOTHING_TO_GRANT: &str = "create the object (run the app's migrations), check the database the binding names, or fix the need in attache.toml";

/// `priv-missing` (one finding per need, listing what is missing of it and the statements that
/// grant it) and `priv-unknown` (one per need not fully known, and one per thing the account
/// could not read), judged the same way for every kind. `unknown_fix` is the kind's remedy for
/// what stays unknown.
pub fn judge(resource: &str, account: &Account, unknown_fix: &str) -> Vec<Finding> {
    #[derive(Default)]
    struct Need<'a> {
        implied: bool,
        missing: Vec<&'a str>,
        fixes: Fixes,
        unknown: Vec<&'a str>,
    }
    let mut needs: BTreeMap<&str, Need<'_>> = BTreeMap::new();
    for check in &account.needs {
        let need = needs.entry(&check.need).or_default();
        need.implied |= check.implied;
        match &check.state {
            NeedState::Granted => {}
            NeedState::Missing { detail, fix } => {
                need.missing.push(detail);
                if let Some(fix) = fix {
                    need.fixes.add(fix);
                }
            }
            NeedState::NoObject { detail } | NeedState::Unchecked { detail } => {
                need.missing.push(detail);
            }
            NeedState::Unknown { detail } => need.unknown.push(detail),
        }
    }
    let mut out = Vec::new();
    for (need, n) in &needs {
        if !n.missing.is_empty() {
            let message = if n.implied {
                format!("missing what the needs imply ({need})")
            } else {
                format!("need `{need}` is not met")
            };
            let remedy = if n.fixes.0.is_empty() {
                NOTHING_TO_GRANT.to_owned()
            } else {
                n.fixes.statements().collect::<Vec<_>>().join(" ")
            };
            out.push(
                Finding::new(
                    CheckId::PrivMissing,
                    Severity::High,
                    resource,
                    message,
                    remedy,
                )
                .with_evidence(n.missing.iter().copied()),
            );
        }
        if !n.unknown.is_empty() {
            out.push(
                Finding::new(
                    CheckId::PrivUnknown,
                    Severity::Medium,
                    resource,
                    format!("whether need `{need}` is met is not fully known"),
                    unknown_fix,
                )
                .with_evidence(n.unknown.iter().copied()),
            );
        }
    }
    for what in &account.unknown {
        out.push(Finding::new(
            CheckId::PrivUnknown,
            Severity::Medium,
            resource,
            format!("attache could not read {what}"),
            unknown_fix,
        ));
    }
    out
}

/// One grant the account holds beyond the needs, as a kind found it: `privilege` (a column of
/// it, when the grant is column-level) on `object`, held `how` (`directly`, `through role r`),
/// and the statements that take it away.
#[derive(Debug, Clone)]
pub struct Grant {
    object: String,
    how: String,
    privilege: String,
    column: Option<String>,
    needed_columns: Vec<String>,
    blanket: bool,
    fixes: Vec<Fix>,
}

impl Grant {
    /// `privilege` on `object`, held `how`.
    pub fn new(
        object: impl Into<String>,
        how: impl Into<String>,
        privilege: impl Into<String>,
    ) -> Grant {
        Grant {
            object: object.into(),
            how: how.into(),
            privilege: privilege.into(),
            column: None,
            needed_columns: Vec::new(),
            blanket: false,
            fixes: Vec::new(),
        }
    }

    /// Limited to `column` (as the kind quotes it). A column grant whose privilege the same
    /// holder also has on the whole object is not listed: the table-level grant says it.
    pub fn column(mut self, column: Option<String>) -> Grant {
        self.column = column;
        self
    }

    /// Held on every column while the needs ask only for `columns`.
    pub fn needing_only(mut self, columns: Vec<String>) -> Grant {
        self.needed_columns = columns;
        self
    }

    /// A blanket or destructive grant (on every database, a destructive privilege): judged
    /// with the powers, high.
    pub fn blanket(mut self, blanket: bool) -> Grant {
        self.blanket = blanket;
        self
    }

    /// A statement that takes it away, or narrows it.
    pub fn fix(mut self, fix: Fix) -> Grant {
        self.fixes.push(fix);
        self
    }

    fn text(&self) -> String {
        match &self.column {
            Some(c) => format!("{} ({c})", self.privilege),
            None if self.needed_columns.is_empty() => self.privilege.clone(),
            None => format!(
                "{} on all columns (needs only {})",
                self.privilege,
                self.needed_columns.join(", ")
            ),
        }
    }
}

/// What an account holds beyond the manifest's needs, gathered by the kind and judged the same
/// way for every kind as `priv-excess`: the ordinary grants as one medium finding (one evidence
/// line per object and way held), the blanket or destructive ones, with the powers that are
/// not grants on one object (ownership, an attribute, a predefined role), as one high finding.
#[derive(Debug, Default)]
pub struct Excess {
    grants: Vec<Grant>,
    powers: Vec<(String, Vec<Fix>)>,
}

impl Excess {
    /// A grant beyond the needs.
    pub fn grant(&mut self, grant: Grant) {
        self.grants.push(grant);
    }

    /// A blanket or destructive power, as its evidence line, and what removes it.
    pub fn power(&mut self, evidence: impl Into<String>, fixes: impl IntoIterator<Item = Fix>) {
        self.powers
            .push((evidence.into(), fixes.into_iter().collect()));
    }

    /// Whether nothing beyond the needs was found.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty() && self.powers.is_empty()
    }

    /// The `priv-excess` findings for `account` on `resource`.
    pub fn findings(self, resource: &str, account: &str) -> Vec<Finding> {
        type Groups = BTreeMap<(String, String), (BTreeSet<String>, Fixes)>;
        let mut groups: [Groups; 2] = Default::default();
        for g in &self.grants {
            let said_by_table = g.column.is_some()
                && self.grants.iter().any(|t| {
                    t.column.is_none()
                        && t.object == g.object
                        && t.how == g.how
                        && t.privilege == g.privilege
                });
            if said_by_table {
                continue;
            }
            let (texts, fixes) = groups[usize::from(g.blanket)]
                .entry((g.object.clone(), g.how.clone()))
                .or_default();
            texts.insert(g.text());
            for f in &g.fixes {
                fixes.add(f);
            }
        }
        let render = |groups: &Groups| -> (Vec<String>, Vec<String>) {
            let evidence = groups
                .iter()
                .map(|((object, how), (texts, _))| {
                    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                    format!("{} on {object} ({how})", texts.join(", "))
                })
                .collect();
            let mut remedy: Vec<String> = Vec::new();
            for statement in groups.values().flat_map(|(_, fixes)| fixes.statements()) {
                if !remedy.contains(&statement) {
                    remedy.push(statement);
                }
            }
            (evidence, remedy)
        };
        let mut out = Vec::new();
        let [ordinary, blanket] = &groups;
        if !ordinary.is_empty() {
            let (evidence, remedy) = render(ordinary);
            out.push(
                Finding::new(
                    CheckId::PrivExcess,
                    Severity::Medium,
                    resource,
                    format!(
                        "account {account} holds {} grant(s) beyond the manifest's needs",
                        evidence.len()
                    ),
                    remedy.join(" "),
                )
                .with_evidence(evidence),
            );
        }
        if !blanket.is_empty() || !self.powers.is_empty() {
            let (mut evidence, remedy) = render(blanket);
            let mut fixes = Fixes::default();
            for (line, fs) in &self.powers {
                evidence.push(line.clone());
                for f in fs {
                    fixes.add(f);
                }
            }
            let remedy: Vec<String> = remedy.into_iter().chain(fixes.statements()).collect();
            out.push(
                Finding::new(
                    CheckId::PrivExcess,
                    Severity::High,
                    resource,
                    format!(
                        "account {account} holds blanket or destructive powers beyond the manifest's needs"
                    ),
                    remedy.join(" "),
                )
                .with_evidence(evidence),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(need: &str, what: &str, state: NeedState) -> NeedCheck {
        NeedCheck {
            need: need.into(),
            what: what.into(),
            implied: false,
            state,
        }
    }

    fn missing(word: &str, on: &str) -> NeedState {
        NeedState::Missing {
            detail: format!("{word} on {on} is not granted"),
            fix: Some(Fix::new("GRANT ", word, ", ", format!(" ON {on} TO app;"))),
        }
    }

    #[test]
    fn everything_held_is_clean() {
        let account = Account {
            needs: vec![check("SELECT ON t", "SELECT on t", NeedState::Granted)],
            ..Account::default()
        };
        assert!(judge("db", &account, "fix it").is_empty());
    }

    #[test]
    fn missing_items_of_one_need_make_one_finding_with_merged_grants() {
        let need = "SELECT, INSERT ON t";
        let account = Account {
            needs: vec![
                check(need, "SELECT on t", missing("SELECT", "t")),
                check(need, "INSERT on t", missing("INSERT", "t")),
                check(need, "INSERT on u", missing("INSERT", "u")),
                check(
                    "SELECT ON gone",
                    "SELECT on gone",
                    NeedState::NoObject {
                        detail: "gone does not exist".into(),
                    },
                ),
            ],
            ..Account::default()
        };
        let f = judge("db", &account, "fix it");
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[1].check, f[1].severity),
            (CheckId::PrivMissing, Severity::High)
        );
        assert_eq!(f[1].message, format!("need `{need}` is not met"));
        assert_eq!(
            f[1].remedy,
            "GRANT SELECT, INSERT ON t TO app; GRANT INSERT ON u TO app;"
        );
        assert_eq!(f[1].evidence.len(), 3);
        assert_eq!(f[0].remedy, NOTHING_TO_GRANT);
    }

    #[test]
    fn unchecked_refuses_and_unknown_is_said() {
        let account = Account {
            needs: vec![
                check(
                    "a",
                    "x",
                    NeedState::Unchecked {
                        detail: "x: error".into(),
                    },
                ),
                check(
                    "b",
                    "y",
                    NeedState::Unknown {
                        detail: "y: no probe".into(),
                    },
                ),
            ],
            unknown: vec!["the roles: permission denied".into()],
            ..Account::default()
        };
        let f: Vec<_> = judge("db", &account, "fix it")
            .into_iter()
            .map(|f| (f.check, f.severity, f.message))
            .collect();
        assert_eq!(
            f,
            vec![
                (
                    CheckId::PrivMissing,
                    Severity::High,
                    "need `a` is not met".into()
                ),
                (
                    CheckId::PrivUnknown,
                    Severity::Medium,
                    "whether need `b` is met is not fully known".into()
                ),
                (
                    CheckId::PrivUnknown,
                    Severity::Medium,
                    "attache could not read the roles: permission denied".into()
                ),
            ]
        );
    }

    #[test]
    fn privileges_read_as_one_line_each() {
        let p = Privilege {
            privilege: "DELETE".into(),
            on: "TABLE public.t".into(),
            via: Via::Role {
                name: "rw".into(),
                through: vec!["ops".into(), "rw".into()],
            },
            grantable: true,
        };
        assert_eq!(
            p.to_string(),
            "DELETE on TABLE public.t (via role rw (through ops → rw), WITH GRANT OPTION)"
        );
        let account = Account {
            user: Some("app".into()),
            privileges: vec![p],
            ..Account::default()
        }
        .with_extension(&serde_json::json!({"require": "SSL"}));
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(json["require"], "SSL");
        assert_eq!(json["user"], "app");
        assert!(json["privileges"][0].is_string());
    }

    #[test]
    fn excess_groups_by_object_and_way_held_and_drops_columns_the_table_grant_covers() {
        let revoke = |word: &str| Fix::new("REVOKE ", word, ", ", " ON t FROM app;");
        let mut excess = Excess::default();
        excess.grant(Grant::new("t", "directly", "SELECT").fix(revoke("SELECT")));
        excess.grant(
            Grant::new("t", "directly", "SELECT")
                .column(Some("email".into()))
                .fix(revoke("SELECT (email)")),
        );
        excess.grant(Grant::new("t", "directly", "DELETE").fix(revoke("DELETE")));
        excess.grant(
            Grant::new("u", "through role rw", "UPDATE")
                .needing_only(vec!["name".into()])
                .fix(Fix::statement("REVOKE UPDATE ON u FROM rw;")),
        );
        let f = excess.findings("db", "app");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::PrivExcess, Severity::Medium)
        );
        assert_eq!(
            f[0].message,
            "account app holds 2 grant(s) beyond the manifest's needs"
        );
        assert_eq!(
            f[0].evidence,
            [
                "DELETE, SELECT on t (directly)",
                "UPDATE on all columns (needs only name) on u (through role rw)"
            ]
        );
        assert_eq!(
            f[0].remedy,
            "REVOKE SELECT, DELETE ON t FROM app; REVOKE UPDATE ON u FROM rw;"
        );
    }

    #[test]
    fn blanket_grants_and_powers_are_one_high_finding_and_statements_never_merge() {
        let mut excess = Excess::default();
        assert!(excess.is_empty());
        excess.grant(Grant::new("*.*", "directly", "DROP").blanket(true));
        excess.power("owns t", [Fix::statement("ALTER TABLE t OWNER TO m;")]);
        excess.power(
            "has CREATEDB",
            [Fix::statement("ALTER ROLE app NOCREATEDB;")],
        );
        excess.power(
            "role r has CREATEDB",
            [Fix::statement("ALTER ROLE app NOCREATEDB;")],
        );
        let f = excess.findings("db", "app");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(
            f[0].evidence,
            [
                "DROP on *.* (directly)",
                "owns t",
                "has CREATEDB",
                "role r has CREATEDB"
            ]
        );
        assert_eq!(
            f[0].remedy,
            "ALTER TABLE t OWNER TO m; ALTER ROLE app NOCREATEDB;"
        );
    }
}
