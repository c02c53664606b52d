//! `labctl answer` on captures made the way students make them, on a
//! miniature bench of network namespaces (A, B, C on one switch) with the
//! real socket programs: dumpcap and tcpdump from Debian, on a host's
//! `eth0` and on `any` (Linux cooked v1 and v2), with other traffic made
//! inside the namespaces (ping, ARP, a broadcast datagram, a DNS query to
//! a closed port, an SSH-like banner exchange), a non-default port, a
//! merged multi-interface pcapng (`mergecap`), a merge of two captures of
//! the same frames, a capture started late, one cut by the snapshot
//! length, one cut mid-packet, and IPv6 on loopback.
//!
//! Each student's answers must say what the lab expects where the capture
//! shows it, and say why where it cannot; tshark (Wireshark's reader,
//! independent of labctl) must show every frame an answer cites, with the
//! display filter the answer gives, as the kind and between the socket
//! addresses the answer says. Then the class is graded into
//! grading.html and grading.csv beside a reference run.

mod capture_support;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use capture_support::{sh, temp_dir, MiniBench, Program};
use common::Labctl;
use serde_json::Value;

use common::seed_lab as lab_file;

/// A server on A, bound to its lab address, listening.
fn server(bench: &mut MiniBench, program: &str, port: &str) -> Program {
    let mut s = bench.start("A", program, &["--bind", "10.0.3.1", "--port", port]);
    s.expect("listening on");
    s
}

fn client(bench: &mut MiniBench, host: &str, program: &str, port: &str, extra: &[&str]) -> Program {
    let mut args = vec!["--server", "10.0.3.1", "--port", port];
    args.extend_from_slice(extra);
    let mut c = bench.start(host, program, &args);
    c.expect("Connected");
    c
}

/// Other traffic, as a student's machine makes it: ping (and ARP), a
/// broadcast datagram to 5353, a DNS query to a closed port (ICMP port
/// unreachable), an SSH-like exchange where the server speaks first.
fn noise(bench: &mut MiniBench) {
    bench.sh_in("B", "ping -c 1 -W 1 10.0.3.1 >/dev/null");
    bench.sh_in(
        "B",
        "echo query | socat - UDP4-DATAGRAM:10.0.3.255:5353,broadcast",
    );
    bench.sh_in("B", "echo q | socat - UDP4-DATAGRAM:10.0.3.1:53");
    bench.spawn_in(
        "A",
        "timeout 5 socat TCP-LISTEN:22,bind=10.0.3.1,reuseaddr SYSTEM:'echo SSH-2.0-OpenSSH_9.2; sleep 0.3'",
    );
    std::thread::sleep(Duration::from_millis(300));
    bench.sh_in(
        "B",
        "(sleep 0.2; echo SSH-2.0-OpenSSH_9.2p1) | timeout 3 socat - TCP:10.0.3.1:22 >/dev/null",
    );
}

/// Part I's TCP steps (I.6–I.11): B's two lines, C connects and waits,
/// B quits, C is served and quits. `mid` runs once B's first line is answered.
fn part1(bench: &mut MiniBench, port: &str, mid: impl FnOnce(&mut MiniBench)) {
    let mut s = server(bench, "tcp_server", port);
    let mut b = client(bench, "B", "tcp_client", port, &[]);
    b.send("hello");
    b.expect("Server> HELLO");
    mid(bench);
    b.send("how are you");
    b.expect("Server> HOW ARE YOU");
    let mut c = client(bench, "C", "tcp_client", port, &[]);
    c.send("hello from C");
    c.expect("Sent: hello from C");
    c.expect_none("Server>", Duration::from_millis(600));
    b.send("quit");
    bench.wait(b.pid, Duration::from_secs(10));
    c.expect("Server> HELLO FROM C");
    c.send("quit");
    bench.wait(c.pid, Duration::from_secs(10));
    s.expect("Waiting for a new client");
    bench.stop(&s);
}

/// I.12–I.13: B and C answered at once; B's `quit` ends the server.
fn part_udp(bench: &mut MiniBench, port: &str) {
    let mut s = server(bench, "udp_server", port);
    let mut b = client(bench, "B", "udp_client", port, &[]);
    let mut c = client(bench, "C", "udp_client", port, &["--timeout", "1"]);
    b.send("hello from B");
    b.expect("Server> HELLO FROM B");
    c.send("hello from C");
    c.expect("Server> HELLO FROM C");
    b.send("quit");
    bench.wait(b.pid, Duration::from_secs(10));
    s.expect("Terminate server");
    bench.wait(s.pid, Duration::from_secs(10));
    bench.stop(&c);
}

