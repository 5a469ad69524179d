//! Telling a secret when one is seen: the one detector behind `cred-in-env` for a process's
//! whole environment and `cred-in-repo` for the files a repository tracks.
//!
//! A value is a secret when it has the shape of one ([`in_value`]):
//!
//! | kind | shape |
//! |---|---|
//! | a private key | `-----BEGIN … PRIVATE KEY-----` (PKCS#8, RSA, EC, OpenSSH, PGP, encrypted or not) |
//! | a URL with a password | `scheme://user:password@host` (an empty user too: `redis://:password@host`) |
//! | a GitHub token | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 letters or digits; `github_pat_…` |
//! | an AWS access key id | `AKIA` or `ASIA` and 16 capitals or digits |
//! | a Slack token | `xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-` and 10 or more |
//! | a Stripe live key | `sk_live_` or `rk_live_` and 16 or more |
//! | a GitLab token | `glpat-` and 20 or more |
//! | a Google API key | `AIza` and 35 |
//! | a JSON Web Token | `eyJ….eyJ….…`: a JOSE header, a claims set and a signature |
//!
//! A URL whose password is empty, a reference (`${DB_PASSWORD}`), masked (`****`, `…`) or
//! only the word for it (`user:password@host`, as documentation writes it) is not reported.
//!
//! A value is also a secret when its name says it is one ([`credential_name`]): `PASSWORD`, `SECRET`, `TOKEN`,
//! `API_KEY` alone or after `_` (`DB_PASSWORD`, `GITHUB_TOKEN`), and `*_PASSWD`, `*_PASS`,
//! `*_PWD`, `*_SECRET_KEY`, `*_ACCESS_KEY`, `*_PRIVATE_KEY`, `*_APIKEY`, `*_CREDENTIALS`,
//! `SECRET_KEY_BASE`, in any case, `-` or `.` standing for `_`. A named value that is empty, a
//! reference (`${DB_PASSWORD}`, `$TOKEN`, `{{ .token }}`, `%(pw)s`, `<password>`), masked
//! (`****`, `xxxx`), a switch (`true`, `no`, `null`) or only the word (`password`, `secret`)
//! is not a secret.
//!
//! What comes back is a [`SecretKind`] and where (a variable's name, a line), never the value:
//! callers build findings from names and kinds only.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What a secret was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SecretKind {
    /// A PEM private key.
    PrivateKey,
    /// A URL with a password in its user information.
    UrlPassword,
    /// A GitHub personal access, OAuth, app or refresh token.
    GithubToken,
    /// An AWS access key id (its secret key is usually next to it).
    AwsAccessKey,
    /// A Slack bot, user or app token.
    SlackToken,
    /// A Stripe live secret or restricted key.
    StripeKey,
    /// A GitLab personal access token.
    GitlabToken,
    /// A Google API key.
    GoogleApiKey,
    /// A JSON Web Token (a bearer credential until it expires).
    Jwt,
    /// A value under a name that says it is a credential (`*_PASSWORD`, `*_TOKEN`, …).
    Named,
}

impl SecretKind {
    /// The kind in words, for messages: `a GitHub token`.
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "a private key",
            SecretKind::UrlPassword => "a URL with a password",
            SecretKind::GithubToken => "a GitHub token",
            SecretKind::AwsAccessKey => "an AWS access key id",
            SecretKind::SlackToken => "a Slack token",
            SecretKind::StripeKey => "a Stripe live key",
            SecretKind::GitlabToken => "a GitLab token",
            SecretKind::GoogleApiKey => "a Google API key",
            SecretKind::Jwt => "a JSON Web Token",
            SecretKind::Named => "a credential (by its name)",
        }
    }
}

/// The value shapes, most specific first: a line holding several is reported as the first.
static SHAPES: LazyLock<Vec<(SecretKind, Regex)>> = LazyLock::new(|| {
    [
        (
            SecretKind::PrivateKey,
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ),
        (
            SecretKind::GithubToken,
            r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|github_pat_[A-Za-z0-9_]{22,})",
        ),
        (SecretKind::AwsAccessKey, r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        (SecretKind::SlackToken, r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
        (SecretKind::StripeKey, r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}"),
        (SecretKind::GitlabToken, r"\bglpat-[0-9A-Za-z_-]{20,}"),
        (SecretKind::GoogleApiKey, r"\bAIza[0-9A-Za-z_-]{35}"),
        (
            SecretKind::Jwt,
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ),
    ]
    .into_iter()
    .map(|(kind, pattern)| (kind, Regex::new(pattern).expect("a valid pattern")))
    .collect()
});

/// `scheme://[user]:password@host`: the password is the first group.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'"`<>\[\]]*:([^\s/@'"`\[\]]+)@[^\s/@'"`]"#)
        .expect("a valid pattern")
});

