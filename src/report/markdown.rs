//! `report.md`: the run report as Markdown; the ladder diagrams are the
//! `ladder-*.svg` files beside it.

use std::fmt::Write;

use super::model::*;
use super::{clock, host_names};
use crate::capture::{CaptureAnalysis, Proto, ServerSockets, KINDS};

/// A table cell: no line breaks, `|` and HTML escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// What a students' copy says under each question.
pub(super) const STUDENT_NOTE: &str =
    "Answer it from the captures, the ladders and the timeline of this report.";

/// An answer's mark: ✔ as the lab expects, ✘ not as it expects, – not answered.
pub(super) fn answer_mark(a: &Answer) -> &'static str {
    match (a.answered, a.ok) {
        (_, true) => "✔",
        (true, false) => "✘",
        (false, false) => "–",
    }
}

/// The answers section's title.
pub(super) fn answers_title(r: &RunReport) -> &'static str {
    if r.student {
        "The lab's questions"
    } else {
        "Answers to the lab's questions"
    }
}

/// `run.outcome` with its mark.
pub(super) fn outcome_mark(outcome: &str) -> &'static str {
    match outcome {
        "passed" => "✔",
        "failed" => "✘",
        "interrupted" => "⊘",
        _ => "…",
    }
}

/// Seconds a step took, when it has both ends.
pub(super) fn step_secs(st: &StepRecord) -> Option<f64> {
    Some(st.finished_at? - st.started_at?).filter(|t| *t >= 0.0)
}

/// `step I.8 — title` where the timeline's lines of another step begin
/// (`last`: the step of the lines before), for a separator row.
pub(super) fn step_change<'a>(
    r: &RunReport,
    last: &mut Option<&'a str>,
    e: &'a TimelineEntry,
) -> Option<String> {
    let id = e.step.as_deref()?;
    if *last == Some(id) {
        return None;
    }
    *last = Some(id);
    let title = r
        .steps
        .iter()
        .find(|st| st.id == id)
        .map(|st| format!(" — {}", st.title))
        .unwrap_or_default();
    Some(format!("step {id}{title}"))
}

/// `, 1 interrupted` when a step was.
pub(super) fn interrupted_count(r: &RunReport) -> String {
    match r.run.steps_interrupted {
        0 => String::new(),
        n => format!(", {n} interrupted"),
    }
}

/// Why the run stopped, for the top of both reports: where, labctl's last
/// words, and the problems they do not already say. Text with names in
/// backticks.
pub(super) struct Stopped {
    /// The run's outcome mark, or ⚠ when it passed or goes on.
    pub mark: &'static str,
    /// `Why the run stopped`, or `Problems` when the run passed or goes on.
    pub title: &'static str,
    /// Where it stopped: before its first step, or in which step.
    pub place: Option<String>,
    /// The final error, a line each.
    pub error: Vec<String>,
    /// `host `A`, step `I.3`: message`, one per problem.
    pub problems: Vec<String>,
}

