//! The part of a GRANT that SQL servers share, for the kinds whose needs are GRANT's own words:
//! `<privileges> ON <object>`, where the privileges are a comma-separated list of names, each
//! possibly limited to a column list (`SELECT (id, email), INSERT`). What follows `ON` is each
//! kind's own (object types, name qualification, identifier quoting); so is which privileges an
//! object has.
//!
//! Every reader here takes the server's identifier quote (`"` in standard SQL, a backtick
//! in some servers), so that a comma, a parenthesis or the word `on` inside a quoted name is part of
//! the name. Errors say what is wrong without repeating the text; the kind prefixes the need.

/// One privilege of a need, possibly limited to columns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Privilege {
    /// `SELECT`, `CREATE TEMPORARY TABLES`, … (upper case, single spaces).
    pub name: String,
    /// Columns, when the grant is column-level.
    pub columns: Option<Vec<String>>,
}

impl Privilege {
    /// As a GRANT writes it, each column through `ident`: `SELECT (id, email)`.
    pub fn render(&self, ident: impl Fn(&str) -> String) -> String {
        match &self.columns {
            Some(cols) => format!(
                "{} ({})",
                self.name,
                cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
            ),
            None => self.name.clone(),
        }
    }
}

/// `GRANT <privilege> ON <object> TO <grantee>;`, merging with the other grants on the same
/// object to the same grantee.
pub fn grant(privilege: impl Into<String>, object: &str, grantee: &str) -> crate::Fix {
    crate::Fix::new(
        "GRANT ",
        privilege,
        ", ",
        format!(" ON {object} TO {grantee};"),
    )
}

/// `REVOKE <privilege> ON <object> FROM <grantee>;`, merging with the other revokes on the
/// same object from the same grantee.
pub fn revoke(privilege: impl Into<String>, object: &str, grantee: &str) -> crate::Fix {
    crate::Fix::new(
        "REVOKE ",
        privilege,
        ", ",
        format!(" ON {object} FROM {grantee};"),
    )
}

/// `privilege` limited to `column` as a GRANT writes it (`SELECT (email)`), else `privilege`.
pub fn with_column(
    privilege: &str,
    column: Option<&str>,
    ident: impl Fn(&str) -> String,
) -> String {
    match column {
        Some(c) => format!("{privilege} ({})", ident(c)),
        None => privilege.to_owned(),
    }
}

/// Splits `<privileges> ON <object>` at the first standalone `ON` (any case) outside
/// parentheses and quoted names; both parts trimmed.
pub fn split_on(text: &str, quote: char) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let (mut depth, mut quoted) = (0i32, false);
    for (i, c) in text.char_indices() {
        match c {
            c if c == quote => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            'o' | 'O' if !quoted && depth == 0 => {
                let word = bytes
                    .get(i..i + 2)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"on"));
                let before = i == 0 || bytes[i - 1].is_ascii_whitespace();
                let after = bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace());
                if word && before && after {
                    return Some((text[..i].trim(), text[i + 2..].trim()));
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads a privilege list: items split at commas outside parentheses and quoted names, each
/// name in upper case with single spaces, each column through `column` (which reads one
/// identifier). `ALL` and `ALL PRIVILEGES` stand for every one of `all`; any other name goes
/// through `vet`, told whether the list limits it to columns, which returns the privilege as
/// the kind keeps it (`TEMP` is `TEMPORARY`) or why a need cannot ask for it. The result is
/// sorted, without repeats, and never empty.
pub fn privileges(
    text: &str,
    quote: char,
    all: &[&str],
    column: impl Fn(&str) -> Result<String, String>,
    mut vet: impl FnMut(String, bool) -> Result<String, String>,
) -> Result<Vec<Privilege>, String> {
    let mut out = Vec::new();
    for item in split_items(text, quote)?
        .into_iter()
        .filter(|i| !i.is_empty())
    {
        let (name, columns) = match item.find('(') {
            Some(i) => {
                let Some(inner) = item[i + 1..].trim_end().strip_suffix(')') else {
                    return Err(format!("unbalanced column list in `{item}`"));
                };
                let columns = split_items(inner, quote)?
                    .into_iter()
                    .map(&column)
                    .collect::<Result<Vec<_>, _>>()?;
                (&item[..i], Some(columns))
            }
            None => (item, None),
        };
        let name = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        if name.is_empty() {
            return Err("a privilege name is missing before `(`".into());
        }
        if name == "ALL" || name == "ALL PRIVILEGES" {
            if columns.is_some() {
                return Err("write column lists per privilege, not on ALL".into());
            }
            out.extend(all.iter().map(|p| Privilege {
                name: (*p).to_owned(),
                columns: None,
            }));
            continue;
        }
        let name = vet(name, columns.is_some())?;
        out.push(Privilege { name, columns });
    }
    if out.is_empty() {
        return Err("expected at least one privilege before ON".into());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The items of a list, split at commas outside parentheses and quoted names, trimmed.
fn split_items(s: &str, quote: char) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut quoted) = (0i32, 0, false);
    for (i, c) in s.char_indices() {
        match c {
            c if c == quote => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced `)`".into());
                }
            }
            ',' if !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || quoted {
        return Err(format!("unbalanced `(` or {quote}"));
    }
    out.push(&s[start..]);
    Ok(out.into_iter().map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Privilege>, String> {
        let column = |c: &str| match c.trim_matches('"') {
            "" => Err("a column name is empty".to_owned()),
            c => Ok(c.to_owned()),
        };
        privileges(
            text,
            '"',
            &["SELECT", "INSERT"],
            column,
            |name: String, _| match name.as_str() {
                "SELECT" | "INSERT" | "CREATE TEMPORARY TABLES" => Ok(name),
                _ => Err(format!("`{name}` is not a privilege here")),
            },
        )
    }

    #[test]
    fn lists_read_as_grant_writes_them() {
        let p = read("insert, select ( id , \"a,b\" ),  create   temporary tables").unwrap();
        let shown: Vec<String> = p.iter().map(|p| p.render(|c| c.to_owned())).collect();
        assert_eq!(
            shown,
            ["CREATE TEMPORARY TABLES", "INSERT", "SELECT (id, a,b)"]
        );
        assert_eq!(read("ALL PRIVILEGES").unwrap().len(), 2);
        assert_eq!(read("select, SELECT").unwrap().len(), 1);
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (text, says) in [
            ("", "at least one privilege"),
            ("ALL (id)", "not on ALL"),
            ("(id)", "name is missing"),
            ("SELECT (id", "unbalanced"),
            ("SELECT id)", "unbalanced `)`"),
            ("SELECT (\"id)", "unbalanced"),
            ("SELECT (id,)", "column name is empty"),
            ("DELETE", "not a privilege here"),
        ] {
            let e = read(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn on_is_found_outside_names_and_parentheses() {
        assert_eq!(
            split_on("SELECT (\"on\") ON \"x on y\"", '"'),
            Some(("SELECT (\"on\")", "\"x on y\""))
        );
        assert_eq!(split_on("select on `on`", '`'), Some(("select", "`on`")));
        assert_eq!(split_on("SELECT ONE", '"'), None);
        assert_eq!(split_on("SELECT \"a on b\"", '"'), None);
    }
}
