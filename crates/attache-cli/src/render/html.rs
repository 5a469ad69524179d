//! `attache audit --format html`: one self-contained page for people.
//!
//! The page is a single file: inline CSS, no script, and nothing loaded from anywhere else (no
//! font, image or stylesheet); a `Content-Security-Policy` meta tag makes the browser enforce
//! that. Like every view it is built from the report alone, which holds no secret, and every
//! piece of text in it goes through [`escape`]. From top to bottom:
//!
//! 1. **Verdict** (`<header>`): PASS or FAIL against `--fail-on`, the number of findings of each
//!    severity, the number of resources and the manifest's path.
//! 2. **Attack surface** (`#surface`): the whole app in one table, one row per resource: its
//!    name (a link to its section), kind, where it points, how the connection is secured
//!    ("TLS 1.3, verified", "plaintext", "no binding"), the account, what that account can do
//!    beyond its needs (superuser, role administration, how many excess privileges) and the
//!    worst severity of its findings.
//! 3. **Resources** (`#resource-<name>`), by name. Each has its findings, most severe first
//!    (severity badge, check id linking to the check's page below, message, evidence, fix);
//!    where it points (target, source); the TLS posture (version, cipher suite, verification,
//!    peer certificate, expiry and days left, or "no TLS connection made"); and the account
//!    (user, database, server version, attributes, roles, what it owns) with its privileges
//!    against the needs as one table whose rows are *missing*, *excess*, *unknown*, *needed*
//!    (a need, granted) or *held* (neither needed nor flagged). A resource whose account was
//!    not read lists the needs its manifest declares instead.
//! 4. **Checks** (`#check-<id>`): the `attache explain` page of each check the report names,
//!    once, in catalog order, with only the sections of the kinds in the report; its markdown
//!    rendered simply (headings, paragraphs, lists, code).
//!
//! The layout reads at desktop and phone widths: the content has a maximum width, tables
//! scroll sideways inside their own box, and long words (URLs, grants) wrap anywhere. Colours
//! follow `prefers-color-scheme`.

use std::collections::BTreeSet;
use std::io::{self, Write};

use attache::tls::TlsFacts;
use attache::{Account, CheckId, Finding, Manifest, NeedState, Registry, Report, Severity};
use attache::{Privilege, ResourceReport};

use crate::settings::AuditSettings;

/// The report as one HTML file.
pub(crate) fn page(
    out: &mut dyn Write,
    report: &Report,
    settings: &AuditSettings,
) -> io::Result<()> {
    let html = render(
        report,
        &settings.registry,
        &settings.manifest,
        settings.fail_on,
    );
    out.write_all(html.as_bytes())
}

/// The browser may show inline styles and `data:` images, and load nothing at all.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Every severity, most severe first.
const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// `text` safe anywhere in HTML text or in a quoted attribute: `&`, `<`, `>`, `"` and `'`
/// become entities.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page being written: markup is pushed as it is, text only through [`escape`].
#[derive(Default)]
struct Html(String);

impl Html {
    /// Markup, as it is: only ever a literal of this module or built from escaped text.
    fn raw(&mut self, markup: &str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text, escaped.
    fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape(text));
        self
    }

    /// `<tag class="class">text</tag>` (no class attribute when `class` is empty); `tag` and
    /// `class` are literals of this module.
    fn el(&mut self, tag: &str, class: &str, text: &str) -> &mut Self {
        self.open(tag, class).text(text).close(tag)
    }

    /// `<tag class="class">`.
    fn open(&mut self, tag: &str, class: &str) -> &mut Self {
        self.raw("<").raw(tag);
        if !class.is_empty() {
            self.raw(" class=\"").raw(class).raw("\"");
        }
        self.raw(">")
    }

    /// `</tag>`.
    fn close(&mut self, tag: &str) -> &mut Self {
        self.raw("</").raw(tag).raw(">")
    }

    /// A severity's coloured badge.
    fn badge(&mut self, severity: Severity) -> &mut Self {
        self.raw("<span class=\"badge sev-")
            .raw(severity.as_str())
            .raw("\">")
            .raw(severity.as_str())
            .raw("</span>")
    }

    /// The check's id as a link to its page at the bottom.
    fn check_link(&mut self, check: CheckId) -> &mut Self {
        self.raw("<a class=\"check\" href=\"#check-")
            .raw(check.as_str())
            .raw("\"><code>")
            .raw(check.as_str())
            .raw("</code></a>")
    }

    /// A `<dt>`/`<dd>` pair.
    fn fact(&mut self, term: &str, value: &str) -> &mut Self {
        self.el("dt", "", term).el("dd", "", value)
    }
}

