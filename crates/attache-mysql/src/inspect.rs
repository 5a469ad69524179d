//! Reading the account's privileges through the account itself: `CURRENT_USER()`,
//! `CURRENT_ROLE()` and `SHOW GRANTS` (no `FOR`: every account may read its own), no admin
//! rights and nothing written.
//!
//! What it reads: the account's own grants; the grants to `PUBLIC` (MariaDB 10.11+ lists them
//! in `SHOW GRANTS`); every role granted to the account, recursively, **active or not** (a
//! session can `SET ROLE` to any granted role, so all of them count); and for each role, its
//! privileges. MariaDB lets an account read a role's grants only while that role is active, so
//! for each granted role the inspection connection runs `SET ROLE r; SHOW GRANTS` and finally
//! puts the session's role back (session state of a connection that is closed right after).
//! On MySQL 8 it reads `SHOW GRANTS FOR CURRENT_USER() USING r` instead. For each need it works
//! out from those grants whether the account holds it as it logs in (directly, through PUBLIC,
//! or through a role active at login), and whether the table exists (`information_schema`).
//!
//! `SHOW GRANTS` lines carry the account's password hash (`IDENTIFIED BY PASSWORD '*…'`): they
//! are parsed here and never kept, printed or reported. A line that cannot be read or a
//! statement the server denies is recorded as unknown, never guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use attache_core::Via;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::needs::{Need, Target, literal, quote};

/// A user or role, as `SHOW GRANTS` names it: `name@host` for accounts (and MySQL roles),
/// `name` for MariaDB roles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    /// The user or role name (empty for the anonymous account).
    pub name: String,
    /// The host part, if it has one.
    pub host: Option<String>,
}

impl Principal {
    /// Parses `CURRENT_USER()`'s `name@host`.
    pub fn from_current_user(s: &str) -> Principal {
        match s.rsplit_once('@') {
            Some((name, host)) => Principal {
                name: name.to_owned(),
                host: Some(host.to_owned()),
            },
            None => Principal {
                name: s.to_owned(),
                host: None,
            },
        }
    }

    /// As a grantee in a statement: `'name'@'host'`, or `` `role` ``.
    pub fn sql(&self) -> String {
        match &self.host {
            Some(h) => format!("{}@{}", literal(&self.name), literal(h)),
            None => quote(&self.name),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{}@{h}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Where a privilege applies, as `SHOW GRANTS` writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `*.*`.
    Global,
    /// `` `db`.* ``; the name is a `LIKE` pattern (`_` and `%` are wildcards, `\` escapes).
    Database(String),
    /// `` `db`.`table` ``.
    Table {
        /// Database.
        database: String,
        /// Table.
        table: String,
    },
    /// `PROCEDURE`/`FUNCTION`/`PACKAGE` `` `db`.`name` ``.
    Routine {
        /// `PROCEDURE`, `FUNCTION`, `PACKAGE`, `PACKAGE BODY`.
        kind: String,
        /// Database.
        database: String,
        /// Routine name.
        name: String,
    },
}

impl Level {
    /// The level with backticks, for statements.
    pub fn sql(&self) -> String {
        match self {
            Level::Global => "*.*".into(),
            Level::Database(d) => format!("{}.*", quote(d)),
            Level::Table { database, table } => format!("{}.{}", quote(database), quote(table)),
            Level::Routine {
                kind,
                database,
                name,
            } => format!("{kind} {}.{}", quote(database), quote(name)),
        }
    }

    /// The database this level names, when it names one (a pattern for database levels).
    pub fn database(&self) -> Option<&str> {
        match self {
            Level::Global => None,
            Level::Database(d) => Some(d),
            Level::Table { database, .. } | Level::Routine { database, .. } => Some(database),
        }
    }

    /// The privileges `ALL PRIVILEGES` stands for at this level.
    pub fn all_privileges(&self) -> Vec<&'static str> {
        self.as_target().privileges()
    }

    fn as_target(&self) -> Target {
        match self {
            Level::Global => Target::Global,
            Level::Database(_) => Target::Database { database: None },
            Level::Table { table, .. } => Target::Table {
                database: None,
                table: table.clone(),
            },
            Level::Routine { name, .. } => Target::Routine {
                kind: crate::needs::RoutineKind::Procedure,
                database: None,
                name: name.clone(),
            },
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::needs::ident;
        match self {
            Level::Global => f.write_str("*.*"),
            Level::Database(d) => write!(f, "{}.*", ident(d)),
            Level::Table { database, table } => write!(f, "{}.{}", ident(database), ident(table)),
            Level::Routine {
                kind,
                database,
                name,
            } => write!(f, "{kind} {}.{}", ident(database), ident(name)),
        }
    }
}

/// Who holds a privilege, from the account's point of view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    /// Granted to the account itself.
    Account,
    /// Granted to a role the account has (directly or through other roles).
    Role(Principal),
    /// Granted to `PUBLIC`: every account has it.
    Public,
}

/// One privilege the account benefits from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Held {
    /// `SELECT`, `CREATE TEMPORARY TABLES`, `ALL PRIVILEGES`, `SYSTEM_VARIABLES_ADMIN`, …
    pub privilege: String,
    /// The column, for column-level grants (lower case).
    pub column: Option<String>,
    /// Where it applies.
    pub level: Level,
    /// Who holds it.
    pub holder: Holder,
    /// `WITH GRANT OPTION`: it can be handed on.
    pub grantable: bool,
}

