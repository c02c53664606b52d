//! The room report: a directory beside the benches' run directories with
//! `room.json` (schema `labctl-room/1`, `docs/room-json-schema.json`),
//! `index.md` and a self-contained `index.html` — the bench × step matrix
//! (✔ ✘ ·, the failure's words on hover and in text), each bench's outcome
//! and first failure, and a link to each bench's report.
//!
//! `run --all` rewrites it as benches finish (and at most every second while
//! they run), each file swapped in whole, so a killed labctl leaves it
//! current; `labctl report ROOM_DIR` rebuilds it from the benches' run
//! directories. The matrix's HTML is made here once for both the file and
//! `labctl serve`'s live page, which sends its rows as they change.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BenchView, Cell, Failure, Room};
use crate::error::Error;
use crate::util::escape_xml as esc;
use crate::util::io_reason;

/// The schema `room.json` follows.
pub(crate) const SCHEMA: &str = "labctl-room/1";

/// `room.json`: the room, with its verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomFile {
    pub schema: String,
    /// `running`, `passed`, `failed` or `interrupted`.
    pub outcome: String,
    pub benches_passed: usize,
    pub benches_total: usize,
    /// RFC 3339, when this file was written.
    pub generated_at: String,
    #[serde(flatten)]
    pub room: Room,
}

impl RoomFile {
    pub(crate) fn of(room: &Room) -> RoomFile {
        RoomFile {
            schema: SCHEMA.into(),
            outcome: room.outcome().into(),
            benches_passed: room.passed(),
            benches_total: room.benches.len(),
            generated_at: crate::report::rfc3339(crate::record::now_unix()),
            room: room.clone(),
        }
    }
}

/// Writes `room.json`, `index.md` and `index.html` into `dir`.
pub(crate) fn write(dir: &Path, room: &Room) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(&RoomFile::of(room)).expect("the room serialises");
    crate::report::put(dir, "room.json", (json + "\n").as_bytes())?;
    crate::report::put(dir, "index.md", markdown(room).as_bytes())?;
    crate::report::put(dir, "index.html", html(room).as_bytes())?;
    Ok(())
}

/// Removes what [`write`]'s swaps kept, once the room's files are final.
pub(crate) fn tidy(dir: &Path) {
    crate::report::tidy_files(dir, &["room.json", "index.md", "index.html"]);
}

/// Whether `dir` is a room directory (it has `room.json`).
pub(crate) fn is_room(dir: &Path) -> bool {
    dir.join("room.json").is_file()
}

/// The room recorded in `dir`, folded again from its benches' run directories.
pub(crate) fn load(dir: &Path) -> Result<Room, Error> {
    let path = dir.join("room.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::Usage(format!(
            "`{}` is not a room directory: cannot read `room.json`: {}",
            dir.display(),
            io_reason(&e)
        ))
    })?;
    let file: RoomFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Usage(format!("`{}` is not a room's file: {e}", path.display())))?;
    Ok(file.room.reload(dir))
}

/// `labctl report ROOM_DIR`: each bench's reports, then the room's, rebuilt
/// from the run directories; says where they are.
pub(crate) fn command(dir: &Path) -> Result<(), Error> {
    let room = load(dir)?;
    let mut problems = Vec::new();
    for b in &room.benches {
        let run = super::run_dir(dir, b);
        if run.join(crate::record::dir::EVENTS).is_file() {
            if let Err(e) = crate::report::write(&run) {
                problems.push(format!("bench `{}`: {e}", b.name));
            }
        }
    }
    write(dir, &room)?;
    tidy(dir);
    crate::util::out_line(&format!(
        "{} {}",
        crate::report::markdown_mark(room.outcome()),
        room.verdict()
    ));
    for f in ["index.html", "index.md", "room.json"] {
        crate::util::out_line(&dir.join(f).display().to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Local(problems.join("\n")))
    }
}

/// A Markdown table cell: one line, `|` and HTML escaped.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn title(room: &Room) -> String {
    match &room.lab_title {
        Some(t) => format!("{} ({})", room.lab, t),
        None => room.lab.clone(),
    }
}

fn secs(b: &BenchView) -> String {
    b.secs.map_or_else(String::new, |s| format!("{s:.2}s"))
}