/// The whole page.
fn render(report: &Report, registry: &Registry, manifest: &Manifest, fail_on: Severity) -> String {
    let mut h = Html::default();
    let failed = report.fails(fail_on);
    let verdict = if failed { "FAIL" } else { "PASS" };
    let resources = Resource::all(report);
    let checks: BTreeSet<CheckId> = report.findings.iter().map(|f| f.check).collect();

    h.raw("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .raw("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .raw(CSP)
        .raw("\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .raw("<meta name=\"color-scheme\" content=\"light dark\">\n")
        .raw("<meta name=\"generator\" content=\"attache ")
        .text(env!("CARGO_PKG_VERSION"))
        .raw("\">\n<title>")
        .text(&format!("{verdict} · attache audit"))
        .raw("</title>\n<style>")
        .raw(STYLE)
        .raw("</style>\n</head>\n<body id=\"top\">\n<main>\n");

    verdict_header(&mut h, report, manifest, fail_on, failed, resources.len());
    contents(&mut h, &resources, &checks);
    surface(&mut h, &resources);
    process_surface(&mut h, &report.attack_surface);

    h.raw("<section id=\"resources\">\n<h2>Resources</h2>\n");
    if resources.is_empty() {
        h.el("p", "muted", "The manifest declares no resource.");
    }
    for r in &resources {
        resource(&mut h, r, manifest, &checks);
    }
    h.raw("</section>\n");

    if !checks.is_empty() {
        h.raw("<section id=\"checks\">\n<h2>Checks in this report</h2>\n")
            .raw("<p class=\"muted\">What each check finds, why it matters and how to fix it, as <code>attache explain</code> prints it, with the sections of this report's kinds.</p>\n");
        let kinds: BTreeSet<&str> = resources.iter().map(|r| r.kind).collect();
        for &check in &checks {
            explain(&mut h, check, &check_page(registry, check, &kinds), &checks);
        }
        h.raw("</section>\n");
    }

    h.raw("<footer>")
        .text(&format!(
            "attache {} · built from the audit report, which holds no secret.",
            env!("CARGO_PKG_VERSION")
        ))
        .raw(" <a href=\"#top\">Back to top</a></footer>\n</main>\n</body>\n</html>\n");
    h.0
}

/// The verdict, the counts and where the report comes from.
fn verdict_header(
    h: &mut Html,
    report: &Report,
    manifest: &Manifest,
    fail_on: Severity,
    failed: bool,
    resources: usize,
) {
    let (class, verdict) = if failed {
        ("verdict fail", "FAIL")
    } else {
        ("verdict pass", "PASS")
    };
    let at_or_above = report
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .count();
    let why = match at_or_above {
        0 => "No finding".to_owned(),
        n => plural(n, "finding", "findings"),
    };
    h.open("header", class)
        .el("div", "verdict-word", verdict)
        .raw("<div class=\"verdict-body\">")
        .el("h1", "", "attache audit")
        .raw("<p>")
        .text(&format!("{why} at or above "))
        .el("code", "", &format!("--fail-on {fail_on}"))
        .text(&format!(
            ". {} in {}.",
            plural(report.findings.len(), "finding", "findings"),
            plural(resources, "resource", "resources"),
        ))
        .raw("</p>")
        .raw("<ul class=\"counts\">");
    for s in SEVERITIES {
        let n = report.findings.iter().filter(|f| f.severity == s).count();
        let class = if n == 0 { "count zero" } else { "count" };
        h.open("li", class)
            .badge(s)
            .raw(" <b>")
            .text(&n.to_string())
            .raw("</b></li>");
    }
    h.raw("</ul><p class=\"manifest\">Manifest: <code>")
        .text(&manifest.path.display().to_string())
        .raw("</code></p></div></header>\n");
}

/// `1 finding`, `2 findings`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Links to each part of the page.
fn contents(h: &mut Html, resources: &[Resource<'_>], checks: &BTreeSet<CheckId>) {
    h.raw("<nav aria-label=\"Contents\"><a href=\"#surface\">Attack surface</a>");
    for r in resources {
        h.raw(" <a href=\"#")
            .raw(&r.anchor)
            .raw("\">")
            .text(r.name)
            .raw("</a>");
    }
    if !checks.is_empty() {
        h.raw(" <a href=\"#checks\">Checks</a>");
    }
    h.raw("</nav>\n");
}

/// One resource, with what is known of it: its report (absent for a name only findings use)
/// and its findings, most severe first.
struct Resource<'a> {
    /// Its name in the manifest.
    name: &'a str,
    /// Its kind; empty when only a finding names it.
    kind: &'a str,
    /// What the audit learned of it.
    report: Option<&'a ResourceReport>,
    /// Its findings, most severe first.
    findings: Vec<&'a Finding>,
    /// The id of its section (`resource-<name>`).
    anchor: String,
}

impl<'a> Resource<'a> {
    /// The report's resources by name, then any resource only a finding names.
    fn all(report: &'a Report) -> Vec<Resource<'a>> {
        let mut out: Vec<Resource<'a>> = report
            .resources
            .iter()
            .map(|r| Resource {
                name: &r.name,
                kind: &r.kind,
                report: Some(r),
                findings: Vec::new(),
                anchor: String::new(),
            })
            .collect();
        for f in &report.findings {
            match out.iter_mut().find(|r| r.name == f.resource) {
                Some(r) => r.findings.push(f),
                None => out.push(Resource {
                    name: &f.resource,
                    kind: "",
                    report: None,
                    findings: vec![f],
                    anchor: String::new(),
                }),
            }
        }
        let mut taken = BTreeSet::new();
        for r in &mut out {
            r.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            r.anchor = unique_anchor(r.name, &mut taken);
        }
        out
    }

    /// The severity of its worst finding.
    fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether a finding of it is `check`.
    fn has(&self, check: CheckId) -> bool {
        self.findings.iter().any(|f| f.check == check)
    }

    /// Its account, if it was read.
    fn account(&self) -> Option<&'a Account> {
        self.report.and_then(|r| r.account.as_ref())
    }

    /// The TLS facts of its connection, if one was made.
    fn tls(&self) -> Option<&'a TlsFacts> {
        self.report.and_then(|r| r.tls.as_ref())
    }

    /// Where it points, if it has a binding.
    fn target(&self) -> Option<&'a str> {
        self.report.and_then(|r| r.target.as_deref())
    }

    /// Where its binding came from.
    fn source(&self) -> Option<&'a str> {
        self.report.and_then(|r| r.source.as_deref())
    }
}

/// `resource-<name>`, with what an id should not hold replaced, made unique among `taken`.
fn unique_anchor(name: &str, taken: &mut BTreeSet<String>) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = format!("resource-{slug}");
    let mut anchor = base.clone();
    let mut n = 2;
    while !taken.insert(anchor.clone()) {
        anchor = format!("{base}-{n}");
        n += 1;
    }
    anchor
}

/// How a connection is secured, in a few words, and whether that is good (`ok`), bad or
/// neither (`none`).
fn secured(r: &Resource<'_>) -> (String, &'static str) {
    if let Some(tls) = r.tls() {
        let verified = if tls.verification == "verify-full" {
            "verified".to_owned()
        } else {
            tls.verification.clone()
        };
        let mut text = format!("{}, {verified}", tls_version(&tls.version));
        if r.has(CheckId::TlsCertExpiring) || tls.peer_days_left < 30 {
            text.push_str(&format!(
                "; certificate expires in {} days",
                tls.peer_days_left
            ));
            return (text, "warn");
        }
        return (text, "ok");
    }
    let said = [
        (CheckId::TlsPlaintext, "plaintext", "bad"),
        (CheckId::TlsUnverified, "TLS, not verified", "bad"),
        (
            CheckId::TlsDowngradePermitted,
            "may fall back to plaintext",
            "bad",
        ),
        (CheckId::TlsCertInvalid, "certificate rejected", "bad"),
        (CheckId::BindingMissing, "no binding", "none"),
        (CheckId::BindingInvalid, "binding invalid", "none"),
        (CheckId::Unreachable, "not reached", "none"),
        (CheckId::AuthFailed, "login refused", "none"),
    ];
    said.iter()
        .find(|(check, _, _)| r.has(*check))
        .map(|(_, text, class)| ((*text).to_owned(), *class))
        .unwrap_or_else(|| ("no TLS connection made".to_owned(), "none"))
}

/// `TLSv1.3` → `TLS 1.3`.
fn tls_version(version: &str) -> String {
    version
        .strip_prefix("TLSv")
        .map(|v| format!("TLS {v}"))
        .unwrap_or_else(|| version.to_owned())
}

