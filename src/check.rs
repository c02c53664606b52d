//! `labctl check [--bench NAME | --all] [--json] [--fix]`: is a bench (or the
//! whole room) ready for class?
//!
//! Every host is checked in parallel on its own thread and SSH session, in
//! two round trips after connecting: one combined shell script gathers every
//! fact (architecture, interface, link, addresses, tools, sudo, listeners on
//! the lab port, program hashes) while the host pings every other host of its
//! bench in the background. The facts are parsed into [`CheckResult`]s, then
//! shown as a table (one bench) or a bench × host matrix (a room), each
//! failure with a one-line fix hint. `--fix` repairs what it can on every host
//! (addresses and links via [`hostops::configure_cmd`], programs via
//! [`deploy`], stale lab programs), waits for all hosts, and checks again.
//!
//! Exit codes: 0 when every check passed; 1 when any check failed
//! ([`Error::Failed`]), including some hosts being unreachable; 3
//! ([`Error::Host`]) only when no host at all could be reached, so nothing
//! could be checked; 2 for a bad hosts file or selection; 4 when this machine
//! lacks something.
//!
//! `--json` prints one object on stdout:
//!
//! ```json
//! {
//!   "ok": false,                       // every check of every host passed
//!   "hosts_file": "hosts.toml",
//!   "elapsed_ms": 212,
//!   "benches": [
//!     { "name": "bench", "ok": false,
//!       "hosts": [
//!         { "host": "A", "label": "A", "ssh": "127.0.0.1:40001", "ok": false,
//!           "connect_ms": 21,          // null when the host was not reached
//!           "checks": [
//!             { "check": "address",    // one of CHECKS, in that order
//!               "status": "fail",      // "pass" | "fail" | "skip" (not checked)
//!               "detail": "10.0.3.1/24 is not on eth0 (it has none)",
//!               "hint": "run `labctl check --fix` ..." }   // null unless failed
//!           ] } ] } ],
//!   "fix": null                        // with --fix: { "actions": [...], "before": {ok, benches} }
//! }
//! ```
//! With `--fix`, `benches` is the result after fixing, `fix.before` the first
//! result and `fix.actions` one `{ "host", "done": [..], "failed": [..] }` per host.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{CheckArgs, GlobalArgs};
use crate::config::hosts::{self, Bench, Host};
use crate::deploy::{self, LocalBuild};
use crate::error::Error;
use crate::hold;
use crate::hostops::{self, LAB_PORT, PROGRAMS};
use crate::ssh::{self, ConnectOptions, Session, SshError, SshErrorKind};
use crate::util::shell_quote;

/// The checks, in display order.
pub const CHECKS: [&str; 11] = [
    "ssh",
    "host key",
    "arch",
    "interface",
    "link",
    "address",
    "tools",
    "sudo",
    "lab port",
    "programs",
    "ping",
];

/// Tools the lab needs on every host.
pub const TOOLS: [&str; 4] = ["ip", "ss", "ping", "tcpdump"];

/// Upper bound for the combined check script on one host. It takes well under
/// a second on a Pi; the margin is for a virtual room on a busy machine.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not checked (e.g. the host could not be reached).
    Skip,
}

/// One check on one host.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
}

/// Every check of one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub label: String,
    pub ssh: String,
    pub ok: bool,
    pub connect_ms: Option<u64>,
    pub checks: Vec<CheckResult>,
}

impl HostReport {
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }
    pub fn get(&self, check: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
    fn failed(&self, check: &str) -> bool {
        self.get(check).is_some_and(|c| c.status == Status::Fail)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub name: String,
    pub ok: bool,
    pub hosts: Vec<HostReport>,
}

/// The result of one pass over the selected benches.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub benches: Vec<BenchReport>,
}

impl Report {
    fn hosts(&self) -> impl Iterator<Item = &HostReport> {
        self.benches.iter().flat_map(|b| b.hosts.iter())
    }
}

/// What `--fix` did on one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FixActions {
    pub host: String,
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixReport {
    pub actions: Vec<FixActions>,
    pub before: Report,
    /// Another labctl holds the bench: nothing was fixed (exit 5); who, per host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<String>,
}

/// The whole outcome of `labctl check`, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub ok: bool,
    pub hosts_file: String,
    pub elapsed_ms: u64,
    pub benches: Vec<BenchReport>,
    pub fix: Option<FixReport>,
}

