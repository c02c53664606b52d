//! `report.html`: the run report as one self-contained page — inline CSS,
//! inline SVG ladder diagrams, no scripts, nothing fetched — so it opens
//! from a USB stick in a classroom without network.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::markdown::{
    answer_mark, answers_title, interrupted_count, outcome_mark, server_sockets, step_change,
    step_secs, stopped, stream_mark, STUDENT_NOTE,
};
use super::model::*;
use super::{clock, host_names, owner};
use crate::capture::{ladder, CaptureAnalysis, KINDS};
use crate::util::escape_xml as esc;

const CSS: &str = r#"
:root { --ok: #1b7f3b; --bad: #c62828; --muted: #5f6b76; --line: #dde3ea; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d2329; margin: 0; background: #f6f8fa; }
header { background: #22313f; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #c9d4de; }
header code { background: rgba(255, 255, 255, 0.16); color: #fff; }
nav { padding: 8px 28px; background: #e9eef3; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: #22313f; }
main { padding: 8px 28px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 6px 20px 16px; margin: 18px 0; }
h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
h3 { font-size: 16px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
code { background: #f0f3f6; padding: 0 3px; border-radius: 3px; }
.ok { color: var(--ok); font-weight: bold; }
.bad { color: var(--bad); font-weight: bold; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 10px; border-radius: 12px; font-weight: 600; }
.badge.ok { background: #dff3e4; } .badge.bad { background: #fbe3e3; } .badge.run { background: #fff4d6; color: #7a5b00; }
.intr { color: #a35200; font-weight: bold; } .badge.intr { background: #ffe9cc; }
section.stopped { border: 2px solid var(--bad); background: #fff6f6; }
section.stopped.paused { border-color: #a35200; background: #fffaf2; }
section.stopped blockquote { margin: 6px 0; padding: 4px 12px; border-left: 4px solid var(--bad); background: #fff; white-space: pre-wrap; }
.answer { border-left: 4px solid var(--line); padding: 2px 12px; margin: 10px 0; }
.answer.ok { border-color: var(--ok); font-weight: normal; } .answer.bad { border-color: var(--bad); font-weight: normal; }
.answer p, .answer ul { margin: 4px 0; color: #1d2329; }
.host { display: inline-block; min-width: 22px; text-align: center; border-radius: 4px; color: #fff; font-weight: 600; padding: 0 5px; }
.timeline td.text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; white-space: pre-wrap; }
.timeline tr.stdin td.text { color: #6a1b9a; }
.timeline tr.stderr td.text { color: var(--bad); }
.ladder-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; background: #fff; }
ul.checks { list-style: none; padding-left: 6px; margin: 4px 0 12px; }
details.step { border-top: 1px solid var(--line); }
details.step > summary { cursor: pointer; padding: 4px 0; }
details.step > summary h3, details.capture > summary h3 { display: inline; margin: 0; }
details.capture { border-top: 1px solid var(--line); padding: 4px 0; }
details.capture > summary { cursor: pointer; }
table.summary td.time, table.summary th.time { text-align: right; }
p.answers { display: flex; flex-wrap: wrap; gap: 2px 12px; }
p.answers a { text-decoration: none; white-space: nowrap; }
ul.legend { list-style: none; padding: 0; margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
ul.legend svg { vertical-align: middle; margin-right: 4px; }
.timeline tr.sep th { background: #e9eef3; border-top: 2px solid #9aa4b0; }
.timeline-wrap { max-height: 70vh; overflow: auto; }
.ladder-wrap { max-height: 70vh; overflow: auto; }
code, .mono, .timeline td.text { overflow-wrap: anywhere; }
td { overflow-wrap: break-word; }
@media (max-width: 760px) {
  body { font-size: 14px; }
  header, nav { padding: 10px 12px; }
  header h1 { font-size: 19px; }
  main { padding: 4px 8px 24px; }
  section { padding: 4px 10px 12px; }
  table { display: block; max-width: 100%; overflow-x: auto; }
  .timeline td:first-child, .timeline th:first-child { display: none; }
}
@media print {
  body { background: #fff; font-size: 11pt; }
  header { background: #fff; color: #000; border-bottom: 2px solid #000; }
  header p, header code { color: #000; }
  nav { display: none; }
  main { max-width: none; padding: 0; }
  section { border: none; padding: 0; margin: 12px 0; break-inside: auto; }
  details.step, details.capture { break-inside: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary::marker { content: ""; }
  .timeline-wrap, .ladder-wrap { max-height: none; overflow: visible; border: none; }
  tr, .answer, h2, h3 { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

const HOST_COLORS: [&str; 6] = [
    "#1565c0", "#2e7d32", "#e65100", "#6a1b9a", "#00838f", "#5d4037",
];

/// Inline Markdown of the answers: `code`, paragraphs, `- ` list items.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut in_list = false;
    for line in text.lines() {
        let (item, body) = match line.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if item && !in_list {
            out.push_str("<ul>");
            in_list = true;
        }
        if !item && in_list {
            out.push_str("</ul>");
            in_list = false;
        }
        let mut html = String::new();
        for (code, part) in code_spans(body) {
            if code {
                let _ = write!(html, "<code>{}</code>", esc(part));
            } else {
                html.push_str(&esc(part));
            }
        }
        if item {
            let _ = write!(out, "<li>{html}</li>");
        } else {
            let _ = write!(out, "<p>{html}</p>");
        }
    }
    if in_list {
        out.push_str("</ul>");
    }
    out
}

/// A line split into text and code spans: `` `x` `` and, for code holding a
/// backtick, ``` `` x ` y `` ```.
fn code_spans(mut rest: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    while let Some(i) = rest.find('`') {
        let (open, close) = if rest[i..].starts_with("`` ") {
            ("`` ", " ``")
        } else {
            ("`", "`")
        };
        let from = i + open.len();
        let Some(j) = rest[from..].find(close) else {
            break;
        };
        out.push((false, &rest[..i]));
        out.push((true, &rest[from..from + j]));
        rest = &rest[from + j + close.len()..];
    }
    out.push((false, rest));
    out
}

fn mark(ok: bool) -> &'static str {
    if ok {
        r#"<span class="ok">✔</span>"#
    } else {
        r#"<span class="bad">✘</span>"#
    }
}

fn host_chip(colors: &BTreeMap<String, &str>, host: &str) -> String {
    let c = colors.get(host).copied().unwrap_or("#78909c");
    format!(
        r#"<span class="host" style="background:{c}">{}</span>"#,
        esc(host)
    )
}

pub(super) fn render(r: &RunReport, ladders: &[(String, String, String)]) -> String {
    let colors: BTreeMap<String, &str> = r
        .bench
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.clone(), HOST_COLORS[i % HOST_COLORS.len()]))
        .collect();
    let names = host_names(&r.bench);
    let title = r.run.lab_title.clone().unwrap_or_else(|| r.run.lab.clone());
    let badge = match r.run.outcome.as_str() {
        "passed" => "ok",
        "failed" => "bad",
        "interrupted" => "intr",
        _ => "run",
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="labctl ({schema})"><title>{t} — {o}</title><style>{CSS}</style></head><body>
<header><h1>{t} <span class="badge {badge}">{m} {o}</span></h1>
<p>Run <code>{id}</code> · lab <code>{lab}</code> · bench <code>{bench}</code> · started {start} · finished {end} · steps: {p} passed, {f} failed, {k} skipped{i}</p></header>
<nav><a href="#summary">Summary</a><a href="#bench">Bench</a><a href="#steps">Steps</a><a href="#answers">Answers</a><a href="#captures">Captures</a><a href="#timeline">Timeline</a></nav><main>
"##,
        schema = esc(r.schema),
        t = esc(&title),
        o = esc(&r.run.outcome),
        m = outcome_mark(&r.run.outcome),
        id = esc(&r.run.id),
        lab = esc(&r.run.lab),
        bench = esc(&r.bench.name),
        start = esc(r.run.started_at.as_deref().unwrap_or("—")),
        end = esc(r.run.finished_at.as_deref().unwrap_or("— (still running)")),
        p = r.run.steps_passed,
        f = r.run.steps_failed,
        k = r.run.steps_skipped,
        i = interrupted_count(r),
    );

    // Why the run stopped, first thing on the page.
    if let Some(st) = stopped(r) {
        let _ = write!(
            s,
            r#"<section id="stopped" class="stopped{}"><h2><span class="{}">{}</span> {}</h2>"#,
            if badge == "intr" { " paused" } else { "" },
            if badge == "ok" { "bad" } else { badge },
            st.mark,
            esc(st.title)
        );
        if let Some(p) = &st.place {
            s.push_str(&inline(p));
        }
        if !st.error.is_empty() {
            let lines: Vec<String> = st.error.iter().map(|l| inline_one(l)).collect();
            let _ = write!(
                s,
                "<p>labctl ended with:</p><blockquote>{}</blockquote>",
                lines.join("<br>")
            );
        }
        if !st.problems.is_empty() {
            s.push_str(r#"<p>Problems reported:</p><ul class="checks">"#);
            for p in &st.problems {
                let _ = write!(s, "<li>{} {}</li>", mark(false), inline_one(p));
            }
            s.push_str("</ul>");
        }
        s.push_str("</section>\n");
    }

    summary(&mut s, r);

    // Bench.
    s.push_str(r#"<section id="bench"><h2>Bench</h2><table><tr><th>host</th><th>lab address</th><th>SSH</th><th>interface</th></tr>"#);
    for h in &r.bench.hosts {
        let _ = write!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            host_chip(&colors, &h.name),
            esc(&h.addr),
            esc(h.ssh.as_deref().unwrap_or("")),
            esc(h.interface.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</table>");
    if let Some(p) = &r.bench.programs {
        let _ = write!(s, "<p>Programs: {}.</p>", esc(&p.describe()));
    }
    if !r.clocks.is_empty() {
        s.push_str("<p>Clocks: each host's against this machine's, which every time of this report is on:</p><ul class=\"clocks\">");
        for c in &r.clocks {
            let _ = write!(s, "<li>{}</li>", esc(&c.describe()));
        }
        s.push_str("</ul>");
    }
    s.push_str("</section>\n");

    // Steps.
    s.push_str(r#"<section id="steps"><h2>Steps</h2>"#);
    for st in &r.steps {
        let cls = match st.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed => "bad",
            Outcome::Interrupted => "intr",
            _ => "muted",
        };
        let hosts: Vec<String> = st.hosts.iter().map(|h| host_chip(&colors, h)).collect();
        // Passed steps collapsed; the others open, read first.
        let open = if st.outcome == Outcome::Passed {
            ""
        } else {
            " open"
        };
        let _ = write!(
            s,
            r#"<details class="step {cls}" id="step-{}"{open}><summary><h3 class="step"><span class="{cls}">{}</span> {} — {} {} <span class="muted">({}{})</span></h3></summary><ul class="checks">"#,
            esc(&st.id),
            st.outcome.mark(),
            esc(&st.id),
            esc(&st.title),
            hosts.join(" "),
            st.outcome.word(),
            step_secs(st)
                .map(|t| format!(", {t:.2} s"))
                .unwrap_or_default()
        );
        for c in &st.checks {
            let host = c
                .host
                .as_deref()
                .map(|h| format!("{} ", host_chip(&colors, h)))
                .unwrap_or_default();
            let _ = write!(
                s,
                r#"<li>{} {host}{} — <span class="mono">{}</span></li>"#,
                mark(c.ok),
                inline_one(&c.what),
                esc(&c.evidence)
            );
        }
        s.push_str("</ul></details>");
    }
    if r.steps.is_empty() {
        s.push_str("<p>No step has run.</p>");
    }
    s.push_str("</section>\n");

    // Answers.
    // A lab without questions has no answers section.
    if !r.answers.is_empty() {
        let _ = write!(s, r#"<section id="answers"><h2>{}</h2>"#, answers_title(r));
    }
    for a in &r.answers {
        let (class, body) = match (r.student, a.answered, a.ok) {
            (true, _, _) => ("question", format!("<p>{}</p>", esc(STUDENT_NOTE))),
            (false, _, true) => ("ok", inline(&a.answer)),
            (false, true, false) => ("bad", inline(&a.answer)),
            (false, false, false) => ("none", inline(&a.answer)),
        };
        // Links to the ladders of the captures it cites.
        let links: Vec<String> = a
            .captures
            .iter()
            .map(|c| format!(r##"<a href="#capture-{n}">{n}</a>"##, n = esc(c)))
            .collect();
        let links = match links.is_empty() {
            true => String::new(),
            false => format!(r#"<p class="muted">Ladders: {}</p>"#, links.join(", ")),
        };
        let _ = write!(
            s,
            r#"<div class="answer {class}" id="answer-{}"><h3>{} {} — {}</h3>{body}{links}</div>"#,
            esc(&a.id),
            if r.student { "" } else { answer_mark(a) },
            esc(&a.id),
            esc(&a.question),
        );
    }
    if !r.answers.is_empty() {
        s.push_str("</section>\n");
    }

    // Captures.
    s.push_str(r#"<section id="captures"><h2>Captures</h2>"#);
    if r.captures.is_empty() {
        s.push_str("<p>No capture was taken.</p>");
    }
    if !ladders.is_empty() {
        legend(&mut s);
    }
    for c in &r.captures {
        let steps = match (&c.step, &c.stopped_in) {
            (Some(a), Some(b)) if a != b => format!(" · steps {}–{}", esc(a), esc(b)),
            (Some(a), _) => format!(" · step {}", esc(a)),
            _ => String::new(),
        };
        // Collapsed: a line each; following a link to a ladder opens it.
        let frames = c
            .analysis
            .as_ref()
            .map(|a| format!(" · {} frames", a.counts.total))
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<details class="capture"{open}><summary><h3 id="capture-{n}"><code>{n}</code> on {h}{steps}{frames}</h3></summary><p class="muted">file <code>{f}</code></p>"#,
            open = if c.error.is_some() { " open" } else { "" },
            n = esc(&c.name),
            h = host_chip(&colors, &c.host),
            f = esc(&c.file)
        );
        if let Some(e) = &c.error {
            let _ = write!(s, r#"<p class="bad">✘ {}</p>"#, esc(e));
        }
        let Some(a) = &c.analysis else {
            s.push_str("</details>");
            continue;
        };
        capture_tables(&mut s, a, &names);
        if let Some((_, _, svg)) = ladders.iter().find(|(n, _, _)| *n == c.name) {
            let _ = write!(
                s,
                r#"<div class="ladder-wrap" id="{}">{svg}</div>"#,
                esc(&super::ladder_anchor(&c.name))
            );
        }
        s.push_str("</details>");
    }
    s.push_str("</section>\n");

    // Timeline.
    s.push_str(r#"<section id="timeline"><h2>Timeline</h2><p class="muted">Every program's output and every line sent to it, on all hosts, on this machine's clock (UTC): each host's times corrected by its clock's offset (see Bench).</p>"#);
    if r.timeline.is_empty() {
        s.push_str("<p>No program output was recorded.</p>");
    } else {
        s.push_str(r#"<div class="timeline-wrap"><table class="timeline"><tr><th>time</th><th>t (s)</th><th>host</th><th>program</th><th></th><th>line</th></tr>"#);
        let mut last = None;
        for e in &r.timeline {
            // A separator row where the lines of another step begin.
            if let Some(sep) = step_change(r, &mut last, e) {
                let _ = write!(
                    s,
                    r#"<tr class="sep"><th colspan="6">{}</th></tr>"#,
                    esc(&sep)
                );
            }
            let stream = match e.stream {
                LineStream::Stdout => "stdout",
                LineStream::Stderr => "stderr",
                LineStream::Stdin => "stdin",
            };
            let _ = write!(
                s,
                r#"<tr class="{stream}"><td class="mono">{}</td><td class="mono">{:.3}</td><td>{}</td><td>{}</td><td class="muted">{}</td><td class="text">{}</td></tr>"#,
                esc(clock(&e.at)),
                e.t,
                host_chip(&colors, &e.host),
                esc(&e.program),
                esc(stream_mark(e.stream)),
                esc(&e.text)
            );
        }
        s.push_str("</table></div>");
    }
    let _ = write!(
        s,
        "</section>\n<p class=\"muted\">Generated {} by labctl · <code>run.json</code> schema <code>{}</code></p></main></body></html>\n",
        esc(&r.generated_at),
        esc(r.schema)
    );
    // Text from hosts and the lab file is escaped above; its control bytes
    // (ESC, NUL…) are shown as `\x1b`, `\0` here, once for the whole page
    // (the page itself when it has none: no copy of it).
    if let std::borrow::Cow::Owned(shown) = crate::util::show_controls(&s, true) {
        return shown;
    }
    s
}

/// The page's first section: one row per step (mark, time) and the
/// answers' marks, each a link to its section.
fn summary(s: &mut String, r: &RunReport) {
    s.push_str(r#"<section id="summary"><h2>Summary</h2>"#);
    if r.steps.is_empty() {
        s.push_str("<p>No step has run.</p>");
    } else {
        s.push_str(r#"<table class="summary"><tr><th></th><th>step</th><th>title</th><th>result</th><th class="time">time</th></tr>"#);
        for st in &r.steps {
            let cls = match st.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "bad",
                Outcome::Interrupted => "intr",
                _ => "muted",
            };
            let _ = write!(
                s,
                r##"<tr><td><span class="{cls}">{}</span></td><td><a href="#step-{id}">{id}</a></td><td>{}</td><td>{}</td><td class="time mono">{}</td></tr>"##,
                st.outcome.mark(),
                esc(&st.title),
                st.outcome.word(),
                step_secs(st)
                    .map(|t| format!("{t:.2} s"))
                    .unwrap_or_else(|| "—".into()),
                id = esc(&st.id),
            );
        }
        s.push_str("</table>");
    }
    if !r.answers.is_empty() {
        s.push_str(r#"<p class="answers">Answers: "#);
        for a in &r.answers {
            let _ = write!(
                s,
                r##"<a href="#answer-{id}">{} {id}</a>"##,
                mark(a.ok),
                id = esc(&a.id)
            );
        }
        s.push_str("</p>");
    }
    s.push_str("</section>\n");
}

/// What the ladders' colours mean.
fn legend(s: &mut String) {
    s.push_str(r#"<ul class="legend" aria-label="ladder legend">"#);
    for (color, _, dashed, what) in ladder::LEGEND {
        let dash = if dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<li><svg class="key" width="34" height="10" aria-hidden="true"><line x1="0" y1="5" x2="26" y2="5" stroke="{color}" stroke-width="2"{dash}/><polygon points="34,5 26,1 26,9" fill="{color}"/></svg>{}</li>"#,
            esc(what)
        );
    }
    s.push_str("</ul>");
}

/// One line of inline Markdown (`code`) without a paragraph.
fn inline_one(text: &str) -> String {
    let html = inline(text);
    html.strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
        .map(str::to_string)
        .unwrap_or(html)
}

fn capture_tables(s: &mut String, a: &CaptureAnalysis, names: &BTreeMap<String, String>) {
    let addr = |x: &str| -> String {
        match owner(names, x) {
            Some(h) => format!("<code>{}</code> ({})", esc(x), esc(h)),
            None => format!("<code>{}</code>", esc(x)),
        }
    };
    let _ = write!(
        s,
        "<p>{} frames over {:.3} s (link type {}), first at {}.</p><table><tr>",
        a.counts.total,
        a.duration_s,
        esc(&a.link_type),
        esc(&super::rfc3339(a.start_unix))
    );
    for k in KINDS {
        let _ = write!(s, "<th>{}</th>", k.name());
    }
    s.push_str("</tr><tr>");
    for k in KINDS {
        let _ = write!(s, "<td>{}</td>", a.counts.get(k));
    }
    s.push_str("</tr></table>");
    if !a.tcp.is_empty() {
        s.push_str("<table><tr><th>TCP client</th><th>server</th><th>handshake</th><th>data → server</th><th>data ← server</th><th>closed</th></tr>");
        for c in &a.tcp {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({} B)</td><td>{} ({} B)</td><td>{}</td></tr>",
                addr(&c.client),
                addr(&c.server),
                mark(c.handshake),
                c.data_to_server,
                c.bytes_to_server,
                c.data_to_client,
                c.bytes_to_client,
                c.closed.word()
            );
        }
        s.push_str("</table>");
    }
    if !a.udp.is_empty() {
        s.push_str("<table><tr><th>UDP client</th><th>server</th><th>datagrams → server</th><th>datagrams ← server</th><th>ICMP errors</th></tr>");
        for u in &a.udp {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                addr(&u.client),
                addr(&u.server),
                u.datagrams_to_server,
                u.datagrams_to_client,
                u.icmp_errors
            );
        }
        s.push_str("</table>");
    }
    for t in super::pairs::tables(a, names) {
        let _ = write!(s, "<table><caption>{}</caption><tr>", esc(t.title));
        for h in t.head {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        s.push_str("</tr>");
        for r in &t.rows {
            s.push_str("<tr>");
            for c in r {
                let _ = write!(s, "<td>{}</td>", inline_one(c));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
    if !a.sockets.is_empty() {
        s.push_str("<table><tr><th>socket address</th><th>protocol</th><th>role</th><th>frames sent</th><th>frames received</th></tr>");
        for so in &a.sockets {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                addr(&so.address),
                so.proto.name(),
                so.role.word(),
                so.frames_sent,
                so.frames_received
            );
        }
        s.push_str("</table>");
    }
    for sv in &a.servers {
        let clients: Vec<String> = sv.clients.iter().map(|c| addr(c)).collect();
        let _ = write!(
            s,
            "<p>Server {}: {}. Clients: {}.</p>",
            addr(&sv.address),
            server_sockets(sv),
            clients.join(", ")
        );
    }
    for w in &a.warnings {
        let _ = write!(s, r#"<p class="bad">Warning: {}</p>"#, esc(w));
    }
}