/// What the account can do beyond its needs, in a few words.
fn beyond(r: &Resource<'_>) -> String {
    let Some(account) = r.account() else {
        return "not inspected".to_owned();
    };
    let rows = privilege_rows(account, &r.findings);
    let mut parts = Vec::new();
    if r.has(CheckId::PrivSuperuser) {
        parts.push("superuser".to_owned());
    }
    if r.has(CheckId::PrivRoleAdmin) {
        parts.push("can administer roles or grants".to_owned());
    }
    let excess = rows
        .iter()
        .filter(|row| row.standing == Standing::Excess && row.check == Some(CheckId::PrivExcess))
        .count();
    if excess > 0 {
        parts.push(plural(excess, "excess privilege", "excess privileges"));
    }
    let unknown = rows
        .iter()
        .filter(|row| row.standing == Standing::Unknown)
        .count();
    if unknown > 0 {
        parts.push(format!("{unknown} not known"));
    }
    if parts.is_empty() {
        "nothing beyond its needs".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The attack surface: one row per resource.
fn surface(h: &mut Html, resources: &[Resource<'_>]) {
    h.raw("<section id=\"surface\">\n<h2>Attack surface</h2>\n")
        .el(
            "p",
            "muted",
            "Every backing service the app reaches, how the connection is secured, and what its account can do beyond the manifest's needs.",
        )
        .raw("<div class=\"scroll\"><table class=\"surface stack\">\n<thead><tr><th>Resource</th><th>Kind</th><th>Points at</th><th>Secured by</th><th>Account</th><th>Beyond its needs</th><th>Worst</th></tr></thead>\n<tbody>\n");
    if resources.is_empty() {
        h.raw("<tr><td colspan=\"7\" class=\"muted\">No resources.</td></tr>\n");
    }
    for r in resources {
        let (secured, class) = secured(r);
        let user = r.account().and_then(|a| a.user.as_deref()).unwrap_or("—");
        h.raw("<tr><td class=\"lead\"><a href=\"#")
            .raw(&r.anchor)
            .raw("\">")
            .text(r.name)
            .raw("</a></td><td data-label=\"Kind\">")
            .text(r.kind)
            .raw("</td><td data-label=\"Points at\">");
        match r.target() {
            Some(t) => h.el("code", "", t),
            None => h.el("span", "muted", "no binding"),
        };
        h.raw("</td><td data-label=\"Secured by\"><span class=\"sec sec-")
            .raw(class)
            .raw("\">")
            .text(&secured)
            .raw("</span></td><td data-label=\"Account\">")
            .text(user)
            .raw("</td><td data-label=\"Beyond needs\">")
            .text(&beyond(r))
            .raw("</td><td data-label=\"Worst\">");
        match r.worst() {
            Some(s) => h.badge(s),
            None => h.el("span", "muted", "none"),
        };
        h.raw("</td></tr>\n");
    }
    h.raw("</tbody></table></div>\n</section>\n");
}

/// The rest of the app's attack surface, when the audit looked at its process or repository:
/// the process, where it listens, the peers no resource declares, the secrets it holds and
/// where they sit, the files it writes.
fn process_surface(h: &mut Html, surface: &attache::report::AttackSurface) {
    let any = surface.process.is_some()
        || !surface.listeners.is_empty()
        || !surface.undeclared_peers.is_empty()
        || !surface.secrets.is_empty()
        || !surface.local_state.is_empty();
    if !any {
        return;
    }
    h.raw("<section id=\"process\">\n<h2>The app's process and secrets</h2>\n");
    if let Some(p) = &surface.process {
        let caps = if p.capabilities.is_empty() {
            "none".to_owned()
        } else {
            p.capabilities.join(", ")
        };
        h.raw("<p>")
            .text(&format!(
                "Process {} ({}), uid {}, effective uid {}, capabilities: {caps}.",
                p.pid, p.command, p.uid, p.effective_uid
            ))
            .raw("</p>\n");
    }
    if !surface.listeners.is_empty() {
        h.raw("<h3>Listeners</h3>\n<div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th>Protocol</th><th>Address</th><th>Port</th><th>Declared</th></tr></thead>\n<tbody>\n");
        for l in &surface.listeners {
            h.raw("<tr><td data-label=\"Protocol\">")
                .text(l.protocol.as_str())
                .raw("</td><td data-label=\"Address\"><code>")
                .text(&l.address)
                .raw("</code></td><td data-label=\"Port\">")
                .text(&l.port.to_string())
                .raw("</td><td data-label=\"Declared\">");
            if l.declared {
                h.text("yes");
            } else {
                h.el("strong", "", "no");
            }
            h.raw("</td></tr>\n");
        }
        h.raw("</tbody></table></div>\n");
    }
    if !surface.undeclared_peers.is_empty() {
        h.raw("<h3>Peers no resource declares</h3>\n<ul>\n");
        for p in &surface.undeclared_peers {
            h.raw("<li><code>")
                .text(&format!("{} {}:{}", p.protocol, p.address, p.port))
                .raw("</code> ")
                .text(&format!("({} connection(s))", p.connections))
                .raw("</li>\n");
        }
        h.raw("</ul>\n");
    }
    if !surface.secrets.is_empty() {
        h.raw("<h3>Secrets, by where they sit</h3>\n<div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th>Held by</th><th>What</th><th>Where</th></tr></thead>\n<tbody>\n");
        for s in &surface.secrets {
            h.raw("<tr><td data-label=\"Held by\">")
                .text(&s.holder)
                .raw("</td><td data-label=\"What\">")
                .text(&s.secret)
                .raw("</td><td data-label=\"Where\"><code>")
                .text(&s.location)
                .raw("</code></td></tr>\n");
        }
        h.raw("</tbody></table></div>\n");
    }
    if !surface.local_state.is_empty() {
        h.raw("<h3>Files it writes outside temporary directories</h3>\n<ul>\n");
        for f in &surface.local_state {
            h.raw("<li><code>").text(f).raw("</code></li>\n");
        }
        h.raw("</ul>\n");
    }
    h.raw("</section>\n");
}

/// One resource's section: its findings, where it points, TLS, the account.
fn resource(h: &mut Html, r: &Resource<'_>, manifest: &Manifest, checks: &BTreeSet<CheckId>) {
    h.raw("<article class=\"resource\" id=\"")
        .raw(&r.anchor)
        .raw("\">\n<h3>")
        .text(r.name);
    if !r.kind.is_empty() {
        h.raw(" ").el("span", "kind", r.kind);
    }
    if let Some(s) = r.worst() {
        h.raw(" ").badge(s);
    }
    h.raw("</h3>\n");

    if r.findings.is_empty() {
        h.el("h4", "", "Findings").el("p", "muted", "No findings.");
    } else {
        h.el("h4", "", &format!("Findings ({})", r.findings.len()))
            .raw("<ol class=\"findings\">\n");
        for f in &r.findings {
            finding(h, f);
        }
        h.raw("</ol>\n");
    }

    h.raw("<div class=\"facts-grid\">");
    h.raw("<div><h4>Where it points</h4><dl class=\"facts\">")
        .fact("Target", r.target().unwrap_or("no binding found"))
        .fact("Source", r.source().unwrap_or("—"))
        .raw("</dl></div>");
    h.raw("<div><h4>TLS</h4>");
    match r.tls() {
        Some(tls) => {
            let days = if tls.peer_days_left < 0 {
                format!("expired {} days ago", -tls.peer_days_left)
            } else {
                format!("{} days left", tls.peer_days_left)
            };
            h.raw("<dl class=\"facts\">")
                .fact("Version", &tls_version(&tls.version))
                .fact("Cipher suite", &tls.cipher_suite)
                .fact(
                    "Verification",
                    &if tls.verification == "verify-full" {
                        "verify-full: chain and host name checked".to_owned()
                    } else {
                        tls.verification.clone()
                    },
                )
                .fact("Peer", &tls.peer_subject)
                .fact("Issuer", &tls.peer_issuer)
                .fact("Names", &tls.peer_sans.join(", "))
                .fact(
                    "Expires",
                    &if tls.peer_not_after.is_empty() {
                        "unknown".to_owned()
                    } else {
                        format!("{} ({days})", tls.peer_not_after)
                    },
                )
                .fact(
                    "Oldest accepted",
                    &match tls.floor.as_deref() {
                        Some("TLSv1.2") => "TLS 1.2 (older versions refused)".to_owned(),
                        Some(older) => {
                            format!("{} (deprecated: tls-weak-protocol)", tls_version(older))
                        }
                        None => "not probed".to_owned(),
                    },
                )
                .raw("</dl>");
        }
        None => {
            let (why, _) = secured(r);
            h.el(
                "p",
                "muted",
                &if why == "no TLS connection made" {
                    "No TLS connection made.".to_owned()
                } else {
                    format!("No TLS connection made ({why}).")
                },
            );
        }
    }
    h.raw("</div></div>\n");

    h.el("h4", "", "Account");
    match r.account() {
        Some(account) => account_view(h, account, &r.findings, checks),
        None => {
            h.el(
                "p",
                "muted",
                "The account was not read: attache did not connect, or could not log in.",
            );
            if let Some(spec) = manifest.resource(r.name) {
                if spec.needs.is_empty() {
                    h.el("p", "muted", "The manifest declares no needs.");
                } else {
                    h.el("p", "", "The needs the manifest declares:")
                        .raw("<ul class=\"needs\">");
                    for n in &spec.needs {
                        h.raw("<li>").el("code", "", n).raw("</li>");
                    }
                    h.raw("</ul>\n");
                }
            }
        }
    }
    h.raw("<p class=\"up\"><a href=\"#top\">Back to top</a></p>\n</article>\n");
}

/// One finding.
fn finding(h: &mut Html, f: &Finding) {
    h.raw("<li class=\"finding sev-border-")
        .raw(f.severity.as_str())
        .raw("\"><div class=\"finding-head\">")
        .badge(f.severity)
        .raw(" ")
        .check_link(f.check)
        .raw("</div>")
        .el("p", "message", &f.message);
    if !f.evidence.is_empty() {
        h.raw("<ul class=\"evidence\">");
        for e in &f.evidence {
            h.el("li", "", e);
        }
        h.raw("</ul>");
    }
    h.raw("<p class=\"remedy\"><span class=\"label\">Fix</span> ")
        .text(&f.remedy)
        .raw("</p></li>\n");
}

/// Where a row of the privilege table stands; the table lists them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    /// A need that is not met.
    Missing,
    /// Held beyond the needs, or a power the needs do not ask for.
    Excess,
    /// Not known, and said so.
    Unknown,
    /// A need, granted.
    Needed,
    /// Held, neither needed nor flagged as excess.
    Held,
}

impl Standing {
    /// Its word in the table, and in the row's class.
    fn label(self) -> &'static str {
        match self {
            Standing::Missing => "missing",
            Standing::Excess => "excess",
            Standing::Unknown => "unknown",
            Standing::Needed => "needed",
            Standing::Held => "held",
        }
    }
}

/// One row of the privilege table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    standing: Standing,
    /// The privilege, the power or what could not be read.
    what: String,
    /// The need it answers, if any.
    need: String,
    /// How it is held, or why it is missing or unknown.
    how: String,
    /// The check that reported it, if one did.
    check: Option<CheckId>,
}

