//! When a host's own tool fails, `check` and `run` name the real cause from
//! its words: a ping that is not permitted for the login (Debian 13's ping
//! has no `cap_net_raw` and relies on `net.ipv4.ping_group_range`) is named
//! for that, with its fix, never "no reply … check the cables"; `ip` and
//! NetworkManager refusing a login without sudo are named the same way in
//! `run`'s failure of the step.

mod common;

use std::process::Command;

use common::{hosts_copy, labctl, TestBench};

use common::seed_lab;

/// Makes `host`'s ping one without `cap_net_raw` (a copy, which loses the
/// file capability), mounted over `/usr/bin/ping` in the host's own mount
/// namespace only: with the namespace's `ping_group_range` at its default
/// (`1 0`), ping is then not permitted for the login, as on a Debian 13
/// host that no init set it for.
fn ping_without_capability(bench: &TestBench, host: &str) {
    let copy = bench.state_dir().join(format!("ping-{host}"));
    std::fs::copy("/usr/bin/ping", &copy).unwrap();
    let o = Command::new("nsenter")
        .arg(format!("--target={}", bench.sshd_pid(host)))
        .args(["--mount", "--", "mount", "--bind"])
        .arg(&copy)
        .arg("/usr/bin/ping")
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn a_ping_that_is_not_permitted_is_named_for_that_in_check_and_run() {
    let bench = TestBench::up();
    let home = bench.home();
    labctl(bench.hosts_file(), &seed_lab(), &home, &["check", "--fix"]).assert_status(0);
    ping_without_capability(&bench, "A");

    let out = labctl(bench.hosts_file(), &seed_lab(), &home, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains("✘ A ping: ping is not permitted for `pi` on host `A`: `ping: ")
        .assert_stdout_contains("; ping: socket: Operation not permitted; ")
        .assert_stdout_contains("net.ipv4.ping_group_range")
        // B and C reach A: only A's own ping is refused.
        .assert_stdout_lacks("✘ B ping")
        .assert_stdout_lacks("✘ C ping");
    let a_lines: String = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("✘ A ping"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!a_lines.contains("cable"), "{a_lines}");

    let run = labctl(
        bench.hosts_file(),
        &seed_lab(),
        &home,
        &["run", "--step", "I.4", "--out", "runs"],
    );
    run.assert_status(1)
        .assert_stdout_contains(
            "✘  step `I.4` on host `A`: ping B (10.0.3.2): ping is not permitted for `pi` on host `A`; saw: \"",
        )
        .assert_stdout_contains("ping: socket: Operation not permitted")
        .assert_stdout_contains("; fix: this host's ping has no `cap_net_raw`");
    assert!(!run.stdout.contains("no reply"), "{run}");
}

#[test]
fn ip_and_networkmanager_refusing_a_login_without_sudo_are_named_in_the_failed_step() {
    // `sudo = false` for a login that is not root: `configure` is refused.
    let plain = TestBench::up_args(&["--no-network-manager"]);
    let hosts = hosts_copy(&plain, "nosudo.toml", |t| {
        t.replace("sudo = true", "sudo = false")
    });
    let run = labctl(
        &hosts,
        &seed_lab(),
        &plain.home(),
        &["run", "--step", "I.1", "--out", "runs"],
    );
    run.assert_status(1).assert_stdout_contains(
        "RTNETLINK answers: Operation not permitted — `ip` may not change `eth0` as `pi` on host `A` (it needs CAP_NET_ADMIN); fix: set `sudo = true` for `A`",
    );

    let bench = TestBench::up();
    let hosts = hosts_copy(&bench, "nosudo.toml", |t| {
        t.replace("sudo = true", "sudo = false")
    });
    let run = labctl(
        &hosts,
        &seed_lab(),
        &bench.home(),
        &["run", "--step", "I.1", "--out", "runs"],
    );
    run.assert_status(1).assert_stdout_contains(
        "Insufficient privileges — NetworkManager refuses `pi`'s change of `eth0` as `pi` on host `A`; fix: set `sudo = true` for `A`",
    );
}

#[test]
fn on_debian13_a_host_without_ping_group_range_is_named_for_it_not_for_its_cables() {
    // Debian 13's own ping has no capability: without the sysctl a booted
    // system sets, it is not permitted for the login.
    let bench = TestBench::up_args(&["--os", "debian13"]);
    let home = bench.home();
    labctl(bench.hosts_file(), &seed_lab(), &home, &["check", "--fix"]).assert_status(0);
    let o = bench.exec_in("B", "echo '1 0' >/proc/sys/net/ipv4/ping_group_range");
    assert!(o.status.success(), "{o:?}");
    let out = labctl(bench.hosts_file(), &seed_lab(), &home, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains("✘ B ping: ping is not permitted for `pi` on host `B`: `ping: ")
        .assert_stdout_contains("ping: socket: Operation not permitted")
        .assert_stdout_contains("net.ipv4.ping_group_range")
        .assert_stdout_lacks("✘ A ping")
        .assert_stdout_lacks("✘ C ping");
    common::record_proven(&bench, "ping not permitted named for its cause");
}
