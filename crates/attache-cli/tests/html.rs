//! `attache audit --format html` in a real browser: headless Chromium (Debian's `chromium`,
//! installed by `scripts/setup`) loads the page from `file://`, and the test reads the DOM it
//! rendered and takes screenshots at desktop (1280 px) and phone (375 px) widths.
//!
//! What belongs here: what only a browser can show about the HTML view (every finding is in the
//! rendered page, nothing is loaded from elsewhere, the page renders at both widths), end to
//! end through the binary. How the view classifies privileges, escapes text and renders check
//! pages is unit-tested in `src/render/html.rs`.
//!
//! The page, its DOM and the screenshots stay in `target/html-report/` for a person to look at.
//! Without Chromium the tests fail and say to run `scripts/setup`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attache_testkit::cli_contract::{Env, Project, Run};
use attache_testkit::{Account, AsLogin, PgServer, Service, Shape};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// The password planted in the offline project's URL: it must appear nowhere.
const PLANTED: &str = "PLANTED-SECRET-123";

/// The policy the page must carry, so the browser itself refuses any load.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// How long one Chromium run may take before the test gives up on it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// `pairs` as an environment.
fn env<const N: usize>(pairs: [(&str, String); N]) -> Env {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Where the pages and screenshots are kept: `target/html-report/<case>/`.
fn report_dir(case: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("html-report").join(case);
    std::fs::create_dir_all(&dir).expect("create the report directory");
    dir
}

/// Headless Chromium, each run with a fresh profile in `profiles`.
struct Browser {
    /// The `chromium` executable.
    bin: PathBuf,
    /// Where each run's `--user-data-dir` is made.
    profiles: tempfile::TempDir,
    /// How many runs so far (each gets its own profile).
    runs: AtomicUsize,
}

/// How a run of the browser ended.
struct BrowserRun {
    /// Its standard output (the DOM, with `--dump-dom`).
    stdout: String,
    /// Its standard error (its log and the console, with `--enable-logging=stderr`).
    stderr: String,
}

impl Browser {
    /// Chromium from `PATH` or `/usr/bin/chromium`; fails the test, saying how to install it,
    /// when there is none.
    fn find() -> Browser {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("chromium"))
            .chain([PathBuf::from("/usr/bin/chromium")])
            .find(|p| p.is_file());
        let Some(bin) = on_path else {
            panic!(
                "headless Chromium is not installed (no `chromium` on PATH or at /usr/bin/chromium): \
                 run scripts/setup, which installs Debian's chromium package; the HTML report's \
                 browser test needs it"
            );
        };
        Browser {
            bin,
            profiles: tempfile::tempdir().expect("a temporary directory"),
            runs: AtomicUsize::new(0),
        }
    }

    /// Runs Chromium headless on `page` with `args`, in a fresh profile, and waits for it.
    fn run(&self, page: &Path, args: &[String]) -> BrowserRun {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let profile = self.profiles.path().join(format!("profile-{n}"));
        let url = format!("file://{}", page.display());
        let mut child = Command::new(&self.bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin.display()));
        // Read both pipes while waiting, so a full pipe cannot stall the browser.
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for chromium") {
                break status;
            }
            if started.elapsed() > BROWSER_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium {args:?} on {url} took more than {BROWSER_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let run = BrowserRun {
            stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        };
        assert!(
            status.success(),
            "chromium {args:?} on {url}: {status}\n{}",
            run.stderr
        );
        run
    }

    /// The DOM Chromium rendered from `page` (`--dump-dom`), with its console on stderr.
    fn dom(&self, page: &Path) -> BrowserRun {
        let run = self.run(
            page,
            &[
                "--dump-dom".to_owned(),
                "--enable-logging=stderr".to_owned(),
                "--v=0".to_owned(),
            ],
        );
        assert!(
            run.stdout.contains("</html>"),
            "no DOM from {}: {}",
            page.display(),
            run.stderr
        );
        run
    }

    /// A `width`×2000 screenshot of `page` into `png`; asserts it is a PNG of that size with
    /// something in it.
    fn screenshot(&self, page: &Path, width: u32, png: &Path) {
        let _ = std::fs::remove_file(png);
        self.run(
            page,
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={width},2000"),
            ],
        );
        let bytes = std::fs::read(png)
            .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            png.display()
        );
        let be = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
        };
        assert_eq!(
            (be(16), be(20)),
            (Some(width), Some(2000)),
            "{}",
            png.display()
        );
        // A blank 1280×2000 page compresses to a few kilobytes; a rendered report does not.
        assert!(
            bytes.len() > 20_000,
            "{} is only {} bytes: nothing rendered?",
            png.display(),
            bytes.len()
        );
    }
}

