//! Needs in the ACL's own words, and the ACL vocabulary the other modules share.
//!
//! A need is a list of `ACL SETUSER` words (`"+get +set +expire ~session:*"`,
//! `"+publish &events"`):
//!
//! - commands: `+get`, `+config|get` (a subcommand), `+@read` (a category), and `-…` to take
//!   back part of what an earlier word granted (`+@read -keys`);
//! - key patterns: `~session:*` (read and write), `%R~cache:*` (read only), `%W~log:*` (write
//!   only);
//! - channel patterns: `&events`.
//!
//! Patterns are Redis globs (`*`, `?`, `[…]`, `\`). Anything that is not about what the app does
//! (passwords, `on`/`off`, `reset…`, `allkeys`, selectors) has no place in a need and is refused
//! with a message that says why, never echoing a password.
//!
//! Redis grants keys and channels to an account, not to one command: every need's commands
//! reach every need's keys. The account attache judges against is the union of all needs.
//!
//! Which commands a category holds comes from [`Catalog`], the categories of Redis 7.0 as
//! `ACL CAT` lists them (`categories-7.0.txt`, compared with the test server by a test).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The command categories of Redis 7.0.15, as `ACL CAT <category>` lists them.
const CATEGORIES: &str = include_str!("categories-7.0.txt");

/// What a command word names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommandSpec {
    /// A command and all its subcommands: `get`, `config`.
    Command(String),
    /// One subcommand of a container command: `config|get`; or, for a command without
    /// subcommands, a first-argument rule (`select|0`, deprecated by Redis 7).
    Subcommand(String, String),
    /// A category: `read`, `dangerous`, `all`.
    Category(String),
}

impl fmt::Display for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandSpec::Command(c) => f.write_str(c),
            CommandSpec::Subcommand(c, s) => write!(f, "{c}|{s}"),
            CommandSpec::Category(c) => write!(f, "@{c}"),
        }
    }
}

/// `+spec` or `-spec`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandRule {
    /// `+` (grant) or `-` (take back).
    pub allow: bool,
    /// What is granted or taken back.
    pub spec: CommandSpec,
}

impl fmt::Display for CommandRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.allow { '+' } else { '-' }, self.spec)
    }
}

/// A key pattern and what it allows on matching keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPattern {
    /// The glob.
    pub pattern: String,
    /// Reading matching keys.
    pub read: bool,
    /// Writing matching keys.
    pub write: bool,
}

impl KeyPattern {
    /// Whether this pattern allows at least what `other` needs, ignoring the globs.
    pub fn access_covers(&self, other: &KeyPattern) -> bool {
        (self.read || !other.read) && (self.write || !other.write)
    }
}

impl fmt::Display for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.read, self.write) {
            (true, false) => write!(f, "%R~{}", self.pattern),
            (false, true) => write!(f, "%W~{}", self.pattern),
            _ => write!(f, "~{}", self.pattern),
        }
    }
}

/// One word of an ACL rule, as `ACL SETUSER` and `ACL GETUSER` use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// `+…` / `-…` (also `allcommands` = `+@all`, `nocommands` = `-@all`).
    Command(CommandRule),
    /// `~…`, `%R~…`, `%W~…`, `%RW~…` (also `allkeys` = `~*`).
    Keys(KeyPattern),
    /// `resetkeys`.
    ResetKeys,
    /// `&…` (also `allchannels` = `&*`).
    Channel(String),
    /// `resetchannels`.
    ResetChannels,
    /// `>…`, `<…`, `#…`, `!…`: a password or its hash. The value is not kept.
    Password,
    /// `on`, `off`, `nopass`, `resetpass`, `reset`, `skip-sanitize-payload`, `sanitize-payload`,
    /// `clearselectors`.
    Flag(String),
    /// `(…)`: a selector (Redis 7), kept as written.
    Selector(String),
}

