//! Needs in GRANT's own words: `<privileges> ON <TABLE|SEQUENCE|SCHEMA|DATABASE|FUNCTION> <name>`,
//! column lists (`SELECT (id, email) ON TABLE public.users`), `ALL [PRIVILEGES]` and
//! `ON ALL TABLES IN SCHEMA s` / `ON ALL SEQUENCES IN SCHEMA s`.
//!
//! Unqualified names are in schema `public`. Unquoted identifiers fold to lower case, as in SQL.

use std::fmt;
use std::str::FromStr;

use attache_core::sql;

/// The kind of object a privilege is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    /// Tables, views, materialized views, foreign tables.
    Table,
    /// Sequences.
    Sequence,
    /// Schemas.
    Schema,
    /// Databases.
    Database,
    /// Functions and procedures.
    Function,
}

impl ObjectType {
    /// The GRANT keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectType::Table => "TABLE",
            ObjectType::Sequence => "SEQUENCE",
            ObjectType::Schema => "SCHEMA",
            ObjectType::Database => "DATABASE",
            ObjectType::Function => "FUNCTION",
        }
    }

    /// The privileges GRANT accepts on this type, `ALL` expands to these.
    pub fn privileges(self) -> &'static [&'static str] {
        match self {
            ObjectType::Table => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
            ],
            ObjectType::Sequence => &["USAGE", "SELECT", "UPDATE"],
            ObjectType::Schema => &["USAGE", "CREATE"],
            ObjectType::Database => &["CONNECT", "CREATE", "TEMPORARY"],
            ObjectType::Function => &["EXECUTE"],
        }
    }

    /// Parses the catalog's name for it (as the inspection query returns it).
    pub fn from_catalog(s: &str) -> Option<ObjectType> {
        Some(match s {
            "table" => ObjectType::Table,
            "sequence" => ObjectType::Sequence,
            "schema" => ObjectType::Schema,
            "database" => ObjectType::Database,
            "function" => ObjectType::Function,
            _ => return None,
        })
    }
}

/// What a need is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// One object; `schema` is empty for schemas and databases.
    One {
        /// The object's type.
        kind: ObjectType,
        /// Its schema (empty for schemas and databases).
        schema: String,
        /// Its name (for functions with the argument list, as `pg_get_function_identity_arguments` prints it).
        name: String,
    },
    /// Every table (or sequence) in a schema, as it is when the check runs.
    AllIn {
        /// `Table` or `Sequence`.
        kind: ObjectType,
        /// The schema.
        schema: String,
    },
}

impl Target {
    /// The object type.
    pub fn kind(&self) -> ObjectType {
        match self {
            Target::One { kind, .. } | Target::AllIn { kind, .. } => *kind,
        }
    }

    /// The schema the object lives in, if any (its USAGE is an implied need).
    pub fn schema(&self) -> Option<&str> {
        match self {
            Target::One { schema, .. } if schema.is_empty() => None,
            Target::One { schema, .. } | Target::AllIn { schema, .. } => Some(schema),
        }
    }
}

pub use attache_core::sql::Privilege;

/// A parsed need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    /// The privileges.
    pub privileges: Vec<Privilege>,
    /// What they are on.
    pub target: Target,
}

/// `schema.name`, quoting only where needed.
pub fn qualified(schema: &str, name: &str) -> String {
    if schema.is_empty() {
        ident(name)
    } else {
        format!("{}.{}", ident(schema), ident(name))
    }
}

/// An identifier as SQL would need it written.
pub fn ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain || name.contains('(') {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let privs: Vec<String> = self.privileges.iter().map(|p| p.render(ident)).collect();
        write!(f, "{} ON ", privs.join(", "))?;
        match &self.target {
            Target::One { kind, schema, name } => {
                write!(f, "{} {}", kind.keyword(), qualified(schema, name))
            }
            Target::AllIn { kind, schema } => {
                write!(f, "ALL {}S IN SCHEMA {}", kind.keyword(), ident(schema))
            }
        }
    }
}

/// A need parsed from the manifest. The error says what was expected.
impl FromStr for Need {
    type Err = String;

