//! The default virtual bench is like Raspberry Pi OS: hosts log in as `pi`
//! with passwordless sudo, root login refused, each host with its own
//! account files and `/home`; this machine's `/etc` stays byte for byte as
//! it was; `pi` without sudo is named before anything starts; the sudoers
//! line labctl suggests (`ip` and `tcpdump` only) is all a lab needs;
//! `--root` keeps root hosts.

mod common;

use common::{assert_nothing_left, labctl, registered, Scratch, TestBench};

use common::seed_lab;

/// stdout of `remote` run through ssh on `host`, or the failure text.
fn ssh_out(bench: &TestBench, host: &str, remote: &str) -> Result<String, String> {
    let o = bench.ssh(host, remote).output().unwrap();
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// The bytes of this machine's account files and sudoers, and the names and
/// bytes of /etc/sudoers.d and /home's entries.
fn etc_snapshot() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for f in [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/sudoers",
        "/etc/hosts",
    ] {
        v.push((f.to_string(), std::fs::read(f).unwrap_or_default()));
    }
    for d in ["/etc/sudoers.d", "/home"] {
        let mut names: Vec<_> = std::fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names {
            let bytes = std::fs::read(&p).unwrap_or_default();
            v.push((p.display().to_string(), bytes));
        }
    }
    v
}

#[test]
fn hosts_log_in_as_pi_with_sudo_and_down_leaves_etc_as_it_was() {
    let before = etc_snapshot();
    let mut bench = TestBench::up();
    let hosts = std::fs::read_to_string(bench.hosts_file()).unwrap();
    assert!(hosts.contains("user = \"pi\""), "{hosts}");
    assert!(hosts.contains("sudo = true"), "{hosts}");
    assert!(hosts.contains("workdir = \"/home/pi/labctl\""), "{hosts}");
    assert_eq!(
        ssh_out(&bench, "A", "id -un; sudo -n id -un; cd && pwd; hostname").unwrap(),
        "pi\nroot\n/home/pi\nA"
    );
    // This machine has no `pi` (or it is not the host's): the host's own files.
    assert!(
        !String::from_utf8_lossy(&std::fs::read("/etc/passwd").unwrap())
            .contains("Pi:/home/pi:/bin/bash")
    );
    // Root login is refused.
    let state = bench.state();
    let port = state.host("A").unwrap().ssh_port.unwrap();
    let root = std::process::Command::new("ssh")
        .arg("-i")
        .arg(bench.state_dir().join("id_ed25519"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            bench.state_dir().join("known_hosts").display()
        ))
        .args(["-o", "BatchMode=yes", "-F", "/dev/null", "-p"])
        .arg(port.to_string())
        .args(["root@127.0.0.1", "true"])
        .output()
        .unwrap();
    assert!(!root.status.success(), "root logged in");
    bench.down().assert_status(0);
    assert!(
        before == etc_snapshot(),
        "`up`/`down` changed /etc or /home"
    );
}

#[test]
fn the_seed_lab_runs_as_pi() {
    let bench = TestBench::up();
    let scratch = Scratch::new("pi-lab");
    labctl(
        bench.hosts_file(),
        &seed_lab(),
        &scratch.0,
        &["run", "--out", scratch.0.join("runs").to_str().unwrap()],
    )
    .assert_status(0);
    // What the lab left in pi's workdir (programs, run directories) is pi's.
    let owners = ssh_out(&bench, "B", "stat -c %U labctl/bin/tcp_server labctl/runs").unwrap();
    assert_eq!(owners, "pi\npi", "{owners}");
}

#[test]
fn pi_without_sudo_is_named_before_anything_starts() {
    let bench = TestBench::no_sudo();
    let scratch = Scratch::new("pi-nosudo");
    let line = "pi ALL=(root) NOPASSWD:";
    labctl(bench.hosts_file(), &seed_lab(), &scratch.0, &["check"])
        .assert_status(1)
        .assert_stdout_contains("✘ A sudo: host `A`: `sudo -n ip` and `sudo -n tcpdump`")
        .assert_stdout_contains(line);
    let out = labctl(
        bench.hosts_file(),
        &seed_lab(),
        &scratch.0,
        &["run", "--out", scratch.0.join("runs").to_str().unwrap()],
    );
    assert_ne!(out.status, 0, "{out}");
    out.assert_stderr_contains(
        "host `B`: `sudo -n ip` and `sudo -n tcpdump` needed by the lab failed",
    )
    .assert_stderr_contains(line)
    .assert_stdout_contains("steps 0 passed, 0 failed, 17 skipped");
    assert_nothing_left(&bench);
    assert!(registered(&bench).is_empty());
}

