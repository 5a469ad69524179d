//! The least-privileged account for a manifest's needs, in PostgreSQL's own words.
//!
//! The statements run as an administrator in the resource's database (with psql, which fills
//! the `:'password'` parameter: `psql -v password="$(cat pw)"` or `\set password …`). attache
//! never invents the password.

use attache_core::{Provision, ResourceSpec};

use crate::needs::{Need, ident};

/// The psql variable that carries the password.
pub const PASSWORD_PARAMETER: &str = ":'password'";

/// `CREATE ROLE … LOGIN`, CONNECT on the current database, USAGE on each schema the needs name,
/// then one GRANT per need (needs are GRANT's own words).
pub fn provision(spec: &ResourceSpec, needs: &[Need], account: &str) -> Provision {
    let role = ident(account);
    let mut statements = vec![
        format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {PASSWORD_PARAMETER};"
        ),
        format!(
            "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {}); END $$;",
            literal(account)
        ),
    ];
    let mut schemas: Vec<&str> = needs.iter().filter_map(|n| n.target.schema()).collect();
    schemas.sort();
    schemas.dedup();
    for schema in schemas {
        statements.push(format!(
            "GRANT USAGE ON SCHEMA {} TO {role};",
            ident(schema)
        ));
    }
    for need in needs {
        statements.push(format!("GRANT {need} TO {role};"));
    }
    Provision {
        resource: spec.name.clone(),
        kind: "postgres".into(),
        language: "sql".into(),
        statements,
        notes: vec![
            format!("run in the resource's database as an administrator: psql -v password=\"$(cat PASSWORD_FILE)\" -f grants.sql"),
            format!("pg_hba.conf: allow {account} over TLS only, e.g. `hostssl <database> {account} 0.0.0.0/0 scram-sha-256`, and no `host` line for it"),
            "so that only granted roles connect: REVOKE ALL ON DATABASE <database> FROM PUBLIC (affects every role)".into(),
        ],
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::parse;

    #[test]
    fn statements_follow_the_needs() {
        let needs: Vec<Need> = [
            "SELECT, INSERT ON TABLE public.signups",
            "SELECT (id, email) ON TABLE public.users",
            "USAGE ON SEQUENCE app.ids",
        ]
        .iter()
        .map(|n| parse(n).unwrap())
        .collect();
        let p = provision(&ResourceSpec::new("db", "postgres"), &needs, "signup-app");
        assert_eq!(
            p.statements,
            [
                "CREATE ROLE \"signup-app\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';",
                "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), 'signup-app'); END $$;",
                "GRANT USAGE ON SCHEMA app TO \"signup-app\";",
                "GRANT USAGE ON SCHEMA public TO \"signup-app\";",
                "GRANT INSERT, SELECT ON TABLE public.signups TO \"signup-app\";",
                "GRANT SELECT (id, email) ON TABLE public.users TO \"signup-app\";",
                "GRANT USAGE ON SEQUENCE app.ids TO \"signup-app\";",
            ]
        );
        assert!(p.notes.iter().any(|n| n.contains("hostssl")));
    }
}