    fn from_str(text: &str) -> Result<Need, String> {
        let Some((privs_text, rest)) = sql::split_on(text, '"') else {
            return Err(format!(
                "`{text}`: expected `<privileges> ON <TABLE|SEQUENCE|SCHEMA|DATABASE|FUNCTION> <name>`"
            ));
        };
        let rest_upper = rest.to_ascii_uppercase();
        let words: Vec<&str> = rest_upper.split_whitespace().collect();

        let target = if words.first() == Some(&"ALL") {
            // ALL TABLES IN SCHEMA s | ALL SEQUENCES IN SCHEMA s
            let kind = match words.get(1) {
                Some(&"TABLES") => ObjectType::Table,
                Some(&"SEQUENCES") => ObjectType::Sequence,
                _ => {
                    return Err(format!(
                        "`{text}`: expected `ALL TABLES IN SCHEMA <schema>` or `ALL SEQUENCES IN SCHEMA <schema>`"
                    ));
                }
            };
            if words.get(2) != Some(&"IN") || words.get(3) != Some(&"SCHEMA") || words.len() != 5 {
                return Err(format!(
                    "`{text}`: expected `ALL {}S IN SCHEMA <schema>`",
                    kind.keyword()
                ));
            }
            let schema_text = rest.split_whitespace().nth(4).unwrap_or_default();
            Target::AllIn {
                kind,
                schema: one_ident(schema_text).map_err(|e| format!("`{text}`: {e}"))?,
            }
        } else {
            let (kind, name_text) = match words.first() {
                Some(&"TABLE") => (ObjectType::Table, skip_word(rest)),
                Some(&"SEQUENCE") => (ObjectType::Sequence, skip_word(rest)),
                Some(&"SCHEMA") => (ObjectType::Schema, skip_word(rest)),
                Some(&"DATABASE") => (ObjectType::Database, skip_word(rest)),
                Some(&"FUNCTION") | Some(&"PROCEDURE") | Some(&"ROUTINE") => {
                    (ObjectType::Function, skip_word(rest))
                }
                Some(_) => (ObjectType::Table, rest),
                None => return Err(format!("`{text}`: expected an object after ON")),
            };
            let (schema, name) =
                object_name(kind, name_text).map_err(|e| format!("`{text}`: {e}"))?;
            Target::One { kind, schema, name }
        };

        let kind = target.kind();
        let vet = |word: String, columns: bool| {
            let word = if word == "TEMP" {
                "TEMPORARY".to_owned()
            } else {
                word
            };
            if !kind.privileges().contains(&word.as_str()) {
                return Err(format!(
                    "`{word}` is not a privilege on a {}; expected one of {}",
                    kind.keyword().to_ascii_lowercase(),
                    kind.privileges().join(", ")
                ));
            }
            if columns
                && !(kind == ObjectType::Table
                    && matches!(word.as_str(), "SELECT" | "INSERT" | "UPDATE" | "REFERENCES"))
            {
                return Err(format!("`{word}` cannot be limited to columns"));
            }
            if columns && matches!(target, Target::AllIn { .. }) {
                return Err("column lists need one named table".into());
            }
            Ok(word)
        };
        let privileges = sql::privileges(privs_text, '"', kind.privileges(), one_ident, vet)
            .map_err(|e| format!("`{text}`: {e}"))?;
        Ok(Need { privileges, target })
    }
}

fn skip_word(s: &str) -> &str {
    s.trim_start()
        .split_once(char::is_whitespace)
        .map(|(_, r)| r.trim())
        .unwrap_or("")
}

/// One identifier: `"Quoted"` keeps case, unquoted folds to lower case.
fn one_ident(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if inner.is_empty() {
            return Err("empty quoted identifier".into());
        }
        return Ok(inner.replace("\"\"", "\""));
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        || s.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!("`{s}` is not an identifier"));
    }
    Ok(s.to_lowercase())
}

fn object_name(kind: ObjectType, text: &str) -> Result<(String, String), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "expected a {} name",
            kind.keyword().to_ascii_lowercase()
        ));
    }
    match kind {
        ObjectType::Schema | ObjectType::Database => Ok((String::new(), one_ident(text)?)),
        ObjectType::Function => {
            let Some(open) = text.find('(') else {
                return Err(
                    "expected a function with its argument types, e.g. `public.f(integer, text)`"
                        .into(),
                );
            };
            let args = text[open..].trim();
            if !args.ends_with(')') {
                return Err("unbalanced argument list".into());
            }
            let (schema, name) = split_qualified(text[..open].trim())?;
            let args = args[1..args.len() - 1]
                .split(',')
                .map(|a| {
                    a.split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .to_lowercase()
                })
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            Ok((schema, format!("{name}({args})")))
        }
        ObjectType::Table | ObjectType::Sequence => split_qualified(text),
    }
}

