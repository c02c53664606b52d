//! The reports of a run: `report.md`, a self-contained `report.html` and
//! `run.json` (schema `labctl-run/1`), rebuilt from the run directory.
//!
//! Stages: run directory ─[`load`]─▶ [`RunInput`] ─[`build`]─▶ [`RunReport`]
//! (captures analysed, questions answered) ─▶ markdown / html / json.
//! [`write()`] does all of it and replaces the files atomically, so it can be
//! called after every step of a run and again at its end.

pub(crate) mod answers;
mod html;
pub(crate) mod load;
mod markdown;
pub(crate) mod model;
mod order;
mod pairs;
pub(crate) mod story;
pub(crate) mod traces;

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// The answers' inline Markdown as HTML (for `labctl answer --grade`'s sheet).
pub(crate) use html::inline as inline_html;
pub use model::*;

use crate::capture::{self, ladder};
use crate::error::Error;
use crate::record::Order;
use crate::util::io_reason;

/// Rebuilds `report.md`, `report.html`, `run.json` and the ladder SVGs of
/// `run_dir` from what the run recorded there.
pub fn write(run_dir: &Path) -> Result<RunReport, Error> {
    let mut input = load::load(run_dir)?;
    input.questions = read_questions(run_dir)?;
    let report = build_owned(run_dir, input);
    write_files(run_dir, &report)?;
    Ok(report)
}

/// The lab's questions the run recorded (`questions.json`); none when the
/// run directory has no such file (a lab without questions, an older labctl).
pub(crate) fn read_questions(run_dir: &Path) -> Result<Vec<QuestionRecord>, Error> {
    let path = run_dir.join(crate::record::dir::QUESTIONS);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Usage(format!(
                "`{}` is not the lab's questions: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::Usage(format!(
            "cannot read `{}`: {}",
            path.display(),
            io_reason(&e)
        ))),
    }
}

/// `labctl report --student`: the report of `run_dir` without the answers
/// (the questions stay), with its ladders and captures, in `run_dir/student/`.
pub(crate) fn write_student(run_dir: &Path) -> Result<std::path::PathBuf, Error> {
    let mut input = load::load(run_dir)?;
    input.questions = read_questions(run_dir)?;
    let mut report = build_owned(run_dir, input);
    report.student = true;
    for a in &mut report.answers {
        a.answered = false;
        a.ok = false;
        a.answer = String::new();
        a.captures.clear();
        a.frames.clear();
        a.lines.clear();
        a.facts = serde_json::json!({});
    }
    let dir = run_dir.join("student");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    for c in &report.captures {
        for f in [
            std::path::PathBuf::from(&c.file),
            Path::new(&c.file).with_extension("pcapng"),
        ] {
            if let Ok(bytes) = std::fs::read(run_dir.join(&f)) {
                put(&dir, &f.to_string_lossy(), &bytes)?;
            }
        }
    }
    write_files_with(&dir, &report, &story::CaptureSpecs::read(run_dir))?;
    Ok(dir)
}

/// `labctl report [--student] RUN_DIR`: rebuilds the reports and says where they are.
pub(crate) fn command(run_dir: &Path, student: bool) -> Result<(), Error> {
    // A room directory (`run --all`): its benches' reports and its own.
    if !student && crate::room::report::is_room(run_dir) {
        return crate::room::report::command(run_dir);
    }
    if student {
        let dir = write_student(run_dir)?;
        println!("the students' copy, without the answers:");
        for f in ["report.html", "report.md"] {
            println!("{}", dir.join(f).display());
        }
        return Ok(());
    }
    let report = write(run_dir)?;

    let answered = if report.answers.is_empty() {
        "the lab has no questions".to_string()
    } else {
        let not = report.answers.iter().filter(|a| !a.answered).count();
        format!(
            "{} of {} questions answered as the lab expects{}",
            report.answers.iter().filter(|a| a.ok).count(),
            report.answers.len(),
            match not {
                0 => String::new(),
                n => format!(", {n} not answered (no evidence in this run)"),
            }
        )
    };
    crate::util::out_line(&format!(
        "{} {}: {} steps passed, {} failed; {} capture(s); {answered}",
        markdown::outcome_mark(&report.run.outcome),
        report.run.outcome,
        report.run.steps_passed,
        report.run.steps_failed,
        report.captures.len(),
    ));
    if let Some(e) = &report.run.error {
        let e = crate::util::show_controls(e, true);
        crate::util::out_line(&format!("stopped: {}", e.replace('\n', "\n         ")));
    }
    for f in ["report.html", "report.md", "run.json"] {
        crate::util::out_line(&run_dir.join(f).display().to_string());
    }
    Ok(())
}