/// A role the account can `SET ROLE` to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachedRole {
    /// The role.
    pub role: Principal,
    /// The chain of grants from the account to it (last is the role itself).
    pub path: Vec<String>,
    /// The last grant in the chain carries `WITH ADMIN OPTION`.
    pub admin: bool,
    /// Active as the account logs in (its default role, or reached from it).
    pub active: bool,
}

/// A `GRANT PROXY` the account benefits from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The account that can be impersonated (`''@'%'` is any account).
    pub proxied: Principal,
    /// Who holds it.
    pub holder: Holder,
    /// `WITH GRANT OPTION`.
    pub grantable: bool,
}

/// One concrete privilege a need asks for, resolved against the binding's database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeedItem {
    /// The privilege.
    pub privilege: String,
    /// Where (a literal database name, never a pattern).
    pub level: Level,
    /// The column, for column-level needs (lower case).
    pub column: Option<String>,
    /// The need as written.
    pub from: String,
}

/// Whether the account holds a need item as it logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedState {
    /// Granted.
    Granted,
    /// Not granted.
    Missing,
    /// Granted only through a role that is not active at login: sessions must `SET ROLE` it.
    InactiveRole(Principal),
    /// Granted, but the table (or column) does not exist.
    NoObject,
    /// Not checkable; the text says why.
    Unknown(String),
}

/// Everything read about the account.
#[derive(Debug, Clone, Default)]
pub struct Posture {
    /// `CURRENT_USER()`: the account the server matched.
    pub user: Option<Principal>,
    /// `DATABASE()`: the binding's database, if it names one.
    pub database: Option<String>,
    /// `VERSION()`.
    pub server_version: String,
    /// The roles active at login (`CURRENT_ROLE()`).
    pub active_roles: Vec<Principal>,
    /// Every role the account can `SET ROLE` to.
    pub roles: Vec<ReachedRole>,
    /// Privileges benefiting the account (its own, its roles', PUBLIC's).
    pub held: Vec<Held>,
    /// `GRANT PROXY` lines.
    pub proxies: Vec<Proxy>,
    /// The account's `REQUIRE` clause (`SSL`, `X509`, …), if `SHOW GRANTS` shows one.
    pub require: Option<String>,
    /// MySQL partial revokes (`REVOKE … ON db.* FROM …`), which attache does not subtract.
    pub partial_revokes: Vec<String>,
    /// Each need item and whether it is held.
    pub needs: Vec<(NeedItem, NeedState)>,
    /// What could not be read, and why.
    pub unknown: Vec<String>,
}

impl Posture {
    /// The account's name for messages (`app@%`).
    pub fn user_name(&self) -> String {
        self.user
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "(unknown)".into())
    }

    /// The account as a grantee in statements (`'app'@'%'`).
    pub fn user_sql(&self) -> String {
        self.user
            .as_ref()
            .map(Principal::sql)
            .unwrap_or_else(|| "<account>".into())
    }

    fn role(&self, p: &Principal) -> Option<&ReachedRole> {
        self.roles.iter().find(|r| &r.role == p)
    }

    /// Whether a holder's privileges apply to a session as it logs in.
    pub fn is_active(&self, holder: &Holder) -> bool {
        match holder {
            Holder::Account | Holder::Public => true,
            Holder::Role(r) => self.role(r).is_some_and(|r| r.active),
        }
    }

    /// How the account holds something, in core's words.
    pub fn via(&self, holder: &Holder) -> Via {
        match holder {
            Holder::Account => Via::Directly,
            Holder::Public => Via::Public,
            Holder::Role(r) => Via::Role {
                name: r.to_string(),
                through: self
                    .role(r)
                    .map(|reached| reached.path.clone())
                    .unwrap_or_default(),
            },
        }
    }

    /// How the account holds something: `directly`, `via PUBLIC`, `via role r (through a → r)`.
    pub fn how(&self, holder: &Holder) -> String {
        self.via(holder).to_string()
    }

    /// The grantee to revoke from: the account, the role, or PUBLIC.
    pub fn revoke_from(&self, holder: &Holder) -> String {
        match holder {
            Holder::Account => self.user_sql(),
            Holder::Public => "PUBLIC".into(),
            Holder::Role(r) => r.sql(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SHOW GRANTS, parsed.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Ident(String),
    Str(String),
    Punct(char),
}

fn lex(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '`' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('`') if chars.peek() == Some(&'`') => {
                        chars.next();
                        s.push('`');
                    }
                    Some('`') => break,
                    Some(c) => s.push(c),
                    None => return Err("an unterminated `quoted` name".into()),
                }
            }
            out.push(Tok::Ident(s));
        } else if c == '\'' || c == '"' {
            let q = c;
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\\') => s.extend(chars.next()),
                    Some(c) if c == q && chars.peek() == Some(&q) => {
                        chars.next();
                        s.push(q);
                    }
                    Some(c) if c == q => break,
                    Some(c) => s.push(c),
                    None => return Err("an unterminated string".into()),
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '$' {
                    s.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(s));
        } else {
            chars.next();
            out.push(Tok::Punct(c));
        }
    }
    Ok(out)
}

