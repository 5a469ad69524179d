//! Needs in NATS's permission words: `publish <subject>` or `subscribe <subject> [queue
//! <group>]`, subjects with NATS's wildcards (`*` one token, `>` one or more at the end).
//!
//! ```text
//! publish orders.>                  publish on every subject under orders.
//! subscribe replies.*               subscribe to replies.<one token>
//! subscribe work.* queue workers    subscribe as a member of the queue group `workers`
//! ```
//!
//! [`covers`] and [`overlaps`] compare subjects as the server does, for judging the exact
//! allow and deny lists `$SYS.REQ.USER.INFO` returns.

use std::fmt;
use std::str::FromStr;

/// Publish or subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Publish on the subject.
    Publish,
    /// Subscribe to the subject.
    Subscribe,
}

impl Verb {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Publish => "publish",
            Verb::Subscribe => "subscribe",
        }
    }
}

/// One need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Publish or subscribe.
    pub verb: Verb,
    /// The subject, wildcards allowed.
    pub subject: String,
    /// The queue group, for a subscription that joins one.
    pub queue: Option<String>,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb.as_str(), self.subject)?;
        if let Some(q) = &self.queue {
            write!(f, " queue {q}")?;
        }
        Ok(())
    }
}

const EXPECTED: &str = "expected `publish <subject>` or `subscribe <subject> [queue <group>]`, \
                        e.g. \"publish orders.>\", \"subscribe work.* queue workers\"";

/// Whether `subject` is one NATS accepts: tokens separated by `.`, none empty, `>` only last,
/// wildcards only as whole tokens, no whitespace.
pub fn valid_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("an empty subject".into());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(format!("subject `{subject}` has an empty token"));
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("subject `{subject}` holds whitespace"));
        }
        if t.len() > 1 && (t.contains('*') || t.contains('>')) {
            return Err(format!(
                "subject `{subject}`: `*` and `>` are wildcards only as a whole token"
            ));
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err(format!(
                "subject `{subject}`: `>` may only be the last token"
            ));
        }
    }
    Ok(())
}

impl FromStr for Need {
    type Err = String;

    fn from_str(s: &str) -> Result<Need, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let verb = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("publish" | "pub") => Verb::Publish,
            Some("subscribe" | "sub") => Verb::Subscribe,
            Some(other) => return Err(format!("unknown permission `{other}`; {EXPECTED}")),
            None => return Err(format!("empty need; {EXPECTED}")),
        };
        let (subject, queue) = match &words[1..] {
            [subject] => (*subject, None),
            [subject, q, group] if q.eq_ignore_ascii_case("queue") => {
                if verb == Verb::Publish {
                    return Err(format!("a queue group is for subscribing; {EXPECTED}"));
                }
                (*subject, Some((*group).to_owned()))
            }
            [] => return Err(format!("no subject; {EXPECTED}")),
            _ => {
                return Err(format!(
                    "a need names one subject (and a queue group); {EXPECTED}"
                ));
            }
        };
        valid_subject(subject)?;
        if let Some(q) = &queue
            && (q.contains('*') || q.contains('>'))
        {
            return Err(format!("queue group `{q}` holds a wildcard"));
        }
        Ok(Need {
            verb,
            subject: subject.to_owned(),
            queue,
        })
    }
}

/// Whether the pattern `outer` matches every subject `inner` matches.
pub fn covers(outer: &str, inner: &str) -> bool {
    let o: Vec<&str> = outer.split('.').collect();
    let n: Vec<&str> = inner.split('.').collect();
    for (i, ot) in o.iter().enumerate() {
        if *ot == ">" {
            // One or more tokens: `inner` must have a token here.
            return n.len() > i;
        }
        let Some(nt) = n.get(i) else { return false };
        match (*ot, *nt) {
            (_, ">") => return false,
            ("*", _) => {}
            (_, "*") => return false,
            (a, b) if a == b => {}
            _ => return false,
        }
    }
    o.len() == n.len()
}

/// Whether some subject matches both patterns.
pub fn overlaps(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    for i in 0.. {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) => {
                if *x != "*" && *y != "*" && x != y {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_testkit::unit;

    #[test]
    fn needs_round_trip() {
        for text in [
            "publish orders.>",
            "subscribe replies.*",
            "subscribe work.* queue workers",
        ] {
            assert_eq!(text.parse::<Need>().unwrap().to_string(), text);
        }
        assert_eq!(
            "SUB a.b".parse::<Need>().unwrap().to_string(),
            "subscribe a.b"
        );
    }

    #[test]
    fn bad_needs_say_what_was_expected() {
        unit::assert_needs_refused::<crate::Nats>(&[
            ("", "empty need"),
            ("send orders", "unknown permission"),
            ("publish", "no subject"),
            ("publish a queue q", "for subscribing"),
            ("subscribe a b c d", "one subject"),
            ("subscribe a..b", "empty token"),
            ("subscribe a.>.b", "only be the last"),
            ("subscribe a*.b", "whole token"),
            ("subscribe a queue w*", "wildcard"),
        ]);
        unit::assert_needs_never_panic::<crate::Nats>(&["publish .", "subscribe >", "pub *"]);
    }

    #[test]
    fn subjects_compare_as_the_server_matches_them() {
        assert!(covers(">", "orders.new"));
        assert!(covers("orders.>", "orders.>"));
        assert!(covers("orders.>", "orders.eu.new"));
        assert!(!covers("orders.>", "orders"));
        assert!(covers("orders.*", "orders.new"));
        assert!(!covers("orders.*", "orders.>"));
        assert!(!covers("orders.*", "orders.eu.new"));
        assert!(covers("*.new", "orders.new"));
        assert!(!covers("orders.new", "orders.*"));
        assert!(overlaps("orders.>", "orders.secret"));
        assert!(overlaps("orders.*", "*.secret"));
        assert!(!overlaps("orders.*", "billing.*"));
        assert!(!overlaps("orders.new", "orders.new.x"));
        assert!(overlaps("a.>", "a.b.c"));
    }
}