/// II.2–II.4: two clients on B and two on C served at once.
fn part2(bench: &mut MiniBench, port: &str) {
    let mut s = server(bench, "tcp_threaded_server", port);
    let mut clients = Vec::new();
    for (i, host) in ["B", "B", "C", "C"].iter().enumerate() {
        clients.push(client(bench, host, "tcp_client", port, &[]));
        s.expect(&format!("Open connections: {}", i + 1));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&format!("hello from {i}"));
        c.expect(&format!("Server> HELLO FROM {i}"));
    }
    for c in &mut clients {
        c.send("quit");
    }
    for c in &clients {
        bench.wait(c.pid, Duration::from_secs(10));
    }
    s.expect("Open connections: 0");
    bench.stop(&s);
}

const DUMPCAP_ETH0: &[&str] = &["dumpcap", "-q", "-i", "eth0", "-w"];
const DUMPCAP_ANY: &[&str] = &["dumpcap", "-q", "-i", "any", "-w"];
const TCPDUMP_ETH0: &[&str] = &[
    "tcpdump",
    "-i",
    "eth0",
    "-n",
    "-U",
    "--immediate-mode",
    "-w",
];
const TCPDUMP_ANY: &[&str] = &["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "-w"];

/// Runs `part` while capturing with each (host, command, file).
fn captured(
    bench: &mut MiniBench,
    caps: &[(&str, &[&str], &Path)],
    part: impl FnOnce(&mut MiniBench),
) {
    let running: Vec<_> = caps
        .iter()
        .map(|(h, cmd, f)| bench.capture_cmd(h, cmd, f))
        .collect();
    part(bench);
    std::thread::sleep(Duration::from_millis(300));
    for c in running {
        bench.stop_capture(c);
    }
}

/// `labctl answer --json FILES` in `dir`: the exit code and the JSON.
fn answer(dir: &Path, files: &[&str], extra: &[&str]) -> (i32, Value, String) {
    let out = Labctl::new()
        .args(["--hosts", "/nonexistent/hosts.toml", "--lab"])
        .arg(lab_file())
        .arg("answer")
        .arg("--json")
        .args(extra)
        .args(files)
        .current_dir(dir)
        .timeout(Duration::from_secs(120))
        .run();
    let json = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
    (out.status, json, out.stderr)
}

/// The answers by question id.
fn by_id(json: &Value) -> BTreeMap<String, Value> {
    json["answers"]
        .as_array()
        .unwrap_or_else(|| panic!("answers in {json}"))
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

/// Asserts a question is answered (`ok`: as the lab expects) and returns its text.
#[track_caller]
fn answered(answers: &BTreeMap<String, Value>, id: &str, ok: bool) -> String {
    let a = &answers[id];
    let text = a["answer"].as_str().unwrap().to_string();
    assert!(a["answered"].as_bool().unwrap(), "{id} answered: {text}");
    assert_eq!(a["ok"].as_bool().unwrap(), ok, "{id} ok={ok}: {text}");
    assert!(text.contains("Where to look: "), "{id}: {text}");
    text
}

/// Asserts a question is not answered, saying `why`.
#[track_caller]
fn cannot(answers: &BTreeMap<String, Value>, id: &str, why: &str) {
    let a = &answers[id];
    let text = a["answer"].as_str().unwrap();
    assert!(
        !a["answered"].as_bool().unwrap(),
        "{id} not answered: {text}"
    );
    assert!(text.starts_with("Not answered: "), "{id}: {text}");
    assert!(text.contains(why), "{id} says {why:?}: {text}");
    assert!(
        a["frames"].as_array().unwrap().is_empty(),
        "{id} cites nothing"
    );
}

/// tshark shows every frame the answers cite, with the answer's display
/// filter, as the kind and between the socket addresses the answer says.
fn tshark_confirms(dir: &Path, json: &Value) -> usize {
    let mut groups: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for a in json["answers"].as_array().unwrap() {
        for f in a["frames"].as_array().unwrap() {
            let key = (
                f["file"].as_str().unwrap().to_string(),
                f["filter"].as_str().unwrap().to_string(),
            );
            groups.entry(key).or_default().push(f);
        }
    }
    let mut checked = 0;
    for ((file, filter), frames) in groups {
        let fields = [
            "frame.number",
            "ip.src",
            "ipv6.src",
            "tcp.srcport",
            "udp.srcport",
            "ip.dst",
            "ipv6.dst",
            "tcp.dstport",
            "udp.dstport",
            "tcp.flags.syn",
            "tcp.flags.ack",
            "tcp.flags.fin",
            "tcp.flags.reset",
            "tcp.len",
        ];
        let rows: BTreeMap<usize, Vec<String>> = tshark_rows(&dir.join(&file), &filter, &fields)
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), r))
            .collect();
        let addr = |r: &[String], ip4: usize, ip6: usize, tp: usize, up: usize| {
            let port = if r[tp].is_empty() { &r[up] } else { &r[tp] };
            if r[ip4].is_empty() {
                format!("[{}]:{port}", r[ip6])
            } else {
                format!("{}:{port}", r[ip4])
            }
        };
        for f in frames {
            let n = f["number"].as_u64().unwrap() as usize;
            let r = rows
                .get(&n)
                .unwrap_or_else(|| panic!("tshark shows no frame {n} in `{file}` with `{filter}`"));
            let r: Vec<String> = (0..fields.len())
                .map(|i| r.get(i).cloned().unwrap_or_default())
                .collect();
            assert_eq!(
                addr(&r, 1, 2, 3, 4),
                f["src"].as_str().unwrap(),
                "{file} frame {n} source"
            );
            assert_eq!(
                addr(&r, 5, 6, 7, 8),
                f["dst"].as_str().unwrap(),
                "{file} frame {n} destination"
            );
            let on = |i: usize| r[i] == "1" || r[i] == "True";
            let kind = if r[3].is_empty() {
                "udp"
            } else if on(12) {
                "rst"
            } else if on(9) && !on(10) {
                "syn"
            } else if on(9) {
                "syn-ack"
            } else if on(11) {
                "fin"
            } else if r[13] != "0" {
                "data"
            } else {
                "ack"
            };
            assert_eq!(kind, f["kind"].as_str().unwrap(), "{file} frame {n} kind");
            checked += 1;
        }
    }
    checked
}