/// `text` as Chromium serializes a text node: `&`, `<`, `>` and no-break spaces escaped.
fn dom_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// `text` as the page writes it: [`dom_text`], and quotes as entities.
fn file_text(text: &str) -> String {
    dom_text(text).replace('"', "&quot;").replace('\'', "&#39;")
}

/// The part of `html` that is the element with `id` (from its id up to the end of the first
/// `</close>` after it).
fn element<'a>(html: &'a str, id: &str, close: &str) -> &'a str {
    let start = html
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let rest = &html[start..];
    let end = rest
        .find(&format!("</{close}>"))
        .unwrap_or_else(|| panic!("#{id} is not closed"));
    &rest[..end]
}

/// The page references nothing outside itself: no script, no stylesheet, frame or object, no
/// CSS import or `url()`, every `href`/`src` an in-page anchor or `data:`; and it carries the
/// CSP that makes the browser enforce this.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        "<link",
        "<iframe",
        "<frame",
        "<object",
        "<embed",
        "<base",
        "<form",
        "@import",
        "url(",
        "srcset=",
        "action=",
        "<meta http-equiv=\"refresh\"",
    ] {
        assert!(!lower.contains(banned), "the page has `{banned}`");
    }
    for attr in [" href=", " src=", " poster=", " data="] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(
                value.starts_with('#') || value.starts_with("data:"),
                "{attr} points outside the page: {}",
                &value[..value.len().min(60)]
            );
        }
    }
    for scheme in ["http://", "https://"] {
        for (at, _) in lower.match_indices(scheme) {
            // In text (a check page names https://12factor.net), never in an attribute.
            let before = &lower[..at];
            let in_tag = before.rfind('<') > before.rfind('>');
            assert!(
                !in_tag,
                "a URL inside a tag: {}",
                &lower[at..lower.len().min(at + 60)]
            );
        }
    }
    assert!(
        html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        )),
        "no CSP meta tag"
    );
    assert!(
        html.contains("<meta name=\"viewport\""),
        "no viewport meta tag"
    );
}

/// Chromium's console had nothing to say about the page: no load refused by its CSP, no load
/// that failed.
fn assert_quiet_console(stderr: &str) {
    for sign in ["Content Security Policy", "Refused to", "net::ERR_"] {
        assert!(
            !stderr.contains(sign),
            "the page tried to load something ({sign}):\n{stderr}"
        );
    }
}

