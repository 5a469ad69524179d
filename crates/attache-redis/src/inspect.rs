//! Reading the account's privileges through the account itself, without side effects.
//!
//! First `ACL GETUSER <me>`: where the account may read its own rules, they are the whole truth
//! and [`checks`](crate::checks) judges them word by word. A least-privileged account usually
//! may not (`NOPERM`): Redis cannot let an account read only its own rules, and `ACL GETUSER`
//! reads every user's, password hashes included.
//!
//! Then, where the rules stay hidden, probes: commands chosen so that running them changes
//! nothing, whether the ACL lets them through or not. Redis checks the ACL after the argument
//! count and before the command runs, and checks the command before its keys and channels, so:
//!
//! - a probe whose arguments the command itself rejects (`FLUSHALL NOTANOPTION` answers
//!   `ERR syntax error` when allowed, `NOPERM` when denied, and flushes nothing);
//! - a probe on a key that does not exist (a fresh random name) with a command that does
//!   nothing to a missing key (`GET`, `SET … XX`, `EXPIRE`, `DEL`): `NOPERM … run the 'x'
//!   command` says the command is denied, `NOPERM … access one of the keys` says the command is
//!   allowed and the key is not;
//! - `PUBLISH` to a fresh random channel, only when a need names PUBLISH: `NOPERM … channels`
//!   when the account's channels are restricted; if they are not, an empty message went to a
//!   channel no one has ever used (only a catch-all `PSUBSCRIBE *` client sees it). The needed
//!   channels themselves are never published to: that would reach their subscribers.
//!
//! Every probe was checked against Redis 7.0.15, allowed and denied (see `tests/redis.rs`,
//! `probes_change_nothing`). What no probe can show is said as unknown, never guessed:
//! commands outside the probe list (SHUTDOWN, REPLICAOF, DEBUG, MODULE, KEYS, … have no safe
//! probe), categories, and the needed channels. Each refused probe leaves an entry in the
//! server's `ACL LOG`, which is how an operator can see what attache tried.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::connect::{RedisConn, server_message};
use crate::needs::{
    Catalog, CommandRule, CommandSet, CommandSpec, KeyPattern, Need, Word, example, glob_match,
    parse_word, split_words,
};

/// Commands, keys and channels granted together: the account's root rules, or one selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    /// Command words, in order.
    pub commands: Vec<CommandRule>,
    /// Key patterns.
    pub keys: Vec<KeyPattern>,
    /// Channel patterns.
    pub channels: Vec<String>,
}

/// What `ACL GETUSER` said about the account (never its password hashes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclRules {
    /// `on`, `nopass`, `skip-sanitize-payload`, …
    pub flags: Vec<String>,
    /// The root rules.
    pub root: PermissionSet,
    /// Redis 7 selectors: further sets, each granting its commands on its keys.
    pub selectors: Vec<PermissionSet>,
    /// Words attache could not read.
    pub unreadable: Vec<String>,
}

impl AclRules {
    /// The root and every selector.
    pub fn sets(&self) -> impl Iterator<Item = &PermissionSet> {
        std::iter::once(&self.root).chain(self.selectors.iter())
    }
}

/// What a probe learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The command got past the ACL (it ran, or failed on its own arguments).
    Ran,
    /// `NOPERM`: the command (or subcommand) is denied.
    CommandDenied,
    /// `NOPERM`: the command is allowed, the key is not.
    KeyDenied,
    /// `NOPERM`: the command is allowed, the channel is not.
    ChannelDenied,
    /// The answer says nothing about the ACL (why).
    Unknown(String),
}

impl Answer {
    /// Whether the command itself is allowed (`None`: not known).
    pub fn command_allowed(&self) -> Option<bool> {
        match self {
            Answer::Ran | Answer::KeyDenied | Answer::ChannelDenied => Some(true),
            Answer::CommandDenied => Some(false),
            Answer::Unknown(_) => None,
        }
    }
}

/// Why a probe was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Whether a need is granted.
    Need,
    /// Whether a dangerous or destructive command beyond the needs is granted.
    Excess,
    /// Whether keys beyond the needs' patterns are reachable.
    WideKeys,
    /// Whether channels beyond the needs' patterns are reachable.
    WideChannels,
}