/// What `value` is, if it has the shape of a secret.
///
/// ```
/// use attache_core::scan::{SecretKind, in_value};
///
/// let url = format!("postgres://app:{}@db/app", "hunter2");
/// assert_eq!(in_value(&url), Some(SecretKind::UrlPassword));
/// assert_eq!(in_value("postgres://app@db/app"), None);
/// ```
pub fn in_value(value: &str) -> Option<SecretKind> {
    for (kind, shape) in SHAPES.iter() {
        if shape.is_match(value) {
            return Some(*kind);
        }
    }
    URL_PASSWORD
        .captures_iter(value)
        .any(|c| c.get(1).is_some_and(|pw| !is_placeholder(pw.as_str())))
        .then_some(SecretKind::UrlPassword)
}

/// Whether a variable or key called `name` holds a credential by its name (see the module).
pub fn credential_name(name: &str) -> bool {
    let name: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    const ALONE_OR_SUFFIX: &[&str] = &["PASSWORD", "SECRET", "TOKEN", "API_KEY"];
    const SUFFIX: &[&str] = &[
        "PASSWD",
        "PASS",
        "PWD",
        "SECRET_KEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "APIKEY",
        "CREDENTIALS",
    ];
    let after_underscore = |tail: &str| {
        name.strip_suffix(tail)
            .is_some_and(|head| head.ends_with('_') && head.len() > 1)
    };
    name == "SECRET_KEY_BASE"
        || ALONE_OR_SUFFIX
            .iter()
            .any(|t| name == *t || after_underscore(t))
        || SUFFIX.iter().any(|t| after_underscore(t))
}

/// What the variable `name=value` holds, if it is a secret: by the value's shape, else by the
/// name when the value is a real one (not empty, a reference, masked or a switch).
pub fn in_variable(name: &str, value: &str) -> Option<SecretKind> {
    in_value(value)
        .or_else(|| (credential_name(name) && !is_placeholder(value)).then_some(SecretKind::Named))
}

/// One secret in a text: the line (1-based), what it is, and the key it sits under when a
/// line assigns it (`DB_PASSWORD=…`, `password: …`, `"token": "…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The line, from 1.
    pub line: usize,
    /// What it is.
    pub kind: SecretKind,
    /// The key of the assignment it sits in, if the line is one.
    pub key: Option<String>,
}

/// Every line of `text` that holds a secret: a value with the shape of one anywhere, and, when
/// `assignments` is set (configuration and env files, not source code, where
/// `password = form["password"]` is no secret), a line `KEY=VALUE`, `key: value` or
/// `"key": "value"` whose key is a credential's name and whose value is a real one.
pub fn in_text(text: &str, assignments: bool) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let assignment = assignment(line);
        let key = assignment.map(|(k, _)| k.to_owned());
        if let Some(kind) = in_value(line) {
            hits.push(Hit {
                line: i + 1,
                kind,
                key,
            });
        } else if let Some((k, v)) = assignment.filter(|_| assignments)
            && credential_name(k)
            && !is_placeholder(v)
        {
            hits.push(Hit {
                line: i + 1,
                kind: SecretKind::Named,
                key,
            });
        }
    }
    hits
}

/// `KEY=VALUE` (with `export `), `key: value`, `key = "value"`, `"key": "value",`: the key and
/// the value without quotes and trailing commas or comments. `None` for other lines, and for a
/// `:` that does not end a key (`"redis://…"`, `a:b`).
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    if line.starts_with('#') || line.starts_with("//") {
        return None;
    }
    let at = line.find(['=', ':'])?;
    if line[at..].starts_with(':')
        && !line[at + 1..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        return None;
    }
    let key = line[..at].trim().trim_matches(['"', '\'']);
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return None;
    }
    let mut value = line[at + 1..].trim();
    if let Some(q) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) {
        // A quoted value ends at its closing quote.
        value = value[1..].split(q).next().unwrap_or("");
    } else {
        value = value.split(" #").next().unwrap_or(value);
        value = value.trim_end_matches([',', ';']).trim();
    }
    Some((key, value))
}