/// A grantee in a `SHOW GRANTS` line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grantee {
    Principal(Principal),
    Public,
}

/// One `SHOW GRANTS` line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GrantLine {
    Privileges {
        privileges: Vec<(String, Option<Vec<String>>)>,
        level: Level,
        grantee: Grantee,
        grantable: bool,
        require: Option<String>,
    },
    Roles {
        roles: Vec<Principal>,
        grantee: Grantee,
        admin: bool,
    },
    Proxy {
        proxied: Principal,
        grantee: Grantee,
        grantable: bool,
    },
    DefaultRole,
    PartialRevoke(String),
}

struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_punct(&mut self, p: char) -> bool {
        if self.peek() == Some(&Tok::Punct(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_word(&mut self, w: &str) -> Result<(), String> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(format!("expected {w}"))
        }
    }
    /// A name: `` `quoted` ``, `'string'` or a bare word.
    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(s) | Tok::Str(s) | Tok::Word(s)) => Ok(s),
            _ => Err("expected a name".into()),
        }
    }
    fn principal(&mut self) -> Result<Principal, String> {
        let name = self.name()?;
        let host = if self.eat_punct('@') {
            Some(self.name()?)
        } else {
            None
        };
        Ok(Principal { name, host })
    }
    fn grantee(&mut self) -> Result<Grantee, String> {
        if self.is_word("PUBLIC") {
            self.pos += 1;
            return Ok(Grantee::Public);
        }
        self.principal().map(Grantee::Principal)
    }
    /// Whether a bare word `w` comes before the bare word `until`.
    fn word_before(&self, w: &str, until: &str) -> bool {
        for t in &self.toks[self.pos..] {
            if let Tok::Word(x) = t {
                if x.eq_ignore_ascii_case(until) {
                    return false;
                }
                if x.eq_ignore_ascii_case(w) {
                    return true;
                }
            }
        }
        false
    }
}

/// Parses one line of `SHOW GRANTS`. Errors never quote the line (it may hold a password hash).
fn parse_grant_line(line: &str) -> Result<GrantLine, String> {
    let mut c = Cursor {
        toks: lex(line)?,
        pos: 0,
    };
    if c.eat_word("SET") {
        return if c.eat_word("DEFAULT") && c.eat_word("ROLE") {
            Ok(GrantLine::DefaultRole)
        } else {
            Err("a SET line other than SET DEFAULT ROLE".into())
        };
    }
    let revoke = if c.eat_word("REVOKE") {
        true
    } else {
        c.expect_word("GRANT")?;
        false
    };
    let recipient = if revoke { "FROM" } else { "TO" };
    if !revoke && !c.word_before("ON", "TO") {
        // GRANT role[, role] TO grantee [WITH ADMIN OPTION]
        let mut roles = vec![c.principal()?];
        while c.eat_punct(',') {
            roles.push(c.principal()?);
        }
        c.expect_word("TO")?;
        let grantee = c.grantee()?;
        let admin = c.eat_word("WITH") && c.eat_word("ADMIN") && c.eat_word("OPTION");
        return Ok(GrantLine::Roles {
            roles,
            grantee,
            admin,
        });
    }
    if !revoke && c.is_word("PROXY") && c.word_before("ON", "TO") {
        c.pos += 1;
        c.expect_word("ON")?;
        let proxied = c.principal()?;
        c.expect_word("TO")?;
        let grantee = c.grantee()?;
        let grantable = trailing(&mut c).0;
        return Ok(GrantLine::Proxy {
            proxied,
            grantee,
            grantable,
        });
    }

    let mut privileges = Vec::new();
    loop {
        let mut words = Vec::new();
        while let Some(Tok::Word(w)) = c.peek() {
            if w.eq_ignore_ascii_case("ON") {
                break;
            }
            words.push(w.to_ascii_uppercase());
            c.pos += 1;
        }
        if words.is_empty() {
            return Err("expected a privilege".into());
        }
        let columns = if c.eat_punct('(') {
            let mut cols = vec![c.name()?.to_lowercase()];
            while c.eat_punct(',') {
                cols.push(c.name()?.to_lowercase());
            }
            if !c.eat_punct(')') {
                return Err("unclosed column list".into());
            }
            Some(cols)
        } else {
            None
        };
        privileges.push((words.join(" "), columns));
        if !c.eat_punct(',') {
            break;
        }
    }
    c.expect_word("ON")?;
    let kind = if c.eat_word("TABLE") {
        None
    } else if c.eat_word("PROCEDURE") {
        Some("PROCEDURE".to_owned())
    } else if c.eat_word("FUNCTION") {
        Some("FUNCTION".to_owned())
    } else if c.eat_word("PACKAGE") {
        Some(if c.eat_word("BODY") {
            "PACKAGE BODY".to_owned()
        } else {
            "PACKAGE".to_owned()
        })
    } else {
        None
    };
    let first = if c.eat_punct('*') {
        None
    } else {
        Some(c.name()?)
    };
    let level = if c.eat_punct('.') {
        let second = if c.eat_punct('*') {
            None
        } else {
            Some(c.name()?)
        };
        match (first, second, kind) {
            (None, None, None) => Level::Global,
            (Some(d), None, None) => Level::Database(d),
            (Some(d), Some(t), None) => Level::Table {
                database: d,
                table: t,
            },
            (Some(d), Some(n), Some(kind)) => Level::Routine {
                kind,
                database: d,
                name: n,
            },
            _ => return Err("an unexpected privilege level".into()),
        }
    } else {
        return Err("a privilege level without a database".into());
    };
    c.expect_word(recipient)?;
    let grantee = c.grantee()?;
    if revoke {
        let privs: Vec<&str> = privileges.iter().map(|(p, _)| p.as_str()).collect();
        return Ok(GrantLine::PartialRevoke(format!(
            "{} on {level}",
            privs.join(", ")
        )));
    }
    let (grantable, require) = trailing(&mut c);
    Ok(GrantLine::Privileges {
        privileges,
        level,
        grantee,
        grantable,
        require,
    })
}

