//! Program sets on the virtual bench (real sshds): the whole seed lab passes
//! with `--programs python` (every expectation, and the report's answers,
//! with the set and python3's version in the report); a lab with its own
//! `[programs]` table (a Python echo pair) runs; an unknown set, a missing
//! program file and a missing interpreter are located errors before
//! anything starts.

mod common;
mod run_json_support;

use std::path::{Path, PathBuf};

use common::{assert_nothing_left, ensure_programs, run_dir, workdir, Labctl, Scratch, TestBench};
use run_json_support::{assert_matches_schema, read_json};

use common::seed_lab;

fn labctl(hosts: &Path, lab: &Path) -> Labctl {
    ensure_programs();
    common::lab_command(hosts, lab)
}

#[test]
fn the_whole_seed_lab_passes_with_the_python_programs() {
    let bench = TestBench::up();
    let out = Scratch::new("sets-python");
    labctl(bench.hosts_file(), &seed_lab())
        .args(["run", "--programs", "python", "--out"])
        .arg(&out.0)
        .run()
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
    assert_nothing_left(&bench);
    let dir = run_dir(&out.0);

    // The Python files went to the hosts, and they are what ran.
    for h in ["A", "B", "C"] {
        let bin = workdir(&bench, h).join("bin");
        for f in [
            "labsock.py",
            "tcp_server.py",
            "udp_client.py",
            "labctl-stamp",
        ] {
            assert!(bin.join(f).is_file(), "host {h} has {f}");
        }
    }
    let plan = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    assert!(plan.contains("python3"), "the plan runs python3");
    assert!(
        plan.contains("/bin/tcp_server.py"),
        "the plan runs tcp_server.py"
    );
    let server = std::fs::read_to_string(dir.join("A-server.out")).unwrap();
    assert!(server.contains("TCP server started"), "{server}");

    // run.json: the set, python3's version on each host, every answer right.
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["run"]["outcome"], "passed");
    let programs = &run["bench"]["programs"];
    assert_eq!(programs["set"], "python", "{programs}");
    assert_eq!(programs["interpreter"], "python3", "{programs}");
    for h in ["A", "B", "C"] {
        let v = programs["versions"][h].as_str().unwrap_or_default();
        assert!(v.starts_with("Python 3."), "host {h}: {programs}");
    }
    // The handout's nine questions, each answered as the lab expects.
    let answers = run["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 9, "{answers:#?}");
    for a in answers {
        assert_eq!(a["ok"], true, "{a}");
    }
    assert_matches_schema(&dir.join("run.json"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("Programs: set `python`, run with `python3` (A: Python 3."),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("Programs: set `python`"),
        "report.html names the set"
    );
}

/// A lab with its own programs: a Python upper-casing echo pair over TCP.
const ECHO_SERVER: &str = r#""""echo_server: answers each line upper-cased, one client."""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
print("echo listening on", sys.argv[1], flush=True)
c, a = s.accept()
print("client", a[0], flush=True)
for line in c.makefile("rb"):
    print("got", line.decode().strip(), flush=True)
    c.sendall(line.upper())
"#;

const ECHO_CLIENT: &str = r#""""echo_client: sends stdin's lines, prints the replies."""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
replies = c.makefile("rb")
for line in sys.stdin:
    c.sendall(line.encode())
    print("reply", replies.readline().decode().strip(), flush=True)
"#;

fn echo_lab(scratch: &Scratch, programs: &str) -> PathBuf {
    std::fs::create_dir_all(scratch.path("progs")).unwrap();
    scratch.write("progs/echo_server.py", ECHO_SERVER);
    scratch.write("progs/echo_client.py", ECHO_CLIENT);
    scratch.write(
        "echo.toml",
        &format!(
            r#"[lab]
name = "echo"

[vars]
port = 50007

{programs}

[[step]]
id = "1"
title = "Addresses and programs"
hosts = ["A", "B"]
do = [{{ configure = true }}, {{ deploy = true }}]

[[step]]
id = "2"
title = "The echo pair talks"
hosts = ["A", "B"]
needs = ["1"]
do = [
  {{ start = "server", on = "A", program = "echo_server", args = ["{{port}}"] }},
  {{ expect = "server", match = "echo listening on {{port}}" }},
  {{ start = "client", on = "B", program = "echo_client", args = ["{{A.addr}}", "{{port}}"] }},
  {{ expect = "server", match = "client {{B.addr}}" }},
  {{ send = "client", lines = ["hello echo"] }},
  {{ expect = "client", match = "^reply HELLO ECHO$" }},
  {{ expect = "server", match = "^got hello echo$" }},
  {{ stop = ["client", "server"] }},
]
"#
        ),
    )
}

const ECHO_PROGRAMS: &str = r#"[programs.echo_server]
files = ["progs/echo_server.py"]
run = ["python3", "{file}"]

[programs.echo_client]
files = ["progs/echo_client.py"]
run = ["python3", "{file}"]"#;

#[test]
fn a_lab_with_its_own_programs_runs_them() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sets-own");
    let lab = echo_lab(&scratch, ECHO_PROGRAMS);
    // `plan` shows the lab's own command lines.
    labctl(bench.hosts_file(), &lab)
        .arg("plan")
        .run()
        .assert_status(0)
        .assert_stdout_contains("start `server`: echo_server 50007");
    let out = scratch.path("runs");
    labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(&out)
        .run()
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 2 passed, 0 failed");
    assert_nothing_left(&bench);
    let bin = workdir(&bench, "B").join("bin");
    assert_eq!(
        std::fs::read_to_string(bin.join("echo_client.py")).unwrap(),
        ECHO_CLIENT
    );
    let run = read_json(&run_dir(&out).join("run.json"));
    assert_eq!(run["bench"]["programs"]["set"], "lab");
    assert_eq!(run["bench"]["programs"]["interpreter"], "python3");
    // The seed lab's sets do not have the lab's programs: located, per action.
    let wrong = labctl(bench.hosts_file(), &lab)
        .args(["plan", "--programs", "python"])
        .run();
    wrong.assert_status(2).assert_stderr_contains(
        "step `2` runs `echo_server`, which program set `python` does not have",
    );
    assert!(wrong.stderr.contains("echo.toml:"), "{}", wrong.stderr);
}

#[test]
fn an_unknown_set_is_refused_before_anything_starts() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sets-unknown");
    let out = scratch.path("runs");
    labctl(bench.hosts_file(), &seed_lab())
        .args(["run", "--programs", "perl", "--out"])
        .arg(&out)
        .run()
        .assert_status(2)
        .assert_stderr_contains("unknown program set `perl`")
        .assert_stderr_contains("`rust`, `python`");
    assert!(!out.exists(), "no run directory for a refused run");
    // In hosts.toml: located there.
    let text = std::fs::read_to_string(bench.hosts_file()).unwrap();
    let hosts = scratch.write("hosts.toml", &format!("programs = \"perl\"\n{text}"));
    let refused = labctl(&hosts, &seed_lab())
        .args(["run", "--out"])
        .arg(&out)
        .run();
    refused
        .assert_status(2)
        .assert_stderr_contains("unknown program set `perl`");
    let at = format!("{}:1:12", hosts.display());
    assert!(refused.stderr.contains(&at), "{at}: {}", refused.stderr);
    assert!(!out.exists(), "no run directory for a refused run");
    // `programs = "python"` there chooses the set.
    let hosts = scratch.write("hosts-py.toml", &format!("programs = \"python\"\n{text}"));
    labctl(&hosts, &seed_lab())
        .args(["plan", "--step", "I.6"])
        .run()
        .assert_status(0)
        .assert_stdout_contains("tcp_server.py");
}

