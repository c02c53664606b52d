//! Many hands on one bench, and a host that goes silent, on the virtual
//! bench (real sshds): a second `run`, a `check --fix`, a `deploy` or a `clean` while a
//! run holds the bench refuses with exit code 5 naming that run, and the run
//! passes untouched; a read-only `check` beside the run shows the bench in
//! use; after SIGKILL of the holder a new run takes the hold over with a
//! warning; a host made silent (`labctl testbed fault`: no FIN, no RST) is
//! named in `check` and in the middle of a step, the other hosts are
//! cleaned, and once restored it has nothing of the run left.

mod common;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, b_waits, install_programs, json_lines, labctl, registered, run_dir,
    workdir, Background, ExchangeLab, Labctl, RunOutput, Scratch, TestBench,
};
use labctl::testbed::proc::alive;

/// After the shared exchange ([`ExchangeLab`]) and B's wait ([`b_waits`]):
/// one more line.
const S4_ONE_MORE_LINE: &str = r#"
[[step]]
id = "S.4"
title = "one more line"
hosts = ["A", "B"]
needs = ["S.2"]
do = [
  { send = "client", lines = ["after"] },
  { expect = "client", match = "^Server> AFTER$" },
]
"#;

struct Setup {
    bench: TestBench,
    s: Scratch,
    home: PathBuf,
    lab: PathBuf,
}

impl Setup {
    /// A bench with the programs in place and the lab, whose S.3 waits `wait`.
    fn new(tag: &str, wait: &str) -> Setup {
        Setup::with_steps(tag, &(b_waits("a wait", wait) + S4_ONE_MORE_LINE))
    }

    /// A bench with the programs in place and the lab: the shared exchange,
    /// then `after_s2` (lab-file text of the steps after `S.2`).
    fn with_steps(tag: &str, after_s2: &str) -> Setup {
        let bench = TestBench::up();
        install_programs(&bench);
        let s = Scratch::new(&format!("holds-{tag}"));
        let home = s.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let text = ExchangeLab::new("holds").toml() + after_s2;
        let lab = s.write("lab.toml", &text);
        Setup {
            bench,
            s,
            home,
            lab,
        }
    }

    fn labctl<S: AsRef<OsStr>>(&self, args: &[S]) -> RunOutput {
        labctl(self.bench.hosts_file(), &self.lab, &self.home, args)
    }

    fn run_args(&self, out: &str) -> Vec<OsString> {
        vec!["run".into(), "--out".into(), self.s.path(out).into()]
    }

    fn run(&self, out: &str) -> RunOutput {
        self.labctl(&self.run_args(out))
    }

    fn start(&self, out: &str) -> Background {
        let mut v: Vec<OsString> = vec![
            "--hosts".into(),
            self.bench.hosts_file().into(),
            "--lab".into(),
            self.lab.clone().into(),
        ];
        v.extend(self.run_args(out));
        Background::start(&v, &self.home, &[])
    }

    /// The run id of the one run under `<scratch>/<out>`.
    fn run_id(&self, out: &str) -> String {
        run_dir(&self.s.path(out))
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn fault(&self, host: &str, what: &str) {
        Labctl::new()
            .args(["testbed", "fault", "--name", self.bench.name(), host, what])
            .run()
            .assert_success();
    }
}

/// The run in the background is in S.3 (its programs run on A and B).
fn in_s3(bg: &mut Background) {
    bg.wait_for("START  S.3", Duration::from_secs(90));
}

/// The background run passed all four steps.
#[track_caller]
fn passes(bg: Background) -> String {
    let (code, out, err) = bg.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "the first run passes untouched:\n{out}\n{err}");
    assert!(out.contains("PASSED: steps 4 passed, 0 failed"), "{out}");
    out
}

/// `out` refuses with exit 5 naming the run `id` that holds the bench.
#[track_caller]
fn refuses_naming(out: &RunOutput, id: &str) {
    out.assert_status(5)
        .assert_stderr_contains(&format!("is in use by labctl run `{id}` of "))
        .assert_stderr_contains("nothing was changed");
}

