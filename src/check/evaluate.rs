//! Turning a host's facts into its checks, each with a detail and, when failed, a fix hint.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::arch::PROGRAMS;
use crate::config::hosts::Host;
use crate::deploy::LocalBuild;
use crate::hostops;
use crate::ssh::{SshError, SshErrorKind};

use super::*;

pub(super) fn host_report(
    host: &Host,
    connected: Option<Duration>,
    checks: Vec<CheckResult>,
) -> HostReport {
    HostReport {
        host: host.name.clone(),
        label: host.label(),
        ssh: host.endpoint(),
        ok: checks.iter().all(|c| c.status.ok()),
        connect_ms: connected.map(|d| d.as_millis() as u64),
        checks,
    }
}

pub(super) fn pass(check: &'static str, detail: String) -> CheckResult {
    CheckResult {
        check,
        status: Status::Pass,
        detail,
        hint: None,
    }
}

pub(super) fn fail(check: &'static str, detail: String, hint: impl Into<String>) -> CheckResult {
    CheckResult {
        check,
        status: Status::Fail,
        detail,
        hint: Some(hint.into()),
    }
}

pub(super) fn skip(check: &'static str, why: &str) -> CheckResult {
    CheckResult {
        check,
        status: Status::Skip,
        detail: format!("not checked: {why}"),
        hint: None,
    }
}

/// `skip` for every check from index `from` on.
pub(super) fn skipped_from(from: usize, why: &str) -> Vec<CheckResult> {
    CHECKS[from..].iter().map(|c| skip(c, why)).collect()
}

/// The report of a host that could not be reached: the failing check and the rest skipped.
pub(super) fn unreachable_report(host: &Host, e: &SshError) -> HostReport {
    let detail = e.message.clone();
    let (first, hint) = match e.kind {
        SshErrorKind::HostKeyUnknown => (
            "host key",
            "if the fingerprint is the host's, run again with `--accept-new` to record it".to_string(),
        ),
        SshErrorKind::HostKeyChanged => (
            "host key",
            "if the host's card was re-imaged, `labctl keys trust --replace` shows the recorded and the offered keys and records the new one once you confirm; otherwise do not connect".to_string(),
        ),
        SshErrorKind::Auth if e.message.contains("environment variable") => (
            "ssh",
            "export that variable before running labctl; secrets never go in hosts.toml".to_string(),
        ),
        SshErrorKind::Auth if e.message.contains("wrong passphrase") => (
            "ssh",
            "put the key's passphrase in the variable named by `passphrase_env`".to_string(),
        ),
        SshErrorKind::Auth if host.password_env.is_some() && !matches!(host.auth, crate::ssh::Auth::Password { .. }) => (
            "ssh",
            format!(
                "a fresh card takes only its password: `labctl keys install` logs in with the password in `${}` and installs labctl's key on the hosts",
                host.password_env.as_deref().unwrap_or_default()
            ),
        ),
        SshErrorKind::Auth => (
            "ssh",
            format!(
                "check `user`, `auth` and `identity` for `{}` in hosts.toml and that the key is in ~{}/.ssh/authorized_keys on the host",
                host.name, host.target.user
            ),
        ),
        _ => (
            "ssh",
            format!(
                "is the host on and its sshd running? try `ssh -p {} {}@{}`; check `ssh` for `{}` in hosts.toml",
                host.target.port, host.target.user, host.target.host, host.name
            ),
        ),
    };
    let mut checks = Vec::new();
    for c in CHECKS {
        if c == first {
            checks.push(fail(c, detail.clone(), hint.clone()));
        } else if c == "ssh" {
            // The key check happens after TCP and the handshake: ssh itself worked.
            checks.push(pass(
                "ssh",
                format!("{}@{} answered", host.target.user, host.endpoint()),
            ));
        } else {
            checks.push(skip(c, "the host could not be reached"));
        }
    }
    host_report(host, None, checks)
}

