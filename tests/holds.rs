//! Many hands on one bench, and a host that goes silent, on the virtual
//! bench (real sshds): a second `run`, a `check --fix`, a `deploy` or a `clean` while a
//! run holds the bench refuses with exit code 5 naming that run, and the run
//! passes untouched; a read-only `check` beside the run shows the bench in
//! use; after SIGKILL of the holder a new run takes the hold over with a
//! warning; a host made silent (`labctl testbed fault`: no FIN, no RST) is
//! named in `check` and in the middle of a step, the other hosts are
//! cleaned, and once restored it has nothing of the run left.

mod common;
mod run_json_support;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use common::{
    agent_pid, assert_nothing_left, b_waits, hosts_copy, json_lines, lab_processes, labctl,
    registered, run_dir, workdir, Background, ExchangeLab, LabSetup, Labctl, RunOutput,
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

/// A bench with the programs in place and the lab, whose S.3 waits `wait`.
fn setup(tag: &str, wait: &str) -> LabSetup {
    setup_with_steps(tag, &(b_waits("a wait", wait) + S4_ONE_MORE_LINE))
}

/// A bench with the programs in place and the lab: the shared exchange,
/// then `after_s2` (lab-file text of the steps after `S.2`).
fn setup_with_steps(tag: &str, after_s2: &str) -> LabSetup {
    LabSetup::new(
        &format!("holds-{tag}"),
        &(ExchangeLab::new("holds").toml() + after_s2),
    )
}

/// `labctl testbed fault` on the setup's bench.
fn fault(t: &LabSetup, host: &str, what: &str) {
    Labctl::new()
        .args(["testbed", "fault", "--name", t.bench.name(), host, what])
        .run()
        .assert_success();
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
    // S.3 lasts long enough for a refused run and a check beside it on a loaded machine.
    let t = setup("two", "10s");
    let mut first = t.start("first", &[]);
    in_s3(&mut first);
    let id = t.run_id("first");
    let second = t.run("second", &[]);
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
    // Nothing of the refused run is left, here (no run directory) or on a host.
    assert_no_run_dir(&t.s.path("second"));
    for h in ["A", "B", "C"] {
        let runs = workdir(&t.bench, h).join("runs");
        let left: Vec<_> = std::fs::read_dir(&runs)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left on {h}: {left:?}");
        gone(&workdir(&t.bench, h).join("lock"));
    }
}

/// A refused run left no run directory under `out`.
#[track_caller]
fn assert_no_run_dir(out: &std::path::Path) {
    let left: Vec<_> = std::fs::read_dir(out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the refused run left {left:?}");
}

#[test]
fn a_refused_run_is_one_json_line_and_leaves_no_run_directory() {
    let t = setup("refused-json", "4s");
    let mut first = t.start("first", &[]);
    in_s3(&mut first);
    let id = t.run_id("first");
    let out = t.labctl(&[
        OsString::from("run"),
        "--json".into(),
        "--out".into(),
        t.s.path("second").into(),
    ]);
    out.assert_status(5);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["event"], "run_refused");
    assert_eq!(lines[0]["exit_code"], 5);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("labctl run `{id}`")),
        "{out}"
    );
    if let Err(said) = run_json_support::lines_schema_errors(&out.stdout) {
        panic!("the line does not match docs/events-json-schema.json:\n{said}");
    }
    assert_no_run_dir(&t.s.path("second"));
    passes(first);
}