/// `index.md`: the verdict, the matrix, then every bench's first failure.
pub(crate) fn markdown(room: &Room) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Room — {} — {} {}\n",
        md_cell(&title(room)),
        crate::report::markdown_mark(room.outcome()),
        room.verdict()
    );
    let _ = writeln!(
        out,
        "Started {}{}. Each bench's report is linked from its row.\n",
        crate::report::rfc3339(room.started_at),
        room.finished_at
            .map(|t| format!(", finished {}", crate::report::rfc3339(t)))
            .unwrap_or_else(|| ", still running".into())
    );
    out.push_str("| bench | outcome |");
    for s in &room.steps {
        let _ = write!(out, " {} |", md_cell(&s.id));
    }
    out.push_str(" passed | failed | time | report |\n|---|---|");
    for _ in &room.steps {
        out.push_str(":-:|");
    }
    out.push_str("--:|--:|--:|---|\n");
    for b in &room.benches {
        let _ = write!(out, "| {} | {} {} |", md_cell(&b.name), mark(b), b.outcome);
        for c in &b.cells {
            let _ = write!(out, " {} |", c.mark());
        }
        let _ = writeln!(
            out,
            " {} | {} | {} | [report](../{}/report.html) |",
            b.passed,
            b.failed,
            secs(b),
            b.run
        );
    }
    let failed = first_failures(room);
    if !failed.is_empty() {
        out.push_str("\n## First failure of each bench\n\n");
        for (b, f) in failed {
            let _ = writeln!(
                out,
                "- **{}**: {}",
                md_cell(&b.name),
                md_cell(&f.message).replace('`', "\\`")
            );
        }
    }
    out.push_str(&check_markdown(room));
    out.push_str("\nLegend: ✔ passed, ✘ failed, · did not run (yet), ▸ running, ⊘ interrupted.\n");
    out
}

fn mark(b: &BenchView) -> &'static str {
    crate::report::markdown_mark(&b.outcome)
}