/// Turns a host's facts into its checks (everything after `ssh` and `host key`).
pub(crate) fn evaluate(
    host: &Host,
    f: &Facts,
    local: Option<Result<Arc<LocalBuild>, String>>,
    peers: &[(String, Ipv4Addr)],
) -> Vec<CheckResult> {
    let dev = &host.interface;
    let mut c = Vec::new();
    c.push(arch_check(host, f));
    // interface
    c.push(if f.iface {
        pass("interface", format!("{dev} present"))
    } else {
        interface_missing(host, f)
    });
    // link
    c.push(if !f.iface {
        skip("link", &format!("no interface `{dev}`"))
    } else if f.operstate == "up" && f.carrier == "1" {
        pass("link", format!("{dev} up, carrier"))
    } else {
        let carrier = match f.carrier.as_str() {
            "1" => "carrier",
            "0" => "no carrier",
            _ => "carrier unknown",
        };
        fail(
            "link",
            format!("{dev} is {} ({carrier})", if f.operstate.is_empty() { "in an unknown state" } else { &f.operstate }),
            if f.operstate == "down" || f.carrier.is_empty() {
                format!("`labctl check --fix` brings it up (`{}ip link set {dev} up`); if it stays down, check the cable and the switch", hostops::sudo_prefix(host))
            } else {
                "check the cable and the switch port".to_string()
            },
        )
    });
    // address
    let cidr = host.cidr();
    c.push(if !f.iface {
        skip("address", &format!("no interface `{dev}`"))
    } else if f.addrs.contains(&cidr) {
        pass("address", format!("{cidr} on {dev}"))
    } else {
        fail(
            "address",
            format!(
                "{cidr} is not on {dev} (it has {})",
                if f.addrs.is_empty() {
                    "none".to_string()
                } else {
                    f.addrs.join(", ")
                }
            ),
            if f.manager.nm_manages() {
                format!(
                    "`labctl check --fix` assigns it through NetworkManager profile `{}`",
                    hostops::nm_profile(host)
                )
            } else {
                format!(
                    "`labctl check --fix` assigns it (`{}`)",
                    hostops::configure_ip_cmd(host)
                )
            },
        )
    });
    c.push(if !f.iface {
        skip("manager", &format!("no interface `{dev}`"))
    } else {
        manager_check(host, &f.manager)
    });
    // tools
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| !f.tools.iter().any(|x| x == t))
        .collect();
    // The program set's interpreter, with the version it reports.
    let mut present = TOOLS.join(", ");
    match &f.interp {
        Some((name, v)) if v == "@missing" || v.is_empty() => missing.push(name),
        Some((name, v)) => present.push_str(&format!(", {name} ({v})")),
        None => {}
    }
    // The commands the lab's programs run here.
    for (name, path) in &f.lab_commands.commands {
        if TOOLS.contains(&name.as_str()) {
            continue;
        }
        match path {
            Some(_) => present.push_str(&format!(", {name}")),
            None => missing.push(name),
        }
    }
    c.push(if missing.is_empty() {
        pass("tools", present)
    } else {
        let pkgs: Vec<&str> = missing
            .iter()
            .map(|t| match *t {
                "ip" | "ss" => "iproute2",
                "ping" => "iputils-ping",
                "nc" => "netcat-openbsd",
                "dig" => "dnsutils",
                other => other,
            })
            .fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            });
        fail(
            "tools",
            format!("missing: {}", missing.join(", ")),
            format!(
                "install them on the host: `sudo apt-get install {}`",
                pkgs.join(" ")
            ),
        )
    });
    // sudo
    c.push(match &f.sudo {
        None => pass("sudo", "not needed (`sudo = false`)".to_string()),
        Some(Ok(())) => pass("sudo", "`sudo -n` works".to_string()),
        Some(Err(e)) => sudo_row(host, e),
    });
    c.push(rights_check(host, f));
    c.push(workdir_check(host, f));
    c.push(lab_port_check(host, f));
    // programs
    c.push(match local {
        None => skip("programs", "unsupported architecture"),
        Some(Err(e)) => fail(
            "programs",
            format!("no local build to compare with: {e}"),
            "build the socket programs for this architecture (see the command above), then run `labctl check --fix`",
        ),
        Some(Ok(build)) => {
            let mut missing = Vec::new();
            let mut differ = Vec::new();
            for p in &build.programs {
                match f.sha.get(&p.name) {
                    None => missing.push(p.name.as_str()),
                    Some(h) if *h != p.sha256 => differ.push(p.name.as_str()),
                    Some(_) => {}
                }
            }
            if missing.is_empty() && differ.is_empty() {
                pass("programs", format!("{} programs identical to the local build", PROGRAMS.len()))
            } else {
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("missing: {}", missing.join(", ")));
                }
                if !differ.is_empty() {
                    parts.push(format!("differ from the local build: {}", differ.join(", ")));
                }
                fail(
                    "programs",
                    format!("in {}: {}", hostops::bin_dir(host), parts.join("; ")),
                    "`labctl check --fix` deploys them",
                )
            }
        }
    });
    // ping
    c.push(if peers.is_empty() {
        pass("ping", "no other host on the bench".to_string())
    } else {
        let failed: Vec<String> = peers
            .iter()
            .filter(|(_, a)| !f.pings.iter().any(|(p, ok)| p == a && *ok))
            .map(|(n, a)| format!("{n} ({a})"))
            .collect();
        if !f.addrs.contains(&host.cidr()) {
            fail(
                "ping",
                format!("not tried: {} has no lab address", host.name),
                "fix the `address` check first",
            )
        } else if failed.is_empty() {
            pass(
                "ping",
                format!(
                    "reaches {}",
                    peers
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        } else if let Some(c) = ping_cause(host, f) {
            c
        } else {
            fail(
                "ping",
                format!("no reply over {dev} from {}", failed.join(", ")),
                "check both hosts' `address` and `link` checks, then the cables and the switch",
            )
        }
    });
    c
}

/// `interface` failed: the interfaces the host does have (an image that is
/// not Raspberry Pi OS may name the port `end0`), and the line of the hosts
/// file to change.
fn interface_missing(host: &Host, f: &Facts) -> CheckResult {
    let dev = &host.interface;
    // Wired ports first (`end0`, `enp1s0`, `eth1`): the likely lab interface.
    let mut others: Vec<&String> = f.interfaces.iter().filter(|i| *i != "lo").collect();
    others.sort_by_key(|i| !i.starts_with('e'));
    let has = if others.is_empty() {
        "no interface but `lo`".to_string()
    } else {
        others
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let at = &host.interface_at;
    let hint = match others.first() {
        Some(other) if at.written => format!(
            "if `{other}` is its lab port, change `interface = \"{dev}\"` to `interface = \"{other}\"` at {} (it applies to `{}`)",
            at.at, host.name
        ),
        Some(other) => format!(
            "if `{other}` is its lab port, add `interface = \"{other}\"` to the table of `{}` at {} (without it, `eth0`)",
            host.name, at.at
        ),
        None => format!(
            "connect the host's lab port; its interface is set for `{}` at {}",
            host.name, at.at
        ),
    };
    fail(
        "interface",
        format!("no interface `{dev}` on host `{}`; it has {has}", host.name),
        hint,
    )
}

/// `manager`: who manages the lab interface, and whether it will keep the
/// lab address: NetworkManager on a DHCP connection will not (with no DHCP
/// server on the lab's switch it gives up after 45 s and removes every
/// address), nor on no connection (it activates one); labctl's own profile,
/// another manual one, dhcpcd (it keeps what `ip` adds) and none do.
fn manager_check(host: &Host, m: &Manager) -> CheckResult {
    let dev = &host.interface;
    let profile = hostops::nm_profile(host);
    let fix = format!(
        "`labctl check --fix` gives {dev} {} through labctl's own NetworkManager profile `{profile}` (manual IPv4), which NetworkManager keeps (`{}`); `labctl clean --restore-network` undoes it",
        host.cidr(),
        hostops::configure_nm_cmd(host)
    );
    if m.nm_manages() {
        let state = m.nm_state.as_deref().unwrap_or("");
        // `70 (connecting (getting IP configuration))` → `connecting (getting IP configuration)`
        let state = state.split_once(' ').map_or(state, |(_, t)| {
            t.strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(t)
        });
        if let Some(Err(why)) = &m.nm_sudo {
            let mut paths: Vec<String> = vec!["/usr/sbin/ip".into(), "/usr/bin/tcpdump".into()];
            paths.push("/usr/bin/nmcli".into());
            return fail(
                "manager",
                format!(
                    "NetworkManager manages {dev} on host `{}`, and `sudo -n nmcli`, which gives it the lab address there, failed ({why})",
                    host.name
                ),
                format!(
                    "allow it with the sudoers line `{}` (e.g. in /etc/sudoers.d/labctl)",
                    hostops::sudoers_line(&host.target.user, &paths)
                ),
            );
        }
        if m.nm_con == profile {
            return pass(
                "manager",
                format!("NetworkManager: labctl's profile `{profile}` (manual) on {dev}, {state}"),
            );
        }
        if m.nm_con.is_empty() {
            return fail(
                "manager",
                format!("NetworkManager manages {dev} with no connection active ({state}): it will activate one, and a DHCP one removes the lab address"),
                fix,
            );
        }
        let method = m.nm_method.as_deref().unwrap_or("");
        if method == "auto" || method.is_empty() {
            return fail(
                "manager",
                format!(
                    "NetworkManager runs `{}` (DHCP) on {dev}, {state}: with no DHCP server on the lab's switch it gives up after 45 s and removes the lab address",
                    m.nm_con
                ),
                fix,
            );
        }
        return pass(
            "manager",
            format!(
                "NetworkManager: `{}` ({method}) on {dev}, {state}",
                m.nm_con
            ),
        );
    }
    let nm_note = if m.nm_state_code() == Some(10) {
        "; NetworkManager runs but leaves it unmanaged"
    } else {
        ""
    };
    if let Some(pid) = m.dhcpcd {
        let stat = if m.dhcpcd_static.is_empty() {
            format!("no `static ip_address` for {dev} in /etc/dhcpcd.conf")
        } else {
            format!(
                "/etc/dhcpcd.conf gives {dev} `static ip_address={}`",
                m.dhcpcd_static
            )
        };
        return pass(
            "manager",
            format!("dhcpcd (pid {pid}), which keeps the address `ip` adds; {stat}{nm_note}"),
        );
    }
    pass(
        "manager",
        format!("none: {dev}'s address is set with `ip`{nm_note}"),
    )
}

/// A failed `ping` whose own words name its cause (not permitted for the
/// login, not installed, no route): that cause and its fix, with ping's
/// words, instead of "no reply … check the cables".
fn ping_cause(host: &Host, f: &Facts) -> Option<CheckResult> {
    let (_, words) = f.ping_words.first()?;
    let cause = hostops::why::explain("ping", host, words)?;
    Some(fail(
        "ping",
        format!("{}: `{words}`", cause.what),
        cause.hint,
    ))
}

/// `rights`: the login may change the lab interface and capture on it, as
/// the script tried (root, `sudo -n` with `sudo = true`, or capabilities).
fn rights_check(host: &Host, f: &Facts) -> CheckResult {
    let (dev, name, user) = (&host.interface, &host.name, &host.target.user);
    let how = if host.sudo {
        "through `sudo -n`".to_string()
    } else if f.rights.uid == Some(0) {
        "as root".to_string()
    } else {
        format!("as `{user}`")
    };
    let mut failed = Vec::new();
    if let Some(Err(e)) = &f.rights.ip {
        failed.push(format!(
            "changing `{dev}` is refused on host `{name}` ({how}): {e}"
        ));
    }
    if let Some(Err(e)) = &f.rights.tcpdump {
        failed.push(format!("tcpdump is refused on host `{name}` ({how}): {e}"));
    }
    // The lab's programs that run as root (`sudo = true`).
    let lab = &f.lab_commands;
    for (cmd, why) in &lab.refused {
        failed.push(format!(
            "`sudo -n {cmd}` (a program of the lab runs it as root) is refused on host `{name}`: {why}"
        ));
    }
    for cmd in lab.not_root.keys() {
        failed.push(format!(
            "`{cmd}` runs as root (a program of the lab says `sudo = true`), but host `{name}` logs in as `{user}` without `sudo = true`"
        ));
    }
    if f.rights.ip.is_none() && f.rights.tcpdump.is_none() {
        return skip("rights", "the script did not try them");
    }
    if failed.is_empty() {
        let root: Vec<String> = lab.as_root.iter().map(|c| format!("`{c}`")).collect();
        let also = if root.is_empty() {
            String::new()
        } else {
            format!("; the lab's {} as root", root.join(", "))
        };
        return pass("rights", format!("`ip` and `tcpdump` on {dev} {how}{also}"));
    }
    // The tool's own words name the cause (sudo's refusal, a capability): its fix.
    let cause = [("ip", &f.rights.ip), ("tcpdump", &f.rights.tcpdump)]
        .into_iter()
        .find_map(|(tool, r)| match r {
            Some(Err(e)) => hostops::why::explain(tool, host, e),
            _ => None,
        });
    let hint = if let (Some(c), false) = (&cause, f.sudo_could) {
        format!("{}: {}", c.what, c.hint)
    } else if host.sudo {
        format!(
            "allow passwordless sudo for `{user}` (a line `{user} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/labctl)"
        )
    } else if f.sudo_could {
        format!("`sudo -n` works for `{user}`: set `sudo = true` for `{name}` in hosts.toml")
    } else {
        format!(
            "log in as root, or set `sudo = true` for `{name}` in hosts.toml and allow passwordless sudo for `{user}`"
        )
    };
    fail("rights", failed.join("; "), hint)
}

/// `workdir`: a file can be written there and [`MIN_FREE_MB`] are free.
fn workdir_check(host: &Host, f: &Facts) -> CheckResult {
    let (wd, name) = (&host.workdir, &host.name);
    let w = &f.workdir;
    match &w.write {
        None => skip("workdir", "the script did not try it"),
        Some(Err(e)) => {
            // `sh: 1: cannot create /x/y: Read-only file system` → `read-only file system`
            let why = e.rsplit(": ").next().unwrap_or(e).trim();
            fail(
                "workdir",
                format!(
                    "{} on host `{name}` (workdir {wd}): {e}",
                    crate::util::lower_first(why)
                ),
                format!("make {} writable by `{}` with {MIN_FREE_MB} MB free, or point `workdir` for `{name}` in hosts.toml elsewhere", w.dir, host.target.user),
            )
        }
        Some(Ok(())) => match w.free_kb {
            Some(kb) if kb < MIN_FREE_MB * 1024 => fail(
                "workdir",
                format!(
                    "no space left on device on host `{name}` (workdir {wd}): {} MB free, a run needs {MIN_FREE_MB} MB",
                    kb / 1024
                ),
                format!("free space on the filesystem of {}, or point `workdir` for `{name}` in hosts.toml elsewhere", w.dir),
            ),
            Some(kb) => pass("workdir", format!("{wd} writable, {} MB free", kb / 1024)),
            None => pass("workdir", format!("{wd} writable (free space unknown)")),
        },
    }
}

/// `lab port`: nothing listens on the ports the lab's servers bind on this
/// host, and nothing else on them (a TIME_WAIT left by a socket without
/// SO_REUSEADDR) makes a trial bind fail.
fn lab_port_check(host: &Host, f: &Facts) -> CheckResult {
    if !f.tools.iter().any(|t| t == "ss") {
        return skip("lab port", "`ss` is missing");
    }
    if f.ports.is_empty() {
        return pass("lab port", "no server of the lab runs here".to_string());
    }
    let all: Vec<String> = f
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.port, p.proto))
        .collect();
    match lab_ports_taken(host, f) {
        None => pass("lab port", format!("nothing holds {}", all.join(", "))),
        Some((detail, hint)) => fail("lab port", detail, hint),
    }
}

