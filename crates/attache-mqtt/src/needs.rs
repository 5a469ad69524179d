//! Needs in MQTT's own words: a verb and a topic filter, in MQTT's filter syntax (`+` one
//! level, `#` every level below, last).
//!
//! ```text
//! publish sensors/temp        publish to the topic sensors/temp
//! publish sensors/+/temp      publish to any topic the filter matches
//! subscribe commands/#        subscribe to (and so receive) everything under commands/
//! ```

use std::fmt;
use std::str::FromStr;

/// What a need lets the app do with its topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Send messages to the topics (dynamic security: `publishClientSend`; acl_file: `topic write`).
    Publish,
    /// Subscribe and receive (dynamic security: `subscribePattern` and `publishClientReceive`;
    /// acl_file: `topic read`).
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

/// One need: a verb on a topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// What the app does.
    pub verb: Verb,
    /// The topic filter, as MQTT writes it.
    pub filter: String,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb.as_str(), self.filter)
    }
}

const EXPECTED: &str = "expected `publish <topic filter>` or `subscribe <topic filter>`, e.g. \
                        \"publish sensors/temp\", \"subscribe commands/#\"";

/// Checks `filter` against MQTT's rules for a topic filter: 1 to 65535 bytes, no NUL or other
/// control character, `+` only as a whole level, `#` only as the whole last level.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() || filter.len() > 65_535 {
        return Err(format!(
            "a topic filter is 1 to 65535 bytes long; {EXPECTED}"
        ));
    }
    if filter.chars().any(char::is_control) {
        return Err("a topic filter holds no control characters".to_owned());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "`#` stands alone as the last level of a topic filter (`commands/#`); {EXPECTED}"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "`+` stands alone as a level of a topic filter (`sensors/+/temp`); {EXPECTED}"
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
            Some("publish") => Verb::Publish,
            Some("subscribe") => Verb::Subscribe,
            Some(other) => return Err(format!("unknown verb `{other}`; {EXPECTED}")),
            None => return Err(format!("empty need; {EXPECTED}")),
        };
        let filter = match words[1..] {
            [filter] => filter,
            [] => return Err(format!("nothing after `{}`; {EXPECTED}", verb.as_str())),
            _ => {
                return Err(format!(
                    "a need names exactly one topic filter (topics hold no spaces here); {EXPECTED}"
                ));
            }
        };
        check_filter(filter)?;
        Ok(Need {
            verb,
            filter: filter.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_testkit::unit;

    #[test]
    fn needs_round_trip() {
        for text in [
            "publish sensors/temp",
            "publish sensors/+/temp",
            "subscribe commands/#",
            "subscribe #",
            "subscribe $SYS/broker/uptime",
            "publish /leading/slash",
        ] {
            let need: Need = text.parse().unwrap();
            assert_eq!(need.to_string(), text);
        }
        let need: Need = "SUBSCRIBE a/+".parse().unwrap();
        assert_eq!(
            need,
            Need {
                verb: Verb::Subscribe,
                filter: "a/+".into()
            }
        );
    }

    #[test]
    fn bad_needs_say_what_was_expected() {
        for (text, says) in [
            ("", "empty need"),
            ("read orders", "unknown verb `read`"),
            ("publish", "nothing after `publish`"),
            ("publish a b", "exactly one topic filter"),
            ("subscribe a/#/b", "last level"),
            ("subscribe a#", "last level"),
            ("subscribe a/b+", "as a level"),
        ] {
            let err = text.parse::<Need>().unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        let long = format!("publish {}", "t".repeat(65_536));
        assert!(long.parse::<Need>().unwrap_err().contains("65535"));
        unit::assert_needs_refused::<crate::Mqtt>(&[
            ("publish", "nothing after"),
            ("write orders", "unknown verb"),
        ]);
        unit::assert_needs_never_panic::<crate::Mqtt>(unit::ODD_NEEDS);
    }
}
