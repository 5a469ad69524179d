//! Judging a posture against the needs: `priv-superuser`, `priv-role-admin`, `priv-excess`,
//! `priv-missing`, `priv-unknown`, and `cred-empty` for the anonymous account. Pure functions
//! over what [`inspect`](crate::inspect) read, so every rule is unit-tested without a server.
//!
//! The rules, in MySQL's terms:
//! - superuser: `ALL PRIVILEGES ON *.*`; the administrative global privileges ([`SUPERUSER`]:
//!   `SUPER`, `FILE`, `SHUTDOWN`, `PROCESS`, `RELOAD`, MariaDB's pieces of `SUPER`, MySQL 8's
//!   `*_ADMIN` dynamic privileges); writing the grant tables (`INSERT`/`UPDATE` reaching the
//!   `mysql` database); `PROXY ON ''@'%'`. Held directly, through PUBLIC, or through any
//!   granted role, active or not (a session can `SET ROLE` to it);
//! - role admin: `WITH GRANT OPTION` anywhere, `CREATE USER` (and MySQL's role privileges),
//!   a role granted `WITH ADMIN OPTION`, a grantable `PROXY`;
//! - excess: every other privilege the needs do not cover, at its level; `high` when it is
//!   blanket or destructive (anything on `*.*`, writes on a whole database or a database
//!   pattern, `DROP`/`ALTER`, anything reaching the `mysql` database), `medium` otherwise;
//! - missing: a need not held as the account logs in, with the GRANT that fixes it (judged by
//!   core from [`account`]'s need checks).

use std::collections::{BTreeMap, BTreeSet};

use attache_core::sql;
use attache_core::{
    Account, CheckId, Excess, Finding, Fix, Grant, NeedCheck, Privilege, Role, Severity,
};
use serde::Serialize;

use crate::inspect::{Held, Holder, Level, NeedState, Posture, like_match, literal_database};
use crate::needs::quote;

/// Global privileges that make an account a superuser in all but name, and why.
pub const SUPERUSER: &[(&str, &str)] = &[
    (
        "SUPER",
        "kills any session, changes global settings, bypasses read_only, and runs code as any DEFINER",
    ),
    (
        "FILE",
        "reads and writes files on the server host as the server's OS user (LOAD DATA INFILE, SELECT … INTO OUTFILE)",
    ),
    ("SHUTDOWN", "stops the server"),
    (
        "PROCESS",
        "sees every session's statements, other accounts' included",
    ),
    (
        "RELOAD",
        "flushes privileges, logs, caches and the host cache (FLUSH …)",
    ),
    (
        "BINLOG ADMIN",
        "purges and rewrites the binary log (part of SUPER in MariaDB)",
    ),
    (
        "BINLOG REPLAY",
        "replays binary log events (part of SUPER in MariaDB)",
    ),
    (
        "CONNECTION ADMIN",
        "kills other sessions and ignores connection limits (part of SUPER in MariaDB)",
    ),
    (
        "FEDERATED ADMIN",
        "creates connections to other servers (part of SUPER in MariaDB)",
    ),
    (
        "READ_ONLY ADMIN",
        "writes while the server is read_only (part of SUPER in MariaDB)",
    ),
    (
        "REPLICATION MASTER ADMIN",
        "controls replication (part of SUPER in MariaDB)",
    ),
    (
        "REPLICATION SLAVE ADMIN",
        "controls replication (part of SUPER in MariaDB)",
    ),
    (
        "SET USER",
        "creates routines and views that run as any other account (DEFINER)",
    ),
    ("SYSTEM_USER", "MySQL's system account privilege"),
    ("SET_USER_ID", "runs code as any other account (DEFINER)"),
    (
        "SET_ANY_DEFINER",
        "runs code as any other account (DEFINER)",
    ),
    (
        "ALLOW_NONEXISTENT_DEFINER",
        "creates objects owned by accounts that do not exist yet",
    ),
];

/// Global privileges that create accounts or roles.
pub const ROLE_ADMIN: &[&str] = &["CREATE USER", "CREATE ROLE", "DROP ROLE", "ROLE_ADMIN"];

/// Privileges that only read, and so are `medium` excess even on a whole database.
pub const READ_ONLY: &[&str] = &[
    "SELECT",
    "SHOW VIEW",
    "REFERENCES",
    "EXECUTE",
    "SHOW CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "SHOW DATABASES",
];