/// Every finding of `json` is in the DOM within its resource's section: its check id linking to
/// the check's page (which is there), its severity, message, evidence and fix.
fn assert_findings_shown(dom: &str, json: &Value) {
    let findings = json["findings"].as_array().expect("a findings array");
    assert!(!findings.is_empty());
    assert_eq!(
        dom.matches("<li class=\"finding ").count(),
        findings.len(),
        "one entry per finding"
    );
    for f in findings {
        let field = |k: &str| f[k].as_str().unwrap_or_else(|| panic!("{k} of {f}"));
        let (check, resource) = (field("check"), field("resource"));
        let section = element(dom, &format!("resource-{resource}"), "article");
        for text in [
            format!("href=\"#check-{check}\""),
            format!(
                "<span class=\"badge sev-{s}\">{s}</span>",
                s = field("severity")
            ),
            dom_text(field("message")),
            dom_text(field("remedy")),
        ] {
            assert!(
                section.contains(&text),
                "{check} of {resource}: `{text}` is not in its section:\n{section}"
            );
        }
        for e in f["evidence"].as_array().expect("an evidence array") {
            let e = dom_text(e.as_str().expect("an evidence line"));
            assert!(section.contains(&e), "{check}: evidence `{e}`");
        }
        assert!(
            dom.contains(&format!("<section class=\"explain\" id=\"check-{check}\">")),
            "{check}'s page is not in the document"
        );
    }
    // Grouped by resource, most severe first within each.
    for r in json["resources"].as_array().expect("a resources array") {
        let name = r["name"].as_str().expect("a name");
        let section = element(dom, &format!("resource-{name}"), "article");
        let rank = |s: &str| {
            ["critical", "high", "medium", "low", "info"]
                .iter()
                .position(|x| *x == s)
        };
        let shown: Vec<Option<usize>> = section
            .match_indices("<li class=\"finding sev-border-")
            .map(|(at, m)| {
                let rest = &section[at + m.len()..];
                rank(rest.split('"').next().unwrap_or(""))
            })
            .collect();
        assert!(shown.iter().all(Option::is_some), "{name}: {shown:?}");
        assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{name}: {shown:?}");
    }
}

/// Writes the HTML run's page to `dir/report.html` (and the JSON beside it), checks the file,
/// renders it, checks the DOM and takes both screenshots; returns the DOM.
fn render_and_check(
    browser: &Browser,
    dir: &Path,
    html: &Run,
    json: &Run,
    secrets: &[&str],
) -> String {
    let page = dir.join("report.html");
    std::fs::write(&page, &html.stdout).expect("write report.html");
    std::fs::write(dir.join("report.json"), &json.stdout).expect("write report.json");
    assert!(
        html.stdout.starts_with("<!doctype html>"),
        "{}",
        html.stdout
    );
    assert_self_contained(&html.stdout);

    for f in json.json()["findings"]
        .as_array()
        .expect("a findings array")
    {
        let message = file_text(f["message"].as_str().expect("a message"));
        assert!(html.stdout.contains(&message), "not in the file: {message}");
    }

    let run = browser.dom(&page);
    std::fs::write(dir.join("dom.html"), &run.stdout).expect("write dom.html");
    assert_quiet_console(&run.stderr);
    let dom = run.stdout;
    assert_findings_shown(&dom, &json.json());
    for secret in secrets {
        assert!(!html.stdout.contains(secret), "a secret is in the page");
        assert!(!dom.contains(secret), "a secret is in the DOM");
        assert!(!run.stderr.contains(secret), "a secret is in the console");
    }

    browser.screenshot(&page, 1280, &dir.join("report-1280.png"));
    browser.screenshot(&page, 375, &dir.join("report-375.png"));
    dom
}