fn split_qualified(text: &str) -> Result<(String, String), String> {
    let parts = split_dots(text);
    match parts.as_slice() {
        [name] => Ok(("public".to_owned(), one_ident(name)?)),
        [schema, name] => Ok((one_ident(schema)?, one_ident(name)?)),
        _ => Err(format!("`{text}` is not `schema.name`")),
    }
}

fn split_dots(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_manifest_examples() {
        let n = Need::from_str("SELECT, INSERT ON TABLE public.signups").unwrap();
        assert_eq!(
            n.target,
            Target::One {
                kind: ObjectType::Table,
                schema: "public".into(),
                name: "signups".into()
            }
        );
        assert_eq!(n.privileges.len(), 2);
        assert_eq!(n.to_string(), "INSERT, SELECT ON TABLE public.signups");

        let n = Need::from_str("SELECT (id, email) ON TABLE public.users").unwrap();
        assert_eq!(
            n.privileges[0].columns.as_deref(),
            Some(&["id".to_owned(), "email".to_owned()][..])
        );
        assert_eq!(n.to_string(), "SELECT (id, email) ON TABLE public.users");

        let n = Need::from_str("usage on sequence signups_id_seq").unwrap();
        assert_eq!(n.to_string(), "USAGE ON SEQUENCE public.signups_id_seq");

        let n = Need::from_str("SELECT ON ALL TABLES IN SCHEMA reporting").unwrap();
        assert_eq!(
            n.target,
            Target::AllIn {
                kind: ObjectType::Table,
                schema: "reporting".into()
            }
        );

        let n = Need::from_str("ALL PRIVILEGES ON TABLE t").unwrap();
        assert_eq!(n.privileges.len(), 7);

        let n = Need::from_str("EXECUTE ON FUNCTION public.f(Integer,  text)").unwrap();
        assert_eq!(n.to_string(), "EXECUTE ON FUNCTION public.f(integer, text)");

        let n = Need::from_str("CONNECT, TEMP ON DATABASE app").unwrap();
        assert_eq!(n.to_string(), "CONNECT, TEMPORARY ON DATABASE app");

        let n = Need::from_str("SELECT ON \"Odd\".\"Name\"").unwrap();
        assert_eq!(n.to_string(), "SELECT ON TABLE \"Odd\".\"Name\"");
    }

    #[test]
    fn rejects_with_what_was_expected() {
        attache_testkit::unit::assert_needs_refused::<crate::Postgres>(&[
            ("SELECT public.t", "expected `<privileges> ON"),
            ("FLY ON TABLE t", "not a privilege on a table"),
            ("EXECUTE ON TABLE t", "not a privilege on a table"),
            ("DELETE (id) ON TABLE t", "cannot be limited to columns"),
            ("SELECT ON TABLE a.b.c", "not `schema.name`"),
            ("SELECT ON ALL VIEWS IN SCHEMA s", "ALL TABLES IN SCHEMA"),
            ("ON TABLE t", "at least one privilege"),
            ("EXECUTE ON FUNCTION f", "argument types"),
            ("SELECT ON TABLE t;drop", "not an identifier"),
        ]);
    }

    #[test]
    fn odd_input_never_panics() {
        attache_testkit::unit::assert_needs_never_panic::<crate::Postgres>(&[
            "",
            " ",
            "ON",
            "ON ON ON",
            "SELECT ON",
            "SELECT (",
            "SELECT ()",
            "SELECT (id ON TABLE t",
            "ÜBER ON TABLE t",
            "SELECT ON TABLE \"",
            "SELECT ON TABLE \"\"",
            "SELECT ON TABLE é.ü",
            "SELECT ON ALL",
            "SELECT ON ALL TABLES IN",
            "EXECUTE ON FUNCTION f(",
            "SELECT ON TABLE a..b",
            "SELECT ON TABLE ñ\u{0}",
        ]);
    }
}
