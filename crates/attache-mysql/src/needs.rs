//! Needs in GRANT's own words: `<privileges> ON <level>`, where the level is what MySQL's GRANT
//! takes: `db.table`, `table`, `db.*`, `*`, `*.*`, `PROCEDURE db.p`, `FUNCTION db.f` (and an
//! optional `TABLE` keyword). Column lists as in GRANT: `SELECT (id, email) ON appdb.users`.
//! `ALL [PRIVILEGES]` expands to every privilege of the level.
//!
//! A name without a database (`signups`, `*`) means the binding's database, as GRANT reads it
//! against the current database: the manifest then holds no deployment's database name.
//! Database and table names keep their case (they are case-sensitive on Linux servers); column
//! names and privileges do not matter in case.

use std::fmt;
use std::str::FromStr;

use attache_core::sql;

/// Privileges GRANT takes on one table (`db.t`), as the server names them.
pub const TABLE_PRIVILEGES: &[&str] = &[
    "ALTER",
    "CREATE",
    "CREATE VIEW",
    "DELETE",
    "DELETE HISTORY",
    "DROP",
    "INDEX",
    "INSERT",
    "REFERENCES",
    "SELECT",
    "SHOW VIEW",
    "TRIGGER",
    "UPDATE",
];

/// Privileges that GRANT can limit to columns.
pub const COLUMN_PRIVILEGES: &[&str] = &["INSERT", "REFERENCES", "SELECT", "UPDATE"];

/// Privileges GRANT takes on a database (`db.*`) beyond the table ones.
pub const DATABASE_ONLY_PRIVILEGES: &[&str] = &[
    "ALTER ROUTINE",
    "CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "EVENT",
    "EXECUTE",
    "LOCK TABLES",
    "SHOW CREATE ROUTINE",
];

/// Privileges GRANT takes only on `*.*` (MariaDB's and MySQL's static ones). MySQL 8's dynamic
/// privileges (`SYSTEM_VARIABLES_ADMIN`, …) are accepted by their shape, one word with `_`.
pub const GLOBAL_ONLY_PRIVILEGES: &[&str] = &[
    "BINLOG ADMIN",
    "BINLOG MONITOR",
    "BINLOG REPLAY",
    "CONNECTION ADMIN",
    "CREATE ROLE",
    "CREATE TABLESPACE",
    "CREATE USER",
    "DROP ROLE",
    "FEDERATED ADMIN",
    "FILE",
    "PROCESS",
    "READ_ONLY ADMIN",
    "RELOAD",
    "REPLICA MONITOR",
    "REPLICATION CLIENT",
    "REPLICATION MASTER ADMIN",
    "REPLICATION REPLICA",
    "REPLICATION SLAVE",
    "REPLICATION SLAVE ADMIN",
    "SET USER",
    "SHOW DATABASES",
    "SHUTDOWN",
    "SLAVE MONITOR",
    "SUPER",
];

/// Privileges GRANT takes on one stored routine.
pub const ROUTINE_PRIVILEGES: &[&str] = &["ALTER ROUTINE", "EXECUTE"];

/// A stored routine's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoutineKind {
    /// `PROCEDURE`.
    Procedure,
    /// `FUNCTION`.
    Function,
}

impl RoutineKind {
    /// The GRANT keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RoutineKind::Procedure => "PROCEDURE",
            RoutineKind::Function => "FUNCTION",
        }
    }
}

/// What a need is on (GRANT's `priv_level`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `*.*`: the whole server.
    Global,
    /// `db.*`, or `*` (`database: None`: the binding's database).
    Database {
        /// The database; `None` for the binding's.
        database: Option<String>,
    },
    /// `db.table`, or `table` (`database: None`: the binding's database).
    Table {
        /// The database; `None` for the binding's.
        database: Option<String>,
        /// The table (or view).
        table: String,
    },
    /// `PROCEDURE db.p` / `FUNCTION db.f`.
    Routine {
        /// Procedure or function.
        kind: RoutineKind,
        /// The database; `None` for the binding's.
        database: Option<String>,
        /// The routine's name.
        name: String,
    },
}