#[test]
fn offline_audit_renders_every_finding_and_loads_nothing() {
    let browser = Browser::find();
    let project = Project::new(
        BIN,
        "[resources.db]\nkind = \"postgres\"\nneeds = [\"SELECT, INSERT ON TABLE public.signups\"]\n\
         [resources.cache]\nkind = \"redis\"\n\
         [resources.missing]\nkind = \"postgres\"\n",
    );
    let envs = env([
        (
            "DB_URL",
            format!("postgres://app:{PLANTED}@db.example.com/app?sslmode=disable"),
        ),
        ("CACHE_URL", "redis://cache.example.com".to_owned()),
    ]);
    let json = project.audit(&["--format", "json"], &envs, &[PLANTED]);
    assert_eq!(json.code, 1, "{}\n{}", json.stdout, json.stderr);
    let checks = json.checks();
    for check in ["tls-plaintext", "cred-in-env", "binding-missing"] {
        assert!(checks.iter().any(|c| c == check), "{check}: {checks:?}");
    }
    let html = project.audit(&["--format", "html"], &envs, &[PLANTED]);
    assert_eq!(html.code, 1, "the exit code does not depend on the format");

    let dir = report_dir("offline");
    let dom = render_and_check(&browser, &dir, &html, &json, &[PLANTED]);

    // The verdict, the counts, the manifest.
    let header = element(&dom, "top", "header");
    assert!(header.contains(">FAIL<"), "{header}");
    assert!(header.contains("4 findings in 3 resources"), "{header}");
    assert!(header.contains(&dom_text(&project.manifest())), "{header}");
    // The attack surface: one row per resource, how each is secured.
    let surface = element(&dom, "surface", "section");
    assert_eq!(surface.matches("<tr><td class=\"lead\">").count(), 3);
    for (name, secured) in [
        ("cache", "plaintext"),
        ("db", "plaintext"),
        ("missing", "no binding"),
    ] {
        let row = &surface[surface
            .find(&format!("href=\"#resource-{name}\""))
            .expect("a row per resource")..];
        let row = &row[..row.find("</tr>").expect("a closed row")];
        assert!(row.contains(&format!(">{secured}<")), "{name}: {row}");
        assert!(row.contains("not inspected"), "{name}: {row}");
    }
    assert!(surface.contains("postgres://app@db.example.com:5432/app"));
    // No connection was made: said so, and the declared needs are shown instead.
    let db = element(&dom, "resource-db", "article");
    assert!(db.contains("No TLS connection made"), "{db}");
    assert!(
        db.contains("SELECT, INSERT ON TABLE public.signups"),
        "{db}"
    );
    assert!(db.contains("env DB_URL"), "{db}");

    // The browser enforces the page's CSP: the same page with a planted image, stylesheet and
    // script pointing at a local server makes no request to it, while without the CSP the
    // browser does reach it (so this run would see a load if one happened).
    let server = Counter::start();
    let planted = format!(
        "<img src=\"http://127.0.0.1:{p}/i.png\"><link rel=\"stylesheet\" href=\"http://127.0.0.1:{p}/s.css\"><script src=\"http://127.0.0.1:{p}/s.js\"></script></body>",
        p = server.port
    );
    let tampered = html.stdout.replacen("</body>", &planted, 1);
    let with_csp = dir.join("tampered-with-csp.html");
    std::fs::write(&with_csp, &tampered).expect("write the tampered page");
    let run = browser.dom(&with_csp);
    assert_eq!(server.hits(), 0, "the CSP let a request through");
    assert!(
        run.stderr.contains("Content Security Policy"),
        "no CSP refusal in the console:\n{}",
        run.stderr
    );
    let without_csp = dir.join("tampered-without-csp.html");
    let csp_tag = format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">");
    std::fs::write(&without_csp, tampered.replacen(&csp_tag, "", 1)).expect("write the page");
    browser.dom(&without_csp);
    assert!(
        server.hits() > 0,
        "without the CSP the planted tags reach the local server"
    );
    let _ = std::fs::remove_file(with_csp);
    let _ = std::fs::remove_file(without_csp);
}

