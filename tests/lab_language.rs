//! Another lab in the lab file alone, on the virtual bench (real sshds):
//! one `[programs]` table mixes the hosts' own commands (`ping`, `ip`
//! through sudo) with a file the lab brings; every command a run uses is
//! looked for on every host it runs on before anything starts (a tool one
//! host lacks, a sudo the host refuses, a root program on a login without
//! root: each located at the program, naming the hosts, nothing created),
//! and `check` lists the commands and covers the sudo ones; evidence a
//! question declares that is absent says so.

mod common;
mod run_json_support;

use std::path::PathBuf;

use common::{
    assert_nothing_left, hosts_copy, lab_command as labctl, own_like_workdir, run_dir, workdir,
    Scratch, TestBench,
};
use run_json_support::read_json;
use serde_json::Value;

const HELLO: &str = "import socket\nprint('hello from', socket.gethostname(), flush=True)\n";

/// A lab of `programs` (a `[programs]` table) and `rest` (steps, questions).
fn lab(scratch: &Scratch, programs: &str, rest: &str) -> PathBuf {
    std::fs::create_dir_all(scratch.path("progs")).unwrap();
    scratch.write("progs/hello.py", HELLO);
    scratch.write(
        "lab.toml",
        &format!("[lab]\nname = \"mix\"\n\n{programs}\n{rest}"),
    )
}

const MIXED: &str = r#"[programs.hello]
files = ["progs/hello.py"]
run = ["python3", "{file}"]

[programs.pinger]
run = ["ping", "-n", "-c", "1"]

[programs.flush]
run = ["ip", "neigh", "flush", "nud", "all", "dev"]
sudo = true
"#;

const MIXED_STEPS: &str = r#"
[[step]]
id = "1"
title = "Addresses and labctl's tools"
hosts = ["A", "B"]
do = [{ configure = true }, { deploy = true }]

[[step]]
id = "2"
title = "B empties its ARP cache and pings A; hello on both"
hosts = ["B"]
needs = ["1"]
do = [
  { capture = "cap", filter = "arp or icmp" },
  { run = "flush", args = ["{iface}"] },
  { run = "pinger", args = ["{A.addr}"], match = " 1 received" },
  { run = "hello", on = ["A", "B"], match = "^hello from" },
  { stop = ["cap"] },
]

[[step]]
id = "3"
title = "B pings A again, nothing captures it"
hosts = ["B"]
needs = ["1"]
do = [{ run = "pinger", args = ["{A.addr}"] }]

[[question]]
id = "Q1"
text = "What did B send, and what did hello print?"
evidence = ["2"]
frames = [
  { capture = "cap", icmp = "echo-request", src = "B", dst = "A", expect = 1 },
  { capture = "cap", arp = "request", src = "B", dst = "A", expect = 1 },
]
output = { program = "hello", match = "^hello from", expect = 2 }
exit = { program = "pinger", on = "B", status = 0 }

[[question]]
id = "Q2"
text = "What did B send the second time?"
evidence = ["3"]
frames = { capture = "cap", icmp = "echo-request", src = "B" }

[[question]]
id = "Q3"
text = "Did hello run the second time?"
evidence = ["3"]
output = { program = "hello", match = "hello" }
"#;