impl Target {
    /// The privileges GRANT accepts at this level; `ALL` expands to these.
    pub fn privileges(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = match self {
            Target::Routine { .. } => ROUTINE_PRIVILEGES.to_vec(),
            Target::Table { .. } => TABLE_PRIVILEGES.to_vec(),
            Target::Database { .. } => [TABLE_PRIVILEGES, DATABASE_ONLY_PRIVILEGES].concat(),
            Target::Global => [
                TABLE_PRIVILEGES,
                DATABASE_ONLY_PRIVILEGES,
                GLOBAL_ONLY_PRIVILEGES,
            ]
            .concat(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The level as GRANT writes it, each name quoted with backticks (for statements).
    pub fn sql(&self) -> String {
        self.render(quote)
    }

    fn render(&self, q: fn(&str) -> String) -> String {
        let db = |d: &Option<String>| d.as_deref().map(|d| format!("{}.", q(d)));
        match self {
            Target::Global => "*.*".to_owned(),
            Target::Database { database } => match database {
                Some(d) => format!("{}.*", q(d)),
                None => "*".to_owned(),
            },
            Target::Table { database, table } => {
                format!("{}{}", db(database).unwrap_or_default(), q(table))
            }
            Target::Routine {
                kind,
                database,
                name,
            } => format!(
                "{} {}{}",
                kind.keyword(),
                db(database).unwrap_or_default(),
                q(name)
            ),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(ident))
    }
}

pub use attache_core::sql::Privilege;

/// A parsed need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    /// The privileges, sorted.
    pub privileges: Vec<Privilege>,
    /// What they are on.
    pub target: Target,
}

impl Need {
    /// `GRANT … ON … TO grantee;` for this need, names quoted with backticks. `grantee` is
    /// written as given (`'app'@'%'`).
    pub fn grant_sql(&self, grantee: &str) -> String {
        let privs: Vec<String> = self.privileges.iter().map(|p| p.render(quote)).collect();
        format!(
            "GRANT {} ON {} TO {grantee};",
            privs.join(", "),
            self.target.sql()
        )
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let privs: Vec<String> = self.privileges.iter().map(|p| p.render(ident)).collect();
        write!(f, "{} ON {}", privs.join(", "), self.target)
    }
}

/// Whether `name` can be written without backticks.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !name.chars().all(|c| c.is_ascii_digit())
}

/// An identifier as a reader would write it: bare when plain, else in backticks.
pub fn ident(name: &str) -> String {
    if plain(name) {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// An identifier in backticks, inner backticks doubled: always safe in a statement.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string as an SQL literal in single quotes: `\` doubled and `'` doubled (valid under the
/// default `sql_mode`; `NO_BACKSLASH_ESCAPES` would read `\\` as two backslashes).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A need parsed from the manifest. The error says what was expected; it never panics.
impl FromStr for Need {
    type Err = String;

    fn from_str(text: &str) -> Result<Need, String> {
        let expected = "expected `<privileges> ON <db.table | table | db.* | * | *.*>`, e.g. `SELECT, INSERT ON appdb.signups`";
        let Some((privs_text, target_text)) = sql::split_on(text, '`') else {
            return Err(format!("`{text}`: {expected}"));
        };
        let target = parse_target(target_text).map_err(|e| format!("`{text}`: {e}"))?;

        let allowed = target.privileges();
        let vet = |word: String, columns: bool| {
            match word.as_str() {
                "GRANT OPTION" => {
                    return Err(
                        "GRANT OPTION is not a need: an app that hands out privileges is refused (priv-role-admin)".to_owned()
                    );
                }
                "USAGE" => return Err("USAGE means no privilege at all; leave it out".into()),
                "PROXY" => {
                    return Err("PROXY is not a need attache can check; leave it out".into());
                }
                _ => {}
            }
            let dynamic = matches!(target, Target::Global)
                && word.contains('_')
                && !word.contains(' ')
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !allowed.contains(&word.as_str()) && !dynamic {
                let level = match &target {
                    Target::Global => "*.*",
                    Target::Database { .. } => "a database",
                    Target::Table { .. } => "a table",
                    Target::Routine { .. } => "a routine",
                };
                return Err(format!(
                    "`{word}` is not a privilege on {level}; expected one of {}",
                    allowed.join(", ")
                ));
            }
            if columns && !COLUMN_PRIVILEGES.contains(&word.as_str()) {
                return Err(format!("`{word}` cannot be limited to columns"));
            }
            if columns && !matches!(target, Target::Table { .. }) {
                return Err("column lists need one named table".into());
            }
            Ok(word)
        };
        let column = |c: &str| one_ident(c).map(|c| c.to_lowercase());
        let privileges = sql::privileges(privs_text, '`', &allowed, column, vet)
            .map_err(|e| format!("`{text}`: {e}"))?;
        Ok(Need { privileges, target })
    }
}

/// One identifier: `` `quoted` `` (doubled backticks inside) or bare letters, digits, `_`, `$`
/// and non-ASCII letters (not digits only).
fn one_ident(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        if inner.is_empty() {
            return Err("empty quoted identifier".into());
        }
        if inner.replace("``", "").contains('`') {
            return Err(format!("`{s}` is not an identifier"));
        }
        return Ok(inner.replace("``", "`"));
    }
    let ok = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || c == '$'
                || (!c.is_ascii() && c.is_alphanumeric())
        })
        && !s.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an identifier"))
    }
}