/// Parses one ACL word. The error names the word unless it may be a password.
pub fn parse_word(word: &str) -> Result<Word, String> {
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "allcommands" => return Ok(command(true, CommandSpec::Category("all".into()))),
        "nocommands" => return Ok(command(false, CommandSpec::Category("all".into()))),
        "allkeys" => {
            return Ok(Word::Keys(KeyPattern {
                pattern: "*".into(),
                read: true,
                write: true,
            }));
        }
        "resetkeys" => return Ok(Word::ResetKeys),
        "allchannels" => return Ok(Word::Channel("*".into())),
        "resetchannels" => return Ok(Word::ResetChannels),
        "on"
        | "off"
        | "nopass"
        | "resetpass"
        | "reset"
        | "skip-sanitize-payload"
        | "sanitize-payload"
        | "clearselectors" => return Ok(Word::Flag(lower)),
        _ => {}
    }
    let mut chars = word.chars();
    match chars.next() {
        Some('>' | '<' | '#' | '!') => Ok(Word::Password),
        Some(sign @ ('+' | '-')) => {
            let rest = chars.as_str().to_ascii_lowercase();
            if let Some(category) = rest.strip_prefix('@') {
                if category.is_empty() || !category.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("`{word}`: expected a category name after `@`"));
                }
                return Ok(command(sign == '+', CommandSpec::Category(category.into())));
            }
            let valid = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            };
            let spec = match rest.split_once('|') {
                Some((name, sub)) if valid(name) && !sub.is_empty() && !sub.contains('|') => {
                    CommandSpec::Subcommand(name.into(), sub.into())
                }
                None if valid(&rest) => CommandSpec::Command(rest),
                _ => {
                    return Err(format!(
                        "`{word}`: expected a command (`{sign}get`), a subcommand \
                         (`{sign}config|get`) or a category (`{sign}@read`)"
                    ));
                }
            };
            Ok(command(sign == '+', spec))
        }
        Some('~') => key_pattern(word, chars.as_str(), true, true),
        Some('%') => {
            let rest = chars.as_str();
            let Some((perms, pattern)) = rest.split_once('~') else {
                return Err(format!(
                    "`{word}`: expected `%R~<pattern>`, `%W~<pattern>` or `%RW~<pattern>`"
                ));
            };
            let perms = perms.to_ascii_uppercase();
            if perms.is_empty() || !perms.chars().all(|c| c == 'R' || c == 'W') {
                return Err(format!(
                    "`{word}`: expected `%R~`, `%W~` or `%RW~` before the pattern"
                ));
            }
            key_pattern(word, pattern, perms.contains('R'), perms.contains('W'))
        }
        Some('&') => {
            let pattern = chars.as_str();
            if pattern.is_empty() {
                return Err("`&`: expected a channel pattern after `&`".into());
            }
            Ok(Word::Channel(pattern.into()))
        }
        Some('(') if word.ends_with(')') => Ok(Word::Selector(word.into())),
        _ => Err(format!(
            "`{word}`: not an ACL word; expected +command, +@category, ~keys or &channels"
        )),
    }
}

fn command(allow: bool, spec: CommandSpec) -> Word {
    Word::Command(CommandRule { allow, spec })
}

fn key_pattern(word: &str, pattern: &str, read: bool, write: bool) -> Result<Word, String> {
    if pattern.is_empty() {
        return Err(format!("`{word}`: expected a key pattern after `~`"));
    }
    Ok(Word::Keys(KeyPattern {
        pattern: pattern.into(),
        read,
        write,
    }))
}

