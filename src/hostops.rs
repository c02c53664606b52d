//! Pure builders of the shell commands labctl runs on a host, shared by
//! `check --fix` and the lab engine's configure/ping/deploy steps so the
//! logic exists once. Each command is a `.sh` template in `hostops/`
//! rendered by [`crate::util::shell_template`], its values shell-quoted.

pub mod why;

use std::net::Ipv4Addr;

use crate::arch::PROGRAMS;
use crate::config::hosts::Host;
use crate::util::shell_template::{render, Val};

/// labctl's own helpers that run on the hosts (crate `hostkit`): deployed
/// with the socket programs, built per architecture the same way, but not
/// programs a lab can start.
pub const HOST_TOOLS: [&str; 1] = ["labctl-stamp"];

/// Everything `deploy` puts in `<workdir>/bin`: the one list of deployed programs.
pub const DEPLOYED: [&str; 6] = [
    PROGRAMS[0],
    PROGRAMS[1],
    PROGRAMS[2],
    PROGRAMS[3],
    PROGRAMS[4],
    HOST_TOOLS[0],
];

/// `sudo -n ` when the host's privileged commands need sudo (never prompts), else empty.
pub fn sudo_prefix(host: &Host) -> &'static str {
    if host.sudo {
        "sudo -n "
    } else {
        ""
    }
}

/// The commands labctl runs through `sudo -n` on a host with `sudo = true`.
pub const SUDO_COMMANDS: [&str; 2] = ["ip", "tcpdump"];

/// What labctl also runs through `sudo -n` where NetworkManager manages the
/// lab interface: `configure` gives the address through it.
pub const NM_SUDO_COMMAND: &str = "nmcli";

/// What to say when `sudo -n` refuses `host`'s user (or asks for a password):
/// `(what failed, the sudoers line that would allow it)`. `paths` are the
/// refused commands as the host resolves them (`/usr/sbin/ip`); empty: the
/// usual Debian paths of [`SUDO_COMMANDS`].
pub fn sudo_refusal(
    host: &Host,
    refused: &[&str],
    paths: &[&str],
    reason: &str,
) -> (String, String) {
    let cmds = if refused.is_empty() {
        &SUDO_COMMANDS[..]
    } else {
        refused
    };
    let named: Vec<String> = cmds.iter().map(|c| format!("`sudo -n {c}`")).collect();
    let paths: Vec<String> = if paths.is_empty() {
        vec!["/usr/sbin/ip".into(), "/usr/bin/tcpdump".into()]
    } else {
        paths.iter().map(|p| p.to_string()).collect()
    };
    let reason = reason.trim();
    (
        format!(
            "host `{}`: {} needed by the lab failed{}",
            host.label(),
            named.join(" and "),
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        ),
        sudoers_line(&host.target.user, &paths),
    )
}

/// The sudoers line labctl suggests: `user` may run exactly these commands
/// (full paths) as root without a password. It is all a lab needs: a stop
/// signals a capture through its sudo, which relays the signal.
pub fn sudoers_line(user: &str, paths: &[String]) -> String {
    format!("{user} ALL=(root) NOPASSWD: {}", paths.join(", "))
}

/// What `configure` gives a host, as facts: its lab interface, the address
/// (CIDR) it gets there, and whether `ip` and `nmcli` go through sudo. The
/// plan keeps these in its configure operations and renders the command
/// from them ([`configure_link_cmd`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabLink {
    pub interface: String,
    pub cidr: String,
    pub sudo: bool,
}

impl LabLink {
    /// `host`'s lab interface and address.
    pub fn of(host: &Host) -> LabLink {
        LabLink {
            interface: host.interface.clone(),
            cidr: host.cidr(),
            sudo: host.sudo,
        }
    }

    fn sudo_prefix(&self) -> &'static str {
        if self.sudo {
            "sudo -n "
        } else {
            ""
        }
    }
}

/// Gives the lab interface its address so that it stays (`hostops/configure.sh`):
/// through labctl's own NetworkManager profile ([`configure_nm_cmd`]) where
/// NetworkManager manages the interface, else with `ip`
/// ([`configure_ip_cmd`]). Idempotent, so it can run before every lab and
/// in `check --fix`; prints `via nm` or `via ip`, the way it took.
pub fn configure_cmd(host: &Host) -> String {
    configure_link_cmd(&LabLink::of(host))
}

