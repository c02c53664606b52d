//! `labctl check [--bench NAME | --all] [--json] [--fix]`: is a bench (or the
//! whole room) ready for class?
//!
//! Every host is checked in parallel on its own thread and SSH session, in
//! one round trip (one channel) after connecting: one combined shell script,
//! run by `sh`, reads the host's clock first (its first line: the clock row's
//! sample), gathers every fact (architecture, interface, link, addresses,
//! tools, sudo, listeners on the lab port, program hashes) while the host
//! pings every other host of its bench in the background, then says who
//! holds the bench (each channel costs the host a process of sshd's and a
//! shell, each command a process, and a room of virtual benches shares one
//! machine's cores: there the hosts' side is most of `check --all`'s time). The facts are parsed into [`CheckResult`]s, then
//! shown as a table (one bench) or a bench × host matrix (a room), each
//! failure with a one-line fix hint. `--fix` repairs what it can on every host
//! (addresses and links via [`crate::hostops::configure_cmd`], programs via
//! [`deploy`], stale lab programs), waits for all hosts, and checks again.
//!
//! Exit codes: 0 when every check passed; 1 when any check failed
//! ([`Error::Failed`]), including some hosts being unreachable; 3
//! ([`Error::Host`]) only when no host at all could be reached, so nothing
//! could be checked; 2 for a bad hosts file or selection; 4 when this machine
//! lacks something.
//!
//! `--json` prints JSON lines on stdout ([`event::CheckEvent`], documented
//! in `docs/events-json-schema.json`) and the table on stderr:
//! `check_started` at once, then, when every host is done, a `host_checked`
//! line per host (with `--fix`: before, a `host_fixed` per host, after) and
//! last `check_finished`, the whole outcome. That last line has the fields
//! of the single object earlier versions printed (plus `"event"`):
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
//!               "status": "fail",      // "pass" | "fail" | "skip" (not checked) | "warn" (passed, with a warning)
//!               "detail": "10.0.3.1/24 is not on eth0 (it has none)",
//!               "hint": "run `labctl check --fix` ..." }   // null unless failed
//!           ] } ] } ],
//!   "fix": null                        // with --fix: { "actions": [...], "before": {ok, benches} }
//! }
//! ```
//! With `--fix`, `benches` is the result after fixing, `fix.before` the first
//! result and `fix.actions` one `{ "host", "done": [..], "failed": [..] }` per host.

pub mod clock;
mod evaluate;
pub mod event;
mod facts;
mod fix;
mod model;
pub(crate) mod progress;
mod render;
mod script;

pub(crate) use evaluate::{evaluate, lab_ports_taken};
pub(crate) use facts::describe_listener;
pub use facts::parse_facts;
pub(crate) use facts::{Facts, Manager};
pub(crate) use model::*;
pub(crate) use render::render_outcome;
pub use script::script;
pub(crate) use script::script_for;

use evaluate::{fail, host_report, pass, skipped_from, unreachable_report};
use fix::fix_host;
use progress::Progress;

/// Upper bound for the combined check script on one host. It takes well under
/// a second on a Pi; the margin is for a virtual room on a busy machine.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::config::hosts::{self, Bench, BenchChoice, Host};
use crate::config::Given;
use crate::deploy::{self};
use crate::error::Error;
use crate::hold;
use crate::programs::ProgramSet;
use crate::ssh::{self, ConnectOptions, Session, SshError};

/// What `labctl check` was asked.
#[derive(Debug, Clone)]
pub(crate) struct CheckOptions {
    pub select: BenchChoice,
    /// JSON lines on stdout; the table goes to stderr.
    pub json: bool,
    /// Repair what can be repaired, then check again.
    pub fix: bool,
    /// The program set to check for (`--programs`).
    pub programs: Option<String>,
    /// Where `check --all` keeps the room's result (default `runs/`).
    pub out: Option<PathBuf>,
}

