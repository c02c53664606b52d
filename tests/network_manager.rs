//! The virtual bench's hosts run Debian's NetworkManager, as Raspberry Pi OS
//! does: it manages eth0 with its own DHCP connection (`Wired connection 1`)
//! and, with no DHCP server on the lab's switch, removes every address of
//! eth0 when that connection times out (45 s after it started). labctl's
//! `configure` gives the lab address through a profile of its own, which
//! NetworkManager keeps: the whole seed lab passes, and 60 s after `check
//! --fix` the address is still there and `check` still passes (with `ip addr
//! replace`, as `configure` ran before, the address was gone by then).
//! `check` names who manages the lab interface, `clean --restore-network`
//! gives it back to the image's connection, and `down` leaves no
//! NetworkManager, no dbus-daemon, no mount and `/etc` as it was. The same
//! on Debian 13 hosts (`testbed up --os debian13`: Raspberry Pi OS's current
//! base, whose eth0 profile Netplan generates, `netplan-eth0`), alone and
//! beside this machine's own on one bench.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{labctl, RunOutput, TestBench};

use common::seed_lab;

fn run(bench: &TestBench, args: &[&str]) -> RunOutput {
    labctl(bench.hosts_file(), &seed_lab(), &bench.home(), args)
}

/// The IPv4 addresses on `host`'s eth0, as `ip` shows them.
fn addrs(bench: &TestBench, host: &str) -> String {
    let o = bench.exec_in(host, "ip -o -4 addr show dev eth0");
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `nmcli ARGS` on `host`, as its sessions run it (its sshd's namespaces).
fn nmcli(bench: &TestBench, host: &str, args: &[&str]) -> String {
    let o = Command::new("nsenter")
        .arg(format!("--target={}", bench.sshd_pid(host)))
        .args(["--mount", "--net", "--root", "--wd", "--", "nmcli"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "nmcli {args:?} on {host}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `CONNECTION` of eth0 on `host` (`-t -g GENERAL.STATE,GENERAL.CONNECTION`).
fn eth0(bench: &TestBench, host: &str) -> String {
    nmcli(
        bench,
        host,
        &[
            "-t",
            "-g",
            "GENERAL.STATE,GENERAL.CONNECTION",
            "device",
            "show",
            "eth0",
        ],
    )
}

const HOSTS: [(&str, &str); 3] = [
    ("A", "10.0.3.1/24"),
    ("B", "10.0.3.2/24"),
    ("C", "10.0.3.3/24"),
];

/// The image's own DHCP connection on eth0: NetworkManager's auto-created
/// one on this machine's Debian 12, Netplan's (from cloud-init's
/// network-config) on a Debian 13 host, as on Raspberry Pi OS.
fn image_connection(bench: &TestBench) -> &'static str {
    if bench.host("A").os.is_some() {
        "netplan-eth0"
    } else {
        "Wired connection 1"
    }
}

#[test]
fn the_seed_lab_passes_and_the_address_stays_60_s_after_check_fix() {
    seed_lab_and_the_address_stays(TestBench::up());
}

#[test]
fn on_debian13_the_seed_lab_passes_and_the_address_stays_60_s_after_check_fix() {
    let bench = TestBench::up_args(&["--os", "debian13"]);
    seed_lab_and_the_address_stays(bench);
}

fn seed_lab_and_the_address_stays(bench: TestBench) {
    let image = image_connection(&bench);
    for (h, _) in HOSTS {
        let dev = eth0(&bench, h);
        assert!(dev.contains(image), "{h}: {dev}");
    }
    // A fresh bench: NetworkManager's DHCP connection will remove the address.
    let out = run(&bench, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains(&format!(
            "✘ A manager: NetworkManager runs `{image}` (DHCP) on eth0",
        ))
        .assert_stdout_contains("gives up after 45 s and removes the lab address")
        .assert_stdout_contains("through labctl's own NetworkManager profile `labctl-eth0`");

    let fixed = run(&bench, &["check", "--fix"]);
    let t_fix = Instant::now();
    fixed.assert_status(0);
    fixed.assert_stdout_contains(
        "A: assigned 10.0.3.1/24 to eth0 and brought it up through NetworkManager profile `labctl-eth0`",
    );

    let lab = run(&bench, &["run", "--out", "runs"]);
    lab.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed; expectations 55 ✔, 0 ✘");
    if bench.host("A").os.is_some() {
        // The handout's language too: the Python programs on the host's Python.
        let py = run(&bench, &["run", "--programs", "python", "--out", "runs"]);
        py.assert_status(0)
            .assert_stdout_contains("PASSED: steps 17 passed, 0 failed; expectations 55 ✔, 0 ✘");
    }

    // Past NetworkManager's DHCP timeout (45 s from its start, before the fix).
    let wait = Duration::from_secs(60).saturating_sub(t_fix.elapsed());
    std::thread::sleep(wait);
    for (h, cidr) in HOSTS {
        let a = addrs(&bench, h);
        assert!(a.contains(&format!(" {cidr} ")), "{h} lost {cidr}: {a}");
        let dev = eth0(&bench, h);
        assert_eq!(dev, "100 (connected)\nlabctl-eth0\n", "{h}");
        let method = nmcli(
            &bench,
            h,
            &[
                "-g",
                "ipv4.method,ipv4.addresses",
                "connection",
                "show",
                "id",
                "labctl-eth0",
            ],
        );
        assert_eq!(method, format!("manual\n{cidr}\n"), "{h}");
    }
    let after = run(&bench, &["check"]);
    after
        .assert_status(0)
        .assert_stdout_contains("ready: all 45 checks passed");
    let json = run(&bench, &["check", "--json"]);
    json.assert_status(0);
    assert!(
        json.stdout.contains(
            "\"check\":\"manager\",\"status\":\"pass\",\"detail\":\"NetworkManager: labctl's profile `labctl-eth0` (manual) on eth0, connected\""
        ),
        "{json}"
    );

    // Undone on request: the image's own connection again, the lab address gone.
    let undo = run(&bench, &["clean", "--restore-network"]);
    undo.assert_status(0);
    for (h, cidr) in HOSTS {
        undo.assert_stdout_contains(&format!(
            "✔ {h}  network: deleted NetworkManager profile `labctl-eth0`; eth0 is back on `{image}`"
        ));
        assert!(!addrs(&bench, h).contains(cidr), "{h}");
        assert!(eth0(&bench, h).contains(image), "{h}");
    }
    let profiles = std::fs::read_dir(bench.host("A").dir.join("nm/etc/system-connections"))
        .unwrap()
        .count();
    assert_eq!(profiles, 0, "labctl's profile file is gone");
    run(&bench, &["check"])
        .assert_status(1)
        .assert_stdout_contains(&format!(
            "✘ A manager: NetworkManager runs `{image}` (DHCP)"
        ));
    common::record_proven(
        &bench,
        "the seed lab (Rust and Python), NetworkManager keeping the lab address, its undoing",
    );
}

#[test]
fn the_manager_row_names_networkmanager_unmanaged_and_none() {
    // Without NetworkManager: `ip`, as before, and the row says so.
    let plain = TestBench::up_args(&["--no-network-manager"]);
    let out = run(&plain, &["check", "--fix"]);
    out.assert_status(0)
        .assert_stdout_contains("A: assigned 10.0.3.1/24 to eth0 and brought it up\n")
        .assert_stdout_lacks("NetworkManager profile");
    let v = run(&plain, &["check", "--json"]);
    assert!(
        v.stdout.contains(
            "\"check\":\"manager\",\"status\":\"pass\",\"detail\":\"none: eth0's address is set with `ip`\""
        ),
        "{v}"
    );
    assert!(
        !plain.host("A").dir.join("nm").exists(),
        "no NetworkManager directory on a --no-network-manager bench"
    );

    // NetworkManager told to leave eth0 alone: `configure` takes `ip`.
    let bench = TestBench::up();
    nmcli(&bench, "B", &["device", "set", "eth0", "managed", "no"]);
    let out = run(&bench, &["check", "--fix"]);
    out.assert_status(0)
        .assert_stdout_contains("B: assigned 10.0.3.2/24 to eth0 and brought it up\n")
        .assert_stdout_contains(
            "A: assigned 10.0.3.1/24 to eth0 and brought it up through NetworkManager profile `labctl-eth0`",
        );
    let v = run(&bench, &["check", "--json"]);
    v.assert_status(0);
    assert!(
        v.stdout.contains(
            "\"detail\":\"none: eth0's address is set with `ip`; NetworkManager runs but leaves it unmanaged\""
        ),
        "{v}"
    );
    // `plan` shows the very command `run` sends, both ways in it.
    let plan = run(&bench, &["plan", "--step", "I.1"]);
    plan.assert_status(0)
        .assert_stdout_contains(
            "A  $ nmcli -t -g GENERAL.STATE,GENERAL.CONNECTION device show eth0 2>/dev/null | {",
        )
        .assert_stdout_contains("sudo -n nmcli connection up id labctl-eth0")
        .assert_stdout_contains("sudo -n ip addr replace 10.0.3.1/24 dev eth0");
}

#[test]
fn hosts_of_both_kinds_on_one_bench_run_the_seed_lab() {
    let bench = TestBench::up_args(&["--os", "A=debian13"]);
    assert_eq!(bench.host("A").os.as_deref(), Some("debian13"));
    assert_eq!(bench.host("B").os, None);
    let v = |h: &str| {
        let o = bench
            .ssh(h, "ssh -V 2>&1; cat /etc/debian_version")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (a, b) = (v("A"), v("B"));
    assert!(a.contains("OpenSSH_10") && a.contains("13."), "{a}");
    assert!(
        b.contains("OpenSSH_9") && b.starts_with("OpenSSH_9") && b.contains("12."),
        "{b}"
    );
    run(&bench, &["check", "--fix"]).assert_status(0);
    run(&bench, &["run", "--out", "runs"])
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed; expectations 55 ✔, 0 ✘");
    common::record_proven(&bench, "the seed lab on a bench of both kinds");
}

/// Every regular file under `/etc` with its bytes (unreadable ones by name).
fn etc_files() -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                walk(&p, out);
            } else if m.is_file() {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            } else if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap_or_default();
                out.push((p, t.into_os_string().into_encoded_bytes()));
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new("/etc"), &mut v);
    v
}

/// Lines of every process's mountinfo that mention `needle`.
fn mounts_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path().join("mountinfo")) else {
            continue;
        };
        for l in text.lines().filter(|l| l.contains(needle)) {
            found.push(format!("{}: {l}", e.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn down_leaves_no_networkmanager_no_dbus_no_mount_and_etc_as_it_was() {
    down_leaves_nothing(&[]);
}

#[test]
fn on_debian13_down_leaves_no_networkmanager_no_dbus_no_mount_and_etc_as_it_was() {
    down_leaves_nothing(&["--os", "debian13"]);
}

fn down_leaves_nothing(args: &[&str]) {
    let before = etc_files();
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let mut bench = TestBench::up_args(args);
    let root = bench.host("A").root.clone();
    let root_before = root.as_ref().map(|r| {
        let m = std::fs::metadata(r.join("etc/passwd")).unwrap();
        (std::fs::read(r.join("etc/passwd")).unwrap(), m.len())
    });
    let dir = bench.state_dir().display().to_string();
    let mut daemons = Vec::new();
    let me = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    for (h, _) in HOSTS {
        let d = labctl::testbed::nm::daemons(&bench.host(h));
        let mut names: Vec<&str> = d.iter().map(|(_, n)| n.as_str()).collect();
        names.sort();
        assert_eq!(names, ["NetworkManager", "dbus-daemon"], "{h}: {d:?}");
        for (pid, _) in &d {
            // In the host's own mount namespace, never this machine's.
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
            assert_ne!(ns, me, "{h}: pid {pid}");
        }
        daemons.extend(d);
    }
    // An sshd stopped and started again joins its host's NetworkManager (and root).
    bench.stop_sshd("B");
    bench.start_sshd("B");
    let o = bench
        .ssh(
            "B",
            "nmcli -t -g GENERAL.STATE device show eth0; cat /etc/debian_version",
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let seen = String::from_utf8_lossy(&o.stdout).into_owned();
    let version = if args.is_empty() { "12." } else { "13." };
    assert!(
        seen.contains("(connecting") && seen.contains(version),
        "{seen}"
    );
    // Used, so that the host's NetworkManager writes its profile and state.
    run(&bench, &["check", "--fix"]).assert_status(0);
    assert_eq!(
        std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        resolv
    );
    // Nothing of the bench is mounted where this machine sees it.
    let own: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir))
        .map(str::to_string)
        .collect();
    assert!(own.is_empty(), "{own:?}");

    bench.down().assert_status(0);
    let left: Vec<String> = daemons
        .iter()
        .filter(|(p, _)| labctl::testbed::proc::alive(*p))
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    assert!(left.is_empty(), "still running after down: {left:?}");
    let mounts = mounts_naming(&dir);
    assert!(mounts.is_empty(), "mounts after down: {mounts:?}");
    let before: std::collections::BTreeMap<_, _> = before.into_iter().collect();
    let after: std::collections::BTreeMap<_, _> = etc_files().into_iter().collect();
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, b)| after.get(*p) != Some(b))
        .map(|(p, _)| p.display().to_string())
        .chain(
            after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .map(|p| format!("new: {}", p.display())),
        )
        .collect();
    assert!(changed.is_empty(), "/etc changed: {changed:?}");
    // The OS's root is never written: each host wrote its own layer, now gone.
    if let (Some(r), Some(b)) = (root, root_before) {
        let m = std::fs::metadata(r.join("etc/passwd")).unwrap();
        assert_eq!((std::fs::read(r.join("etc/passwd")).unwrap(), m.len()), b);
        assert!(!r.join("home/pi").exists());
        assert!(!r
            .join("etc/NetworkManager/system-connections/labctl-eth0.nmconnection")
            .exists());
    }
}
