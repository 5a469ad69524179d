//! Reading the account's privileges through the account itself: read-only catalog queries,
//! no admin rights, no side effects.
//!
//! What it reads: the account's role attributes; every role it reaches by membership,
//! recursively (membership allows `SET ROLE` even under NOINHERIT, so all of them count); every
//! ACL entry on tables, columns, sequences, schemas, functions and the bound database that
//! names the account, a reached role or PUBLIC (defaults included, via `acldefault`); what it
//! owns; and, for each need, whether the account as it connects holds it (`has_*_privilege`).
//! A query the server denies is recorded as unknown, never guessed.

use serde::Serialize;
use tokio_postgres::Client;

use crate::needs::{Need, ObjectType, Target};

/// Role attributes that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attributes {
    /// SUPERUSER.
    pub superuser: bool,
    /// CREATEROLE.
    pub createrole: bool,
    /// CREATEDB.
    pub createdb: bool,
    /// REPLICATION.
    pub replication: bool,
    /// BYPASSRLS.
    pub bypassrls: bool,
}

impl Attributes {
    /// The attributes that are set, by name.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.superuser, "SUPERUSER"),
            (self.createrole, "CREATEROLE"),
            (self.createdb, "CREATEDB"),
            (self.replication, "REPLICATION"),
            (self.bypassrls, "BYPASSRLS"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// A role the account reaches through membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachedRole {
    /// The role.
    pub name: String,
    /// The chain of memberships from the account to it (last is the role itself).
    pub path: Vec<String>,
    /// Its attributes.
    pub attributes: Attributes,
    /// Whether the membership carries ADMIN OPTION (it can be granted onwards).
    pub admin: bool,
}

/// One ACL entry the account benefits from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Object type.
    pub kind: ObjectType,
    /// Schema (empty for schemas and databases).
    pub schema: String,
    /// Object name.
    pub name: String,
    /// Column, for column-level grants.
    pub column: Option<String>,
    /// Privilege (`SELECT`, …).
    pub privilege: String,
    /// Who holds it: the account, a reached role, or `PUBLIC`.
    pub grantee: String,
    /// WITH GRANT OPTION.
    pub grantable: bool,
    /// The grantee owns the object (owner's implicit privileges).
    pub grantee_is_owner: bool,
}

/// An object owned by the account or a role it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// Object type.
    pub kind: ObjectType,
    /// Schema (empty for schemas and databases).
    pub schema: String,
    /// Object name.
    pub name: String,
    /// The owning role.
    pub owner: String,
}

/// One concrete privilege a need asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeedItem {
    /// Object type.
    pub kind: ObjectType,
    /// Schema.
    pub schema: String,
    /// Object name.
    pub name: String,
    /// Column, for column-level needs.
    pub column: Option<String>,
    /// Privilege.
    pub privilege: String,
    /// The need as written (or why it is implied).
    pub from: String,
    /// Implied rather than written (CONNECT on the database, USAGE on schemas).
    pub implied: bool,
}

/// Whether the account holds a need item as it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedState {
    /// Granted.
    Granted,
    /// Not granted.
    Missing,
    /// The object does not exist (or the account cannot see it).
    NoObject,
    /// The check failed; the text says why.
    Unknown(String),
}

/// Everything read about the account.
#[derive(Debug, Clone, Default)]
pub struct Posture {
    /// `current_user`.
    pub user: String,
    /// `current_database()`.
    pub database: String,
    /// `server_version`.
    pub server_version: String,
    /// The account's own attributes.
    pub attributes: Attributes,
    /// Roles reached by membership.
    pub roles: Vec<ReachedRole>,
    /// ACL entries benefiting the account.
    pub held: Vec<Held>,
    /// Objects owned by the account or a reached role.
    pub owned: Vec<Owned>,
    /// Each need item and whether it is held.
    pub needs: Vec<(NeedItem, NeedState)>,
    /// What could not be read, and why.
    pub unknown: Vec<String>,
}

/// Application schemas only: not the catalogs, not TOAST, not other sessions' temp schemas.
fn schema_filter(alias: &str) -> String {
    format!("{alias}.nspname <> 'information_schema' AND {alias}.nspname NOT LIKE 'pg\\_%'")
}

