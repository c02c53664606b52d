//! The captures as pcapng, with the lab's story in them: a whole run of the
//! seed lab on the virtual bench writes a `.pcapng` beside every `.pcap`,
//! and tshark (Wireshark's reader, independent of labctl) finds the same
//! frames in it, the section comment naming lab, run, bench, host,
//! interface, filter and steps, and on each frame a comment naming the step
//! and the action that caused it.

mod capture_support;
mod common;
mod run_json_support;

use std::path::Path;
use std::process::Command;

use capture_support::{programs, temp_dir, tshark_count, tshark_fields};
use common::TestBench;
use run_json_support::read_json;

/// `(frame number, comment)` of every frame matching `filter`.
fn comments(file: &Path, filter: &str) -> Vec<(usize, String)> {
    tshark_fields(file, filter, &["frame.number", "frame.comment"])
        .into_iter()
        .map(|f| (f[0].parse().unwrap(), f.get(1).cloned().unwrap_or_default()))
        .collect()
}

/// The one comment of the single frame matching `filter`.
fn comment_of(file: &Path, filter: &str) -> String {
    let c = comments(file, filter);
    assert_eq!(
        c.len(),
        1,
        "one frame matches `{filter}` in {file:?}: {c:?}"
    );
    c[0].1.clone()
}

#[test]
fn every_capture_is_also_pcapng_with_the_steps_in_its_comments() {
    programs();
    let bench = TestBench::up();
    let out = temp_dir("pcapng");
    let dir = common::run_on(&bench, None, &out, &[], 0);
    let run = read_json(&dir.join("run.json"));
    let run_id = run["run"]["id"].as_str().unwrap().to_string();
    let step_ids: Vec<String> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();

    for c in run["captures"].as_array().unwrap() {
        let pcap = dir.join(c["file"].as_str().unwrap());
        let ng = pcap.with_extension("pcapng");
        assert!(ng.exists(), "{} has a pcapng copy", pcap.display());
        // The same frames, numbered alike.
        assert_eq!(
            tshark_count(&ng, ""),
            tshark_count(&pcap, ""),
            "{}: as many frames as the pcap",
            ng.display()
        );
        // tshark says the file is pcapng, and shows its section comment.
        let info = Command::new("capinfos")
            .args(["-t", "-k"])
            .arg(&ng)
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(info.contains("pcapng"), "{info}");
        let host = c["host"].as_str().unwrap();
        for part in [
            "lab `sockets`".to_string(),
            format!("run `{run_id}`"),
            format!("host `{host}`"),
            "interface `eth0`".to_string(),
            "filter `".to_string(),
            c["step"].as_str().unwrap().to_string(),
        ] {
            assert!(
                info.contains(&part),
                "section comment names {part:?}: {info}"
            );
        }
        // Every TCP and UDP frame tells its step and what happened.
        for (n, comment) in comments(&ng, "tcp or udp") {
            let step = comment.split(':').next().unwrap_or("");
            assert!(
                step_ids.iter().any(|s| s == step),
                "{} frame {n}: comment {comment:?} names a step of the run",
                ng.display()
            );
        }
    }

    // The handout's story, frame by frame, in A's capture of Part I's TCP.
    let a = dir.join("A-cap-A.pcapng");
    assert_eq!(
        comment_of(
            &a,
            "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==10.0.3.2"
        ),
        "I.8: client-B on B connects to the server on A (SYN)"
    );
    assert_eq!(
        comment_of(&a, "tcp.payload==68:65:6c:6c:6f && ip.src==10.0.3.2"),
        "I.8: client-B on B sends \"hello\""
    );
    assert_eq!(
        comment_of(
            &a,
            "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==10.0.3.3"
        ),
        "I.10: client-C on C connects to the server on A (SYN)"
    );
    // C's line waits in A's queue until B quits; its answer is still I.10's.
    let reply = comment_of(&a, "tcp.len>0 && ip.dst==10.0.3.3 && ip.src==10.0.3.1");
    assert_eq!(
        reply,
        "I.10: the server on A replies \"HELLO FROM C\" to client-C on C"
    );
    // UDP: datagrams, no connection.
    let udp = dir.join("A-cap-udp-A.pcapng");
    assert!(comments(&udp, "udp")
        .iter()
        .all(|(_, c)| c.contains("datagram") || c.contains("replies")));
}