/// Splits an ACL rule into words. Redis separates them with spaces; a selector `( … )` is one
/// word with spaces inside.
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' if current.is_empty() || depth > 0 => {
                depth += 1;
                current.push(c);
            }
            ')' if depth > 0 => {
                depth -= 1;
                current.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A parsed need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    /// Command words, in order.
    pub commands: Vec<CommandRule>,
    /// Key patterns.
    pub keys: Vec<KeyPattern>,
    /// Channel patterns.
    pub channels: Vec<String>,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .commands
            .iter()
            .map(ToString::to_string)
            .chain(self.keys.iter().map(ToString::to_string))
            .chain(self.channels.iter().map(|c| format!("&{c}")))
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// A need parsed from the manifest. The error says what was expected.
impl FromStr for Need {
    type Err = String;

    fn from_str(text: &str) -> Result<Need, String> {
        let catalog = Catalog::get();
        let mut need = Need {
            commands: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        };
        let words = split_words(text);
        if words.is_empty() {
            return Err(
                "empty need; expected ACL words such as \"+get +set ~session:*\" or \"+publish &events\""
                    .into(),
            );
        }
        for word in &words {
            match parse_word(word)? {
                Word::Command(rule) => {
                    catalog
                        .check(&rule.spec)
                        .map_err(|e| format!("`{word}`: {e}"))?;
                    need.commands.push(rule);
                }
                Word::Keys(k) => {
                    if !need.keys.contains(&k) {
                        need.keys.push(k);
                    }
                }
                Word::Channel(c) => {
                    if !need.channels.contains(&c) {
                        need.channels.push(c);
                    }
                }
                Word::Password => {
                    return Err(
                        "a password rule (`>…`, `#…`) has no place in a need: needs are committed \
                         with the app; the password comes from the binding"
                            .into(),
                    );
                }
                Word::ResetKeys | Word::ResetChannels | Word::Flag(_) => {
                    return Err(format!(
                        "`{word}`: a need says what the app does (+commands, ~keys, &channels); \
                         account settings such as on/off/reset come from `attache grants`"
                    ));
                }
                Word::Selector(_) => {
                    return Err(format!(
                        "`{word}`: selectors are not supported in needs; write the words without `( )`"
                    ));
                }
            }
        }
        if !need.commands.iter().any(|r| r.allow) {
            return Err(format!(
                "`{text}`: a need grants at least one command (`+get`) or category (`+@read`)"
            ));
        }
        Ok(need)
    }
}

/// Redis's commands and categories (7.0), for expanding categories and knowing subcommands.
#[derive(Debug)]
pub struct Catalog {
    categories: BTreeMap<String, BTreeSet<String>>,
    entries: BTreeSet<String>,
}

impl Catalog {
    /// The catalog of Redis 7.0.
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::parse(CATEGORIES))
    }

    fn parse(text: &str) -> Catalog {
        let mut categories = BTreeMap::new();
        let mut entries = BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((category, commands)) = line.split_once(':') {
                let commands: BTreeSet<String> =
                    commands.split_whitespace().map(str::to_owned).collect();
                entries.extend(commands.iter().cloned());
                categories.insert(category.trim().to_owned(), commands);
            }
        }
        Catalog {
            categories,
            entries,
        }
    }

    /// The category names.
    pub fn category_names(&self) -> impl Iterator<Item = &str> {
        self.categories.keys().map(String::as_str)
    }

    /// The commands (and subcommands) in `category`, or `None` for an unknown category.
    pub fn category(&self, category: &str) -> Option<&BTreeSet<String>> {
        self.categories.get(category)
    }

    /// Every command and subcommand the catalog knows.
    pub fn entries(&self) -> &BTreeSet<String> {
        &self.entries
    }

    /// Whether `command` has subcommands (`config`, `acl`, `client`, …).
    pub fn is_container(&self, command: &str) -> bool {
        let prefix = format!("{command}|");
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|e| e.starts_with(&prefix))
    }

    /// Whether `entry` (`flushall`, `config|set`) is in `@dangerous` or `@admin`.
    pub fn is_dangerous(&self, entry: &str) -> bool {
        ["dangerous", "admin"]
            .iter()
            .any(|c| self.categories.get(*c).is_some_and(|s| s.contains(entry)))
    }

    /// Whether `entry` writes keys (`@write`), for choosing a read or a write key pattern.
    pub fn is_write(&self, entry: &str) -> bool {
        self.categories
            .get("write")
            .is_some_and(|s| s.contains(entry))
    }

    /// Checks a command word against the catalog: unknown categories, commands and subcommands
    /// are errors (module commands, which hold a `.`, are accepted).
    pub fn check(&self, spec: &CommandSpec) -> Result<(), String> {
        match spec {
            CommandSpec::Category(c) if c == "all" || self.categories.contains_key(c) => Ok(()),
            CommandSpec::Category(_) => Err(format!(
                "unknown category; Redis 7.0 has @all, @{}",
                self.category_names().collect::<Vec<_>>().join(", @")
            )),
            CommandSpec::Command(c) if self.entries.contains(c) || c.contains('.') => Ok(()),
            CommandSpec::Command(_) => Err(
                "not a Redis 7.0 command (module commands such as `json.get` are accepted)".into(),
            ),
            CommandSpec::Subcommand(c, s) => {
                if self.entries.contains(&format!("{c}|{s}")) {
                    Ok(())
                } else if self.is_container(c) {
                    Err(format!("`{c}` has no subcommand `{s}` in Redis 7.0"))
                } else {
                    Err("first-argument rules are deprecated in Redis 7; name the command".into())
                }
            }
        }
    }

    /// What a command word reaches: `None` means everything (`@all`); an unknown category
    /// expands to nothing (the caller reports it).
    pub fn expand(&self, spec: &CommandSpec) -> Option<BTreeSet<String>> {
        match spec {
            CommandSpec::Category(c) if c == "all" => None,
            CommandSpec::Category(c) => Some(self.categories.get(c).cloned().unwrap_or_default()),
            CommandSpec::Command(c) => {
                let prefix = format!("{c}|");
                let mut set: BTreeSet<String> = self
                    .entries
                    .range(prefix.clone()..)
                    .take_while(|e| e.starts_with(&prefix))
                    .cloned()
                    .collect();
                set.insert(c.clone());
                // Subcommands a newer server has and the catalog does not.
                set.insert(format!("{c}|*"));
                Some(set)
            }
            CommandSpec::Subcommand(c, s) => Some(BTreeSet::from([format!("{c}|{s}")])),
        }
    }
}

