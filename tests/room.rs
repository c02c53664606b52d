//! The room at a glance, on rooms of virtual benches: `run --all`'s room
//! summary and exit code with a bench broken (the worst of the benches'),
//! its lines off a terminal and its view on one (through tmux), the room
//! report (`index.html` links every bench's report and shows the matrix;
//! `labctl report ROOM_DIR` rebuilds it), and `labctl serve`: the live page
//! in Debian's chromium, loaded before `run --all` and following it to the
//! end without a reload, and its refusals over real HTTP on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ensure_programs, install_programs, labctl, labctl_bin, quote_path, workdir, ExchangeLab,
    Scratch, TestBench, Tmux,
};

/// `S.1` addresses, `S.2` one line through a server on A and a client on
/// B, `S.3` B waits `wait` (so a page has something to watch).
fn lab(scratch: &Scratch, wait: &str) -> PathBuf {
    let text = ExchangeLab::new("roomlab").toml() + &common::b_waits("B waits", wait);
    scratch.write("lab.toml", &text)
}

/// The run directories under `runs`: (room directories, bench directories).
fn dirs(runs: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut all: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    all.sort();
    all.into_iter().partition(|p| p.join("room.json").exists())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_broken_bench_is_named_in_the_room_summary_and_the_worst_exit_wins() {
    let room = TestBench::room(3);
    install_programs(&room);
    let home = Scratch::new("room-broken");
    let lab = lab(&home, "300ms");
    let runs = home.path("runs");
    // bench2's B lacks its client: S.2 fails there, and only there.
    std::fs::remove_file(workdir(&room, "bench2/B").join("bin/tcp_client")).unwrap();
    // The room's check before the run goes into the room report.
    labctl(
        room.hosts_file(),
        &lab,
        &home.0,
        &["check", "--all", "--out", runs.to_str().unwrap()],
    )
    .assert_status(1);
    assert!(runs.join("room-check.json").is_file());
    let out = labctl(
        room.hosts_file(),
        &lab,
        &home.0,
        &["run", "--all", "--out", runs.to_str().unwrap()],
    );
    out.assert_status(1)
        .assert_stdout_contains("room: 2 of 3 benches passed")
        .assert_stderr_contains("1 of 3 benches did not pass")
        // Off a terminal: a line per bench per finished step, every failure.
        .assert_stdout_contains("[bench1] PASS S.1  (1 of 3)")
        .assert_stdout_contains("[bench3] PASS S.3  (3 of 3)")
        .assert_stdout_contains("[bench2] FAIL S.2  (2 of 3)")
        .assert_stdout_contains("[bench2] ✘ step `S.2` on host `bench2/B`: program `client`")
        // Not each bench's own log (that is `-v`).
        .assert_stdout_lacks("SUMMARY");
    let table: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("bench "))
        .collect();
    assert!(
        table[0]
            .split_whitespace()
            .eq(["bench", "outcome", "passed", "failed", "first", "failure", "time", "report"]),
        "{out}"
    );
    let row = |b: &str| {
        *table
            .iter()
            .find(|l| l.starts_with(&format!("{b} ")))
            .unwrap_or_else(|| panic!("no row for {b}\n{out}"))
    };
    for b in ["bench1", "bench3"] {
        let cells: Vec<&str> = row(b).split_whitespace().collect();
        assert_eq!(cells[1..5], ["✔", "passed", "3", "0"], "{out}");
        assert!(
            row(b).ends_with(&format!("-roomlab-{b}/report.html")),
            "{out}"
        );
    }
    let broken = row("bench2");
    let cells: Vec<&str> = broken.split_whitespace().collect();
    assert_eq!(cells[1..5], ["✘", "failed", "1", "1"], "{out}");
    assert!(
        broken.contains("S.2 on B: program `client`: expected /^Connected/ within 2s"),
        "{out}"
    );
    out.assert_stdout_contains("replay bench2: labctl run --bench bench2 --step S.2");

    // The room report, beside the benches' run directories.
    let (rooms, benches) = dirs(&runs);
    let benches: Vec<PathBuf> = benches.into_iter().filter(|p| p.is_dir()).collect();
    assert_eq!(
        (rooms.len(), benches.len()),
        (1, 3),
        "{rooms:?} {benches:?}"
    );
    let room_dir = &rooms[0];
    let html = read(&room_dir.join("index.html"));
    for b in &benches {
        let name = b.file_name().unwrap().to_string_lossy();
        assert!(
            html.contains(&format!(r#"href="../{name}/report.html""#)),
            "index.html lacks the link to {name}'s report:\n{html}"
        );
        assert!(b.join("report.html").is_file());
    }
    // The matrix: a row per bench, a cell per step; bench2's S.2 failed,
    // with the failure's words on hover, and its S.3 did not run.
    assert!(html.contains("<th title=\"B waits\">S.3</th>"), "{html}");
    let bench2 = html
        .split("<tr id=\"bench-1\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for bench2:\n{html}"));
    assert!(
        bench2.contains(r#"class="cell passed" data-step="S.1""#),
        "{bench2}"
    );
    assert!(
        bench2.contains(r#"class="cell failed" data-step="S.2" title="bench2 S.2: step `S.2` on host `bench2/B`: program `client`"#),
        "{bench2}"
    );
    assert!(
        bench2.contains(r#"class="cell pending" data-step="S.3""#),
        "{bench2}"
    );
    assert!(html.contains("2 of 3 benches passed"), "{html}");
    // The check before the run: a row per bench, bench2's B missing its client.
    assert!(
        html.contains("<section id=\"check\"><h2>The room's check before the run</h2>"),
        "{html}"
    );
    assert!(html.contains("<b>bench2/B</b> programs: "), "{html}");
    let md = read(&room_dir.join("index.md"));
    assert!(md.contains("| bench2 | ✘ failed | ✔ | ✘ | · |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&read(&room_dir.join("room.json"))).unwrap();
    assert_eq!(json["schema"], "labctl-room/1");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["benches_passed"], 2);
    assert_eq!(json["benches"][1]["exit_code"], 1);
    assert_eq!(json["benches"][1]["first_failure"]["step"], "S.2");
    assert_eq!(json["benches"][1]["first_failure"]["host"], "B");
    assert_eq!(json["check"]["benches"].as_array().unwrap().len(), 3);
    validate(&room_dir.join("room.json"), "docs/room-json-schema.json");
    // Each bench's run record names its room.
    let started = read(&benches[0].join("events.jsonl"));
    let room_id = room_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        started
            .lines()
            .next()
            .unwrap()
            .contains(&format!("\"room\":\"{room_id}\"")),
        "{started}"
    );

    // `labctl report ROOM_DIR` rebuilds the room from the run directories.
    std::fs::remove_file(room_dir.join("index.html")).unwrap();
    let rebuilt = common::Labctl::new()
        .args(["report", room_dir.to_str().unwrap()])
        .run();
    rebuilt
        .assert_success()
        .assert_stdout_contains("✘ room: 2 of 3 benches passed");
    let again = read(&room_dir.join("index.html"));
    assert!(again.contains("2 of 3 benches passed"), "{again}");
    for b in &benches {
        let name = b.file_name().unwrap().to_string_lossy();
        assert!(
            again.contains(&format!(r#"href="../{name}/report.html""#)),
            "{again}"
        );
    }

    // Another bench unreachable as well: the worst exit code is the room's (3).
    room.stop_sshd("bench3/A");
    let out = labctl(
        room.hosts_file(),
        &lab,
        &home.0,
        &["run", "--all", "--out", runs.to_str().unwrap()],
    );
    out.assert_status(3)
        .assert_stdout_contains("room: 1 of 3 benches passed")
        .assert_stderr_contains("(exit 3: `bench3`)");
    let table: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("bench "))
        .collect();
    let bench3 = table.iter().find(|l| l.starts_with("bench3 ")).unwrap();
    assert!(
        bench3.contains("✘ failed") && bench3.contains("bench3/A"),
        "{out}"
    );
}

/// Validates `file` against the schema `schema` (relative to the
/// repository) with Python's jsonschema (Debian's python3-jsonschema).
fn validate(file: &Path, schema: &str) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join(schema);
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
        ])
        .arg(file)
        .arg(&schema)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{} does not match {}:\n{}",
        file.display(),
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `labctl serve` in the background, killed when dropped; its URL.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(runs: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(labctl_bin())
            .arg("serve")
            .args(extra)
            .arg(runs)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("labctl serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve printed no URL: {first:?}"))
            .to_string();
        Serve { child, url }
    }

    /// `host:port`.
    fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request (the path sent as it is, unnormalised); the status,
/// the head and the body.
fn http(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head, all[split + 4..].to_vec())
}

#[test]
fn serve_needs_the_token_with_listen_and_keeps_inside_the_runs_directory() {
    let home = Scratch::new("serve-refusals");
    let runs = home.path("runs");
    let run = runs.join("20260101T000000Z-lab-bench1");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("report.html"), "<!DOCTYPE html><p>the report</p>").unwrap();
    std::fs::write(run.join("A-cap-A.pcap"), b"\xd4\xc3\xb2\xa1pcap").unwrap();
    std::fs::write(home.path("secret.txt"), "not for browsers").unwrap();
    std::os::unix::fs::symlink(home.path("secret.txt"), run.join("escape.txt")).unwrap();

    let serve = Serve::start(&runs, &["--listen", "127.0.0.1:0"]);
    let token = serve
        .url
        .split("token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no token in {}", serve.url))
        .to_string();
    assert_eq!(token.len(), 32, "{token}");
    let addr = serve.addr();
    let report = "/20260101T000000Z-lab-bench1/report.html";
    // Without the token, nothing: the page, a report, the events.
    for p in ["/", report, "/_/events", "/_/runs"] {
        let (code, _, _) = http(&addr, "GET", p, &[]);
        assert_eq!(code, 403, "{p}");
    }
    // One character changed (never to itself: a token may begin with `0`).
    let first = if token.starts_with('0') { '1' } else { '0' };
    let (code, _, _) = http(
        &addr,
        "GET",
        &format!("{report}?token={first}{}", &token[1..]),
        &[],
    );
    assert_eq!(code, 403, "a wrong token");
    // With it: the report, and a cookie for the page's own links.
    let (code, head, body) = http(&addr, "GET", &format!("{report}?token={token}"), &[]);
    assert_eq!(code, 200, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("the report"));
    assert!(
        head.contains(&format!(
            "labctl_token={token}; Path=/; HttpOnly; SameSite=Strict"
        )),
        "{head}"
    );
    let cookie = format!("Cookie: labctl_token={token}");
    let (code, _, _) = http(&addr, "GET", report, &[&cookie]);
    assert_eq!(code, 200);
    // A capture is a download.
    let (code, head, body) = http(
        &addr,
        "GET",
        "/20260101T000000Z-lab-bench1/A-cap-A.pcap",
        &[&cookie],
    );
    assert_eq!(code, 200);
    assert!(
        head.contains("attachment; filename=\"A-cap-A.pcap\""),
        "{head}"
    );
    assert_eq!(body, b"\xd4\xc3\xb2\xa1pcap");
    // Outside the runs directory: refused, however it is spelled.
    for p in [
        "/../secret.txt",
        "/20260101T000000Z-lab-bench1/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/20260101T000000Z-lab-bench1%2f..%2f..%2fsecret.txt",
        "/20260101T000000Z-lab-bench1/escape.txt",
    ] {
        let (code, head, body) = http(&addr, "GET", &format!("{p}?token={token}"), &[]);
        assert_eq!(code, 403, "{p}: {head}");
        assert!(
            !String::from_utf8_lossy(&body).contains("not for browsers"),
            "{p}"
        );
    }
    // Read-only.
    let (code, _, _) = http(&addr, "POST", &format!("/?token={token}"), &[]);
    assert_eq!(code, 405);
    drop(serve);

    // Without --listen: 127.0.0.1 and no token.
    let serve = Serve::start(&runs, &["--port", "0"]);
    assert!(serve.url.starts_with("http://127.0.0.1:"), "{}", serve.url);
    assert!(!serve.url.contains("token"));
    let (code, _, _) = http(&serve.addr(), "GET", report, &[]);
    assert_eq!(code, 200);
    let (code, _, _) = http(&serve.addr(), "GET", "/../secret.txt", &[]);
    assert_eq!(code, 403);
}