/// An instructor who follows labctl's advice grants `pi` exactly the sudoers
/// line it prints. That must be enough for the whole lab: stopping a
/// capture (tcpdump as root) included, and `check` must see sudo working.
#[test]
fn the_seed_lab_runs_where_sudo_allows_only_ip_and_tcpdump() {
    let bench = TestBench::sudo_lab_only();
    let scratch = Scratch::new("pi-sudo-lab");
    // The bench holds the very line labctl suggests, and nothing more.
    let refused = ssh_out(&bench, "A", "sudo -n true");
    assert!(
        refused.is_err(),
        "sudo allows more than ip and tcpdump: {refused:?}"
    );
    let listed = ssh_out(&bench, "A", "sudo -n -l").unwrap();
    assert!(
        listed.contains("NOPASSWD: /usr/sbin/ip, /usr/bin/tcpdump"),
        "{listed}"
    );
    // Before the lab: not configured yet, but sudo and the rights it gives check out.
    let before = labctl(bench.hosts_file(), &seed_lab(), &scratch.0, &["check"]);
    for row in ["sudo", "rights"] {
        assert!(
            before
                .stdout
                .lines()
                .any(|l| l.starts_with(row) && l.matches('✔').count() == 3),
            "{before}"
        );
    }
    let out = labctl(
        bench.hosts_file(),
        &seed_lab(),
        &scratch.0,
        &["run", "--out", scratch.0.join("runs").to_str().unwrap()],
    );
    out.assert_status(0)
        .assert_stdout_contains("steps 17 passed, 0 failed");
    // Every capture stopped at its step, through its sudo: none survived to be killed.
    assert!(!out.stdout.contains("survived"), "{out}");
    assert!(!out.stderr.contains("survived"), "{out}");
    assert_nothing_left(&bench);
    assert!(registered(&bench).is_empty());
    // After it, the bench is ready for the next lab: every check passes.
    labctl(bench.hosts_file(), &seed_lab(), &scratch.0, &["check"]).assert_status(0);
}

/// A sudo check that passed is kept on the host (`<workdir>/.sudo-ok`, with
/// the boot id) and not asked again while the files that decide it stay as
/// they were. Once a host's sudoers changes, the next run asks that host
/// again and names what sudo refuses before anything starts.
#[test]
fn a_sudo_check_that_passed_is_asked_again_once_sudoers_changes() {
    let bench = TestBench::up();
    let scratch = Scratch::new("pi-sudo-again");
    let runs = scratch.0.join("runs");
    let run = || {
        labctl(
            bench.hosts_file(),
            &seed_lab(),
            &scratch.0,
            // I.4 (ping each other) and the steps it needs: every host.
            &["run", "--step", "I.4", "--out", runs.to_str().unwrap()],
        )
    };
    run().assert_status(0);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    for host in ["A", "B", "C"] {
        let kept = ssh_out(&bench, host, "cat labctl/.sudo-ok").unwrap();
        assert_eq!(kept, format!("{} ip tcpdump", boot.trim()), "{host}");
    }
    // A's sudoers (bind-mounted over its /etc/sudoers) loses pi's rule,
    // rewritten in place: the same inode, only its mtime moves.
    let sudoers = bench.state_dir().join("A/etc/sudoers");
    let text = std::fs::read_to_string(&sudoers).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("pi "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept, text, "pi's rule is in {}", sudoers.display());
    std::fs::write(&sudoers, kept).unwrap();
    assert!(ssh_out(&bench, "A", "sudo -n true").is_err());
    let out = run();
    assert_ne!(out.status, 0, "{out}");
    out.assert_stderr_contains(
        "host `A`: `sudo -n ip` and `sudo -n tcpdump` needed by the lab failed",
    )
    .assert_stdout_contains("steps 0 passed, 0 failed");
    // B and C still pass: only A was asked again and refused.
    assert!(!out.stderr.contains("host `B`"), "{out}");
    assert!(!out.stderr.contains("host `C`"), "{out}");
    assert_nothing_left(&bench);
}

#[test]
fn root_hosts_remain_with_root_flag() {
    let bench = TestBench::root();
    let hosts = std::fs::read_to_string(bench.hosts_file()).unwrap();
    assert!(hosts.contains("user = \"root\""), "{hosts}");
    assert!(hosts.contains("sudo = false"), "{hosts}");
    assert_eq!(ssh_out(&bench, "C", "id -un").unwrap(), "root");
}
