//! Needs in RabbitMQ's permission words: a verb (`configure`, `write`, `read`), what it is on
//! (`queue`, `exchange`) and a name, or a topic permission on an exchange's routing keys.
//!
//! ```text
//! configure queue orders.work      declare or delete the queue
//! write exchange orders            publish to the exchange (or bind to it as destination)
//! read queue orders.work           consume from the queue (or bind it as source)
//! read topic orders key eu.*       bind to the topic exchange with binding key `eu.*`
//! write topic orders key eu.*      publish to the topic exchange with keys like `eu.fr`
//! ```
//!
//! RabbitMQ matches a permission's regular expression against the name alone, whatever the
//! resource's type; the type says which resource a probe looks at. The default exchange
//! (`""`) is checked as `amq.default`.

use std::fmt;
use std::str::FromStr;

/// One of RabbitMQ's three permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Declare and delete.
    Configure,
    /// Publish to, bind to (as destination).
    Write,
    /// Consume from, bind from (as source), purge.
    Read,
}

impl Verb {
    /// The word, as `set_permissions` orders them.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Configure => "configure",
            Verb::Write => "write",
            Verb::Read => "read",
        }
    }

    /// Every verb, in `set_permissions` order.
    pub const ALL: [Verb; 3] = [Verb::Configure, Verb::Write, Verb::Read];
}

/// What a resource need is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    /// A queue.
    Queue,
    /// An exchange.
    Exchange,
}

impl Object {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Queue => "queue",
            Object::Exchange => "exchange",
        }
    }
}

/// One need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A permission on a queue or an exchange.
    Resource {
        /// Which permission.
        verb: Verb,
        /// On a queue or an exchange.
        object: Object,
        /// Its name.
        name: String,
    },
    /// A topic permission: routing keys on a topic exchange.
    Topic {
        /// `Read` (binding keys) or `Write` (routing keys of published messages).
        verb: Verb,
        /// The topic exchange.
        exchange: String,
        /// The key, in AMQP's topic syntax (`*` one word, `#` any number of words).
        key: String,
    },
}

impl Need {
    /// Its verb.
    pub fn verb(&self) -> Verb {
        match self {
            Need::Resource { verb, .. } | Need::Topic { verb, .. } => *verb,
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Resource { verb, object, name } => {
                write!(f, "{} {} {name}", verb.as_str(), object.as_str())
            }
            Need::Topic {
                verb,
                exchange,
                key,
            } => write!(f, "{} topic {exchange} key {key}", verb.as_str()),
        }
    }
}

const EXPECTED: &str = "expected `<configure|write|read> <queue|exchange> <name>` or \
                        `<read|write> topic <exchange> key <routing key>`, e.g. \
                        \"write exchange orders\", \"read queue orders.work\"";

/// A name as RabbitMQ takes it: 1 to 255 bytes, no whitespace or control characters.
fn name(word: &str, what: &str) -> Result<String, String> {
    if word.is_empty() || word.len() > 255 {
        return Err(format!("{what} must be 1 to 255 bytes long"));
    }
    if word.chars().any(|c| c.is_control()) {
        return Err(format!("{what} holds a control character"));
    }
    Ok(word.to_owned())
}

impl FromStr for Need {
    type Err = String;

    fn from_str(s: &str) -> Result<Need, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let verb = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("configure") => Verb::Configure,
            Some("write") => Verb::Write,
            Some("read") => Verb::Read,
            Some(other) => return Err(format!("unknown permission `{other}`; {EXPECTED}")),
            None => return Err(format!("empty need; {EXPECTED}")),
        };
        match words.get(1).map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("topic") => {
                if verb == Verb::Configure {
                    return Err(format!(
                        "topic permissions are read or write, not configure; {EXPECTED}"
                    ));
                }
                let [_, _, exchange, key_word, key] = words[..] else {
                    return Err(format!(
                        "a topic need names an exchange and a key; {EXPECTED}"
                    ));
                };
                if !key_word.eq_ignore_ascii_case("key") {
                    return Err(format!("expected `key` after the exchange; {EXPECTED}"));
                }
                Ok(Need::Topic {
                    verb,
                    exchange: name(exchange, "an exchange name")?,
                    key: name(key, "a routing key")?,
                })
            }
            Some(word @ ("queue" | "exchange")) => {
                let [_, _, n] = words[..] else {
                    return Err(format!(
                        "a {word} need names exactly one {word} (names hold no spaces); {EXPECTED}"
                    ));
                };
                let object = if word == "queue" {
                    Object::Queue
                } else {
                    Object::Exchange
                };
                Ok(Need::Resource {
                    verb,
                    object,
                    name: name(n, &format!("a {word} name"))?,
                })
            }
            Some(other) => Err(format!(
                "unknown resource type `{other}` (queue, exchange or topic); {EXPECTED}"
            )),
            None => Err(format!("nothing after `{}`; {EXPECTED}", verb.as_str())),
        }
    }
}