/// tshark's `-T fields` rows; a file cut mid-packet is read up to the cut
/// (tshark says so and exits 2, as labctl reads it up to there).
fn tshark_rows(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("cut short in the middle of a packet"),
        "tshark on {}: {err}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn mergecap(out: &Path, inputs: &[&Path]) {
    let mut args = vec!["-w", out.to_str().unwrap()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    sh("mergecap", &args);
}

#[test]
fn a_class_of_student_captures_is_answered_checked_by_tshark_and_graded() {
    capture_support::programs();
    let root = temp_dir("class");
    let class = root.join("class");
    let work = root.join("work");
    for d in ["alice", "bob", "carol", "dave", "erin", "frank", "heidi"] {
        std::fs::create_dir_all(class.join(d)).unwrap();
    }
    std::fs::create_dir_all(&work).unwrap();
    let mut bench = MiniBench::new();
    let at = |s: &str, f: &str| class.join(s).join(f);

    // alice: Wireshark's dumpcap on B's eth0, the default port, other traffic
    // in every capture; one pcapng per part, as the handout asks.
    let (a1, a2, a3) = (
        at("alice", "part1.pcapng"),
        at("alice", "udp.pcapng"),
        at("alice", "part2.pcapng"),
    );
    captured(&mut bench, &[("B", DUMPCAP_ETH0, &a1)], |b| {
        noise(b);
        part1(b, "50000", |_| {});
    });
    captured(&mut bench, &[("B", DUMPCAP_ETH0, &a2)], |b| {
        noise(b);
        part_udp(b, "50000");
    });
    captured(&mut bench, &[("B", DUMPCAP_ETH0, &a3)], |b| {
        part2(b, "50000");
        noise(b);
    });

    // bob: tcpdump on A's `any` (Linux cooked v2), port 50123, the whole lab in one file.
    let b1 = at("bob", "all.pcap");
    captured(&mut bench, &[("A", TCPDUMP_ANY, &b1)], |b| {
        noise(b);
        part1(b, "50123", |_| {});
        part_udp(b, "50123");
        part2(b, "50123");
    });

    // carol: Part I on A's eth0 and on B's `any` (dumpcap: cooked v1),
    // merged into one pcapng of two interfaces; Part II on A and B with
    // tcpdump, merged: one interface holding B's frames twice.
    let (ca, cb, cc, cd) = (
        work.join("carol-A.pcapng"),
        work.join("carol-B.pcapng"),
        work.join("carol-A2.pcap"),
        work.join("carol-B2.pcap"),
    );
    captured(
        &mut bench,
        &[("A", DUMPCAP_ETH0, &ca), ("B", DUMPCAP_ANY, &cb)],
        |b| part1(b, "50000", |_| {}),
    );
    captured(
        &mut bench,
        &[("A", TCPDUMP_ETH0, &cc), ("B", TCPDUMP_ETH0, &cd)],
        |b| part2(b, "50000"),
    );
    let (c1, c2) = (at("carol", "part1.pcapng"), at("carol", "part2.pcapng"));
    mergecap(&c1, &[&ca, &cb]);
    mergecap(&c2, &[&cc, &cd]);

    // dave: a capture on A started after B's client connected and sent its first line.
    let d1 = at("dave", "late.pcap");
    let mut late = None;
    part1(&mut bench, "50000", |b| {
        late = Some(b.capture_cmd("A", TCPDUMP_ETH0, &d1));
    });
    std::thread::sleep(Duration::from_millis(300));
    bench.stop_capture(late.expect("started"));

    // erin: tcpdump's old default snapshot length (68 bytes) on A, and a
    // capture cut in the middle of a frame.
    let e1 = at("erin", "snap68.pcap");
    let snap: &[&str] = &[
        "tcpdump",
        "-i",
        "eth0",
        "-n",
        "-s",
        "68",
        "-U",
        "--immediate-mode",
        "-w",
    ];
    captured(&mut bench, &[("A", snap, &e1)], |b| {
        part1(b, "50000", |_| {})
    });
    let whole = std::fs::read(&a3).unwrap();
    let e2 = at("erin", "cut.pcapng");
    std::fs::write(&e2, &whole[..whole.len() * 2 / 3]).unwrap();

    // heidi: IPv6 on A's loopback (tcpdump -i lo).
    bench.sh_in(
        "A",
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0",
    );
    let h1 = at("heidi", "v6.pcap");
    let lo: &[&str] = &["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-w"];
    captured(&mut bench, &[("A", lo, &h1)], |b| {
        let mut s = b.start("A", "tcp_server", &["--bind", "::1", "--port", "50000"]);
        s.expect("listening on");
        let mut c = b.start("A", "tcp_client", &["--server", "::1", "--port", "50000"]);
        c.expect("Connected");
        c.send("hello six");
        c.expect("Server> HELLO SIX");
        c.send("quit");
        b.wait(c.pid, Duration::from_secs(10));
        b.stop(&s);
    });
    drop(bench);

    // frank: nothing readable: a text file, an empty file, a capture of an
    // unknown link type, a compressed one, and a 2 GB file of zeros.
    std::fs::write(
        at("frank", "notes.txt"),
        "I.1: the handshake is SYN, SYN-ACK, ACK\n",
    )
    .unwrap();
    std::fs::write(at("frank", "empty.pcapng"), b"").unwrap();
    sh(
        "editcap",
        &[
            "-T",
            "user0",
            a1.to_str().unwrap(),
            at("frank", "user0.pcapng").to_str().unwrap(),
        ],
    );
    sh(
        "sh",
        &[
            "-c",
            &format!(
                "gzip -c {} > {}",
                a1.display(),
                at("frank", "part1.pcapng.gz").display()
            ),
        ],
    );
    let big = std::fs::File::create(at("frank", "huge.pcapng")).unwrap();
    big.set_len(2 << 30).unwrap();
    drop(big);

    let mut cited = 0;

    // --- alice: B's own frames only.
    let dir = class.join("alice");
    let (code, json, err) = answer(&dir, &["part1.pcapng", "udp.pcapng", "part2.pcapng"], &[]);
    assert_eq!(code, 0, "{err}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["format"], "pcapng");
    let aside: Vec<&str> = files[0]["set_aside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[0].as_str().unwrap())
        .collect();
    for kind in ["ARP", "ICMP", "SSH", "mDNS", "DNS"] {
        assert!(
            aside.contains(&kind),
            "alice's part 1: {kind} set aside: {aside:?}"
        );
    }
    assert_eq!(files[0]["services"][0]["address"], "10.0.3.1:50000");
    let a = by_id(&json);
    let t = answered(&a, "I.1(a)", true);
    assert!(
        t.contains("(SYN)") && t.contains("`hello`") && t.contains("`how are you`"),
        "{t}"
    );
    let t = answered(&a, "I.1(b)", true);
    assert!(
        t.starts_with("2 unique socket addresses") && t.contains("`10.0.3.1:50000` (A)"),
        "{t}"
    );
    cannot(&a, "I.2", "the second server sends no packet");
    cannot(&a, "I.3", "the only TCP connection in the captures outside the threaded server's is from `10.0.3.2` (B): another client's frames are not in them");
    let t = answered(&a, "I.4(a)", true);
    assert!(
        t.contains("No handshake") && t.contains("Compare TCP"),
        "{t}"
    );
    cannot(&a, "I.4(b)", "one UDP client of `10.0.3.1:50000` (A) only");
    let t = answered(&a, "II.1", true);
    assert!(t.contains("2 of the 2 clients connected"), "{t}");
    let t = answered(&a, "II.2", true);
    assert!(
        t.contains("It created 3 sockets")
            && t.contains("Every client in this capture is on `10.0.3.2` (B)"),
        "{t}"
    );
    let t = answered(&a, "II.3", true);
    assert!(t.contains("B created 2 sockets"), "{t}");
    cited += tshark_confirms(&dir, &json);

    // --- bob: everything in one file on A, port 50123, cooked v2.
    let dir = class.join("bob");
    let (code, json, err) = answer(&dir, &["all.pcap"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json["files"][0]["interfaces"][0]["link"],
        "Linux cooked v2 (SLL2)"
    );
    let services: Vec<(String, String)> = json["files"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["proto"].as_str().unwrap().into(),
                s["address"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        services,
        vec![
            ("tcp".into(), "10.0.3.1:50123".into()),
            ("udp".into(), "10.0.3.1:50123".into())
        ]
    );
    let a = by_id(&json);
    for id in [
        "I.1(a)", "I.1(b)", "I.3", "I.4(a)", "I.4(b)", "II.1", "II.2", "II.3",
    ] {
        answered(&a, id, true);
    }
    cannot(&a, "I.2", "the second server sends no packet");
    let t = answered(&a, "II.2", true);
    assert!(
        t.contains("It created 5 sockets") && !t.contains("Every client in this capture"),
        "{t}"
    );
    assert!(answered(&a, "II.3", true).contains("C created 2 sockets"));
    assert!(answered(&a, "I.1(a)", true).contains("tcp.port==50123"));
    // The same answers with the server named.
    let (code, named, _) = answer(&dir, &["all.pcap"], &["--server", "10.0.3.1:50123"]);
    assert_eq!(code, 0);
    assert_eq!(
        named["files"][0]["services"][0]["why"],
        "named with --server"
    );
    assert_eq!(by_id(&named)["I.3"]["ok"], true);
    cited += tshark_confirms(&dir, &json);

    // --- carol: two interfaces in Part I; Part II's duplicates counted once.
    let dir = class.join("carol");
    let (code, json, err) = answer(&dir, &["part1.pcapng", "part2.pcapng"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json["files"][0]["interfaces"].as_array().unwrap().len(), 2);
    assert_eq!(json["files"][1]["interfaces"].as_array().unwrap().len(), 1);
    let dups: Vec<&Value> = json["files"][1]["set_aside"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x[0].as_str().unwrap().starts_with("duplicates"))
        .collect();
    assert!(
        !dups.is_empty(),
        "B's frames, captured on A and B: {}",
        json["files"][1]
    );
    let a = by_id(&json);
    let t = answered(&a, "I.3", true);
    assert!(t.contains("frame.interface_id==0"), "A's interface: {t}");
    let t = answered(&a, "II.2", true);
    assert!(t.contains("It created 5 sockets"), "not 7: {t}");
    assert!(answered(&a, "II.3", true).contains("B created 2 sockets"));
    cannot(
        &a,
        "I.4(a)",
        "no capture holds datagrams of a lab UDP server",
    );
    cited += tshark_confirms(&dir, &json);

    // --- dave: no handshake of B's connection; C's queue still shows.
    let dir = class.join("dave");
    let (code, json, err) = answer(&dir, &["late.pcap"], &[]);
    assert_eq!(code, 0, "{err}");
    let a = by_id(&json);
    let t = answered(&a, "I.1(a)", false);
    assert!(
        t.contains("The capture began after") && t.contains("cannot show the handshake"),
        "{t}"
    );
    assert!(t.contains("`how are you`"), "its lines still show: {t}");
    answered(&a, "I.3", true);
    cited += tshark_confirms(&dir, &json);

    // --- erin: 68-byte snapshots (payloads cut) and a file cut mid-frame.
    let dir = class.join("erin");
    let (code, json, err) = answer(&dir, &["snap68.pcap", "cut.pcapng"], &[]);
    assert_eq!(code, 0, "{err}");
    let snap = &json["files"][0];
    assert!(snap["interfaces"][0]["cut"].as_u64().unwrap() > 0, "{snap}");
    assert_eq!(snap["services"][0]["address"], "10.0.3.1:50000");
    let cut = &json["files"][1];
    assert!(
        cut["damaged"].as_str().unwrap().contains("cut mid-packet"),
        "{cut}"
    );
    let a = by_id(&json);
    answered(&a, "I.1(a)", true);
    answered(&a, "I.3", true);
    answered(&a, "II.2", true);
    cited += tshark_confirms(&dir, &json);

    // --- heidi: IPv6.
    let dir = class.join("heidi");
    let (code, json, err) = answer(&dir, &["v6.pcap"], &[]);
    assert_eq!(code, 0, "{err}");
    let a = by_id(&json);
    let t = answered(&a, "I.1(a)", true);
    assert!(t.contains("ipv6.addr==::1 and tcp.port==50000"), "{t}");
    cited += tshark_confirms(&dir, &json);
    assert!(cited > 100, "tshark confirmed {cited} cited frames");

    // --- frank: each bad file in one line, exit 2 when nothing is readable.
    let dir = class.join("frank");
    let bad = [
        "notes.txt",
        "empty.pcapng",
        "user0.pcapng",
        "part1.pcapng.gz",
        "huge.pcapng",
    ];
    let (code, _, err) = answer(&dir, &bad, &[]);
    assert_eq!(code, 2, "{err}");
    for (file, why) in [
        ("notes.txt", "a text file"),
        ("empty.pcapng", "the file is empty"),
        ("user0.pcapng", "link type 147"),
        ("part1.pcapng.gz", "gzip-compressed"),
        ("huge.pcapng", "not pcap or pcapng"),
    ] {
        let lines: Vec<&str> = err.lines().filter(|l| l.contains(file)).collect();
        assert_eq!(lines.len(), 1, "one line for {file}: {err}");
        assert!(lines[0].contains(why), "{file}: {why}: {}", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
    // With a readable file among them: answered, the bad ones still named.
    let good = a1.to_str().unwrap();
    let (code, json, err) = answer(&dir, &["notes.txt", good], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("notes.txt: not a capture"), "{err}");
    assert!(by_id(&json)["I.1(a)"]["answered"].as_bool().unwrap());

    // --- the class graded, beside the reference run.
    let out = root.join("sheet");
    let r = Labctl::new()
        .args(["--hosts", "/nonexistent/hosts.toml", "--lab"])
        .arg(lab_file())
        .arg("answer")
        .arg("--grade")
        .arg(&class)
        .arg("--reference")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v1"))
        .arg("--out")
        .arg(&out)
        .timeout(Duration::from_secs(300))
        .run();
    r.assert_status(0);
    let csv = std::fs::read_to_string(out.join("grading.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.len(),
        1 + 1 + 7,
        "header, reference, seven students: {csv}"
    );
    assert!(
        rows[0].starts_with("student,files,unreadable,I.1(a),I.1(b),I.2,I.3"),
        "{}",
        rows[0]
    );
    assert!(rows[1].starts_with("reference run `"), "{}", rows[1]);
    let row = |name: &str| *rows.iter().find(|r| r.starts_with(name)).unwrap();
    assert!(
        row("bob").contains("✔ 10.0.3.1:50123: 5 sockets"),
        "{}",
        row("bob")
    );
    assert!(row("alice").contains("✔ 10.0.3.2:"), "{}", row("alice"));
    assert!(
        row("frank").contains("notes.txt: not a capture"),
        "{}",
        row("frank")
    );
    let html = std::fs::read_to_string(out.join("grading.html")).unwrap();
    for s in [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "heidi",
        "reference run",
    ] {
        assert!(html.contains(s), "{s} in the sheet");
    }
    assert!(html.contains("of alice/part1.pcapng"), "cited frames shown");
    assert!(html.contains("<details><summary>the answer</summary>"));
}
