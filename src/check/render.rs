//! Rendering a check's outcome as text: a check × host table for one bench, a bench × host matrix for a room, and every failure with its hint.

use super::*;

// ---------------------------------------------------------------------------
// Rendering.

pub(super) fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "✔",
        Status::Fail => "✘",
        Status::Skip => "·",
        Status::Warn => "⚠",
    }
}

/// Pads `s` to `w` characters (counting chars, so ✔ is one column).
pub(super) fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

/// `s` without trailing spaces on any line, ending with a newline.
pub(super) fn trim_lines(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n"
}

/// One bench as a check × host table.
pub(crate) fn render_bench(b: &BenchReport) -> String {
    let mut out = String::new();
    let cw = CHECKS.iter().map(|c| c.len()).max().unwrap_or(8) + 2;
    let hw = b
        .hosts
        .iter()
        .map(|h| h.host.chars().count())
        .max()
        .unwrap_or(1)
        .max(8)
        + 2;
    out.push_str(&pad("", cw));
    for h in &b.hosts {
        out.push_str(&pad(&h.host, hw));
    }
    out.push('\n');
    for check in CHECKS {
        out.push_str(&pad(check, cw));
        for h in &b.hosts {
            let cell = match h.get(check) {
                Some(r) if check == "ssh" && r.status == Status::Pass && h.connect_ms.is_some() => {
                    format!("✔ {} ms", h.connect_ms.unwrap_or(0))
                }
                Some(r) => mark(r.status).to_string(),
                None => "·".to_string(),
            };
            out.push_str(&pad(&cell, hw));
        }
        out.push('\n');
    }
    trim_lines(&out)
}

/// A room as a bench × host matrix: ✔ or the number of failed checks.
pub(crate) fn render_room(r: &[BenchReport]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for b in r {
        for h in &b.hosts {
            if !names.contains(&h.host.as_str()) {
                names.push(&h.host);
            }
        }
    }
    let bw = r
        .iter()
        .map(|b| b.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5)
        + 2;
    let hw = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(3)
        + 2;
    let mut out = pad("", bw);
    for n in &names {
        out.push_str(&pad(n, hw));
    }
    out.push('\n');
    for b in r {
        out.push_str(&pad(&b.name, bw));
        for n in &names {
            let cell = match b.hosts.iter().find(|h| h.host == *n) {
                Some(h) if h.ok => "✔".to_string(),
                Some(h) => h.failures().to_string(),
                None => "-".to_string(),
            };
            out.push_str(&pad(&cell, hw));
        }
        out.push('\n');
    }
    trim_lines(&out)
}

/// Every warning with its hint.
pub(super) fn render_warnings(report: &Report) -> String {
    let mut out = String::new();
    for h in report.hosts() {
        for c in h.checks.iter().filter(|c| c.status == Status::Warn) {
            out.push_str(&format!("⚠ {} {}: {}\n", h.label, c.check, c.detail));
            if let Some(hint) = &c.hint {
                out.push_str(&format!("    fix: {hint}\n"));
            }
        }
    }
    out
}

/// Every failure with its hint.
pub(crate) fn render_failures(report: &Report) -> String {
    let mut out = String::new();
    for h in report.hosts() {
        for c in &h.checks {
            if c.status == Status::Fail {
                out.push_str(&format!("✘ {} {}: {}\n", h.label, c.check, c.detail));
                if let Some(hint) = &c.hint {
                    out.push_str(&format!("    fix: {hint}\n"));
                }
            }
        }
    }
    out
}

pub(super) fn render_report(report: &Report, room: bool) -> String {
    let mut out = String::new();
    if room && report.benches.len() > 1 {
        out.push_str(&render_room(&report.benches));
    } else {
        for b in &report.benches {
            if room {
                out.push_str(&format!("bench `{}`\n", b.name));
            }
            out.push_str(&render_bench(b));
        }
    }
    out.push_str(&crate::hold::render_in_use(report.hosts().filter_map(
        |h| {
            h.get("lab port")
                .map(|c| (h.label.as_str(), c.detail.as_str()))
        },
    )));
    let failures = render_failures(report) + &render_warnings(report);
    if !failures.is_empty() {
        out.push('\n');
        out.push_str(&failures);
    }
    let warned = report
        .hosts()
        .flat_map(|h| h.checks.iter())
        .filter(|c| c.status == Status::Warn)
        .count();
    let hosts: Vec<&HostReport> = report.hosts().collect();
    let checks: usize = hosts.iter().map(|h| h.checks.len()).sum();
    let failed: usize = hosts.iter().map(|h| h.failures()).sum();
    let skipped: usize = hosts
        .iter()
        .flat_map(|h| h.checks.iter())
        .filter(|c| c.status == Status::Skip)
        .count();
    out.push('\n');
    if report.ok {
        out.push_str(&format!(
            "ready: all {checks} checks passed on {} host{}{}\n",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            match warned {
                0 => String::new(),
                1 => ", 1 with a warning".to_string(),
                n => format!(", {n} with a warning"),
            }
        ));
    } else {
        out.push_str(&format!(
            "not ready: {failed} of {checks} checks failed{} on {} of {} hosts\n",
            if skipped > 0 {
                format!(", {skipped} not checked")
            } else {
                String::new()
            },
            hosts.iter().filter(|h| !h.ok).count(),
            hosts.len()
        ));
    }
    out
}