/// tests/browser's node modules (playwright-core), installed when missing.
fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Debian package npm)");
        assert!(st.success(), "npm install in tests/browser failed");
    }
    dir
}

#[test]
fn the_live_page_follows_a_room_in_chromium_without_a_reload() {
    let dir = browser_dir();
    ensure_programs();
    let room = TestBench::room(3);
    install_programs(&room);
    let home = Scratch::new("room-live");
    let lab = lab(&home, "1500ms");
    let runs = home.path("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let serve = Serve::start(&runs, &["--port", "0"]);
    let shot = home.path("page.png");
    let mut node = Command::new("node")
        .arg(dir.join("follow-room.js"))
        .arg(&serve.url)
        .arg("3")
        .arg(&shot)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (Debian package nodejs)");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a line from the browser").unwrap();
    assert_eq!(ready, "ready", "the page did not follow the server");

    // The page is up before the room runs.
    let out = labctl(
        room.hosts_file(),
        &lab,
        &home.0,
        &["run", "--all", "--out", runs.to_str().unwrap()],
    );
    out.assert_success();
    let deadline = Instant::now() + Duration::from_secs(200);
    let said = lines.next().expect("the page's states").unwrap();
    let _ = node.wait();
    assert!(Instant::now() < deadline);
    let v: serde_json::Value = serde_json::from_str(&said).unwrap();
    let seen = v["seen"].as_array().unwrap();
    let last = &v["last"];
    // Loaded once: the marker set after the load is still there.
    assert_eq!(last["marker"], "once", "the page was reloaded: {said}");
    // First no room at all, then the room's benches progressing, then all passed.
    assert_eq!(seen[0]["room"], "", "{said}");
    let progressing = seen.iter().any(|s| {
        s["outcome"] != "passed"
            && s["rows"].as_array().is_some_and(|rows| {
                rows.len() == 3
                    && rows.iter().any(|r| {
                        let cells = r["cells"].as_array().unwrap();
                        cells.iter().any(|c| c == "passed")
                            && cells.iter().any(|c| c == "running" || c == "pending")
                    })
            })
    });
    assert!(
        progressing,
        "the page never showed a bench part way: {said}"
    );
    assert_eq!(last["outcome"], "passed", "{said}");
    assert!(
        last["verdict"]
            .as_str()
            .unwrap()
            .contains("room: 3 of 3 benches passed"),
        "{said}"
    );
    let (rooms, benches) = dirs(&runs);
    assert_eq!(
        last["room"],
        rooms[0].file_name().unwrap().to_str().unwrap()
    );
    let rows = last["rows"].as_array().unwrap();
    for (r, b) in rows.iter().zip(&benches) {
        assert_eq!(r["outcome"], "passed");
        assert!(
            r["cells"].as_array().unwrap().iter().all(|c| c == "passed"),
            "{said}"
        );
        let href = format!("{}/report.html", b.file_name().unwrap().to_string_lossy());
        assert_eq!(r["report"], href.as_str());
        // Each bench's report is served.
        let (code, _, body) = http(&serve.addr(), "GET", &format!("/{href}"), &[]);
        assert_eq!(code, 200);
        assert!(String::from_utf8_lossy(&body).starts_with("<!DOCTYPE html>"));
    }
    let png = std::fs::metadata(&shot).expect("a screenshot").len();
    assert!(png > 10_000, "a blank screenshot? {png} bytes");
}

