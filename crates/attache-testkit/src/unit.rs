//! Helpers for a kind's own unit tests, which need no server: judging a posture as an audit
//! does, and provisioning needs written in the kind's words.

use attache_core::{
    CheckId, Finding, Kind, Provision, ProvisionRequest, ResourceSpec, Secret, Severity,
};

pub use crate::contract::checks;

/// The resource unit tests speak of.
pub const RESOURCE: &str = "db";

/// Every finding an audit makes of `posture`: the kind's own, then core's judgement of the
/// needs.
pub fn judge<K: Kind>(posture: &K::Posture) -> Vec<Finding> {
    attache_core::judge_posture::<K>(RESOURCE, posture).1
}

/// A kind's posture in its unit tests: a base that holds exactly the needs, changed one way per
/// case, and judged as an audit judges it.
pub trait Case: Clone + Sized + attache_core::Posture {
    /// The kind it is the posture of.
    type Kind: Kind<Posture = Self>;

    /// A posture holding exactly the needs (it judges clean).
    fn base() -> Self;

    /// The base, changed by `change`.
    fn with(change: impl FnOnce(&mut Self)) -> Self {
        let mut p = Self::base();
        change(&mut p);
        p
    }

    /// Every finding an audit makes of it.
    fn judged(&self) -> Vec<Finding> {
        judge::<Self::Kind>(self)
    }

    /// Its findings' checks and severities, in the audit's order.
    fn verdict(&self) -> Vec<(CheckId, Severity)> {
        checks(&self.judged())
    }
}

/// The promises every [`Case`] keeps: the base holds exactly the needs, so it judges clean and
/// its account model says every need is granted; judging twice gives the same findings.
pub fn assert_base_is_clean<C: Case>() {
    let base = C::base();
    let findings = base.judged();
    assert!(findings.is_empty(), "the base judges clean: {findings:#?}");
    assert_eq!(base.judged(), findings, "judging is deterministic");
    let account = base.account();
    for need in &account.needs {
        assert_eq!(
            need.state,
            attache_core::NeedState::Granted,
            "the base holds {}",
            need.what
        );
    }
}

/// The tests every [`Case`] runs, written once: `attache_testkit::case_tests!(Posture);` in a
/// kind's checks tests.
#[macro_export]
macro_rules! case_tests {
    ($case:ty) => {
        #[test]
        fn exactly_the_needs_is_clean() {
            $crate::unit::assert_base_is_clean::<$case>();
        }
    };
}

/// What `attache grants` writes to create `account` holding `needs` (each in the kind's own
/// words; a need that does not parse panics, naming it).
pub fn provision<K: Kind>(needs: &[&str], account: &str, password: Option<&Secret>) -> Provision {
    let needs: Vec<K::Need> = needs
        .iter()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("need `{n}`: {e}")))
        .collect();
    K::provision(&ProvisionRequest {
        spec: &ResourceSpec::new(RESOURCE, K::NAME),
        needs: &needs,
        account,
        password,
    })
}

/// Asserts that `text` (a message or a remedy) contains `wanted`, showing the text when not.
#[track_caller]
pub fn assert_has(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "{wanted:?} is not in:\n{text}");
}

/// Asserts that `lines` (a finding's evidence) hold the line `wanted`, showing them when not.
#[track_caller]
pub fn assert_lists(lines: &[String], wanted: &str) {
    assert!(
        lines.iter().any(|l| l == wanted),
        "{wanted:?} is not among:\n{lines:#?}"
    );
}

/// The one finding of `findings`, asserted to be `check` at `severity`.
#[track_caller]
pub fn only(findings: &[Finding], check: CheckId, severity: Severity) -> &Finding {
    assert_eq!(checks(findings), [(check, severity)], "{findings:#?}");
    &findings[0]
}

/// The first finding (the most severe), asserted to be `check` at `severity`.
#[track_caller]
pub fn first(findings: &[Finding], check: CheckId, severity: Severity) -> &Finding {
    assert_eq!(
        checks(findings).first(),
        Some(&(check, severity)),
        "{findings:#?}"
    );
    &findings[0]
}

/// Text no kind's need parser may panic on: empty, blank, stray punctuation, a lone keyword,
/// control and non-ASCII characters.
pub const ODD_NEEDS: &[&str] = &[
    "",
    " ",
    "\t\n",
    "ON",
    "on on on",
    "(",
    ")",
    "((",
    "()",
    ",",
    "\"",
    "`",
    "'",
    "\u{0}",
    "\u{a0}",
    "ÜBER ON ñ",
    "+ü",
    "é.ü",
];

/// Each need of `cases` is refused, with an error that says what was expected (`says`).
#[track_caller]
pub fn assert_needs_refused<K: Kind>(cases: &[(&str, &str)]) {
    for (text, says) in cases {
        match text.parse::<K::Need>() {
            Ok(need) => panic!("`{text}` parsed, as {need}"),
            Err(e) => assert!(e.contains(says), "`{text}`: {e:?} does not say {says:?}"),
        }
    }
}

/// Neither [`ODD_NEEDS`] nor the kind's own `odd` text makes the need parser panic.
pub fn assert_needs_never_panic<K: Kind>(odd: &[&str]) {
    for text in ODD_NEEDS.iter().chain(odd) {
        let parsed = std::panic::catch_unwind(|| text.parse::<K::Need>().is_ok());
        assert!(parsed.is_ok(), "`{text:?}` made the parser panic");
    }
}
