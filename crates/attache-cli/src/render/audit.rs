//! Views of `attache audit`: the report as a table or as JSON, and the audit's progress.

use std::io::{self, Write};

use attache::report::HeldSecret;
use attache::{CheckId, Report, Severity};

use crate::audit::Progress;

/// `{"version":1,"findings":[…],"resources":[…],"attack_surface":{…}}`, pretty-printed, sorted
/// by the report.
pub(crate) fn json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

fn paint(color: bool, severity: Severity, text: &str) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match severity {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A table for people: findings (most severe first) with evidence and fixes, then resources,
/// then the attack surface when there is a process or a secret to show.
pub(crate) fn table(
    out: &mut dyn Write,
    report: &Report,
    fail_on: Severity,
    color: bool,
) -> io::Result<()> {
    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        let res_w = report
            .findings
            .iter()
            .map(|f| f.resource.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let check_w = CheckId::ALL
            .iter()
            .map(|c| c.as_str().len())
            .max()
            .unwrap_or(5);
        writeln!(
            out,
            "{:<8}  {:<check_w$}  {:<res_w$}  MESSAGE",
            "SEVERITY", "CHECK", "RESOURCE"
        )?;
        for f in &report.findings {
            let sev = paint(color, f.severity, &format!("{:<8}", f.severity.as_str()));
            writeln!(
                out,
                "{sev}  {:<check_w$}  {:<res_w$}  {}",
                f.check.as_str(),
                f.resource,
                f.message
            )?;
            for e in &f.evidence {
                writeln!(out, "{:<8}  {:<check_w$}  {:<res_w$}    - {e}", "", "", "")?;
            }
            writeln!(
                out,
                "{:<8}  {:<check_w$}  {:<res_w$}    fix: {}",
                "", "", "", f.remedy
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "RESOURCES")?;
    if report.resources.is_empty() {
        writeln!(out, "  none in the manifest")?;
    }
    for r in &report.resources {
        let target = r.target.as_deref().unwrap_or("(no binding)");
        let source = r
            .source
            .as_deref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        writeln!(out, "  {} ({}): {target}{source}", r.name, r.kind)?;
        if let Some(tls) = &r.tls {
            let floor = tls
                .floor
                .as_deref()
                .map(|f| format!(", oldest accepted {f}"))
                .unwrap_or_default();
            writeln!(
                out,
                "    tls: {} {}, {}, certificate {} expires {} ({} days){floor}",
                tls.version,
                tls.cipher_suite,
                tls.verification,
                tls.peer_subject,
                tls.peer_not_after,
                tls.peer_days_left
            )?;
        }
        if let Some(user) = r.account.as_ref().and_then(|a| a.user.as_deref()) {
            writeln!(out, "    account: {user}")?;
        }
    }
    attack_surface(out, report)?;
    writeln!(out)?;
    let mut counts = Vec::new();
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = report.findings.iter().filter(|f| f.severity == s).count();
        if n > 0 {
            counts.push(format!("{n} {s}"));
        }
    }
    let verdict = if report.fails(fail_on) {
        "FAIL"
    } else {
        "PASS"
    };
    let counts = if counts.is_empty() {
        "no findings".to_owned()
    } else {
        counts.join(", ")
    };
    writeln!(
        out,
        "{verdict}: {counts} in {} resource(s); failing at {fail_on} or above",
        report.resources.len()
    )
}

/// The attack surface, when the audit saw more than the resources above: the process (who it
/// is, where it listens, whom it talks to, what it writes) and every secret by where it sits.
fn attack_surface(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let surface = &report.attack_surface;
    if surface.process.is_none() && surface.secrets.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "ATTACK SURFACE")?;
    if let Some(p) = &surface.process {
        let caps = if p.capabilities.is_empty() {
            "no capabilities".to_owned()
        } else {
            format!("{} capabilities", p.capabilities.len())
        };
        writeln!(
            out,
            "  process {} ({}): uid {}, effective uid {}, {caps}",
            p.pid, p.command, p.uid, p.effective_uid
        )?;
        writeln!(out, "  listens on:")?;
        if surface.listeners.is_empty() {
            writeln!(out, "    nothing")?;
        }
        for l in &surface.listeners {
            let declared = if l.declared { "declared" } else { "UNDECLARED" };
            let at = std::net::SocketAddr::new(
                l.address
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                l.port,
            );
            writeln!(out, "    {} {at}  {declared}", l.protocol)?;
        }
        writeln!(out, "  connects to:")?;
        if surface.resources.is_empty() && surface.undeclared_peers.is_empty() {
            writeln!(out, "    nothing")?;
        }
        for r in &surface.resources {
            let target = r.target.as_deref().unwrap_or("(no binding)");
            writeln!(
                out,
                "    resource {} ({}): {target}, {} connection(s)",
                r.name,
                r.kind,
                r.connections.unwrap_or(0)
            )?;
        }
        for peer in &surface.undeclared_peers {
            let at = std::net::SocketAddr::new(
                peer.address
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                peer.port,
            );
            writeln!(
                out,
                "    UNDECLARED {} {at}, {} connection(s)",
                peer.protocol, peer.connections
            )?;
        }
        if !surface.local_state.is_empty() {
            writeln!(out, "  writes:")?;
            for path in &surface.local_state {
                writeln!(out, "    {path}")?;
            }
        }
    }
    writeln!(out, "  secrets:")?;
    if surface.secrets.is_empty() {
        writeln!(out, "    none seen")?;
    }
    for HeldSecret {
        holder,
        secret,
        location,
    } in &surface.secrets
    {
        writeln!(out, "    {holder}: {secret} at {location}")?;
    }
    Ok(())
}

/// One line on `err` for each step of a running audit.
pub(crate) fn progress(err: &mut dyn Write, step: &Progress<'_>) -> io::Result<()> {
    match step {
        Progress::Started {
            resources,
            manifest,
        } => writeln!(
            err,
            "attache: auditing {resources} resource(s) from {}",
            manifest.display()
        ),
        Progress::Checked(r) => writeln!(
            err,
            "attache: {} ({}) checked, {} finding(s)",
            r.name,
            r.kind,
            r.findings.len()
        ),
        Progress::Finished(elapsed) => {
            writeln!(err, "attache: done in {:.2}s", elapsed.as_secs_f64())
        }
    }
}
