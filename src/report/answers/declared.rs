//! Questions answered from the evidence they declare (`frames`, `output`,
//! `exit`: [`crate::lab::evidence`]), for any lab: the frames of a named
//! capture that match a filter, counted in the question's steps and cited
//! by number with the Wireshark display filter that shows them (ARP and
//! ICMP frames with the frame they pair with); the lines of a program's
//! output that match a pattern; a `run`'s exit status and output; with
//! `compare`, the same counted in those steps. Each says what the lab
//! expects when the run shows otherwise, and evidence that is absent (a
//! capture that did not run across the steps, a program that did not run
//! in them) says so.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::json;

use super::{quoted, Evidence, Found, Run, Seen};
use crate::capture::filter::FrameFilter;
use crate::capture::{ArpOp, CaptureAnalysis, Frame};
use crate::lab::evidence::{Expect, Show};
use crate::lab::model::Stream;
use crate::report::model::{CaptureReport, LineStream, QuestionRecord};
use crate::report::pairs::took;
use crate::report::story::step_at;

/// Frames listed one by one in an answer; the rest are counted (and cited).
const LISTED: usize = 12;

/// One piece of evidence read: its text, whether it is what the lab
/// expects, whether it was there at all, its numbers.
struct Read {
    text: String,
    ok: bool,
    facts: serde_json::Value,
}

/// The answer to `q` from its declared evidence (`q.shows`), in this run.
pub(super) fn answer(run: &Run, q: &QuestionRecord) -> Result<Found, String> {
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let compare: Vec<String> = q
        .compare
        .iter()
        .filter(|id| {
            run.steps
                .iter()
                .any(|s| s.id == **id && s.outcome == crate::report::model::Outcome::Passed)
        })
        .cloned()
        .collect();
    let mut parts = Vec::new();
    let mut facts = Vec::new();
    for show in &q.shows {
        let read = match show {
            Show::Frames {
                capture,
                filter,
                expect,
            } => frames(run, &mut f, &q.evidence, &compare, capture, filter, *expect)?,
            Show::Output {
                program,
                host,
                pattern,
                stream,
                expect,
            } => output(
                run,
                &mut f,
                &q.evidence,
                &compare,
                program,
                host.as_deref(),
                pattern,
                *stream,
                *expect,
            )?,
            Show::Exit {
                program,
                host,
                status,
            } => exit(run, &mut f, &q.evidence, program, host.as_deref(), *status)?,
        };
        f.ok &= read.ok;
        parts.push(read.text);
        facts.push(read.facts);
    }
    if let Some(why) = &q.why {
        parts.push(format!("Why: {why}"));
    }
    f.text = parts.join("\n\n");
    f.facts = json!({ "evidence": facts });
    Ok(f)
}

/// `step `3``, `steps `3`, `4``.
fn steps_words(steps: &[String]) -> String {
    let ids: Vec<String> = steps.iter().map(|s| format!("`{s}`")).collect();
    format!(
        "step{} {}",
        if steps.len() > 1 { "s" } else { "" },
        ids.join(", ")
    )
}

/// `1 frame`, `3 lines`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The sentence on what the lab expects, when the run shows otherwise.
fn expectation(expect: Expect, ok: bool, what: &str) -> String {
    if ok {
        String::new()
    } else {
        format!(
            "\n\nThe lab expects {} {what}; this run shows otherwise.",
            expect.words()
        )
    }
}

/// The capture of that name that ran across every one of `steps`.
fn capture_across<'r>(
    run: &'r Run,
    name: &str,
    steps: &[String],
) -> Option<(&'r CaptureReport, &'r CaptureAnalysis)> {
    Evidence::new(run, steps)
        .captures()
        .into_iter()
        .rfind(|(c, _)| c.name == name)
}

/// The frames of `a` matching `filter` that belong to `steps` (by the step
/// whose span holds each).
fn frames_in<'a>(
    run: &Run,
    a: &'a CaptureAnalysis,
    filter: &FrameFilter,
    steps: &[String],
) -> Vec<&'a Frame> {
    a.frames
        .iter()
        .filter(|f| filter.matches(f))
        .filter(|f| {
            step_at(run.steps, a.start_unix + f.time).is_some_and(|s| steps.iter().any(|x| x == s))
        })
        .collect()
}