/// `SELECT (email) on TABLE public.users`: a privilege without how it is held.
fn privilege_what(p: &Privilege) -> String {
    format!("{} on {}", p.privilege, p.on)
}

/// How a privilege is held: `directly`, `via role r`, with the grant option if it has it.
fn privilege_how(p: &Privilege) -> String {
    if p.grantable {
        format!("{}, with grant option", p.via)
    } else {
        p.via.to_string()
    }
}

/// Whether `line`, an evidence line of `priv-excess` (`DELETE, UPDATE on TABLE t (directly)`),
/// names `p`.
fn names_privilege(line: &str, p: &Privilege) -> bool {
    let Some(at) = line.rfind(&format!(" on {} (", p.on)) else {
        return false;
    };
    line.get(..at).is_some_and(|texts| {
        texts
            .split(", ")
            .any(|t| t == p.privilege || t.starts_with(&format!("{} ", p.privilege)))
    })
}

/// The account's privileges against its needs: each need checked (needed, missing, unknown),
/// each privilege held beyond them (excess when a `priv-excess` finding names it, else held),
/// the powers the findings name (`priv-excess` evidence no privilege explains, `priv-superuser`,
/// `priv-role-admin`), what could not be read, and evidence of `priv-missing` and
/// `priv-unknown` not said otherwise. Sorted by [`Standing`], stable within each.
fn privilege_rows(account: &Account, findings: &[&Finding]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut used = vec![false; account.privileges.len()];
    let mut said: BTreeSet<&str> = account.unknown.iter().map(String::as_str).collect();
    for nc in &account.needs {
        let (standing, how, check) = match &nc.state {
            NeedState::Granted => {
                let mut ways = Vec::new();
                for (i, p) in account.privileges.iter().enumerate() {
                    if privilege_what(p) == nc.what {
                        used[i] = true;
                        ways.push(privilege_how(p));
                    }
                }
                let how = if ways.is_empty() {
                    "granted".to_owned()
                } else {
                    ways.join("; ")
                };
                (Standing::Needed, how, None)
            }
            NeedState::Missing { detail, .. }
            | NeedState::NoObject { detail }
            | NeedState::Unchecked { detail } => {
                said.insert(detail);
                (
                    Standing::Missing,
                    detail.clone(),
                    Some(CheckId::PrivMissing),
                )
            }
            NeedState::Unknown { detail } => {
                said.insert(detail);
                (
                    Standing::Unknown,
                    detail.clone(),
                    Some(CheckId::PrivUnknown),
                )
            }
        };
        rows.push(Row {
            standing,
            what: nc.what.clone(),
            need: nc.need.clone(),
            how,
            check,
        });
    }

    let of = |check: CheckId| findings.iter().filter(move |f| f.check == check);
    let excess_lines: Vec<&str> = of(CheckId::PrivExcess)
        .flat_map(|f| f.evidence.iter().map(String::as_str))
        .collect();
    let mut line_used = vec![false; excess_lines.len()];
    for (i, p) in account.privileges.iter().enumerate() {
        if used[i] {
            continue;
        }
        let mut flagged = false;
        for (j, line) in excess_lines.iter().enumerate() {
            if names_privilege(line, p) {
                flagged = true;
                line_used[j] = true;
            }
        }
        rows.push(Row {
            standing: if flagged {
                Standing::Excess
            } else {
                Standing::Held
            },
            what: privilege_what(p),
            need: String::new(),
            how: privilege_how(p),
            check: flagged.then_some(CheckId::PrivExcess),
        });
    }
    for (line, _) in excess_lines
        .iter()
        .zip(&line_used)
        .filter(|(_, used)| !**used)
    {
        rows.push(Row {
            standing: Standing::Excess,
            what: (*line).to_owned(),
            need: String::new(),
            how: "beyond the needs".to_owned(),
            check: Some(CheckId::PrivExcess),
        });
    }
    for check in [CheckId::PrivSuperuser, CheckId::PrivRoleAdmin] {
        for f in of(check) {
            let lines: Vec<&str> = if f.evidence.is_empty() {
                vec![&f.message]
            } else {
                f.evidence.iter().map(String::as_str).collect()
            };
            for line in lines {
                rows.push(Row {
                    standing: Standing::Excess,
                    what: line.to_owned(),
                    need: String::new(),
                    how: if check == CheckId::PrivSuperuser {
                        "administrator: can do anything".to_owned()
                    } else {
                        "can create roles or hand out privileges".to_owned()
                    },
                    check: Some(check),
                });
            }
        }
    }
    for what in &account.unknown {
        rows.push(Row {
            standing: Standing::Unknown,
            what: what.clone(),
            need: String::new(),
            how: "could not be read".to_owned(),
            check: Some(CheckId::PrivUnknown),
        });
    }
    for (check, standing) in [
        (CheckId::PrivMissing, Standing::Missing),
        (CheckId::PrivUnknown, Standing::Unknown),
    ] {
        for f in of(check) {
            for line in &f.evidence {
                if said.insert(line) {
                    rows.push(Row {
                        standing,
                        what: line.clone(),
                        need: String::new(),
                        how: f.message.clone(),
                        check: Some(check),
                    });
                }
            }
        }
    }
    rows.sort_by_key(|row| row.standing);
    rows
}

