//! Judging a posture against the needs: `priv-superuser`, `priv-role-admin`, `priv-excess`,
//! `priv-missing`, `priv-unknown`. Pure functions over what [`inspect`](crate::inspect) read,
//! so every rule is unit-tested without a server.

use std::collections::BTreeSet;

use attache_core::sql;
use attache_core::{Account, Excess, Finding, Fix, Grant, NeedCheck, Privilege, Role, Via};

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
        out.push(Finding::superuser(
            resource,
            format!("account {} is a superuser", p.user),
            remedy_self,
        ));
    }
    for r in &p.roles {
        let path = r.path.join(" → ");
        if r.attributes.superuser {
            out.push(
                Finding::superuser(
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
            out.push(Finding::superuser(resource,
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
            Finding::role_admin(resource,
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

    let mut excess = Excess::default();
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
        let covered = needed.contains(&table_key)
            || h.column.as_ref().is_some_and(|c| {
                needed.contains(&(
                    h.kind,
                    h.schema.clone(),
                    h.name.clone(),
                    Some(c.clone()),
                    h.privilege.clone(),
                ))
            });
        if covered {
            continue;
        }
        let obj = object(h.kind, &h.schema, &h.name);
        let grant = Grant::new(&obj, how(p, &h.grantee), &h.privilege)
            .fix(sql::revoke(&h.privilege, &obj, &revoke_from(p, &h.grantee)))
            .column(h.column.as_deref().map(crate::needs::ident));
        excess.grant(match h.column {
            Some(_) => grant,
            None => grant.needing_only(column_needs(h)),
        });
    }

    // Blanket and destructive powers: ownership, predefined data roles, role attributes.
    for o in &p.owned {
        let holder = if o.owner == p.user {
            "directly".to_owned()
        } else {
            how(p, &o.owner)
        };
        excess.power(
            format!(
                "owns {} ({holder}): can ALTER, DROP and GRANT on it",
                object(o.kind, &o.schema, &o.name)
            ),
            [Fix::statement(format!(
                "ALTER {} {} OWNER TO <a migration role>;",
                o.kind.keyword(),
                qualified(&o.schema, &o.name)
            ))],
        );
    }
    for r in &p.roles {
        let revoke = || {
            Fix::statement(format!(
                "REVOKE {} FROM {};",
                crate::needs::ident(&r.path[0]),
                crate::needs::ident(&p.user)
            ))
        };
        if BLANKET_DATA.contains(&r.name.as_str()) {
            excess.power(
                format!(
                    "member of {} (through {}): every table in every schema",
                    r.name,
                    r.path.join(" → ")
                ),
                [revoke()],
            );
        } else if r.name.starts_with("pg_")
            && r.name != "pg_database_owner"
            && !SUPERUSER_EQUIVALENT.contains(&r.name.as_str())
        {
            excess.power(
                format!(
                    "member of predefined role {} (through {})",
                    r.name,
                    r.path.join(" → ")
                ),
                [revoke()],
            );
        }
    }
    let mut attrs = |holder: String, a: &crate::inspect::Attributes| {
        for name in a.names() {
            if matches!(name, "CREATEDB" | "REPLICATION" | "BYPASSRLS") {
                excess.power(
                    format!("{holder} has {name}"),
                    [Fix::statement(
                        "ALTER ROLE … NOCREATEDB NOREPLICATION NOBYPASSRLS;",
                    )],
                );
            }
        }
    };
    attrs(format!("account {}", p.user), &p.attributes);
    for r in &p.roles {
        attrs(
            format!("role {} (through {})", r.name, r.path.join(" → ")),
            &r.attributes,
        );
    }
    out.extend(excess.findings(resource, &p.user));
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
                    Some(sql::grant(privilege, &obj, &user)),
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
    use attache_core::{CheckId, Severity};
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

    attache_testkit::case_tests!(Posture);

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