#[test]
fn two_runs_at_once_the_second_refuses_naming_the_first_which_passes_untouched() {
    let t = Setup::new("two", "4s");
    let mut first = t.start("first");
    in_s3(&mut first);
    let id = t.run_id("first");
    let second = t.run("second");
    refuses_naming(&second, &id);
    // A read-only check beside the run shows the bench in use by it.
    let check = t.labctl(&["check"]);
    check.assert_stdout_contains(&format!("bench in use by labctl run `{id}`"));
    assert!(
        !check.stdout.contains("✘ A lab port"),
        "the run's own programs do not fail the lab-port check:\n{check}"
    );
    passes(first);
    assert_nothing_left(&t.bench);
    // Nothing of the refused run reached a host.
    let refused = run_dir(&t.s.path("second"));
    let refused_id = refused.file_name().unwrap().to_owned();
    for h in ["A", "B", "C"] {
        assert!(
            !workdir(&t.bench, h).join("runs").join(&refused_id).exists(),
            "the refused run left its directory on {h}"
        );
        gone(&workdir(&t.bench, h).join("lock"));
    }
}

#[test]
fn run_and_check_fix_at_once_the_fix_refuses_and_changes_nothing() {
    let t = Setup::new("fix", "12s");
    let mut first = t.start("first");
    in_s3(&mut first);
    let id = t.run_id("first");
    let fix = t.labctl(&["check", "--fix"]);
    refuses_naming(&fix, &id);
    assert!(!fix.stdout.contains("stopped stale lab programs"), "{fix}");
    assert_eq!(
        registered(&t.bench).len(),
        2,
        "the run's programs still run"
    );
    passes(first);
}

#[test]
fn clean_during_another_labctls_run_refuses_and_stops_nothing() {
    let t = Setup::new("clean", "4s");
    let mut first = t.start("first");
    in_s3(&mut first);
    let id = t.run_id("first");
    let clean = t.labctl(&["clean"]);
    refuses_naming(&clean, &id);
    assert_eq!(
        registered(&t.bench).len(),
        2,
        "the run's programs still run"
    );
    passes(first);
    assert_nothing_left(&t.bench);
}

#[test]
fn deploy_during_another_labctls_run_refuses_and_uploads_nothing() {
    let t = Setup::new("deploy", "4s");
    let mut first = t.start("first");
    in_s3(&mut first);
    let id = t.run_id("first");
    let deploy = t.labctl(&["deploy"]);
    refuses_naming(&deploy, &id);
    assert!(!deploy.stdout.contains("uploaded"), "{deploy}");
    passes(first);
    assert_nothing_left(&t.bench);
}

