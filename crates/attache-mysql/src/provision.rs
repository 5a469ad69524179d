//! The least-privileged account for a manifest's needs, in MySQL's own words.
//!
//! The statements run as an administrator. attache never invents the password: given one (read
//! from a file the administrator named) it is written in as a quoted literal; without one the
//! statements carry the parameter `:'password'`, which neither the `mariadb` nor the `mysql`
//! client fills and both servers reject as a syntax error, so an unfilled file creates nothing.

use attache_core::{Provision, ProvisionRequest};

use crate::Mysql;
use crate::needs::{Target, literal};

/// What stands for the password until the administrator writes it in.
pub const PASSWORD_PARAMETER: &str = ":'password'";

/// `CREATE USER 'account'@'%' IDENTIFIED BY … REQUIRE SSL`, then one GRANT per need (needs are
/// GRANT's own words).
pub fn provision(request: &ProvisionRequest<'_, Mysql>) -> Provision {
    let (needs, account) = (request.needs, request.account);
    let grantee = format!("{}@'%'", literal(account));
    let password_sql = request.password_or(PASSWORD_PARAMETER, literal);
    let mut statements = vec![format!(
        "CREATE USER {grantee} IDENTIFIED BY {password_sql} REQUIRE SSL;"
    )];
    for need in needs {
        statements.push(need.grant_sql(&grantee));
    }
    let unqualified = needs.iter().any(|n| match &n.target {
        Target::Global => false,
        Target::Database { database }
        | Target::Table { database, .. }
        | Target::Routine { database, .. } => database.is_none(),
    });
    let run = if unqualified {
        "mariadb --ssl-verify-server-cert -h HOST -u ADMIN -p DATABASE < grants.sql (needs without a database name are granted in DATABASE, the default database of the session: the binding's)"
    } else {
        "mariadb --ssl-verify-server-cert -h HOST -u ADMIN -p < grants.sql (or the mysql client)"
    };
    let mut notes = vec![match request.password {
        Some(_) => format!(
            "run as an administrator: {run}; the file holds the password: keep it out of version control (the literal assumes the default sql_mode, without NO_BACKSLASH_ESCAPES)"
        ),
        None => format!(
            "replace {PASSWORD_PARAMETER} with the password as a quoted SQL string (the mariadb and mysql clients have no variables to fill it; unfilled, the server rejects CREATE USER as a syntax error and the client stops there), then run as an administrator: {run}"
        ),
    }];
    notes.push(
        "server-wide, which no GRANT can do: set require_secure_transport = ON in the server's configuration ([mysqld] in my.cnf) so that no account logs in without TLS; REQUIRE SSL above covers this account only".into(),
    );
    notes.push(format!(
        "'%' lets {account} log in from any host: narrow it to the app's network (e.g. {}@'10.0.%') where you can",
        literal(account)
    ));
    request.answer("sql", statements, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Secret;
    use attache_testkit::unit;

    #[test]
    fn statements_follow_the_needs() {
        let p = unit::provision::<Mysql>(
            &[
                "SELECT, INSERT ON signups",
                "SELECT (id, email) ON appdb.users",
                "EXECUTE ON PROCEDURE appdb.signup",
            ],
            "signup-app",
            None,
        );
        assert_eq!(
            p.statements,
            [
                "CREATE USER 'signup-app'@'%' IDENTIFIED BY :'password' REQUIRE SSL;",
                "GRANT INSERT, SELECT ON `signups` TO 'signup-app'@'%';",
                "GRANT SELECT (`id`, `email`) ON `appdb`.`users` TO 'signup-app'@'%';",
                "GRANT EXECUTE ON PROCEDURE `appdb`.`signup` TO 'signup-app'@'%';",
            ]
        );
        assert!(p.notes[0].contains("replace :'password'"));
        assert!(p.notes[0].contains("DATABASE < grants.sql"));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("require_secure_transport"))
        );
    }

    #[test]
    fn a_given_password_is_quoted_in() {
        let pw = Secret::new("it's-pl\\anted".to_owned());
        let p = unit::provision::<Mysql>(&[], "o'brien", Some(&pw));
        assert_eq!(
            p.statements[0],
            "CREATE USER 'o''brien'@'%' IDENTIFIED BY 'it''s-pl\\\\anted' REQUIRE SSL;"
        );
        assert!(!p.notes.iter().any(|n| n.contains(PASSWORD_PARAMETER)));
        assert!(!p.notes.iter().any(|n| n.contains("pl\\anted")));
    }
}