/// One probe and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The ACL entry probed (`flushall`, `config|set`).
    pub entry: String,
    /// The command as sent, with `<random>` for the random part (stable across runs).
    pub shown: String,
    /// Why.
    pub purpose: Purpose,
    /// What it learned.
    pub answer: Answer,
    /// The server's reply, shortened.
    pub reply: String,
}

/// One concrete thing a need asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeedItem {
    /// The need as written.
    pub from: String,
    /// What (`command get`, `key pattern ~session:*`, `channel &events`).
    pub what: String,
    /// The ACL words that grant it (`+get`, `~session:*`, `&events`).
    pub grant: String,
}

/// Whether the account holds a need item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedState {
    /// Granted.
    Granted,
    /// Not granted (the evidence).
    Missing(String),
    /// Not known (why).
    Unknown(String),
}

/// Everything read about the account.
#[derive(Debug, Clone, Default)]
pub struct Posture {
    /// The account's name (`ACL WHOAMI`, else the binding's user, else `default`).
    pub user: String,
    /// The database the binding selects.
    pub db: i64,
    /// The needs it was read against.
    pub asked: Vec<Need>,
    /// Its rules, or why they could not be read.
    pub rules: Option<AclRules>,
    /// Why `ACL GETUSER` did not answer, when it did not.
    pub rules_refused: Option<String>,
    /// Probes run (only when the rules could not be read).
    pub probes: Vec<Probe>,
    /// Each need item and whether it is held (from probes; empty when the rules were read).
    pub needs: Vec<(NeedItem, NeedState)>,
    /// What could not be read, and why.
    pub unknown: Vec<String>,
}

/// Reads the posture. Never fails: what cannot be read lands in [`Posture::unknown`].
pub async fn inspect(
    conn: &mut RedisConn,
    needs: &[Need],
    binding: &crate::RedisBinding,
) -> Posture {
    let mut p = Posture {
        user: match &conn.whoami {
            Ok(name) => name.clone(),
            Err(_) => binding.user_name().to_owned(),
        },
        db: binding.db.value,
        asked: needs.to_vec(),
        ..Posture::default()
    };
    let answer = redis::cmd("ACL")
        .arg("GETUSER")
        .arg(&p.user)
        .query_async::<Value>(conn.connection())
        .await;
    match answer
        .map_err(|e| server_message(&e))
        .and_then(|v| match v {
            Value::ServerError(e) => Err(format!("{} {}", e.code(), e.details().unwrap_or(""))),
            v => Ok(v),
        }) {
        Ok(Value::Nil) => p.rules_refused = Some(format!("ACL GETUSER {}: no such user", p.user)),
        Ok(v) => match read_getuser(&v) {
            Some(rules) => p.rules = Some(rules),
            None => p.rules_refused = Some("ACL GETUSER: a reply attache cannot read".into()),
        },
        Err(e) => p.rules_refused = Some(e),
    }
    if p.rules.is_none() {
        let (probes, items) = probe(conn.connection(), needs).await;
        p.probes = probes;
        p.needs = items;
    }
    p
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn pairs(v: &Value) -> Option<Vec<(String, &Value)>> {
    match v {
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|kv| Some((text(&kv[0])?, &kv[1])))
            .collect(),
        Value::Map(items) => items.iter().map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => None,
    }
}

/// The words of a `commands`/`keys`/`channels` field: Redis 7 gives one string, Redis 6 a list
/// of bare patterns (`prefix` is then put in front: `~`, `&`).
fn words_of(v: &Value, prefix: &str) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items
            .iter()
            .filter_map(text)
            .map(|w| {
                if prefix.is_empty() || w.starts_with(prefix) || w.starts_with('%') {
                    w
                } else {
                    format!("{prefix}{w}")
                }
            })
            .collect(),
        other => text(other).map(|t| split_words(&t)).unwrap_or_default(),
    }
}

fn read_set(fields: &[(String, &Value)], set: &mut PermissionSet, unreadable: &mut Vec<String>) {
    for (name, value) in fields {
        let prefix = match name.as_str() {
            "commands" => "",
            "keys" => "~",
            "channels" => "&",
            _ => continue,
        };
        for word in words_of(value, prefix) {
            match parse_word(&word) {
                Ok(Word::Command(rule)) => set.commands.push(rule),
                Ok(Word::Keys(k)) => set.keys.push(k),
                Ok(Word::Channel(c)) => set.channels.push(c),
                Ok(Word::ResetKeys) => set.keys.clear(),
                Ok(Word::ResetChannels) => set.channels.clear(),
                Ok(Word::Password) => {}
                Ok(_) | Err(_) => unreadable.push(word),
            }
        }
    }
}