/// Whether a value is no secret of its own: empty, a reference to one, masked, a switch, or
/// only the word for a secret (`user:password@host` in documentation).
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.is_empty()
        || v.starts_with('$')
        || v.starts_with("{{")
        || v.starts_with("%(")
        || (v.starts_with('<') && v.ends_with('>'))
        || !v.chars().any(|c| c.is_ascii_alphanumeric())
        || v.chars()
            .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '-' | '_'))
        || matches!(
            lower.as_str(),
            "true"
                | "false"
                | "yes"
                | "no"
                | "on"
                | "off"
                | "null"
                | "none"
                | "nil"
                | "password"
                | "passwd"
                | "pass"
                | "secret"
                | "token"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test values are put together at run time, so that this file holds no token a
    /// repository scan (attache's own included) would report.
    fn token(prefix: &str, body: &str, n: usize) -> String {
        format!("{prefix}{}", body.repeat(n))
    }

    #[test]
    fn each_shape_is_found_and_near_misses_are_not() {
        let cases: Vec<(SecretKind, Vec<String>, Vec<String>)> = vec![
            (
                SecretKind::PrivateKey,
                vec![
                    format!("-----BEGIN {}-----", "PRIVATE KEY"),
                    format!("-----BEGIN RSA {}-----", "PRIVATE KEY"),
                    format!("-----BEGIN OPENSSH {}-----", "PRIVATE KEY"),
                    format!("-----BEGIN ENCRYPTED {}-----", "PRIVATE KEY"),
                    format!("-----BEGIN PGP {} BLOCK-----", "PRIVATE KEY"),
                ],
                vec![
                    "-----BEGIN CERTIFICATE-----".into(),
                    "-----BEGIN PUBLIC KEY-----".into(),
                    "the private key goes in tls.key".into(),
                ],
            ),
            (
                SecretKind::GithubToken,
                vec![
                    token("ghp_", "aB3", 12),
                    token("gho_", "Z9", 18),
                    token("ghs_", "x", 36),
                    format!("token {}", token("github_pat_", "A1_", 10)),
                ],
                vec![
                    token("ghp_", "a", 35),
                    token("ghx_", "a", 36),
                    token("ghp_", "a", 40),
                    "github_pat_short".into(),
                ],
            ),
            (
                SecretKind::AwsAccessKey,
                vec![
                    token("AKIA", "ABCD2345", 2),
                    format!("key={}", token("ASIA", "Q", 16)),
                ],
                vec![
                    token("AKIA", "abcd2345", 2),
                    token("AKIA", "A", 15),
                    token("AKIA", "A", 17),
                ],
            ),
            (
                SecretKind::SlackToken,
                vec![token("xoxb-", "1234-", 3), token("xoxp-", "a1", 6)],
                vec![token("xoxz-", "1234-", 3), "xoxb-short".into()],
            ),
            (
                SecretKind::StripeKey,
                vec![token("sk_live_", "4eC39H", 4), token("rk_live_", "a", 24)],
                vec![token("sk_test_", "4eC39H", 4), token("pk_live_", "a", 24)],
            ),
            (
                SecretKind::GitlabToken,
                vec![token("glpat-", "xY_1-", 4)],
                vec![token("glpat-", "x", 19), token("glpot-", "x", 20)],
            ),
            (
                SecretKind::GoogleApiKey,
                vec![token("AIza", "Sy0-_", 7)],
                vec![token("AIza", "S", 34), token("Aiza", "S", 35)],
            ),
            (
                SecretKind::Jwt,
                vec![format!(
                    "Bearer {}.{}.{}",
                    token("eyJ", "hbGciOi", 2),
                    token("eyJ", "zdWIiOi", 2),
                    token("", "SflKxwRJ", 2)
                )],
                vec![
                    "eyJhbGciOi".into(),
                    format!("{}.{}", token("eyJ", "a", 20), token("eyJ", "b", 20)),
                    format!("{}.x.y", token("eyJ", "a", 20)),
                ],
            ),
            (
                SecretKind::UrlPassword,
                vec![
                    format!("postgres://app:{}@db.internal:5432/app", "hunter2"),
                    format!("url: 'redis://:{}@cache:6379'", "s3cret"),
                    format!("amqps://user:{}@mq/vhost", "p%40ss"),
                ],
                vec![
                    "postgres://app@db.internal:5432/app".into(),
                    "https://example.com:8443/path".into(),
                    "postgres://app:${DB_PASSWORD}@db/app".into(),
                    "postgres://app:****@db/app".into(),
                    "postgres://app:<password>@db/app".into(),
                    "scheme://user:password@host".into(),
                    "rediss://[user[:password]@]host[:port][/db]".into(),
                    "DATABASE_URL=scheme://app:…@db.internal/app".into(),
                    "git@github.com:org/repo.git".into(),
                ],
            ),
        ];
        for (kind, positives, negatives) in cases {
            for p in &positives {
                assert_eq!(in_value(p), Some(kind), "{kind:?} should match {p}");
            }
            for n in &negatives {
                assert_ne!(in_value(n), Some(kind), "{kind:?} should not match {n}");
            }
        }
    }

    #[test]
    fn credential_names() {
        for name in [
            "PASSWORD",
            "DB_PASSWORD",
            "mysql_root_password",
            "SESSION_SECRET",
            "GITHUB_TOKEN",
            "STRIPE_API_KEY",
            "api-key",
            "SENTRY_APIKEY",
            "SSH_PRIVATE_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "DJANGO_SECRET_KEY",
            "SECRET_KEY_BASE",
            "SMTP_PASS",
            "DB_PWD",
            "GOOGLE_CREDENTIALS",
            "app.token",
        ] {
            assert!(credential_name(name), "{name} is a credential's name");
        }
        for name in [
            "PWD",
            "OLDPWD",
            "PASS",
            "DB_PASSWORD_FILE",
            "TOKEN_TTL",
            "PASSWORD_MIN_LENGTH",
            "BYPASS",
            "HOME",
            "DATABASE_URL",
            "_TOKEN",
            "TOKENS",
        ] {
            assert!(!credential_name(name), "{name} is not a credential's name");
        }
    }

    #[test]
    fn variables_by_shape_or_by_name_with_a_real_value() {
        assert_eq!(
            in_variable(
                "DATABASE_URL",
                &format!("postgres://app:{}@db/app", "hunter2")
            ),
            Some(SecretKind::UrlPassword)
        );
        assert_eq!(
            in_variable("HARMLESS", &token("ghp_", "a", 36)),
            Some(SecretKind::GithubToken)
        );
        assert_eq!(
            in_variable("DB_PASSWORD", "hunter2"),
            Some(SecretKind::Named)
        );
        for placeholder in [
            "",
            "${DB_PASSWORD}",
            "$PW",
            "<secret>",
            "****",
            "true",
            "null",
        ] {
            assert_eq!(
                in_variable("DB_PASSWORD", placeholder),
                None,
                "{placeholder}"
            );
        }
        assert_eq!(in_variable("DATABASE_URL", "postgres://app@db/app"), None);
        assert_eq!(in_variable("PWD", "/home/app"), None);
    }

    #[test]
    fn texts_give_lines_and_keys() {
        let text = format!(
            "# settings\nPORT=8080\nexport DB_PASSWORD=\"hunter 2\" # prod\nEMPTY_TOKEN=\nAPI_TOKEN={}\n\
             url: postgres://u:{}@host/db\n\"client_secret\": \"abc123\",\npassword = form['password']\n",
            token("ghp_", "a", 36),
            "planted"
        );
        let hits = in_text(&text, true);
        let got: Vec<(usize, SecretKind, Option<&str>)> = hits
            .iter()
            .map(|h| (h.line, h.kind, h.key.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (3, SecretKind::Named, Some("DB_PASSWORD")),
                (5, SecretKind::GithubToken, Some("API_TOKEN")),
                (6, SecretKind::UrlPassword, Some("url")),
                (7, SecretKind::Named, Some("client_secret")),
                (8, SecretKind::Named, Some("password")),
            ]
        );
        assert_eq!(assignment("\"redis://u@h\".to_owned(),"), None);
        assert_eq!(assignment("a:b"), None);
        assert_eq!(
            assignment("{\"token\":\"abc\"}"),
            None,
            "a JSON object on one line"
        );
        assert_eq!(assignment("\"token\":\"abc\","), Some(("token", "abc")));
        // In source code only shapes count: `password = form['password']` is no secret.
        let code: Vec<usize> = in_text(&text, false).iter().map(|h| h.line).collect();
        assert_eq!(code, [5, 6]);
    }

    #[test]
    fn describing_never_needs_the_value() {
        for kind in [SecretKind::PrivateKey, SecretKind::Named, SecretKind::Jwt] {
            assert!(kind.describe().starts_with('a'));
        }
        assert_eq!(
            serde_json::to_value(SecretKind::UrlPassword).unwrap(),
            "url-password"
        );
    }
}