#[test]
fn on_a_terminal_each_bench_is_one_line_redrawn_in_place() {
    let room = TestBench::room(3);
    install_programs(&room);
    let home = Scratch::new("room-tty");
    let lab = lab(&home, "2s");
    let runs = home.path("runs");
    let rc = home.path("rc");
    let q = quote_path;
    let script = format!(
        "HOME={home} LABCTL_SSH_CONFIG=/dev/null {bin} --hosts {hosts} --lab {lab} run --all --out {runs}; echo $? > {rc}.tmp; mv {rc}.tmp {rc}; sleep 600",
        home = q(&home.0),
        bin = q(Path::new(labctl_bin())),
        hosts = q(room.hosts_file()),
        lab = q(&lab),
        runs = q(&runs),
        rc = q(&rc),
    );
    let tmux = Tmux::start(
        &format!("labctl-{}", room.name()),
        200,
        40,
        &["sh", "-c", &script],
    );
    // While the room runs: one line per bench, redrawn in place (never a
    // line per step); each bench is seen at its step while B waits in S.3.
    let mut in_s3 = [false; 3];
    let mut screens: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let end = loop {
        let s = tmux.screen();
        if s.contains("room: 3 of 3 benches passed") {
            break s;
        }
        assert!(Instant::now() < deadline, "the room never ended:\n{s}");
        if s.contains("────────────") {
            // The summary is being printed.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        screens.push(s.clone());
        if screens.len() > 6 {
            screens.remove(0);
        }
        let benches: Vec<&str> = s.lines().filter(|l| l.starts_with("bench")).collect();
        assert!(benches.len() <= 3, "more than a line per bench:\n{s}");
        assert!(!s.contains("PASS"), "a line per step on a terminal:\n{s}");
        for (n, seen) in in_s3.iter_mut().enumerate() {
            let line = format!("bench{} 2/3 ✔  ▸ S.3 B waits", n + 1);
            *seen |= benches.iter().any(|l| l.starts_with(&line));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        in_s3,
        [true; 3],
        "not every bench was seen in S.3; last screens:\n{}",
        screens.join("\n=====\n")
    );
    // The lines in place made way for the summary: a row per bench.
    assert_eq!(
        end.lines()
            .filter(|l| l.starts_with("bench") && l.contains("✔ passed"))
            .count(),
        3,
        "{end}"
    );
    assert!(!end.contains("▸"), "{end}");
    tmux.wait_for_file(&rc, Duration::from_secs(30));
    assert_eq!(read(&rc).trim(), "0");
}

#[test]
fn check_all_ends_with_the_rooms_summary_a_line_per_bench() {
    let room = TestBench::room(3);
    install_programs(&room);
    let home = Scratch::new("room-check");
    let lab = common::seed_lab();
    let fixed = labctl(
        room.hosts_file(),
        &lab,
        &home.0,
        &["check", "--all", "--fix"],
    );
    fixed
        .assert_success()
        .assert_stdout_contains("room: 3 of 3 benches passed");
    // bench2's B loses its link: its bench, and only it, is not ready.
    let down = room.exec_in("bench2/B", "ip link set eth0 down");
    assert!(down.status.success(), "{down:?}");
    let out = labctl(room.hosts_file(), &lab, &home.0, &["check", "--all"]);
    out.assert_status(1)
        .assert_stdout_contains("room: 2 of 3 benches passed (")
        // Off a terminal: a line per bench once its hosts are done, and every failure.
        .assert_stderr_contains("bench1: ✔ ready: all 45 checks passed")
        .assert_stderr_contains("✘ bench2/B link: eth0 is down")
        .assert_stderr_contains("bench2: ✘ not ready: ");
    let table: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("bench ") || !l.contains("first failure"))
        .collect();
    assert!(
        table[0]
            .split_whitespace()
            .eq(["bench", "outcome", "passed", "failed", "first", "failure"]),
        "{out}"
    );
    assert!(
        table[1].starts_with("bench1") && table[1].contains("✔ ready"),
        "{out}"
    );
    assert!(
        table[2].starts_with("bench2") && table[2].contains("✘ not ready"),
        "{out}"
    );
    assert!(
        table[2].contains("link") || table[2].contains("ping"),
        "{out}"
    );
    assert!(
        table[3].starts_with("bench3") && table[3].contains("✔ ready"),
        "{out}"
    );
    // The per-host lines of a single bench are not a room's.
    assert!(!out.stderr.contains("bench1/A: ✔ ready"), "{out}");
}
