//! The virtual bench (`labctl testbed`) on real namespaces with real sshds:
//! the OpenSSH client reaches every host, hosts talk over their switch and
//! nothing else, `down` leaves nothing behind, failures are clear.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Labctl, TestBench};
use labctl::testbed::proc::alive;
use labctl::testbed::relay::banner;

/// Every named network namespace on this machine.
fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip ARGS` in the root namespace, stdout.
fn ip_root(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip");
    assert!(out.status.success(), "ip {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn openssh_reaches_every_host_with_its_hostname_and_eth0() {
    let bench = TestBench::up();
    for host in ["A", "B", "C"] {
        let out = bench
            .ssh(
                host,
                "hostname; ip -o link show eth0; ip route show default",
            )
            .output()
            .expect("run ssh");
        assert!(out.status.success(), "ssh to `{host}`\n{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some(host), "{}", text(&out));
        let link = lines.next().unwrap_or("");
        assert!(
            link.contains("eth0") && link.contains("UP"),
            "{}",
            text(&out)
        );
        assert_eq!(lines.next(), None, "a default route exists\n{}", text(&out));
    }
}

#[test]
fn hosts_file_follows_the_contract() {
    let bench = TestBench::up();
    let room = labctl::config::hosts::load(bench.hosts_file()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!room.is_room);
    assert_eq!(room.benches.len(), 1);
    assert_eq!(room.benches[0].name, bench.name());
    let hosts = &room.benches[0].hosts;
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    for (h, addr) in hosts
        .iter()
        .zip(["10.0.3.1/24", "10.0.3.2/24", "10.0.3.3/24"])
    {
        assert_eq!(h.cidr(), addr);
        assert_eq!(h.target.host, "127.0.0.1");
        assert_eq!(h.target.port, bench.ssh_port(&h.name));
        assert_eq!(h.target.user, "pi");
        assert_eq!(h.interface, "eth0");
        assert!(h.sudo);
        assert_eq!(h.known_hosts, bench.known_hosts());
        assert_eq!(h.workdir, "/home/pi/labctl");
        // The host's own `/home`, seen from here under its testbed directory.
        let outside = bench.host(&h.name).dir.join("home/pi/labctl");
        assert!(outside.is_dir(), "workdir {}", outside.display());
        match &h.auth {
            labctl::config::hosts::Auth::Key { identity, .. } => {
                assert_eq!(identity, &bench.identity())
            }
            other => panic!("auth {other:?}"),
        }
    }
}

/// The relay's connections to a host's sshd start inside the host's
/// namespace, where the lab's servers bind: one that drew port 50000 as its
/// own blocked the lab's server (`check`'s lab port failed at random). The
/// lab ports (50000-50999) are reserved there: drawing from 50990-51009, a
/// connection in a host gets one of 51000-51009, every time (without the
/// reservation, five rounds all miss 50990-50999 one time in 32).
#[test]
fn a_connection_in_a_host_never_takes_a_lab_port_as_its_own() {
    let bench = TestBench::up();
    let probe = "echo 50990 51009 >/proc/sys/net/ipv4/ip_local_port_range && \
                 python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", 22)); print(s.getsockname()[1])'";
    for round in 0..5 {
        let out = bench.exec_in("A", probe);
        assert!(out.status.success(), "{}", text(&out));
        let port: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(
            (51000..=51009).contains(&port),
            "round {round}: port {port}"
        );
    }
    let root = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").unwrap();
    assert!(
        !root.contains("50000-50999"),
        "the root namespace is left as it was: {root}"
    );
}

#[test]
fn hosts_ping_over_their_switch_and_the_root_namespace_cannot_reach_them() {
    let bench = TestBench::up();
    for (host, addr) in [("A", "10.0.3.1/24"), ("B", "10.0.3.2/24")] {
        let out = bench.exec_in(host, &format!("ip addr add {addr} dev eth0"));
        assert!(out.status.success(), "{}", text(&out));
    }
    for (from, to) in [("A", "10.0.3.2"), ("B", "10.0.3.1")] {
        let out = bench.exec_in(from, &format!("ping -c 1 -W 2 {to}"));
        assert!(out.status.success(), "ping {from} -> {to}\n{}", text(&out));
    }
    // C has no address: nothing answers it (unreachable, not a silent success).
    let out = bench.exec_in("C", "ping -c 1 -W 1 10.0.3.1");
    assert!(
        !out.status.success(),
        "C pinged without an address\n{}",
        text(&out)
    );

    // The root namespace: no route to the lab network, none of our links.
    let routes = ip_root(&["route", "show"]);
    assert!(
        !routes.contains("10.0.3."),
        "root has a lab route:\n{routes}"
    );
    let links = ip_root(&["-o", "link", "show"]);
    for l in links.lines() {
        let name = l.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or("");
        assert!(
            !["vA", "vB", "vC", "br0"].contains(&name),
            "root namespace has link `{name}`:\n{links}"
        );
        assert!(!l.contains(&format!("lc-{}-", bench.name())), "{l}");
    }
    // The switch holds exactly the three host ports.
    let sw = bench.state().benches[0].switch.clone();
    let out = std::process::Command::new("ip")
        .args(["-n", &sw, "-o", "link", "show", "master", "br0"])
        .output()
        .unwrap();
    let ports = String::from_utf8_lossy(&out.stdout);
    assert_eq!(ports.lines().count(), 3, "{ports}");
}

#[test]
fn down_leaves_nothing_behind() {
    let mut bench = TestBench::up();
    let state = bench.state();
    // A program the lab would start detached through ssh: down must stop it too.
    let out = bench
        .ssh("A", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stray: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a pid");
    assert!(alive(stray));

    let mut pids: Vec<u32> = state.hosts().filter_map(|(_, h)| h.sshd_pid).collect();
    pids.push(state.relay_pid.expect("relay pid"));
    pids.push(stray);
    assert_eq!(pids.len(), 5);
    for &p in &pids {
        assert!(alive(p), "pid {p} not running before down");
    }
    let mut namespaces: Vec<String> = state.hosts().map(|(_, h)| h.netns.clone()).collect();
    namespaces.push(state.benches[0].switch.clone());

    bench
        .down()
        .assert_success()
        .assert_stderr_contains("removed");

    let listed = netns_list();
    for ns in &namespaces {
        assert!(
            !listed.contains(ns.as_str()),
            "`{ns}` survived down:\n{listed}"
        );
        assert!(!Path::new("/run/netns").join(ns).exists());
    }
    for &p in &pids {
        assert!(!alive(p), "pid {p} survived down");
    }
    assert!(!bench.state_dir().exists(), "state dir survived down");

    // Again: nothing to do, still success.
    Labctl::new()
        .args(["testbed", "down", "--name", bench.name()])
        .run()
        .assert_success()
        .assert_stderr_contains("does not exist");
}

#[test]
fn a_room_of_ten_benches_answers() {
    let t = Instant::now();
    let mut room = TestBench::room(10);
    eprintln!(
        "testbed up --benches 10: {:.2} s (fixture, including process start)",
        t.elapsed().as_secs_f64()
    );
    let specs = room.host_specs();
    assert_eq!(specs.len(), 30);
    for spec in &specs {
        let port = room.ssh_port(spec);
        let b = banner(port, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("host `{spec}` on port {port}: {e}"));
        assert!(b.starts_with("SSH-2.0-OpenSSH"), "{b}");
    }
    assert_eq!(
        room.netns_in("bench7", "B"),
        format!("lc-{}-bench7-B", room.name())
    );
    let out = room.ssh("bench7/B", "hostname").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "bench7-B");

    let parsed = labctl::config::hosts::load(room.hosts_file()).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.is_room);
    assert_eq!(parsed.benches.len(), 10);

    let t = Instant::now();
    let name = room.name().to_string();
    room.down().assert_success();
    eprintln!(
        "testbed down (10 benches): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let listed = netns_list();
    assert!(!listed.contains(&format!("lc-{name}-")), "{listed}");
}

#[test]
fn status_sees_a_stopped_sshd_and_the_relay_closes_its_port_at_once() {
    let bench = TestBench::up();
    let status = || {
        Labctl::new()
            .args(["testbed", "status", "--name", bench.name()])
            .run()
    };
    status().assert_success().assert_stdout_contains("SSH-2.0-");

    let relay = bench.state().relay_pid.expect("relay pid");
    let old = bench.sshd_pid("B");
    bench.stop_sshd("B");
    assert!(!alive(old));
    status()
        .assert_status(1)
        .assert_stderr_contains("host `B`: sshd is not running");
    let t = Instant::now();
    let r = banner(bench.ssh_port("B"), Duration::from_secs(20));
    assert!(r.is_err(), "a banner from a stopped sshd: {r:?}");
    eprintln!("relay refused a dead host in {:?}", t.elapsed());
    let out = bench.ssh("B", "true").output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    // Its neighbours are unaffected.
    assert!(bench.ssh("A", "true").output().unwrap().status.success());

    let new = bench.start_sshd("B");
    assert_ne!(new, old);
    assert_eq!(bench.sshd_pid("B"), new);
    status().assert_success();
    let out = bench.ssh("B", "hostname").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "B",
        "{}",
        text(&out)
    );

    // The relay keeps no thread per finished connection.
    for _ in 0..20 {
        banner(bench.ssh_port("C"), Duration::from_secs(5)).expect("banner");
    }
    let threads = || {
        std::fs::read_to_string(format!("/proc/{relay}/status"))
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("Threads:")
                    .map(|n| n.trim().parse::<u32>().unwrap())
            })
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(threads(), 1, "relay threads left after closed connections");
}

#[test]
fn up_twice_with_one_name_is_refused_and_the_bench_survives() {
    let bench = TestBench::up();
    Labctl::new()
        .args(["testbed", "up", "--name", bench.name()])
        .run()
        .assert_status(4)
        .assert_stderr_contains("already exists")
        .assert_stderr_contains(&format!("labctl testbed down --name {}", bench.name()));
    Labctl::new()
        .args(["testbed", "status", "--name", bench.name()])
        .run()
        .assert_success();
}

#[test]
fn bad_names_are_usage_errors() {
    for name in ["Bad", "a_b", "", "abcdefghijklmnopq", "a/b"] {
        Labctl::new()
            .args(["testbed", "up", "--name", name])
            .run()
            .assert_status(2)
            .assert_stderr_contains("bad testbed name");
    }
    assert!(!netns_list().contains("lc-Bad"));
}

#[test]
fn a_failed_up_removes_what_it_made() {
    // An sshd that rejects its config makes `up` fail after namespaces and keys exist.
    let name = common::unique_name();
    let fake = std::env::temp_dir().join(format!("labctl-fake-sshd-{name}"));
    std::fs::create_dir_all(&fake).unwrap();
    let sshd = fake.join("sshd");
    std::fs::write(
        &sshd,
        "#!/bin/sh\necho 'fake sshd: bad config' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&sshd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = Labctl::new()
        .args(["testbed", "up", "--name", &name])
        .env("PATH", &path)
        .run();
    let _ = std::fs::remove_dir_all(&fake);
    out.assert_status(4)
        .assert_stderr_contains("rejected")
        .assert_stderr_contains("removing what it made");
    assert!(
        !netns_list().contains(&format!("lc-{name}-")),
        "{}",
        netns_list()
    );
    assert!(!labctl::testbed::state_root().join(&name).exists());
}
