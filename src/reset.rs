//! `labctl reset`: the bench between two sections. On every host of the
//! chosen benches it stops what the last section left — the programs
//! labctl started (as `clean` does) and the login's own processes that hold
//! the lab's ports or run the lab's programs (a student's `tcp_server` left
//! in a terminal, a `python3 -m http.server 50000`) — and removes what
//! labctl configured (the lab address on the lab interface), so the next
//! section starts from a bench as `check` expects before a lab.
//!
//! It lists everything first, host by host (pid, user, command and why),
//! then acts (`--dry-run`: lists only). It never stops root's processes,
//! another user's, or a system service's (a process in systemd's
//! `system.slice`): those are listed as left alone, and a lab port one of
//! them still holds fails the reset (exit 1). It holds every host first, as
//! `clean` does ([`crate::hold`]): exit 5 while another labctl holds one
//! (`--take-over` takes a stale holder's bench).
//!
//! Two round trips per host: a survey (`reset/survey.sh`: the lab ports'
//! sockets, the groups labctl registered, every process, the lab address),
//! which labctl reads and decides on, and the stop (`reset/stop.sh`: each
//! process checked again before it is signalled — same start time, this
//! login's, not a service — INT, TERM, KILL; then the address).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Barrier, Mutex};
use std::time::Duration;

use crate::cli::{GlobalArgs, ResetArgs};
use crate::config::hosts::{self, Host};
use crate::error::Error;
use crate::hold;
use crate::remote::{self, parse_stop_output};
use crate::ssh::{self, ConnectOptions, Session};
use crate::util::shell_template::{render, Val};

/// A process the survey found that the lab's ports or programs point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pid: u32,
    /// Its start time (field 22 of `/proc/PID/stat`): a pid reused since is not it.
    pub start: String,
    pub uid: u32,
    pub user: String,
    pub args: String,
    /// Why it is listed: `holds 50000/tcp`, ``runs `tcp_server` ``.
    pub why: Vec<String>,
    /// It is stopped (the login's, not root's); else left alone, and why.
    pub leave: Option<&'static str>,
}

/// What the survey of one host found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// The groups labctl registered: `(pgid, name, step, run)`.
    pub groups: Vec<(u32, String, String, String)>,
    pub found: Vec<Found>,
    /// The lab address is on the lab interface.
    pub addressed: bool,
}

/// Reads the survey's output (`reset/survey.sh`) and decides: `names` are
/// the lab's program names (`tcp_server`, `tcp_server.py` …).
pub fn read_survey(out: &str, names: &BTreeSet<String>) -> Survey {
    let mut s = Survey::default();
    let mut section = "";
    let (mut ports, mut ps) = (String::new(), Vec::new());
    let mut login: Option<u32> = None;
    for l in out.lines() {
        match l {
            "@ports" | "@groups" | "@ps" | "@addr" | "@end" => {
                section = l;
                continue;
            }
            _ => {}
        }
        match section {
            "" => {
                login = l
                    .strip_prefix("uid=")
                    .and_then(|u| u.trim().parse().ok())
                    .or(login)
            }
            "@ports" => {
                ports.push_str(l);
                ports.push('\n');
            }
            "@groups" => {
                let w: Vec<&str> = l.split(' ').collect();
                if let (Some(g), true) = (w.first().and_then(|g| g.parse().ok()), w.len() >= 4) {
                    s.groups.push((g, w[1].into(), w[2].into(), w[3].into()));
                }
            }
            "@ps" => ps.push(l),
            "@addr" => s.addressed |= l.trim() == "yes",
            _ => {}
        }
    }
    // Who holds a lab port (labctl's own registered groups already left out on the host).
    let facts = crate::check::parse_facts(&ports);
    let mut holds: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for p in &facts.ports {
        for l in &p.listen {
            let pid = l
                .split("pid=")
                .nth(1)
                .and_then(|x| x.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|x| x.parse().ok());
            if let Some(pid) = pid {
                holds
                    .entry(pid)
                    .or_default()
                    .push(format!("holds {}/{}", p.port, p.proto));
            }
        }
    }
    let registered: BTreeSet<u32> = s.groups.iter().map(|g| g.0).collect();
    for l in ps {
        // `PID START PGID UID USER ARGS`
        let mut w = l.splitn(6, ' ');
        let (Some(pid), Some(start), Some(pgid), Some(uid), Some(user)) = (
            w.next().and_then(|x| x.parse::<u32>().ok()),
            w.next(),
            w.next().and_then(|x| x.parse::<u32>().ok()),
            w.next().and_then(|x| x.parse::<u32>().ok()),
            w.next(),
        ) else {
            continue;
        };
        let args = w.next().unwrap_or("").trim().to_string();
        if registered.contains(&pgid) {
            continue;
        }
        let mut why = holds.remove(&pid).unwrap_or_default();
        // The program: the command's first word, or an interpreter's script (`python3 x.py`).
        let named = args
            .split_whitespace()
            .take(2)
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .find(|a| names.contains(*a));
        if let Some(n) = named {
            why.push(format!("runs `{n}`"));
        }
        if why.is_empty() {
            continue;
        }
        let leave = if uid == 0 {
            Some("root's")
        } else if Some(uid) != login {
            Some("another user's")
        } else {
            None
        };
        s.found.push(Found {
            pid,
            start: start.to_string(),
            uid,
            user: user.to_string(),
            args,
            why,
            leave,
        });
    }
    s
}

