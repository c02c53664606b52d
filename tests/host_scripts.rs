//! The guard on what runs on hosts: every `*.sh` under `src/` is POSIX sh
//! that shellcheck accepts and that dash, busybox sh and bash parse; the
//! check script also runs for real under each and its facts parse.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use labctl::check::{parse_facts, script};
use labctl::config::hosts::{Auth, Host, SshTarget};
use labctl::util::shell_template;

/// The shells a host's `/bin/sh` may be: `(program, args before the script)`.
const SHELLS: [(&str, &[&str]); 3] = [("dash", &[]), ("busybox", &["sh"]), ("bash", &["--posix"])];

/// Every `*.sh` under `dir`, recursively (so scripts added later are covered).
fn scripts_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scripts_under(&p, out);
        } else if p.extension().is_some_and(|x| x == "sh") {
            out.push(p);
        }
    }
}

fn src_scripts() -> Vec<PathBuf> {
    let mut v = Vec::new();
    scripts_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut v);
    v.sort();
    v
}

#[test]
fn every_host_script_is_shellcheck_clean_posix_sh() {
    let scripts = src_scripts();
    assert!(
        scripts.iter().any(|p| p.ends_with("check/check.sh")),
        "{scripts:?}"
    );
    for p in &scripts {
        let out = Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(p)
            .output()
            .expect("shellcheck runs (Debian package `shellcheck`)");
        assert!(
            out.status.success(),
            "shellcheck {}:\n{}",
            p.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        for (sh, pre) in SHELLS {
            let out = Command::new(sh)
                .args(pre)
                .arg("-n")
                .arg(p)
                .output()
                .unwrap_or_else(|e| panic!("`{sh}` runs: {e}"));
            assert!(
                out.status.success(),
                "`{sh} -n {}`: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A host whose lab interface is this machine's `lo` (127.0.0.1/8), so the
/// script's pings stay on loopback, with its workdir in `dir`.
fn loopback_host(dir: &Path) -> Host {
    Host {
        name: "A".into(),
        bench: "bench".into(),
        in_room: false,
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: 22,
            user: "root".into(),
        },
        auth: Auth::Agent,
        interface: "lo".into(),
        addr: Ipv4Addr::new(127, 0, 0, 1),
        prefix: 8,
        workdir: dir.to_str().unwrap().into(),
        sudo: false,
        arch: None,
        known_hosts: "kh".into(),
        password_env: None,
        interface_at: Default::default(),
    }
}

#[test]
fn the_check_script_runs_under_every_shell_and_its_facts_parse() {
    let dir = std::env::temp_dir().join(format!("labctl-host-scripts-{}", std::process::id()));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("tcp_server"), "hello\n").unwrap();
    let host = loopback_host(&dir);
    let peers = [("B".to_string(), Ipv4Addr::new(127, 0, 0, 1))];
    let text = script(&host, &peers, &[("tcp", 1), ("udp", 1)]);
    let arch = String::from_utf8(Command::new("uname").arg("-m").output().unwrap().stdout).unwrap();
    for (sh, pre) in SHELLS {
        let out = Command::new(sh)
            .args(pre)
            .arg("-c")
            .arg(&text)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let f = parse_facts(&stdout);
        assert!(f.complete, "`{sh}` did not reach `@end`:\n{stdout}");
        // Its first line is the host's clock: `check` takes the clock row's sample from it.
        let first = stdout.lines().next().unwrap_or("");
        assert!(
            first.parse::<f64>().is_ok_and(|t| t > 1.7e9),
            "`{sh}`: first line `{first}`"
        );
        assert_eq!(f.arch.as_deref(), Some(arch.trim()), "`{sh}`");
        assert!(f.interfaces.iter().any(|i| i == "lo"), "`{sh}`: {f:?}");
        assert!(f.iface, "`{sh}`: {f:?}");
        assert!(
            f.addrs.iter().any(|a| a.contains("127.0.0.1/8")),
            "`{sh}`: {f:?}"
        );
        assert!(f.tools.iter().any(|t| t == "ip"), "`{sh}`: {f:?}");
        assert_eq!(f.pings.len(), 1, "`{sh}`: {f:?}");
        // As root: the rights are tried and granted; the workdir takes a file.
        assert_eq!(f.rights.ip, Some(Ok(())), "`{sh}`: {f:?}");
        assert_eq!(f.rights.tcpdump, Some(Ok(())), "`{sh}`: {f:?}");
        assert_eq!(f.workdir.write, Some(Ok(())), "`{sh}`: {f:?}");
        assert!(f.workdir.free_kb.is_some(), "`{sh}`: {f:?}");
        assert_eq!(f.ports.len(), 2, "`{sh}`: {f:?}");
        assert_eq!(
            f.sha.get("tcp_server").map(String::as_str),
            // sha256 of "hello\n"
            Some("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
            "`{sh}`: {f:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `sudo` that notes each call in `$SUDO_LOG`, answers a listing
/// (`sudo -n -l`) with `$SUDO_LISTING`, a command's (`-l CMD`) with its
/// path, and runs anything else itself (the test runs as root).
const FAKE_SUDO: &str = r#"#!/bin/sh
echo "$*" >>"$SUDO_LOG"
[ "$1" = -n ] && shift
if [ "$1" = -l ]; then
    shift
    [ $# = 0 ] && { printf '%s\n' "$SUDO_LISTING"; exit 0; }
    command -v "$1"
    exit
fi
exec "$@"
"#;

/// With sudo, the check asks sudo once when its listing's last rule runs
/// anything as root without a password (Raspberry Pi OS's own), and tries
/// each command as before when it does not (the sudoers line labctl
/// suggests), or when `requiretty` would refuse a command the listing does
/// not show; the facts are the same either way. As root (the rights are
/// tried for real, as in the test above).
#[test]
fn the_check_asks_sudo_once_where_its_rules_allow_everything() {
    let dir = std::env::temp_dir().join(format!("labctl-sudo-list-{}", std::process::id()));
    let fake = dir.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    let sudo = fake.join("sudo");
    std::fs::write(&sudo, FAKE_SUDO).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut host = loopback_host(&dir);
    host.sudo = true;
    let text = script(&host, &[], &[]);
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let head = "Matching Defaults entries for pi on A:\n    env_reset, !requiretty, secure_path=/usr/sbin\\:/usr/bin\n\nUser pi may run the following commands on A:\n";
    let cases = [
        ("    (ALL : ALL) ALL\n    (ALL) NOPASSWD: ALL", head, true),
        ("    (ALL : ALL) NOPASSWD: ALL", head, true),
        // The last rule wins: here a password for `ip`.
        ("    (ALL) NOPASSWD: ALL\n    (ALL) PASSWD: /usr/sbin/ip", head, false),
        ("    (root) NOPASSWD: /usr/sbin/ip, /usr/bin/tcpdump", head, false),
        (
            "    (ALL) NOPASSWD: ALL",
            "Matching Defaults entries for pi on A:\n    env_reset, requiretty\n\nUser pi may run the following commands on A:\n",
            false,
        ),
    ];
    for (rules, defaults, once) in cases {
        for (sh, pre) in SHELLS {
            let log = dir.join("sudo.log");
            let _ = std::fs::remove_file(&log);
            let out = Command::new(sh)
                .args(pre)
                .arg("-c")
                .arg(&text)
                .env("PATH", &path)
                .env("SUDO_LOG", &log)
                .env("SUDO_LISTING", format!("{defaults}{rules}"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let f = parse_facts(&stdout);
            assert!(f.complete, "`{sh}`, `{rules}`: no `@end`:\n{stdout}");
            assert_eq!(f.sudo, Some(Ok(())), "`{sh}`, `{rules}`: {f:?}");
            assert_eq!(f.rights.ip, Some(Ok(())), "`{sh}`, `{rules}`: {f:?}");
            assert_eq!(f.rights.tcpdump, Some(Ok(())), "`{sh}`, `{rules}`: {f:?}");
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            let calls: Vec<&str> = calls.lines().collect();
            if once {
                assert_eq!(calls, ["-n -l"], "`{sh}`, `{rules}`");
            } else {
                assert_eq!(
                    calls.first(),
                    Some(&"-n -l"),
                    "`{sh}`, `{rules}`: {calls:?}"
                );
                assert!(
                    calls.iter().any(|c| c.starts_with("-n ip link set"))
                        && calls.contains(&"-n tcpdump --version"),
                    "`{sh}`, `{rules}`: each command tried: {calls:?}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every `.sh` under `src/` that has placeholders (a template, see
/// `util::shell_template`) names each of them in its leading comment.
#[test]
fn every_template_documents_its_placeholders() {
    let mut templates = 0;
    for f in src_scripts() {
        let text = std::fs::read_to_string(&f).unwrap();
        let cmd = shell_template::body(&text);
        // The leading comment: what comes before the command.
        let head = &text[..cmd.as_ptr() as usize - text.as_ptr() as usize];
        let names = shell_template::placeholders(cmd);
        if names.is_empty() {
            continue;
        }
        templates += 1;
        assert!(
            text.starts_with("# "),
            "{}: opens with its comment",
            f.display()
        );
        for n in names {
            assert!(
                head.contains(&format!("@{n}@")),
                "{}: placeholder `@{n}@` is not described in its leading comment",
                f.display()
            );
        }
    }
    assert!(templates > 0);
}