pub(super) fn stopped(r: &RunReport) -> Option<Stopped> {
    let ended = matches!(r.run.outcome.as_str(), "failed" | "interrupted");
    let error: Vec<String> = r
        .run
        .error
        .as_deref()
        .map(|e| e.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let problems: Vec<String> = r
        .problems
        .iter()
        .filter(|p| !error.iter().any(|l| l.contains(p.message.as_str())))
        .map(|p| {
            let mut at = Vec::new();
            if let Some(h) = &p.host {
                at.push(format!("host `{h}`"));
            }
            if let Some(st) = &p.step {
                at.push(format!("step `{st}`"));
            }
            match at.is_empty() {
                true => p.message.clone(),
                false => format!("{}: {}", at.join(", "), p.message),
            }
        })
        .collect();
    if !ended && problems.is_empty() {
        return None;
    }
    let none_ran = r
        .steps
        .iter()
        .all(|s| matches!(s.outcome, Outcome::Skipped | Outcome::Pending));
    let place = if !ended {
        None
    } else if none_ran {
        Some("The run stopped before its first step: no step ran.".to_string())
    } else {
        r.steps
            .iter()
            .rev()
            .find(|s| matches!(s.outcome, Outcome::Failed | Outcome::Interrupted))
            .map(|s| {
                format!(
                    "The run stopped in step `{}` — {} ({}).",
                    s.id,
                    s.title,
                    s.outcome.word()
                )
            })
    };
    Some(Stopped {
        mark: if ended {
            outcome_mark(&r.run.outcome)
        } else {
            "⚠"
        },
        title: if ended {
            "Why the run stopped"
        } else {
            "Problems"
        },
        place,
        error,
        problems,
    })
}

pub(super) fn render(r: &RunReport, ladders: &[(String, String, String)]) -> String {
    let mut s = String::new();
    let title = r.run.lab_title.clone().unwrap_or_else(|| r.run.lab.clone());
    let _ = writeln!(
        s,
        "# {} — {} {}\n",
        cell(&title),
        outcome_mark(&r.run.outcome),
        r.run.outcome
    );
    let _ = writeln!(
        s,
        "Run `{}` of lab `{}` on bench `{}`: started {}, finished {}. Steps: {} passed, {} failed, {} skipped{}. \
Generated {} by labctl (`run.json`: schema `{}`).\n",
        r.run.id,
        r.run.lab,
        r.bench.name,
        r.run.started_at.as_deref().unwrap_or("—"),
        r.run.finished_at.as_deref().unwrap_or("— (still running)"),
        r.run.steps_passed,
        r.run.steps_failed,
        r.run.steps_skipped,
        interrupted_count(r),
        r.generated_at,
        r.schema
    );

    if let Some(st) = stopped(r) {
        let text = |t: &str| t.replace('<', "&lt;").replace('>', "&gt;");
        let _ = writeln!(s, "## {} {}\n", st.mark, st.title);
        if let Some(p) = &st.place {
            let _ = writeln!(s, "{}\n", text(p));
        }
        if !st.error.is_empty() {
            s.push_str("labctl ended with:\n\n");
            for l in &st.error {
                let _ = writeln!(s, "> {}  ", text(l));
            }
            s.push('\n');
        }
        if !st.problems.is_empty() {
            s.push_str("Problems reported:\n\n");
            for p in &st.problems {
                let _ = writeln!(s, "- ✘ {}", text(p));
            }
            s.push('\n');
        }
    }

    // The summary first: every step's mark and time, the answers' marks.
    s.push_str("## Summary\n\n");
    if r.steps.is_empty() {
        s.push_str("No step has run.\n");
    } else {
        s.push_str("| | step | title | hosts | result | time |\n|---|---|---|---|---|---:|\n");
        for st in &r.steps {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                st.outcome.mark(),
                cell(&st.id),
                cell(&st.title),
                cell(&st.hosts.join(", ")),
                st.outcome.word(),
                step_secs(st)
                    .map(|t| format!("{t:.2} s"))
                    .unwrap_or_else(|| "—".into())
            );
        }
    }
    if !r.answers.is_empty() {
        let marks: Vec<String> = r
            .answers
            .iter()
            .map(|a| format!("{} {}", if a.ok { "✔" } else { "✘" }, cell(&a.id)))
            .collect();
        let _ = writeln!(s, "\nAnswers: {}", marks.join(" · "));
    }
    s.push('\n');

    s.push_str("## Bench\n\n| host | lab address | SSH | interface |\n|---|---|---|---|\n");
    for h in &r.bench.hosts {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} |",
            cell(&h.name),
            cell(&h.addr),
            cell(h.ssh.as_deref().unwrap_or("")),
            cell(h.interface.as_deref().unwrap_or(""))
        );
    }
    if let Some(p) = &r.bench.programs {
        let _ = writeln!(s, "\nPrograms: {}.", p.describe());
    }
    if !r.clocks.is_empty() {
        s.push_str(
            "\nClocks: each host's against this machine's, which every time of this report is on:\n\n",
        );
        for c in &r.clocks {
            let _ = writeln!(s, "- {}", c.describe());
        }
    }

    s.push_str("\n## Steps\n");
    for st in &r.steps {
        let _ = writeln!(
            s,
            "\n### {} {} — {} ({})\n",
            st.outcome.mark(),
            st.id,
            cell(&st.title),
            st.outcome.word()
        );
        if st.checks.is_empty() {
            s.push_str("Nothing checked.\n");
        }
        for c in &st.checks {
            let host = c
                .host
                .as_deref()
                .map(|h| format!("{h}: "))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- {} {host}{} — {}",
                if c.ok { "✔" } else { "✘" },
                c.what.replace('\n', " "),
                c.evidence.replace('\n', " ")
            );
        }
    }

    // A lab without questions has no answers section.
    if !r.answers.is_empty() {
        let _ = writeln!(s, "\n## {}", answers_title(r));
    }
    for a in &r.answers {
        if r.student {
            let _ = writeln!(s, "\n### {} — {}\n\n{STUDENT_NOTE}", a.id, a.question);
        } else {
            let _ = writeln!(
                s,
                "\n### {} {} — {}\n\n{}",
                answer_mark(a),
                a.id,
                a.question,
                a.answer
            );
        }
    }

    s.push_str("\n## Captures\n");
    if r.captures.is_empty() {
        s.push_str("\nNo capture was taken.\n");
    }
    if !ladders.is_empty() {
        let legend: Vec<String> = crate::capture::ladder::LEGEND
            .iter()
            .map(|(_, name, _, what)| format!("{name}: {what}"))
            .collect();
        let _ = writeln!(s, "\nLadder colours — {}.", legend.join("; "));
    }
    let names = host_names(&r.bench);
    for c in &r.captures {
        let steps = match (&c.step, &c.stopped_in) {
            (Some(a), Some(b)) if a != b => format!(", steps {a}–{b}"),
            (Some(a), _) => format!(", step {a}"),
            _ => String::new(),
        };
        let _ = writeln!(s, "\n### `{}` on {}{steps}\n", c.name, c.host);
        let _ = writeln!(s, "File: `{}`.", c.file);
        if let Some(e) = &c.error {
            let _ = writeln!(s, "\n✘ {e}");
        }
        let Some(a) = &c.analysis else { continue };
        capture_tables(&mut s, a, &names);
        if let Some((_, file, _)) = ladders.iter().find(|(n, _, _)| *n == c.name) {
            let _ = writeln!(
                s,
                "\n<a id=\"{}\"></a>Ladder diagram: ![ladder diagram of `{}`]({file})",
                super::ladder_anchor(&c.name),
                c.name
            );
        }
    }

    s.push_str("\n## Timeline (all hosts, on this machine's clock, UTC)\n\n");
    if r.timeline.is_empty() {
        s.push_str("No program output was recorded.\n");
    } else {
        s.push_str("| time | t (s) | host | program | | line |\n|---|---|---|---|---|---|\n");
        let mut last = None;
        for e in &r.timeline {
            if let Some(sep) = step_change(r, &mut last, e) {
                let _ = writeln!(s, "| | | | | | **{}** |", cell(&sep));
            }
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {} | {} |",
                clock(&e.at),
                e.t,
                cell(&e.host),
                cell(&e.program),
                stream_mark(e.stream),
                cell(&e.text)
            );
        }
    }
    inert(&s)
}