/// Runs `labctl check`.
pub(crate) fn command(global: &Given, args: &CheckOptions) -> Result<(), Error> {
    let room = hosts::load(&global.hosts)?;
    let benches = room.select(args.select.clone())?;
    let opts = ConnectOptions {
        accept_new: global.accept_new,
        ..ConnectOptions::default()
    };
    let ports = lab_ports(&global.lab, global.lab_given, &benches)?;
    let start = Instant::now();
    if args.json {
        crate::util::json_line(&event::CheckEvent::CheckStarted {
            hosts_file: &room.path.display().to_string(),
            benches: benches
                .iter()
                .map(|b| event::CheckBench {
                    name: b.name.clone(),
                    hosts: b.hosts.iter().map(|h| h.label()).collect(),
                })
                .collect(),
            fix: args.fix,
            at: crate::record::now_unix(),
        });
    }
    let set = crate::lab::set::for_check(
        &room,
        &global.hosts,
        &global.lab,
        args.select.clone(),
        args.programs.as_deref(),
    )?;
    let (report, fix) = run_set(&benches, &opts, args.fix, &ports, &set);
    let busy = fix.as_ref().and_then(|f| f.busy.clone());
    let outcome = CheckOutcome {
        ok: report.ok,
        hosts_file: room.path.display().to_string(),
        elapsed_ms: start.elapsed().as_millis() as u64,
        benches: report.benches.clone(),
        fix,
    };
    // A room's check is kept for the next `run --all`'s room report.
    if benches.len() > 1 {
        let out = args.out.clone().unwrap_or_else(|| "runs".into());
        let kept = crate::room::RoomCheck::of(&report, crate::record::now_unix()).record(&out);
        if let Err(e) = kept {
            crate::util::err_line(&format!("labctl: {e}"));
        }
    }
    let table = crate::style::marks(&render_outcome(&outcome, room.is_room));
    if args.json {
        // The table for the people watching; the lines for the script.
        crate::util::err_line(table.trim_end_matches('\n'));
        for line in event::lines(&outcome) {
            crate::util::json_line(&line);
        }
    } else {
        crate::util::out_line(table.strip_suffix('\n').unwrap_or(&table));
    }
    if let Some(b) = busy {
        let lines: Vec<String> = b.lines().map(str::to_string).collect();
        return Err(hold::refusal(&lines));
    }
    exit_for(&report)
}

