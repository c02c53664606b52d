//! Parsing the check script's output into [`Facts`]: the one place that knows its line format.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::deploy::{self};

/// Facts parsed from the script's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `uname -m`.
    pub arch: Option<String>,
    /// The enabled binfmt_misc handlers (`qemu-aarch64`): foreign programs it runs.
    pub binfmt: Vec<String>,
    pub interfaces: Vec<String>,
    pub iface: bool,
    pub operstate: String,
    pub carrier: String,
    pub addrs: Vec<String>,
    pub tools: Vec<String>,
    /// The program set's interpreter and its version line (`@missing`), when the set has one.
    pub interp: Option<(String, String)>,
    /// The commands the lab's programs run on this host, as the script
    /// looked for them ([`crate::programs::Found`]: paths, `sudo` refusals).
    pub lab_commands: crate::programs::Found,
    /// `None` when sudo is not configured; `Some(Err(its whole stderr))` when it failed.
    pub sudo: Option<Result<(), String>>,
    /// `sudo -n` works though the hosts file says `sudo = false`.
    pub sudo_could: bool,
    /// Every listener on the lab's ports (all of `ports`' `listen`).
    pub listen: Vec<String>,
    /// The login's rights, as tried: `Err(whole stderr)` when refused.
    pub rights: Rights,
    pub workdir: Workdir,
    /// The ports the lab's servers bind on this host, as checked.
    pub ports: Vec<PortFacts>,
    /// The owners of the sockets on those ports: uid → login name.
    pub users: std::collections::BTreeMap<u32, String>,
    pub sha: HashMap<String, String>,
    pub pings: Vec<(Ipv4Addr, bool)>,
    /// What ping printed on stderr for a peer it failed to reach (its own
    /// words, on one line), when it printed anything.
    pub ping_words: Vec<(Ipv4Addr, String)>,
    /// Who manages the lab interface.
    pub manager: Manager,
    /// Whether a time server set the clock: timedatectl's `NTPSynchronized`
    /// (`yes`, `no`), `missing` (no timedatectl); `None` when it could not tell.
    pub ntp_synced: Option<String>,
    /// The script ran to its end.
    pub complete: bool,
}

/// Who manages the lab interface, as the script found it (`mgr_*` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manager {
    /// NetworkManager's device state for the interface (`70 (connecting
    /// (getting IP configuration))`); `None` when nmcli did not answer.
    pub nm_state: Option<String>,
    /// Why nmcli did not answer (`Error: NetworkManager is not running.`).
    pub nm_off: Option<String>,
    /// The connection active on the interface (empty: none).
    pub nm_con: String,
    /// Its IPv4 method (`auto`, `manual` …), when it is not labctl's profile.
    pub nm_method: Option<String>,
    /// Whether sudo allows `nmcli` (asked with `sudo = true` where
    /// NetworkManager manages the interface): `Err(sudo's words)`.
    pub nm_sudo: Option<Result<(), String>>,
    /// A running dhcpcd's pid.
    pub dhcpcd: Option<u32>,
    /// The static address /etc/dhcpcd.conf gives the interface (empty: none).
    pub dhcpcd_static: String,
}

impl Manager {
    /// NetworkManager's state number (`10` unmanaged … `100` connected).
    pub(crate) fn nm_state_code(&self) -> Option<u32> {
        self.nm_state
            .as_deref()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    }

    /// NetworkManager manages the interface (it runs, and the device is not `unmanaged`).
    pub(crate) fn nm_manages(&self) -> bool {
        self.nm_state_code().is_some_and(|c| c > 10)
    }
}

/// The login's rights as the script tried them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    pub uid: Option<u32>,
    /// Changing the lab interface (`ip link set … up`, a no-op).
    pub ip: Option<Result<(), String>>,
    /// Running tcpdump on it.
    pub tcpdump: Option<Result<(), String>>,
}

/// The workdir as the script found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workdir {
    /// The workdir, or its nearest existing parent.
    pub dir: String,
    /// `Err(whole stderr)` when a file could not be written there.
    pub write: Option<Result<(), String>>,
    pub free_kb: Option<u64>,
}