const REACH: &str = "
WITH RECURSIVE reach(oid) AS (
    SELECT oid FROM pg_roles WHERE rolname = current_user
  UNION
    SELECT m.roleid FROM pg_auth_members m JOIN reach r ON m.member = r.oid
),
me AS (
    SELECT oid FROM reach
  UNION
    SELECT r.oid FROM pg_roles r, pg_database d
     WHERE r.rolname = 'pg_database_owner' AND d.datname = current_database()
       AND d.datdba IN (SELECT oid FROM reach)
  UNION
    SELECT 0::oid
)";

fn held_sql() -> String {
    let f = schema_filter("n");
    format!(
        "{REACH},
acl(kind, schema, name, col, priv, grantee, grantable, owner) AS (
  SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, n.nspname::text, c.relname::text, NULL::text,
         a.privilege_type::text, a.grantee, a.is_grantable, c.relowner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
         LATERAL aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's'::\"char\" ELSE 'r'::\"char\" END, c.relowner))) a
   WHERE c.relkind IN ('r','p','v','m','f','S') AND {f}
  UNION ALL
  SELECT 'column', n.nspname::text, c.relname::text, att.attname::text, a.privilege_type::text, a.grantee, a.is_grantable, c.relowner
    FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
         LATERAL aclexplode(att.attacl) a
   WHERE att.attacl IS NOT NULL AND att.attnum > 0 AND NOT att.attisdropped AND {f}
  UNION ALL
  SELECT 'schema', '', n.nspname::text, NULL, a.privilege_type::text, a.grantee, a.is_grantable, n.nspowner
    FROM pg_namespace n, LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
   WHERE {f}
  UNION ALL
  SELECT 'database', '', d.datname::text, NULL, a.privilege_type::text, a.grantee, a.is_grantable, d.datdba
    FROM pg_database d, LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
   WHERE d.datname = current_database()
  UNION ALL
  SELECT 'function', n.nspname::text, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL,
         a.privilege_type::text, a.grantee, a.is_grantable, p.proowner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
         LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
   WHERE {f} AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                               WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
)
SELECT kind, schema, name, col, priv,
       CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(grantee)::text END,
       grantable, grantee = owner
  FROM acl WHERE grantee IN (SELECT oid FROM me)
 ORDER BY 1, 2, 3, 4, 5, 6"
    )
}

fn owned_sql() -> String {
    let f = schema_filter("n");
    format!(
        "{REACH}
SELECT kind, schema, name, pg_get_userbyid(o)::text FROM (
  SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END AS kind, n.nspname::text AS schema, c.relname::text AS name, c.relowner AS o
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r','p','v','m','f','S') AND {f}
  UNION ALL
  SELECT 'schema', '', n.nspname::text, n.nspowner FROM pg_namespace n WHERE {f}
  UNION ALL
  SELECT 'database', '', d.datname::text, d.datdba FROM pg_database d WHERE d.datname = current_database()
  UNION ALL
  SELECT 'function', n.nspname::text, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.proowner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE {f} AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                              WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
) x WHERE o IN (SELECT oid FROM me WHERE oid <> 0)
ORDER BY 1, 2, 3"
    )
}

const IDENTITY_SQL: &str = "
SELECT current_user::text, current_database()::text, current_setting('server_version'),
       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls
  FROM pg_roles r WHERE r.rolname = current_user";