/// `path` (a host's hold) is gone, or goes within a few seconds (its agent's last act).
#[track_caller]
fn gone(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} is still there",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid of the run's agent on `host` (first word of `.agent`).
fn agent_pid(bench: &TestBench, host: &str) -> i32 {
    let runs = workdir(bench, host).join("runs");
    for d in std::fs::read_dir(&runs).unwrap().flatten() {
        if let Ok(t) = std::fs::read_to_string(d.path().join(".agent")) {
            return t.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    panic!("no agent recorded under {}", runs.display());
}

#[test]
fn after_sigkill_of_the_holder_a_new_run_takes_the_hold_over_with_a_warning() {
    let t = Setup::new("takeover", "60s");
    let mut first = t.start("first");
    in_s3(&mut first);
    let id = t.run_id("first");
    // Freeze the agents (they cannot end the hold themselves), then kill labctl.
    let agents = [agent_pid(&t.bench, "A"), agent_pid(&t.bench, "B")];
    for a in agents {
        // SAFETY: kill(2) on the agents of this test's own bench.
        unsafe { libc::kill(a, libc::SIGSTOP) };
    }
    first.signal(libc::SIGKILL);
    let (code, _, _) = first.finish(Duration::from_secs(30));
    assert_eq!(code, 128 + libc::SIGKILL);
    let second = t.labctl(&[
        OsString::from("run"),
        "--step".into(),
        "S.2".into(),
        "--out".into(),
        t.s.path("second").into(),
    ]);
    for a in agents {
        // SAFETY: as above; they read end-of-input and exit.
        unsafe { libc::kill(a, libc::SIGCONT) };
    }
    second
        .assert_success()
        .assert_stdout_contains(&format!("took over the hold of labctl run `{id}` of "))
        .assert_stdout_contains("stopped what an earlier run left");
    assert_nothing_left(&t.bench);
    let deadline = Instant::now() + Duration::from_secs(10);
    while agents.iter().any(|a| alive(*a as u32)) {
        assert!(Instant::now() < deadline, "the frozen agents ended");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_silent_host_during_check_is_named() {
    let t = Setup::new("check-silent", "1s");
    t.fault("B", "silent");
    let out = t.labctl(&["check"]);
    t.fault("B", "restore");
    assert_ne!(out.status, 0, "{out}");
    out.assert_stdout_contains("✘ B ssh: no ssh handshake within");
    // While it waited, the terminal said so (plain lines off a terminal).
    out.assert_stderr_contains("B: no answer for 3 s");
    // Back, it answers again.
    t.labctl(&["check"]).assert_stdout_lacks("no ssh handshake");
}

/// Starts the run, silences B once it is in S.3 and waits for the run to
/// stop: exit 3, the error naming step and host, and A cleaned while B is
/// still silent. Returns the run's stdout and stderr, and its directory.
fn run_until_b_is_given_up(t: &Setup) -> (String, String, std::path::PathBuf) {
    let mut bg = t.start("runs");
    in_s3(&mut bg);
    t.fault("B", "silent");
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("step `S.3`: host `B` (127.0.0.1:"), "{err}");
    assert!(err.contains("no answer for"), "{err}");
    let on_a: Vec<String> = registered(&t.bench)
        .into_iter()
        .filter(|g| g.starts_with("A/"))
        .collect();
    assert!(on_a.is_empty(), "left on A: {on_a:#?}");
    let dir = run_dir(&t.s.path("runs"));
    let steps = json_lines(&dir.join("steps.jsonl"));
    let last = steps.last().unwrap();
    assert_eq!(last["id"], "S.3", "{steps:#?}");
    assert_eq!(last["outcome"], "failed", "{steps:#?}");
    (out, err, dir)
}

#[test]
fn a_host_silent_in_the_middle_of_a_step_is_named_the_others_are_cleaned_and_it_cleans_itself() {
    let t = Setup::new("step-silent", "60s");
    let (out, _, dir) = run_until_b_is_given_up(&t);
    assert!(
        out.contains("no answer for"),
        "the terminal said B was slow:\n{out}"
    );
    // What was gathered is kept.
    assert!(std::fs::read_to_string(dir.join("B-client.out"))
        .unwrap()
        .contains("Server> BEFORE"));
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("no answer for"));
    // Back, B's agent finds its channel dead and stops its programs itself.
    t.fault("B", "restore");
    assert_nothing_left(&t.bench);
    gone(&workdir(&t.bench, "B").join("lock"));
}

/// After the exchange, a step on A alone that waits ten minutes: B has
/// nothing to do in it.
const A_WAITS_B_IDLE: &str = r#"
[[step]]
id = "S.3"
title = "A waits, B is idle"
hosts = ["A"]
needs = ["S.2"]
do = [{ expect = "server", absent = "nothing", for = "600s" }]
"#;

#[test]
fn a_host_silent_while_idle_in_a_step_stops_the_run_naming_step_and_host() {
    let t = Setup::with_steps("idle-silent", A_WAITS_B_IDLE);
    // Long before A's ten-minute window ends, B's silence stops the run, and
    // A, busy in S.3, is stopped and cleaned.
    run_until_b_is_given_up(&t);
    // Back, B's agent finds its channel dead and stops its programs itself.
    t.fault("B", "restore");
    assert_nothing_left(&t.bench);
}