/// The whole document made inert, once: no `<` can open an HTML tag
/// (text from hosts and the lab file may hold them), and control bytes
/// (ESC, NUL…) are shown as `\x1b`, `\0`. The one tag labctl writes, an
/// empty ladder anchor with a file-safe id (`<a id="ladder-cap-A"></a>`),
/// is put back: the same text from a host would be as harmless.
fn inert(md: &str) -> String {
    static ANCHOR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let anchor = ANCHOR.get_or_init(|| {
        regex::Regex::new(r#"&lt;a id="(ladder-[A-Za-z0-9._-]+)">&lt;/a>"#)
            .expect("a valid pattern")
    });
    let escaped = md.replace('<', "&lt;");
    let md = anchor.replace_all(&escaped, r#"<a id="$1"></a>"#);
    crate::util::show_controls(&md, true).into_owned()
}

/// What a server's sockets were, in words.
pub(super) fn server_sockets(sv: &ServerSockets) -> String {
    match sv.proto {
        Proto::Tcp => format!(
            "TCP, {} socket(s) — {} listening + {} connected; at most {} connection(s) at once",
            sv.sockets, sv.listening, sv.connected, sv.max_concurrent
        ),
        Proto::Udp => "UDP, 1 socket serving every client (no connection, no accept)".to_string(),
    }
}

pub(super) fn stream_mark(s: LineStream) -> &'static str {
    match s {
        LineStream::Stdout => "out",
        LineStream::Stderr => "err",
        LineStream::Stdin => "in",
    }
}

fn capture_tables(
    s: &mut String,
    a: &CaptureAnalysis,
    names: &std::collections::BTreeMap<String, String>,
) {
    let who = |addr: &str| -> String {
        super::owner(names, addr)
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    };
    let _ = writeln!(
        s,
        "{} frames over {:.3} s (link type {}), first at {}.\n",
        a.counts.total,
        a.duration_s,
        a.link_type,
        super::rfc3339(a.start_unix)
    );
    let head: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(KINDS.len()));
    let counts: Vec<String> = KINDS.iter().map(|k| a.counts.get(*k).to_string()).collect();
    let _ = writeln!(s, "| {} |", counts.join(" | "));
    if !a.tcp.is_empty() {
        s.push_str("\nTCP conversations:\n\n| client | server | handshake | data → server | data ← server | closed |\n|---|---|---|---|---|---|\n");
        for c in &a.tcp {
            let _ = writeln!(
                s,
                "| `{}`{} | `{}`{} | {} | {} ({} B) | {} ({} B) | {} |",
                c.client,
                who(&c.client),
                c.server,
                who(&c.server),
                if c.handshake { "✔" } else { "–" },
                c.data_to_server,
                c.bytes_to_server,
                c.data_to_client,
                c.bytes_to_client,
                c.closed.word()
            );
        }
    }
    if !a.udp.is_empty() {
        s.push_str("\nUDP exchanges:\n\n| client | server | datagrams → server | datagrams ← server | ICMP errors |\n|---|---|---|---|---|\n");
        for u in &a.udp {
            let _ = writeln!(
                s,
                "| `{}`{} | `{}`{} | {} | {} | {} |",
                u.client,
                who(&u.client),
                u.server,
                who(&u.server),
                u.datagrams_to_server,
                u.datagrams_to_client,
                u.icmp_errors
            );
        }
    }
    for t in super::pairs::tables(a, names) {
        let _ = writeln!(s, "\n{}:\n", t.title);
        let _ = writeln!(s, "| {} |", t.head.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(t.head.len()));
        for r in &t.rows {
            let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    if !a.sockets.is_empty() {
        s.push_str("\nSocket addresses:\n\n| address | protocol | role | frames sent | frames received |\n|---|---|---|---|---|\n");
        for so in &a.sockets {
            let _ = writeln!(
                s,
                "| `{}`{} | {} | {} | {} | {} |",
                so.address,
                who(&so.address),
                so.proto.name(),
                so.role.word(),
                so.frames_sent,
                so.frames_received
            );
        }
    }
    for sv in &a.servers {
        let _ = writeln!(
            s,
            "\nServer `{}`{}: {}; clients: {}.",
            sv.address,
            who(&sv.address),
            server_sockets(sv),
            sv.clients
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for w in &a.warnings {
        let _ = writeln!(s, "\nWarning: {w}");
    }
}