const ROLES_SQL: &str = "
WITH RECURSIVE reach(oid, path, admin) AS (
    SELECT m.roleid, ARRAY[m.roleid], m.admin_option
      FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user
  UNION ALL
    SELECT m.roleid, r.path || m.roleid, m.admin_option
      FROM pg_auth_members m JOIN reach r ON m.member = r.oid
     WHERE m.roleid <> ALL(r.path) AND cardinality(r.path) < 16
)
SELECT g.rolname::text, g.rolsuper, g.rolcreaterole, g.rolcreatedb, g.rolreplication, g.rolbypassrls, r.admin,
       ARRAY(SELECT pg_get_userbyid(x)::text FROM unnest(r.path) WITH ORDINALITY AS u(x, i) ORDER BY i)
  FROM reach r JOIN pg_roles g ON g.oid = r.oid
 ORDER BY g.rolname, cardinality(r.path)";

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Reads the posture. Never fails: what cannot be read lands in [`Posture::unknown`].
pub async fn inspect(client: &Client, needs: &[Need]) -> Posture {
    let mut p = Posture::default();
    match client.query_one(IDENTITY_SQL, &[]).await {
        Ok(row) => {
            p.user = row.get(0);
            p.database = row.get(1);
            p.server_version = row.get(2);
            p.attributes = Attributes {
                superuser: row.get(3),
                createrole: row.get(4),
                createdb: row.get(5),
                replication: row.get(6),
                bypassrls: row.get(7),
            };
        }
        Err(e) => {
            p.unknown.push(format!(
                "the account's own role attributes: {}",
                describe(&e)
            ));
            return p;
        }
    }
    // The rest only reads, and needs nothing from each other: sent together, they share round
    // trips on the one connection (tokio-postgres pipelines concurrent queries).
    let database = p.database.clone();
    let needs_part = async {
        let items = expand(client, needs, &database).await?;
        let states =
            futures_util::future::join_all(items.iter().map(|item| holds(client, item))).await;
        Ok::<_, tokio_postgres::Error>((items, states))
    };
    let (held_sql, owned_sql) = (held_sql(), owned_sql());
    let (roles, held, owned, needs_part) = tokio::join!(
        client.query(ROLES_SQL, &[]),
        client.query(held_sql.as_str(), &[]),
        client.query(owned_sql.as_str(), &[]),
        needs_part,
    );
    match roles {
        Ok(rows) => {
            for row in rows {
                let name: String = row.get(0);
                let admin: bool = row.get(6);
                if let Some(existing) = p.roles.iter_mut().find(|r| r.name == name) {
                    existing.admin |= admin;
                    continue;
                }
                p.roles.push(ReachedRole {
                    name,
                    path: row.get(7),
                    attributes: Attributes {
                        superuser: row.get(1),
                        createrole: row.get(2),
                        createdb: row.get(3),
                        replication: row.get(4),
                        bypassrls: row.get(5),
                    },
                    admin,
                });
            }
        }
        Err(e) => p.unknown.push(format!(
            "the roles the account is a member of: {}",
            describe(&e)
        )),
    }
    match held {
        Ok(rows) => {
            for row in rows {
                let kind: String = row.get(0);
                let Some(kind) =
                    ObjectType::from_catalog(if kind == "column" { "table" } else { &kind })
                else {
                    continue;
                };
                p.held.push(Held {
                    kind,
                    schema: row.get(1),
                    name: row.get(2),
                    column: row.get(3),
                    privilege: row.get(4),
                    grantee: row.get(5),
                    grantable: row.get(6),
                    grantee_is_owner: row.get(7),
                });
            }
        }
        Err(e) => p.unknown.push(format!(
            "the privileges granted on objects: {}",
            describe(&e)
        )),
    }
    match owned {
        Ok(rows) => {
            for row in rows {
                let kind: String = row.get(0);
                if let Some(kind) = ObjectType::from_catalog(&kind) {
                    p.owned.push(Owned {
                        kind,
                        schema: row.get(1),
                        name: row.get(2),
                        owner: row.get(3),
                    });
                }
            }
        }
        Err(e) => p
            .unknown
            .push(format!("the objects the account owns: {}", describe(&e))),
    }

    match needs_part {
        Ok((items, states)) => {
            for (item, state) in items.into_iter().zip(states) {
                let state = match state {
                    Ok(Some(true)) => NeedState::Granted,
                    Ok(Some(false)) => NeedState::Missing,
                    Ok(None) => NeedState::NoObject,
                    Err(e) => NeedState::Unknown(describe(&e)),
                };
                p.needs.push((item, state));
            }
        }
        Err(e) => p.unknown.push(format!(
            "the tables named by ALL … IN SCHEMA needs: {}",
            describe(&e)
        )),
    }
    p
}

