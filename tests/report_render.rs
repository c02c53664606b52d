//! The reports of a run built from captures of the real socket programs on
//! a miniature bench of namespaces: the handout's questions answered with
//! the right socket addresses, run.json valid against its JSON Schema
//! (checked by Python's `jsonschema`, an independent validator), and
//! report.html rendered by headless Chromium with its timeline and ladders.

mod capture_support;
mod render_support;
mod run_json_support;

use std::path::Path;

use capture_support::*;
use labctl::report::{self, *};
use render_support::{chromium, page_geometry};
use run_json_support::{assert_matches_schema, schema_errors};

fn step(id: &str, title: &str, hosts: &[&str], checks: Vec<CheckRecord>) -> StepRecord {
    let outcome = if checks.iter().all(|c| c.ok) {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    StepRecord {
        id: id.into(),
        title: title.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        outcome,
        started_at: None,
        finished_at: None,
        checks,
    }
}

fn check(host: &str, what: &str, ok: bool, evidence: &str) -> CheckRecord {
    CheckRecord {
        what: what.into(),
        ok,
        host: Some(host.into()),
        evidence: evidence.into(),
    }
}

/// A run of the lab's three exchanges, as the lab engine would record it.
fn recorded_run(dir: &Path) -> RunInput {
    let (caps, log) = lab_captures(dir);
    let hosts = ADDRS
        .iter()
        .map(|(name, addr)| HostInfo {
            name: name.to_string(),
            addr: format!("{addr}/24"),
            ssh: None,
            interface: Some("eth0".into()),
        })
        .collect();
    let programs = log
        .iter()
        .filter(|l| l.stream == "start")
        .map(|l| ProgramRecord {
            name: l.program.clone(),
            host: l.host.clone(),
            program: l.text.clone(),
            step: l.step.map(str::to_string),
            started_at: Some(l.at),
        })
        .collect();
    let lines: Vec<LineRecord> = log
        .iter()
        .filter(|l| l.stream != "start")
        .map(|l| LineRecord {
            at: l.at,
            host_at: l.at,
            seen: 0,
            host: l.host.clone(),
            program: l.program.clone(),
            stream: match l.stream {
                "stdin" => LineStream::Stdin,
                "stderr" => LineStream::Stderr,
                _ => LineStream::Stdout,
            },
            text: l.text.clone(),
            step: l.step.map(str::to_string),
        })
        .collect();
    let first = lines.iter().map(|l| l.at).fold(f64::INFINITY, f64::min);
    let last = lines.iter().map(|l| l.at).fold(0.0, f64::max);
    let mut captures: Vec<CaptureRecord> = caps
        .iter()
        .map(|c| CaptureRecord {
            name: c.name.into(),
            host: c.host.into(),
            file: c.file.file_name().unwrap().to_string_lossy().into_owned(),
            step: Some(c.step.into()),
            stopped_in: None,
        })
        .collect();
    captures.push(CaptureRecord {
        name: "lost".into(),
        host: "B".into(),
        file: "missing.pcap".into(),
        step: Some("I.7".into()),
        stopped_in: None,
    });
    RunInput {
        id: "20250101T120000Z-socket-lab".into(),
        lab: "socket-lab".into(),
        lab_title: Some("Socket programming lab <TCP & UDP>".into()),
        started_at: Some(first - 0.5),
        finished_at: Some(last + 0.5),
        outcome: Some("failed".into()),
        error: Some("step `I.9` on host `A`: exited with status 0".into()),
        problems: Vec::new(),
        bench: BenchInfo {
            name: "mini".into(),
            hosts,
            programs: None,
        },
        steps: vec![
            step("I.7", "captures on A and B", &["A", "B"], vec![]),
            step(
                "I.8",
                "B talks to the iterative server on A",
                &["A", "B"],
                vec![check(
                    "B",
                    "`client-B` prints /Server> HELLO FROM B/",
                    true,
                    "Server> HELLO FROM B",
                )],
            ),
            step(
                "I.9",
                "A second server on A fails",
                &["A"],
                vec![check(
                    "A",
                    "`tcp_server` exits with status 1",
                    false,
                    "exited with status 0 (a deliberate ✘ for this test)",
                )],
            ),
            step(
                "I.10",
                "C waits while B is served",
                &["A", "B", "C"],
                vec![check(
                    "C",
                    "`client-C` prints nothing matching /Server>/ for 0.6 s",
                    true,
                    "nothing matched",
                )],
            ),
            step("I.12", "UDP", &["A", "B", "C"], vec![]),
            step("II.1", "captures on B and C", &["B", "C"], vec![]),
            step("II.3", "the threaded server", &["A", "B", "C"], vec![]),
        ],
        lines,
        captures,
        programs,
        questions: questions(),
        clock: Default::default(),
    }
}

/// Questions on the steps the recorded run marks (its I.10 holds both
/// TCP clients, its I.9 failed).
fn questions() -> Vec<QuestionRecord> {
    [
        ("Q1", "I.10", "tcp-frames"),
        ("Q2", "I.9", "busy-port"),
        ("Q3", "I.10", "tcp-queued"),
        ("Q4", "I.12", "udp-no-wait"),
        ("Q5", "II.3", "server-sockets"),
        ("Q6", "II.3", "client-sockets"),
    ]
    .iter()
    .map(|(id, step, rule)| QuestionRecord {
        id: id.to_string(),
        text: format!("question {id}?"),
        evidence: vec![step.to_string()],
        compare: vec![],
        answer: rule.to_string(),
        ..Default::default()
    })
    .collect()
}

#[test]
fn report_answers_the_handout_validates_and_renders() {
    let dir = temp_dir("report");
    let input = recorded_run(&dir);
    let built = report::build(&dir, &input);
    report::write_files(&dir, &built).expect("the reports are written");

    // The answers name the socket addresses the captures show; the failed
    // step's question is not answered.
    let answer = |id: &str| built.answers.iter().find(|a| a.id == id).unwrap();
    let ids: Vec<&str> = built.answers.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]);
    for a in &built.answers {
        if a.id == "Q2" {
            assert!(!a.answered && !a.ok, "{}", a.answer);
            assert!(
                a.answer.starts_with("Not answered: step `I.9` failed"),
                "{}",
                a.answer
            );
            assert!(a.frames.is_empty() && a.lines.is_empty());
        } else {
            assert!(a.ok, "{} answered as the lab expects: {}", a.id, a.answer);
        }
    }
    let cap = |name: &str| {
        built
            .captures
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .analysis
            .as_ref()
            .unwrap()
    };
    // On a switch, B's capture holds B's conversation only; A's holds both.
    assert_eq!(cap("cap-B").tcp.len(), 1);
    let tcp = cap("cap-A");
    let c_client = &tcp
        .tcp
        .iter()
        .find(|c| c.client.starts_with("10.0.3.3:"))
        .unwrap()
        .client;
    let b_client = &tcp
        .tcp
        .iter()
        .find(|c| c.client.starts_with("10.0.3.2:"))
        .unwrap()
        .client;
    let q3 = &answer("Q3").answer;
    assert!(q3.starts_with("Yes."), "{q3}");
    assert!(q3.contains(&format!("serving `{b_client}` (B)")), "{q3}");
    assert!(
        q3.contains(&format!("`Connected {c_client} -> 10.0.3.1:50000`")),
        "{q3}"
    );
    assert!(q3.contains("Where to look: `cap-A.pcapng`"), "{q3}");
    assert!(answer("Q4").answer.contains("did not wait"));
    assert!(answer("Q5").answer.contains("It created 5 sockets"));
    for name in ["cap-B2", "cap-C2"] {
        assert_eq!(cap(name).tcp.len(), 2, "{name}");
        for c in &cap(name).tcp {
            assert!(answer("Q6").answer.contains(&format!("`{}`", c.client)));
        }
    }
    // A capture that never arrived is reported, not fatal.
    let lost = built.captures.iter().find(|c| c.name == "lost").unwrap();
    assert!(lost.analysis.is_none());
    assert!(lost.error.as_deref().unwrap().contains("missing.pcap"));
    assert_eq!(built.run.steps_failed, 1);

    // Without A's capture, nothing holds C's frames: not answered, and said so.
    let mut without_a = input.clone();
    without_a.captures.retain(|c| c.name != "cap-A");
    let fallback = report::build(&dir, &without_a);
    let q3 = &fallback.answers[2];
    assert_eq!(q3.id, "Q3");
    assert!(!q3.answered && !q3.ok, "{}", q3.answer);
    assert!(q3.answer.starts_with("Not answered: "), "{}", q3.answer);

    // The timeline merges every host's lines by time.
    assert_eq!(built.timeline.len(), input.lines.len());
    assert!(built.timeline.windows(2).all(|w| w[0].t <= w[1].t));
    for h in ["A", "B", "C"] {
        assert!(
            built.timeline.iter().any(|e| e.host == h),
            "{h} in the timeline"
        );
    }

    // run.json against docs/run-json-schema.json, by an independent validator.
    let json_path = dir.join("run.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["schema"], "labctl-run/1");
    assert_matches_schema(&json_path);
    // The validator does catch a drift: an unknown field and a wrong type.
    let mut bad = json.clone();
    bad["run"]["surprise"] = serde_json::json!(1);
    bad["captures"][0]["analysis"]["counts"]["syn"] = serde_json::json!("two");
    let bad_path = dir.join("bad-run.json");
    std::fs::write(&bad_path, serde_json::to_vec(&bad).unwrap()).unwrap();
    let said = schema_errors(&bad_path).expect_err("a drifted run.json is refused");
    assert!(
        said.contains("surprise") && said.contains("'two'"),
        "{said}"
    );

    // report.md: the answers, the steps, the ladders as files beside it.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### ✘ I.9 — A second server on A fails (failed)"));
    assert!(md.contains("### ✔ Q3 — question Q3?"));
    assert!(md.contains("### – Q2 — question Q2?"));
    assert!(md.contains("![ladder diagram of `cap-A`](ladder-cap-A.svg)"));
    assert!(dir.join("ladder-cap-A.svg").exists());
    assert!(
        md.contains("Socket programming lab &lt;TCP & UDP&gt;")
            || md.contains("Socket programming lab <TCP & UDP>")
    );

    // report.html: self-contained, rendered by a real browser.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
        let hits: Vec<_> = html
            .match_indices(external)
            .map(|(i, _)| &html[i..(i + 60).min(html.len())])
            .collect();
        // The SVG namespace URI is a name, not a fetch.
        assert!(
            hits.iter()
                .all(|h| h.starts_with("http://www.w3.org/2000/svg")),
            "report.html refers to something outside itself: {hits:?}"
        );
    }
    let url = format!("file://{}", dir.join("report.html").display());
    let out = chromium(&["--dump-dom", &url]);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        dom.matches(r#"<svg xmlns="http://www.w3.org/2000/svg" class="ladder""#)
            .count(),
        5,
        "one ladder per analysed capture"
    );
    // Read at a glance: the summary first, failed steps open, passed ones
    // collapsed, a legend, an anchor per ladder, step separators.
    let summary = dom.find(r#"<section id="summary">"#).expect("a summary");
    assert!(summary < dom.find(r#"<section id="bench">"#).unwrap());
    assert!(dom.contains(r#"<table class="summary">"#));
    assert!(dom.contains(r##"<a href="#answer-Q6">"##));
    assert!(dom.contains(r#"<details class="step bad" id="step-I.9" open="">"#));
    for passed in ["I.8", "I.10"] {
        assert!(dom.contains(&format!(r#"<details class="step ok" id="step-{passed}">"#)));
    }
    assert_eq!(
        dom.matches(r#"<svg class="key""#).count(),
        labctl::capture::ladder::LEGEND.len(),
        "the legend"
    );
    for c in ["cap-A", "cap-B", "cap-udp", "cap-B2", "cap-C2"] {
        assert!(dom.contains(&format!(r#"<div class="ladder-wrap" id="ladder-{c}">"#)));
        assert!(md.contains(&format!(r#"<a id="ladder-{c}"></a>"#)));
    }
    assert_eq!(
        dom.matches(r#"<tr class="sep">"#).count(),
        3,
        "I.10, I.12, II.3"
    );
    assert!(md.contains("| | | | | | **step I.10 — C waits while B is served** |"));
    assert_eq!(md.matches("| | | | | | **step ").count(), 3);
    assert!(md.contains("## Summary") && md.find("## Summary") < md.find("## Bench"));
    assert!(md.contains("| ✘ | I.9 | A second server on A fails | A | failed |"));
    assert!(dom.contains(r#"<table class="timeline">"#));
    assert_eq!(
        dom.matches(r#"<tr class="stdin">"#).count(),
        input
            .lines
            .iter()
            .filter(|l| l.stream == LineStream::Stdin)
            .count()
    );
    assert!(dom.contains("Socket programming lab &lt;TCP &amp; UDP&gt;"));
    assert_eq!(dom.matches(r#"<div class="answer ok""#).count(), 5);
    assert_eq!(dom.matches(r#"<div class="answer none""#).count(), 1);
    assert!(dom.contains(&format!("<code>{b_client}</code> (B)")));

    // The page's geometry at 1400 and 420 pixels wide, measured by Chromium.
    let measure = |width: u32| page_geometry(&dir, &html, width);
    let (sw, cw, wide_height) = measure(1400);
    eprintln!("report.html at 1400 px: {wide_height} px tall, {sw}/{cw} px wide");
    assert_eq!(sw, cw, "no horizontal overflow at 1400 px");
    assert!(
        wide_height < 5000,
        "passed steps and the timeline fold away: {wide_height} px tall at 1400 px"
    );
    let (sw, cw, narrow_height) = measure(420);
    eprintln!("report.html at 420 px: {narrow_height} px tall, {sw}/{cw} px wide");
    assert_eq!(cw, 420);
    assert_eq!(sw, cw, "no horizontal overflow at 420 px");
    assert!(html.contains("@media (max-width:") && html.contains("@media print"));
    // Printed, the collapsed steps and captures open: more pages than the
    // same page without the print rule that opens them.
    let pages = |name: &str, page: &str| -> usize {
        let (src, pdf) = (
            dir.join(format!("{name}.html")),
            dir.join(format!("{name}.pdf")),
        );
        std::fs::write(&src, page).unwrap();
        let out = chromium(&[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
            &format!("file://{}", src.display()),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&pdf).unwrap();
        bytes
            .windows(11)
            .filter(|w| w.starts_with(b"/Type /Page") && w[10] != b's')
            .count()
    };
    let rule = "details::details-content { content-visibility: visible; display: block; }";
    assert!(html.contains(rule));
    let (printed, folded) = (
        pages("print", &html),
        pages("print-folded", &html.replace(rule, "")),
    );
    eprintln!("report.html printed: {printed} pages ({folded} with the details folded)");
    assert!(folded > 0 && printed > folded, "{printed} vs {folded}");

    let png = dir.join("report.png");
    let out = chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,2400",
        &url,
    ]);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, colours) = png_summary(&png);
    assert_eq!((w, h), (1400, 2400));
    assert!(
        colours > 50,
        "the screenshot shows a page, not a blank ({colours} colours)"
    );
}

/// Width, height and number of distinct colours of a PNG.
fn png_summary(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks(step).collect();
    (info.width, info.height, colours.len())
}