enum Class {
    Superuser(String),
    RoleAdmin(&'static str),
    Ordinary,
}

fn reaches_mysql_db(level: &Level) -> bool {
    match level {
        Level::Global => true,
        Level::Database(p) => like_match(p, "mysql"),
        Level::Table { database, .. } | Level::Routine { database, .. } => database == "mysql",
    }
}

fn classify(h: &Held) -> Class {
    let global = h.level == Level::Global;
    if global && h.privilege == "ALL PRIVILEGES" {
        return Class::Superuser(
            "every privilege on every database, accounts and server included".into(),
        );
    }
    if global {
        if let Some((_, why)) = SUPERUSER.iter().find(|(p, _)| *p == h.privilege) {
            return Class::Superuser((*why).to_owned());
        }
        if ROLE_ADMIN.contains(&h.privilege.as_str()) {
            return Class::RoleAdmin("creates, alters and drops accounts and roles");
        }
        if h.privilege.ends_with("_ADMIN") {
            return Class::Superuser("a MySQL administrative privilege".into());
        }
    }
    if matches!(h.privilege.as_str(), "INSERT" | "UPDATE" | "ALL PRIVILEGES")
        && reaches_mysql_db(&h.level)
    {
        return Class::Superuser(
            "writes the grant tables in the `mysql` database, so it can give itself anything"
                .into(),
        );
    }
    Class::Ordinary
}

/// The findings only this kind makes of a posture are the anonymous account, superuser, role
/// admin and excess; missing and unknown needs are core's, from [`account`]'s need checks.
impl attache_core::Posture for Posture {
    fn judge(&self, resource: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for rule in [anonymous, superuser, role_admin, excess] {
            rule(resource, self, &mut out);
        }
        out
    }
    fn account(&self) -> Account {
        account(self)
    }
}

fn anonymous(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    if p.user.as_ref().is_some_and(|u| u.name.is_empty()) {
        out.push(Finding::new(
            CheckId::CredEmpty,
            Severity::Critical,
            resource,
            format!(
                "the server matched the anonymous account {}: any user name gets in",
                p.user_name()
            ),
            format!(
                "DROP USER {}; give the app its own named account with a password",
                p.user_sql()
            ),
        ));
    }
}

fn privilege_text(h: &Held) -> String {
    sql::with_column(&h.privilege, h.column.as_deref(), crate::needs::ident)
}

fn privilege_sql(h: &Held) -> String {
    sql::with_column(&h.privilege, h.column.as_deref(), quote)
}

/// `REVOKE <privs> ON <level> FROM <from>;` for each (level, holder) group.
fn revokes<'a>(p: &Posture, held: impl IntoIterator<Item = &'a Held>) -> Vec<String> {
    let mut groups: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for h in held {
        groups
            .entry((h.level.sql(), p.revoke_from(&h.holder)))
            .or_default()
            .insert(privilege_sql(h));
    }
    groups
        .into_iter()
        .map(|((level, from), privs)| {
            format!(
                "REVOKE {} ON {level} FROM {from};",
                privs.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

fn superuser(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let mut by_holder: BTreeMap<&Holder, Vec<(&Held, String)>> = BTreeMap::new();
    for h in &p.held {
        if let Class::Superuser(why) = classify(h) {
            by_holder.entry(&h.holder).or_default().push((h, why));
        }
    }
    for (holder, items) in by_holder {
        let what: BTreeSet<String> = items
            .iter()
            .map(|(h, _)| format!("{} on {}", privilege_text(h), h.level))
            .collect();
        let what = what.into_iter().collect::<Vec<_>>().join(", ");
        let evidence: Vec<String> = items
            .iter()
            .map(|(h, why)| {
                format!(
                    "{} on {} ({}): {why}",
                    privilege_text(h),
                    h.level,
                    p.how(holder)
                )
            })
            .collect();
        let (message, remedy) = match holder {
            Holder::Account => (
                format!(
                    "account {} holds {what}: a superuser in all but name",
                    p.user_name()
                ),
                format!(
                    "{} Give the app its own least-privileged account (see `attache explain priv-superuser`)",
                    revokes(p, items.iter().map(|(h, _)| *h)).join(" ")
                ),
            ),
            Holder::Public => (
                format!(
                    "every account, {} included, holds {what} through PUBLIC",
                    p.user_name()
                ),
                revokes(p, items.iter().map(|(h, _)| *h)).join(" "),
            ),
            Holder::Role(r) => {
                let first = p
                    .roles
                    .iter()
                    .find(|x| &x.role == r)
                    .and_then(|x| x.path.first().cloned())
                    .unwrap_or_else(|| r.to_string());
                (
                    format!(
                        "account {} can SET ROLE to a role holding {what} ({})",
                        p.user_name(),
                        p.how(holder)
                    ),
                    format!(
                        "REVOKE {} FROM {}; a granted role can be set at any time, default or not",
                        role_sql(p, &first),
                        p.user_sql()
                    ),
                )
            }
        };
        out.push(Finding::superuser(resource, message, remedy).with_evidence(evidence));
    }
    for x in &p.proxies {
        if x.proxied.name.is_empty() && x.proxied.host.as_deref() == Some("%") {
            out.push(Finding::superuser(
                resource,
                format!(
                    "account {} holds PROXY on ''@'%' ({}): it can log in as any account",
                    p.user_name(),
                    p.how(&x.holder)
                ),
                format!(
                    "REVOKE PROXY ON {} FROM {};",
                    x.proxied.sql(),
                    p.revoke_from(&x.holder)
                ),
            ));
        }
    }
}

/// A role as a statement names it, from its display name in a path.
fn role_sql(p: &Posture, display: &str) -> String {
    p.roles
        .iter()
        .find(|r| r.role.to_string() == display)
        .map(|r| r.role.sql())
        .unwrap_or_else(|| quote(display))
}

fn role_admin(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let mut evidence = Vec::new();
    let mut remedy = Vec::new();
    for h in &p.held {
        if let Class::RoleAdmin(why) = classify(h) {
            evidence.push(format!(
                "{} on {} ({}): {why}",
                h.privilege,
                h.level,
                p.how(&h.holder)
            ));
            remedy.extend(revokes(p, [h]));
        }
    }
    let mut grantable: BTreeMap<(String, String), (BTreeSet<String>, String, String)> =
        BTreeMap::new();
    for h in p.held.iter().filter(|h| h.grantable) {
        grantable
            .entry((h.level.to_string(), p.how(&h.holder)))
            .or_insert_with(|| (BTreeSet::new(), h.level.sql(), p.revoke_from(&h.holder)))
            .0
            .insert(privilege_text(h));
    }
    for ((level, how), (privs, level_sql, from)) in grantable {
        evidence.push(format!(
            "can grant {} on {level} to others (WITH GRANT OPTION, {how})",
            privs.into_iter().collect::<Vec<_>>().join(", ")
        ));
        remedy.push(format!("REVOKE GRANT OPTION ON {level_sql} FROM {from};"));
    }
    for r in p.roles.iter().filter(|r| r.admin) {
        evidence.push(format!(
            "can grant role {} to others (WITH ADMIN OPTION, through {})",
            r.role,
            r.path.join(" → ")
        ));
        if r.path.len() == 1 {
            remedy.push(format!(
                "REVOKE ADMIN OPTION FOR {} FROM {};",
                r.role.sql(),
                p.user_sql()
            ));
        }
    }
    for x in p.proxies.iter().filter(|x| x.grantable) {
        evidence.push(format!(
            "can grant PROXY on {} to others ({})",
            x.proxied,
            p.how(&x.holder)
        ));
    }
    if !evidence.is_empty() {
        remedy.push("re-grant what the app needs without GRANT OPTION or ADMIN OPTION".into());
        out.push(
            Finding::role_admin(
                resource,
                format!(
                    "account {} can create accounts or hand out privileges",
                    p.user_name()
                ),
                remedy.join(" "),
            )
            .with_evidence(evidence),
        );
    }
}

/// Whether `held` (level, column) lies within a need item's scope, for privilege `privilege`.
fn within_need(p: &Posture, privilege: &str, level: &Level, column: Option<&str>) -> bool {
    p.needs.iter().any(|(i, _)| {
        i.privilege == privilege
            && match (&i.column, column) {
                (None, _) => true,
                (Some(n), Some(c)) => n.eq_ignore_ascii_case(c),
                (Some(_), None) => false,
            }
            && match (&i.level, level) {
                (Level::Global, _) => true,
                (Level::Database(d), Level::Database(pattern)) => {
                    literal_database(pattern).as_deref() == Some(d.as_str())
                }
                (Level::Database(d), Level::Table { database, .. })
                | (Level::Database(d), Level::Routine { database, .. }) => d == database,
                (Level::Table { .. }, Level::Table { .. }) => &i.level == level,
                (
                    Level::Routine {
                        kind: k1,
                        database: d1,
                        name: n1,
                    },
                    Level::Routine {
                        kind: k2,
                        database: d2,
                        name: n2,
                    },
                ) => k1 == k2 && d1 == d2 && n1.eq_ignore_ascii_case(n2),
                _ => false,
            }
    })
}

fn covered(p: &Posture, h: &Held) -> bool {
    if h.privilege == "ALL PRIVILEGES" {
        return h
            .level
            .all_privileges()
            .iter()
            .all(|q| within_need(p, q, &h.level, None));
    }
    within_need(p, &h.privilege, &h.level, h.column.as_deref())
}

fn is_blanket(h: &Held) -> bool {
    match &h.level {
        Level::Global => true,
        _ if reaches_mysql_db(&h.level) => true,
        Level::Database(pattern) => {
            literal_database(pattern).is_none() || !READ_ONLY.contains(&h.privilege.as_str())
        }
        _ => matches!(h.privilege.as_str(), "DROP" | "ALTER" | "ALL PRIVILEGES"),
    }
}

/// The columns the needs name for a table-level grant's privilege, if it names only columns.
fn column_needs(p: &Posture, h: &Held) -> Vec<String> {
    let mut cols: Vec<String> = p
        .needs
        .iter()
        .filter(|(i, _)| i.privilege == h.privilege && i.level == h.level)
        .filter_map(|(i, _)| i.column.clone())
        .collect();
    cols.sort();
    cols.dedup();
    cols
}

fn excess(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let mut excess = Excess::default();
    for h in &p.held {
        if !matches!(classify(h), Class::Ordinary) || covered(p, h) {
            continue;
        }
        let from = p.revoke_from(&h.holder);
        let mut grant = Grant::new(h.level.to_string(), p.how(&h.holder), &h.privilege)
            .column(h.column.as_deref().map(crate::needs::ident))
            .blanket(is_blanket(h))
            .fix(sql::revoke(privilege_sql(h), &h.level.sql(), &from));
        if h.column.is_none() {
            let cols = column_needs(p, h);
            if !cols.is_empty() {
                grant = grant.fix(Fix::statement(format!(
                    "GRANT {} ({}) ON {} TO {from};",
                    h.privilege,
                    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                    h.level.sql(),
                )));
            }
            grant = grant.needing_only(cols);
        }
        excess.grant(grant);
    }
    for x in &p.proxies {
        if !(x.proxied.name.is_empty() && x.proxied.host.as_deref() == Some("%")) {
            excess.power(
                format!(
                    "PROXY on {} ({}): logs in as that account",
                    x.proxied,
                    p.how(&x.holder)
                ),
                [Fix::statement(format!(
                    "REVOKE PROXY ON {} FROM {};",
                    x.proxied.sql(),
                    p.revoke_from(&x.holder)
                ))],
            );
        }
    }
    out.extend(excess.findings(resource, &p.user_name()));
}

/// Whether the account holds each thing the needs ask for, in core's words: what grants a
/// missing one (merged per level into one GRANT), what makes a role's grant count at login,
/// and what could not be checked (counted as missing, never assumed held).
fn need_checks(p: &Posture) -> Vec<NeedCheck> {
    let user = p.user_sql();
    p.needs
        .iter()
        .map(|(item, state)| {
            let privilege =
                sql::with_column(&item.privilege, item.column.as_deref(), crate::needs::ident);
            let level = &item.level;
            let what = format!("{privilege} on {level}");
            let state = match state {
                NeedState::Granted => attache_core::NeedState::Granted,
                NeedState::Missing => attache_core::NeedState::not_granted(
                    &what,
                    Some(sql::grant(
                        sql::with_column(&item.privilege, item.column.as_deref(), quote),
                        &level.sql(),
                        &user,
                    )),
                ),
                NeedState::InactiveRole(r) => attache_core::NeedState::Missing {
                    detail: format!(
                        "{what} is held only through role {r}, which is not active at login (sessions would need SET ROLE {r})"
                    ),
                    fix: Some(Fix::statement(format!(
                        "SET DEFAULT ROLE {} FOR {user};",
                        r.sql()
                    ))),
                },
                NeedState::NoObject => attache_core::NeedState::no_object(
                    &level.to_string(),
                    item.column.as_deref(),
                ),
                NeedState::Unknown(why) => attache_core::NeedState::unchecked(&what, why),
            };
            NeedCheck {
                need: item.from.clone(),
                what,
                implied: false,
                state,
            }
        })
        .collect()
}

/// What only MySQL and MariaDB accounts have, reported beside core's fields.
#[derive(Serialize)]
struct Extension {
    /// The account's `REQUIRE` clause (`SSL`, `X509`, …), if `SHOW GRANTS` shows one.
    require: Option<String>,
    /// The roles active at login.
    active_roles: Vec<String>,
    /// `GRANT PROXY` lines, as `PROXY on <account> (<how>)`.
    proxies: Vec<String>,
    /// MySQL partial revokes, which attache does not subtract.
    partial_revokes_not_subtracted: Vec<String>,
}

/// The account's posture in core's model (no password hash: `SHOW GRANTS` lines are never
/// kept).
pub fn account(p: &Posture) -> Account {
    let mut privileges: Vec<Privilege> = p
        .held
        .iter()
        .map(|h| Privilege {
            privilege: privilege_text(h),
            on: h.level.to_string(),
            via: p.via(&h.holder),
            grantable: h.grantable,
        })
        .collect();
    privileges.sort();
    privileges.dedup();
    Account {
        user: p.user.as_ref().map(ToString::to_string),
        database: p.database.clone(),
        server_version: Some(p.server_version.clone()),
        roles: p
            .roles
            .iter()
            .map(|r| Role {
                name: r.role.to_string(),
                through: r.path.clone(),
                attributes: Vec::new(),
                admin_option: r.admin,
                active: Some(r.active),
            })
            .collect(),
        privileges,
        unknown: p.unknown.clone(),
        needs: need_checks(p),
        ..Account::default()
    }
    .with_extension(&Extension {
        require: p.require.clone(),
        active_roles: p.active_roles.iter().map(ToString::to_string).collect(),
        proxies: p
            .proxies
            .iter()
            .map(|x| format!("PROXY on {} ({})", x.proxied, p.how(&x.holder)))
            .collect(),
        partial_revokes_not_subtracted: p.partial_revokes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{NeedItem, Principal, Proxy, ReachedRole};
    use attache_testkit::unit::{self, Case};

    fn table(t: &str) -> Level {
        Level::Table {
            database: "appdb".into(),
            table: t.into(),
        }
    }

    fn item(privilege: &str, level: Level, col: Option<&str>) -> NeedItem {
        NeedItem {
            privilege: privilege.into(),
            level,
            column: col.map(Into::into),
            from: format!("{privilege} ON x"),
        }
    }

    fn held(privilege: &str, level: Level, col: Option<&str>, holder: Holder) -> Held {
        Held {
            privilege: privilege.into(),
            column: col.map(Into::into),
            level,
            holder,
            grantable: false,
        }
    }

    fn role(name: &str) -> Principal {
        Principal {
            name: name.into(),
            host: None,
        }
    }

    impl Case for Posture {
        type Kind = crate::Mysql;

        fn base() -> Posture {
            Posture {
                user: Some(Principal::from_current_user("app@%")),
                database: Some("appdb".into()),
                needs: vec![
                    (item("INSERT", table("signups"), None), NeedState::Granted),
                    (item("SELECT", table("signups"), None), NeedState::Granted),
                    (
                        item("SELECT", table("users"), Some("email")),
                        NeedState::Granted,
                    ),
                ],
                held: vec![
                    held("INSERT", table("signups"), None, Holder::Account),
                    held("SELECT", table("signups"), None, Holder::Account),
                    held("SELECT", table("users"), Some("email"), Holder::Account),
                ],
                ..Default::default()
            }
        }
    }

    /// The base posture holding one more privilege.
    fn plus(h: Held) -> Posture {
        Posture::with(|p| p.held.push(h))
    }

    fn reached(name: &str, path: &[&str], admin: bool) -> ReachedRole {
        ReachedRole {
            role: role(name),
            path: path.iter().map(|r| (*r).to_owned()).collect(),
            admin,
            active: false,
        }
    }

    fn on_db(privilege: &str, database: &str) -> Held {
        held(
            privilege,
            Level::Database(database.into()),
            None,
            Holder::Account,
        )
    }

    fn global(privilege: &str, holder: Holder) -> Held {
        held(privilege, Level::Global, None, holder)
    }

    attache_testkit::case_tests!(Posture);

    #[test]
    fn wider_grant_covers_narrower_need_but_is_excess() {
        let p = Posture::with(|p| {
            p.held = vec![
                on_db("INSERT", "appdb"),
                held("SELECT", table("signups"), None, Holder::Account),
                held("SELECT", table("users"), None, Holder::Account),
            ]
        });
        let f = p.judged();
        assert_eq!(
            unit::checks(&f),
            [
                (CheckId::PrivExcess, Severity::Medium),
                (CheckId::PrivExcess, Severity::High)
            ]
        );
        unit::assert_lists(
            &f[0].evidence,
            "SELECT on all columns (needs only email) on appdb.users (directly)",
        );
        for statement in [
            "REVOKE SELECT ON `appdb`.`users` FROM 'app'@'%';",
            "GRANT SELECT (`email`) ON `appdb`.`users` TO 'app'@'%';",
        ] {
            unit::assert_has(&f[0].remedy, statement);
        }
        assert_eq!(f[1].evidence, ["INSERT on appdb.* (directly)"]);
    }

    #[test]
    fn excess_names_how_it_is_held() {
        let p = Posture::with(|p| {
            p.roles.push(reached("rw", &["ops", "rw"], false));
            p.held.push(held(
                "DELETE",
                table("signups"),
                None,
                Holder::Role(role("rw")),
            ));
            p.held
                .push(held("UPDATE", table("users"), None, Holder::Public));
            p.held.push(held(
                "SELECT",
                table("users"),
                Some("password_hash"),
                Holder::Account,
            ));
        });
        let f = p.judged();
        let excess = unit::only(&f, CheckId::PrivExcess, Severity::Medium);
        for line in [
            "DELETE on appdb.signups (via role rw (through ops → rw))",
            "UPDATE on appdb.users (via PUBLIC)",
            "SELECT (password_hash) on appdb.users (directly)",
        ] {
            unit::assert_lists(&excess.evidence, line);
        }
        for statement in [
            "REVOKE UPDATE ON `appdb`.`users` FROM PUBLIC;",
            "REVOKE DELETE ON `appdb`.`signups` FROM `rw`;",
            "REVOKE SELECT (`password_hash`) ON `appdb`.`users` FROM 'app'@'%';",
        ] {
            unit::assert_has(&excess.remedy, statement);
        }
    }

    #[test]
    fn superuser_directly_through_roles_and_public() {
        let superuser = [(CheckId::PrivSuperuser, Severity::Critical)];
        assert_eq!(
            plus(global("ALL PRIVILEGES", Holder::Account)).verdict(),
            superuser
        );

        let p = Posture::with(|p| {
            p.held.push(global("FILE", Holder::Account));
            p.held.push(global("SUPER", Holder::Account));
        });
        let f = p.judged();
        let found = unit::only(&f, CheckId::PrivSuperuser, Severity::Critical);
        unit::assert_has(&found.message, "FILE on *.*, SUPER on *.*");
        assert!(
            found
                .remedy
                .starts_with("REVOKE FILE, SUPER ON *.* FROM 'app'@'%';"),
            "{}",
            found.remedy
        );

        let p = Posture::with(|p| {
            p.roles.push(reached("r2", &["r1", "r2"], false));
            p.roles.push(reached("r1", &["r1"], false));
            p.held.push(global("FILE", Holder::Role(role("r2"))));
        });
        let f = p.judged();
        let found = unit::first(&f, CheckId::PrivSuperuser, Severity::Critical);
        unit::assert_has(&found.message, "SET ROLE");
        unit::assert_has(&found.message, "through r1 → r2");
        assert!(
            found.remedy.starts_with("REVOKE `r1` FROM 'app'@'%';"),
            "{}",
            found.remedy
        );

        for h in [
            on_db("UPDATE", "mysql"),
            on_db("INSERT", "%"),
            global("SYSTEM_VARIABLES_ADMIN", Holder::Public),
            global("PROCESS", Holder::Account),
        ] {
            assert_eq!(plus(h.clone()).verdict(), superuser, "{h:?}");
        }
        let p = Posture::with(|p| {
            p.proxies.push(Proxy {
                proxied: Principal {
                    name: String::new(),
                    host: Some("%".into()),
                },
                holder: Holder::Account,
                grantable: false,
            })
        });
        assert_eq!(p.verdict(), superuser);
    }

    #[test]
    fn role_admin() {
        let role_admin = [(CheckId::PrivRoleAdmin, Severity::High)];
        assert_eq!(
            plus(global("CREATE USER", Holder::Account)).verdict(),
            role_admin
        );
        let f = Posture::with(|p| p.held[0].grantable = true).judged();
        assert_eq!(unit::checks(&f), role_admin);
        unit::assert_has(
            &f[0].remedy,
            "REVOKE GRANT OPTION ON `appdb`.`signups` FROM 'app'@'%';",
        );
        let f = Posture::with(|p| p.roles.push(reached("r1", &["r1"], true))).judged();
        let found = unit::first(&f, CheckId::PrivRoleAdmin, Severity::High);
        unit::assert_has(
            &found.remedy,
            "REVOKE ADMIN OPTION FOR `r1` FROM 'app'@'%';",
        );
    }

    #[test]
    fn blanket_and_destructive_are_high() {
        let mysql_user = Level::Table {
            database: "mysql".into(),
            table: "user".into(),
        };
        for h in [
            global("SELECT", Holder::Account),
            on_db("DROP", "appdb"),
            on_db("SELECT", "app%"),
            held("DROP", table("users"), None, Holder::Account),
            held("SELECT", mysql_user, None, Holder::Account),
        ] {
            assert_eq!(
                plus(h.clone()).verdict(),
                [(CheckId::PrivExcess, Severity::High)],
                "{h:?}"
            );
        }
        for h in [
            on_db("SELECT", "appdb"),
            held("DELETE", table("users"), None, Holder::Account),
        ] {
            assert_eq!(
                plus(h.clone()).verdict(),
                [(CheckId::PrivExcess, Severity::Medium)],
                "{h:?}"
            );
        }
    }

    #[test]
    fn missing_lists_what_fixes_it() {
        // Not granted (and not held): the GRANT; granted to a role not active at login: the
        // default role; an object that does not exist: nothing to grant.
        for (need, state, remedy, evidence) in [
            (
                0,
                NeedState::Missing,
                "GRANT INSERT ON `appdb`.`signups` TO 'app'@'%';",
                "INSERT on appdb.signups is not granted",
            ),
            (
                0,
                NeedState::InactiveRole(role("writer")),
                "SET DEFAULT ROLE `writer` FOR 'app'@'%';",
                "INSERT on appdb.signups",
            ),
            (
                2,
                NeedState::NoObject,
                "create the object (run the app's migrations), check the database the binding names, or fix the need in attache.toml",
                "has no column email",
            ),
        ] {
            let f = Posture::with(|p| {
                if state == NeedState::Missing {
                    p.held.remove(need);
                }
                p.needs[need].1 = state.clone();
            })
            .judged();
            let missing = unit::first(&f, CheckId::PrivMissing, Severity::High);
            assert_eq!(missing.remedy, remedy);
            unit::assert_has(&missing.evidence.join("\n"), evidence);
        }
    }

    #[test]
    fn anonymous_account_and_unknown() {
        let p = Posture::with(|p| p.user = Some(Principal::from_current_user("@%")));
        assert!(
            p.verdict()
                .contains(&(CheckId::CredEmpty, Severity::Critical))
        );
        let p = Posture::with(|p| p.unknown.push("the privileges of role r1: denied".into()));
        assert_eq!(p.verdict(), [(CheckId::PrivUnknown, Severity::Medium)]);
    }

    #[test]
    fn account_json_lists_how_each_privilege_is_held() {
        let p = Posture::with(|p| p.held[0].grantable = true);
        let j = serde_json::to_value(account(&p)).unwrap();
        assert_eq!(j["user"], "app@%");
        let privs: Vec<&str> = j["privileges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            privs.contains(&"INSERT on appdb.signups (directly, WITH GRANT OPTION)"),
            "{privs:?}"
        );
    }
}
