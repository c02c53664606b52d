//! The reports of a run: `report.md`, a self-contained `report.html` and
//! `run.json` (schema `labctl-run/1`), rebuilt from the run directory.
//!
//! Stages: run directory ─[`load`]─▶ [`RunInput`] ─[`build`]─▶ [`RunReport`]
//! (captures analysed, questions answered) ─▶ markdown / html / json.
//! [`write()`] does all of it and replaces the files atomically, so it can be
//! called after every step of a run and again at its end.

pub mod answers;
mod html;
pub mod load;
mod markdown;
pub mod model;
pub mod traces;

use std::collections::BTreeMap;
use std::path::Path;

pub use model::*;

use crate::capture::{self, ladder};
use crate::error::Error;
use crate::util::io_reason;

/// Rebuilds `report.md`, `report.html`, `run.json` and the ladder SVGs of
/// `run_dir` from what the run recorded there.
pub fn write(run_dir: &Path) -> Result<RunReport, Error> {
    let input = load::load(run_dir)?;
    let report = build(run_dir, &input);
    write_files(run_dir, &report)?;
    Ok(report)
}

/// `labctl report RUN_DIR`: rebuilds the reports and says where they are.
pub fn command(args: &crate::cli::ReportArgs) -> Result<(), Error> {
    let report = write(&args.run_dir)?;

    println!(
        "{} {}: {} steps passed, {} failed; {} capture(s); {} of {} questions answered as the lab expects",
        markdown::outcome_mark(&report.run.outcome),
        report.run.outcome,
        report.run.steps_passed,
        report.run.steps_failed,
        report.captures.len(),
        report.answers.iter().filter(|a| a.ok).count(),
        report.answers.len()
    );
    for f in ["report.html", "report.md", "run.json"] {
        println!("{}", args.run_dir.join(f).display());
    }
    Ok(())
}

/// Analyses the captures (files relative to `run_dir`) and answers the questions.
pub fn build(run_dir: &Path, input: &RunInput) -> RunReport {
    let names = host_names(&input.bench);
    // In step order (pcaps arrive in whatever order the hosts delivered them).
    let step_index = |c: &CaptureRecord| {
        c.step
            .as_ref()
            .and_then(|id| input.steps.iter().position(|s| s.id == *id))
            .unwrap_or(usize::MAX)
    };
    let mut records: Vec<&CaptureRecord> = input.captures.iter().collect();
    records.sort_by(|a, b| (step_index(a), &a.name).cmp(&(step_index(b), &b.name)));
    let captures: Vec<CaptureReport> = records
        .into_iter()
        .map(|c| {
            let path = run_dir.join(&c.file);
            let (analysis, error) = match std::fs::read(&path) {
                Ok(bytes) => match capture::analyze(&bytes) {
                    Ok(a) => (Some(a), None),
                    Err(e) => (None, Some(format!("`{}`: {e}", c.file))),
                },
                Err(e) => (
                    None,
                    Some(format!("cannot read `{}`: {}", c.file, io_reason(&e))),
                ),
            };
            CaptureReport {
                name: c.name.clone(),
                host: c.host.clone(),
                file: c.file.clone(),
                step: c.step.clone(),
                stopped_in: c.stopped_in.clone(),
                analysis,
                error,
            }
        })
        .collect();

    let mut lines = input.lines.clone();
    lines.sort_by(|a, b| a.at.total_cmp(&b.at));
    let origin = input
        .started_at
        .or_else(|| lines.first().map(|l| l.at))
        .unwrap_or(0.0);
    let timeline: Vec<TimelineEntry> = lines
        .into_iter()
        .map(|l| TimelineEntry {
            at: rfc3339(l.at),
            unix: l.at,
            t: l.at - origin,
            host: l.host,
            program: l.program,
            stream: l.stream,
            text: l.text,
            step: l.step,
        })
        .collect();

    let count = |o: Outcome| input.steps.iter().filter(|s| s.outcome == o).count();
    let outcome = input.outcome.clone().unwrap_or_else(|| "running".into());
    RunReport {
        schema: SCHEMA,
        generated_at: rfc3339(now()),
        run: RunSummary {
            id: input.id.clone(),
            lab: input.lab.clone(),
            lab_title: input.lab_title.clone(),
            started_at: input.started_at.map(rfc3339),
            finished_at: input.finished_at.map(rfc3339),
            outcome,
            steps_passed: count(Outcome::Passed),
            steps_failed: count(Outcome::Failed),
            steps_skipped: count(Outcome::Skipped),
        },
        bench: input.bench.clone(),
        steps: input.steps.clone(),
        programs: input.programs.clone(),
        answers: answers::answers(&captures, &timeline, &input.programs, &names),
        timeline,
        captures,
    }
}

/// Writes the reports of `report` into `dir`, each file replaced atomically.
pub fn write_files(dir: &Path, report: &RunReport) -> Result<(), Error> {
    let names = host_names(&report.bench);
    let mut ladders = Vec::new();
    for c in &report.captures {
        if let Some(a) = &c.analysis {
            let svg = ladder::svg(a, &names, ladder::MAX_FRAMES);
            let file = ladder_file(&c.name);
            put(dir, &file, svg.as_bytes())?;
            ladders.push((c.name.clone(), file, svg));
        }
    }
    let json = serde_json::to_string_pretty(report).expect("the report serialises");
    put(dir, "run.json", (json + "\n").as_bytes())?;
    put(
        dir,
        "report.md",
        markdown::render(report, &ladders).as_bytes(),
    )?;
    put(
        dir,
        "report.html",
        html::render(report, &ladders).as_bytes(),
    )?;
    Ok(())
}

/// `ladder-<capture>.svg`, the name made safe for a file system.
fn ladder_file(capture: &str) -> String {
    let safe: String = capture
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ladder-{safe}.svg")
}

/// Writes `dir/name` through a temporary file and a rename.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            Error::Local(format!(
                "cannot write `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })
}

/// IP address → host name, from the bench.
pub fn host_names(bench: &BenchInfo) -> BTreeMap<String, String> {
    bench
        .hosts
        .iter()
        .map(|h| (h.ip().to_string(), h.name.clone()))
        .collect()
}

/// The host a socket address (`IP:PORT`) or IP address belongs to.
pub fn owner<'a>(names: &'a BTreeMap<String, String>, addr: &str) -> Option<&'a str> {
    let ip = match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => addr.to_string(),
    };
    names.get(&ip).map(String::as_str)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn datetime(unix: f64) -> time::OffsetDateTime {
    // Rounded to the millisecond shown, so 0.25 s never reads as .249.
    time::OffsetDateTime::from_unix_timestamp_nanos((unix * 1e3).round() as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2025-01-31T12:00:00.123Z`.
pub fn rfc3339(unix: f64) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    datetime(unix).format(&f).unwrap_or_default()
}

/// `12:00:00.123` (UTC) from an RFC 3339 time written by [`rfc3339`].
pub(crate) fn clock(rfc: &str) -> &str {
    rfc.get(11..23).unwrap_or(rfc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000.25), "2023-11-14T22:13:20.250Z");
        assert_eq!(clock("2023-11-14T22:13:20.250Z"), "22:13:20.250");
    }

    #[test]
    fn ladder_files_are_safe_names() {
        assert_eq!(ladder_file("tcp A/1"), "ladder-tcp_A_1.svg");
    }
}
