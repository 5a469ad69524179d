//! Judging a posture against the needs: `priv-superuser`, `priv-role-admin`, `priv-excess`,
//! `priv-missing`, `priv-unknown`. Pure functions over what [`inspect`](crate::inspect) read,
//! so every rule is unit-tested without a server.

use std::collections::{BTreeMap, BTreeSet};

use attache_core::sql;
use attache_core::{Account, CheckId, Finding, Fix, NeedCheck, Privilege, Role, Severity, Via};

use crate::inspect::{Held, NeedState, Posture};
use crate::needs::{ObjectType, qualified};

/// Predefined roles that are superuser in all but name: they run programs or read and write
/// files on the server as the server's OS user.
pub const SUPERUSER_EQUIVALENT: &[&str] = &[
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// Predefined roles that grant blanket data access.
pub const BLANKET_DATA: &[&str] = &["pg_write_all_data", "pg_read_all_data"];

fn object(kind: ObjectType, schema: &str, name: &str) -> String {
    format!("{} {}", kind.keyword(), qualified(schema, name))
}

/// How the account holds something granted to `grantee`.
fn via(p: &Posture, grantee: &str) -> Via {
    if grantee == p.user {
        return Via::Directly;
    }
    if grantee == "PUBLIC" {
        return Via::Public;
    }
    Via::Role {
        name: grantee.to_owned(),
        through: p
            .roles
            .iter()
            .find(|r| r.name == grantee)
            .map(|r| r.path.clone())
            .unwrap_or_default(),
    }
}

/// [`via`], as reports write it (`via role app_rw (through ops → app_rw)`).
fn how(p: &Posture, grantee: &str) -> String {
    via(p, grantee).to_string()
}

fn revoke_from(p: &Posture, grantee: &str) -> String {
    if grantee == "PUBLIC" {
        "PUBLIC".into()
    } else if grantee == p.user {
        crate::needs::ident(&p.user)
    } else {
        crate::needs::ident(grantee)
    }
}

/// The findings only this kind makes of a posture are superuser, role admin and excess;
/// missing and unknown needs are core's, from [`account`]'s need checks.
impl attache_core::Posture for Posture {
    fn judge(&self, resource: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for rule in [superuser, role_admin, excess] {
            rule(resource, self, &mut out);
        }
        out
    }
    fn account(&self) -> Account {
        account(self)
    }
}

fn superuser(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let remedy_self = format!(
        "ALTER ROLE {} NOSUPERUSER; give the app its own least-privileged account (see `attache explain priv-superuser`)",
        crate::needs::ident(&p.user)
    );
    if p.attributes.superuser {
        out.push(Finding::new(
            CheckId::PrivSuperuser,
            Severity::Critical,
            resource,
            format!("account {} is a superuser", p.user),
            remedy_self,
        ));
    }
    for r in &p.roles {
        let path = r.path.join(" → ");
        if r.attributes.superuser {
            out.push(
                Finding::new(
                    CheckId::PrivSuperuser,
                    Severity::Critical,
                    resource,
                    format!(
                        "account {} can SET ROLE to superuser role {} (member through {path})",
                        p.user, r.name
                    ),
                    format!(
                        "REVOKE {} FROM {}; membership allows SET ROLE even under NOINHERIT",
                        crate::needs::ident(&r.path[0]),
                        crate::needs::ident(&p.user)
                    ),
                )
                .with_evidence([format!("membership path: {} → {path}", p.user)]),
            );
        }
        if SUPERUSER_EQUIVALENT.contains(&r.name.as_str()) {
            out.push(Finding::new(
                CheckId::PrivSuperuser,
                Severity::Critical,
                resource,
                format!("account {} is a member of {} (through {path}), which is superuser-equivalent: it runs programs or reads/writes files as the server", p.user, r.name),
                format!("REVOKE {} FROM {}", crate::needs::ident(&r.path[0]), crate::needs::ident(&p.user)),
            ));
        }
    }
}

fn role_admin(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let mut evidence = Vec::new();
    if p.attributes.createrole {
        evidence.push(format!("{} has CREATEROLE", p.user));
    }
    for r in &p.roles {
        if r.attributes.createrole {
            evidence.push(format!(
                "role {} (through {}) has CREATEROLE",
                r.name,
                r.path.join(" → ")
            ));
        }
        if r.admin {
            evidence.push(format!(
                "can grant membership in {} to others (ADMIN OPTION, through {})",
                r.name,
                r.path.join(" → ")
            ));
        }
    }
    let grantable: BTreeSet<String> = p
        .held
        .iter()
        .filter(|h| h.grantable && !h.grantee_is_owner)
        .map(|h| {
            format!(
                "can grant {} on {} to others (WITH GRANT OPTION, {})",
                h.privilege,
                object(h.kind, &h.schema, &h.name),
                how(p, &h.grantee)
            )
        })
        .collect();
    evidence.extend(grantable);
    if !evidence.is_empty() {
        out.push(
            Finding::new(
                CheckId::PrivRoleAdmin,
                Severity::High,
                resource,
                format!("account {} can create roles or hand out privileges", p.user),
                "ALTER ROLE … NOCREATEROLE; re-grant memberships without ADMIN OPTION and privileges without GRANT OPTION",
            )
            .with_evidence(evidence),
        );
    }
}

type Key = (ObjectType, String, String, Option<String>, String);

fn excess(resource: &str, p: &Posture, out: &mut Vec<Finding>) {
    let needed: BTreeSet<Key> = p
        .needs
        .iter()
        .map(|(i, _)| {
            (
                i.kind,
                i.schema.clone(),
                i.name.clone(),
                i.column.clone(),
                i.privilege.clone(),
            )
        })
        .collect();
    let column_needs = |h: &Held| -> Vec<String> {
        needed
            .iter()
            .filter(|(k, s, n, c, pr)| {
                *k == h.kind && *s == h.schema && *n == h.name && c.is_some() && *pr == h.privilege
            })
            .filter_map(|(_, _, _, c, _)| c.clone())
            .collect()
    };
    let owned: BTreeSet<(ObjectType, &str, &str)> = p
        .owned
        .iter()
        .map(|o| (o.kind, o.schema.as_str(), o.name.as_str()))
        .collect();

    // Ordinary grants beyond the needs, grouped by object and how they are held.
    let mut groups: BTreeMap<(String, String), (BTreeSet<String>, String, String)> =
        BTreeMap::new();
    for h in &p.held {
        if h.grantee_is_owner && owned.contains(&(h.kind, h.schema.as_str(), h.name.as_str())) {
            continue; // reported once, as ownership
        }
        let table_key = (
            h.kind,
            h.schema.clone(),
            h.name.clone(),
            None,
            h.privilege.clone(),
        );
        let covered = match &h.column {
            None => needed.contains(&table_key),
            Some(c) => {
                needed.contains(&table_key)
                    || needed.contains(&(
                        h.kind,
                        h.schema.clone(),
                        h.name.clone(),
                        Some(c.clone()),
                        h.privilege.clone(),
                    ))
            }
        };
        if covered {
            continue;
        }
        if h.column.is_some()
            && p.held.iter().any(|t| {
                t.column.is_none()
                    && t.kind == h.kind
                    && t.schema == h.schema
                    && t.name == h.name
                    && t.privilege == h.privilege
                    && t.grantee == h.grantee
            })
        {
            continue; // the table-level grant says it already
        }
        let obj = object(h.kind, &h.schema, &h.name);
        let privilege = match &h.column {
            Some(c) => format!("{} ({})", h.privilege, crate::needs::ident(c)),
            None => {
                let cols = column_needs(h);
                if cols.is_empty() {
                    h.privilege.clone()
                } else {
                    format!(
                        "{} on all columns (needs only {})",
                        h.privilege,
                        cols.join(", ")
                    )
                }
            }
        };
        let entry = groups
            .entry((obj.clone(), how(p, &h.grantee)))
            .or_insert_with(|| (BTreeSet::new(), obj.clone(), revoke_from(p, &h.grantee)));
        entry.0.insert(privilege);
    }
    if !groups.is_empty() {
        let evidence: Vec<String> = groups
            .iter()
            .map(|((obj, how), (privs, _, _))| {
                format!(
                    "{} on {obj} ({how})",
                    privs.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let remedy: Vec<String> = groups
            .values()
            .map(|(privs, obj, from)| {
                let names: BTreeSet<&str> = privs
                    .iter()
                    .map(|p| p.split(' ').next().unwrap_or(p))
                    .collect();
                format!(
                    "REVOKE {} ON {obj} FROM {from};",
                    names.into_iter().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        out.push(
            Finding::new(
                CheckId::PrivExcess,
                Severity::Medium,
                resource,
                format!(
                    "account {} holds {} grant(s) beyond the manifest's needs",
                    p.user,
                    evidence.len()
                ),
                remedy.join(" "),
            )
            .with_evidence(evidence),
        );
    }

    // Blanket and destructive powers: ownership, predefined data roles, role attributes.
    let mut blanket = Vec::new();
    let mut remedy = Vec::new();
    for o in &p.owned {
        let holder = if o.owner == p.user {
            "directly".to_owned()
        } else {
            how(p, &o.owner)
        };
        blanket.push(format!(
            "owns {} ({holder}): can ALTER, DROP and GRANT on it",
            object(o.kind, &o.schema, &o.name)
        ));
        remedy.push(format!(
            "ALTER {} {} OWNER TO <a migration role>;",
            o.kind.keyword(),
            qualified(&o.schema, &o.name)
        ));
    }
    for r in &p.roles {
        if BLANKET_DATA.contains(&r.name.as_str()) {
            blanket.push(format!(
                "member of {} (through {}): every table in every schema",
                r.name,
                r.path.join(" → ")
            ));
            remedy.push(format!(
                "REVOKE {} FROM {};",
                crate::needs::ident(&r.path[0]),
                crate::needs::ident(&p.user)
            ));
        } else if r.name.starts_with("pg_")
            && r.name != "pg_database_owner"
            && !SUPERUSER_EQUIVALENT.contains(&r.name.as_str())
        {
            blanket.push(format!(
                "member of predefined role {} (through {})",
                r.name,
                r.path.join(" → ")
            ));
            remedy.push(format!(
                "REVOKE {} FROM {};",
                crate::needs::ident(&r.path[0]),
                crate::needs::ident(&p.user)
            ));
        }
    }
    let attrs = |holder: String, a: &crate::inspect::Attributes, blanket: &mut Vec<String>| {
        for name in a.names() {
            if matches!(name, "CREATEDB" | "REPLICATION" | "BYPASSRLS") {
                blanket.push(format!("{holder} has {name}"));
            }
        }
    };
    attrs(format!("account {}", p.user), &p.attributes, &mut blanket);
    for r in &p.roles {
        attrs(
            format!("role {} (through {})", r.name, r.path.join(" → ")),
            &r.attributes,
            &mut blanket,
        );
    }
    if !blanket.is_empty() {
        if blanket.iter().any(|b| b.contains(" has ")) {
            remedy.push("ALTER ROLE … NOCREATEDB NOREPLICATION NOBYPASSRLS;".into());
        }
        out.push(
            Finding::new(
                CheckId::PrivExcess,
                Severity::High,
                resource,
                format!(
                    "account {} holds blanket or destructive powers beyond the manifest's needs",
                    p.user
                ),
                remedy.join(" "),
            )
            .with_evidence(blanket),
        );
    }
}

/// Whether the account holds each thing the needs ask for, in core's words: what grants a
/// missing one, and what could not be checked (counted as missing, never assumed held).
fn need_checks(p: &Posture) -> Vec<NeedCheck> {
    let user = crate::needs::ident(&p.user);
    p.needs
        .iter()
        .map(|(item, state)| {
            let obj = object(item.kind, &item.schema, &item.name);
            let privilege =
                sql::with_column(&item.privilege, item.column.as_deref(), crate::needs::ident);
            let what = format!("{privilege} on {obj}");
            let state = match state {
                NeedState::Granted => attache_core::NeedState::Granted,
                NeedState::Missing => attache_core::NeedState::not_granted(
                    &what,
                    Some(Fix::new(
                        "GRANT ",
                        privilege,
                        ", ",
                        format!(" ON {obj} TO {user};"),
                    )),
                ),
                NeedState::NoObject => {
                    attache_core::NeedState::no_object(&obj, item.column.as_deref())
                }
                NeedState::Unknown(why) => attache_core::NeedState::unchecked(&what, why),
            };
            NeedCheck {
                need: item.from.clone(),
                what,
                implied: item.implied,
                state,
            }
        })
        .collect()
}

/// The account's posture in core's model.
pub fn account(p: &Posture) -> Account {
    let mut privileges: Vec<Privilege> = p
        .held
        .iter()
        .filter(|h| !h.grantee_is_owner)
        .map(|h| Privilege {
            privilege: match &h.column {
                Some(c) => format!("{} ({c})", h.privilege),
                None => h.privilege.clone(),
            },
            on: object(h.kind, &h.schema, &h.name),
            via: via(p, &h.grantee),
            grantable: h.grantable,
        })
        .collect();
    privileges.sort();
    privileges.dedup();
    Account {
        user: Some(p.user.clone()),
        database: Some(p.database.clone()),
        server_version: Some(p.server_version.clone()),
        attributes: p.attributes.names().into_iter().map(Into::into).collect(),
        roles: p
            .roles
            .iter()
            .map(|r| Role {
                name: r.name.clone(),
                through: r.path.clone(),
                attributes: r.attributes.names().into_iter().map(Into::into).collect(),
                admin_option: r.admin,
                active: None,
            })
            .collect(),
        privileges,
        owns: p
            .owned
            .iter()
            .map(|o| object(o.kind, &o.schema, &o.name))
            .collect(),
        unknown: p.unknown.clone(),
        needs: need_checks(p),
        ..Account::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{Attributes, NeedItem, Owned, ReachedRole};
    use attache_testkit::unit::{self, Case};

    fn item(
        kind: ObjectType,
        schema: &str,
        name: &str,
        col: Option<&str>,
        privilege: &str,
    ) -> NeedItem {
        NeedItem {
            kind,
            schema: schema.into(),
            name: name.into(),
            column: col.map(Into::into),
            privilege: privilege.into(),
            from: format!("{privilege} ON {name}"),
            implied: false,
        }
    }

    fn held(
        kind: ObjectType,
        name: &str,
        col: Option<&str>,
        privilege: &str,
        grantee: &str,
    ) -> Held {
        Held {
            kind,
            schema: "public".into(),
            name: name.into(),
            column: col.map(Into::into),
            privilege: privilege.into(),
            grantee: grantee.into(),
            grantable: false,
            grantee_is_owner: false,
        }
    }

    impl Case for Posture {
        type Kind = crate::Postgres;

        fn base() -> Posture {
            Posture {
                user: "app".into(),
                database: "appdb".into(),
                needs: vec![
                    (
                        item(ObjectType::Table, "public", "signups", None, "INSERT"),
                        NeedState::Granted,
                    ),
                    (
                        item(
                            ObjectType::Table,
                            "public",
                            "users",
                            Some("email"),
                            "SELECT",
                        ),
                        NeedState::Granted,
                    ),
                ],
                held: vec![
                    held(ObjectType::Table, "signups", None, "INSERT", "app"),
                    held(ObjectType::Table, "users", Some("email"), "SELECT", "app"),
                ],
                ..Default::default()
            }
        }
    }

    fn member_of(name: &str, path: &[&str], attributes: Attributes) -> ReachedRole {
        ReachedRole {
            name: name.into(),
            path: path.iter().map(|r| (*r).to_owned()).collect(),
            attributes,
            admin: false,
        }
    }

    #[test]
    fn exactly_the_needs_is_clean() {
        assert!(Posture::base().judged().is_empty());
    }

    #[test]
    fn excess_names_how_it_is_held() {
        let f = Posture::with(|p| {
            p.held
                .push(held(ObjectType::Table, "signups", None, "DELETE", "app_rw"));
            p.roles
                .push(member_of("app_rw", &["app_rw"], Attributes::default()));
            p.held
                .push(held(ObjectType::Table, "users", None, "SELECT", "PUBLIC"));
        })
        .judged();
        let excess = unit::only(&f, CheckId::PrivExcess, Severity::Medium);
        for line in [
            "DELETE on TABLE public.signups (via role app_rw)",
            "SELECT on all columns (needs only email) on TABLE public.users (via PUBLIC)",
        ] {
            unit::assert_lists(&excess.evidence, line);
        }
        unit::assert_has(
            &excess.remedy,
            "REVOKE SELECT ON TABLE public.users FROM PUBLIC;",
        );
    }

    #[test]
    fn superuser_directly_through_roles_and_equivalents() {
        let superuser = Attributes {
            superuser: true,
            ..Default::default()
        };
        let p = Posture::with(|p| p.attributes = superuser.clone());
        unit::first(&p.judged(), CheckId::PrivSuperuser, Severity::Critical);
        let p = Posture::with(|p| {
            p.roles
                .push(member_of("admins", &["ops", "admins"], superuser))
        });
        let f = p.judged();
        unit::assert_has(
            &unit::first(&f, CheckId::PrivSuperuser, Severity::Critical).message,
            "ops → admins",
        );
        let program = "pg_execute_server_program";
        let p = Posture::with(|p| {
            p.roles
                .push(member_of(program, &[program], Attributes::default()))
        });
        unit::first(&p.judged(), CheckId::PrivSuperuser, Severity::Critical);
    }

    #[test]
    fn blanket_powers_are_high_excess() {
        let write_all = "pg_write_all_data";
        let p = Posture::with(|p| {
            p.roles
                .push(member_of(write_all, &[write_all], Attributes::default()))
        });
        assert_eq!(p.verdict(), [(CheckId::PrivExcess, Severity::High)]);
        let p = Posture::with(|p| {
            p.owned.push(Owned {
                kind: ObjectType::Table,
                schema: "public".into(),
                name: "signups".into(),
                owner: "app".into(),
            });
            let mut h = held(ObjectType::Table, "signups", None, "DELETE", "app");
            h.grantee_is_owner = true;
            p.held.push(h);
        });
        let f = p.judged();
        let owner = unit::only(&f, CheckId::PrivExcess, Severity::High);
        assert!(owner.evidence[0].starts_with("owns TABLE public.signups"));
        let p = Posture::with(|p| p.attributes.bypassrls = true);
        assert_eq!(p.verdict(), [(CheckId::PrivExcess, Severity::High)]);
    }

    #[test]
    fn role_admin() {
        for p in [
            Posture::with(|p| p.attributes.createrole = true),
            Posture::with(|p| p.held[0].grantable = true),
        ] {
            assert_eq!(p.verdict(), [(CheckId::PrivRoleAdmin, Severity::High)]);
        }
    }

    #[test]
    fn missing_lists_grants_to_run() {
        let p = Posture::with(|p| {
            p.needs[0].1 = NeedState::Missing;
            p.held.remove(0);
        });
        let f = p.judged();
        let missing = unit::only(&f, CheckId::PrivMissing, Severity::High);
        assert_eq!(
            missing.remedy,
            "GRANT INSERT ON TABLE public.signups TO app;"
        );
        let p = Posture::with(|p| p.needs[1].1 = NeedState::NoObject);
        unit::assert_has(&p.judged()[0].evidence[0], "has no column email");
    }

    #[test]
    fn unknown_is_said() {
        let p = Posture::with(|p| {
            p.unknown
                .push("the roles the account is a member of: permission denied".into())
        });
        assert_eq!(p.verdict(), [(CheckId::PrivUnknown, Severity::Medium)]);
    }
}