#[test]
fn a_lab_mixes_system_tools_and_its_own_files_in_one_programs_table() {
    let bench = TestBench::up();
    let scratch = Scratch::new("lang-mixed");
    let lab = lab(&scratch, MIXED, MIXED_STEPS);
    // `plan`: each program its own command line; the root one through sudo.
    let plan = labctl(bench.hosts_file(), &lab).arg("plan").run();
    plan.assert_status(0)
        .assert_stdout_contains("$ lc_run 5 sudo -n ip neigh flush nud all dev eth0")
        .assert_stdout_contains("$ lc_run 5 ping -n -c 1 10.0.3.1")
        .assert_stdout_contains("$ lc_run 5 python3 /home/pi/labctl/bin/hello.py");
    // `check` lists the lab's commands where it runs them, and the root program's right.
    let check = labctl(bench.hosts_file(), &lab)
        .args(["check", "--json"])
        .env("HOME", scratch.0.as_os_str())
        .run();
    let v: Value = serde_json::from_str(check.stdout.lines().last().unwrap_or("")).unwrap();
    let detail = |host: &str, row: &str| -> String {
        let c = common::check_row(&v, 0, host, row);
        assert_eq!(c["status"], "pass", "{host} {row}: {c}");
        c["detail"].as_str().unwrap().to_string()
    };
    assert_eq!(detail("A", "tools"), "ip, ss, ping, tcpdump, python3");
    assert_eq!(detail("B", "tools"), "ip, ss, ping, tcpdump, python3");
    assert!(detail("B", "rights").ends_with("; the lab's `ip` as root"));
    assert!(
        !detail("A", "rights").contains("the lab's"),
        "flush runs on B only"
    );

    let out = scratch.path("runs");
    labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(&out)
        .run()
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 3 passed, 0 failed");
    assert_nothing_left(&bench);
    let dir = run_dir(&out);
    assert!(workdir(&bench, "A").join("bin/hello.py").is_file());
    let hello = std::fs::read_to_string(dir.join("A-2-hello.out")).unwrap();
    assert!(hello.contains("hello from A"), "{hello}");
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["bench"]["programs"]["set"], "lab");
    assert!(
        run["bench"]["programs"].get("interpreter").is_none(),
        "three commands: no one interpreter"
    );

    let answers = run["answers"].as_array().unwrap();
    let q1 = &answers[0];
    assert_eq!(
        (q1["answered"].as_bool(), q1["ok"].as_bool()),
        (Some(true), Some(true)),
        "{q1:#}"
    );
    let ev = &q1["facts"]["evidence"];
    assert_eq!(
        (ev[0]["count"].as_u64(), ev[1]["count"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(ev[2]["count"], 2, "hello on A and on B");
    assert_eq!(ev[3]["statuses"]["2/B"], 0);
    let text = q1["answer"].as_str().unwrap();
    assert!(
        text.contains("`hello from A`") && text.contains("`hello from B`"),
        "{text}"
    );
    assert!(
        text.contains("In step `2`, `pinger` on B exited with status 0"),
        "{text}"
    );
    let lines: Vec<&str> = q1["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert!(
        lines.contains(&"A-2-hello.out") && lines.contains(&"B-2-pinger.out"),
        "{lines:?}"
    );
    // Absent evidence says so: the capture stopped before step 3, hello did not run in it.
    for (q, why) in [
        (&answers[1], "Not answered: the evidence is absent: no capture `cap` of this run was analysed across step `3`."),
        (&answers[2], "Not answered: the evidence is absent: `hello` did not run in step `3`."),
    ] {
        assert_eq!((q["answered"].as_bool(), q["ok"].as_bool()), (Some(false), Some(false)), "{q:#}");
        assert_eq!(q["answer"], why);
    }
}

#[test]
fn a_missing_tool_on_one_host_is_located_before_anything_starts() {
    let bench = TestBench::up();
    let scratch = Scratch::new("lang-missing");
    // A tool only A has: its own /home/pi (the hosts share nothing else of it).
    let tool = workdir(&bench, "A").join("only-here");
    std::fs::write(&tool, "#!/bin/sh\necho here\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    own_like_workdir(&bench, "A", &tool);
    let programs = format!("{MIXED}\n[programs.only]\nrun = [\"/home/pi/labctl/only-here\"]\n");
    let rest = r#"
[[step]]
id = "1"
title = "Addresses and labctl's tools"
hosts = ["A", "B"]
do = [{ configure = true }, { deploy = true }]

[[step]]
id = "2"
title = "The tool on A and B, and ping"
hosts = ["A", "B"]
needs = ["1"]
do = [{ run = "only" }, { run = "pinger", args = ["{B.addr}"] }]
"#;
    let lab = lab(&scratch, &programs, rest);
    let out = scratch.path("runs");
    let refused = labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(&out)
        .run();
    refused.assert_status(2);
    // Located at the program's command, naming the one host that lacks it, and nothing else.
    let want = format!(
        "{}:16:8: program `only` runs `/home/pi/labctl/only-here`, which host `B` does not have",
        lab.display()
    );
    assert!(refused.stderr.contains(&want), "{want}\n{}", refused.stderr);
    assert!(
        refused.stderr.contains("1 input error; nothing was run"),
        "{}",
        refused.stderr
    );
    assert!(!out.exists(), "no run directory");
    for h in ["A", "B"] {
        assert!(
            !workdir(&bench, h).join("bin").exists(),
            "nothing deployed to {h}"
        );
    }
    // `check` says the same of B, in its tools row.
    let check = labctl(bench.hosts_file(), &lab)
        .args(["check"])
        .env("HOME", scratch.0.as_os_str())
        .run();
    assert!(
        check
            .stdout
            .contains("✘ B tools: missing: /home/pi/labctl/only-here"),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains("✘ A tools"), "{}", check.stdout);
}

#[test]
fn a_root_program_the_host_refuses_is_located_before_anything_starts() {
    // `pi` may sudo only `ip` and `tcpdump` (the sudoers line labctl suggests).
    let bench = TestBench::sudo_lab_only();
    let scratch = Scratch::new("lang-sudo");
    let programs = "[programs.sockets]\nrun = [\"ss\", \"-tan\"]\nsudo = true\n\n\
[programs.flush]\nrun = [\"ip\", \"neigh\", \"flush\", \"dev\"]\nsudo = true\n";
    let rest = r#"
[[step]]
id = "1"
title = "A's sockets, as root"
hosts = ["A"]
do = [{ run = "flush", args = ["{iface}"] }, { run = "sockets" }]
"#;
    let lab = lab(&scratch, programs, rest);
    let out = scratch.path("runs");
    let refused = labctl(bench.hosts_file(), &lab)
        .args(["run", "--out"])
        .arg(&out)
        .run();
    refused.assert_status(2);
    let want = format!(
        "{}:5:8: program `sockets` runs `ss` through `sudo -n`, which host `A` refuses (sudoers does not allow /usr/bin/ss)",
        lab.display()
    );
    assert!(refused.stderr.contains(&want), "{want}\n{}", refused.stderr);
    assert!(
        refused.stderr.contains("NOPASSWD: /usr/bin/ss"),
        "the sudoers line that allows it: {}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("`flush`"),
        "flush's `ip` is allowed: {}",
        refused.stderr
    );
    assert!(!out.exists(), "no run directory");
    // `check`'s rights row names it.
    let check = labctl(bench.hosts_file(), &lab)
        .args(["check"])
        .env("HOME", scratch.0.as_os_str())
        .run();
    assert!(
        check
            .stdout
            .contains("`sudo -n ss` (a program of the lab runs it as root) is refused on host `A`"),
        "{}",
        check.stdout
    );

    // A login without root and without `sudo = true`: located the same way.
    let hosts = hosts_copy(&bench, "no-sudo.toml", |t| {
        t.replace("sudo = true", "sudo = false")
    });
    let refused = labctl(&hosts, &lab).args(["run", "--out"]).arg(&out).run();
    refused.assert_status(2);
    for (line, program) in [(5, "sockets"), (9, "flush")] {
        let want = format!(
            "{}:{line}:8: program `{program}` runs as root (`sudo = true`), but host `A` logs in without root or `sudo = true`",
            lab.display()
        );
        assert!(refused.stderr.contains(&want), "{want}\n{}", refused.stderr);
    }
    assert!(!out.exists(), "no run directory");
}