/// The account: who it is, and its privileges against the needs.
fn account_view(
    h: &mut Html,
    account: &Account,
    findings: &[&Finding],
    checks: &BTreeSet<CheckId>,
) {
    h.raw("<dl class=\"facts\">").fact(
        "User",
        account.user.as_deref().unwrap_or("could not be read"),
    );
    if let Some(db) = &account.database {
        h.fact("Database", db);
    }
    if let Some(v) = &account.server_version {
        h.fact("Server", v);
    }
    h.el("dt", "", "Attributes").raw("<dd>");
    if account.attributes.is_empty() {
        h.el("span", "muted", "none");
    }
    for a in &account.attributes {
        h.el("code", "attr", a).raw(" ");
    }
    h.raw("</dd>");
    if !account.roles.is_empty() {
        h.el("dt", "", "Roles").raw("<dd><ul class=\"plain\">");
        for role in &account.roles {
            h.raw("<li>").el("code", "", &role.name);
            if role.through.len() > 1 {
                h.text(&format!(" through {}", role.through.join(" → ")));
            }
            if !role.attributes.is_empty() {
                h.text(&format!(" ({})", role.attributes.join(", ")));
            }
            if role.admin_option {
                h.text(", with admin option");
            }
            if role.active == Some(false) {
                h.text(", not active at login");
            }
            h.raw("</li>");
        }
        h.raw("</ul></dd>");
    }
    if !account.owns.is_empty() {
        h.fact("Owns", &account.owns.join(", "));
    }
    h.raw("</dl>\n");

    let rows = privilege_rows(account, findings);
    if rows.is_empty() {
        h.el("p", "muted", "No privileges or needs to show.");
        return;
    }
    h.raw("<div class=\"scroll\"><table class=\"privileges stack\">\n<thead><tr><th>Standing</th><th>Privilege</th><th>Need</th><th>How held, or why</th></tr></thead>\n<tbody>\n");
    for row in &rows {
        let label = row.standing.label();
        h.raw("<tr class=\"row-")
            .raw(label)
            .raw("\"><td class=\"lead\"><span class=\"standing st-")
            .raw(label)
            .raw("\">")
            .raw(label)
            .raw("</span></td><td data-label=\"Privilege\">")
            .el("code", "", &row.what)
            .raw("</td><td data-label=\"Need\">");
        if row.need.is_empty() {
            h.el("span", "muted", "—");
        } else {
            h.text(&row.need);
        }
        h.raw("</td><td data-label=\"How or why\">").text(&row.how);
        if let Some(check) = row.check.filter(|c| checks.contains(c)) {
            h.raw(" ").check_link(check);
        }
        h.raw("</td></tr>\n");
    }
    h.raw("</tbody></table></div>\n");
}

/// `check`'s page: core's, then the section of each kind among `kinds`, in the registry's
/// order.
fn check_page(registry: &Registry, check: CheckId, kinds: &BTreeSet<&str>) -> String {
    let mut page = check.page().trim_end().to_owned();
    for kind in registry.kinds().filter(|k| kinds.contains(k.name())) {
        let surface = kind.surface();
        if let Some(section) = surface.page(check) {
            page.push_str(&format!("\n\n## {}\n\n{}", surface.title, section.trim()));
        }
    }
    page.push('\n');
    page
}

/// One check's page, as its own section.
fn explain(h: &mut Html, check: CheckId, page: &str, checks: &BTreeSet<CheckId>) {
    h.raw("<section class=\"explain\" id=\"check-")
        .raw(check.as_str())
        .raw("\">\n");
    markdown(h, page, checks);
    h.raw("<p class=\"up\"><a href=\"#top\">Back to top</a></p>\n</section>\n");
}

/// A block of markdown being gathered.
enum Block {
    /// Nothing yet.
    None,
    /// Lines of a paragraph.
    Paragraph(Vec<String>),
    /// Items of a list, numbered or not.
    List {
        /// `1.` rather than `-`.
        ordered: bool,
        /// Each item's text, continuation lines joined.
        items: Vec<String>,
    },
}