/// The names a process of the lab's programs runs under: each program's
/// name and its file's (`tcp_server`, `tcp_server.py`).
pub fn program_names(set: &crate::programs::ProgramSet) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (name, program) in &set.programs {
        names.insert(name.clone());
        for a in program.argv.iter().filter(|a| a.contains('/')) {
            if let Some(base) = a.rsplit('/').next().filter(|b| !b.is_empty()) {
                names.insert(base.to_string());
            }
        }
    }
    names
}

fn survey_cmd(host: &Host, ports: &[(&str, u16)]) -> String {
    let ports: Vec<String> = ports.iter().map(|(p, n)| format!("{p}:{n}")).collect();
    let body = render(
        include_str!("reset/survey.sh"),
        &[
            ("PORTS", Val::Quoted(&ports.join(" "))),
            ("IFACE", Val::Quoted(&host.interface)),
            ("CIDR", Val::Quoted(&host.cidr())),
        ],
    );
    remote::script(host, "", &body)
}

fn stop_cmd(host: &Host, pids: &[String], unaddr: bool) -> String {
    let body = render(
        include_str!("reset/stop.sh"),
        &[
            ("PIDS", Val::Quoted(&pids.join(" "))),
            ("UNADDR", Val::Quoted(if unaddr { "1" } else { "" })),
            ("IFACE", Val::Quoted(&host.interface)),
            ("CIDR", Val::Quoted(&host.cidr())),
        ],
    );
    remote::script(host, "", &body)
}

/// One host's reset, as it went.
enum HostReset {
    /// Not reached, or not reset (why).
    Failed(String),
    /// Another labctl holds it (`Error::Busy`), or another host of the selection.
    NotHeld(Option<Error>),
    Done {
        /// What was done, in words.
        done: Vec<String>,
        /// What could not be done, in words.
        failed: Vec<String>,
    },
}

/// The lines listing what the reset of `host` stops and removes.
fn listing(host: &Host, s: &Survey) -> Vec<String> {
    let l = host.label();
    let mut v = Vec::new();
    for (g, name, step, run) in &s.groups {
        v.push(format!(
            "  {l}  stop   group {g}  `{name}` (step {step}, run {run}): started by labctl"
        ));
    }
    for f in &s.found {
        let what = match f.leave {
            None => "stop ",
            Some(_) => "leave",
        };
        let mut why = f.why.join(", ");
        if let Some(w) = f.leave {
            why.push_str(&format!("; {w}: left alone"));
        }
        v.push(format!(
            "  {l}  {what}  pid {}  {}  {}  ({why})",
            f.pid,
            f.user,
            crate::util::show_controls(&f.args, false)
        ));
    }
    if s.addressed {
        v.push(format!(
            "  {l}  remove {} from {}: configured by labctl",
            host.cidr(),
            host.interface
        ));
    }
    v
}