/// Runs `labctl check`.
pub fn command(global: &GlobalArgs, args: &CheckArgs) -> Result<(), Error> {
    let room = hosts::load(&global.hosts)?;
    let benches = room.select(&args.select)?;
    let opts = ConnectOptions {
        accept_new: global.accept_new,
        ..ConnectOptions::default()
    };
    let start = Instant::now();
    let (report, fix) = run(&benches, &opts, args.fix);
    let busy = fix.as_ref().and_then(|f| f.busy.clone());
    let outcome = CheckOutcome {
        ok: report.ok,
        hosts_file: room.path.display().to_string(),
        elapsed_ms: start.elapsed().as_millis() as u64,
        benches: report.benches.clone(),
        fix,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&outcome)
            .map_err(|e| Error::Local(format!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render_outcome(&outcome, room.is_room));
    }
    if let Some(b) = busy {
        let lines: Vec<String> = b.lines().map(str::to_string).collect();
        return Err(hold::refusal(&lines));
    }
    exit_for(&report)
}

/// Exit status of a finished check (see the module doc).
fn exit_for(report: &Report) -> Result<(), Error> {
    if report.ok {
        return Ok(());
    }
    let hosts: Vec<&HostReport> = report.hosts().collect();
    if !hosts.is_empty() && hosts.iter().all(|h| h.connect_ms.is_none()) {
        return Err(Error::Host(format!(
            "no host could be reached ({} tried); nothing was checked",
            hosts.len()
        )));
    }
    let failed = hosts.iter().filter(|h| !h.ok).count();
    Err(Error::Failed(format!(
        "{failed} of {} host{} not ready",
        hosts.len(),
        if hosts.len() == 1 { " is" } else { "s are" }
    )))
}

/// What one host's thread returns.
struct HostOutcome {
    before: HostReport,
    fix: Option<FixActions>,
    after: Option<HostReport>,
}

/// Checks every host of `benches` in parallel; with `fix`, repairs, waits for
/// every host, and checks again. Returns the final report and, with `fix`,
/// what was done and the first report.
pub fn run(benches: &[&Bench], opts: &ConnectOptions, fix: bool) -> (Report, Option<FixReport>) {
    let hosts: Vec<&Host> = benches.iter().flat_map(|b| b.hosts.iter()).collect();
    let peers: HashMap<String, Vec<(String, Ipv4Addr)>> = benches
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                b.hosts.iter().map(|h| (h.name.clone(), h.addr)).collect(),
            )
        })
        .collect();
    let progress = Progress::new(&hosts);
    let barrier = Barrier::new(hosts.len());
    let index: HashMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.label(), i))
        .collect();
    let gate = hold::Gate::new(hosts.len());
    let outcomes = ssh::for_each_host(&hosts, opts, |host, conn| {
        let i = index[&host.label()];
        let peers: Vec<(String, Ipv4Addr)> = peers[&host.bench]
            .iter()
            .filter(|(n, _)| *n != host.name)
            .cloned()
            .collect();
        progress.set(i, "connecting");
        let before = check_host(host, conn.as_ref(), &peers, &progress, i);
        if !fix {
            progress.done(i, &summary(&before));
            return HostOutcome {
                before,
                fix: None,
                after: None,
            };
        }
        // Every host held (one labctl at a time) before any is fixed.
        let held = conn
            .as_ref()
            .ok()
            .map(|s| hold::take(s, host, "check --fix"));
        let all_held = gate.pass(!matches!(held, Some(Err(Error::Busy(_)))));
        let actions = match (&conn, held) {
            (Ok(s), Some(Ok(held))) if all_held => {
                progress.set(i, "fixing");
                let mut a = fix_host(s, host, &before);
                if let Some(old) = &held.took_over {
                    a.done.insert(0, hold::took_over_warning(host, old));
                }
                held.release();
                a
            }
            (_, held) => FixActions {
                host: host.label(),
                failed: match held {
                    Some(Err(e)) => vec![e.to_string()],
                    _ => Vec::new(),
                },
                ..FixActions::default()
            },
        };
        // Every host is fixed before any is checked again (pings cross hosts).
        progress.set(i, "waiting for the other hosts");
        barrier.wait();
        let after = match &conn {
            Ok(_) => check_host(host, conn.as_ref(), &peers, &progress, i),
            Err(_) => before.clone(),
        };
        progress.done(i, &summary(&after));
        HostOutcome {
            before,
            fix: Some(actions),
            after: Some(after),
        }
    });
    progress.finish();
    let mut outcomes = outcomes.into_iter();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut actions = Vec::new();
    for b in benches {
        let mut hb: Vec<HostReport> = Vec::new();
        let mut ha: Vec<HostReport> = Vec::new();
        for _ in &b.hosts {
            let o = outcomes.next().expect("one outcome per host");
            hb.push(o.before);
            if let Some(a) = o.after {
                ha.push(a);
            }
            if let Some(f) = o.fix {
                actions.push(f);
            }
        }
        blame_peers(&mut hb);
        blame_peers(&mut ha);
        before.push(bench_report(&b.name, hb));
        after.push(bench_report(&b.name, ha));
    }
    let before = report_of(before);
    if fix {
        let busy = gate.refused().then(|| {
            let lines: Vec<&str> = actions
                .iter()
                .flat_map(|a| a.failed.iter())
                .filter(|f| f.contains(hold::IN_USE))
                .map(String::as_str)
                .collect();
            lines.join("\n")
        });
        (
            report_of(after),
            Some(FixReport {
                actions,
                before,
                busy,
            }),
        )
    } else {
        (before, None)
    }
}