/// The markdown of a check page, rendered simply and safely: `#` headings (one level below the
/// page's own), paragraphs, `-`/`*` and `1.` lists with indented continuation lines, fenced
/// code blocks and inline code spans; everything else is text, escaped. Check ids in a "See
/// also" section link to their pages when the page has them.
fn markdown(h: &mut Html, md: &str, checks: &BTreeSet<CheckId>) {
    let mut block = Block::None;
    let mut fence: Option<String> = None;
    let mut see_also = false;
    for line in md.lines() {
        if let Some(code) = &mut fence {
            if line.trim_start().starts_with("```") {
                h.raw("<pre><code>").text(code).raw("</code></pre>\n");
                fence = None;
            } else {
                code.push_str(line);
                code.push('\n');
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            flush(h, &mut block, see_also, checks);
            fence = Some(String::new());
            continue;
        }
        if trimmed.is_empty() {
            flush(h, &mut block, see_also, checks);
            continue;
        }
        if let Some((level, title)) = heading(line) {
            flush(h, &mut block, see_also, checks);
            see_also = title.eq_ignore_ascii_case("see also");
            let tag = match level {
                1 => "h3",
                2 => "h4",
                _ => "h5",
            };
            h.open(tag, "");
            inline(h, title, false, checks);
            h.close(tag).raw("\n");
            continue;
        }
        if let Some((ordered, item)) = list_item(line) {
            match &mut block {
                Block::List { ordered: o, items } if *o == ordered => items.push(item.to_owned()),
                _ => {
                    flush(h, &mut block, see_also, checks);
                    block = Block::List {
                        ordered,
                        items: vec![item.to_owned()],
                    };
                }
            }
            continue;
        }
        let continues_item = line.starts_with("  ");
        match &mut block {
            Block::List { items, .. } if continues_item => {
                if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(trimmed);
                }
            }
            // The lines under a page's title (`Severity: …`, `Refuses the attach: …`) are
            // each a paragraph.
            Block::Paragraph(lines)
                if !trimmed.starts_with("Severity:")
                    && !trimmed.starts_with("Refuses the attach:") =>
            {
                lines.push(trimmed.to_owned());
            }
            _ => {
                flush(h, &mut block, see_also, checks);
                block = Block::Paragraph(vec![trimmed.to_owned()]);
            }
        }
    }
    if let Some(code) = fence {
        h.raw("<pre><code>").text(&code).raw("</code></pre>\n");
    }
    flush(h, &mut block, see_also, checks);
}

/// `## Title` → `(2, "Title")`.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    line.get(level..)?
        .strip_prefix(' ')
        .map(|title| (level, title.trim()))
}

/// `- item`, `* item` → `(false, "item")`; `12. item` → `(true, "item")`.
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, item.trim()));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line.get(digits..)?
        .strip_prefix(". ")
        .map(|item| (true, item.trim()))
}

/// Writes the gathered block, if any, and starts afresh.
fn flush(h: &mut Html, block: &mut Block, see_also: bool, checks: &BTreeSet<CheckId>) {
    match std::mem::replace(block, Block::None) {
        Block::None => {}
        Block::Paragraph(lines) => {
            h.raw("<p>");
            inline(h, &lines.join(" "), see_also, checks);
            h.raw("</p>\n");
        }
        Block::List { ordered, items } => {
            let tag = if ordered { "ol" } else { "ul" };
            h.open(tag, "");
            for item in items {
                h.raw("<li>");
                inline(h, &item, see_also, checks);
                h.raw("</li>");
            }
            h.close(tag).raw("\n");
        }
    }
}

/// Text with inline code spans (a run of backticks up to the next run of the same length);
/// with `links`, the ids of checks the page has link to them.
fn inline(h: &mut Html, text: &str, links: bool, checks: &BTreeSet<CheckId>) {
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let ticks = rest
            .get(start..)
            .map_or(0, |r| r.chars().take_while(|&c| c == '`').count());
        let fence = "`".repeat(ticks);
        let after = rest.get(start + ticks..).unwrap_or("");
        match closing(after, &fence) {
            Some(end) => {
                plain(h, rest.get(..start).unwrap_or(""), links, checks);
                let code = after.get(..end).unwrap_or("");
                let code = match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
                    Some(inner) if !inner.trim().is_empty() => inner,
                    _ => code,
                };
                h.el("code", "", code);
                rest = after.get(end + ticks..).unwrap_or("");
            }
            None => {
                // No closing run: the backticks are text.
                plain(h, rest.get(..start + ticks).unwrap_or(""), links, checks);
                rest = after;
            }
        }
    }
    plain(h, rest, links, checks);
}

/// Where in `text` a run of exactly `fence` backticks starts.
fn closing(text: &str, fence: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text.get(from..)?.find(fence) {
        let at = from + found;
        let run = text
            .get(at..)
            .map_or(0, |r| r.chars().take_while(|&c| c == '`').count());
        if run == fence.len() {
            return Some(at);
        }
        from = at + run;
    }
    None
}

/// Text; with `links`, words that are ids of checks the page has become links to them.
fn plain(h: &mut Html, text: &str, links: bool, checks: &BTreeSet<CheckId>) {
    if !links {
        h.text(text);
        return;
    }
    let is_id = |c: char| c.is_ascii_lowercase() || c == '-';
    let mut word = String::new();
    let emit = |h: &mut Html, word: &mut String| {
        match checks.iter().find(|c| c.as_str() == word.as_str()) {
            Some(&check) => {
                h.check_link(check);
            }
            None => {
                h.text(word);
            }
        }
        word.clear();
    };
    for c in text.chars() {
        if is_id(c) {
            word.push(c);
        } else {
            emit(h, &mut word);
            h.text(c.encode_utf8(&mut [0; 4]));
        }
    }
    emit(h, &mut word);
}