/// Reads an `ACL GETUSER` reply (RESP2 list or RESP3 map; Redis 6 or 7 shapes). The
/// `passwords` field is skipped: its hashes are never kept.
pub fn read_getuser(v: &Value) -> Option<AclRules> {
    let fields = pairs(v)?;
    let mut rules = AclRules::default();
    for (name, value) in &fields {
        if name == "flags" {
            for flag in words_of(value, "") {
                match flag.as_str() {
                    // Redis 6 spelled these as flags.
                    "allkeys" => rules.root.keys.push(KeyPattern {
                        pattern: "*".into(),
                        read: true,
                        write: true,
                    }),
                    "allchannels" => rules.root.channels.push("*".into()),
                    "allcommands" => rules.root.commands.insert(
                        0,
                        CommandRule {
                            allow: true,
                            spec: CommandSpec::Category("all".into()),
                        },
                    ),
                    _ => rules.flags.push(flag),
                }
            }
        }
    }
    let mut unreadable = Vec::new();
    read_set(&fields, &mut rules.root, &mut unreadable);
    if let Some((_, selectors)) = fields.iter().find(|(n, _)| n == "selectors")
        && let Value::Array(items) = selectors
    {
        for item in items {
            let Some(sel) = pairs(item) else {
                unreadable.push("a selector".into());
                continue;
            };
            let mut set = PermissionSet::default();
            read_set(&sel, &mut set, &mut unreadable);
            rules.selectors.push(set);
        }
    }
    rules.unreadable = unreadable;
    Some(rules)
}