fn frames(
    run: &Run,
    f: &mut Found,
    steps: &[String],
    compare: &[String],
    capture: &str,
    filter: &FrameFilter,
    expect: Expect,
) -> Result<Read, String> {
    let display = filter.display();
    let Some((c, a)) = capture_across(run, capture, steps) else {
        return Err(format!(
            "the evidence is absent: no capture `{capture}` of this run was analysed across {}.",
            steps_words(steps)
        ));
    };
    let seen = Seen {
        capture: c,
        analysis: a,
        held: Vec::new(),
    };
    let mine = frames_in(run, a, filter, steps);
    let nums = f.cite(run, &seen, &mine, &display);
    let mut text = format!(
        "Capture `{capture}` on {}, {}: {} {} `{display}`{}",
        c.host,
        steps_words(steps),
        count(mine.len(), "frame"),
        if mine.len() == 1 { "matches" } else { "match" },
        if mine.is_empty() {
            ".".to_string()
        } else {
            format!(
                " ({} {nums}):",
                if mine.len() == 1 { "frame" } else { "frames" }
            )
        }
    );
    for fr in mine.iter().take(LISTED) {
        text.push_str(&format!("\n- #{}: {}", fr.number, describe(run, a, fr)));
    }
    if mine.len() > LISTED {
        text.push_str(&format!(
            "\n- … and {} more (every one under Where to look).",
            mine.len() - LISTED
        ));
    }
    let mut compared = None;
    if !compare.is_empty() {
        match capture_across(run, capture, compare) {
            Some((cc, ca)) => {
                let theirs = frames_in(run, ca, filter, compare);
                let seen = Seen {
                    capture: cc,
                    analysis: ca,
                    held: Vec::new(),
                };
                let nums = f.cite(run, &seen, &theirs, &display);
                text.push_str(&format!(
                    "\n\nCompared with {}: {}{}.",
                    steps_words(compare),
                    count(theirs.len(), "frame"),
                    if theirs.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} {nums})",
                            if theirs.len() == 1 { "frame" } else { "frames" }
                        )
                    }
                ));
                compared = Some(theirs.len());
            }
            None => text.push_str(&format!(
                "\n\n(No capture `{capture}` ran across {}: nothing here compares with it.)",
                steps_words(compare)
            )),
        }
    }
    let ok = expect.met(mine.len(), compared);
    text.push_str(&expectation(expect, ok, "such frames"));
    Ok(Read {
        text,
        ok,
        facts: json!({
            "kind": "frames",
            "capture": capture,
            "filter": display,
            "count": mine.len(),
            "frames": mine.iter().map(|f| f.number).collect::<Vec<_>>(),
            "compared": compared,
            "expect": String::from(expect),
            "ok": ok,
        }),
    })
}

/// `10.0.3.2` (B).
fn who(run: &Run, addr: &str) -> String {
    run.addr(addr)
}

/// A frame in words, with the frame it pairs with.
fn describe(run: &Run, a: &CaptureAnalysis, f: &Frame) -> String {
    let partner = |n: Option<usize>| n.and_then(|n| a.frames.get(n.wrapping_sub(1)));
    if let Some(h) = &f.arp {
        let x = a
            .arp
            .iter()
            .find(|x| x.requests.contains(&f.number) || x.reply == Some(f.number));
        return match h.op {
            ArpOp::Request => {
                let answered = match x.and_then(|x| x.reply.map(|r| (r, x))) {
                    Some((r, x)) => format!(
                        "; the reply, #{r}, came {} later: `{}` is at `{}`",
                        took(x.after),
                        f.dst,
                        x.mac.as_deref().unwrap_or("?")
                    ),
                    None => "; no reply in the capture".into(),
                };
                format!(
                    "ARP request: {} asks who has {}{answered}",
                    who(run, &f.src),
                    who(run, &f.dst)
                )
            }
            ArpOp::Reply => {
                let to = match x.and_then(|x| x.requests.last().map(|q| (q, x))) {
                    Some((q, x)) => format!(", {} after the request #{q}", took(x.after)),
                    None => " (no request in the capture)".into(),
                };
                format!(
                    "ARP reply: {} tells {} that `{}` is at `{}`{to}",
                    who(run, &f.src),
                    who(run, &f.dst),
                    f.src,
                    h.sender_mac.as_deref().unwrap_or("?")
                )
            }
        };
    }
    if let Some(h) = f.icmp {
        let seq = h.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
        if h.is_echo_request() {
            let e = a.echoes.iter().find(|e| e.request == Some(f.number));
            let reply = match e.and_then(|e| e.reply.map(|r| (r, e))) {
                Some((r, e)) => format!("; its reply, #{r}, came {} later", took(e.after)),
                None => "; no reply in the capture".into(),
            };
            return format!(
                "echo request{seq} from {} to {}{reply}",
                who(run, &f.src),
                who(run, &f.dst)
            );
        }
        if h.is_echo_reply() {
            let e = a.echoes.iter().find(|e| e.reply == Some(f.number));
            let to = match e.and_then(|e| e.request.map(|q| (q, e))) {
                Some((q, e)) => format!(", {} after the request #{q}", took(e.after)),
                None => " (no request in the capture)".into(),
            };
            return format!(
                "echo reply{seq} from {} to {}{to}",
                who(run, &f.src),
                who(run, &f.dst)
            );
        }
        if let Some(e) = a.icmp_errors.iter().find(|e| e.frame == f.number) {
            let about = match partner(e.refers_to) {
                Some(p) => format!("#{} ({})", p.number, e.about),
                None => format!("{} (not in the capture)", e.about),
            };
            return format!(
                "{} tells {}: {}, about {about}",
                who(run, &f.src),
                who(run, &f.dst),
                e.what
            );
        }
    }
    format!(
        "{} from {} to {}",
        quoted(&f.label),
        who(run, &f.src),
        who(run, &f.dst)
    )
}