/// What holds the lab's ports on `host` (`f.ports`), in `check`'s words, and
/// the hint to free them; `None` when nothing does. `run` refuses with the
/// same words when a port it is about to use is taken.
pub(crate) fn lab_ports_taken(host: &Host, f: &Facts) -> Option<(String, String)> {
    let mut busy = Vec::new();
    let mut pids = Vec::new();
    for p in &f.ports {
        if !p.listen.is_empty() {
            let who: Vec<String> = p
                .listen
                .iter()
                .map(|l| describe_listener(l, &f.users))
                .collect();
            busy.push(format!(
                "port {}/{} is in use: {}",
                p.port,
                p.proto,
                who.join("; ")
            ));
            pids.extend(
                p.listen
                    .iter()
                    .filter_map(|l| l.split("pid=").nth(1))
                    .filter_map(|p| p.split(|c: char| !c.is_ascii_digit()).next())
                    .map(str::to_string),
            );
        } else if p.bind_failed {
            let socks: Vec<String> = p
                .blocked
                .iter()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            busy.push(format!(
                "a server cannot bind port {}/{}: {}",
                p.port,
                p.proto,
                socks.join("; ")
            ));
        }
    }
    if busy.is_empty() {
        return None;
    }
    let hint = if !pids.is_empty() {
        format!(
            "stop it (`{}kill {}` on {}); `labctl check --fix` stops only programs labctl started",
            hostops::sudo_prefix(host),
            pids.join(" "),
            host.name
        )
    } else if f.ports.iter().any(|p| p.bind_failed) {
        "a socket in TIME-WAIT from a program that did not set SO_REUSEADDR holds the port for up to 60 s: wait and check again, or change `port` in the lab file".to_string()
    } else {
        "stop the program holding the port; `labctl check --fix` stops programs labctl started"
            .to_string()
    };
    Some((busy.join("; "), hint))
}