/// A random name part: 128 bits from the standard library's randomly keyed hasher, so that a
/// probe's key or channel has never been used.
fn random() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// What a probe's arguments stand for.
#[derive(Clone, Copy)]
enum Arg {
    /// Literal.
    Lit(&'static str),
    /// A key: inside a need's pattern (need probes) or outside all of them (the others).
    Key,
    /// A fresh random channel outside the needs' patterns.
    Channel,
    /// A fresh random name (`attache-probe-<random>`), for users and configuration parameters.
    Name,
}

use Arg::{Channel, Key, Lit, Name};

/// Probes for commands a need may name: each does nothing to a key that does not exist.
const NEED_PROBES: &[(&str, &[Arg])] = &[
    ("get", &[Lit("GET"), Key]),
    ("mget", &[Lit("MGET"), Key]),
    ("exists", &[Lit("EXISTS"), Key]),
    ("ttl", &[Lit("TTL"), Key]),
    ("pttl", &[Lit("PTTL"), Key]),
    ("type", &[Lit("TYPE"), Key]),
    ("strlen", &[Lit("STRLEN"), Key]),
    ("set", &[Lit("SET"), Key, Lit("attache-probe"), Lit("XX")]),
    ("expire", &[Lit("EXPIRE"), Key, Lit("60")]),
    ("pexpire", &[Lit("PEXPIRE"), Key, Lit("60000")]),
    ("persist", &[Lit("PERSIST"), Key]),
    ("del", &[Lit("DEL"), Key]),
    ("unlink", &[Lit("UNLINK"), Key]),
    ("getdel", &[Lit("GETDEL"), Key]),
    ("hget", &[Lit("HGET"), Key, Lit("attache-probe")]),
    ("hgetall", &[Lit("HGETALL"), Key]),
    ("hexists", &[Lit("HEXISTS"), Key, Lit("attache-probe")]),
    ("hlen", &[Lit("HLEN"), Key]),
    ("hdel", &[Lit("HDEL"), Key, Lit("attache-probe")]),
    ("llen", &[Lit("LLEN"), Key]),
    ("lrange", &[Lit("LRANGE"), Key, Lit("0"), Lit("0")]),
    ("lpushx", &[Lit("LPUSHX"), Key, Lit("attache-probe")]),
    ("rpushx", &[Lit("RPUSHX"), Key, Lit("attache-probe")]),
    ("scard", &[Lit("SCARD"), Key]),
    ("smembers", &[Lit("SMEMBERS"), Key]),
    ("sismember", &[Lit("SISMEMBER"), Key, Lit("attache-probe")]),
    ("srem", &[Lit("SREM"), Key, Lit("attache-probe")]),
    ("zcard", &[Lit("ZCARD"), Key]),
    ("zrange", &[Lit("ZRANGE"), Key, Lit("0"), Lit("0")]),
    ("zscore", &[Lit("ZSCORE"), Key, Lit("attache-probe")]),
    ("zrem", &[Lit("ZREM"), Key, Lit("attache-probe")]),
    ("ping", &[Lit("PING")]),
    ("publish", &[Lit("PUBLISH"), Channel, Lit("")]),
];

/// Probes for dangerous or destructive commands: each fails on its own arguments, or touches
/// only a key that does not exist.
const EXCESS_PROBES: &[(&str, &[Arg])] = &[
    ("flushall", &[Lit("FLUSHALL"), Lit("NOTANOPTION")]),
    ("flushdb", &[Lit("FLUSHDB"), Lit("NOTANOPTION")]),
    ("config|set", &[Lit("CONFIG"), Lit("SET"), Name, Lit("x")]),
    ("config|get", &[Lit("CONFIG"), Lit("GET"), Name]),
    (
        "acl|setuser",
        &[Lit("ACL"), Lit("SETUSER"), Name, Lit("attache-not-a-rule")],
    ),
    ("acl|dryrun", &[Lit("ACL"), Lit("DRYRUN"), Name, Lit("get")]),
    (
        "swapdb",
        &[Lit("SWAPDB"), Lit("0"), Lit("attache-not-a-number")],
    ),
    (
        "client|kill",
        &[
            Lit("CLIENT"),
            Lit("KILL"),
            Lit("ID"),
            Lit("attache-not-a-number"),
        ],
    ),
    (
        "script|flush",
        &[Lit("SCRIPT"), Lit("FLUSH"), Lit("attache-not-an-option")],
    ),
    ("bgsave", &[Lit("BGSAVE"), Lit("attache-not-an-option")]),
    (
        "restore",
        &[Lit("RESTORE"), Key, Lit("0"), Lit("attache-not-a-payload")],
    ),
    ("del", &[Lit("DEL"), Key]),
    ("unlink", &[Lit("UNLINK"), Key]),
];

/// Dangerous commands no probe can test without risk (or that the server blocks before the
/// ACL check): what they allow stays unknown unless the rules can be read.
pub const NOT_PROBED: &[&str] = &[
    "shutdown",
    "replicaof",
    "slaveof",
    "failover",
    "debug",
    "module",
    "keys",
    "monitor",
    "save",
    "bgrewriteaof",
    "migrate",
    "sync",
    "psync",
    "cluster",
    "acl|deluser",
    "acl|load",
    "client|pause",
    "eval",
    "function",
];

/// The ACL entries of the probes (`flushall`, `config|set`, …), for documentation and tests.
pub fn probed_entries() -> impl Iterator<Item = &'static str> {
    NEED_PROBES
        .iter()
        .chain(EXCESS_PROBES.iter())
        .map(|(e, _)| *e)
}

fn classify(result: Result<Value, redis::RedisError>) -> (Answer, String) {
    let (code, detail) = match result {
        Ok(Value::ServerError(e)) => (e.code().to_owned(), e.details().unwrap_or("").to_owned()),
        Ok(v) => {
            let reply = match &v {
                Value::Nil => "(nil)".to_owned(),
                Value::Array(a) => format!("({} items)", a.len()),
                other => text(other).unwrap_or_else(|| "(reply)".into()),
            };
            return (Answer::Ran, reply);
        }
        Err(e) => match e.code() {
            Some(code) => (code.to_owned(), e.detail().unwrap_or("").to_owned()),
            None => return (Answer::Unknown(e.to_string()), e.to_string()),
        },
    };
    let reply: String = format!("{code} {detail}").chars().take(160).collect();
    let answer = match code.as_str() {
        "NOPERM" if detail.contains("to run the") => Answer::CommandDenied,
        "NOPERM" if detail.contains("one of the keys") => Answer::KeyDenied,
        "NOPERM" if detail.contains("one of the channels") => Answer::ChannelDenied,
        "ERR"
            if [
                "wrong number of arguments",
                "unknown command",
                "unknown subcommand",
                "not allowed",
            ]
            .iter()
            .any(|s| detail.contains(s)) =>
        {
            Answer::Unknown(format!("the server answered before its ACL check: {reply}"))
        }
        "ERR" | "WRONGTYPE" | "NOKEY" | "BUSYKEY" | "NOSCRIPT" => Answer::Ran,
        _ => Answer::Unknown(reply.clone()),
    };
    (answer, reply)
}