/// Reads what follows the grantee: `IDENTIFIED …` (skipped, it holds the password hash),
/// `REQUIRE …`, `WITH GRANT OPTION` / resource limits. Returns (grant option, require).
fn trailing(c: &mut Cursor) -> (bool, Option<String>) {
    let (mut grantable, mut require) = (false, None);
    while let Some(t) = c.next() {
        let Tok::Word(w) = t else { continue };
        if w.eq_ignore_ascii_case("REQUIRE") {
            if let Some(Tok::Word(what)) = c.peek() {
                require = Some(what.to_ascii_uppercase());
            }
        } else if w.eq_ignore_ascii_case("GRANT") && c.is_word("OPTION") {
            grantable = true;
        }
    }
    (grantable, require)
}

/// MySQL's `LIKE` for database names in grants: `%` any run, `_` any one character, `\`
/// escapes the next.
pub fn like_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                s.first() == Some(&rest[0]) && go(&rest[1..], &s[1..])
            }
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// A database pattern that names exactly one database: that name.
pub fn literal_database(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' | '_' => return None,
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Whether `held` (at its level) covers privilege `privilege` at `item` level and column.
pub fn covers(held: &Held, privilege: &str, level: &Level, column: Option<&str>) -> bool {
    let privilege_ok = held.privilege == privilege
        || (held.privilege == "ALL PRIVILEGES" && held.level.all_privileges().contains(&privilege));
    if !privilege_ok {
        return false;
    }
    let column_ok = match (&held.column, column) {
        (None, _) => true,
        (Some(h), Some(c)) => h.eq_ignore_ascii_case(c),
        (Some(_), None) => false,
    };
    if !column_ok {
        return false;
    }
    match (&held.level, level) {
        (Level::Global, _) => true,
        (Level::Database(p), other) => other.database().is_some_and(|d| like_match(p, d)),
        (a, b) => levels_equal(a, b),
    }
}

fn levels_equal(a: &Level, b: &Level) -> bool {
    match (a, b) {
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
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading it through the connection.

fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} (error {})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Parses `CURRENT_ROLE()`: MariaDB's `r`, MySQL's `` `r`@`%`,`s`@`%` `` or `NONE`.
fn parse_current_role(s: Option<String>) -> Vec<Principal> {
    let Some(s) = s.filter(|s| !s.is_empty() && s != "NONE") else {
        return Vec::new();
    };
    if !s.contains('`') {
        return vec![Principal {
            name: s,
            host: None,
        }];
    }
    let Ok(toks) = lex(&s) else {
        return Vec::new();
    };
    let mut c = Cursor { toks, pos: 0 };
    let mut out = Vec::new();
    while let Ok(p) = c.principal() {
        out.push(p);
        if !c.eat_punct(',') {
            break;
        }
    }
    out
}

/// What the account holds and can become, before the needs are weighed.
#[derive(Default)]
struct Collected {
    held: BTreeMap<(String, Option<String>, Level, Holder), bool>,
    edges: BTreeSet<(Holder, Principal, bool)>,
    proxies: Vec<Proxy>,
}

impl Collected {
    fn holder(user: &Principal, grantee: &Grantee) -> Holder {
        match grantee {
            Grantee::Public => Holder::Public,
            Grantee::Principal(p) if p == user => Holder::Account,
            Grantee::Principal(p) => Holder::Role(p.clone()),
        }
    }

    fn add(&mut self, p: &mut Posture, user: &Principal, line: GrantLine, force: Option<&Holder>) {
        match line {
            GrantLine::Privileges {
                privileges,
                level,
                grantee,
                grantable,
                require,
            } => {
                let holder = force
                    .cloned()
                    .unwrap_or_else(|| Collected::holder(user, &grantee));
                if holder == Holder::Account && require.is_some() {
                    p.require = require;
                }
                for (privilege, columns) in privileges {
                    if privilege == "USAGE" {
                        continue;
                    }
                    let cols: Vec<Option<String>> = match columns {
                        Some(cols) => cols.into_iter().map(Some).collect(),
                        None => vec![None],
                    };
                    for column in cols {
                        let key = (privilege.clone(), column, level.clone(), holder.clone());
                        *self.held.entry(key).or_default() |= grantable;
                    }
                }
            }
            GrantLine::Roles {
                roles,
                grantee,
                admin,
            } => {
                let member = Collected::holder(user, &grantee);
                for r in roles {
                    self.edges.insert((member.clone(), r, admin));
                }
            }
            GrantLine::Proxy {
                proxied,
                grantee,
                grantable,
            } => {
                let holder = Collected::holder(user, &grantee);
                if !self
                    .proxies
                    .iter()
                    .any(|x| x.proxied == proxied && x.holder == holder)
                {
                    self.proxies.push(Proxy {
                        proxied,
                        holder,
                        grantable,
                    });
                }
            }
            GrantLine::DefaultRole => {}
            GrantLine::PartialRevoke(text) => {
                if !p.partial_revokes.contains(&text) {
                    p.partial_revokes.push(text);
                }
            }
        }
    }

    fn add_lines(
        &mut self,
        p: &mut Posture,
        user: &Principal,
        lines: &[String],
        what: &str,
        force: Option<&Holder>,
    ) {
        for (i, line) in lines.iter().enumerate() {
            match parse_grant_line(line) {
                Ok(parsed) => self.add(p, user, parsed, force),
                Err(e) => p.unknown.push(format!(
                    "line {} of {what}, which attache cannot read ({e})",
                    i + 1
                )),
            }
        }
    }

    /// Every role reachable from the account, with the shortest chain to it.
    fn reach(&self, active_roots: &[Principal]) -> Vec<ReachedRole> {
        let mut out: Vec<ReachedRole> = Vec::new();
        let mut queue: Vec<(Principal, Vec<String>, bool)> = self
            .edges
            .iter()
            .filter(|(m, _, _)| *m == Holder::Account)
            .map(|(_, r, admin)| (r.clone(), vec![r.to_string()], *admin))
            .collect();
        while !queue.is_empty() {
            let mut next = Vec::new();
            for (role, path, admin) in queue {
                if let Some(seen) = out.iter_mut().find(|r| r.role == role) {
                    seen.admin |= admin && seen.path.len() == path.len();
                    continue;
                }
                for (member, r, a) in &self.edges {
                    if *member == Holder::Role(role.clone()) && path.len() < 16 {
                        let mut p = path.clone();
                        p.push(r.to_string());
                        next.push((r.clone(), p, *a));
                    }
                }
                out.push(ReachedRole {
                    role,
                    path,
                    admin,
                    active: false,
                });
            }
            queue = next;
        }
        // Active: the login roles and everything reachable from them.
        let mut active: BTreeSet<Principal> = active_roots.iter().cloned().collect();
        loop {
            let before = active.len();
            for (member, r, _) in &self.edges {
                if let Holder::Role(m) = member
                    && active.contains(m)
                {
                    active.insert(r.clone());
                }
            }
            if active.len() == before {
                break;
            }
        }
        for r in &mut out {
            r.active = active.contains(&r.role);
        }
        out.sort_by(|a, b| a.role.cmp(&b.role));
        out
    }
}

async fn show_grants(conn: &mut Conn, sql: &str) -> Result<Vec<String>, mysql_async::Error> {
    conn.query::<String, _>(sql).await
}

/// Reads the posture. Never fails: what cannot be read lands in [`Posture::unknown`].
pub async fn inspect(conn: &mut Conn, needs: &[Need]) -> Posture {
    let mut p = Posture::default();
    type Identity = (String, Option<String>, String, Option<String>);
    let identity: Result<Option<Identity>, _> = conn
        .query_first("SELECT CURRENT_USER(), DATABASE(), VERSION(), CURRENT_ROLE()")
        .await;
    let identity = match identity {
        Ok(row) => row,
        // MySQL 5.7 has no CURRENT_ROLE() (and no roles).
        Err(mysql_async::Error::Server(_)) => conn
            .query_first::<(String, Option<String>, String), _>(
                "SELECT CURRENT_USER(), DATABASE(), VERSION()",
            )
            .await
            .ok()
            .flatten()
            .map(|(u, d, v)| (u, d, v, None)),
        Err(e) => {
            p.unknown.push(format!(
                "who the account is (CURRENT_USER()): {}",
                describe(&e)
            ));
            return p;
        }
    };
    let Some((user, database, version, current_role)) = identity else {
        p.unknown
            .push("who the account is (CURRENT_USER() returned nothing)".into());
        return p;
    };
    let user = Principal::from_current_user(&user);
    p.user = Some(user.clone());
    p.database = database;
    p.server_version = version;
    p.active_roles = parse_current_role(current_role);
    let mariadb = p.server_version.contains("MariaDB");

    let own = match show_grants(conn, "SHOW GRANTS").await {
        Ok(lines) => lines,
        Err(e) => {
            p.unknown
                .push(format!("its own grants (SHOW GRANTS): {}", describe(&e)));
            return p;
        }
    };
    let mut c = Collected::default();
    c.add_lines(&mut p, &user, &own, "SHOW GRANTS", None);

    // Roles granted to the account but not active now: read each one's grants.
    let reached_now = c.reach(&p.active_roles);
    let pending: Vec<Principal> = c
        .edges
        .iter()
        .filter(|(m, _, _)| *m == Holder::Account)
        .map(|(_, r, _)| r.clone())
        .filter(|r| !reached_now.iter().any(|x| &x.role == r && x.active))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if mariadb {
        for role in &pending {
            let what = format!("SHOW GRANTS with role {role} set");
            if let Err(e) = conn
                .query_drop(format!("SET ROLE {}", quote(&role.name)))
                .await
            {
                p.unknown.push(format!(
                    "the privileges of role {role} (SET ROLE): {}",
                    describe(&e)
                ));
                continue;
            }
            match show_grants(conn, "SHOW GRANTS").await {
                Ok(lines) => {
                    // Only the role's lines are new: the account's and PUBLIC's were read.
                    let role_lines: Vec<String> =
                        lines.into_iter().filter(|l| !own.contains(l)).collect();
                    c.add_lines(&mut p, &user, &role_lines, &what, None);
                }
                Err(e) => p
                    .unknown
                    .push(format!("the privileges of role {role}: {}", describe(&e))),
            }
        }
        if !pending.is_empty() {
            let restore = match p.active_roles.first() {
                Some(r) => format!("SET ROLE {}", quote(&r.name)),
                None => "SET ROLE NONE".to_owned(),
            };
            let _ = conn.query_drop(restore).await;
        }
    } else {
        // MySQL 8: the account's grants merged with the role's; what is new is the role's.
        let mut seen: BTreeSet<(String, Option<String>, Level)> = c
            .held
            .keys()
            .map(|(pr, col, lvl, _)| (pr.clone(), col.clone(), lvl.clone()))
            .collect();
        for role in &pending {
            let sql = format!("SHOW GRANTS FOR CURRENT_USER() USING {}", role.sql());
            match show_grants(conn, &sql).await {
                Ok(lines) => {
                    let mut extra = Collected::default();
                    let holder = Holder::Role(role.clone());
                    extra.add_lines(&mut p, &user, &lines, &sql, Some(&holder));
                    for ((pr, col, lvl, h), g) in extra.held {
                        if seen.insert((pr.clone(), col.clone(), lvl.clone())) {
                            c.held.insert((pr, col, lvl, h), g);
                        }
                    }
                    c.edges.extend(extra.edges);
                }
                Err(e) => p
                    .unknown
                    .push(format!("the privileges of role {role}: {}", describe(&e))),
            }
        }
    }

    p.roles = c.reach(&p.active_roles);
    p.held = c
        .held
        .into_iter()
        .map(|((privilege, column, level, holder), grantable)| Held {
            privilege,
            column,
            level,
            holder,
            grantable,
        })
        .collect();
    p.proxies = c.proxies;

    for item in expand(needs, p.database.as_deref()) {
        let state = match item {
            Err((item, why)) => (item, NeedState::Unknown(why)),
            Ok(item) => {
                let state = state_of(&p, &item);
                let state = if state == NeedState::Granted {
                    match exists(conn, &item).await {
                        Ok(true) => NeedState::Granted,
                        Ok(false) => NeedState::NoObject,
                        Err(e) => NeedState::Unknown(describe(&e)),
                    }
                } else {
                    state
                };
                (item, state)
            }
        };
        p.needs.push(state);
    }
    p
}

/// Concrete need items; a need without a database when the binding has none is unknown.
pub fn expand(needs: &[Need], database: Option<&str>) -> Vec<Result<NeedItem, (NeedItem, String)>> {
    let mut out = Vec::new();
    for need in needs {
        let from = need.to_string();
        let db = |d: &Option<String>| d.clone().or_else(|| database.map(str::to_owned));
        let (level, resolved) = match &need.target {
            Target::Global => (Level::Global, true),
            Target::Database { database: d } => {
                let r = db(d);
                (Level::Database(r.clone().unwrap_or_default()), r.is_some())
            }
            Target::Table { database: d, table } => {
                let r = db(d);
                (
                    Level::Table {
                        database: r.clone().unwrap_or_default(),
                        table: table.clone(),
                    },
                    r.is_some(),
                )
            }
            Target::Routine {
                kind,
                database: d,
                name,
            } => {
                let r = db(d);
                (
                    Level::Routine {
                        kind: kind.keyword().to_owned(),
                        database: r.clone().unwrap_or_default(),
                        name: name.clone(),
                    },
                    r.is_some(),
                )
            }
        };
        for privilege in &need.privileges {
            let columns: Vec<Option<String>> = match &privilege.columns {
                Some(cols) => cols.iter().cloned().map(Some).collect(),
                None => vec![None],
            };
            for column in columns {
                let item = NeedItem {
                    privilege: privilege.name.clone(),
                    level: level.clone(),
                    column,
                    from: from.clone(),
                };
                out.push(if resolved {
                    Ok(item)
                } else {
                    Err((
                        item,
                        "the need names no database and the binding has none".to_owned(),
                    ))
                });
            }
        }
    }
    out
}

/// Whether the grants give a need item to a session as it logs in.
pub fn state_of(p: &Posture, item: &NeedItem) -> NeedState {
    let mut inactive = None;
    for h in &p.held {
        if covers(h, &item.privilege, &item.level, item.column.as_deref()) {
            if p.is_active(&h.holder) {
                return NeedState::Granted;
            }
            if let Holder::Role(r) = &h.holder {
                inactive.get_or_insert_with(|| r.clone());
            }
        }
    }
    match inactive {
        Some(r) => NeedState::InactiveRole(r),
        None => NeedState::Missing,
    }
}

/// Whether the table (and column) a granted need item names exists. Other levels: true.
async fn exists(conn: &mut Conn, item: &NeedItem) -> Result<bool, mysql_async::Error> {
    let Level::Table { database, table } = &item.level else {
        return Ok(true);
    };
    let row: Option<u8> = match &item.column {
        Some(col) => {
            conn.exec_first(
                "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                (database, table, col),
            )
            .await?
        }
        None => {
            conn.exec_first(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (database, table),
            )
            .await?
        }
    };
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn me() -> Principal {
        Principal::from_current_user("u1@%")
    }

    #[test]
    fn parses_mariadb_lines() {
        let l = parse_grant_line("GRANT USAGE ON *.* TO `u1`@`%` IDENTIFIED BY PASSWORD '*2B152726742E2D3D51A59AD9DE3C884415B5DB9E' REQUIRE SSL").unwrap();
        assert_eq!(
            l,
            GrantLine::Privileges {
                privileges: vec![("USAGE".into(), None)],
                level: Level::Global,
                grantee: Grantee::Principal(me()),
                grantable: false,
                require: Some("SSL".into()),
            }
        );
        let l = parse_grant_line(
            "GRANT SELECT (`email`, `id`), UPDATE (`email`) ON `appdb`.`users` TO `u1`@`%`",
        )
        .unwrap();
        let GrantLine::Privileges {
            privileges, level, ..
        } = l
        else {
            panic!()
        };
        assert_eq!(
            privileges,
            vec![
                (
                    "SELECT".into(),
                    Some(vec!["email".to_owned(), "id".to_owned()])
                ),
                ("UPDATE".into(), Some(vec!["email".to_owned()]))
            ]
        );
        assert_eq!(
            level,
            Level::Table {
                database: "appdb".into(),
                table: "users".into()
            }
        );
        let l =
            parse_grant_line("GRANT SELECT ON `app\\_%`.* TO `u2`@`%` WITH GRANT OPTION").unwrap();
        let GrantLine::Privileges {
            level, grantable, ..
        } = l
        else {
            panic!()
        };
        assert_eq!(level, Level::Database("app\\_%".into()));
        assert!(grantable);
        assert_eq!(
            parse_grant_line("GRANT `r1` TO `u2`@`%` WITH ADMIN OPTION").unwrap(),
            GrantLine::Roles {
                roles: vec![Principal {
                    name: "r1".into(),
                    host: None
                }],
                grantee: Grantee::Principal(Principal::from_current_user("u2@%")),
                admin: true
            }
        );
        assert!(matches!(
            parse_grant_line("GRANT `r2` TO `r1`").unwrap(),
            GrantLine::Roles {
                grantee: Grantee::Principal(Principal { host: None, .. }),
                admin: false,
                ..
            }
        ));
        assert!(matches!(
            parse_grant_line("GRANT SELECT ON `appdb`.`users` TO PUBLIC").unwrap(),
            GrantLine::Privileges {
                grantee: Grantee::Public,
                ..
            }
        ));
        assert_eq!(
            parse_grant_line("SET DEFAULT ROLE `r1` FOR `u2`@`%`").unwrap(),
            GrantLine::DefaultRole
        );
        let l = parse_grant_line(
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION",
        )
        .unwrap();
        assert!(
            matches!(l, GrantLine::Privileges { ref privileges, level: Level::Global, grantable: true, .. } if privileges[0].0 == "ALL PRIVILEGES")
        );
        assert!(matches!(
            parse_grant_line("GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION")
                .unwrap(),
            GrantLine::Proxy {
                grantable: true,
                ..
            }
        ));
        let l = parse_grant_line("GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `db`.`p` TO `u1`@`%`")
            .unwrap();
        assert!(matches!(
            l,
            GrantLine::Privileges {
                level: Level::Routine { .. },
                ..
            }
        ));
    }

    #[test]
    fn parses_mysql8_lines() {
        let l = parse_grant_line("GRANT BACKUP_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `u1`@`%`")
            .unwrap();
        let GrantLine::Privileges { privileges, .. } = l else {
            panic!()
        };
        assert_eq!(privileges[1].0, "SYSTEM_VARIABLES_ADMIN");
        assert!(matches!(
            parse_grant_line("GRANT `r1`@`%`,`r2`@`%` TO `u1`@`%`").unwrap(),
            GrantLine::Roles { ref roles, .. } if roles.len() == 2 && roles[0].host.as_deref() == Some("%")
        ));
        assert_eq!(
            parse_grant_line("REVOKE INSERT ON `mysql`.* FROM `u1`@`%`").unwrap(),
            GrantLine::PartialRevoke("INSERT on mysql.*".into())
        );
        assert_eq!(
            parse_current_role(Some("`r1`@`%`,`r2`@`%`".into())).len(),
            2
        );
        assert!(parse_current_role(Some("NONE".into())).is_empty());
        assert_eq!(
            parse_current_role(Some("r1".into())),
            vec![Principal {
                name: "r1".into(),
                host: None
            }]
        );
    }

    #[test]
    fn unreadable_lines_never_quote_the_hash() {
        for line in [
            "GRANT USAGE ON *.* TO `u1`@`%` IDENTIFIED BY PASSWORD '*PLANTEDHASH",
            "GRANT ON *.* TO x",
            "HELLO '*PLANTEDHASH'",
            "GRANT SELECT ON x TO `u`",
            "GRANT SELECT (a ON `d`.`t` TO `u`",
            "",
            "GRANT",
            "GRANT `r",
            "SET PASSWORD '*PLANTEDHASH'",
        ] {
            let e = parse_grant_line(line).unwrap_err();
            assert!(!e.contains("PLANTED"), "{e}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like_match("app\\_%", "app_db"));
        assert!(!like_match("app\\_%", "appXdb"));
        assert!(like_match("app_db", "appXdb"));
        assert!(like_match("%", "mysql"));
        assert!(!like_match("appdb", "appdb2"));
        assert_eq!(literal_database("app\\_db").as_deref(), Some("app_db"));
        assert_eq!(literal_database("app_db"), None);
        assert_eq!(literal_database("a%"), None);
    }

    fn held(privilege: &str, level: Level, column: Option<&str>, holder: Holder) -> Held {
        Held {
            privilege: privilege.into(),
            column: column.map(Into::into),
            level,
            holder,
            grantable: false,
        }
    }

    fn table(d: &str, t: &str) -> Level {
        Level::Table {
            database: d.into(),
            table: t.into(),
        }
    }

    #[test]
    fn coverage_by_level_column_and_role() {
        let item = NeedItem {
            privilege: "INSERT".into(),
            level: table("appdb", "signups"),
            column: None,
            from: "INSERT ON signups".into(),
        };
        let mut p = Posture {
            user: Some(me()),
            ..Default::default()
        };
        assert_eq!(state_of(&p, &item), NeedState::Missing);
        p.held = vec![held(
            "INSERT",
            Level::Database("app%".into()),
            None,
            Holder::Account,
        )];
        assert_eq!(state_of(&p, &item), NeedState::Granted);
        p.held = vec![held(
            "INSERT",
            table("appdb", "signups"),
            Some("email"),
            Holder::Account,
        )];
        assert_eq!(
            state_of(&p, &item),
            NeedState::Missing,
            "a column grant is less"
        );
        p.held = vec![held("ALL PRIVILEGES", Level::Global, None, Holder::Public)];
        assert_eq!(state_of(&p, &item), NeedState::Granted);
        let r = Principal {
            name: "r1".into(),
            host: None,
        };
        p.roles = vec![ReachedRole {
            role: r.clone(),
            path: vec!["r1".into()],
            admin: false,
            active: false,
        }];
        p.held = vec![held(
            "INSERT",
            table("appdb", "signups"),
            None,
            Holder::Role(r.clone()),
        )];
        assert_eq!(state_of(&p, &item), NeedState::InactiveRole(r.clone()));
        p.roles[0].active = true;
        assert_eq!(state_of(&p, &item), NeedState::Granted);
    }

    #[test]
    fn roles_reached_with_paths_and_activity() {
        let mut c = Collected::default();
        let mut p = Posture::default();
        let user = me();
        for line in [
            "GRANT `r1` TO `u1`@`%`",
            "GRANT `r3` TO `u1`@`%` WITH ADMIN OPTION",
            "GRANT `r2` TO `r1`",
            "GRANT FILE ON *.* TO `r2`",
        ] {
            c.add(&mut p, &user, parse_grant_line(line).unwrap(), None);
        }
        let r1 = Principal {
            name: "r1".into(),
            host: None,
        };
        let reached = c.reach(std::slice::from_ref(&r1));
        let names: Vec<_> = reached
            .iter()
            .map(|r| (r.role.name.as_str(), r.path.join(">"), r.admin, r.active))
            .collect();
        assert_eq!(
            names,
            vec![
                ("r1", "r1".to_owned(), false, true),
                ("r2", "r1>r2".to_owned(), false, true),
                ("r3", "r3".to_owned(), true, false)
            ]
        );
        assert!(c.held.keys().any(|(pr, _, _, h)| pr == "FILE"
            && *h
                == Holder::Role(Principal {
                    name: "r2".into(),
                    host: None
                })));
    }

    #[test]
    fn needs_expand_against_the_binding_database() {
        let needs = [
            crate::needs::Need::from_str("SELECT, INSERT ON signups").unwrap(),
            crate::needs::Need::from_str("SELECT (id, email) ON other.users").unwrap(),
        ];
        let items = expand(&needs, Some("appdb"));
        assert_eq!(items.len(), 4);
        assert!(items.iter().all(Result::is_ok));
        let Ok(first) = &items[0] else { panic!() };
        assert_eq!(first.level, table("appdb", "signups"));
        let items = expand(&needs, None);
        assert!(items[0].is_err());
        assert!(items[2].is_ok(), "qualified needs need no binding database");
    }

    #[test]
    fn odd_lines_never_panic() {
        for line in [
            "GRANT",
            "GRANT ,",
            "GRANT SELECT (",
            "GRANT SELECT () ON",
            "GRANT SELECT ON *",
            "GRANT SELECT ON *.",
            "GRANT SELECT ON *.* TO",
            "GRANT SELECT ON *.* TO `u`@",
            "GRANT ` TO x",
            "GRANT 'x",
            "REVOKE",
            "SET",
            "GRANT PROXY ON TO",
            "GRANT \u{0} ON \u{0}",
            "ΓRANT ÖN ü.ä TO ß",
        ] {
            let _ = parse_grant_line(line);
        }
    }
}