/// A failed ping's hint names the peers whose own checks explain it
/// (`B`'s link is down), so the instructor fixes the cause, not the symptom.
fn blame_peers(hosts: &mut [HostReport]) {
    let causes: Vec<(String, Vec<&'static str>)> = hosts
        .iter()
        .map(|h| {
            let failed = ["ssh", "host key", "interface", "link", "address"]
                .into_iter()
                .filter(|c| h.failed(c))
                .collect();
            (h.host.clone(), failed)
        })
        .collect();
    for h in hosts.iter_mut() {
        let Some(ping) = h.checks.iter_mut().find(|c| c.check == "ping") else {
            continue;
        };
        if ping.status != Status::Fail || ping.detail.starts_with("not tried") {
            continue;
        }
        let blamed: Vec<String> = causes
            .iter()
            .filter(|(name, failed)| {
                !failed.is_empty()
                    && (*name == h.host || ping.detail.contains(&format!("{name} (")))
            })
            .map(|(name, failed)| {
                let list: Vec<String> = failed.iter().map(|c| format!("`{c}`")).collect();
                let own = if *name == h.host { " own" } else { "" };
                format!("{name} failed its{own} {} check", list.join(" and "))
            })
            .collect();
        if !blamed.is_empty() {
            ping.hint = Some(format!("{}: fix that first", blamed.join("; ")));
        }
    }
}

fn bench_report(name: &str, hosts: Vec<HostReport>) -> BenchReport {
    BenchReport {
        name: name.to_string(),
        ok: hosts.iter().all(|h| h.ok),
        hosts,
    }
}

fn report_of(benches: Vec<BenchReport>) -> Report {
    Report {
        ok: benches.iter().all(|b| b.ok),
        benches,
    }
}

fn summary(r: &HostReport) -> String {
    match r.failures() {
        0 => "✔ ready".to_string(),
        n => format!("✘ {n} failed"),
    }
}

/// Checks one host: the session's own facts, then the combined script.
fn check_host(
    host: &Host,
    conn: Result<&Session, &SshError>,
    peers: &[(String, Ipv4Addr)],
    progress: &Progress,
    i: usize,
) -> HostReport {
    let session = match conn {
        Ok(s) => s,
        Err(e) => return unreachable_report(host, e),
    };
    progress.set(i, "checking");
    let out = session.exec(&script(host, peers), None, SCRIPT_TIMEOUT);
    let mut checks = vec![
        pass(
            "ssh",
            format!(
                "{}@{} in {} ms",
                host.target.user,
                host.endpoint(),
                session.connected_in.as_millis()
            ),
        ),
        pass(
            "host key",
            format!(
                "{} {} `{}`",
                session.host_key.fingerprint,
                if session.host_key.newly_accepted {
                    "accepted and recorded in"
                } else {
                    "known in"
                },
                session.host_key.file.display()
            ),
        ),
    ];
    match out {
        Ok(o) => {
            let facts = parse_facts(&o.stdout_str());
            if !facts.complete {
                let why = format!(
                    "the check script {}: {}",
                    o.describe(),
                    ssh::first_line(&o.stderr_str())
                );
                checks.extend(skipped_from(2, &why));
                checks[2] = fail("arch", why, "is the remote shell POSIX (`sh`)?");
            } else {
                let local = facts
                    .arch
                    .as_deref()
                    .and_then(hostops::target_triple)
                    .map(|t| deploy::local_build(t).map_err(|e| e.to_string()));
                checks.extend(evaluate(host, &facts, local, peers));
            }
        }
        Err(e) => {
            let why = e.to_string();
            checks.extend(skipped_from(2, &why));
            checks[2] = fail(
                "arch",
                why,
                "the host accepted the connection but did not run the check script",
            );
        }
    }
    // A bench in use by a run: that run's programs on the lab port are no fault.
    if let Some(who) = hold::in_use(session, host) {
        if let Some(c) = checks.iter_mut().find(|c| c.check == "lab port") {
            *c = pass(
                "lab port",
                format!("{}{who}; {}", hold::IN_USE_NOTE, c.detail),
            );
        }
    }
    host_report(host, Some(session.connected_in), checks)
}

fn host_report(host: &Host, connected: Option<Duration>, checks: Vec<CheckResult>) -> HostReport {
    HostReport {
        host: host.name.clone(),
        label: host.label(),
        ssh: host.endpoint(),
        ok: checks.iter().all(|c| c.status == Status::Pass),
        connect_ms: connected.map(|d| d.as_millis() as u64),
        checks,
    }
}

fn pass(check: &'static str, detail: String) -> CheckResult {
    CheckResult {
        check,
        status: Status::Pass,
        detail,
        hint: None,
    }
}

fn fail(check: &'static str, detail: String, hint: impl Into<String>) -> CheckResult {
    CheckResult {
        check,
        status: Status::Fail,
        detail,
        hint: Some(hint.into()),
    }
}

fn skip(check: &'static str, why: &str) -> CheckResult {
    CheckResult {
        check,
        status: Status::Skip,
        detail: format!("not checked: {why}"),
        hint: None,
    }
}

/// `skip` for every check from index `from` on.
fn skipped_from(from: usize, why: &str) -> Vec<CheckResult> {
    CHECKS[from..].iter().map(|c| skip(c, why)).collect()
}

/// The report of a host that could not be reached: the failing check and the rest skipped.
fn unreachable_report(host: &Host, e: &SshError) -> HostReport {
    let detail = e.message.clone();
    let (first, hint) = match e.kind {
        SshErrorKind::HostKeyUnknown => (
            "host key",
            "if the fingerprint is the host's, run again with `--accept-new` to record it".to_string(),
        ),
        SshErrorKind::HostKeyChanged => (
            "host key",
            "if the host was reinstalled, remove the line named above; otherwise do not connect".to_string(),
        ),
        SshErrorKind::Auth if e.message.contains("environment variable") => (
            "ssh",
            "export that variable before running labctl; secrets never go in hosts.toml".to_string(),
        ),
        SshErrorKind::Auth if e.message.contains("wrong passphrase") => (
            "ssh",
            "put the key's passphrase in the variable named by `passphrase_env`".to_string(),
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

/// The one shell script that gathers every fact about a host (and pings its
/// peers in the background). It forks as little as it can (builtins read
/// /sys): 30 hosts share this machine's cores on the virtual bench. Output:
/// `key=value` lines, raw command output under `@section` lines, `ping=`
/// lines anywhere (background jobs), and `@end` last.
pub fn script(host: &Host, peers: &[(String, Ipv4Addr)]) -> String {
    let q = shell_quote(&host.interface);
    let dir = format!("/sys/class/net/{q}");
    let mut s = String::new();
    s.push_str("LC_ALL=C; export LC_ALL; PATH=\"$PATH:/usr/sbin:/sbin\"\n");
    // Pings only from a host that has its lab address: without it every ping waits out its timeout.
    s.push_str(&format!("a=$(ip -o -4 addr show dev {q} 2>/dev/null)\n"));
    s.push_str(&format!("case \"$a\" in *' {} '*)\n", host.cidr()));
    for (_, addr) in peers {
        let ping = hostops::ping_cmd(host, *addr, 1, 1);
        s.push_str(&format!(
            "  ( if {ping} >/dev/null 2>&1 || {ping} >/dev/null 2>&1; then echo 'ping={addr} ok'; else echo 'ping={addr} fail'; fi ) &\n"
        ));
    }
    s.push_str(";;\nesac\n");
    s.push_str("echo \"arch=$(uname -m)\"\n");
    s.push_str("for i in /sys/class/net/*; do echo \"iflist=${i##*/}\"; done\n");
    s.push_str(&format!(
        "if [ -e {dir} ]; then echo iface=yes; o=; c=; \
         read -r o 2>/dev/null <{dir}/operstate; read -r c 2>/dev/null <{dir}/carrier; \
         echo \"operstate=$o\"; echo \"carrier=$c\"; fi\n"
    ));
    s.push_str("echo @addr; echo \"$a\"\n");
    s.push_str("echo @top\n");
    s.push_str(&format!(
        "for t in {}; do command -v \"$t\" >/dev/null 2>&1 && echo \"tool=$t\"; done\n",
        TOOLS.join(" ")
    ));
    if host.sudo {
        s.push_str(
            "if e=$(sudo -n true 2>&1); then echo sudo=ok; else echo @sudofail; echo \"$e\"; fi\n",
        );
    }
    let ss = hostops::listeners_cmd(host, LAB_PORT);
    s.push_str("echo @listen\n");
    // `ss -p` scans every process's fds: only when a cheaper `ss` shows a listener.
    let probe = hostops::port_maybe_used_cond(LAB_PORT);
    if host.sudo {
        let plain = format!(
            "ss -ltnupH {}",
            shell_quote(&format!("sport = :{LAB_PORT}"))
        );
        s.push_str(&format!(
            "if {probe}; then {ss} 2>/dev/null || {plain} 2>/dev/null; fi\n"
        ));
    } else {
        s.push_str(&format!("if {probe}; then {ss} 2>/dev/null; fi\n"));
    }
    // Hashes only programs changed since `deploy` wrote its manifest.
    s.push_str(&format!(
        "echo @sha\n{}\n",
        hostops::cached_sha256_cmd(host)
    ));
    s.push_str("wait\necho @end\n");
    s
}

/// Facts parsed from the script's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub arch: Option<String>,
    pub interfaces: Vec<String>,
    pub iface: bool,
    pub operstate: String,
    pub carrier: String,
    pub addrs: Vec<String>,
    pub tools: Vec<String>,
    /// `None` when sudo is not configured; `Some(Err(first line))` when it failed.
    pub sudo: Option<Result<(), String>>,
    pub listen: Vec<String>,
    pub sha: HashMap<String, String>,
    pub pings: Vec<(Ipv4Addr, bool)>,
    /// The script ran to its end.
    pub complete: bool,
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
                }
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('@') {
            section = match name {
                "addr" => "addr",
                "listen" => "listen",
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
            "sudofail" => {
                if let Some(Err(e)) = &mut f.sudo {
                    if e.is_empty() {
                        *e = line.trim().to_string();
                    }
                }
            }
            _ => {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k {
                    "arch" => f.arch = Some(v.trim().to_string()),
                    "iflist" => f.interfaces.push(v.to_string()),
                    "iface" => f.iface = v == "yes",
                    "operstate" => f.operstate = v.trim().to_string(),
                    "carrier" => f.carrier = v.trim().to_string(),
                    "tool" => f.tools.push(v.to_string()),
                    "sudo" => f.sudo = Some(Ok(())),
                    _ => {}
                }
            }
        }
    }
    f.sha = deploy::parse_sha256sum(&sha);
    f
}

/// `users:(("tcp_server",pid=1234,fd=3))` → `tcp_server (pid 1234)`; the proto and address otherwise.
pub fn describe_listener(line: &str) -> String {
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
                    Some(format!("`{name}` (pid {pid})"))
                })
                .collect()
        })
        .unwrap_or_default();
    if procs.is_empty() {
        format!("{proto} {local} (process unknown)")
    } else {
        format!("{proto} {local} by {}", procs.join(", "))
    }
}