/// The CSS of the room's pages (the file and the live page).
pub(crate) const CSS: &str = r#"
:root { --ok: #1b7f3b; --bad: #c62828; --muted: #5f6b76; --line: #dde3ea; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d2329; margin: 0; background: #f6f8fa; }
header { background: #22313f; color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d4de; }
main { padding: 8px 24px 32px; }
table.matrix { border-collapse: collapse; margin: 10px 0; background: #fff; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 3px 7px; text-align: center; white-space: nowrap; }
.matrix th { background: #f0f3f6; font-weight: 600; }
.matrix td.bench, .matrix td.fail { text-align: left; }
.matrix td.fail { white-space: normal; min-width: 18em; max-width: 40em; font-size: 13px; }
.matrix td.cell.passed { color: var(--ok); }
.matrix td.cell.failed { color: #fff; background: var(--bad); font-weight: bold; cursor: help; }
.matrix td.cell.running { background: #fff4d6; }
.matrix td.cell.pending { color: var(--muted); }
.matrix td.cell.interrupted { color: #a35200; }
.ok { color: var(--ok); font-weight: bold; } .bad { color: var(--bad); font-weight: bold; }
.intr { color: #a35200; font-weight: bold; } .run { color: #7a5b00; font-weight: bold; }
.muted { color: var(--muted); }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; background: #f0f3f6; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
ul.failures li { margin: 4px 0; }
.wrap { overflow-x: auto; }
@media (max-width: 760px) { header, main { padding: 8px 10px; } body { font-size: 14px; } }
"#;

fn class_of(outcome: &str) -> &'static str {
    match outcome {
        "passed" => "ok",
        "failed" => "bad",
        "interrupted" => "intr",
        _ => "run",
    }
}

/// The verdict line's HTML (`id="verdict"` on the live page).
pub(crate) fn verdict_html(room: &Room) -> String {
    let o = room.outcome();
    format!(
        r#"<span class="{}">{} {}</span>{}"#,
        class_of(o),
        crate::report::markdown_mark(o),
        esc(&room.verdict()),
        if o == "running" {
            " <span class=\"muted\">(running)</span>"
        } else {
            ""
        }
    )
}

/// Bench `i`'s row of the matrix; `base` is the path from the page to the
/// runs directory (`../` from the room directory, empty from its parent).
pub(crate) fn row_html(room: &Room, i: usize, base: &str) -> String {
    let b = &room.benches[i];
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<tr id="bench-{i}" data-bench="{}" data-outcome="{}"><td class="bench"><a href="{base}{}/report.html">{}</a></td><td class="{}">{} {}</td>"#,
        esc(&b.name),
        esc(&b.outcome),
        esc(&b.run),
        esc(&b.name),
        class_of(&b.outcome),
        mark(b),
        esc(&b.outcome),
    );
    for (k, c) in b.cells.iter().enumerate() {
        let step = room.steps.get(k).map_or("", |s| s.id.as_str());
        let class = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        // A failed cell says why on hover: the bench's failure in that step.
        let why = match c {
            Cell::Failed | Cell::Interrupted => b
                .first_failure
                .as_ref()
                .filter(|f| f.step.as_deref() == Some(step))
                .map(|f| f.message.clone())
                .or_else(|| b.error.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let title = if why.is_empty() {
            format!("{} {step}: {class}", b.name)
        } else {
            format!("{} {step}: {why}", b.name)
        };
        let _ = write!(
            out,
            r#"<td class="cell {class}" data-step="{}" title="{}">{}</td>"#,
            esc(step),
            esc(&title),
            c.mark()
        );
    }
    let fail = b
        .first_failure
        .as_ref()
        .map(|f| esc(&f.short()))
        .unwrap_or_default();
    let _ = write!(
        out,
        r#"<td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="fail">{fail}</td></tr>"#,
        b.passed,
        b.failed,
        secs(b)
    );
    out
}

/// The matrix and the failures: the part of the page that changes.
pub(crate) fn body_html(room: &Room, base: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<div class="wrap"><table class="matrix" id="matrix"><thead><tr><th>bench</th><th>outcome</th>"#
    );
    for s in &room.steps {
        let _ = write!(out, r#"<th title="{}">{}</th>"#, esc(&s.title), esc(&s.id));
    }
    out.push_str(
        "<th>passed</th><th>failed</th><th>time</th><th>first failure</th></tr></thead><tbody>",
    );
    for i in 0..room.benches.len() {
        out.push_str(&row_html(room, i, base));
    }
    out.push_str("</tbody></table></div>");
    out.push_str(&failures_html(room));
    out.push_str(&check_html(room));
    out
}

/// The room's last `check --all` before the run: a bench × host matrix, ✔
/// or the number of failed checks (which, on hover and in the list below).
pub(crate) fn check_html(room: &Room) -> String {
    let Some(c) = &room.check else {
        return String::new();
    };
    let mut hosts: Vec<&str> = Vec::new();
    for b in &c.benches {
        for h in &b.hosts {
            if !hosts.contains(&h.host.as_str()) {
                hosts.push(&h.host);
            }
        }
    }
    let mut out = format!(
        r#"<section id="check"><h2>The room's check before the run</h2><p class="muted">`labctl check --all`, {}: {}</p><div class="wrap"><table class="matrix"><thead><tr><th>bench</th>"#,
        esc(&crate::report::rfc3339(c.at)),
        if c.ok {
            "every check passed"
        } else {
            "some checks failed"
        }
    );
    for h in &hosts {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for b in &c.benches {
        let _ = write!(out, r#"<tr><td class="bench">{}</td>"#, esc(&b.name));
        for name in &hosts {
            match b.hosts.iter().find(|h| h.host == *name) {
                Some(h) if h.ok => out.push_str(r#"<td class="cell passed">✔</td>"#),
                Some(h) => {
                    let _ = write!(
                        out,
                        r#"<td class="cell failed" title="{}">{}</td>"#,
                        esc(&h.failures.join("\n")),
                        h.failures.len()
                    );
                }
                None => out.push_str(r#"<td class="cell pending">-</td>"#),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    let failed: Vec<String> = c
        .benches
        .iter()
        .flat_map(|b| {
            b.hosts.iter().flat_map(move |h| {
                h.failures.iter().map(move |f| {
                    format!(
                        "<li><b>{}/{}</b> {}</li>",
                        esc(&b.name),
                        esc(&h.host),
                        esc(f)
                    )
                })
            })
        })
        .collect();
    if !failed.is_empty() {
        let _ = write!(out, "<ul class=\"failures\">{}</ul>", failed.join(""));
    }
    out.push_str("</section>");
    out
}

/// The check's part of `index.md`.
fn check_markdown(room: &Room) -> String {
    let Some(c) = &room.check else {
        return String::new();
    };
    let mut out = format!(
        "\n## The room's check before the run\n\n`labctl check --all`, {}: {}\n\n",
        crate::report::rfc3339(c.at),
        if c.ok {
            "every check passed"
        } else {
            "some checks failed"
        }
    );
    for b in &c.benches {
        for h in &b.hosts {
            let mark = if h.ok {
                "✔".to_string()
            } else {
                format!("✘ {}", md_cell(&h.failures.join("; ")))
            };
            let _ = writeln!(out, "- {}/{}: {mark}", md_cell(&b.name), md_cell(&h.host));
        }
    }
    out
}

/// The benches that failed, each with its first failure, in the room's
/// order: what both renderers list under "First failure of each bench".
fn first_failures(room: &Room) -> Vec<(&BenchView, &Failure)> {
    room.benches
        .iter()
        .filter_map(|b| b.first_failure.as_ref().map(|f| (b, f)))
        .collect()
}

/// Every bench's first failure, in full, in text.
pub(crate) fn failures_html(room: &Room) -> String {
    let mut out = String::from(r#"<section id="failures">"#);
    let failed = first_failures(room);
    if !failed.is_empty() {
        out.push_str("<h2>First failure of each bench</h2><ul class=\"failures\">");
        for (b, f) in failed {
            let _ = write!(
                out,
                "<li><b>{}</b>: <code>{}</code></li>",
                esc(&b.name),
                esc(&f.message)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

/// The header's second line: the lab, when it started and finished.
pub(crate) fn subtitle_html(room: &Room) -> String {
    format!(
        "lab <b>{}</b> · {} benches · started {}{}",
        esc(&title(room)),
        room.benches.len(),
        esc(&crate::report::rfc3339(room.started_at)),
        room.finished_at
            .map(|t| format!(" · finished {}", esc(&crate::report::rfc3339(t))))
            .unwrap_or_default()
    )
}

/// `index.html`: one self-contained page (inline CSS, no script, nothing fetched).
pub(crate) fn html(room: &Room) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="labctl ({SCHEMA})"><title>Room {id} — {verdict}</title><style>{CSS}</style></head><body>
<header><h1 id="verdict">{verdict_html}</h1><p>{sub}</p></header>
<main>{body}
<p class="muted">✔ passed · ✘ failed (hover for why) · · did not run (yet) · ▸ running · ⊘ interrupted. Each bench's name links to its report.</p></main></body></html>
"#,
        id = esc(&room.id),
        verdict = esc(&room.verdict()),
        verdict_html = verdict_html(room),
        sub = subtitle_html(room),
        body = body_html(room, "../"),
    )
}

/// The room directory for `room_id` under `parent`, created like a run
/// directory (private; `-2` when the name is taken).
pub(crate) fn create(parent: &Path, room_id: &str) -> Result<(PathBuf, String), Error> {
    crate::record::dir::create(parent, room_id)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn room() -> Room {
        let mut r = Room {
            id: "r-room".into(),
            lab: "lab".into(),
            lab_title: Some("A <lab>".into()),
            steps: vec![
                RoomStep {
                    id: "S.1".into(),
                    title: "one".into(),
                },
                RoomStep {
                    id: "S.2".into(),
                    title: "two".into(),
                },
            ],
            benches: vec![
                BenchView::new("bench1", "r-bench1", 2),
                BenchView::new("bench2", "r-bench2", 2),
            ],
            started_at: 100.0,
            finished_at: Some(110.0),
            check: None,
        };
        r.benches[0].outcome = "passed".into();
        r.benches[0].cells = vec![Cell::Passed, Cell::Passed];
        r.benches[1].outcome = "failed".into();
        r.benches[1].cells = vec![Cell::Passed, Cell::Failed];
        r.benches[1].first_failure = Some(Failure {
            step: Some("S.2".into()),
            host: Some("B".into()),
            expected: Some("`c` prints /x|y/".into()),
            seen: "z".into(),
            message: "step `S.2` on host `B`: <no>".into(),
            words: Some("<no>".into()),
        });
        r
    }

    #[test]
    fn the_pages_link_every_report_and_say_why_a_cell_failed() {
        let r = room();
        let h = html(&r);
        assert!(h.contains(r#"href="../r-bench1/report.html""#), "{h}");
        assert!(h.contains(r#"href="../r-bench2/report.html""#), "{h}");
        assert!(
            h.contains(r#"title="bench2 S.2: step `S.2` on host `B`: &lt;no&gt;""#),
            "{h}"
        );
        assert!(h.contains("1 of 2 benches passed"), "{h}");
        assert!(!h.contains("<script"), "{h}");
        let md = markdown(&r);
        assert!(md.contains("| bench2 | ✘ failed | ✔ | ✘ |"), "{md}");
        assert!(md.contains("[report](../r-bench1/report.html)"), "{md}");
        assert!(md.contains("&lt;no&gt;"), "{md}");
        let back: RoomFile =
            serde_json::from_str(&serde_json::to_string(&RoomFile::of(&r)).unwrap()).unwrap();
        assert_eq!(back.benches_passed, 1);
        assert_eq!(back.room.benches[1].cells[1], Cell::Failed);
    }
}