/// One port a server of the lab binds on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortFacts {
    pub proto: String,
    pub port: u16,
    /// `ss -ltnup` lines of the sockets listening on it.
    pub listen: Vec<String>,
    /// Sockets on that local port that made a trial bind fail (e.g. TIME_WAIT).
    pub blocked: Vec<String>,
    pub bind_failed: bool,
}

/// Appends a line of a failure's stderr to `e` (all of it, trimmed, `; ` between lines).
fn push_reason(e: &mut Option<Result<(), String>>, line: &str) {
    let line = line.trim();
    if let Some(Err(r)) = e {
        if !line.is_empty() {
            if !r.is_empty() {
                r.push_str("; ");
            }
            r.push_str(line);
        }
    }
}

pub fn parse_facts(out: &str) -> Facts {
    let mut f = Facts::default();
    let mut sha = String::new();
    let mut section = "top";
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("ping=") {
            if let Some((a, r)) = v.split_once(' ') {
                if let Ok(a) = a.parse() {
                    f.pings.push((a, r == "ok"));
                    if let Some(words) = r.strip_prefix("fail ") {
                        // Its lines, joined by tabs on the host.
                        let words: Vec<&str> = words
                            .split('\t')
                            .map(str::trim)
                            .filter(|w| !w.is_empty())
                            .collect();
                        if !words.is_empty() {
                            f.ping_words.push((a, words.join("; ")));
                        }
                    }
                }
            }
            continue;
        }
        // timedatectl's line, from a background job: anywhere, like pings.
        if let Some(v) = line.strip_prefix("NTPSynchronized=") {
            f.ntp_synced = Some(v.trim().to_string());
            continue;
        }
        // The manager's facts come from a background job: anywhere, like pings.
        if let Some(rest) = line.strip_prefix("mgr_") {
            let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
            let m = &mut f.manager;
            match k {
                "nm_state" => m.nm_state = Some(v.trim().to_string()),
                "nm_off" => m.nm_off = Some(v.trim().to_string()),
                "nm_con" => m.nm_con = v.to_string(),
                "nm_method" => m.nm_method = Some(v.trim().to_string()),
                "nm_sudo" => m.nm_sudo = Some(Ok(())),
                "nm_sudofail" => m.nm_sudo = Some(Err(v.trim().to_string())),
                "dhcpcd" => m.dhcpcd = v.trim().parse().ok(),
                "dhcpcd_static" => m.dhcpcd_static = v.trim().to_string(),
                _ => {}
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('@') {
            // `@user UID NAME`: who owns a socket on a lab port (ports.sh).
            if let Some((uid, user)) = name.strip_prefix("user ").and_then(|r| r.split_once(' ')) {
                if let Ok(uid) = uid.parse() {
                    f.users.insert(uid, user.trim().to_string());
                }
                continue;
            }
            if let Some(rest) = name
                .strip_prefix("port ")
                .or(name.strip_prefix("bindfail "))
            {
                let mut w = rest.split_whitespace();
                let (proto, port) = (
                    w.next().unwrap_or(""),
                    w.next().and_then(|p| p.parse().ok()),
                );
                let Some(port) = port else { continue };
                if name.starts_with("port ") {
                    f.ports.push(PortFacts {
                        proto: proto.to_string(),
                        port,
                        ..PortFacts::default()
                    });
                    section = "port";
                } else {
                    if let Some(p) = f.ports.last_mut() {
                        p.bind_failed = true;
                    }
                    section = "bindfail";
                }
                continue;
            }
            section = match name {
                "addr" => "addr",
                "listen" => "listen",
                "ipfail" => {
                    f.rights.ip = Some(Err(String::new()));
                    "ipfail"
                }
                "dumpfail" => {
                    f.rights.tcpdump = Some(Err(String::new()));
                    "dumpfail"
                }
                "wdfail" => {
                    f.workdir.write = Some(Err(String::new()));
                    "wdfail"
                }
                "sha" => "sha",
                "sudofail" => {
                    f.sudo = Some(Err(String::new()));
                    "sudofail"
                }
                "end" => {
                    f.complete = true;
                    "top"
                }
                _ => "top",
            };
            continue;
        }
        match section {
            "addr" => {
                // `2: eth0    inet 10.0.3.1/24 brd ... scope global eth0`
                if let Some(a) = line.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
                    f.addrs.push(a.to_string());
                }
            }
            "listen" if !line.trim().is_empty() => f.listen.push(line.trim().to_string()),
            "sha" => {
                sha.push_str(line);
                sha.push('\n');
            }
            "sudofail" => push_reason(&mut f.sudo, line),
            "ipfail" => push_reason(&mut f.rights.ip, line),
            "dumpfail" => push_reason(&mut f.rights.tcpdump, line),
            "wdfail" => push_reason(&mut f.workdir.write, line),
            "port" if !line.trim().is_empty() => {
                f.listen.push(line.trim().to_string());
                if let Some(p) = f.ports.last_mut() {
                    p.listen.push(line.trim().to_string());
                }
            }
            "bindfail" if !line.trim().is_empty() => {
                if let Some(p) = f.ports.last_mut() {
                    p.blocked.push(line.trim().to_string());
                }
            }
            _ => {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k {
                    "arch" => f.arch = Some(v.trim().to_string()),
                    "binfmt" => f.binfmt.push(v.trim().to_string()),
                    "iflist" => f.interfaces.push(v.to_string()),
                    "iface" => f.iface = v == "yes",
                    "operstate" => f.operstate = v.trim().to_string(),
                    "carrier" => f.carrier = v.trim().to_string(),
                    "tool" => f.tools.push(v.to_string()),
                    "interp" => {
                        let (name, version) = v.split_once(' ').unwrap_or((v, ""));
                        f.interp = Some((name.to_string(), version.trim().to_string()));
                    }
                    "sudo" => f.sudo = Some(Ok(())),
                    "sudo_could" => f.sudo_could = v == "yes",
                    "uid" => f.rights.uid = v.trim().parse().ok(),
                    "rights_ip" => f.rights.ip = Some(Ok(())),
                    "rights_dump" => f.rights.tcpdump = Some(Ok(())),
                    "wd_dir" => f.workdir.dir = v.to_string(),
                    "wd_write" => f.workdir.write = Some(Ok(())),
                    "wd_free_kb" => f.workdir.free_kb = v.trim().parse().ok(),
                    _ => {}
                }
            }
        }
    }
    f.sha = deploy::parse_sha256sum(&sha);
    f.lab_commands = crate::programs::Found::parse(out);
    f
}