/// A room's summary (`check --all`), as `run --all` ends: a row per bench
/// (outcome, checks passed and failed, first failure), then `room: N of M
/// benches passed` and the time the whole check took.
pub(super) fn render_room_summary(report: &Report, elapsed_ms: u64) -> String {
    let nw = report
        .benches
        .iter()
        .map(|b| b.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let first = |b: &BenchReport| {
        b.hosts
            .iter()
            .flat_map(|h| {
                h.checks
                    .iter()
                    .filter(|c| c.status == Status::Fail)
                    .map(move |c| format!("{} {}: {}", h.host, c.check, c.detail))
            })
            .next()
    };
    let fw = crate::style::fit(nw + 40, 60).clamp(20, 100);
    let mut out = String::from("────────────\n");
    out.push_str(&format!(
        "{}  {}  {:>6}  {:>6}  first failure\n",
        pad("bench", nw),
        pad("outcome", 11),
        "passed",
        "failed"
    ));
    for b in &report.benches {
        let checks = || b.hosts.iter().flat_map(|h| h.checks.iter());
        let passed = checks().filter(|c| c.status.ok()).count();
        let failed = checks().filter(|c| c.status == Status::Fail).count();
        let f = first(b).map_or_else(|| "-".to_string(), |f| f.replace('\n', " "));
        let f = if f.chars().count() > fw {
            format!("{}…", f.chars().take(fw - 1).collect::<String>())
        } else {
            f
        };
        out.push_str(&format!(
            "{}  {}  {passed:>6}  {failed:>6}  {f}\n",
            pad(&b.name, nw),
            pad(if b.ok { "✔ ready" } else { "✘ not ready" }, 11),
        ));
    }
    out.push_str(&format!(
        "room: {} of {} benches passed ({:.2} s)\n",
        report.benches.iter().filter(|b| b.ok).count(),
        report.benches.len(),
        elapsed_ms as f64 / 1000.0
    ));
    out
}

/// The whole text output of `labctl check` (without `--json`).
pub(crate) fn render_outcome(o: &CheckOutcome, room: bool) -> String {
    let final_report = Report {
        ok: o.ok,
        benches: o.benches.clone(),
    };
    let mut out = render_checks(o, &final_report, room);
    if room && final_report.benches.len() > 1 {
        out.push('\n');
        out.push_str(&render_room_summary(&final_report, o.elapsed_ms));
    }
    out
}

fn render_checks(o: &CheckOutcome, final_report: &Report, room: bool) -> String {
    let final_report = final_report.clone();
    match &o.fix {
        None => render_report(&final_report, room),
        Some(fix) => {
            let mut out = String::from("before --fix:\n");
            out.push_str(&render_report(&fix.before, room));
            out.push_str("\nfixing:\n");
            for a in &fix.actions {
                if a.done.is_empty() && a.failed.is_empty() {
                    continue;
                }
                for d in &a.done {
                    out.push_str(&format!("  {}: {d}\n", a.host));
                }
                for f in &a.failed {
                    out.push_str(&format!("  {}: ✘ {f}\n", a.host));
                }
            }
            out.push_str("\nafter --fix:\n");
            out.push_str(&render_report(&final_report, room));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_matrix_counts_failures() {
        let mk = |name: &str, fails: usize| HostReport {
            host: name.into(),
            label: name.into(),
            ssh: "x".into(),
            ok: fails == 0,
            connect_ms: Some(1),
            checks: (0..fails).map(|_| fail("ping", "x".into(), "y")).collect(),
        };
        let r = vec![
            BenchReport {
                name: "b1".into(),
                ok: true,
                hosts: vec![mk("A", 0), mk("B", 0)],
            },
            BenchReport {
                name: "b2".into(),
                ok: false,
                hosts: vec![mk("A", 2), mk("B", 0)],
            },
        ];
        let m = render_room(&r);
        let lines: Vec<&str> = m.lines().collect();
        assert!(lines[1].starts_with("b1") && lines[1].contains('✔'));
        assert!(lines[2].contains('2'), "{m}");
        let s = render_room_summary(
            &Report {
                ok: false,
                benches: r,
            },
            2130,
        );
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[2].starts_with("b1     ✔ ready"), "{s}");
        assert!(
            lines[3].contains("✘ not ready") && lines[3].contains("A ping: x"),
            "{s}"
        );
        assert_eq!(lines[4], "room: 1 of 2 benches passed (2.13 s)");
    }
}