/// `arch`: what `uname -m` says and, when hosts.toml declares an `arch`,
/// whether the host runs it — natively (an aarch64 kernel also runs armv7
/// programs) or through a binfmt_misc handler such as qemu-user's (how the
/// virtual bench's ARM hosts run theirs). The declared arch picks the build.
fn arch_check(host: &Host, f: &Facts) -> CheckResult {
    let seen = f.arch.clone().unwrap_or_default();
    let Some(declared) = host.arch.as_deref() else {
        return match crate::arch::target_triple(&seen) {
            Some(t) => pass("arch", format!("{seen} ({t})")),
            None => fail(
                "arch",
                format!("unsupported architecture `{seen}`"),
                "labctl builds the socket programs for aarch64, armv7, armv6, x86_64, i686 and riscv64",
            ),
        };
    };
    let t = crate::arch::target_triple(declared).unwrap_or("?");
    fn family(a: &str) -> &str {
        if a.starts_with("aarch64") || a.starts_with("arm64") {
            "aarch64"
        } else if a.starts_with("arm") {
            "arm"
        } else {
            a
        }
    }
    let (d, s) = (family(declared), family(&seen));
    let native = d == s || (d == "arm" && s == "aarch64");
    let handler = f.binfmt.iter().find(|b| {
        let b = b.to_ascii_lowercase();
        if d == "arm" {
            b.contains("arm") && !b.contains("aarch64") && !b.contains("armeb")
        } else {
            b.contains(d)
        }
    });
    match (native, handler) {
        (true, _) => pass("arch", format!("{declared} declared, {seen} seen ({t})")),
        (false, Some(h)) => pass(
            "arch",
            format!("{declared} declared, {seen} seen: runs through binfmt_misc `{h}` ({t})"),
        ),
        (false, None) => fail(
            "arch",
            format!(
                "`{declared}` declared, but host `{}` is {seen} and cannot run {declared} programs (no binfmt_misc handler)",
                host.name
            ),
            format!(
                "set `arch` for `{}` to what `uname -m` says, or remove it",
                host.name
            ),
        ),
    }
}