pub fn command(g: &GlobalArgs, args: &ResetArgs) -> Result<(), Error> {
    let room = hosts::load(&g.hosts)?;
    let benches = room.select(&args.select)?;
    let ports = crate::check::lab_ports(&g.lab, g.lab_given, &benches)?;
    let set = crate::lab::set::for_check(
        &room,
        &g.hosts,
        &g.lab,
        (&args.select).into(),
        args.programs.as_deref(),
    )?;
    let names = program_names(&set);
    let hosts: Vec<&Host> = benches.iter().flat_map(|b| b.hosts.iter()).collect();
    let opts = ConnectOptions {
        accept_new: g.accept_new,
        ..ConnectOptions::default()
    };
    let gate = hold::Gate::new(hosts.len());
    // Every host's list is printed (in the bench's order) before any host acts.
    let listed = Barrier::new(hosts.len().max(1));
    let lists: Mutex<BTreeMap<usize, Vec<String>>> = Mutex::default();
    let order = |h: &Host| hosts.iter().position(|x| std::ptr::eq(*x, h)).unwrap_or(0);
    if args.dry_run {
        crate::util::out_line("reset (dry run: nothing is stopped or removed):");
    }
    let results = ssh::for_each_host(&hosts, &opts, |h, sess| {
        reset_host(h, sess, &gate, args, &ports, &names, |lines| {
            if let Ok(mut l) = lists.lock() {
                l.insert(order(h), lines);
            }
            // The first host to come prints every list; none acts before.
            if listed.wait().is_leader() {
                if let Ok(l) = lists.lock() {
                    for line in l.values().flatten() {
                        crate::util::out_line(line);
                    }
                }
            }
            listed.wait();
        })
    });
    if gate.refused() {
        let busy: Vec<String> = results
            .into_iter()
            .filter_map(|r| match r {
                HostReset::NotHeld(Some(e)) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        return Err(hold::refusal(&busy));
    }
    let (mut unreachable, mut failed) = (0, 0);
    for (h, r) in hosts.iter().zip(results) {
        match r {
            HostReset::NotHeld(_) => {}
            HostReset::Failed(e) => {
                unreachable += 1;
                crate::util::out_line(&format!("✘ {}  {e}", h.label()));
            }
            HostReset::Done { done, failed: f } => {
                let text = if done.is_empty() {
                    "nothing to reset".to_string()
                } else {
                    done.join("; ")
                };
                if args.dry_run {
                    crate::util::out_line(&format!("  {}  would: {text}", h.label()));
                } else {
                    crate::util::out_line(&format!("✔ {}  {text}", h.label()));
                }
                if !f.is_empty() {
                    failed += 1;
                    crate::util::out_line(&format!("✘ {}  {}", h.label(), f.join("; ")));
                }
            }
        }
    }
    if unreachable > 0 {
        return Err(Error::Host(format!(
            "{unreachable} host{} could not be reset",
            if unreachable == 1 { "" } else { "s" }
        )));
    }
    if failed > 0 {
        return Err(Error::Failed(format!(
            "{failed} host{} not as a lab expects",
            if failed == 1 { " is" } else { "s are" }
        )));
    }
    Ok(())
}

/// A host's part: held and surveyed, its listing given to `list` (called
/// once on every path: the hosts meet there), then what the reset did.
fn reset_host(
    h: &Host,
    sess: Result<Session, ssh::SshError>,
    gate: &hold::Gate,
    args: &ResetArgs,
    ports: &crate::check::LabPorts,
    names: &BTreeSet<String>,
    list: impl FnOnce(Vec<String>),
) -> HostReset {
    let sess = match sess {
        Ok(s) => s,
        Err(e) => {
            gate.pass(true);
            list(Vec::new());
            return HostReset::Failed(e.to_string());
        }
    };
    let held = hold::take_with(&sess, h, "reset", args.take_over);
    let all = gate.pass(!matches!(held, Err(Error::Busy(_))));
    let held = match held {
        Ok(held) => held,
        Err(e @ Error::Busy(_)) => {
            list(Vec::new());
            return HostReset::NotHeld(Some(e));
        }
        Err(e) => {
            list(Vec::new());
            return HostReset::Failed(e.to_string());
        }
    };
    if !all {
        list(Vec::new());
        return HostReset::NotHeld(None);
    }
    let mut lines = Vec::new();
    if let Some(old) = &held.took_over {
        lines.push(format!("! {}", hold::took_over_warning(h, old)));
    }
    let my_ports = ports.get(&h.label()).cloned().unwrap_or_default();
    let out = match sess.exec(&survey_cmd(h, &my_ports), None, Duration::from_secs(30)) {
        Ok(o) if o.stdout_str().contains("@end") => o,
        Ok(o) => {
            list(lines);
            return HostReset::Failed(format!(
                "the survey failed: {}",
                ssh::whole_reason(&o.stderr_str())
            ));
        }
        Err(e) => {
            list(lines);
            return HostReset::Failed(e.to_string());
        }
    };
    let survey = read_survey(&out.stdout_str(), names);
    lines.extend(listing(h, &survey));
    list(lines);
    let dry = args.dry_run;
    {
        let stop: Vec<&Found> = survey.found.iter().filter(|f| f.leave.is_none()).collect();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let n = survey.groups.len() + stop.len();
        if dry {
            if n > 0 {
                done.push(format!("stop {n} program{}", if n == 1 { "" } else { "s" }));
            }
            if survey.addressed {
                done.push(format!("remove {}", h.cidr()));
            }
        } else {
            let pids: Vec<String> = stop
                .iter()
                .map(|f| format!("{}:{}", f.pid, f.start))
                .collect();
            match sess.exec(
                &stop_cmd(h, &pids, survey.addressed),
                None,
                Duration::from_secs(60),
            ) {
                Ok(o) => {
                    let text = o.stdout_str();
                    let groups = parse_stop_output(&text);
                    let mut stopped = groups.iter().filter(|g| !g.alive).count();
                    for g in groups.iter().filter(|g| g.alive) {
                        failed.push(format!("`{}` (group {}) survived SIGKILL", g.name, g.pgid));
                    }
                    let mut lines = text.lines();
                    while let Some(l) = lines.next() {
                        let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
                        match word {
                            "killed" => stopped += 1,
                            "survived" => failed.push(format!("pid {rest} survived SIGKILL")),
                            "service" => {
                                failed.push(format!("pid {rest} is a system service: left alone"))
                            }
                            "other" => failed
                                .push(format!("pid {rest} is no longer this login's: left alone")),
                            "unaddr" => done.push(format!("removed {rest} from {}", h.interface)),
                            "@unaddrfail" => failed.push(format!(
                                "cannot remove {} from {}: {}",
                                h.cidr(),
                                h.interface,
                                lines.next().unwrap_or("").trim()
                            )),
                            _ => {}
                        }
                    }
                    if stopped > 0 {
                        done.insert(
                            0,
                            format!(
                                "stopped {stopped} program{}",
                                if stopped == 1 { "" } else { "s" }
                            ),
                        );
                    }
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        // What a lab port is still held by: not as `check` expects before a lab.
        for f in survey.found.iter().filter(|f| f.leave.is_some()) {
            for w in f.why.iter().filter(|w| w.starts_with("holds ")) {
                failed.push(format!(
                    "{} is still held by `{}` (pid {}, user {}): reset stops only the login's programs",
                    w.trim_start_matches("holds "),
                    f.args.split_whitespace().next().unwrap_or(""),
                    f.pid,
                    f.user
                ));
            }
        }
        held.release();
        HostReset::Done { done, failed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_survey_lists_the_logins_leftovers_and_leaves_the_rest() {
        let out = "uid=1000\n@ports\n@port tcp 50000\n\
            tcp LISTEN 0 5 0.0.0.0:50000 0.0.0.0:* users:((\"python3\",pid=300,fd=3)) uid:1000 ino:1\n@top\n\
            @port udp 50000\n@top\n@user 1000 pi\n\
            @groups\n42 server I.6 r1\n\
            @ps\n1 5 1 0 root /sbin/init\n\
            300 77 300 1000 pi python3 -m http.server --bind 0.0.0.0 50000\n\
            301 78 301 1000 pi /home/pi/x/tcp_client --server 10.0.3.1\n\
            302 79 302 1001 bob python3 tcp_server.py --port 50001\n\
            303 80 303 0 root /opt/udp_server\n\
            42 81 42 1000 pi /home/pi/labctl/bin/tcp_server --port 50000\n\
            304 82 304 1000 pi vim notes.txt\n\
            @addr\nyes\n@end\n";
        let names = program_names(&crate::programs::ProgramSet::rust())
            .into_iter()
            .chain(["tcp_server.py".to_string()])
            .collect();
        let s = read_survey(out, &names);
        assert_eq!(s.groups, [(42, "server".into(), "I.6".into(), "r1".into())]);
        assert!(s.addressed);
        let got: Vec<(u32, Option<&str>, String)> = s
            .found
            .iter()
            .map(|f| (f.pid, f.leave, f.why.join(", ")))
            .collect();
        assert_eq!(
            got,
            [
                (300, None, "holds 50000/tcp".to_string()),
                (301, None, "runs `tcp_client`".to_string()),
                (
                    302,
                    Some("another user's"),
                    "runs `tcp_server.py`".to_string()
                ),
                (303, Some("root's"), "runs `udp_server`".to_string()),
            ]
        );
        assert_eq!(s.found[0].start, "77");
    }
}