/// Turns a host's facts into its checks (everything after `ssh` and `host key`).
pub fn evaluate(
    host: &Host,
    f: &Facts,
    local: Option<Result<Arc<LocalBuild>, String>>,
    peers: &[(String, Ipv4Addr)],
) -> Vec<CheckResult> {
    let dev = &host.interface;
    let mut c = Vec::new();
    // arch
    let arch = f.arch.clone().unwrap_or_default();
    let triple = hostops::target_triple(&arch);
    c.push(match triple {
        Some(t) => pass("arch", format!("{arch} ({t})")),
        None => fail(
            "arch",
            format!("unsupported architecture `{arch}`"),
            "labctl builds the socket programs for aarch64, armv7, armv6, x86_64, i686 and riscv64",
        ),
    });
    // interface
    c.push(if f.iface {
        pass("interface", format!("{dev} present"))
    } else {
        let others: Vec<&String> = f.interfaces.iter().filter(|i| *i != "lo").collect();
        fail(
            "interface",
            format!("no interface `{dev}`"),
            format!(
                "check `interface` for `{}` in hosts.toml; the host has: {}",
                host.name,
                if others.is_empty() {
                    "no interface but lo".to_string()
                } else {
                    others
                        .iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )
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
            format!(
                "`labctl check --fix` assigns it (`{}`)",
                hostops::configure_cmd(host)
            ),
        )
    });
    // tools
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| !f.tools.iter().any(|x| x == t))
        .collect();
    c.push(if missing.is_empty() {
        pass("tools", TOOLS.join(", "))
    } else {
        let pkgs: Vec<&str> = missing
            .iter()
            .map(|t| match *t {
                "ip" | "ss" => "iproute2",
                "ping" => "iputils-ping",
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
        Some(Err(e)) => fail(
            "sudo",
            format!("`sudo -n true` failed: {e}"),
            format!(
                "allow passwordless sudo for `{u}` (a line `{u} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/labctl) or set `sudo = false`",
                u = host.target.user
            ),
        ),
    });
    // lab port
    c.push(if !f.tools.iter().any(|t| t == "ss") {
        skip("lab port", "`ss` is missing")
    } else if f.listen.is_empty() {
        pass("lab port", format!("nothing listens on {LAB_PORT}"))
    } else {
        let who: Vec<String> = f.listen.iter().map(|l| describe_listener(l)).collect();
        let pids: Vec<String> = f
            .listen
            .iter()
            .filter_map(|l| l.split("pid=").nth(1))
            .filter_map(|p| p.split(|c: char| !c.is_ascii_digit()).next())
            .map(str::to_string)
            .collect();
        fail(
            "lab port",
            format!("port {LAB_PORT} is in use: {}", who.join("; ")),
            if pids.is_empty() {
                "stop the program holding the port; `labctl check --fix` stops programs labctl started".to_string()
            } else {
                format!(
                    "stop it (`{}kill {}` on {}); `labctl check --fix` stops only programs labctl started",
                    hostops::sudo_prefix(host),
                    pids.join(" "),
                    host.name
                )
            },
        )
    });
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
                match f.sha.get(p.name) {
                    None => missing.push(p.name),
                    Some(h) if *h != p.sha256 => differ.push(p.name),
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

/// Repairs what the first pass found on one host.
fn fix_host(session: &Session, host: &Host, before: &HostReport) -> FixActions {
    let mut a = FixActions {
        host: host.label(),
        ..FixActions::default()
    };
    let t = session.command_timeout();
    let run = |what: String, cmd: &str, a: &mut FixActions| match session.exec(cmd, None, t) {
        Ok(o) if o.success() => a.done.push(what),
        Ok(o) => a.failed.push(format!(
            "{what}: `{cmd}` {}: {}",
            o.describe(),
            ssh::first_line(&o.stderr_str())
        )),
        Err(e) => a.failed.push(format!("{what}: {e}")),
    };
    // A check that could not run (the script failed) may need fixing too:
    // every repair below is idempotent.
    let needs = |c: &str| before.get(c).is_some_and(|r| r.status != Status::Pass);
    let iface_ok = !before.failed("interface");
    if iface_ok && (needs("address") || needs("link")) {
        run(
            format!(
                "assigned {} to {} and brought it up",
                host.cidr(),
                host.interface
            ),
            &hostops::configure_cmd(host),
            &mut a,
        );
    }
    // Stale programs a killed labctl left (registered in `<workdir>/procs/`).
    match session.exec(&crate::remote::stop_all_cmd(host), None, t) {
        Ok(o) => {
            let stopped = crate::remote::parse_stop_output(&o.stdout_str());
            let gone: Vec<String> = stopped
                .iter()
                .filter(|p| !p.alive)
                .map(|p| format!("`{}` (group {})", p.name, p.pgid))
                .collect();
            let alive: Vec<String> = stopped
                .iter()
                .filter(|p| p.alive)
                .map(|p| format!("`{}` (group {})", p.name, p.pgid))
                .collect();
            if !gone.is_empty() {
                a.done
                    .push(format!("stopped stale lab programs: {}", gone.join(", ")));
            }
            if !alive.is_empty() {
                a.failed
                    .push(format!("still running after stop: {}", alive.join(", ")));
            } else if !o.success() && stopped.is_empty() {
                a.failed.push(format!(
                    "stopping stale lab programs {}: {}",
                    o.describe(),
                    ssh::first_line(&o.stderr_str())
                ));
            }
        }
        Err(e) => a.failed.push(format!("stopping stale lab programs: {e}")),
    }
    if needs("programs") {
        match deploy::deploy(session, host) {
            Ok(r) if r.uploaded.is_empty() => a.done.push("programs already deployed".to_string()),
            Ok(r) => a.done.push(format!("deployed {}", r.uploaded.join(", "))),
            Err(e) => a.failed.push(format!("deploying the programs: {e}")),
        }
    }
    a
}

// ---------------------------------------------------------------------------
// Progress on stderr: a line per host on a terminal, plain lines otherwise.

struct Progress {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    labels: Vec<String>,
}

impl Progress {
    fn new(hosts: &[&Host]) -> Progress {
        let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
        let width = labels.iter().map(|l| l.len()).max().unwrap_or(1);
        let bars = std::io::stderr().is_terminal().then(|| {
            let mp =
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
            let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bars = labels
                .iter()
                .map(|l| {
                    let b = mp.add(indicatif::ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{l:width$}"));
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                })
                .collect();
            (mp, bars)
        });
        Progress { bars, labels }
    }

    fn set(&self, i: usize, msg: &str) {
        if let Some((_, bars)) = &self.bars {
            bars[i].set_message(msg.to_string());
        }
    }

    fn done(&self, i: usize, msg: &str) {
        match &self.bars {
            Some((_, bars)) => bars[i].finish_with_message(msg.to_string()),
            None => eprintln!("{}: {msg}", self.labels[i]),
        }
    }

    fn finish(&self) {
        if let Some((mp, bars)) = &self.bars {
            for b in bars {
                b.finish_and_clear();
            }
            let _ = mp.clear();
        }
    }
}

// ---------------------------------------------------------------------------
// Rendering.

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "✔",
        Status::Fail => "✘",
        Status::Skip => "·",
    }
}

/// Pads `s` to `w` characters (counting chars, so ✔ is one column).
fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

/// `s` without trailing spaces on any line, ending with a newline.
fn trim_lines(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n"
}

/// One bench as a check × host table.
pub fn render_bench(b: &BenchReport) -> String {
    let mut out = String::new();
    let cw = CHECKS.iter().map(|c| c.len()).max().unwrap_or(8) + 2;
    let hw = b
        .hosts
        .iter()
        .map(|h| h.host.chars().count())
        .max()
        .unwrap_or(1)
        .max(8)
        + 2;
    out.push_str(&pad("", cw));
    for h in &b.hosts {
        out.push_str(&pad(&h.host, hw));
    }
    out.push('\n');
    for check in CHECKS {
        out.push_str(&pad(check, cw));
        for h in &b.hosts {
            let cell = match h.get(check) {
                Some(r) if check == "ssh" && r.status == Status::Pass && h.connect_ms.is_some() => {
                    format!("✔ {} ms", h.connect_ms.unwrap_or(0))
                }
                Some(r) => mark(r.status).to_string(),
                None => "·".to_string(),
            };
            out.push_str(&pad(&cell, hw));
        }
        out.push('\n');
    }
    trim_lines(&out)
}

/// A room as a bench × host matrix: ✔ or the number of failed checks.
pub fn render_room(r: &[BenchReport]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for b in r {
        for h in &b.hosts {
            if !names.contains(&h.host.as_str()) {
                names.push(&h.host);
            }
        }
    }
    let bw = r
        .iter()
        .map(|b| b.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5)
        + 2;
    let hw = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(3)
        + 2;
    let mut out = pad("", bw);
    for n in &names {
        out.push_str(&pad(n, hw));
    }
    out.push('\n');
    for b in r {
        out.push_str(&pad(&b.name, bw));
        for n in &names {
            let cell = match b.hosts.iter().find(|h| h.host == *n) {
                Some(h) if h.ok => "✔".to_string(),
                Some(h) => h.failures().to_string(),
                None => "-".to_string(),
            };
            out.push_str(&pad(&cell, hw));
        }
        out.push('\n');
    }
    trim_lines(&out)
}

/// Every failure with its hint.
pub fn render_failures(report: &Report) -> String {
    let mut out = String::new();
    for h in report.hosts() {
        for c in &h.checks {
            if c.status == Status::Fail {
                out.push_str(&format!("✘ {} {}: {}\n", h.label, c.check, c.detail));
                if let Some(hint) = &c.hint {
                    out.push_str(&format!("    fix: {hint}\n"));
                }
            }
        }
    }
    out
}

fn render_report(report: &Report, room: bool) -> String {
    let mut out = String::new();
    if room && report.benches.len() > 1 {
        out.push_str(&render_room(&report.benches));
    } else {
        for b in &report.benches {
            if room {
                out.push_str(&format!("bench `{}`\n", b.name));
            }
            out.push_str(&render_bench(b));
        }
    }
    out.push_str(&hold::render_in_use(report.hosts().filter_map(|h| {
        h.get("lab port")
            .map(|c| (h.label.as_str(), c.detail.as_str()))
    })));
    let failures = render_failures(report);
    if !failures.is_empty() {
        out.push('\n');
        out.push_str(&failures);
    }
    let hosts: Vec<&HostReport> = report.hosts().collect();
    let checks: usize = hosts.iter().map(|h| h.checks.len()).sum();
    let failed: usize = hosts.iter().map(|h| h.failures()).sum();
    let skipped: usize = hosts
        .iter()
        .flat_map(|h| h.checks.iter())
        .filter(|c| c.status == Status::Skip)
        .count();
    out.push('\n');
    if report.ok {
        out.push_str(&format!(
            "ready: all {checks} checks passed on {} host{}\n",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ));
    } else {
        out.push_str(&format!(
            "not ready: {failed} of {checks} checks failed{} on {} of {} hosts\n",
            if skipped > 0 {
                format!(", {skipped} not checked")
            } else {
                String::new()
            },
            hosts.iter().filter(|h| !h.ok).count(),
            hosts.len()
        ));
    }
    out
}

/// The whole text output of `labctl check` (without `--json`).
pub fn render_outcome(o: &CheckOutcome, room: bool) -> String {
    let final_report = Report {
        ok: o.ok,
        benches: o.benches.clone(),
    };
    match &o.fix {
        None => render_report(&final_report, room),
        Some(fix) => {
            let mut out = String::from("before --fix:\n");
            out.push_str(&render_report(&fix.before, room));
            out.push_str("\nfixing:\n");
            for a in &fix.actions {
                if a.done.is_empty() && a.failed.is_empty() {
                    continue;
                }
                for d in &a.done {
                    out.push_str(&format!("  {}: {d}\n", a.host));
                }
                for f in &a.failed {
                    out.push_str(&format!("  {}: ✘ {f}\n", a.host));
                }
            }
            out.push_str("\nafter --fix:\n");
            out.push_str(&render_report(&final_report, room));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        crate::hostops::sample_host(true)
    }

    const GOOD: &str = "arch=aarch64\niflist=eth0\niflist=lo\niface=yes\noperstate=up\ncarrier=1\n\
        @addr\n2: eth0    inet 10.0.3.1/24 brd 10.0.3.255 scope global eth0\\       valid_lft forever\n\
        ping=10.0.3.2 ok\n@top\ntool=ip\ntool=ss\ntool=ping\ntool=tcpdump\nsudo=ok\n@listen\n@sha\nping=10.0.3.3 ok\n@end\n";

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
            "lab port",
            "ping",
        ] {
            assert_eq!(status(&c, name), Status::Pass, "{name}: {c:?}");
        }
        assert_eq!(status(&c, "programs"), Status::Fail);
        assert_eq!(c.len(), CHECKS.len() - 2);
    }

    #[test]
    fn failures_are_named_with_hints() {
        let text = "arch=armv7l\niflist=lo\niflist=wlan0\n@addr\n2: eth0 inet 10.0.3.1/24 scope global\n@top\ntool=ip\ntool=ss\n\
            @sudofail\nsudo: a password is required\n@listen\n\
            tcp   LISTEN 0      1      0.0.0.0:50000      0.0.0.0:*    users:((\"socat\",pid=4242,fd=5))\n\
            ping=10.0.3.2 fail\n@sha\nping=10.0.3.3 ok\n@end\n";
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
        assert!(get("sudo").detail.contains("a password is required"));
        let l = get("lab port");
        assert!(l.detail.contains("`socat` (pid 4242)"), "{}", l.detail);
        assert!(l.hint.unwrap().contains("kill 4242"));
        let p = get("ping");
        assert!(
            p.detail.contains("B (10.0.3.2)") && !p.detail.contains("C ("),
            "{}",
            p.detail
        );
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

    #[test]
    fn script_quotes_and_pings_peers() {
        let mut h = host();
        h.interface = "e th0".into();
        let s = script(&h, &peers());
        assert!(s.contains("/sys/class/net/'e th0'"), "{s}");
        assert!(
            s.contains("ping -n -q -I 'e th0' -c 1 -W 1 10.0.3.3"),
            "{s}"
        );
        assert!(s.contains("sudo -n true"));
        assert!(s.trim_end().ends_with("echo @end"));
    }

    #[test]
    fn room_matrix_counts_failures() {
        let mk = |name: &str, fails: usize| HostReport {
            host: name.into(),
            label: name.into(),
            ssh: "x".into(),
            ok: fails == 0,
            connect_ms: Some(1),
            checks: (0..fails).map(|_| fail("ping", "x".into(), "y")).collect(),
        };
        let r = vec![
            BenchReport {
                name: "b1".into(),
                ok: true,
                hosts: vec![mk("A", 0), mk("B", 0)],
            },
            BenchReport {
                name: "b2".into(),
                ok: false,
                hosts: vec![mk("A", 2), mk("B", 0)],
            },
        ];
        let m = render_room(&r);
        let lines: Vec<&str> = m.lines().collect();
        assert!(lines[1].starts_with("b1") && lines[1].contains('✔'));
        assert!(lines[2].contains('2'), "{m}");
    }
}