#[test]
fn run_and_check_fix_at_once_the_fix_refuses_and_changes_nothing() {
    let t = setup("fix", "12s");
    let mut first = t.start("first", &[]);
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
    let t = setup("clean", "4s");
    let mut first = t.start("first", &[]);
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
    let t = setup("deploy", "4s");
    let mut first = t.start("first", &[]);
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

#[test]
fn after_sigkill_of_the_holder_a_new_run_takes_the_hold_over_with_a_warning() {
    let t = setup("takeover", "60s");
    let mut first = t.start("first", &[]);
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
    let t = setup("check-silent", "1s");
    fault(&t, "B", "silent");
    let out = t.labctl(&["check"]);
    fault(&t, "B", "restore");
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
fn run_until_b_is_given_up(t: &LabSetup) -> (String, String, std::path::PathBuf) {
    let mut bg = t.start("runs", &[]);
    in_s3(&mut bg);
    fault(t, "B", "silent");
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
    let t = setup("step-silent", "60s");
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
    fault(&t, "B", "restore");
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
    let t = setup_with_steps("idle-silent", A_WAITS_B_IDLE);
    // Long before A's ten-minute window ends, B's silence stops the run, and
    // A, busy in S.3, is stopped and cleaned.
    run_until_b_is_given_up(&t);
    // Back, B's agent finds its channel dead and stops its programs itself.
    fault(&t, "B", "restore");
    assert_nothing_left(&t.bench);
}

/// The run's local directory and its `run.json`'s outcome.
fn outcome(dir: &std::path::Path) -> String {
    let run = run_json_support::read_json(&dir.join("run.json"));
    run["run"]["outcome"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_sleeping_labctl_is_refused_named_then_taken_over_with_take_over_and_ends_with_5_touching_nothing(
) {
    let t = setup("asleep", "8s");
    let mut first = t.start("first", &[]);
    in_s3(&mut first);
    let id = t.run_id("first");
    // A closed lid: labctl stops; its programs and agents on A and B run on.
    first.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    // At once it is still live: refused, even with --take-over.
    let early = t.labctl(&[
        OsString::from("run"),
        "--take-over".into(),
        "--out".into(),
        t.s.path("early").into(),
    ]);
    refuses_naming(&early, &id);
    early.assert_stderr_contains("a labctl that answers is never taken over");
    std::thread::sleep(Duration::from_secs(12).saturating_sub(stopped.elapsed()));
    // Stale now: named with its silence, refused without the flag.
    let refused = t.run("refused", &[]);
    refuses_naming(&refused, &id);
    refused
        .assert_stderr_contains("has not answered for 1")
        .assert_stderr_contains("its labctl may be asleep or cut off")
        .assert_stderr_contains("rerun with `--take-over`");
    let check = t.labctl(&["check"]);
    check.assert_stdout_contains("has not answered for");
    assert_eq!(
        registered(&t.bench).len(),
        2,
        "the stale run's programs still run"
    );
    // Taken over with it: the stale run's programs stopped, the new run under way.
    let mut second = Background::start(
        &[
            OsString::from("--hosts"),
            t.bench.hosts_file().into(),
            "--lab".into(),
            t.lab.clone().into(),
            "run".into(),
            "--take-over".into(),
            "--out".into(),
            t.s.path("second").into(),
        ],
        &t.home,
        &[],
    );
    second.wait_for(
        &format!("took the bench over from labctl run `{id}` of "),
        Duration::from_secs(60),
    );
    in_s3(&mut second);
    let id2 = t.run_id("second");
    let mut theirs = registered(&t.bench);
    theirs.sort();
    // The first labctl wakes: its hold is gone, it ends at once naming who took it.
    let woke = Instant::now();
    first.signal(libc::SIGCONT);
    let (code, out, err) = first.finish(Duration::from_secs(30));
    assert_eq!(code, 5, "{out}\n{err}");
    assert!(
        woke.elapsed() < Duration::from_secs(5),
        "it ended at once: {:?}",
        woke.elapsed()
    );
    assert!(
        err.contains(&format!(
            "the bench was taken over by labctl run `{id2}` of "
        )),
        "{err}"
    );
    assert!(
        err.contains("after this labctl had not answered for"),
        "{err}"
    );
    // Its run directory is kept, and says why it ended.
    let dir = run_dir(&t.s.path("first"));
    assert_eq!(outcome(&dir), "failed");
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("taken over by"));
    // Nothing of the second run was touched: its programs still run, and it passes.
    let mut now = registered(&t.bench);
    now.sort();
    assert_eq!(now, theirs, "the new run's programs are as they were");
    passes(second);
    assert_nothing_left(&t.bench);
    // No run refused on the way left a run directory.
    for out in ["early", "refused"] {
        assert_no_run_dir(&t.s.path(out));
    }
}

/// Runs `call` (lib.sh and hold.sh functions) as `host` would: in its
/// sshd's mount namespace (where its workdir is `/home/pi/labctl`), as root.
fn on_host(t: &LabSetup, host: &str, call: &str) -> String {
    let w = labctl::testbed::login::workdir(labctl::testbed::login::USER);
    let script = format!(
        "S=; P={w}/procs; D={w}/runs/-; RUN=; K={w}/bin\n{}{call}\n",
        labctl::remote::lib()
    );
    let out = std::process::Command::new("nsenter")
        .args([
            "-t",
            &t.bench.sshd_pid(host).to_string(),
            "-m",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops every packet to or from sshd's port inside `host`'s namespace
/// (nftables; the namespace and its rules go with the bench), or lets them pass again.
fn drop_ssh(t: &LabSetup, host: &str, drop: bool) {
    let cmd = if drop {
        "nft add table inet labctl-test && \
         nft add chain inet labctl-test in '{ type filter hook input priority 0; }' && \
         nft add rule inet labctl-test in tcp dport 22 drop && \
         nft add rule inet labctl-test in tcp sport 22 drop"
    } else {
        "nft delete table inet labctl-test"
    };
    let out = t.bench.exec_in(host, cmd);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_controller_whose_packets_are_dropped_inside_the_host_is_stale_within_15_s() {
    let t = setup("dropped", "60s");
    let mut first = t.start("first", &[]);
    in_s3(&mut first);
    let id = t.run_id("first");
    // Heard: a hold with its silence known, under a second.
    let held = on_host(&t, "B", "lc_held");
    assert!(held.contains(&format!("run={id}")), "{held}");
    assert!(
        held.contains("silent=0") || held.contains("silent=1\n"),
        "{held}"
    );
    drop_ssh(&t, "B", true);
    let dropped = Instant::now();
    let stale = loop {
        let held = on_host(&t, "B", "lc_held");
        let silent: u64 = held
            .lines()
            .find_map(|l| l.strip_prefix("silent="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if silent >= labctl::hold::STALE_SECS {
            break dropped.elapsed();
        }
        assert!(
            dropped.elapsed() < Duration::from_secs(30),
            "never stale: {held}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(stale <= Duration::from_secs(15), "stale after {stale:?}");
    // labctl gave up on B meanwhile (exit 3); B's agent and programs still run, stale.
    let (code, out, err) = first.finish(Duration::from_secs(60));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        registered(&t.bench).iter().any(|g| g.starts_with("B/")),
        "the stale run's programs keep running on B"
    );
    // The packets pass again: the host reads labctl's end, and stops the run itself.
    drop_ssh(&t, "B", false);
    assert_nothing_left(&t.bench);
}

/// This machine's uptime in seconds (the hosts of a virtual bench share its
/// kernel: their `/proc/uptime` is this one).
fn uptime() -> f64 {
    let s = std::fs::read_to_string("/proc/uptime").unwrap();
    s.split(' ').next().unwrap().parse().unwrap()
}

/// The run's processes and registered groups still on `host` (its namespace's).
fn left_on(t: &LabSetup, host: &str) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let ino = labctl::testbed::netns::inode(&t.bench.host(host).netns).unwrap();
    let mut v: Vec<String> = lab_processes(&t.bench)
        .into_iter()
        .filter(|p| {
            let pid = p.split(' ').next().unwrap();
            std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == ino)
        })
        .collect();
    v.extend(
        registered(&t.bench)
            .into_iter()
            .filter(|g| g.starts_with(&format!("{host}/"))),
    );
    v
}

/// Waits up to `within` for nothing of the run to be left on `host`; how long it took.
#[track_caller]
fn nothing_left_on(t: &LabSetup, host: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let left = left_on(t, host);
        if left.is_empty() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "left on {host} after {within:?}: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_agent_ends_the_run_with_3_within_seconds_and_its_host_stops_the_runs_programs() {
    let t = setup("agent-killed", "60s");
    let mut first = t.start("first", &[]);
    in_s3(&mut first);
    assert!(!left_on(&t, "B").is_empty(), "the run's programs run on B");
    let agent = agent_pid(&t.bench, "B");
    // SAFETY: kill(2) on the agent of this test's own bench.
    unsafe { libc::kill(agent, libc::SIGKILL) };
    let killed = Instant::now();
    // Within 5 s nothing of the run is left on B: its watchdog stopped it.
    let gone = nothing_left_on(&t, "B", Duration::from_secs(5));
    let (code, out, err) = first.finish(Duration::from_secs(30));
    let ended = killed.elapsed();
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("step `S.3`: host `B` (127.0.0.1:"), "{err}");
    assert!(
        err.contains(&format!("its agent (pid {agent}) ended")),
        "{err}"
    );
    // Seen at once: the run ended long before its 60 s window (the other hosts cleaned too).
    assert!(
        ended < Duration::from_secs(8),
        "labctl ended {ended:?} after the kill"
    );
    eprintln!("B cleaned {gone:?} after the kill; labctl ended after {ended:?}");
    assert_nothing_left(&t.bench);
}

#[test]
fn a_controller_gone_silently_is_ended_by_the_host_after_orphaned_after_and_the_next_command_names_it(
) {
    let t = setup("orphaned", "120s");
    let hosts = hosts_copy(&t.bench, "hosts-orphaned.toml", |text| {
        format!("orphaned_after = \"15s\"\n{text}")
    });
    let mut first = Background::start(
        &[
            OsString::from("--hosts"),
            hosts.clone().into(),
            "--lab".into(),
            t.lab.clone().into(),
            "run".into(),
            "--out".into(),
            t.s.path("first").into(),
        ],
        &t.home,
        &[],
    );
    in_s3(&mut first);
    let id = t.run_id("first");
    drop_ssh(&t, "B", true);
    let dropped = Instant::now();
    // labctl gives B up after 8 s of silence; B, hearing nothing for 15 s, ends the run itself.
    let (code, out, err) = first.finish(Duration::from_secs(60));
    assert_eq!(code, 3, "{out}\n{err}");
    let gone = nothing_left_on(&t, "B", Duration::from_secs(40));
    let up_gone = uptime();
    let after = dropped.elapsed();
    assert!(
        after < Duration::from_secs(30),
        "ended {after:?} after the drop ({gone:?} waited)"
    );
    // Not before the grace, counted as B's watchdog counts it: from the last
    // tick B heard (its `.seen`: the whole seconds of B's uptime then, which
    // may be after the drop: a tick was on its way), not from the drop.
    let dir = workdir(&t.bench, "B").join("runs").join(&id);
    let seen: f64 = std::fs::read_to_string(dir.join(".seen"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        up_gone - seen >= 15.0,
        "ended {:.1}s after the last tick B heard (uptime {seen}), before the grace of 15s",
        up_gone - seen
    );
    // Its records stay on B, with the note of why.
    let note = std::fs::read_to_string(dir.join(".ended")).unwrap();
    let silent: u64 = note
        .split("why=labctl was not heard for ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the why: {note}"));
    assert!(silent >= 15, "{note}");
    eprintln!(
        "B ended the run {:.1}s after the last tick it heard, {after:?} after the drop",
        up_gone - seen
    );
    assert!(dir.join("client.out").exists(), "the outputs are kept on B");
    // The hold is released once the programs are stopped (`lc_orphan`: the
    // stop, then the release): just after what the test saw go.
    let lock = workdir(&t.bench, "B").join("lock");
    let t0 = Instant::now();
    while lock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the hold was released"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Packets pass again: the next command names the ended run, once.
    drop_ssh(&t, "B", false);
    let clean = labctl(&hosts, &t.lab, &t.home, &["clean"]);
    clean
        .assert_status(0)
        .assert_stderr_contains(&format!(
            "host `B`: the host ended run `{id}` by itself at "
        ))
        .assert_stderr_contains("labctl was not heard for")
        .assert_stderr_contains(&format!("its records are in /home/pi/labctl/runs/{id}"));
    let again = labctl(&hosts, &t.lab, &t.home, &["clean"]);
    assert!(
        !again.stderr.contains("the host ended run"),
        "named once:\n{again}"
    );
    assert!(
        dir.join(".ended").exists(),
        "clean keeps the records a note names"
    );
    assert_nothing_left(&t.bench);
}