#[test]
fn a_missing_program_file_is_located_in_the_lab() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sets-nofile");
    let lab = echo_lab(
        &scratch,
        &ECHO_PROGRAMS.replace("progs/echo_client.py", "progs/nowhere.py"),
    );
    let out = labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(scratch.path("runs"))
        .run();
    out.assert_status(2)
        .assert_stderr_contains("program file `")
        .assert_stderr_contains("nowhere.py` cannot be read")
        .assert_stderr_contains("relative to the lab file");
    let at = format!("{}:12:10", lab.display());
    assert!(out.stderr.contains(&at), "{at}: {}", out.stderr);
    assert!(!scratch.path("runs").exists());
}

#[test]
fn a_missing_interpreter_is_located_before_anything_starts() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sets-nointerp");
    let lab = echo_lab(
        &scratch,
        &ECHO_PROGRAMS.replace("\"python3\"", "\"python3-none-such\""),
    );
    let out = labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(scratch.path("runs"))
        .run();
    // Each program that needs it, located at its command, with the hosts it runs on.
    out.assert_status(2);
    for (line, program, host) in [(9, "echo_server", "A"), (13, "echo_client", "B")] {
        let want = format!(
            "{}:{line}:8: program `{program}` runs `python3-none-such`, which host `{host}` does not have",
            lab.display()
        );
        assert!(out.stderr.contains(&want), "{want}: {}", out.stderr);
    }
    assert!(!scratch.path("runs").exists(), "nothing was created");
    for h in ["A", "B"] {
        assert!(
            !workdir(&bench, h)
                .join("bin")
                .join("echo_server.py")
                .exists(),
            "nothing was deployed to {h}"
        );
    }
}

