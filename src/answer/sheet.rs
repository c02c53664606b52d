//! `labctl answer --grade DIR`: a grading sheet for a folder of
//! submissions. Each subfolder of DIR is a student (every file in it, at
//! any depth); a file directly in DIR belongs to the student its name
//! starts with (`alice_part1.pcapng` and `alice-II.pcapng` are `alice`'s:
//! the name up to its first `_`, else its first `-`, else its stem).
//!
//! The sheet is student × question, as `grading.html` (each cell: the mark,
//! what the capture shows — socket addresses, counts, the frames cited
//! with the file and the display filter — and the whole answer folded
//! under it) and `grading.csv` (the mark and what the capture shows), with
//! the lab's reference beside them when one is given (`--reference`: a
//! labctl run directory, or captures). A grader checks each written answer
//! against the student's own evidence at a glance; the files that could
//! not be read are named in the student's row.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{answer_files, shown, Answered, Context, FileReport};
use crate::cli::{AnswerArgs, GlobalArgs};
use crate::error::Error;
use crate::report::model::{Answer, QuestionRecord};
use crate::util::{escape_xml as esc, io_reason, out_line, show_controls};

/// The sheet's files, in the output folder.
pub const HTML: &str = "grading.html";
pub const CSV: &str = "grading.csv";

/// `labctl answer --grade DIR`.
pub fn grade(g: &GlobalArgs, args: &AnswerArgs, dir: &Path) -> Result<(), Error> {
    let ctx = Context::load(g, &args.server)?;
    let subs = submissions(dir)?;
    if subs.is_empty() {
        return Err(Error::Usage(format!(
            "no submissions in `{}`: put each student's captures in a folder of their own, or name them `STUDENT_….pcapng`",
            dir.display()
        )));
    }
    let reference = match &args.reference {
        Some(r) => Some(reference(r, &ctx)?),
        None => None,
    };
    let mut graded = Vec::new();
    for (i, (student, files)) in subs.iter().enumerate() {
        let files: Vec<(PathBuf, String)> =
            files.iter().map(|p| (p.clone(), shown(p, dir))).collect();
        let a = answer_files(student, &files, &ctx);
        for f in a.files.iter().filter(|f| f.error.is_some()) {
            crate::util::err_line(&show_controls(&f.line(), false));
        }
        out_line(&show_controls(
            &format!(
                "[{}/{}] {student}: {} file{}, {} of {} questions answered from the captures",
                i + 1,
                subs.len(),
                a.files.len(),
                if a.files.len() == 1 { "" } else { "s" },
                a.answers.iter().filter(|x| x.answered).count(),
                a.answers.len()
            ),
            false,
        ));
        graded.push(a);
    }
    let out = args.out.clone().unwrap_or_else(|| dir.to_path_buf());
    std::fs::create_dir_all(&out).map_err(|e| {
        Error::Local(format!(
            "cannot create `{}`: {}",
            out.display(),
            io_reason(&e)
        ))
    })?;
    let write = |name: &str, text: String| -> Result<PathBuf, Error> {
        let path = out.join(name);
        crate::util::write_private(&path, text.as_bytes()).map_err(|e| {
            Error::Local(format!(
                "cannot write `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        Ok(path)
    };
    let html = write(HTML, html(&ctx.questions, reference.as_ref(), &graded, dir))?;
    let csv = write(CSV, csv(&ctx.questions, reference.as_ref(), &graded))?;
    out_line(&html.display().to_string());
    out_line(&csv.display().to_string());
    if !graded.iter().any(Answered::readable) {
        return Err(Error::Usage(format!(
            "no capture in `{}` could be read (the sheet names every file and why)",
            dir.display()
        )));
    }
    Ok(())
}

/// Each student's files, by name.
fn submissions(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, Error> {
    let list = |d: &Path| -> Result<Vec<PathBuf>, Error> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| Error::Usage(format!("cannot read `{}`: {}", d.display(), io_reason(&e))))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && n != HTML && n != CSV)
            })
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for p in list(dir)? {
        if p.is_dir() {
            let mut files = Vec::new();
            let mut todo = vec![p.clone()];
            while let Some(d) = todo.pop() {
                for q in list(&d)? {
                    if q.is_dir() {
                        todo.push(q);
                    } else {
                        files.push(q);
                    }
                }
            }
            files.sort();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            out.entry(name.unwrap_or_default())
                .or_default()
                .extend(files);
        } else {
            out.entry(student_of(&p)).or_default().push(p);
        }
    }
    Ok(out.into_iter().collect())
}

/// The student a file directly in the graded folder belongs to.
fn student_of(p: &Path) -> String {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cut = stem.find('_').or_else(|| stem.find('-'));
    match cut {
        Some(i) if i > 0 => stem[..i].to_string(),
        _ => stem,
    }
}

/// The reference: a labctl run directory's answers, or captures answered.
fn reference(path: &Path, ctx: &Context) -> Result<Answered, Error> {
    if path.join(crate::record::dir::EVENTS).is_file() {
        let mut input = crate::report::load::load(path)?;
        input.questions = crate::report::read_questions(path)?;
        if input.questions.is_empty() {
            input.questions = ctx.questions.clone();
        }
        let report = crate::report::build(path, &input);
        return Ok(Answered {
            schema: super::SCHEMA,
            name: format!("reference run `{}`", report.run.id),
            files: report
                .captures
                .iter()
                .map(|c| FileReport {
                    file: c.file.clone(),
                    error: c.error.clone(),
                    format: Some("pcap".into()),
                    frames: c.analysis.as_ref().map_or(0, |a| a.counts.total),
                    interfaces: Vec::new(),
                    services: Vec::new(),
                    lab_frames: c.analysis.as_ref().map_or(0, |a| a.counts.total),
                    set_aside: Vec::new(),
                    damaged: None,
                    warnings: Vec::new(),
                })
                .collect(),
            answers: report.answers,
        });
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        submissions(path)?
            .into_iter()
            .flat_map(|(_, f)| f)
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let shown_files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|p| (p.clone(), p.display().to_string()))
        .collect();
    let a = answer_files("reference", &shown_files, ctx);
    if !a.readable() {
        return Err(Error::Usage(format!(
            "--reference `{}`: neither a labctl run directory nor a readable capture",
            path.display()
        )));
    }
    Ok(a)
}

/// ✔ answered as the lab expects, ✘ answered otherwise, – the capture cannot answer it.
fn mark(a: &Answer) -> &'static str {
    match (a.answered, a.ok) {
        (_, true) => "✔",
        (true, false) => "✘",
        (false, false) => "–",
    }
}

