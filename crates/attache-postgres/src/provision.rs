//! The least-privileged account for a manifest's needs, in PostgreSQL's own words.
//!
//! The statements run as an administrator in the resource's database. attache never invents the
//! password: given one (read from a file the administrator named) it is written in as a quoted
//! literal; without one the statements carry psql's `:'password'` parameter, which psql fills
//! (`psql -v password="$(cat pw)"`) and which any other client rejects as a syntax error.

use attache_core::{Provision, ProvisionRequest};

use crate::Postgres;
use crate::needs::ident;

/// The psql variable that carries the password.
pub const PASSWORD_PARAMETER: &str = ":'password'";

/// `CREATE ROLE … LOGIN`, CONNECT on the current database, USAGE on each schema the needs name,
/// then one GRANT per need (needs are GRANT's own words).
pub fn provision(request: &ProvisionRequest<'_, Postgres>) -> Provision {
    let (needs, account) = (request.needs, request.account);
    let role = ident(account);
    let password_sql = request.password_or(PASSWORD_PARAMETER, literal);
    let mut statements = vec![
        format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {password_sql};"
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
    request.answer(
        "sql",
        statements,
        vec![
            match request.password {
                Some(_) => "run in the resource's database as an administrator: psql -f grants.sql (the file holds the password: keep it out of version control)".into(),
                None => "run in the resource's database as an administrator: psql -v password=\"$(cat PASSWORD_FILE)\" -f grants.sql".into(),
            },
            format!("pg_hba.conf: allow {account} over TLS only, e.g. `hostssl <database> {account} 0.0.0.0/0 scram-sha-256`, and no `host` line for it"),
            "so that only granted roles connect: REVOKE ALL ON DATABASE <database> FROM PUBLIC (affects every role)".into(),
        ],
    )
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Secret;
    use attache_testkit::unit;

    #[test]
    fn statements_follow_the_needs() {
        let p = unit::provision::<Postgres>(
            &[
                "SELECT, INSERT ON TABLE public.signups",
                "SELECT (id, email) ON TABLE public.users",
                "USAGE ON SEQUENCE app.ids",
            ],
            "signup-app",
            None,
        );
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

    #[test]
    fn a_given_password_is_quoted_in() {
        let pw = Secret::new("it's-planted".to_owned());
        let p = unit::provision::<Postgres>(&[], "app", Some(&pw));
        assert!(
            p.statements[0].ends_with("PASSWORD 'it''s-planted';"),
            "{}",
            p.statements[0]
        );
        assert!(!p.notes.iter().any(|n| n.contains("-v password")));
    }
}