/// Whether a timeline line's program is `name`: a name a step started, or
/// a program a step ran (its lines are `<step>-<program>`).
fn is_program(line_program: &str, step: Option<&str>, name: &str) -> bool {
    line_program == name || step.is_some_and(|s| line_program == format!("{s}-{name}"))
}

/// Whether `program` ran (was started, or run) in `steps`, on `host` if given.
fn ran(run: &Run, program: &str, host: Option<&str>, steps: &[String]) -> bool {
    let inside = |s: Option<&str>| s.is_some_and(|s| steps.iter().any(|x| x == s));
    let on = |h: &str| host.is_none_or(|x| x == h);
    run.programs
        .iter()
        .any(|p| p.name == program && on(&p.host) && inside(p.step.as_deref()))
        || run_checks(run, program, host, steps).next().is_some()
        || run.timeline.iter().any(|e| {
            inside(e.step.as_deref())
                && on(&e.host)
                && is_program(&e.program, e.step.as_deref(), program)
        })
}

/// The checks of `run` actions of `program` in `steps`: (step, host, evidence).
fn run_checks<'r>(
    run: &'r Run,
    program: &'r str,
    host: Option<&'r str>,
    steps: &'r [String],
) -> impl Iterator<Item = (&'r str, &'r str, &'r str)> + 'r {
    let prefix = format!("run {program}");
    run.steps
        .iter()
        .filter(move |s| steps.contains(&s.id))
        .flat_map(move |s| {
            let prefix = prefix.clone();
            s.checks.iter().filter_map(move |c| {
                let h = c.host.as_deref()?;
                let named = c.what.starts_with(&format!("{prefix} "))
                    || c.what.starts_with(&format!("{prefix}:"));
                (named && host.is_none_or(|x| x == h)).then_some((
                    s.id.as_str(),
                    h,
                    c.evidence.as_str(),
                ))
            })
        })
}

/// The lines of `program` in `steps` (on `host`) of `stream` matching `re`.
fn lines_in<'r>(
    run: &'r Run,
    program: &str,
    host: Option<&str>,
    stream: Stream,
    re: &Regex,
    steps: &[String],
) -> Vec<&'r crate::report::model::TimelineEntry> {
    run.timeline
        .iter()
        .filter(|e| {
            e.step
                .as_deref()
                .is_some_and(|s| steps.iter().any(|x| x == s))
        })
        .filter(|e| host.is_none_or(|h| e.host == h))
        .filter(|e| is_program(&e.program, e.step.as_deref(), program))
        .filter(|e| match (stream, e.stream) {
            (_, LineStream::Stdin) => false,
            (Stream::Both, _) => true,
            (Stream::Stdout, s) => s == LineStream::Stdout,
            (Stream::Stderr, s) => s == LineStream::Stderr,
        })
        .filter(|e| re.is_match(&e.text))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn output(
    run: &Run,
    f: &mut Found,
    steps: &[String],
    compare: &[String],
    program: &str,
    host: Option<&str>,
    pattern: &str,
    stream: Stream,
    expect: Expect,
) -> Result<Read, String> {
    let re = Regex::new(pattern)
        .map_err(|e| format!("the pattern `{pattern}` does not compile: {e}"))?;
    let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
    if !ran(run, program, host, steps) {
        return Err(format!(
            "the evidence is absent: `{program}`{on} did not run in {}.",
            steps_words(steps)
        ));
    }
    let mine = lines_in(run, program, host, stream, &re, steps);
    let mut text = format!(
        "The output of `{program}`{on} in {}: {} {} `/{pattern}/`{}",
        steps_words(steps),
        count(mine.len(), "line"),
        if mine.len() == 1 { "matches" } else { "match" },
        if mine.is_empty() { "." } else { ":" }
    );
    for e in mine.iter().take(LISTED) {
        let l = f.line(&e.host, &e.program, e.stream, &e.text);
        text.push_str(&format!("\n- {} ({})", l, e.host));
    }
    if mine.len() > LISTED {
        text.push_str(&format!("\n- … and {} more.", mine.len() - LISTED));
    }
    let mut compared = None;
    if !compare.is_empty() {
        if ran(run, program, host, compare) {
            let theirs = lines_in(run, program, host, stream, &re, compare);
            for e in theirs.iter().take(LISTED) {
                f.line(&e.host, &e.program, e.stream, &e.text);
            }
            text.push_str(&format!(
                "\n\nCompared with {}: {}.",
                steps_words(compare),
                count(theirs.len(), "line")
            ));
            compared = Some(theirs.len());
        } else {
            text.push_str(&format!(
                "\n\n(`{program}`{on} did not run in {}: nothing here compares with it.)",
                steps_words(compare)
            ));
        }
    }
    let ok = expect.met(mine.len(), compared);
    text.push_str(&expectation(expect, ok, "such lines"));
    Ok(Read {
        text,
        ok,
        facts: json!({
            "kind": "output",
            "program": program,
            "host": host,
            "pattern": pattern,
            "count": mine.len(),
            "compared": compared,
            "expect": String::from(expect),
            "ok": ok,
        }),
    })
}