/// The ports the lab's servers bind, per host label: `("tcp", 6000)`.
pub(crate) type LabPorts = HashMap<String, Vec<(&'static str, u16)>>;

/// The ports the lab file at `path` has its servers bind on each host of
/// `benches` ([`crate::lab::plan::server_ports`]). Without a lab file there,
/// the programs' default port, TCP and UDP, on every host, unless the file
/// was named on the command line (`given`): then, as a lab file that does
/// not validate, it is an input error (nothing is contacted).
pub(crate) fn lab_ports(
    path: &std::path::Path,
    given: bool,
    benches: &[&Bench],
) -> Result<LabPorts, Error> {
    let hosts = benches.iter().flat_map(|b| b.hosts.iter());
    if !path.exists() && !given {
        let all = vec![
            ("tcp", crate::arch::LAB_PORT),
            ("udp", crate::arch::LAB_PORT),
        ];
        return Ok(hosts.map(|h| (h.label(), all.clone())).collect());
    }
    let mut names: Vec<String> = hosts.map(|h| h.name.clone()).collect();
    names.sort();
    names.dedup();
    let lab = crate::lab::model::Lab::load(path, &names)?;
    let mut out = LabPorts::new();
    for b in benches {
        for h in &b.hosts {
            out.insert(h.label(), Vec::new());
        }
        for p in crate::lab::plan::server_ports(&lab, b) {
            if let Some(h) = b.host(&p.host) {
                out.entry(h.label()).or_default().push((p.proto, p.port));
            }
        }
    }
    Ok(out)
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
pub fn run(
    benches: &[&Bench],
    opts: &ConnectOptions,
    fix: bool,
    ports: &LabPorts,
) -> (Report, Option<FixReport>) {
    run_set(benches, opts, fix, ports, &ProgramSet::rust())
}

/// [`run`] for program set `set`: its files are compared and deployed, its
/// interpreter is one of the tools checked.
pub(crate) fn run_set(
    benches: &[&Bench],
    opts: &ConnectOptions,
    fix: bool,
    ports: &LabPorts,
    set: &ProgramSet,
) -> (Report, Option<FixReport>) {
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
    let progress = if benches.len() > 1 {
        Progress::for_room(&hosts)
    } else {
        Progress::new(&hosts)
    };
    let barrier = Barrier::new(hosts.len());
    let index: HashMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.label(), i))
        .collect();
    let gate = hold::Gate::new(hosts.len());
    let (connecting, connected) = std::sync::mpsc::channel::<()>();
    let outcomes = std::thread::scope(|scope| {
        scope.spawn(|| progress.watch_connecting(connected));
        let outcomes = ssh::for_each_host(&hosts, opts, |host, conn| {
            let i = index[&host.label()];
            progress.connected(i);
            let peers: Vec<(String, Ipv4Addr)> = peers[&host.bench]
                .iter()
                .filter(|(n, _)| *n != host.name)
                .cloned()
                .collect();
            let ports = ports.get(&host.label()).map_or(&[][..], Vec::as_slice);
            let before = check_host(host, conn.as_ref(), &peers, ports, &progress, i, set);
            if !fix {
                progress.host_done(i, &before);
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
                    let mut a = fix_host(s, host, &before, set);
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
                Ok(_) => check_host(host, conn.as_ref(), &peers, ports, &progress, i, set),
                Err(_) => before.clone(),
            };
            progress.host_done(i, &after);
            HostOutcome {
                before,
                fix: Some(actions),
                after: Some(after),
            }
        });
        drop(connecting);
        outcomes
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
        // Only a missing reply can be the peers' doing (not a ping refused here).
        if ping.status != Status::Fail || !ping.detail.starts_with("no reply") {
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

/// Checks one host: the session's own facts, then the combined script.
fn check_host(
    host: &Host,
    conn: Result<&Session, &SshError>,
    peers: &[(String, Ipv4Addr)],
    ports: &[(&'static str, u16)],
    progress: &Progress,
    i: usize,
    set: &ProgramSet,
) -> HostReport {
    let session = match conn {
        Ok(s) => s,
        Err(e) => return unreachable_report(host, e),
    };
    progress.set(i, "checking");
    let names = set.deployed_names();
    // The facts, the clock's sample (the script's first line) and who holds
    // the bench, in one round trip.
    let cmd = script::command(
        &script_for(host, peers, ports, set, &names),
        &hold::held_cmd(host),
    );
    let out = progress.watching(i, "checking", session, || {
        clock::run_sampled(session, &cmd, SCRIPT_TIMEOUT)
    });
    let clock;
    let mut held = None;
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
        Ok((o, sample)) => {
            let text = o.stdout_str();
            // The facts end with `@end`; the holder's lines follow.
            let (facts_text, after) = match text.find("\n@end\n") {
                Some(at) => (&text[..at + 6], Some(&text[at + 6..])),
                None => (text.as_str(), None),
            };
            let facts = parse_facts(facts_text);
            held = after.map(str::to_string);
            clock = match &sample {
                Some(best) => clock::row(host, best, facts.ntp_synced.as_deref().unwrap_or("")),
                None => clock::unread(&clock::not_read(&o)),
            };
            if !facts.complete {
                let why = format!(
                    "the check script {}: {}",
                    o.describe(),
                    ssh::whole_reason(&o.stderr_str())
                );
                checks.extend(skipped_from(2, &why));
                checks[2] = fail("arch", why, "is the remote shell POSIX (`sh`)?");
            } else {
                // The declared arch picks the build (as deploy does), else `uname -m`.
                let local = host
                    .arch
                    .as_deref()
                    .or(facts.arch.as_deref())
                    .and_then(crate::arch::target_triple)
                    .map(|t| deploy::set_build(t, set).map_err(|e| e.to_string()));
                checks.extend(evaluate(host, &facts, local, peers));
            }
        }
        Err(e) => {
            let why = e.to_string();
            clock = clock::unread(&why);
            checks.extend(skipped_from(2, &why));
            checks[2] = fail(
                "arch",
                why,
                "the host accepted the connection but did not run the check script",
            );
        }
    }
    // The host's clock against this machine's.
    match checks.iter_mut().find(|c| c.check == "clock") {
        Some(c) => *c = clock,
        None => checks.push(clock),
    }
    // A bench in use by a run: that run's programs on the lab port are no fault.
    if let Some(who) = held.as_deref().and_then(hold::in_use_from) {
        if let Some(c) = checks.iter_mut().find(|c| c.check == "lab port") {
            *c = pass(
                "lab port",
                format!("{}{who}; {}", hold::IN_USE_NOTE, c.detail),
            );
        }
    }
    host_report(host, Some(session.connected_in), checks)
}
