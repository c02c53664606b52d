//! Causality of a run's timeline: every line labctl sent to a client comes
//! before what it caused, on its own host and on the others
//! ([`assert_causal`]), for tests/timeline.rs and tests/clocks.rs.

use std::collections::BTreeMap;
use std::path::Path;

use super::json_lines;

/// Every line sent to a client precedes what it caused, on every host: the
/// client's `Sent: LINE` for it (the k-th line sent to a program is the
/// k-th it echoes), on its host's clock in the run record and in
/// report.md's rows; and the frames that carried it, in its host's capture
/// and the server's ([`assert_causal_across`]). `shell` names the run in messages.
#[track_caller]
pub fn assert_causal(dir: &Path, shell: &str) {
    let events = json_lines(&dir.join("events.jsonl"));
    let of = |kind: &'static str| events.iter().filter(move |e| e["event"] == kind);
    let mut programs: Vec<(String, String)> = of("sent")
        .map(|e| {
            (
                e["host"].as_str().unwrap().into(),
                e["program"].as_str().unwrap().into(),
            )
        })
        .collect();
    programs.sort();
    programs.dedup();
    let mut pairs = 0;
    for (host, program) in &programs {
        let mine =
            |e: &&serde_json::Value| e["host"] == host.as_str() && e["program"] == program.as_str();
        let sent: Vec<(f64, &str)> = of("sent")
            .filter(mine)
            .map(|e| (e["ts"].as_f64().unwrap(), e["line"].as_str().unwrap()))
            .collect();
        let echoed: Vec<(f64, &str)> = of("output")
            .filter(mine)
            .filter_map(|e| {
                let line = e["line"].as_str()?.strip_prefix("Sent: ")?;
                Some((e["ts"].as_f64()?, line))
            })
            .collect();
        for ((st, sl), (et, el)) in sent.iter().zip(&echoed) {
            assert_eq!(
                sl, el,
                "{shell}: {host}/{program}: the k-th line sent is the k-th echoed"
            );
            assert!(
                st <= et,
                "{shell}: {host}/{program}: `{sl}` sent at {st:.6}, echoed at {et:.6}: the effect is stamped before its cause"
            );
            pairs += 1;
        }
    }
    assert!(
        pairs >= 14,
        "{shell}: {pairs} sent lines were echoed; the seed lab has more"
    );
    // The report's timeline (rows in time order: `| time | t | host | program | in/out/err | line |`)
    // shows each line going in before the client's echo of it.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut open: Vec<(String, String, String)> = Vec::new();
    let mut echoes = 0;
    for row in md
        .lines()
        .filter(|l| l.starts_with("| ") && l.ends_with(" |"))
    {
        let cells: Vec<&str> = row[2..row.len() - 2].splitn(6, " | ").collect();
        let [_, _, host, program, mark, text] = cells[..] else {
            continue;
        };
        let key = |t: &str| (host.to_string(), program.to_string(), t.to_string());
        if mark == "in" {
            open.push(key(text));
        } else if let Some(line) = text.strip_prefix("Sent: ").filter(|_| mark == "out") {
            let k = open.iter().position(|o| *o == key(line)).unwrap_or_else(|| {
                panic!("{shell}: report.md shows `Sent: {line}` of {host}/{program} before the line went in:\n{row}")
            });
            open.remove(k);
            echoes += 1;
        }
    }
    assert_eq!(
        echoes, pairs,
        "{shell}: every echo is in report.md's timeline"
    );
    assert_causal_across(dir, shell);
}

/// Every line sent to a client comes before the frame that carried it, in
/// every capture that holds it — the client's own host's and the server's
/// — on the report's run clock (`run.json`: the timeline's times and the
/// captures' frames, each host's corrected by its clock's offset). A
/// frame's time is its kernel's, so this holds whatever a stamper's wait
/// for a CPU does to the lines' stamps. `shell` names the run in messages.
#[track_caller]
pub fn assert_causal_across(dir: &Path, shell: &str) {
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    let timeline = run["timeline"].as_array().expect("a timeline");
    let text = |e: &serde_json::Value| e["text"].as_str().unwrap_or("").to_string();
    // Each line sent to a client, with the client's socket address then.
    let mut local: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut sent: BTreeMap<(String, String), Vec<(f64, String)>> = BTreeMap::new();
    for e in timeline {
        let key = (
            e["host"].as_str().unwrap().to_string(),
            e["program"].as_str().unwrap().to_string(),
        );
        if e["stream"] == "stdout" {
            if let Some(rest) = text(e).strip_prefix("Connected ") {
                if let Some(addr) = rest.split_whitespace().next() {
                    local.insert(key, addr.to_string());
                }
            }
        } else if e["stream"] == "stdin" {
            if let Some(addr) = local.get(&key) {
                sent.entry((addr.clone(), text(e)))
                    .or_default()
                    .push((e["unix"].as_f64().unwrap(), key.0.clone()));
            }
        }
    }
    let (mut pairs, mut on_sender, mut elsewhere) = (0, 0, 0);
    for c in run["captures"].as_array().unwrap() {
        let Some(a) = c["analysis"].as_object() else {
            continue;
        };
        let start = a["start_unix"].as_f64().unwrap();
        let host = c["host"].as_str().unwrap();
        for ((addr, line), times) in &sent {
            let frames = a["frames"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["src"] == addr.as_str() && f["text"] == line.as_str());
            for (f, (at, from)) in frames.zip(times) {
                let seen = start + f["time"].as_f64().unwrap();
                assert!(
                    *at <= seen,
                    "{shell}: `{line}` sent to {addr} on {from} at {at:.6}, and the frame \
                     that carried it (#{}) in {}'s capture `{}` at {seen:.6}: \
                     the effect is placed before its cause",
                    f["number"],
                    host,
                    c["name"].as_str().unwrap()
                );
                pairs += 1;
                if from == host {
                    on_sender += 1;
                } else {
                    elsewhere += 1;
                }
            }
        }
    }
    assert!(
        pairs >= 10 && on_sender > 0 && elsewhere > 0,
        "{shell}: {pairs} sent lines found in captures ({on_sender} on their own host, \
         {elsewhere} on another); the seed lab has more"
    );
}
