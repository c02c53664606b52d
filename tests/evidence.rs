//! Evidence or failure, on the virtual bench (real sshds): a run passes only
//! if every record it was asked for is on this machine, whole. A local disk
//! that is full (at the start, or as a capture is fetched) stops the run with
//! exit 4 naming the file, nothing left on any host; a capture whose tcpdump
//! died, or whose host's disk filled, fails its step naming host, capture
//! and cause, what was captured kept.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_nothing_left, json_lines, registered, run_dir, ExchangeLab, LabSetup, TestBench,
};

/// After the exchange with `cap-A` running: B idles for `wait`, sends one
/// more line (captured on A), then the capture and the programs are stopped.
fn wait_then_stop(wait: &str) -> String {
    format!(
        r#"
[[step]]
id = "S.3"
title = "a wait"
hosts = ["B"]
needs = ["S.2"]
do = [{{ expect = "client", absent = "nothing", for = "{wait}" }}]
[[step]]
id = "S.4"
title = "stop"
hosts = ["A", "B"]
needs = ["S.2"]
do = [
  {{ send = "client", lines = [{lines}"after"] }},
  {{ expect = "client", match = "^Server> AFTER$" }},
  {{ stop = ["client"] }},
  {{ stop = ["server", "cap-A"] }},
]
"#,
        // Enough frames that a capture outgrows the page it has: 200 lines, 100 bytes each.
        lines = format!("\"{}\", ", "x".repeat(100)).repeat(200)
    )
}

/// A bench with the programs in place and the captured exchange, then B's
/// wait of `wait` and the stop ([`wait_then_stop`]).
fn setup(tag: &str, wait: &str) -> LabSetup {
    LabSetup::new(
        &format!("evidence-{tag}"),
        &(ExchangeLab::new("evidence").captured().toml() + &wait_then_stop(wait)),
    )
}