/// [`configure_cmd`] from the link's facts.
pub fn configure_link_cmd(link: &LabLink) -> String {
    render(
        include_str!("hostops/configure.sh"),
        &[
            ("DEV", Val::Quoted(&link.interface)),
            ("CIDR", Val::Quoted(&link.cidr)),
            ("PROFILE", Val::Quoted(&nm_profile_of(&link.interface))),
            ("NM", Val::Raw(&configure_nm_link_cmd(link))),
            ("IP", Val::Raw(&configure_ip_link_cmd(link))),
        ],
    )
}

/// The name of labctl's NetworkManager profile for the lab interface: `labctl-eth0`.
pub fn nm_profile(host: &Host) -> String {
    nm_profile_of(&host.interface)
}

fn nm_profile_of(interface: &str) -> String {
    format!("labctl-{interface}")
}

/// Gives the lab interface its address and brings the link up (only when it
/// is down: a second `ip` through sudo costs milliseconds) with `ip`:
/// `configure`'s way where no NetworkManager manages the interface.
pub fn configure_ip_cmd(host: &Host) -> String {
    configure_ip_link_cmd(&LabLink::of(host))
}

fn configure_ip_link_cmd(link: &LabLink) -> String {
    render(
        include_str!("hostops/configure-ip.sh"),
        &[
            ("S", Val::Raw(link.sudo_prefix())),
            ("CIDR", Val::Quoted(&link.cidr)),
            ("DEV", Val::Quoted(&link.interface)),
        ],
    )
}

/// Gives the lab interface its address through labctl's own NetworkManager
/// profile ([`nm_profile`]: manual IPv4, the lab address), made or set
/// again, then activated: `configure`'s way where NetworkManager manages it.
pub fn configure_nm_cmd(host: &Host) -> String {
    configure_nm_link_cmd(&LabLink::of(host))
}

fn configure_nm_link_cmd(link: &LabLink) -> String {
    render(
        include_str!("hostops/nm-profile.sh"),
        &[
            ("S", Val::Raw(link.sudo_prefix())),
            ("DEV", Val::Quoted(&link.interface)),
            ("CIDR", Val::Quoted(&link.cidr)),
            ("PROFILE", Val::Quoted(&nm_profile_of(&link.interface))),
        ],
    )
}

/// Undoes [`configure_cmd`] (`labctl clean --restore-network`): deletes
/// labctl's NetworkManager profile (the interface goes back to the image's
/// own connection), then removes the lab address if `ip` put it there.
/// Prints what it did: see [`parse_restore`].
pub fn restore_network_cmd(host: &Host) -> String {
    render(
        include_str!("hostops/nm-restore.sh"),
        &[
            ("S", Val::Raw(sudo_prefix(host))),
            ("DEV", Val::Quoted(&host.interface)),
            ("CIDR", Val::Quoted(&host.cidr())),
            ("PROFILE", Val::Quoted(&nm_profile(host))),
        ],
    )
}

/// What [`restore_network_cmd`] did on a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// labctl's profile was deleted.
    pub profile: Option<String>,
    /// The connection the interface then had (empty: none yet).
    pub now: Option<String>,
    /// The lab address was removed with `ip`.
    pub address: Option<String>,
}