/// An `ss -ltnupe` line → ``tcp 0.0.0.0:50000 by `python3` (pid 1234, user pi)``
/// (the owner from its `uid:` through `users`; none shown is root); the
/// proto and address only when the process is unknown.
pub(crate) fn describe_listener(
    line: &str,
    users: &std::collections::BTreeMap<u32, String>,
) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let proto = fields.first().copied().unwrap_or("?");
    let local = fields.get(4).copied().unwrap_or("?");
    let procs: Vec<String> = line
        .split("((")
        .nth(1)
        .map(|rest| {
            rest.split("),(")
                .filter_map(|p| {
                    let name = p.split('"').nth(1)?;
                    let pid = p
                        .split("pid=")
                        .nth(1)?
                        .split(|c: char| !c.is_ascii_digit())
                        .next()?;
                    Some(format!("`{name}` (pid {pid}{})", owner(line, users)))
                })
                .collect()
        })
        .unwrap_or_default();
    if procs.is_empty() {
        format!("{proto} {local} (process unknown{})", owner(line, users))
    } else {
        format!("{proto} {local} by {}", procs.join(", "))
    }
}

/// `, user pi` from an `ss -e` line's `uid:1000` (`ss` omits root's).
fn owner(line: &str, users: &std::collections::BTreeMap<u32, String>) -> String {
    let uid = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("uid:"))
        .and_then(|u| u.parse::<u32>().ok())
        .unwrap_or(0);
    match users.get(&uid) {
        Some(name) => format!(", user {name}"),
        None if uid == 0 => ", user root".to_string(),
        None => format!(", uid {uid}"),
    }
}
