//! `report.html`: the run report as one self-contained page — inline CSS,
//! inline SVG ladder diagrams, no scripts, nothing fetched — so it opens
//! from a USB stick in a classroom without network.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::markdown::{
    interrupted_count, outcome_mark, server_sockets, stopped, stream_mark, NOT_APPLICABLE,
};
use super::model::*;
use super::{clock, host_names, owner};
use crate::capture::{CaptureAnalysis, KINDS};
use crate::util::escape_xml as esc;

const CSS: &str = r#"
:root { --ok: #1b7f3b; --bad: #c62828; --muted: #5f6b76; --line: #dde3ea; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d2329; margin: 0; background: #f6f8fa; }
header { background: #22313f; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #c9d4de; }
header code { background: rgba(255, 255, 255, 0.16); color: #fff; }
nav { padding: 8px 28px; background: #e9eef3; border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: #22313f; }
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
"#;

const HOST_COLORS: [&str; 6] = [
    "#1565c0", "#2e7d32", "#e65100", "#6a1b9a", "#00838f", "#5d4037",
];

/// Inline Markdown of the answers: `code`, paragraphs, `- ` list items.
fn inline(text: &str) -> String {
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
        for (i, part) in body.split('`').enumerate() {
            if i % 2 == 1 {
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
<nav><a href="#bench">Bench</a><a href="#steps">Steps</a><a href="#answers">Answers</a><a href="#captures">Captures</a><a href="#timeline">Timeline</a></nav><main>
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
        let _ = write!(
            s,
            r#"<h3 class="step"><span class="{cls}">{}</span> {} — {} {} <span class="muted">({})</span></h3><ul class="checks">"#,
            st.outcome.mark(),
            esc(&st.id),
            esc(&st.title),
            hosts.join(" "),
            st.outcome.word()
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
        s.push_str("</ul>");
    }
    if r.steps.is_empty() {
        s.push_str("<p>No step has run.</p>");
    }
    s.push_str("</section>\n");

    // Answers.
    s.push_str(r#"<section id="answers"><h2>Answers to the handout's questions</h2>"#);
    if r.answers.is_empty() {
        let _ = write!(s, "<p>{}</p>", esc(NOT_APPLICABLE));
    }
    for a in &r.answers {
        let _ = write!(
            s,
            r#"<div class="answer {}" id="answer-{}"><h3>{} {} {}</h3>{}</div>"#,
            if a.ok { "ok" } else { "bad" },
            esc(&a.id),
            mark(a.ok),
            esc(&a.id),
            esc(&a.question),
            inline(&a.answer)
        );
    }
    s.push_str("</section>\n");

    // Captures.
    s.push_str(r#"<section id="captures"><h2>Captures</h2>"#);
    if r.captures.is_empty() {
        s.push_str("<p>No capture was taken.</p>");
    }
    for c in &r.captures {
        let steps = match (&c.step, &c.stopped_in) {
            (Some(a), Some(b)) if a != b => format!(" · steps {}–{}", esc(a), esc(b)),
            (Some(a), _) => format!(" · step {}", esc(a)),
            _ => String::new(),
        };
        let _ = write!(
            s,
            r#"<h3 id="capture-{n}"><code>{n}</code> on {h}{steps}</h3><p class="muted">file <code>{f}</code></p>"#,
            n = esc(&c.name),
            h = host_chip(&colors, &c.host),
            f = esc(&c.file)
        );
        if let Some(e) = &c.error {
            let _ = write!(s, r#"<p class="bad">✘ {}</p>"#, esc(e));
        }
        let Some(a) = &c.analysis else { continue };
        capture_tables(&mut s, a, &names);
        if let Some((_, _, svg)) = ladders.iter().find(|(n, _, _)| *n == c.name) {
            let _ = write!(s, r#"<div class="ladder-wrap">{svg}</div>"#);
        }
    }
    s.push_str("</section>\n");

    // Timeline.
    s.push_str(r#"<section id="timeline"><h2>Timeline</h2><p class="muted">Every program's output and every line sent to it, on all hosts, by the hosts' clocks (UTC).</p>"#);
    if r.timeline.is_empty() {
        s.push_str("<p>No program output was recorded.</p>");
    } else {
        s.push_str(r#"<table class="timeline"><tr><th>time</th><th>t (s)</th><th>host</th><th>program</th><th></th><th>line</th></tr>"#);
        for e in &r.timeline {
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
        s.push_str("</table>");
    }
    let _ = write!(
        s,
        "</section>\n<p class=\"muted\">Generated {} by labctl · <code>run.json</code> schema <code>{}</code></p></main></body></html>\n",
        esc(&r.generated_at),
        esc(r.schema)
    );
    // Text from hosts and the lab file is escaped above; its control bytes
    // (ESC, NUL…) are shown as `\x1b`, `\0` here, once for the whole page.
    crate::util::show_controls(&s, true).into_owned()
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