/// Parses [`restore_network_cmd`]'s output.
pub fn parse_restore(out: &str) -> Restored {
    let mut r = Restored::default();
    for l in out.lines() {
        if let Some(v) = l.strip_prefix("@profile ") {
            r.profile = Some(v.to_string());
        } else if let Some(v) = l.strip_prefix("@now") {
            r.now = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("@address ") {
            r.address = Some(v.to_string());
        }
    }
    r
}

impl Restored {
    /// In words, for `clean`'s line: `deleted NetworkManager profile …`.
    pub fn describe(&self, host: &Host) -> String {
        let dev = &host.interface;
        let mut parts = Vec::new();
        if let Some(p) = &self.profile {
            let now = match self.now.as_deref() {
                Some("") | None => "NetworkManager is picking the image's connection".to_string(),
                Some(c) => format!("{dev} is back on `{c}`"),
            };
            parts.push(format!("deleted NetworkManager profile `{p}`; {now}"));
        }
        if let Some(a) = &self.address {
            parts.push(format!("removed {a} from {dev}"));
        }
        if parts.is_empty() {
            format!(
                "{dev} has nothing of labctl's (no profile `{}`, no {})",
                nm_profile(host),
                host.cidr()
            )
        } else {
            parts.join("; ")
        }
    }
}

/// Pings `target` from `host` over the lab interface: `count` echo requests,
/// waiting at most `timeout_s` seconds for each reply. Exit 0 when a reply came.
pub fn ping_cmd(host: &Host, target: Ipv4Addr, count: u32, timeout_s: u32) -> String {
    ping_on_cmd(&host.interface, target, count, timeout_s)
}

/// [`ping_cmd`] over lab interface `interface`.
pub fn ping_on_cmd(interface: &str, target: Ipv4Addr, count: u32, timeout_s: u32) -> String {
    render(
        include_str!("hostops/ping.sh"),
        &[
            ("DEV", Val::Quoted(interface)),
            ("COUNT", Val::Quoted(&count.to_string())),
            ("WAIT", Val::Quoted(&timeout_s.to_string())),
            ("TARGET", Val::Quoted(&target.to_string())),
        ],
    )
}

/// The directory the socket programs are deployed to: `<workdir>/bin`.
pub fn bin_dir(host: &Host) -> String {
    format!("{}/bin", host.workdir.trim_end_matches('/'))
}

/// The remote path of one socket program.
pub fn program_path(host: &Host, program: &str) -> String {
    format!("{}/{program}", bin_dir(host))
}

/// The manifest `deploy` writes next to the programs: per program
/// `HASH NAME STAT` where STAT is the rest of a [`STAT_FORMAT`] line
/// (inode, size, ctime — ctime changes on every write or rename and cannot
/// be set from user space), so a program whose stat line still matches
/// needs no hashing.
pub const MANIFEST: &str = ".labctl-sha256";

/// `stat -c` format of the manifest: `NAME INODE:SIZE:CTIME` (`%z` carries
/// nanoseconds on every coreutils version).
pub const STAT_FORMAT: &str = "%n %i:%s:%z";

/// The deployed programs' names, space separated (fixed names, or a lab's
/// file names limited to letters, digits, `-`, `_` and `.`: no quoting needed).
fn program_names(names: &[&str]) -> String {
    names.join(" ")
}

/// Prints `@arch` and `uname -m`, then, from inside the bin directory, the
/// [`STAT_FORMAT`] line of each program that exists, `@manifest` and the
/// manifest, `@sha` and the `sha256sum` lines of the programs (hashed only
/// when their stat line is not the manifest's, as [`cached_sha256_cmd`]).
/// Only `@arch` when the directory is missing. `names`: what deploy puts
/// there ([`DEPLOYED`] for the `rust` set).
pub fn programs_state_cmd(host: &Host, names: &[&str]) -> String {
    render(
        include_str!("hostops/programs-state-run.sh"),
        &[
            ("BIN", Val::Quoted(&bin_dir(host))),
            ("MANIFEST", Val::Quoted(MANIFEST)),
            ("FMT", Val::Quoted(STAT_FORMAT)),
            ("NAMES", Val::Quoted(&program_names(names))),
            ("SCRIPT", Val::Raw(PROGRAMS_STATE_SH)),
            ("CACHED", Val::Raw(CACHED_SHA256_SH)),
        ],
    )
}

/// The script behind [`programs_state_cmd`].
const PROGRAMS_STATE_SH: &str = include_str!("hostops/programs-state.sh");

/// Prints the [`STAT_FORMAT`] line of each program that exists.
pub fn programs_stat_cmd(host: &Host, names: &[&str]) -> String {
    render(
        include_str!("hostops/programs-stat.sh"),
        &[
            ("BIN", Val::Quoted(&bin_dir(host))),
            ("FMT", Val::Quoted(STAT_FORMAT)),
            ("NAMES", Val::Raw(&program_names(names))),
        ],
    )
}

/// The script behind [`cached_sha256_cmd`].
const CACHED_SHA256_SH: &str = include_str!("hostops/cached-sha256.sh");

/// Prints `HASH  NAME` (`sha256sum` style) for each deployed program that
/// exists (nothing for missing ones), hashing only programs whose stat line
/// differs from the manifest's: `hostops/cached-sha256.sh` in a subshell
/// inside the bin directory, after a header of its shell-quoted values
/// (`hostops/cached-sha256-run.sh`).
pub fn cached_sha256_cmd(host: &Host) -> String {
    cached_sha256_cmd_for(host, &DEPLOYED)
}

/// [`cached_sha256_cmd`] for the files of a program set (`names`).
pub fn cached_sha256_cmd_for(host: &Host, names: &[&str]) -> String {
    render(
        include_str!("hostops/cached-sha256-run.sh"),
        &[
            ("BIN", Val::Quoted(&bin_dir(host))),
            ("MANIFEST", Val::Quoted(MANIFEST)),
            ("FMT", Val::Quoted(STAT_FORMAT)),
            ("NAMES", Val::Quoted(&program_names(names))),
            ("SCRIPT", Val::Raw(CACHED_SHA256_SH)),
        ],
    )
}

/// A shell condition, true when something may listen on `port` (TCP or
/// UDP), or when that cannot be told. Guards the costly `ss -p`, which reads
/// every process's file descriptors to name the owner. Measured per call in a
/// namespace of the virtual bench: `ss` without `-p` 2.3 ms, with `-p` 4.3 ms,
/// and reading `/proc/net/tcp` and `tcp6` 8 ms (each read walks the kernel's
/// whole socket table, shared by every namespace).
pub fn port_maybe_used_cond(port: u16) -> String {
    render(
        include_str!("hostops/port-maybe-used.sh"),
        &[("FILTER", Val::Quoted(&port_filter(port)))],
    )
}

/// The `ss` filter that selects sockets on local port `port`.
fn port_filter(port: u16) -> String {
    format!("sport = :{port}")
}

/// Lists sockets listening on `port` (TCP and UDP) with their processes, one per line.
pub fn listeners_cmd(host: &Host, port: u16) -> String {
    render(
        include_str!("hostops/listeners.sh"),
        &[
            ("S", Val::Raw(sudo_prefix(host))),
            ("FILTER", Val::Quoted(&port_filter(port))),
        ],
    )
}

/// A host for unit tests (A, 10.0.3.1/24 on eth0, user pi).
#[cfg(test)]
pub(crate) fn sample_host(sudo: bool) -> Host {
    use crate::config::hosts::{Auth, SshTarget};
    Host {
        name: "A".into(),
        bench: "bench".into(),
        in_room: false,
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: 40001,
            user: "pi".into(),
        },
        auth: Auth::Agent,
        interface: "eth0".into(),
        addr: Ipv4Addr::new(10, 0, 3, 1),
        prefix: 24,
        workdir: "/home/pi/labctl".into(),
        sudo,
        arch: None,
        known_hosts: "kh".into(),
        password_env: None,
        interface_at: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::shell_quote;

    /// Runs `cmd` with `sh` and returns its stdout.
    fn sh(cmd: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    fn host(sudo: bool) -> Host {
        Host {
            workdir: "/home/pi/lab ctl".into(),
            ..sample_host(sudo)
        }
    }

    #[test]
    fn configure_takes_networkmanager_where_it_manages_the_interface() {
        let c = configure_cmd(&host(true));
        assert!(
            c.starts_with(
                "nmcli -t -g GENERAL.STATE,GENERAL.CONNECTION device show eth0 2>/dev/null | {"
            ),
            "{c}"
        );
        assert!(c.contains(&configure_ip_cmd(&host(true))), "{c}");
        assert!(c.contains(&configure_nm_cmd(&host(true))), "{c}");
        let nm = configure_nm_cmd(&host(true));
        assert!(nm.contains("sudo -n nmcli connection add type ethernet con-name labctl-eth0 ifname eth0 ipv4.method manual ipv4.addresses 10.0.3.1/24"), "{nm}");
        assert!(
            nm.contains("sudo -n nmcli connection up id labctl-eth0"),
            "{nm}"
        );
        assert!(!configure_nm_cmd(&host(false)).contains("sudo"));
        let r = restore_network_cmd(&host(true));
        assert!(
            r.contains("sudo -n nmcli connection delete id labctl-eth0"),
            "{r}"
        );
        assert!(
            r.contains("sudo -n ip addr del 10.0.3.1/24 dev eth0"),
            "{r}"
        );
        let got = parse_restore("@profile labctl-eth0\n@now Wired connection 1\n");
        assert_eq!(got.now.as_deref(), Some("Wired connection 1"));
        assert_eq!(
            got.describe(&host(true)),
            "deleted NetworkManager profile `labctl-eth0`; eth0 is back on `Wired connection 1`"
        );
        assert_eq!(
            parse_restore("@address 10.0.3.1/24\n").describe(&host(true)),
            "removed 10.0.3.1/24 from eth0"
        );
    }

    #[test]
    fn configure_is_sudo_aware_and_quoted() {
        assert_eq!(
            configure_ip_cmd(&host(true)),
            "sudo -n ip addr replace 10.0.3.1/24 dev eth0 && { f=; read -r f 2>/dev/null </sys/class/net/eth0/flags; [ $((${f:-0} & 1)) = 1 ] || sudo -n ip link set eth0 up; }"
        );
        assert_eq!(
            configure_ip_cmd(&host(false)),
            "ip addr replace 10.0.3.1/24 dev eth0 && { f=; read -r f 2>/dev/null </sys/class/net/eth0/flags; [ $((${f:-0} & 1)) = 1 ] || ip link set eth0 up; }"
        );
        let mut h = host(false);
        h.interface = "e$(x)".into();
        assert!(configure_cmd(&h).contains("dev 'e$(x)'"));
        assert!(configure_cmd(&h).contains("show dev 'e$(x)'"));
    }

    #[test]
    fn ping_and_paths() {
        assert_eq!(
            ping_cmd(&host(false), Ipv4Addr::new(10, 0, 3, 2), 2, 1),
            "ping -n -q -I eth0 -c 2 -W 1 10.0.3.2"
        );
        assert_eq!(
            program_path(&host(false), "tcp_server"),
            "/home/pi/lab ctl/bin/tcp_server"
        );
        assert!(cached_sha256_cmd(&host(false)).contains("cd -- '/home/pi/lab ctl/bin'"));
        assert_eq!(
            listeners_cmd(&host(true), 50000),
            "sudo -n ss -ltnupH 'sport = :50000'"
        );
    }

    #[test]
    fn hashes_come_from_the_manifest_only_while_the_stat_line_matches() {
        let dir = std::env::temp_dir().join(format!("labctl-hostops-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let h = Host {
            workdir: dir.to_string_lossy().into_owned(),
            ..sample_host(false)
        };
        std::fs::write(bin.join("tcp_server"), "one\n").unwrap();
        std::fs::write(bin.join("udp_client"), "two\n").unwrap();
        let real = sh(&format!(
            "cd {} && sha256sum tcp_server udp_client",
            shell_quote(&bin_dir(&h))
        ));
        // No manifest: both hashed, missing programs print nothing.
        assert_eq!(sh(&cached_sha256_cmd(&h)), real);
        // A manifest whose stat lines match is believed (a fake hash proves it).
        let fake = "f".repeat(64);
        let stat = sh(&programs_stat_cmd(&h, &DEPLOYED));
        let manifest: String = stat.lines().map(|l| format!("{fake} {l}\n")).collect();
        std::fs::write(bin.join(MANIFEST), &manifest).unwrap();
        let cached = sh(&cached_sha256_cmd(&h));
        assert_eq!(cached, format!("{fake}  tcp_server\n{fake}  udp_client\n"));
        // Same size, new content: the ctime moved, so it is hashed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(bin.join("udp_client"), "TWO\n").unwrap();
        let again = sh(&cached_sha256_cmd(&h));
        let udp = sh(&format!(
            "cd {} && sha256sum udp_client",
            shell_quote(&bin_dir(&h))
        ));
        assert_eq!(again, format!("{fake}  tcp_server\n{udp}"));
        // A manifest line with a broken hash is not believed.
        std::fs::write(bin.join(MANIFEST), manifest.replace(&fake, "bad")).unwrap();
        assert_eq!(sh(&cached_sha256_cmd(&h)).lines().count(), 2);
        assert!(!sh(&cached_sha256_cmd(&h)).contains("bad"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_port_probe_is_a_shell_condition() {
        // Port 1 (tcpmux) listens nowhere here; the probe must say so.
        assert_eq!(
            sh(&format!(
                "if {}; then echo yes; else echo no; fi",
                port_maybe_used_cond(1)
            )),
            "no\n"
        );
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for port in [
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port(),
        ] {
            let probe = port_maybe_used_cond(port);
            assert_eq!(
                sh(&format!("if {probe}; then echo yes; else echo no; fi")),
                "yes\n"
            );
        }
    }
}