/// Turns needs into concrete items, adding the implied ones (CONNECT on the database, USAGE on
/// each schema named) and expanding `ALL … IN SCHEMA` against the catalog.
async fn expand(
    client: &Client,
    needs: &[Need],
    database: &str,
) -> Result<Vec<NeedItem>, tokio_postgres::Error> {
    let mut items = vec![NeedItem {
        kind: ObjectType::Database,
        schema: String::new(),
        name: database.to_owned(),
        column: None,
        privilege: "CONNECT".into(),
        from: "implied: the app connects to its database".into(),
        implied: true,
    }];
    for need in needs {
        let from = need.to_string();
        if let Some(schema) = need.target.schema() {
            items.push(NeedItem {
                kind: ObjectType::Schema,
                schema: String::new(),
                name: schema.to_owned(),
                column: None,
                privilege: "USAGE".into(),
                from: format!("implied by `{from}`"),
                implied: true,
            });
        }
        let objects: Vec<(ObjectType, String, String)> = match &need.target {
            Target::One { kind, schema, name } => vec![(*kind, schema.clone(), name.clone())],
            Target::AllIn { kind, schema } => {
                let relkinds: Vec<&str> = if *kind == ObjectType::Sequence {
                    vec!["S"]
                } else {
                    vec!["r", "p", "v", "m", "f"]
                };
                let rows = client
                    .query(
                        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = $1 AND c.relkind::text = ANY($2) ORDER BY 1",
                        &[&schema.as_str(), &relkinds],
                    )
                    .await?;
                rows.iter()
                    .map(|r| (*kind, schema.clone(), r.get::<_, String>(0)))
                    .collect()
            }
        };
        for (kind, schema, name) in objects {
            for privilege in &need.privileges {
                let columns: Vec<Option<String>> = match &privilege.columns {
                    Some(cols) => cols.iter().cloned().map(Some).collect(),
                    None => vec![None],
                };
                for column in columns {
                    items.push(NeedItem {
                        kind,
                        schema: schema.clone(),
                        name: name.clone(),
                        column,
                        privilege: privilege.name.clone(),
                        from: from.clone(),
                        implied: false,
                    });
                }
            }
        }
    }
    items.sort();
    items.dedup_by(|a, b| {
        a.kind == b.kind
            && a.schema == b.schema
            && a.name == b.name
            && a.column == b.column
            && a.privilege == b.privilege
    });
    Ok(items)
}

/// `Some(held)` for an existing object, `None` when it does not exist.
async fn holds(client: &Client, item: &NeedItem) -> Result<Option<bool>, tokio_postgres::Error> {
    let (schema, name, privilege) = (
        item.schema.as_str(),
        item.name.as_str(),
        item.privilege.as_str(),
    );
    let rows = match (item.kind, &item.column) {
        (ObjectType::Table, Some(col)) => {
            client
                .query(
                    "SELECT has_column_privilege(c.oid, a.attnum, $4) FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND c.relkind <> 'S'",
                    &[&schema, &name, &col.as_str(), &privilege],
                )
                .await?
        }
        (ObjectType::Table, None) => {
            client
                .query(
                    "SELECT has_table_privilege(c.oid, $3) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')",
                    &[&schema, &name, &privilege],
                )
                .await?
        }
        (ObjectType::Sequence, _) => {
            client
                .query(
                    "SELECT has_sequence_privilege(c.oid, $3) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'S'",
                    &[&schema, &name, &privilege],
                )
                .await?
        }
        (ObjectType::Schema, _) => {
            client
                .query("SELECT has_schema_privilege(n.oid, $2) FROM pg_namespace n WHERE n.nspname = $1", &[&name, &privilege])
                .await?
        }
        (ObjectType::Database, _) => {
            client
                .query("SELECT has_database_privilege(d.oid, $2) FROM pg_database d WHERE d.datname = $1", &[&name, &privilege])
                .await?
        }
        (ObjectType::Function, _) => {
            let (proname, args) = name.split_once('(').unwrap_or((name, ")"));
            let args = args.strip_suffix(')').unwrap_or(args);
            client
                .query(
                    "SELECT has_function_privilege(p.oid, $4) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = $1 AND p.proname = $2 AND pg_get_function_identity_arguments(p.oid) = $3",
                    &[&schema, &proname, &args, &privilege],
                )
                .await?
        }
    };
    Ok(rows.first().map(|r| r.get::<_, bool>(0)))
}