/// Analyses the captures (files relative to `run_dir`) and answers the questions.
pub fn build(run_dir: &Path, input: &RunInput) -> RunReport {
    build_owned(run_dir, input.clone())
}

/// [`build`] from an input of its own: its lines, steps and programs move
/// into the report instead of being copied (a rebuild's many small strings).
fn build_owned(run_dir: &Path, mut input: RunInput) -> RunReport {
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
    // Each capture's bytes, and the stretch of its host's clock its first
    // frame is of: the one in force when the step that started it began.
    let files: Vec<(Result<Vec<u8>, std::io::Error>, Order)> = records
        .iter()
        .map(|c| {
            let began = c
                .step
                .as_ref()
                .and_then(|id| input.steps.iter().find(|s| s.id == *id))
                .and_then(|s| s.started_at);
            let samples_before = began.map_or(0, |t| input.clock.samples_at(&c.host, t));
            (
                std::fs::read(run_dir.join(&c.file)),
                Order::Recorded { samples_before },
            )
        })
        .collect();
    // The hosts' clocks, from their samples and from what the run shows
    // came first: each line sent, before the frames that carried it.
    let mut clock = std::mem::take(&mut input.clock);
    let decoded: Vec<Option<Result<capture::Frames, capture::Error>>> = files
        .iter()
        .map(|(b, _)| b.as_ref().ok().map(|b| capture::Frames::read(b)))
        .collect();
    let opts = capture::Options::default();
    let raw: Vec<Option<capture::CaptureAnalysis>> = decoded
        .iter()
        .map(|d| match d {
            Some(Ok(frames)) => Some(frames.analyze_placed(&opts, |t| t)),
            _ => None,
        })
        .collect();
    let evidence: Vec<_> = records
        .iter()
        .zip(&raw)
        .zip(&files)
        .map(|((c, a), (_, first))| (*c, a.as_ref(), *first))
        .collect();
    order::evidence(&mut clock, &input.lines, &evidence);
    clock.settle();
    let captures: Vec<CaptureReport> = records
        .into_iter()
        .zip(files.iter().zip(&decoded))
        .map(|(c, ((bytes, first), frames))| {
            // Its frames on the run clock, in file order.
            let mut placer = clock.placer(&c.host, *first);
            let (analysis, error) = match frames {
                Some(Ok(frames)) => (
                    Some(frames.analyze_placed(&opts, |t| placer.place(t))),
                    None,
                ),
                Some(Err(e)) => (None, Some(format!("`{}`: {e}", c.file))),
                // Not read (the only way to have no frames).
                None => (
                    None,
                    bytes
                        .as_ref()
                        .err()
                        .map(|e| format!("cannot read `{}`: {}", c.file, io_reason(e))),
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

    // Every line on the run clock.
    let mut lines = std::mem::take(&mut input.lines);
    for l in &mut lines {
        let order = Order::Recorded {
            samples_before: l.seen,
        };
        l.at = clock.to_run(&l.host, l.host_at, order);
    }
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
            host_unix: l.host_at,
            t: l.at - origin,
            host: l.host,
            program: l.program,
            stream: l.stream,
            text: l.text,
            step: l.step,
        })
        .collect();

    let count = |o: Outcome| input.steps.iter().filter(|s| s.outcome == o).count();
    let outcome = input.outcome.take().unwrap_or_else(|| "running".into());
    let run = answers::Run::new(&captures, &timeline, &input.programs, &input.steps, &names);
    let answers = answers::answers(&run, &input.questions);
    let (steps_passed, steps_failed, steps_skipped, steps_interrupted) = (
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped),
        count(Outcome::Interrupted),
    );
    drop(run);
    let clocks = input
        .bench
        .hosts
        .iter()
        .filter_map(|h| {
            let c = clock.host(&h.name)?;
            Some(HostClockReport {
                host: h.name.clone(),
                samples: c.samples().len(),
                stretches: c.stretches(),
            })
        })
        .collect();
    RunReport {
        schema: SCHEMA,
        generated_at: rfc3339(now()),
        run: RunSummary {
            id: input.id,
            lab: input.lab,
            lab_title: input.lab_title,
            started_at: input.started_at.map(rfc3339),
            finished_at: input.finished_at.map(rfc3339),
            outcome,
            steps_passed,
            steps_failed,
            steps_skipped,
            steps_interrupted,
            error: input.error,
        },
        bench: input.bench,
        steps: input.steps,
        programs: input.programs,
        answers,
        student: false,
        problems: input.problems,
        clocks,
        timeline,
        captures,
    }
}

/// Writes the reports of `report` into `dir`, each file replaced atomically.
pub fn write_files(dir: &Path, report: &RunReport) -> Result<(), Error> {
    write_files_with(dir, report, &story::CaptureSpecs::read(dir))
}

/// [`write_files`] with the captures' specs read from the run directory
/// (`dir` may be another one, as the students' copy is).
fn write_files_with(
    dir: &Path,
    report: &RunReport,
    specs: &story::CaptureSpecs,
) -> Result<(), Error> {
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
    let shared = story::Shared::of(report);
    for c in &report.captures {
        write_pcapng(dir, report, c, specs, &shared)?;
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

/// `<host>-<capture>.pcapng` beside the capture's pcap: the same frames,
/// with the lab's story in its comments ([`story`]). A pcap that cannot be
/// read has no copy (the report says why it has no analysis either).
fn write_pcapng(
    dir: &Path,
    report: &RunReport,
    c: &CaptureReport,
    specs: &story::CaptureSpecs,
    shared: &story::Shared,
) -> Result<(), Error> {
    let Some(story) = story::story(report, c, specs, shared) else {
        return Ok(());
    };
    let Ok(pcap) = std::fs::read(dir.join(&c.file)) else {
        return Ok(());
    };
    match capture::pcapng::from_pcap(&pcap, &story) {
        Ok(bytes) => put(dir, &pcapng_file(&c.file), &bytes),
        Err(_) => Ok(()),
    }
}

/// The pcapng copy's name for a capture file: `A-cap-A.pcap` → `A-cap-A.pcapng`.
pub(crate) fn pcapng_file(pcap: &str) -> String {
    format!("{}.pcapng", pcap.strip_suffix(".pcap").unwrap_or(pcap))
}

/// `ladder-<capture>.svg`, the name made safe for a file system.
fn ladder_file(capture: &str) -> String {
    format!("{}.svg", ladder_anchor(capture))
}

/// `ladder-<capture>`: the stable anchor (HTML `id`) of a capture's ladder
/// in both reports, the name made safe for a URL fragment and a file name.
pub(crate) fn ladder_anchor(capture: &str) -> String {
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
    format!("ladder-{safe}")
}

/// Writes `dir/name` through a temporary file swapped in whole (a reader
/// sees the old bytes or the new, never part), readable by its owner only
/// like the rest of the run directory. The reports are rebuilt after every
/// step, so the swap keeps both inodes (the temporary file holds the old
/// bytes until the next write, [`tidy`] removes it): a rename would delete
/// an inode and allocate one each time, which on ext4 without a journal
/// makes every later file creation scan past the recently deleted ones (a
/// third of labctl's CPU in a room). A file that already holds these bytes
/// is left as it is (a finished capture's copy and ladder).
pub(crate) fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let path = dir.join(name);
    if holds(&path, bytes) {
        return Ok(());
    }
    let tmp = dir.join(tmp_name(name));
    crate::util::rewrite_private(&tmp, bytes)
        .and_then(|()| crate::util::swap_in(&tmp, &path))
        .map_err(|e| {
            Error::Local(format!(
                "cannot write `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })
}

/// Whether the file at `path` holds exactly `bytes`: its length first, then
/// its bytes a block at a time up to the first difference (the reports
/// differ from their last rebuild near their top, in the time they were
/// generated; a finished capture's copy and ladder do not differ at all).
fn holds(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.len() == bytes.len() as u64) {
        return false;
    }
    let mut block = [0u8; 16 << 10];
    let mut rest = bytes;
    loop {
        match f.read(&mut block) {
            Ok(0) => return rest.is_empty(),
            Ok(n) if n <= rest.len() && block[..n] == rest[..n] => rest = &rest[n..],
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// The temporary file [`put`] writes `name` through.
fn tmp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Removes the temporary files kept in `run_dir` by the reports' writes
/// (the old bytes of the files rebuilt after every step), once the run's
/// reports are final.
pub(crate) fn tidy(run_dir: &Path) {
    tidy_files(run_dir, &["run.json", "report.md", "report.html"]);
}

/// Removes the temporary files [`put`] kept for `names` in `dir`.
pub(crate) fn tidy_files(dir: &Path, names: &[&str]) {
    for name in names {
        let _ = std::fs::remove_file(dir.join(tmp_name(name)));
    }
}

/// An outcome's mark as both reports show it: ✔ ✘ ⊘, or … while running.
pub(crate) fn markdown_mark(outcome: &str) -> &'static str {
    markdown::outcome_mark(outcome)
}

/// IP address → host name, from the bench.
pub(crate) fn host_names(bench: &BenchInfo) -> BTreeMap<String, String> {
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
pub(crate) fn rfc3339(unix: f64) -> String {
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
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_rebuilt_file_swaps_inodes_and_the_end_tidies_up() {
        let dir = std::env::temp_dir().join(format!("labctl-put-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ino = |n: &str| std::fs::metadata(dir.join(n)).unwrap().ino();
        put(&dir, "report.md", b"one").unwrap();
        put(&dir, "report.md", b"two").unwrap();
        let inodes = [ino("report.md"), ino(".report.md.tmp")];
        // From now on the same two inodes take turns: none is deleted or made.
        put(&dir, "report.md", b"three").unwrap();
        assert_eq!(std::fs::read(dir.join("report.md")).unwrap(), b"three");
        assert_eq!(std::fs::read(dir.join(".report.md.tmp")).unwrap(), b"two");
        assert_eq!([ino(".report.md.tmp"), ino("report.md")], inodes);
        // Unchanged bytes: nothing is written.
        put(&dir, "report.md", b"three").unwrap();
        assert_eq!(ino("report.md"), inodes[1]);
        // Shorter bytes over longer ones, and the same length: no old tail is left.
        put(&dir, "report.md", b"4").unwrap();
        assert_eq!(std::fs::read(dir.join("report.md")).unwrap(), b"4");
        put(&dir, "report.md", b"five!").unwrap();
        assert_eq!(std::fs::read(dir.join("report.md")).unwrap(), b"five!");
        put(&dir, "report.md", b"three").unwrap();
        assert_eq!(std::fs::read(dir.join("report.md")).unwrap(), b"three");
        assert_eq!(std::fs::read(dir.join(".report.md.tmp")).unwrap(), b"five!");
        tidy(&dir);
        assert!(!dir.join(".report.md.tmp").exists());
        assert_eq!(std::fs::read(dir.join("report.md")).unwrap(), b"three");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000.25), "2023-11-14T22:13:20.250Z");
        assert_eq!(clock("2023-11-14T22:13:20.250Z"), "22:13:20.250");
    }

    #[test]
    fn ladder_files_are_safe_names() {
        assert_eq!(ladder_file("tcp A/1"), "ladder-tcp_A_1.svg");
        assert_eq!(ladder_anchor("tcp A/1"), "ladder-tcp_A_1");
    }

    /// A private scratch run directory holding `events`.
    fn run_dir(tag: &str, events: &[&str]) -> std::path::PathBuf {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("labctl-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        std::fs::write(dir.join("events.jsonl"), events.join("\n")).unwrap();
        dir
    }

    const STARTED: &str = r#"{"event":"run_started","run_id":"r1","lab":"other","lab_title":null,"lab_file":"lab.toml","bench":"bench","hosts":[{"name":"A","cidr":"10.0.3.1/24","interface":"eth0","endpoint":"127.0.0.1:4001"},{"name":"B","cidr":"10.0.3.2/24","interface":"eth0","endpoint":"127.0.0.1:4002"}],"steps":[{"id":"S.1","title":"addresses","needed":false,"hosts":["A","B"]},{"id":"S.2","title":"a long wait","needed":false,"hosts":["B"]}],"dir":null,"dry_run":false,"at":100.0}"#;

    #[test]
    fn a_lab_without_questions_has_no_answers_section_and_reports_are_private() {
        let dir = run_dir(
            "other",
            &[
                STARTED,
                r#"{"event":"step_started","step":"S.1","title":"addresses","needed":false,"at":101.0}"#,
                r#"{"event":"action_done","step":"S.1","host":"A","what":"configure `10.0.3.1/24`","ok":true,"detail":"done","secs":0.1}"#,
                r#"{"event":"step_finished","step":"S.1","outcome":"passed","secs":0.2}"#,
                r#"{"event":"step_started","step":"S.2","title":"a long wait","needed":false,"at":102.0}"#,
                r#"{"event":"step_finished","step":"S.2","outcome":"passed","secs":0.2}"#,
                r#"{"event":"run_finished","outcome":"passed","steps_passed":2,"steps_failed":0,"steps_not_run":0,"checks_passed":1,"checks_failed":0,"secs":3.0,"dir":null,"error":null,"at":103.0}"#,
            ],
        );
        // Left by an older labctl: world-readable reports and a stale temporary file.
        for f in ["report.md", ".report.html.tmp"] {
            std::fs::write(dir.join(f), "old").unwrap();
            std::fs::set_permissions(
                dir.join(f),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .unwrap();
        }
        let report = write(&dir).unwrap();
        assert!(report.answers.is_empty(), "{:?}", report.answers);
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            !md.contains("## Answers") && !md.contains("Why the run stopped"),
            "{md}"
        );
        assert!(!html.contains("class=\"answer") && !html.contains("id=\"answers\""));
        for f in ["report.md", "report.html", "run.json"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_interrupted_step_and_run_read_interrupted_and_say_where() {
        let dir = run_dir(
            "intr",
            &[
                STARTED,
                r#"{"event":"step_started","step":"S.1","title":"addresses","needed":false,"at":101.0}"#,
                r#"{"event":"step_finished","step":"S.1","outcome":"passed","secs":0.2}"#,
                r#"{"event":"step_started","step":"S.2","title":"a long wait","needed":false,"at":102.0}"#,
                r#"{"event":"step_finished","step":"S.2","outcome":"interrupted","secs":5.0}"#,
                r#"{"event":"problem","host":"B","message":"capture `cap`: host `B` (127.0.0.1:4002): the connection was lost"}"#,
                r#"{"event":"run_finished","outcome":"interrupted","steps_passed":1,"steps_failed":0,"steps_not_run":1,"checks_passed":0,"checks_failed":0,"secs":6.0,"dir":null,"error":"interrupted; stopped what it had started","at":108.0}"#,
            ],
        );
        let r = write(&dir).unwrap();
        assert_eq!(r.steps[1].outcome, Outcome::Interrupted);
        assert_eq!((r.run.steps_failed, r.run.steps_interrupted), (0, 1));
        // A problem after the step ended is the run's, not a check of the step.
        assert!(r.steps[1].checks.is_empty());
        assert_eq!(r.problems.len(), 1);
        assert_eq!(
            (r.problems[0].host.as_deref(), r.problems[0].step.as_deref()),
            (Some("B"), None)
        );
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.starts_with("# other — ⊘ interrupted"), "{md}");
        assert!(md.contains("### ⊘ S.2 — a long wait (interrupted)"), "{md}");
        assert!(!md.contains("✘ S.2") && !md.contains("(failed)"), "{md}");
        let top = &md[..md.find("## Bench").unwrap()];
        assert!(top.contains("## ⊘ Why the run stopped"), "{top}");
        assert!(
            top.contains("stopped in step `S.2` — a long wait (interrupted)"),
            "{top}"
        );
        assert!(
            top.contains("> interrupted; stopped what it had started"),
            "{top}"
        );
        assert!(
            top.contains("- ✘ host `B`: capture `cap`: host `B`"),
            "{top}"
        );
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            html.contains(r#"<span class="intr">⊘</span> S.2"#),
            "{html}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(json["steps"][1]["outcome"], "interrupted");
        assert_eq!(
            json["run"]["error"],
            "interrupted; stopped what it had started"
        );
        assert_eq!(json["problems"][0]["host"], "B");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