fn exit(
    run: &Run,
    f: &mut Found,
    steps: &[String],
    program: &str,
    host: Option<&str>,
    want: Option<i32>,
) -> Result<Read, String> {
    static STATUS: OnceLock<Regex> = OnceLock::new();
    let status_re =
        STATUS.get_or_init(|| Regex::new(r"exited with status (\d+)").expect("a valid pattern"));
    let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
    let runs: Vec<(&str, &str, &str)> = run_checks(run, program, host, steps).collect();
    if runs.is_empty() {
        return Err(format!(
            "the evidence is absent: {} ran no `{program}`{on} (`run`).",
            steps_words(steps)
        ));
    }
    let mut ok = true;
    let mut parts = Vec::new();
    let mut statuses: BTreeMap<String, Option<i32>> = BTreeMap::new();
    for (step, h, evidence) in runs {
        let status = status_re
            .captures(evidence)
            .and_then(|c| c[1].parse::<i32>().ok());
        statuses.insert(format!("{step}/{h}"), status);
        let label = format!("{step}-{program}");
        // Its lines, blank ones aside.
        let lines: Vec<&crate::report::model::TimelineEntry> = run
            .timeline
            .iter()
            .filter(|e| e.step.as_deref() == Some(step) && e.host == h && e.program == label)
            .filter(|e| e.stream != LineStream::Stdin && !e.text.trim().is_empty())
            .collect();
        let mut text = match status {
            Some(s) => format!("In step `{step}`, `{program}` on {h} exited with status {s}"),
            None => {
                ok = false;
                format!("In step `{step}`, `{program}` on {h} ran, its exit status not recorded")
            }
        };
        if want.is_some() && status != want {
            ok = false;
        }
        if lines.is_empty() {
            text.push_str(", printing nothing.");
        } else {
            text.push_str(" and printed:");
            for e in lines.iter().take(LISTED) {
                let l = f.line(&e.host, &e.program, e.stream, &e.text);
                text.push_str(&format!("\n- {l}"));
            }
            if lines.len() > LISTED {
                text.push_str(&format!("\n- … and {} more lines.", lines.len() - LISTED));
            }
        }
        parts.push(text);
    }
    let mut text = parts.join("\n\n");
    if let Some(w) = want.filter(|_| !ok) {
        text.push_str(&format!(
            "\n\nThe lab expects exit status {w}; this run shows otherwise."
        ));
    }
    Ok(Read {
        text,
        ok,
        facts: json!({
            "kind": "exit",
            "program": program,
            "host": host,
            "statuses": statuses,
            "expect": want,
            "ok": ok,
        }),
    })
}
