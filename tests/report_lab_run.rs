//! A whole `labctl run` of the seed lab on the virtual bench, then its
//! reports: every pcap the run fetched agrees with tshark, run.json carries
//! the lab's facts (and validates against its schema), and `labctl report`
//! rebuilds the same answers from the run directory alone.

mod capture_support;
mod common;
mod render_support;
mod run_json_support;

use capture_support::{
    agrees_with_tshark, analyse, ladder_collisions, ladder_lanes, programs, temp_dir,
};
use common::{Labctl, TestBench};
use render_support::page_geometry;
use run_json_support::{assert_matches_schema, read_json};
use serde_json::Value;

/// The handout's questions, in its order and numbering.
pub const NINE: [&str; 9] = [
    "I.1(a)", "I.1(b)", "I.2", "I.3", "I.4(a)", "I.4(b)", "II.1", "II.2", "II.3",
];

/// Every frame an answer of `run` cites is, in tshark, of the kind and
/// between the addresses the answer says.
pub fn cited_frames_agree_with_tshark(dir: &std::path::Path, run: &Value) {
    let mut n = 0;
    for a in run["answers"].as_array().unwrap() {
        for f in a["frames"].as_array().unwrap() {
            let file = dir.join(f["file"].as_str().unwrap());
            let number = f["number"].as_u64().unwrap();
            let kind = f["kind"].clone();
            let (_, kf) = capture_support::KIND_FILTERS
                .iter()
                .find(|(k, _)| serde_json::to_value(k).unwrap() == kind)
                .unwrap();
            let rows = capture_support::tshark_fields(
                &file,
                &format!(
                    "frame.number=={number} && ({kf}) && ({})",
                    f["filter"].as_str().unwrap()
                ),
                &[
                    "ip.src",
                    "tcp.srcport",
                    "udp.srcport",
                    "ip.dst",
                    "tcp.dstport",
                    "udp.dstport",
                ],
            );
            assert_eq!(
                rows.len(),
                1,
                "{}: frame {number} of {} is a {kind} within the filter",
                a["id"],
                file.display()
            );
            let r = &rows[0];
            let port = |a: &str, b: &str| {
                if a.is_empty() {
                    b.to_string()
                } else {
                    a.to_string()
                }
            };
            assert_eq!(
                format!("{}:{}", r[0], port(&r[1], &r[2])),
                f["src"].as_str().unwrap(),
                "{}",
                a["id"]
            );
            assert_eq!(
                format!("{}:{}", r[3], port(&r[4], &r[5])),
                f["dst"].as_str().unwrap(),
                "{}",
                a["id"]
            );
            n += 1;
        }
    }
    assert!(n > 0, "the answers cite frames");
}

fn answers(run: &Value) -> Vec<(String, bool, String)> {
    run_json_support::answers(run)
        .into_iter()
        .map(|(id, _, ok, text)| (id, ok, text))
        .collect()
}