async fn run(
    conn: &mut MultiplexedConnection,
    entry: &str,
    args: &[Arg],
    key: (&str, &str),
    channel: (&str, &str),
    purpose: Purpose,
) -> Probe {
    let name = format!("attache-probe-{}", random());
    let mut cmd = redis::Cmd::new();
    let mut shown = Vec::new();
    for arg in args {
        let (wire, show) = match arg {
            Lit(s) => (s.to_string(), s.to_string()),
            Key => (key.0.to_owned(), key.1.to_owned()),
            Channel => (channel.0.to_owned(), channel.1.to_owned()),
            Name => (name.clone(), "attache-probe-<random>".to_owned()),
        };
        cmd.arg(wire);
        shown.push(if show.is_empty() {
            "\"\"".to_owned()
        } else {
            show
        });
    }
    let (answer, reply) = classify(cmd.query_async::<Value>(conn).await);
    Probe {
        entry: entry.to_owned(),
        shown: shown.join(" "),
        purpose,
        answer,
        reply,
    }
}

fn recipe(table: &'static [(&'static str, &'static [Arg])], entry: &str) -> Option<&'static [Arg]> {
    table.iter().find(|(e, _)| *e == entry).map(|(_, a)| *a)
}

/// Runs the probes for `needs`: every needed command that has a probe (on a fresh key inside
/// the need's pattern), the dangerous and destructive commands beyond the needs, and one probe
/// each for keys and channels beyond the needs' patterns. Returns the probes and, for each
/// need item, whether it is held. Public so that tests can run it against any account.
pub async fn probe(
    conn: &mut MultiplexedConnection,
    needs: &[Need],
) -> (Vec<Probe>, Vec<(NeedItem, NeedState)>) {
    let catalog = Catalog::get();
    let mut needed = CommandSet::default();
    for n in needs {
        needed.union(&CommandSet::from_rules(&n.commands));
    }
    let need_keys: Vec<&KeyPattern> = needs.iter().flat_map(|n| &n.keys).collect();
    let need_channels: Vec<&String> = needs.iter().flat_map(|n| &n.channels).collect();

    let r = random();
    let mut outside_key = format!("attache-probe:{r}");
    if need_keys
        .iter()
        .any(|k| glob_match(&k.pattern, &outside_key))
    {
        outside_key.clear();
    }
    let outside_shown = "attache-probe:<random>";
    let channel = format!("attache-probe:{r}");
    let channel_outside = !need_channels.iter().any(|c| glob_match(c, &channel));
    let channel_shown = "attache-probe:<random>";

    let mut probes = Vec::new();
    let mut items = Vec::new();

    for need in needs {
        let from = need.to_string();
        let mut key_states: Vec<(KeyPattern, Option<NeedState>)> =
            need.keys.iter().map(|k| (k.clone(), None)).collect();
        for rule in need.commands.iter().filter(|r| r.allow) {
            let entry = match &rule.spec {
                CommandSpec::Command(c) => c.clone(),
                CommandSpec::Subcommand(c, s) => format!("{c}|{s}"),
                CommandSpec::Category(_) => {
                    items.push((
                        NeedItem {
                            from: from.clone(),
                            what: format!("category {}", rule.spec),
                            grant: rule.to_string(),
                        },
                        NeedState::Unknown(
                            "a category cannot be probed without running its commands".into(),
                        ),
                    ));
                    continue;
                }
            };
            let item = NeedItem {
                from: from.clone(),
                what: format!("command {entry}"),
                grant: rule.to_string(),
            };
            let Some(args) = recipe(NEED_PROBES, &entry) else {
                items.push((
                    item,
                    NeedState::Unknown(format!(
                        "attache has no side-effect-free probe for {entry}"
                    )),
                ));
                continue;
            };
            // A key inside the need's pattern that fits the command (read or write).
            let write = catalog.is_write(&entry);
            let chosen = key_states
                .iter()
                .position(|(k, _)| if write { k.write } else { k.read })
                .or(if key_states.is_empty() { None } else { Some(0) });
            let fill = format!("attache-probe-{}", random());
            let (key, shown) = match chosen {
                Some(i) => match (
                    example(&key_states[i].0.pattern, &fill),
                    example(&key_states[i].0.pattern, "attache-probe-<random>"),
                ) {
                    (Some(k), Some(s)) => (k, s),
                    _ => {
                        items.push((
                            item,
                            NeedState::Unknown(format!(
                                "no key name matching {} could be made up to probe with",
                                key_states[i].0
                            )),
                        ));
                        continue;
                    }
                },
                None => (
                    format!("attache-probe:{}", random()),
                    outside_shown.to_owned(),
                ),
            };
            let p = run(
                conn,
                &entry,
                args,
                (&key, &shown),
                (&channel, channel_shown),
                Purpose::Need,
            )
            .await;
            let state = match &p.answer {
                Answer::CommandDenied => {
                    NeedState::Missing(format!("{} answered {}", p.shown, p.reply))
                }
                Answer::Unknown(why) => NeedState::Unknown(why.clone()),
                _ => NeedState::Granted,
            };
            if let Some(i) = chosen {
                match &p.answer {
                    Answer::Ran => key_states[i].1 = Some(NeedState::Granted),
                    Answer::KeyDenied if key_states[i].1.is_none() => {
                        key_states[i].1 = Some(NeedState::Missing(format!(
                            "{} answered {}",
                            p.shown, p.reply
                        )));
                    }
                    _ => {}
                }
            }
            items.push((item, state));
            probes.push(p);
        }
        for (k, state) in key_states {
            items.push((
                NeedItem {
                    from: from.clone(),
                    what: format!("key pattern {k}"),
                    grant: k.to_string(),
                },
                state.unwrap_or_else(|| {
                    NeedState::Unknown("no command of the need could probe it".into())
                }),
            ));
        }
        for c in &need.channels {
            let published_anywhere = probes
                .iter()
                .any(|p| p.entry == "publish" && p.answer == Answer::Ran && channel_outside);
            items.push((
                NeedItem {
                    from: from.clone(),
                    what: format!("channel &{c}"),
                    grant: format!("&{c}"),
                },
                if published_anywhere {
                    NeedState::Granted
                } else {
                    NeedState::Unknown(
                        "publishing to it to find out would reach its subscribers".into(),
                    )
                },
            ));
        }
    }

    // Dangerous and destructive commands beyond the needs.
    for (entry, args) in EXCESS_PROBES {
        if needed.allows(entry) {
            continue;
        }
        let key = if outside_key.is_empty() {
            format!("attache-probe:{}", random())
        } else {
            outside_key.clone()
        };
        probes.push(
            run(
                conn,
                entry,
                args,
                (&key, outside_shown),
                (&channel, channel_shown),
                Purpose::Excess,
            )
            .await,
        );
    }

    // Keys beyond the needs' patterns: a needed command (a reading one if possible) on a key
    // outside every pattern.
    if !outside_key.is_empty() {
        let mut candidates: Vec<&str> = NEED_PROBES
            .iter()
            .map(|(e, _)| *e)
            .filter(|e| needed.allows(e) && *e != "ping" && *e != "publish")
            .collect();
        candidates.sort_by_key(|e| catalog.is_write(e));
        if let Some(entry) = candidates.first()
            && let Some(args) = recipe(NEED_PROBES, entry)
            && probes
                .iter()
                .any(|p| p.entry == *entry && p.answer.command_allowed() == Some(true))
        {
            probes.push(
                run(
                    conn,
                    entry,
                    args,
                    (&outside_key, outside_shown),
                    (&channel, channel_shown),
                    Purpose::WideKeys,
                )
                .await,
            );
        }
    }
    // Channels beyond the needs': the need probe of PUBLISH already used a channel outside
    // every needed pattern; record it under this purpose too.
    if channel_outside
        && let Some(p) = probes
            .iter()
            .find(|p| p.entry == "publish" && p.purpose == Purpose::Need)
            .cloned()
    {
        probes.push(Probe {
            purpose: Purpose::WideChannels,
            ..p
        });
    }
    (probes, items)
}

/// The probes' entries that are allowed, by purpose.
pub fn allowed(probes: &[Probe], purpose: Purpose) -> BTreeSet<&str> {
    probes
        .iter()
        .filter(|p| p.purpose == purpose && p.answer.command_allowed() == Some(true))
        .map(|p| p.entry.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn getuser_of_redis_7_is_read_without_password_hashes() {
        let reply = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("passwords"),
            Value::Array(vec![bulk(
                "56f46206681fa4a0536cbb8edb56e8a5da55383160a8286682825764eda2f163",
            )]),
            bulk("commands"),
            bulk("-@all +set +publish +acl|getuser +get"),
            bulk("keys"),
            bulk("~session:* %R~cache:*"),
            bulk("channels"),
            bulk("&events"),
            bulk("selectors"),
            Value::Array(vec![Value::Array(vec![
                bulk("commands"),
                bulk("-@all +del"),
                bulk("keys"),
                bulk("~tmp:*"),
                bulk("channels"),
                bulk(""),
            ])]),
        ]);
        let rules = read_getuser(&reply).unwrap();
        assert_eq!(rules.flags, ["on"]);
        assert_eq!(rules.root.commands.len(), 5);
        assert_eq!(rules.root.keys.len(), 2);
        assert!(!rules.root.keys[1].write);
        assert_eq!(rules.root.channels, ["events"]);
        assert_eq!(rules.selectors.len(), 1);
        assert_eq!(rules.selectors[0].keys[0].pattern, "tmp:*");
        assert!(rules.unreadable.is_empty(), "{:?}", rules.unreadable);
        assert!(!format!("{rules:?}").contains("56f462"));
    }

    #[test]
    fn getuser_of_redis_6_is_read_too() {
        let reply = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![
                bulk("on"),
                bulk("allkeys"),
                bulk("allchannels"),
                bulk("allcommands"),
            ]),
            bulk("passwords"),
            Value::Array(vec![]),
            bulk("commands"),
            bulk("+@all"),
            bulk("keys"),
            Value::Array(vec![]),
            bulk("channels"),
            Value::Array(vec![bulk("news")]),
        ]);
        let rules = read_getuser(&reply).unwrap();
        assert_eq!(rules.flags, ["on"]);
        assert_eq!(rules.root.keys[0].pattern, "*");
        assert_eq!(rules.root.channels, ["*", "news"]);
        assert!(CommandSet::from_rules(&rules.root.commands).is_everything());
    }

    #[test]
    fn odd_replies_never_panic() {
        for v in [
            Value::Nil,
            Value::Int(3),
            Value::Array(vec![bulk("flags")]),
            Value::Array(vec![Value::Nil, Value::Nil]),
            Value::Array(vec![bulk("commands"), bulk("+@ü ++ (x")]),
            Value::Array(vec![bulk("selectors"), Value::Array(vec![Value::Int(1)])]),
        ] {
            let _ = read_getuser(&v);
        }
    }

    #[test]
    fn answers_are_classified_by_what_the_server_checked() {
        let err = |code: &str, detail: &str| {
            Err(redis::make_extension_error(
                code.to_owned(),
                Some(detail.to_owned()),
            ))
        };
        for (reply, answer) in [
            (
                err(
                    "NOPERM",
                    "this user has no permissions to run the 'flushall' command",
                ),
                Answer::CommandDenied,
            ),
            (
                err(
                    "NOPERM",
                    "this user has no permissions to access one of the keys used as arguments",
                ),
                Answer::KeyDenied,
            ),
            (
                err(
                    "NOPERM",
                    "this user has no permissions to access one of the channels used as arguments",
                ),
                Answer::ChannelDenied,
            ),
            (err("ERR", "syntax error"), Answer::Ran),
            (
                err(
                    "WRONGTYPE",
                    "Operation against a key holding the wrong kind of value",
                ),
                Answer::Ran,
            ),
            (Ok(Value::Nil), Answer::Ran),
            (Ok(Value::Okay), Answer::Ran),
        ] {
            assert_eq!(classify(reply).0, answer);
        }
        for reply in [
            err("ERR", "wrong number of arguments for 'flushall' command"),
            err(
                "ERR",
                "unknown command 'flushal', with args beginning with:",
            ),
            err(
                "ERR",
                "DEBUG command not allowed. If the enable-debug-command option is set",
            ),
            err("MOVED", "3999 127.0.0.1:6381"),
            err("LOADING", "Redis is loading the dataset in memory"),
        ] {
            assert!(matches!(classify(reply).0, Answer::Unknown(_)));
        }
    }
}