/// `text` as a regular expression that matches it literally.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The anchored regular expression matching exactly `names` (`^$`, which matches nothing
/// RabbitMQ names, when there are none).
pub fn exactly(names: &[&str]) -> String {
    let mut names: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => "^$".to_owned(),
        1 => format!("^{}$", names[0]),
        _ => format!("^({})$", names.join("|")),
    }
}

/// The anchored regular expression for a topic need's keys: for `read`, the binding key
/// itself (the app binds with it literally); for `write`, every routing key the pattern
/// matches (`*` one word, `#` any number of words).
pub fn topic_regex(verb: Verb, key: &str) -> String {
    if verb == Verb::Read {
        return format!("^{}$", regex_escape(key));
    }
    let words: Vec<String> = key
        .split('.')
        .map(|w| match w {
            "*" => "[^.]+".to_owned(),
            "#" => ".*".to_owned(),
            w => regex_escape(w),
        })
        .collect();
    format!("^{}$", words.join("\\."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_testkit::unit;

    #[test]
    fn resource_needs_round_trip() {
        for text in [
            "configure queue orders.work",
            "write exchange orders",
            "read queue orders.work",
            "write exchange amq.default",
            "read topic orders key eu.*",
            "write topic orders key eu.#",
        ] {
            let need: Need = text.parse().unwrap();
            assert_eq!(need.to_string(), text);
        }
        let need: Need = "READ Queue jobs".parse().unwrap();
        assert_eq!(
            need,
            Need::Resource {
                verb: Verb::Read,
                object: Object::Queue,
                name: "jobs".into()
            }
        );
    }

    #[test]
    fn bad_needs_say_what_was_expected() {
        for (text, says) in [
            ("", "empty need"),
            ("publish exchange orders", "unknown permission `publish`"),
            ("write table orders", "unknown resource type `table`"),
            ("write exchange", "names exactly one exchange"),
            ("write exchange two names", "names exactly one exchange"),
            ("configure topic orders key a", "not configure"),
            ("read topic orders eu.*", "names an exchange and a key"),
            ("read topic orders with eu.*", "expected `key`"),
            ("read", "nothing after `read`"),
        ] {
            let err = text.parse::<Need>().unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        let long = format!("read queue {}", "q".repeat(256));
        assert!(long.parse::<Need>().unwrap_err().contains("255"));
        unit::assert_needs_refused::<crate::Amqp>(&[
            ("write exchange", "names exactly one"),
            ("delete queue q", "unknown permission"),
        ]);
        unit::assert_needs_never_panic::<crate::Amqp>(unit::ODD_NEEDS);
    }

    #[test]
    fn regexes_match_exactly_the_names() {
        assert_eq!(exactly(&[]), "^$");
        assert_eq!(exactly(&["orders"]), "^orders$");
        assert_eq!(
            exactly(&["orders.work", "orders", "orders"]),
            "^(orders|orders\\.work)$"
        );
        assert_eq!(regex_escape("a+b(c)"), "a\\+b\\(c\\)");
        assert_eq!(topic_regex(Verb::Read, "eu.*"), "^eu\\.\\*$");
        assert_eq!(topic_regex(Verb::Write, "eu.*"), "^eu\\.[^.]+$");
        assert_eq!(topic_regex(Verb::Write, "eu.#"), "^eu\\..*$");
    }
}