/// A small tmpfs of `size` at `dir`, unmounted (and removed) on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(dir: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs at {}", dir.display());
        SmallDisk(dir)
    }

    /// Fills what is left of it.
    fn fill(&self) {
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4k"])
            .arg(format!("of={}", self.0.join("filler").display()))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_local_disk_at_the_start_is_exit_4_naming_the_file_and_nothing_runs() {
    let t = setup("full-start", "1s");
    let disk = SmallDisk::new(t.s.path("disk"), "64k");
    disk.fill();
    let out = t.run(disk.0.join("runs"), &[]);
    out.assert_status(4)
        .assert_stderr_contains("cannot write `")
        .assert_stderr_contains("plan.json`: no space left on device; nothing was run");
    assert!(!out.stdout.contains("PASSED"), "{out}");
    assert!(!out.stdout.contains("START"), "{out}");
    assert!(registered(&t.bench).is_empty());
    assert_nothing_left(&t.bench);
}

#[test]
fn a_local_disk_filling_during_the_run_stops_it_with_4_and_nothing_is_left_on_the_hosts() {
    let t = setup("full-during", "3s");
    let disk = SmallDisk::new(t.s.path("disk"), "4m");
    let mut bg = t.start(disk.0.join("runs"), &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    disk.fill();
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 4, "{out}\n{err}");
    eprintln!("{err}");
    assert!(err.contains("no space left on device"), "{err}");
    assert!(
        err.contains(&disk.0.display().to_string()),
        "the file is named: {err}"
    );
    assert!(!out.contains("PASSED"), "{out}");
    assert_nothing_left(&t.bench);
    // What was written stays (its last line may be cut where the disk filled).
    let dir = run_dir(&disk.0.join("runs"));
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(events.starts_with("{\"event\":\"run_started\""), "{events}");
}

/// Kills with SIGKILL the processes in `host`'s namespace whose command line
/// (its words joined by spaces) `pick` chooses; returns how many.
fn kill_on(bench: &TestBench, host: &str, pick: impl Fn(&str) -> bool) -> usize {
    use std::os::unix::fs::MetadataExt;
    let ino = labctl::testbed::netns::inode(&bench.host(host).netns).unwrap();
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let here = std::fs::metadata(e.path().join("ns/net")).is_ok_and(|m| m.ino() == ino);
        if here && pick(cmd.trim_end()) {
            // SAFETY: kill(2) on a process of this test's own bench.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    killed
}

/// Kills `host`'s tcpdump (as root: it runs through sudo).
fn kill_tcpdump(bench: &TestBench, host: &str) {
    let killed = kill_on(bench, host, |cmd| cmd.starts_with("tcpdump "));
    assert_eq!(killed, 1, "one tcpdump on {host}");
}

#[test]
fn a_capture_whose_tcpdump_died_fails_its_stop_naming_host_capture_and_cause() {
    let t = setup("tcpdump-killed", "3s");
    let out_dir = t.s.path("runs");
    let mut bg = t.start(&out_dir, &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    kill_tcpdump(&t.bench, "A");
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains(
            "step `S.4` on host `A`: stop `server`, `cap-A`: capture `cap-A` ended before its stop"
        ),
        "{out}"
    );
    assert!(out.contains("frames ("), "how much was kept is said: {out}");
    assert!(!out.contains("PASSED"), "{out}");
    eprintln!("{out}");
    // What was captured is kept, and analysed in the report.
    let dir = run_dir(&out_dir);
    assert!(dir.join("A-cap-A.pcap").exists());
    let steps = json_lines(&dir.join("steps.jsonl"));
    assert_eq!(steps.last().unwrap()["outcome"], "failed", "{steps:#?}");
    assert_nothing_left(&t.bench);
}

/// Runs `cmd` as root in `host`'s namespaces (its sshd's: where its workdir is
/// `/home/pi/labctl`).
fn on_host(bench: &TestBench, host: &str, cmd: &str) -> std::process::Output {
    Command::new("nsenter")
        .args([
            "-t",
            &bench.sshd_pid(host).to_string(),
            "-m",
            "-n",
            "sh",
            "-c",
            cmd,
        ])
        .output()
        .unwrap()
}

#[test]
fn a_hosts_disk_filling_while_its_capture_grows_fails_the_step_naming_host_and_cause() {
    let t = setup("host-full", "3s");
    // A's run directories on a small disk of their own (a Pi's SD card, nearly full).
    let o = on_host(
        &t.bench,
        "A",
        "mkdir -p /home/pi/labctl/runs && mount -t tmpfs -o size=2m,mode=0755 tmpfs /home/pi/labctl/runs \
         && chown pi /home/pi/labctl/runs",
    );
    assert!(o.status.success(), "{o:?}");
    let out_dir = t.s.path("runs");
    let mut bg = t.start(&out_dir, &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    let o = on_host(
        &t.bench,
        "A",
        "dd if=/dev/zero of=/home/pi/labctl/runs/filler bs=4k 2>/dev/null; true",
    );
    assert!(o.status.success(), "{o:?}");
    let (code, out, err) = bg.finish(Duration::from_secs(90));
    eprintln!("{out}\n{err}");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!out.contains("PASSED"), "{out}");
    assert!(out.contains("on host `A`"), "{out}");
    assert!(
        out.contains("capture `cap-A`: the file ends inside frame"),
        "the cut capture fails its stop: {out}"
    );
    assert!(
        out.contains("No space left on device"),
        "the cause is named: {out}"
    );
    assert_nothing_left(&t.bench);
    let _ = on_host(&t.bench, "A", "umount /home/pi/labctl/runs");
}

#[test]
fn a_stamper_that_ends_early_does_not_take_its_program_with_it() {
    let t = setup("stamper-killed", "3s");
    let out_dir = t.s.path("runs");
    let mut bg = t.start(&out_dir, &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    // The stamper of A's server's stdout (`labctl-stamp FILE FIFO server 1`).
    let killed = kill_on(&t.bench, "A", |cmd| {
        cmd.contains("labctl-stamp ") && cmd.contains("/server.out ") && cmd.ends_with(" server 1")
    });
    assert_eq!(killed, 1, "one stamper for A's server's stdout");
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    eprintln!("{out}\n{err}");
    // The server lived on: B's lines were answered to the last, and the run passed.
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Server> AFTER"), "{out}");
    assert!(
        out.contains("host `A`: program `server`: its output cannot be kept on the host"),
        "the stamper's end is said: {out}"
    );
    assert!(
        out.contains("labctl-stamp ended with status"),
        "and how it ended: {out}"
    );
    // The server's lines after the kill still reached labctl (the shell loop took over).
    let dir = run_dir(&out_dir);
    let server = std::fs::read_to_string(dir.join("A-server.out")).unwrap();
    assert!(server.contains("> after"), "{server}");
    assert_nothing_left(&t.bench);
}