/// The commands a sequence of command rules allows, evaluated as Redis does: in order, each
/// `+` adding and each `-` taking away, `+@all`/`-@all` starting over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSet {
    all: bool,
    plus: BTreeSet<String>,
    minus: BTreeSet<String>,
    /// Words whose reach the catalog does not know (unknown categories).
    pub unknown: Vec<String>,
}

impl CommandSet {
    /// Evaluates rules from nothing allowed.
    pub fn from_rules<'a>(rules: impl IntoIterator<Item = &'a CommandRule>) -> CommandSet {
        let mut set = CommandSet::default();
        for rule in rules {
            set.apply(rule);
        }
        set
    }

    /// Applies one rule.
    pub fn apply(&mut self, rule: &CommandRule) {
        let catalog = Catalog::get();
        if let CommandSpec::Category(c) = &rule.spec
            && c != "all"
            && catalog.category(c).is_none()
        {
            self.unknown.push(rule.to_string());
        }
        match catalog.expand(&rule.spec) {
            None => {
                self.all = rule.allow;
                self.plus.clear();
                self.minus.clear();
            }
            Some(entries) if rule.allow => {
                for e in entries {
                    self.minus.remove(&e);
                    self.plus.insert(e);
                }
            }
            Some(entries) => {
                for e in entries {
                    self.plus.remove(&e);
                    self.minus.insert(e);
                }
            }
        }
    }

    /// Adds everything `other` allows.
    pub fn union(&mut self, other: &CommandSet) {
        if other.all {
            let keep: BTreeSet<String> = if self.all {
                self.minus.intersection(&other.minus).cloned().collect()
            } else {
                other
                    .minus
                    .iter()
                    .filter(|e| !self.plus.contains(*e))
                    .cloned()
                    .collect()
            };
            self.all = true;
            self.minus = keep;
            self.plus.extend(other.plus.iter().cloned());
        } else {
            for e in &other.plus {
                self.minus.remove(e);
                self.plus.insert(e.clone());
            }
        }
        self.unknown.extend(other.unknown.iter().cloned());
    }

    /// Whether `entry` (`get`, `config|set`) is allowed.
    pub fn allows(&self, entry: &str) -> bool {
        let parent_wild = entry
            .split_once('|')
            .map(|(parent, _)| format!("{parent}|*"));
        let granted = |set: &BTreeSet<String>| {
            set.contains(entry) || parent_wild.as_ref().is_some_and(|w| set.contains(w))
        };
        if self.plus.contains(entry) {
            return true;
        }
        if self.minus.contains(entry) {
            return false;
        }
        granted(&self.plus) || (self.all && !granted(&self.minus))
    }

    /// Whether every command is allowed, with nothing taken back (`+@all`).
    pub fn is_everything(&self) -> bool {
        self.all && self.minus.is_empty()
    }

    /// Whether the set started from `+@all` (possibly with exceptions).
    pub fn starts_from_all(&self) -> bool {
        self.all
    }

    /// The runnable commands allowed, as far as the catalog knows them (container commands
    /// themselves and the `cmd|*` markers left out).
    pub fn entries(&self) -> BTreeSet<String> {
        let catalog = Catalog::get();
        let runnable = |e: &String| !e.ends_with("|*") && !catalog.is_container(e);
        let mut out: BTreeSet<String> = if self.all {
            catalog
                .entries()
                .iter()
                .filter(|e| self.allows(e))
                .cloned()
                .collect()
        } else {
            BTreeSet::new()
        };
        out.extend(self.plus.iter().filter(|e| runnable(e)).cloned());
        out.retain(runnable);
        out
    }
}