#[test]
fn audit_of_a_real_server_shows_tls_and_privileges_against_needs() {
    let browser = Browser::find();
    let server = PgServer::shared();
    // One need missing (INSERT), two grants beyond the needs, and CREATEROLE.
    let app = server.account(Account::MissingGrant);
    server.admin_sql(
        &app.database,
        &format!(
            "GRANT DELETE ON TABLE public.signups TO {u}; GRANT UPDATE ON TABLE public.users TO {u}; ALTER ROLE {u} CREATEROLE;",
            u = app.user
        ),
    );
    let admin = server.login(Shape::Superuser);
    let needs: Vec<String> = PgServer::NEEDS.iter().map(|n| format!("{n:?}")).collect();
    let needs = needs.join(", ");
    let project = Project::new(
        BIN,
        &format!(
            "[resources.db]\nkind = \"postgres\"\nneeds = [{needs}]\n[resources.admin]\nkind = \"postgres\"\nneeds = [{needs}]\n"
        ),
    );
    let app = app.login();
    let pw_app = app.write_password_file(project.dir());
    let pw_admin = admin.write_password_file(project.dir());
    let envs = env([
        ("DB_URL", app.url_without_password.clone()),
        ("DB_PASSWORD_FILE", pw_app.to_string_lossy().into_owned()),
        ("ADMIN_URL", admin.url_without_password.clone()),
        (
            "ADMIN_PASSWORD_FILE",
            pw_admin.to_string_lossy().into_owned(),
        ),
    ]);
    let secrets = [app.password.as_str(), admin.password.as_str()];
    let json = project.audit(&["--format", "json"], &envs, &secrets);
    assert_eq!(json.code, 1, "{}\n{}", json.stdout, json.stderr);
    let html = project.audit(&["--format", "html"], &envs, &secrets);
    assert_eq!(html.code, 1);

    let dir = report_dir("server");
    let dom = render_and_check(&browser, &dir, &html, &json, &secrets);
    let report = json.json();

    // TLS as the handshake found it.
    let tls = &report["resources"][1]["tls"];
    let version = tls["version"].as_str().expect("a TLS version");
    let version = version.replace("TLSv", "TLS ");
    let db = element(&dom, "resource-db", "article");
    for fact in [
        version.as_str(),
        tls["cipher_suite"].as_str().expect("a cipher suite"),
        "verify-full",
        "CN=localhost",
        "days left",
    ] {
        assert!(db.contains(fact), "TLS {fact}: {db}");
    }
    let surface = element(&dom, "surface", "section");
    assert!(
        surface.contains(&format!(">{version}, verified<")),
        "{surface}"
    );
    // What each account can do beyond its needs.
    assert!(surface.contains("superuser"), "{surface}");
    assert!(
        surface.contains("can administer roles or grants; 2 excess privileges"),
        "{surface}"
    );
    assert!(surface.contains(&dom_text(&app.user)), "{surface}");

    // The privilege table: each row classified against the needs and the findings.
    let table = db
        .find("<table class=\"privileges")
        .map(|at| &db[at..])
        .expect("a privilege table");
    let table = &table[..table.find("</table>").expect("a closed table")];
    let row = |standing: &str, what: &str| {
        let needle = format!(
            "<tr class=\"row-{standing}\"><td class=\"lead\"><span class=\"standing st-{standing}\">{standing}</span></td><td data-label=\"Privilege\"><code>{what}</code>"
        );
        assert!(
            table.contains(&needle),
            "no {standing} row for {what}:\n{table}"
        );
    };
    row("missing", "INSERT on TABLE public.signups");
    row("excess", "DELETE on TABLE public.signups");
    row("excess", "UPDATE on TABLE public.users");
    row("excess", &format!("{} has CREATEROLE", app.user));
    row("needed", "SELECT on TABLE public.signups");
    row("needed", "SELECT (email) on TABLE public.users");
    row("needed", "USAGE on SEQUENCE public.signups_id_seq");
    assert!(db.contains("CREATEROLE"), "the attributes: {db}");
    let admin_section = element(&dom, "resource-admin", "article");
    assert!(admin_section.contains("<code class=\"attr\">SUPERUSER</code>"));
    assert!(admin_section.contains("<span class=\"standing st-excess\">excess</span>"));
}

/// A local HTTP server that counts the connections it gets and answers each with a 404.
struct Counter {
    /// Its port on 127.0.0.1.
    port: u16,
    /// How many connections it accepted.
    hits: Arc<AtomicUsize>,
}

impl Counter {
    /// Listens on an ephemeral port of 127.0.0.1, serving from a thread of its own.
    fn start() -> Counter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("its address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Counter { port, hits }
    }

    /// How many connections it has accepted so far.
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