/// Splits `a.b` at the dot outside backticks.
fn split_dot(s: &str) -> Result<(Option<&str>, &str), String> {
    let mut quoted = false;
    let mut dot = None;
    for (i, c) in s.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '.' if !quoted => {
                if dot.is_some() {
                    return Err(format!("`{s}` has more than one `.`; expected `db.name`"));
                }
                dot = Some(i);
            }
            _ => {}
        }
    }
    Ok(match dot {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    })
}

fn parse_target(rest: &str) -> Result<Target, String> {
    if rest.is_empty() {
        return Err("expected a level after ON (`db.table`, `db.*`, `*.*`)".into());
    }
    let (first, after) = match rest.split_once(char::is_whitespace) {
        Some((w, r)) if !w.starts_with('`') => (w, r.trim()),
        _ => (rest, ""),
    };
    let routine = match first.to_ascii_uppercase().as_str() {
        "PROCEDURE" => Some(RoutineKind::Procedure),
        "FUNCTION" => Some(RoutineKind::Function),
        "TABLE" => {
            return match parse_target(after)? {
                t @ Target::Table { .. } => Ok(t),
                _ => Err("`ON TABLE` takes one table, `db.table` or `table`".into()),
            };
        }
        _ => None,
    };
    if let Some(kind) = routine {
        let (db, name) = split_dot(after)?;
        if name.trim() == "*" || db.is_some_and(|d| d.trim() == "*") {
            return Err(format!(
                "`{} {after}`: name one routine, `db.name` or `name`",
                kind.keyword()
            ));
        }
        return Ok(Target::Routine {
            kind,
            database: db.map(one_ident).transpose()?,
            name: one_ident(name)?,
        });
    }
    let mut quoted = false;
    let unquoted_space = rest.chars().any(|c| {
        if c == '`' {
            quoted = !quoted;
        }
        !quoted && c.is_whitespace()
    });
    if unquoted_space {
        return Err(format!(
            "`{rest}`: expected one level such as `db.table`, `db.*` or `*.*`"
        ));
    }
    let (db, name) = split_dot(rest)?;
    match (db.map(str::trim), name.trim()) {
        (Some("*"), "*") => Ok(Target::Global),
        (Some("*"), _) => Err(format!(
            "`{rest}`: `*.name` is not a level; use `*.*`, `db.*` or `db.name`"
        )),
        (None, "*") => Ok(Target::Database { database: None }),
        (Some(d), "*") => Ok(Target::Database {
            database: Some(one_ident(d)?),
        }),
        (d, t) => Ok(Target::Table {
            database: d.map(one_ident).transpose()?,
            table: one_ident(t)?,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_manifest_examples() {
        let n = Need::from_str("SELECT, INSERT ON appdb.signups").unwrap();
        assert_eq!(
            n.target,
            Target::Table {
                database: Some("appdb".into()),
                table: "signups".into()
            }
        );
        assert_eq!(n.to_string(), "INSERT, SELECT ON appdb.signups");
        assert_eq!(
            n.grant_sql("'app'@'%'"),
            "GRANT INSERT, SELECT ON `appdb`.`signups` TO 'app'@'%';"
        );

        let n = Need::from_str("SELECT (id, Email) ON appdb.users").unwrap();
        assert_eq!(
            n.privileges[0].columns.as_deref(),
            Some(&["id".to_owned(), "email".to_owned()][..])
        );
        assert_eq!(n.to_string(), "SELECT (id, email) ON appdb.users");

        let n = Need::from_str("select on signups").unwrap();
        assert_eq!(
            n.target,
            Target::Table {
                database: None,
                table: "signups".into()
            }
        );
        assert_eq!(n.to_string(), "SELECT ON signups");

        let n = Need::from_str("SELECT ON TABLE `my db`.`Odd``Name`").unwrap();
        assert_eq!(n.to_string(), "SELECT ON `my db`.`Odd``Name`");
        assert_eq!(
            n.target,
            Target::Table {
                database: Some("my db".into()),
                table: "Odd`Name".into()
            }
        );

        let n = Need::from_str("SELECT, CREATE TEMPORARY TABLES ON appdb.*").unwrap();
        assert_eq!(n.to_string(), "CREATE TEMPORARY TABLES, SELECT ON appdb.*");
        let n = Need::from_str("SELECT ON *").unwrap();
        assert_eq!(n.target, Target::Database { database: None });
        let n = Need::from_str("PROCESS ON *.*").unwrap();
        assert_eq!(n.target, Target::Global);
        let n = Need::from_str("SYSTEM_VARIABLES_ADMIN ON *.*").unwrap();
        assert_eq!(n.privileges[0].name, "SYSTEM_VARIABLES_ADMIN");
        let n = Need::from_str("EXECUTE ON PROCEDURE appdb.signup").unwrap();
        assert_eq!(n.to_string(), "EXECUTE ON PROCEDURE appdb.signup");
        let n = Need::from_str("ALL PRIVILEGES ON appdb.signups").unwrap();
        assert_eq!(n.privileges.len(), TABLE_PRIVILEGES.len());
    }

    #[test]
    fn rejects_with_what_was_expected() {
        attache_testkit::unit::assert_needs_refused::<crate::Mysql>(&[
            ("SELECT appdb.t", "expected `<privileges> ON"),
            ("FLY ON appdb.t", "not a privilege on a table"),
            ("FILE ON appdb.t", "not a privilege on a table"),
            ("EXECUTE ON appdb.t", "not a privilege on a table"),
            ("DELETE (id) ON appdb.t", "cannot be limited to columns"),
            (
                "SELECT (id) ON appdb.*",
                "column lists need one named table",
            ),
            ("SELECT ON a.b.c", "more than one"),
            ("SELECT ON *.t", "not a level"),
            ("ON appdb.t", "at least one privilege"),
            ("GRANT OPTION ON appdb.t", "not a need"),
            ("USAGE ON *.*", "no privilege"),
            ("SELECT ON appdb.t;drop", "not an identifier"),
            ("SELECT ON appdb.t x", "one level"),
            ("SELECT ON TABLE appdb.*", "takes one table"),
            ("EXECUTE ON PROCEDURE appdb.*", "name one routine"),
            ("SELECT ON", "expected a level after ON"),
            ("SELECT ON ``", "empty quoted identifier"),
            ("SELECT (id ON t", "expected `<privileges> ON"),
            ("SELECT (id ON t)", "expected `<privileges> ON"),
            ("SELECT (id ON t) ON x", "not an identifier"),
            ("ALL (id) ON t", "per privilege"),
        ]);
    }

    #[test]
    fn odd_input_never_panics() {
        attache_testkit::unit::assert_needs_never_panic::<crate::Mysql>(&[
            "",
            " ",
            "ON",
            "on on on",
            "SELECT ON",
            "SELECT (",
            "SELECT ()",
            "SELECT ) ON t",
            "() ON t",
            "ÜBER ON t",
            "SELECT ON `",
            "SELECT ON ```",
            "SELECT ON é.ü",
            "SELECT ON *.",
            "SELECT ON .",
            "SELECT ON .*",
            "SELECT ON PROCEDURE",
            "SELECT ON TABLE",
            "SELECT ON t\u{0}",
            "SELECT ON 123",
            "SELECT\u{a0}ON t",
            "ñ ON ñ",
        ]);
        assert!(Need::from_str("SELECT ON 123").is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "INSERT, SELECT ON appdb.signups",
            "SELECT (email, id) ON users",
            "SELECT ON `a-b`.*",
            "EXECUTE ON FUNCTION f",
            "PROCESS ON *.*",
        ] {
            let n = Need::from_str(text).unwrap();
            assert_eq!(Need::from_str(&n.to_string()).unwrap(), n, "{text}");
        }
    }
}