/// What an answer's capture shows, in a line: addresses, counts, frames.
pub fn brief(q: &QuestionRecord, a: &Answer) -> String {
    if !a.answered {
        let why = a.answer.strip_prefix("Not answered: ").unwrap_or(&a.answer);
        return why.lines().next().unwrap_or("").to_string();
    }
    let f = &a.facts;
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let nums = |v: &Value| -> String {
        let n: Vec<usize> = v
            .as_array()
            .map(|x| {
                x.iter()
                    .filter_map(|n| n.as_u64().map(|n| n as usize))
                    .collect()
            })
            .unwrap_or_default();
        crate::report::answers::numbers(&n)
    };
    let yes = |v: &Value| {
        if v.as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
    };
    let text = match q.answer.as_str() {
        "tcp-frames" => f["conversations"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let mut t = format!(
                            "{} → {}: handshake {}",
                            s(&c["client"]),
                            s(&c["server"]),
                            match nums(&c["handshake"]) {
                                n if n.is_empty() => "not captured".to_string(),
                                n => n,
                            }
                        );
                        for l in c["lines"].as_array().into_iter().flatten() {
                            t.push_str(&format!("; “{}” {}", s(&l["line"]), nums(&l["frames"])));
                        }
                        t
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .unwrap_or_default(),
        "tcp-addresses" => {
            let v: Vec<String> = f["addresses"]
                .as_array()
                .map(|x| x.iter().map(s).collect())
                .unwrap_or_default();
            format!("{} addresses: {}", v.len(), v.join(", "))
        }
        "tcp-queued" => format!(
            "{} waited for {}: connected at once {}, line ACKed {}, answered after {} quit {}",
            s(&f["second_client"]),
            s(&f["first_client"]),
            yes(&f["established_before_first_closed"]),
            yes(&f["acked_before_first_closed"]),
            s(&f["first_client"]),
            yes(&f["replied_after_first_closed"]),
        ),
        "udp-frames" | "udp-no-wait" => {
            let v: Vec<String> = f["clients"]
                .as_array()
                .map(|x| x.iter().map(s).collect())
                .unwrap_or_default();
            format!("UDP clients {}", v.join(", "))
        }
        "tcp-concurrent" => format!(
            "{} clients, {} connected, {} at once, {} answered",
            f["clients"], f["connected"], f["max_concurrent"], f["answered"]
        ),
        "server-sockets" => {
            let v: Vec<String> = f["servers"]
                .as_array()
                .map(|x| x.iter().map(s).collect())
                .unwrap_or_default();
            format!(
                "{}: {} sockets (1 listening + {} connected)",
                v.join(", "),
                f["sockets"],
                f["connected"]
            )
        }
        "client-sockets" => f["clients"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let addrs: Vec<String> = c["addresses"]
                            .as_array()
                            .map(|x| x.iter().map(s).collect())
                            .unwrap_or_default();
                        format!("{}: {} ({})", s(&c["host"]), c["sockets"], addrs.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    // A rule without numbers (a line of output): the answer's first sentence.
    let text = if text.is_empty() {
        crate::capture::abbreviate(a.answer.lines().next().unwrap_or(""), 160)
    } else {
        text
    };
    let frames = cited(a);
    match frames.is_empty() {
        false => format!("{text} — {frames}"),
        true => text,
    }
}

/// The frames an answer cites: `frames 1–3, 7 of part1.pcapng (ip.addr==… and tcp.port==…)`.
fn cited(a: &Answer) -> String {
    let mut groups: Vec<(String, String, Vec<usize>)> = Vec::new();
    for f in &a.frames {
        match groups
            .iter_mut()
            .find(|(file, filter, _)| *file == f.file && *filter == f.filter)
        {
            Some((_, _, v)) => v.push(f.number),
            None => groups.push((f.file.clone(), f.filter.clone(), vec![f.number])),
        }
    }
    groups
        .iter()
        .map(|(file, filter, v)| {
            format!(
                "frames {} of {file} (`{filter}`)",
                crate::report::answers::numbers(v)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn csv_field(s: &str) -> String {
    let s = show_controls(&s.replace('\n', " "), false).into_owned();
    // A leading =, +, - or @ is a formula to a spreadsheet: keep it text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s
    };
    if s.contains([',', '"', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(questions: &[QuestionRecord], reference: Option<&Answered>, graded: &[Answered]) -> String {
    let mut out = String::new();
    let mut head = vec!["student".to_string(), "files".into(), "unreadable".into()];
    head.extend(questions.iter().map(|q| q.id.clone()));
    out.push_str(
        &head
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for a in reference.into_iter().chain(graded) {
        let bad: Vec<String> = a
            .files
            .iter()
            .filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.file)))
            .collect();
        let files: Vec<&str> = a.files.iter().map(|f| f.file.as_str()).collect();
        let mut row = vec![a.name.clone(), files.join(" "), bad.join(" | ")];
        for q in questions {
            row.push(match a.answers.iter().find(|x| x.id == q.id) {
                Some(x) => format!("{} {}", mark(x), brief(q, x)),
                None => String::new(),
            });
        }
        out.push_str(
            &row.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

const CSS: &str = r#"
body { font: 14px/1.4 system-ui, "DejaVu Sans", sans-serif; color: #1d2329; margin: 20px; background: #f6f8fa; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.sub { color: #5f6b76; margin: 0 0 14px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #dde3ea; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; position: sticky; top: 0; }
th.q { min-width: 220px; }
td.student { font-weight: 600; white-space: nowrap; }
tr.ref td { background: #f3f8ff; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; background: #f0f3f6; padding: 0 2px; border-radius: 3px; }
.ok { color: #1b7f3b; font-weight: bold; } .bad { color: #c62828; font-weight: bold; } .no { color: #5f6b76; font-weight: bold; }
.files { font-size: 12px; color: #3d4852; max-width: 280px; }
.files .err { color: #c62828; }
td.cannot { color: #5f6b76; font-size: 12px; }
.brief { margin: 2px 0; }
.frames { font-size: 12px; color: #3d4852; }
details { font-size: 12px; margin-top: 4px; } details p, details ul { margin: 4px 0; }
@media print { details { display: block; } th { position: static; } }
"#;

fn html(
    questions: &[QuestionRecord],
    reference: Option<&Answered>,
    graded: &[Answered],
    dir: &Path,
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Grading — {}</title><style>{CSS}</style></head><body>",
        esc(&dir.display().to_string())
    );
    let _ = write!(
        s,
        "<h1>Grading sheet — <code>{}</code></h1><p class=\"sub\">{} submission{}; each question answered from the student's own captures (✔ as the lab expects, ✘ otherwise, – the capture cannot answer it: the cell says why){}.</p>",
        esc(&dir.display().to_string()),
        graded.len(),
        if graded.len() == 1 { "" } else { "s" },
        if reference.is_some() { "; the reference first" } else { "" }
    );
    s.push_str("<table><thead><tr><th>student</th><th>files</th>");
    for q in questions {
        let _ = write!(
            s,
            "<th class=\"q\" title=\"{}\">{}<br><span style=\"font-weight:normal\">{}</span></th>",
            esc(&q.text),
            esc(&q.id),
            esc(&q.text)
        );
    }
    s.push_str("</tr></thead><tbody>");
    for (is_ref, a) in reference
        .into_iter()
        .map(|r| (true, r))
        .chain(graded.iter().map(|g| (false, g)))
    {
        let _ = write!(
            s,
            "<tr{}><td class=\"student\" id=\"{}\">{}</td><td class=\"files\">",
            if is_ref { " class=\"ref\"" } else { "" },
            esc(&anchor(&a.name)),
            esc(&a.name)
        );
        for f in &a.files {
            match &f.error {
                Some(e) => {
                    let _ = write!(
                        s,
                        "<div class=\"err\">✘ <code>{}</code>: {}</div>",
                        esc(&f.file),
                        esc(e)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        "<div>✔ <code>{}</code>: {} frames, {} the lab's</div>",
                        esc(&f.file),
                        f.frames,
                        f.lab_frames
                    );
                    for w in f.damaged.iter() {
                        let _ = write!(s, "<div class=\"err\">! {}</div>", esc(w));
                    }
                }
            }
        }
        s.push_str("</td>");
        for q in questions {
            let Some(x) = a.answers.iter().find(|x| x.id == q.id) else {
                s.push_str("<td></td>");
                continue;
            };
            let class = match mark(x) {
                "✔" => "ok",
                "✘" => "bad",
                _ => "no",
            };
            let _ = write!(
                s,
                "<td{}><span class=\"{class}\">{}</span> <span class=\"brief\">{}</span>",
                if x.answered { "" } else { " class=\"cannot\"" },
                mark(x),
                crate::report::inline_html(&brief_without_frames(q, x))
            );
            let frames = cited(x);
            if !frames.is_empty() {
                let _ = write!(
                    s,
                    "<div class=\"frames\">{}</div>",
                    crate::report::inline_html(&frames)
                );
            }
            if x.answered {
                let _ = write!(
                    s,
                    "<details><summary>the answer</summary>{}</details>",
                    crate::report::inline_html(&x.answer)
                );
            }
            s.push_str("</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></body></html>\n");
    s
}

/// [`brief`] without its frames (the HTML shows them on a line of their own).
fn brief_without_frames(q: &QuestionRecord, a: &Answer) -> String {
    let b = brief(q, a);
    let frames = cited(a);
    if frames.is_empty() {
        return b;
    }
    b.strip_suffix(&frames)
        .map(|x| x.trim_end_matches(" — ").to_string())
        .unwrap_or(b)
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_are_the_names_before_the_first_separator() {
        assert_eq!(student_of(Path::new("d/alice_part1.pcapng")), "alice");
        assert_eq!(student_of(Path::new("d/bob-II.pcapng")), "bob");
        assert_eq!(student_of(Path::new("d/carol.pcap")), "carol");
        assert_eq!(student_of(Path::new("d/_x.pcap")), "_x");
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("x\ny"), "x y");
    }
}