/// Whether `text` matches the Redis glob `pattern` (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), as
/// Redis's `stringmatchlen` does.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = text.chars().collect();
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => {
                    let (matched, next) = class_match(&p, pi, s[si]);
                    if matched {
                        pi = next;
                        si += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == s[si] {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[si] {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the class starting at `p[start] == '['`; returns whether it matched and
/// the index after the class.
fn class_match(p: &[char], start: usize, c: char) -> (bool, usize) {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != ']' {
        if p[i] == '\\' && i + 1 < p.len() {
            matched |= p[i + 1] == c;
            i += 2;
        } else if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let (a, b) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
            matched |= (a..=b).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    // Redis treats a class left open at the end of the pattern as closed there.
    (matched != negate, (i + 1).min(p.len()))
}

/// Whether `pattern` has glob characters.
pub fn has_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// A key (or channel) name that `pattern` matches, with `fill` standing in for each `*`.
/// `None` when no simple example exists (a negated or empty class).
pub fn example(pattern: &str, fill: &str) -> Option<String> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                out.push_str(fill);
                i += 1;
            }
            '?' => {
                out.push('x');
                i += 1;
            }
            '\\' if i + 1 < p.len() => {
                out.push(p[i + 1]);
                i += 2;
            }
            '[' => {
                let first = p.get(i + 1).copied();
                match first {
                    Some('^') | Some(']') | None => return None,
                    Some('\\') => out.push(*p.get(i + 2)?),
                    Some(c) => out.push(c),
                }
                let (_, next) = class_match(&p, i, '\u{0}');
                i = next;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    glob_match(pattern, &out).then_some(out)
}

/// Whether every name `inner` matches is also matched by `outer`, as far as can be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Provably covered.
    Yes,
    /// Provably not: this name matches `inner` and not `outer`.
    No(String),
    /// Neither could be shown.
    Unknown,
}

/// Whether the patterns in `outers` together cover `inner`.
pub fn covers<'a>(outers: impl IntoIterator<Item = &'a str>, inner: &str) -> Coverage {
    let outers: Vec<&str> = outers.into_iter().collect();
    let literal_prefix = |p: &str| -> String {
        p.chars()
            .take_while(|c| !matches!(c, '*' | '?' | '[' | '\\'))
            .collect()
    };
    for outer in &outers {
        if *outer == inner || *outer == "*" {
            return Coverage::Yes;
        }
        if !has_glob(inner) && glob_match(outer, inner) {
            return Coverage::Yes;
        }
        // `prefix*` covers everything whose literal prefix starts with `prefix`.
        if let Some(prefix) = outer.strip_suffix('*')
            && !has_glob(prefix)
            && literal_prefix(inner).starts_with(prefix)
        {
            return Coverage::Yes;
        }
    }
    match example(inner, "attache-witness") {
        Some(witness) if !outers.iter().any(|o| glob_match(o, &witness)) => Coverage::No(witness),
        _ => Coverage::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_parse_and_print_back() {
        let n = Need::from_str("+get +SET +expire ~session:*").unwrap();
        assert_eq!(n.to_string(), "+get +set +expire ~session:*");
        let n = Need::from_str("+publish &events").unwrap();
        assert_eq!(n.channels, ["events"]);
        let n = Need::from_str("+@read -keys %R~cache:* %W~log:* +config|get").unwrap();
        assert_eq!(
            n.to_string(),
            "+@read -keys +config|get %R~cache:* %W~log:*"
        );
        assert!(
            Need::from_str("+json.get ~doc:*").is_ok(),
            "module commands"
        );
    }

    #[test]
    fn bad_needs_say_what_was_expected() {
        attache_testkit::unit::assert_needs_refused::<crate::Redis>(&[
            ("", "empty need"),
            ("~session:*", "at least one command"),
            ("-flushall", "at least one command"),
            ("+gte", "not a Redis 7.0 command"),
            ("+@reads", "unknown category"),
            ("+config|gte", "no subcommand"),
            ("+select|0", "first-argument"),
            ("+get on", "account settings"),
            ("+get resetkeys", "account settings"),
            ("+get (+set ~x)", "selectors"),
            ("get", "not an ACL word"),
            ("+get ~", "key pattern"),
            ("+get %X~a", "%R~"),
            ("+publish &", "channel pattern"),
        ]);
        // allkeys is `~*`: accepted, the app really asks for every key.
        assert!(Need::from_str("allkeys +get").is_ok());
    }

    #[test]
    fn passwords_in_needs_are_refused_and_never_echoed() {
        for text in [
            "+get >planted-1",
            "+get #planted-1",
            "+get <planted-1",
            "+get !planted-1",
        ] {
            let e = Need::from_str(text).unwrap_err();
            assert!(!e.contains("planted"), "{e}");
            assert!(e.contains("password"), "{e}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        attache_testkit::unit::assert_needs_never_panic::<crate::Redis>(&[
            "+",
            "-",
            "+@",
            "+|",
            "+a|",
            "+|b",
            "+a|b|c",
            "%",
            "%~",
            "%RW",
            "&",
            "~",
            "(",
            ")",
            "((",
            "+ü",
            "+@ü",
            "~ü",
            "%R~[",
            "+get ~[",
            "+get ~\\",
            "\u{0}",
            "+get\u{0}",
        ]);
    }

    #[test]
    fn the_catalog_knows_categories_and_subcommands() {
        let c = Catalog::get();
        assert!(c.category("dangerous").unwrap().contains("flushall"));
        assert!(c.is_dangerous("config|set"));
        assert!(!c.is_dangerous("get"));
        assert!(c.is_container("config"));
        assert!(!c.is_container("get"));
        assert!(c.is_write("set") && !c.is_write("get"));
        assert!(c.entries().len() > 300);
    }

    #[test]
    fn command_sets_follow_redis_order() {
        let rules = |t: &str| -> Vec<CommandRule> {
            split_words(t)
                .iter()
                .map(|w| match parse_word(w).unwrap() {
                    Word::Command(r) => r,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let s = CommandSet::from_rules(&rules("-@all +get +config|get"));
        assert!(s.allows("get") && s.allows("config|get"));
        assert!(!s.allows("set") && !s.allows("config|set"));
        assert_eq!(
            s.entries(),
            BTreeSet::from(["get".to_owned(), "config|get".to_owned()])
        );
        let s = CommandSet::from_rules(&rules("+@all -@dangerous"));
        assert!(s.allows("get") && !s.allows("flushall") && !s.is_everything());
        assert!(s.allows("some-future-command"));
        let s = CommandSet::from_rules(&rules("+@all"));
        assert!(s.is_everything());
        let s = CommandSet::from_rules(&rules("+config -config|set"));
        assert!(s.allows("config|get") && !s.allows("config|set"));
        assert!(
            s.allows("config|newsub"),
            "a container grants future subcommands"
        );
        let s = CommandSet::from_rules(&rules("+@read -get"));
        assert!(s.allows("mget") && !s.allows("get"));

        let mut u = CommandSet::from_rules(&rules("+get"));
        u.union(&CommandSet::from_rules(&rules("+set")));
        assert!(u.allows("get") && u.allows("set") && !u.allows("del"));
    }

    #[test]
    fn globs_match_as_redis_does() {
        for (p, s, m) in [
            ("session:*", "session:abc", true),
            ("session:*", "sessions", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a[bc]d", "acd", true),
            ("a[^bc]d", "acd", false),
            ("a[a-c]d", "abd", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*:*:x", "a:b:x", true),
            ("[", "[", false),
        ] {
            assert_eq!(glob_match(p, s), m, "{p} ~ {s}");
        }
    }

    #[test]
    fn coverage_is_proven_or_said_unknown() {
        assert_eq!(covers(["*"], "session:*"), Coverage::Yes);
        assert_eq!(covers(["session:*"], "session:*"), Coverage::Yes);
        assert_eq!(covers(["session:*"], "session:user:*"), Coverage::Yes);
        assert_eq!(covers(["session:*"], "session:42"), Coverage::Yes);
        assert_eq!(
            covers(["session:*"], "*"),
            Coverage::No("attache-witness".into())
        );
        assert!(matches!(covers(["a*", "b*"], "c*"), Coverage::No(_)));
        assert_eq!(covers(["*a*"], "x*a"), Coverage::Unknown);
        assert_eq!(example("user:[0-9]?:*", "r").as_deref(), Some("user:0x:r"));
        assert_eq!(example("a[^b]", "r"), None);
    }
}