/// One check's result for `host` in `check --json` output.
fn check_of(v: &serde_json::Value, host: &str, check: &str) -> (String, String) {
    let c = common::check_row(v, 0, host, check);
    (
        c["status"].as_str().unwrap().to_string(),
        c["detail"].as_str().unwrap().to_string(),
    )
}

#[test]
fn check_names_the_interpreter_and_deploys_the_set() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sets-check");
    let check = |lab: &Path, args: &[&str]| {
        labctl(bench.hosts_file(), lab)
            .arg("check")
            .args(args)
            .env("HOME", scratch.0.as_os_str())
            .run()
    };
    // The Python set: python3 and its version among the tools; --fix deploys
    // the .py files, and then everything passes.
    let fixed = check(&seed_lab(), &["--programs", "python", "--fix"]);
    fixed.assert_status(0).assert_stdout_contains("labsock.py");
    let out = check(&seed_lab(), &["--programs", "python", "--json"]);
    out.assert_status(0);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap_or("")).unwrap();
    for h in ["A", "B", "C"] {
        let (status, detail) = check_of(&v, h, "tools");
        assert_eq!(status, "pass", "{h}: {detail}");
        assert!(detail.contains(", python3 (Python 3."), "{h}: {detail}");
        let (status, detail) = check_of(&v, h, "programs");
        assert_eq!(status, "pass", "{h}: {detail}");
        assert!(workdir(&bench, h).join("bin/tcp_server.py").is_file());
    }
    // The rust set does not ask for python3.
    let out = check(&seed_lab(), &["--json"]);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap_or("")).unwrap();
    let (_, detail) = check_of(&v, "A", "tools");
    assert!(!detail.contains("python3"), "{detail}");
    // A lab's own set whose interpreter the hosts lack: `tools` fails naming it.
    let lab = echo_lab(
        &scratch,
        &ECHO_PROGRAMS.replace("\"python3\"", "\"python3-none-such\""),
    );
    let out = check(&lab, &["--programs", "lab", "--json"]);
    out.assert_status(1);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap_or("")).unwrap();
    let (status, detail) = check_of(&v, "A", "tools");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("missing: python3-none-such"), "{detail}");
}