/// The failing sudo row: the host, the commands that need sudo, and the
/// sudoers line that allows them.
fn sudo_row(host: &Host, reason: &str) -> CheckResult {
    let (what, line) = hostops::sudo_refusal(host, &[], &[], reason);
    fail(
        "sudo",
        what,
        format!("allow it with the sudoers line `{line}` (e.g. in /etc/sudoers.d/labctl) or set `sudo = false`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        crate::hostops::sample_host(true)
    }

    const GOOD: &str = "arch=aarch64\niflist=eth0\niflist=lo\niface=yes\noperstate=up\ncarrier=1\n\
        @addr\n2: eth0    inet 10.0.3.1/24 brd 10.0.3.255 scope global eth0\\       valid_lft forever\n\
        ping=10.0.3.2 ok\n@top\ntool=ip\ntool=ss\ntool=ping\ntool=tcpdump\nsudo=ok\nuid=1000\nrights_ip=ok\nrights_dump=ok\n\
        wd_dir=/home/pi\nwd_write=ok\nwd_free_kb=900000\n@port tcp 50000\n@top\n@sha\nping=10.0.3.3 ok\n@end\n";

    fn peers() -> Vec<(String, Ipv4Addr)> {
        vec![
            ("B".into(), Ipv4Addr::new(10, 0, 3, 2)),
            ("C".into(), Ipv4Addr::new(10, 0, 3, 3)),
        ]
    }

    fn status(c: &[CheckResult], name: &str) -> Status {
        c.iter().find(|c| c.check == name).unwrap().status
    }

    #[test]
    fn a_good_host_passes_everything_but_programs_without_a_build() {
        let f = parse_facts(GOOD);
        assert!(f.complete);
        let c = evaluate(&host(), &f, Some(Err("missing".into())), &peers());
        for name in [
            "arch",
            "interface",
            "link",
            "address",
            "tools",
            "sudo",
            "rights",
            "workdir",
            "lab port",
            "ping",
        ] {
            assert_eq!(status(&c, name), Status::Pass, "{name}: {c:?}");
        }
        assert_eq!(status(&c, "programs"), Status::Fail);
        // Not ssh and host key (the session's), nor clock (its own round trips).
        assert_eq!(c.len(), CHECKS.len() - 3);
    }

    #[test]
    fn a_declared_arch_shows_declared_and_seen_and_fails_when_not_runnable() {
        let mut h = host();
        h.arch = Some("aarch64".into());
        let arch = |text: &str, h: &Host| arch_check(h, &parse_facts(text));
        let r = arch("arch=x86_64\nbinfmt=qemu-aarch64\n@end\n", &h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r
            .detail
            .contains("aarch64 declared, x86_64 seen: runs through binfmt_misc `qemu-aarch64`"));
        let r = arch("arch=aarch64\n@end\n", &h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let r = arch("arch=x86_64\nbinfmt=qemu-arm\n@end\n", &h);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.detail.contains("cannot run aarch64 programs"), "{r:?}");
        h.arch = Some("armv7".into());
        assert_eq!(arch("arch=aarch64\n@end\n", &h).status, Status::Pass);
        assert_eq!(
            arch("arch=x86_64\nbinfmt=qemu-arm\n@end\n", &h).status,
            Status::Pass
        );
        assert_eq!(
            arch("arch=x86_64\nbinfmt=qemu-aarch64\n@end\n", &h).status,
            Status::Fail
        );
    }

    #[test]
    fn failures_are_named_with_hints() {
        let text = "arch=armv7l\niflist=lo\niflist=wlan0\n@addr\n2: eth0 inet 10.0.3.1/24 scope global\n@top\ntool=ip\ntool=ss\n\
            @sudofail\nsudo: unable to resolve host A\nsudo: a password is required\n@port tcp 50000\n\
            tcp   LISTEN 0      1      0.0.0.0:50000      0.0.0.0:*    users:((\"socat\",pid=4242,fd=5)) uid:1000 ino:5\n\
            @user 1000 pi\nping=10.0.3.2 fail\n@sha\nping=10.0.3.3 ok\n@end\n";
        let f = parse_facts(text);
        let c = evaluate(&host(), &f, None, &peers());
        let get = |n: &str| c.iter().find(|c| c.check == n).unwrap().clone();
        assert_eq!(get("arch").status, Status::Pass);
        let i = get("interface");
        assert_eq!(i.status, Status::Fail);
        assert!(i.hint.unwrap().contains("`wlan0`"));
        assert_eq!(get("link").status, Status::Skip);
        let t = get("tools");
        assert!(t.detail.contains("ping, tcpdump"), "{}", t.detail);
        assert!(t.hint.unwrap().contains("iputils-ping tcpdump"));
        let sudo = get("sudo").detail;
        assert!(
            sudo.contains("unable to resolve host A; sudo: a password is required"),
            "{sudo}"
        );
        let l = get("lab port");
        assert!(
            l.detail.contains(
                "port 50000/tcp is in use: tcp 0.0.0.0:50000 by `socat` (pid 4242, user pi)"
            ),
            "{}",
            l.detail
        );
        assert!(l.hint.unwrap().contains("kill 4242"));
        let p = get("ping");
        assert!(
            p.detail.contains("B (10.0.3.2)") && !p.detail.contains("C ("),
            "{}",
            p.detail
        );
    }

    #[test]
    fn rights_workdir_and_a_blocked_bind_are_named_with_their_whole_reason() {
        let mut h = host();
        h.sudo = false;
        h.workdir = "/home/pi/labctl".into();
        let text = "arch=x86_64\niface=yes\noperstate=up\ncarrier=1\ntool=ss\nsudo_could=yes\nuid=1000\n\
            @ipfail\nRTNETLINK answers: Operation not permitted\n@top\n\
            @dumpfail\ntcpdump: eth0: You don't have permission to capture on that device\n\
            (socket: Operation not permitted)\n@top\n\
            wd_dir=/home/pi/labctl\n@wdfail\nsh: 1: cannot create /home/pi/labctl/.labctl-check.9: Read-only file system\n@top\n\
            wd_free_kb=10\n@port tcp 6000\n@bindfail tcp 6000\n\
            TIME-WAIT 0 0 10.0.3.1:6000 10.0.3.2:41000\n@top\n@port udp 6001\n@top\n@end\n";
        let f = parse_facts(text);
        let c = evaluate(&h, &f, None, &[]);
        let get = |n: &str| c.iter().find(|c| c.check == n).unwrap().clone();
        let r = get("rights");
        assert_eq!(r.status, Status::Fail);
        assert!(r.detail.contains("changing `eth0` is refused on host `A` (as `pi`): RTNETLINK answers: Operation not permitted"), "{}", r.detail);
        assert!(
            r.detail
                .contains("capture on that device; (socket: Operation not permitted)"),
            "{}",
            r.detail
        );
        assert!(r.hint.unwrap().contains("set `sudo = true` for `A`"));
        let w = get("workdir");
        assert_eq!(w.status, Status::Fail);
        assert!(
            w.detail.starts_with(
                "read-only file system on host `A` (workdir /home/pi/labctl): sh: 1: cannot create"
            ),
            "{}",
            w.detail
        );
        let l = get("lab port");
        assert_eq!(l.status, Status::Fail);
        assert!(
            l.detail
                .contains("a server cannot bind port 6000/tcp: TIME-WAIT 0 0 10.0.3.1:6000"),
            "{}",
            l.detail
        );
        assert!(l.hint.unwrap().contains("TIME-WAIT"));
        // A full disk: the file is written but the space is not there.
        let f = parse_facts("tool=ss\nuid=0\nrights_ip=ok\nrights_dump=ok\nwd_dir=/w\nwd_write=ok\nwd_free_kb=2048\n@end\n");
        let c = evaluate(&h, &f, None, &[]);
        let w = c.iter().find(|c| c.check == "workdir").unwrap();
        assert!(
            w.detail.starts_with(
                "no space left on device on host `A` (workdir /home/pi/labctl): 2 MB free"
            ),
            "{}",
            w.detail
        );
        let r = c.iter().find(|c| c.check == "rights").unwrap();
        assert_eq!(
            (r.status, r.detail.as_str()),
            (Status::Pass, "`ip` and `tcpdump` on eth0 as root")
        );
        let l = c.iter().find(|c| c.check == "lab port").unwrap();
        assert_eq!(l.detail, "no server of the lab runs here");
    }

    /// The `manager` row of a host whose facts are `mgr` (lines) on a good link.
    fn manager_row(mgr: &str) -> CheckResult {
        // The manager's lines come from a background job: in the middle of a section too.
        let text = format!("iface=yes\noperstate=up\ncarrier=1\n@addr\n{mgr}@top\n@end\n");
        let f = parse_facts(&text);
        evaluate(&host(), &f, None, &[])
            .into_iter()
            .find(|c| c.check == "manager")
            .unwrap()
    }

    #[test]
    fn timedatectls_line_is_read_anywhere_and_leaves_the_sections_whole() {
        // From a background job: in the middle of the addresses, or of a port's listeners.
        let f = parse_facts(
            "1800000000.123456789\n@addr\nNTPSynchronized=yes\n2: eth0    inet 10.0.3.1/24 brd 10.0.3.255\n\
             @top\n@port tcp 50000\nNTPSynchronized=no\n@top\n@end\n",
        );
        assert_eq!(f.ntp_synced.as_deref(), Some("no"));
        assert_eq!(f.addrs, ["10.0.3.1/24"]);
        assert!(f.ports[0].listen.is_empty(), "{f:?}");
        assert!(f.complete);
        assert_eq!(parse_facts("@end\n").ntp_synced, None);
    }

    #[test]
    fn the_manager_row_fails_where_networkmanager_would_remove_the_address() {
        let dhcp = manager_row(
            "mgr_nm_state=70 (connecting (getting IP configuration))\nmgr_nm_con=netplan-eth0\nmgr_nm_method=auto\nmgr_nm_sudo=ok\n",
        );
        assert_eq!(dhcp.status, Status::Fail, "{dhcp:?}");
        assert!(dhcp.detail.starts_with("NetworkManager runs `netplan-eth0` (DHCP) on eth0, connecting (getting IP configuration): with no DHCP server"), "{}", dhcp.detail);
        let hint = dhcp.hint.unwrap();
        assert!(
            hint.contains("profile `labctl-eth0` (manual IPv4)"),
            "{hint}"
        );
        assert!(
            hint.contains("`labctl clean --restore-network` undoes it"),
            "{hint}"
        );
        let none = manager_row("mgr_nm_state=30 (disconnected)\nmgr_nm_con=\n");
        assert_eq!(none.status, Status::Fail, "{none:?}");
        assert!(
            none.detail
                .contains("with no connection active (disconnected)"),
            "{}",
            none.detail
        );
        let ours =
            manager_row("mgr_nm_state=100 (connected)\nmgr_nm_con=labctl-eth0\nmgr_nm_sudo=ok\n");
        assert_eq!(
            (ours.status, ours.detail.as_str()),
            (
                Status::Pass,
                "NetworkManager: labctl's profile `labctl-eth0` (manual) on eth0, connected"
            )
        );
        let manual =
            manager_row("mgr_nm_state=100 (connected)\nmgr_nm_con=lab\nmgr_nm_method=manual\n");
        assert_eq!(manual.status, Status::Pass, "{manual:?}");
        assert_eq!(
            manual.detail,
            "NetworkManager: `lab` (manual) on eth0, connected"
        );
        let refused = manager_row(
            "mgr_nm_state=100 (connected)\nmgr_nm_con=labctl-eth0\nmgr_nm_sudofail=Sorry, user pi is not allowed to execute '/usr/bin/nmcli' as root on A.\n",
        );
        assert_eq!(refused.status, Status::Fail, "{refused:?}");
        assert!(
            refused.detail.contains("`sudo -n nmcli`"),
            "{}",
            refused.detail
        );
        assert!(refused
            .hint
            .unwrap()
            .contains("pi ALL=(root) NOPASSWD: /usr/sbin/ip, /usr/bin/tcpdump, /usr/bin/nmcli"));
    }

    #[test]
    fn the_manager_row_names_dhcpcd_unmanaged_and_none() {
        let d = manager_row("mgr_dhcpcd=812\nmgr_dhcpcd_static=10.0.3.1/24\n");
        assert_eq!(d.status, Status::Pass, "{d:?}");
        assert_eq!(
            d.detail,
            "dhcpcd (pid 812), which keeps the address `ip` adds; /etc/dhcpcd.conf gives eth0 `static ip_address=10.0.3.1/24`"
        );
        let u = manager_row("mgr_nm_state=10 (unmanaged)\nmgr_nm_con=\n");
        assert_eq!(
            (u.status, u.detail.as_str()),
            (Status::Pass, "none: eth0's address is set with `ip`; NetworkManager runs but leaves it unmanaged")
        );
        let n = manager_row("mgr_nm_off=Error: NetworkManager is not running.\n");
        assert_eq!(n.detail, "none: eth0's address is set with `ip`");
        // No lab interface: not checked.
        let f = parse_facts("iflist=lo\niflist=end0\n@end\n");
        let c = evaluate(&host(), &f, None, &[]);
        assert_eq!(
            c.iter().find(|c| c.check == "manager").unwrap().status,
            Status::Skip
        );
    }

    #[test]
    fn a_missing_interface_names_the_hosts_and_the_line_to_change() {
        let mut h = host();
        h.interface_at = crate::config::hosts::Setting {
            at: "hosts.toml:21".into(),
            written: true,
        };
        let f = parse_facts("iflist=lo\niflist=wlan0\niflist=end0\n@end\n");
        let i = interface_missing(&h, &f);
        assert_eq!(
            i.detail,
            "no interface `eth0` on host `A`; it has `end0`, `wlan0`"
        );
        assert_eq!(
            i.hint.unwrap(),
            "if `end0` is its lab port, change `interface = \"eth0\"` to `interface = \"end0\"` at hosts.toml:21 (it applies to `A`)"
        );
        h.interface_at.written = false;
        let i = interface_missing(&h, &f);
        assert!(i.hint.unwrap().starts_with("if `end0` is its lab port, add `interface = \"end0\"` to the table of `A` at hosts.toml:21"));
    }

    #[test]
    fn a_ping_not_permitted_is_named_for_that_not_for_the_cables() {
        let text = "arch=x86_64\niface=yes\noperstate=up\ncarrier=1\n@addr\n2: eth0    inet 10.0.3.1/24 scope global eth0\n@top\n\
            ping=10.0.3.2 fail ping: socket: Operation not permitted \nping=10.0.3.3 fail ping: socket: Operation not permitted \n@end\n";
        let c = evaluate(&host(), &parse_facts(text), None, &peers());
        let p = c.iter().find(|c| c.check == "ping").unwrap();
        assert_eq!(p.status, Status::Fail);
        assert_eq!(
            p.detail,
            "ping is not permitted for `pi` on host `A`: `ping: socket: Operation not permitted`"
        );
        let hint = p.hint.as_deref().unwrap();
        assert!(hint.contains("net.ipv4.ping_group_range"), "{hint}");
        assert!(!hint.contains("cable"), "{hint}");
        // No words: a missing reply, as before.
        let text = text.replace("fail ping: socket: Operation not permitted ", "fail");
        let c = evaluate(&host(), &parse_facts(&text), None, &peers());
        let p = c.iter().find(|c| c.check == "ping").unwrap();
        assert!(
            p.detail
                .starts_with("no reply over eth0 from B (10.0.3.2), C (10.0.3.3)"),
            "{}",
            p.detail
        );
        assert!(p.hint.as_deref().unwrap().contains("cables"));
    }

    #[test]
    fn link_down_and_missing_address() {
        let text = "arch=x86_64\niface=yes\noperstate=down\ncarrier=\n@addr\n3: eth0 inet 10.0.9.9/24 scope global eth0\n@end\n";
        let c = evaluate(&host(), &parse_facts(text), None, &[]);
        let link = c.iter().find(|c| c.check == "link").unwrap();
        assert_eq!(link.status, Status::Fail);
        assert!(link.detail.contains("eth0 is down"), "{}", link.detail);
        let addr = c.iter().find(|c| c.check == "address").unwrap();
        assert!(
            addr.detail.contains("it has 10.0.9.9/24"),
            "{}",
            addr.detail
        );
        assert!(addr
            .hint
            .as_ref()
            .unwrap()
            .contains("sudo -n ip addr replace 10.0.3.1/24 dev eth0"));
    }
}