#[test]
fn a_whole_run_reports_what_its_captures_show() {
    programs(); // the socket programs `deploy` puts on the hosts
    let bench = TestBench::up();
    let out = temp_dir("lab-run");
    let dir = common::run_on(&bench, None, &out, &[], 0);
    for f in ["report.md", "report.html", "run.json"] {
        assert!(dir.join(f).exists(), "`labctl run` wrote {f}");
    }
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["schema"], "labctl-run/1");
    assert_eq!(run["run"]["outcome"], "passed");
    assert_eq!(run["run"]["steps_failed"], 0);

    // Every fetched pcap, read independently by tshark.
    let captures = run["captures"].as_array().unwrap();
    let names: Vec<&str> = captures
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in ["cap-B", "cap-udp", "cap-B2", "cap-C2"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    for c in captures {
        let file = dir.join(c["file"].as_str().unwrap());
        let a = analyse(&file);
        agrees_with_tshark(&file, &a);
        assert_eq!(c["analysis"]["counts"]["total"], a.counts.total);
    }
    let cap = |name: &str| {
        let c = captures.iter().find(|c| c["name"] == name).unwrap();
        analyse(&dir.join(c["file"].as_str().unwrap()))
    };
    // B's capture on a switch: B's conversation with A only, handshake to teardown.
    let b = cap("cap-B");
    assert_eq!(b.tcp.len(), 1);
    let conv = &b.tcp[0];
    assert!(conv.client.starts_with("10.0.3.2:") && conv.server == "10.0.3.1:50000");
    assert!(conv.handshake && conv.data_to_client >= 2, "{conv:?}");
    // UDP: no handshake, B's datagrams answered.
    let u = cap("cap-udp");
    assert_eq!(u.counts.syn + u.counts.syn_ack, 0);
    assert!(u.udp.iter().all(|x| x.datagrams_to_client >= 1));
    // Part II: each capture sees its own host's two clients.
    assert_eq!(cap("cap-B2").tcp.len(), 2);
    assert_eq!(cap("cap-C2").tcp.len(), 2);

    // The handout's nine questions, in its order, each answered as the lab
    // expects, and every frame an answer cites is that frame in tshark.
    let got = answers(&run);
    let ids: Vec<&str> = got.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(ids, NINE);
    for (id, ok, text) in &got {
        assert!(ok, "{id}: {text}");
        assert!(text.contains("\n\nWhere to look: "), "{id}: {text}");
    }
    cited_frames_agree_with_tshark(&dir, &run);
    let text = |id: &str| got.iter().find(|a| a.0 == id).unwrap().2.clone();
    assert!(text("I.1(b)").contains(&format!("`{}` (B)", conv.client)));
    assert!(
        text("I.2").contains("Address already in use"),
        "{}",
        text("I.2")
    );
    assert!(text("I.3").starts_with("Yes."));
    assert!(
        text("II.1").starts_with("Yes: 4 of the 4 clients"),
        "{}",
        text("II.1")
    );
    assert!(
        text("II.2").contains("It created 5 sockets"),
        "{}",
        text("II.2")
    );
    assert!(
        text("II.3").contains("B created 2 sockets")
            && text("II.3").contains("C created 2 sockets")
    );

    // run.json against its schema, by an independent validator.
    assert_matches_schema(&dir.join("run.json"));

    // Part II's ladders from the run's own pcaps (the server and two
    // clients): no label on a lifeline or on another label.
    for name in ["cap-B2", "cap-C2"] {
        let svg = std::fs::read_to_string(dir.join(format!("ladder-{name}.svg"))).unwrap();
        assert!(
            ladder_lanes(&svg) >= 3,
            "{name}: {} lanes",
            ladder_lanes(&svg)
        );
        assert_eq!(ladder_collisions(&svg), Vec::<String>::new(), "{name}");
    }

    // The whole lab's report.html read at a glance (Chromium): 17 passed
    // steps collapsed, the page far shorter than with everything expanded,
    // nothing wider than a 420 px screen.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches(r#"<details class="step ok""#).count(), 17);
    assert!(!html.contains(r#"<details class="step ok" id="step-I.1" open"#));
    assert!(html.contains(r#"<table class="summary">"#));
    let scratch = temp_dir("lab-run-measure");
    let (sw, cw, tall) = page_geometry(&scratch, &html, 1400);
    eprintln!("the whole lab's report.html at 1400 px: {tall} px tall ({sw}/{cw} px wide)");
    assert_eq!(sw, cw, "no horizontal overflow at 1400 px");
    assert!(tall < 6000, "{tall} px tall at 1400 px");
    let (sw, cw, tall) = page_geometry(&scratch, &html, 420);
    eprintln!("the whole lab's report.html at 420 px: {tall} px tall ({sw}/{cw} px wide)");
    assert_eq!((sw, cw), (420, 420), "no horizontal overflow at 420 px");

    // `labctl report` rebuilds the same answers from the directory alone.
    std::fs::remove_file(dir.join("run.json")).unwrap();
    std::fs::remove_file(dir.join("report.html")).unwrap();
    Labctl::new()
        .arg("report")
        .arg(&dir)
        .run()
        .assert_status(0)
        .assert_stdout_contains("9 of 9 questions answered as the lab expects")
        .assert_stdout_contains("report.html");
    let again = read_json(&dir.join("run.json"));
    assert_eq!(answers(&again), got);
    assert!(dir.join("report.html").exists());

    // Not a run directory: a usage error naming it.
    Labctl::new()
        .arg("report")
        .arg(&out)
        .run()
        .assert_status(2)
        .assert_stderr_contains("is not a run directory");
}