/// The page's style: light and dark, desktop and phone.
const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#f5f6f8;--fg:#1c2128;--muted:#5b6470;--card:#fff;--line:#d9dee4;--soft:#eef1f4;--link:#0a58b0;--pass:#1a7f37;--fail:#b42318;--ok:#1a7f37;--bad:#b42318;--warn:#9a5b00}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e4e8ec;--muted:#9aa4af;--card:#171c22;--line:#2e3640;--soft:#212830;--link:#6cb2ff;--pass:#3fb950;--fail:#ff6b5e;--ok:#3fb950;--bad:#ff6b5e;--warn:#e3a234}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Helvetica Neue",Arial,sans-serif;overflow-wrap:anywhere}
main{max-width:1160px;margin:0 auto;padding:20px 16px 40px}
a{color:var(--link)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.9em}
code{background:var(--soft);border-radius:4px;padding:.05em .3em}
pre{background:var(--soft);border-radius:6px;padding:10px 12px;overflow-x:auto;line-height:1.4}
pre code{background:none;padding:0;overflow-wrap:normal;white-space:pre}
h1{font-size:1.25rem;margin:0 0 4px}
h2{font-size:1.3rem;margin:32px 0 8px}
h3{font-size:1.15rem;margin:0 0 8px;display:flex;flex-wrap:wrap;align-items:center;gap:8px}
h4{font-size:.95rem;margin:18px 0 6px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
h5{font-size:.95rem;margin:14px 0 4px}
p{margin:6px 0}
.muted{color:var(--muted)}
.verdict{display:flex;gap:18px;align-items:flex-start;background:var(--card);border:1px solid var(--line);border-left:8px solid var(--fail);border-radius:10px;padding:16px 18px}
.verdict.pass{border-left-color:var(--pass)}
.verdict-word{font-size:2rem;font-weight:800;letter-spacing:.06em;color:#fff;background:#b42318;border-radius:8px;padding:6px 14px;line-height:1.2}
.verdict.pass .verdict-word{background:#1a7f37}
.verdict-body{min-width:0;flex:1}
.counts{list-style:none;display:flex;flex-wrap:wrap;gap:8px;padding:0;margin:10px 0 6px}
.count{display:flex;align-items:center;gap:6px;border:1px solid var(--line);border-radius:999px;padding:2px 10px 2px 3px;background:var(--bg)}
.count.zero{opacity:.5}
.manifest{color:var(--muted);font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin:14px 2px 0;font-size:.92rem}
.badge{display:inline-block;min-width:4.6em;text-align:center;font-size:.75rem;font-weight:700;text-transform:uppercase;letter-spacing:.04em;color:#fff;border-radius:999px;padding:2px 8px;line-height:1.5;white-space:nowrap}
.sev-critical{background:#7a0916}.sev-high{background:#c4320a}.sev-medium{background:#a15c00}.sev-low{background:#0b6b8a}.sev-info{background:#5b6470}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);border-radius:8px;background:var(--card)}
table{border-collapse:collapse;width:100%;font-size:.92rem;overflow-wrap:break-word}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
tbody tr:last-child td{border-bottom:0}
th{background:var(--soft);font-weight:600;white-space:nowrap}
table.surface{min-width:860px}
table.surface td:nth-child(3){min-width:200px;overflow-wrap:anywhere}
table.privileges{min-width:640px}
table.privileges td:nth-child(2){min-width:220px}
.sec{font-weight:600;white-space:nowrap}.sec-ok{color:var(--ok)}.sec-bad{color:var(--bad)}.sec-warn{color:var(--warn)}.sec-none{color:var(--muted)}
.resource{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:14px 0}
.kind{font-size:.8rem;font-weight:600;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 6px}
.findings{list-style:none;padding:0;margin:0;display:grid;gap:10px}
.finding{border:1px solid var(--line);border-left:5px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}
.sev-border-critical{border-left-color:#7a0916}.sev-border-high{border-left-color:#c4320a}.sev-border-medium{border-left-color:#a15c00}.sev-border-low{border-left-color:#0b6b8a}.sev-border-info{border-left-color:#5b6470}
.finding-head{display:flex;flex-wrap:wrap;align-items:center;gap:8px}
.check{font-weight:600;text-decoration:none}.check:hover{text-decoration:underline}
.message{font-weight:500;margin:6px 0}
.evidence{margin:4px 0 6px;padding-left:20px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.85rem}
.remedy{margin:4px 0 0}
.label{display:inline-block;font-size:.72rem;font-weight:700;text-transform:uppercase;letter-spacing:.05em;color:var(--ok);border:1px solid currentColor;border-radius:4px;padding:0 5px;margin-right:4px}
.facts-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr));gap:0 28px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0}
.facts dt{color:var(--muted)}
.facts dd{margin:0;min-width:0}
.plain{list-style:none;padding:0;margin:0}
.attr{font-weight:600}
.standing{display:inline-block;font-size:.75rem;font-weight:700;text-transform:uppercase;letter-spacing:.04em;border-radius:4px;padding:1px 6px;white-space:nowrap;border:1px solid currentColor}
.st-missing{color:var(--bad)}.st-excess{color:var(--warn)}.st-unknown{color:var(--muted)}.st-needed{color:var(--ok)}.st-held{color:var(--muted)}
.row-excess{background:color-mix(in srgb,var(--warn) 8%,transparent)}
.row-missing{background:color-mix(in srgb,var(--bad) 8%,transparent)}
.explain{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:6px 18px 10px;margin:14px 0}
.explain h3{margin-top:12px}
.explain ul,.explain ol{padding-left:22px}
.up{font-size:.85rem;margin-top:12px}
footer{margin-top:28px;color:var(--muted);font-size:.85rem}
@media (max-width:600px){
body{font-size:14px}
main{padding:12px 10px 28px}
.verdict{flex-direction:column;gap:10px;padding:12px}
.verdict-word{font-size:1.5rem}
.resource,.explain{padding:12px}
.facts{grid-template-columns:1fr;gap:0}
.facts dt{margin-top:6px;font-size:.85rem}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%;min-width:0}
table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
table.stack tr{border-bottom:1px solid var(--line);padding:8px 10px}
table.stack tbody tr:last-child{border-bottom:0}
table.stack td{border:0;padding:2px 0 2px 7.4rem;position:relative;min-height:1.6em}
table.stack td::before{content:attr(data-label);position:absolute;left:0;width:7rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:var(--muted);font-size:.85rem;line-height:1.75}
table.stack td.lead{padding:0 0 4px;font-weight:600;font-size:1.02rem}
table.stack td.lead::before{content:none}
}
@media print{.scroll{overflow:visible}table.surface,table.privileges{min-width:0}nav,.up{display:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use attache::{NeedCheck, Via};

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x" + 'y')</script> & more"#),
            "&lt;script&gt;alert(&quot;x&quot; + &#39;y&#39;)&lt;/script&gt; &amp; more"
        );
        assert_eq!(
            escape("\"><img src=x onerror=alert(1)>"),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaped once more, never decoded"
        );
        assert_eq!(escape("plain — ünïcode"), "plain — ünïcode");
        for hostile in [
            "<",
            ">",
            "\"",
            "'",
            "<script>",
            "</style>",
            "<!--",
            "javascript:'",
        ] {
            let e = escape(hostile);
            assert!(!e.contains(['<', '>', '"', '\'']), "{hostile} → {e}");
        }
    }

    fn manifest() -> Manifest {
        Manifest::parse(
            "attache.toml",
            "[resources.db]\nkind = \"postgres\"\nneeds = [\"SELECT ON TABLE t\"]\n",
        )
        .unwrap()
    }

    fn render_findings(resource: ResourceReport, findings: Vec<Finding>) -> String {
        let mut report = Report::new(vec![resource]);
        report.findings = findings;
        render(&report, &attache::registry(), &manifest(), Severity::High)
    }

    #[test]
    fn hostile_report_text_stays_text() {
        let evil = "<script>alert('x')</script>\"><img src=x>";
        let mut r = ResourceReport::empty(evil, "postgres");
        r.target = Some(format!("postgres://{evil}@host/db"));
        r.source = Some(evil.to_owned());
        r.account = Some(Account {
            user: Some(evil.to_owned()),
            attributes: vec![evil.to_owned()],
            unknown: vec![evil.to_owned()],
            needs: vec![NeedCheck {
                need: evil.to_owned(),
                what: evil.to_owned(),
                implied: false,
                state: NeedState::Unknown {
                    detail: evil.to_owned(),
                },
            }],
            ..Account::default()
        });
        let f = Finding::new(CheckId::PrivExcess, Severity::High, evil, evil, evil)
            .with_evidence([evil]);
        let html = render_findings(r, vec![f]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;"));
        // The resource's anchor holds nothing an attribute could break out of.
        assert!(html.contains("id=\"resource-_script_alert__x__"), "{html}");
    }

    #[test]
    fn the_page_is_self_contained_and_says_the_verdict() {
        let r = ResourceReport::empty("db", "postgres");
        let f = Finding::new(
            CheckId::TlsPlaintext,
            Severity::High,
            "db",
            "sslmode=disable to db.example.com",
            "use verify-full",
        );
        let html = render_findings(r, vec![f]);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(&format!("content=\"{CSP}\"")));
        assert!(html.contains(">FAIL<"));
        assert!(html.contains("<section class=\"explain\" id=\"check-tls-plaintext\">"));
        assert!(html.contains("href=\"#check-tls-plaintext\""));
        assert!(html.contains("plaintext"));
        assert!(!html.contains("<script") && !html.contains("<link"));
        for attr in ["href=\"", "src=\""] {
            for (i, _) in html.match_indices(attr) {
                let value = &html[i + attr.len()..];
                assert!(value.starts_with('#'), "{}", &value[..value.len().min(40)]);
            }
        }
        // Only the kinds of the report get their sections of a page.
        assert!(html.contains("<h4>PostgreSQL</h4>"));
        assert!(!html.contains("<h4>Redis</h4>"));

        let clean = render_findings(ResourceReport::empty("db", "postgres"), Vec::new());
        assert!(clean.contains(">PASS<"));
        assert!(!clean.contains("id=\"checks\""));
        assert!(clean.contains("SELECT ON TABLE t"), "the declared needs");
    }

    fn privilege(privilege: &str, on: &str, via: Via) -> Privilege {
        Privilege {
            privilege: privilege.into(),
            on: on.into(),
            via,
            grantable: false,
        }
    }

    #[test]
    fn privileges_are_classified_against_needs_and_findings() {
        let need = |what: &str, state: NeedState| NeedCheck {
            need: "SELECT, INSERT ON TABLE t".into(),
            what: what.into(),
            implied: false,
            state,
        };
        let account = Account {
            user: Some("app".into()),
            privileges: vec![
                privilege("SELECT", "TABLE t", Via::Directly),
                privilege("DELETE", "TABLE t", Via::Directly),
                privilege("UPDATE", "TABLE t", Via::Directly),
                privilege("USAGE", "SCHEMA public", Via::Public),
            ],
            unknown: vec!["the roles: permission denied".into()],
            needs: vec![
                need("SELECT on TABLE t", NeedState::Granted),
                need(
                    "INSERT on TABLE t",
                    NeedState::not_granted("INSERT on TABLE t", None),
                ),
            ],
            ..Account::default()
        };
        let excess = Finding::new(
            CheckId::PrivExcess,
            Severity::Medium,
            "db",
            "2 grants",
            "REVOKE",
        )
        .with_evidence([
            "DELETE, UPDATE on TABLE t (directly)",
            "owns TABLE t (directly)",
        ]);
        let admin = Finding::role_admin("db", "app can create roles", "NOCREATEROLE")
            .with_evidence(["app has CREATEROLE"]);
        let missing = Finding::new(CheckId::PrivMissing, Severity::High, "db", "need", "GRANT")
            .with_evidence(["INSERT on TABLE t is not granted", "t has no column c"]);
        let rows = privilege_rows(&account, &[&excess, &admin, &missing]);
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.standing.label(), r.what.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("missing", "INSERT on TABLE t"),
                ("missing", "t has no column c"),
                ("excess", "DELETE on TABLE t"),
                ("excess", "UPDATE on TABLE t"),
                ("excess", "owns TABLE t (directly)"),
                ("excess", "app has CREATEROLE"),
                ("unknown", "the roles: permission denied"),
                ("needed", "SELECT on TABLE t"),
                ("held", "USAGE on SCHEMA public"),
            ]
        );
        assert_eq!(rows[7].how, "directly");
        assert_eq!(rows[8].how, "via PUBLIC");
    }

    #[test]
    fn markdown_renders_simply_and_safely() {
        let checks: BTreeSet<CheckId> = [CheckId::TlsUnverified].into();
        let md = "# tls-x — a <title>\n\nSeverity: high\nRefuses the attach: yes\n\n## What it finds\n\nOne `a<b>` and\nmore ``x ` y`` text.\n\n- first\n  continued\n- second\n\n1. one\n2. two\n\n```\n<raw> & code\n```\n\n## See also\n\ntls-unverified, tls-plaintext\n\nan `unclosed tick";
        let mut h = Html::default();
        markdown(&mut h, md, &checks);
        assert_eq!(
            h.0,
            "<h3>tls-x — a &lt;title&gt;</h3>\n\
             <p>Severity: high</p>\n<p>Refuses the attach: yes</p>\n\
             <h4>What it finds</h4>\n\
             <p>One <code>a&lt;b&gt;</code> and more <code>x ` y</code> text.</p>\n\
             <ul><li>first continued</li><li>second</li></ul>\n\
             <ol><li>one</li><li>two</li></ol>\n\
             <pre><code>&lt;raw&gt; &amp; code\n</code></pre>\n\
             <h4>See also</h4>\n\
             <p><a class=\"check\" href=\"#check-tls-unverified\"><code>tls-unverified</code></a>, tls-plaintext</p>\n\
             <p>an `unclosed tick</p>\n"
        );
    }

    #[test]
    fn every_page_renders() {
        let registry = attache::registry();
        let kinds: BTreeSet<&str> = registry.names().into_iter().collect();
        for &check in CheckId::ALL {
            let mut h = Html::default();
            markdown(
                &mut h,
                &check_page(&registry, check, &kinds),
                &BTreeSet::new(),
            );
            assert!(h.0.starts_with(&format!("<h3>{check}")), "{check}");
            assert!(!h.0.contains("```"), "{check}: a fence left open");
        }
    }

    #[test]
    fn anchors_are_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_anchor("a b", &mut taken), "resource-a_b");
        assert_eq!(unique_anchor("a_b", &mut taken), "resource-a_b-2");
        assert_eq!(unique_anchor("a/b", &mut taken), "resource-a_b-3");
    }
}
