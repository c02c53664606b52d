//! `labctl run`: executes a [`Plan`] on a bench and reports as it goes.
//!
//! Threads: one worker per host owns that host's SSH session
//! ([`worker`]; started through [`ssh::for_each_host`]); this thread walks
//! the plan, sending each action's ops to the hosts it involves and waiting
//! for all of them; one reporter thread receives every [`Event`] and hands
//! it to each of the run's outputs through one dispatcher (`sink.rs`): the
//! run directory ([`crate::record::dir`]), `--json` ([`json`]), the
//! `--pause` presenter, the room, the terminal ([`reporter`]) and the
//! reports.
//!
//! One labctl at a time: each worker takes the bench's hold on its host
//! before anything changes ([`crate::hold`]); another labctl's live hold
//! ends the run before it starts, with exit code 5 (`--all` holds each bench).
//!
//! Nothing is left running: at the end — passed, failed, or Ctrl-C (a flag
//! set by signal-hook, noticed by the executor and inside every wait) —
//! every worker stops its host's programs of this run and verifies they are
//! gone; each host also runs a watchdog that does the same if labctl's
//! connection drops. `--dry-run` walks the same plan without any effect.

pub(crate) mod json;
pub(crate) mod pause;
pub(crate) mod reporter;
pub(crate) mod sink;
pub(crate) mod worker;

/// The run record and its directory: defined below the stages that write
/// and read them ([`crate::record`]).
use crate::record::{self as event, dir as rundir};

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use event::{now_unix, Event, HostName, OpRef, Outcome, RunHost, RunOf, StepInfo};
use worker::{Checks, Job, JobSender, OpsResult, Shared};

use crate::config::hosts::{Bench, BenchChoice, Host};
use crate::config::Given;
use crate::error::Error;
use crate::lab::{self, plan::select_steps, select::StepChoice, Inputs, Lab, Plan};
use crate::ssh::{self, ConnectOptions};

/// What `labctl run` was asked.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub steps: StepChoice,
    pub select: BenchChoice,
    /// Print what would run; execute nothing.
    pub dry_run: bool,
    /// Where run directories go (default `runs/`).
    pub out: Option<PathBuf>,
    /// Presenter mode: wait for a key before each step.
    pub pause: bool,
    /// The run's events as JSON lines on stdout.
    pub json: bool,
    /// The program set to run (`--programs`).
    pub programs: Option<String>,
    /// Take the bench from a stale holder.
    pub take_over: bool,
}

/// `labctl run`.
pub(crate) fn command(g: &Given, args: &RunOptions) -> Result<(), Error> {
    // Every flag naming a file is judged before any connection.
    if let Some(out) = args.out.as_ref().filter(|o| o.exists() && !o.is_dir()) {
        return Err(Error::Usage(format!(
            "`--out {}`: not a directory; name the directory the run directories go in (it is made when missing)",
            out.display()
        )));
    }
    let inputs = Inputs::load_with_set(
        &g.hosts,
        &g.lab,
        args.select.clone(),
        args.programs.as_deref(),
    )?;
    let selection = select_steps(&inputs.lab, args.steps.clone())?;
    let lab = &inputs.lab;
    let benches: Vec<&Bench> = inputs.benches().collect();
    let many = benches.len() > 1;
    // Everything is planned before anything is created: a planning error leaves no trace.
    let mut plans = Vec::new();
    for bench in &benches {
        let id = lab::run_id(&lab.name, bench.in_room().then_some(bench.name.as_str()));
        plans.push(Plan::build(lab, bench, &selection, &id)?);
    }
    let prefix = |b: &Bench| {
        if many {
            format!("[{}] ", b.name)
        } else {
            String::new()
        }
    };
    if args.pause {
        pause::check_terminal()?;
    }
    let (stop, bell) = interrupt_flag()?;
    let json = |_: &Bench| args.json.then(json::JsonOut::new);
    if args.dry_run {
        for (bench, plan) in benches.iter().zip(&plans) {
            dry_run(lab, bench, plan, &prefix(bench), json(bench));
        }
        return Ok(());
    }
    let opts = ConnectOptions {
        accept_new: g.accept_new,
        ..ConnectOptions::default()
    };
    // Every command the run's programs use, on every host it runs on (and
    // the set's interpreter's version), before anything is created or started.
    let mut versions = BTreeMap::new();
    if !args.dry_run {
        for (bench, plan) in benches.iter().zip(&plans) {
            let mut by_host = lab::plan::programs_by_host(plan);
            let needs: Vec<crate::programs::HostNeeds> = plan
                .hosts
                .iter()
                .filter_map(|h| bench.host(h))
                .map(|host| crate::programs::HostNeeds {
                    host,
                    programs: by_host.remove(&host.name).unwrap_or_default(),
                })
                .collect();
            let found = crate::programs::probe(&lab.programs, &needs, &opts)?;
            versions.insert(bench.name.clone(), found);
        }
    }
    let parent = args.out.clone().unwrap_or_else(|| PathBuf::from("runs"));
    // A room's own directory first, beside the benches' (`run --all`).
    let room_dir = if many {
        let id = lab::run_id(&lab.name, Some("room"));
        Some(crate::room::report::create(&parent, &id)?)
    } else {
        None
    };
    let mut runs = Vec::new();
    for (bench, plan) in benches.iter().zip(plans) {
        let (dir, id) = rundir::create(&parent, &plan.run_id)?;
        let plan = if id == plan.run_id {
            plan
        } else {
            Plan::build(lab, bench, &selection, &id)?
        };
        runs.push((*bench, plan, dir));
    }
    let Some((room_dir, room_id)) = room_dir else {
        let set = Settings {
            opts: &opts,
            stop: &stop,
            bell: &bell,
            live: !args.pause && std::io::stderr().is_terminal(),
            pause: args.pause,
            versions: &versions,
            room: None,
            take_over: args.take_over,
            orphaned_after: inputs.room.orphaned_after,
        };
        let (bench, plan, dir) = &runs[0];
        // A failure was printed in its step and in the summary: the last
        // word (on stderr, by `main`) does not print it a third time. A run
        // refused before it began (it left no run directory) has no summary:
        // its reason is that last word.
        return execute(lab, bench, 0, plan, dir, &set, "", json(bench)).map_err(|e| match e {
            Error::Failed(_) if dir.exists() => {
                Error::Failed("the run failed; see the summary above".into())
            }
            e => e,
        });
    };
    room_run(lab, &runs, (&room_dir, &room_id), args.json, |room| {
        Settings {
            opts: &opts,
            stop: &stop,
            bell: &bell,
            live: false,
            pause: false,
            versions: &versions,
            room: Some(room),
            take_over: args.take_over,
            orphaned_after: inputs.room.orphaned_after,
        }
    })
}

/// `run --all`: every bench at once, drawn as a room ([`crate::room`]): a
/// line per bench on a terminal (each bench's own log with `-v`), the
/// room's summary at the end, and the room report in `room`'s directory,
/// rewritten as the benches go. The exit code is the worst of the benches'.
fn room_run<'a>(
    lab: &Lab,
    runs: &[(&Bench, Plan, PathBuf)],
    (room_dir, room_id): (&std::path::Path, &str),
    json: bool,
    settings: impl FnOnce(RoomLink) -> Settings<'a>,
) -> Result<(), Error> {
    use crate::room::{self, term::RoomTerm, BenchView, Room, RoomStep};
    let first = &runs[0].1;
    let mut model = Room {
        id: room_id.to_string(),
        lab: lab.name.clone(),
        lab_title: lab.title.clone(),
        steps: first
            .steps
            .iter()
            .map(|s| RoomStep {
                id: s.id.as_str().into(),
                title: s.title.clone(),
            })
            .collect(),
        benches: runs
            .iter()
            .map(|(b, plan, _)| BenchView::new(&b.name, &plan.run_id, first.steps.len()))
            .collect(),
        started_at: now_unix(),
        finished_at: None,
        check: None,
    };
    // The room's last check, if it checked these benches.
    model.check = room::RoomCheck::last(room_dir.parent().unwrap_or(std::path::Path::new(".")))
        .filter(|c| {
            model
                .benches
                .iter()
                .all(|b| c.benches.iter().any(|cb| cb.name == b.name))
        });
    let mut write_error = room::report::write(room_dir, &model).err();
    let verbose = crate::style::verbose();
    let human_tty = if json {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let live = !verbose && !crate::style::quiet() && std::io::stderr().is_terminal();
    let index = room_dir.join("index.html");
    {
        let line = format!(
            "labctl: lab `{}` on {} benches; room report {}",
            lab.name,
            runs.len(),
            index.display()
        );
        if json {
            crate::util::err_line(&line);
        } else if !crate::style::quiet() {
            crate::util::out_line(&line);
        }
    }
    // After the line above: the view draws below what is printed.
    // A line per finished step unless the view shows progress where the lines go.
    let step_lines = !(verbose || live && human_tty);
    let term = RoomTerm::new(&model, live, step_lines, json);
    // A room runs a few threads per bench; glibc would give most of them
    // an arena of their own (up to 8 per core), each keeping what it freed:
    // two arenas keep labctl's memory near what it uses (62 MB instead of
    // 70 for a room of 30), at no cost in CPU on two cores.
    // SAFETY: mallopt only sets a parameter of glibc's allocator.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let (tx, rx) = channel::<(usize, Event)>();
    let set = settings(RoomLink {
        id: room_id.to_string(),
        events: tx,
        logs: verbose,
    });
    let prefix = |b: &Bench| format!("[{}] ", b.name);
    let json_out = |_: &Bench| json.then(json::JsonOut::new);
    let (results, model, term, err) = std::thread::scope(|s| {
        let follower = s.spawn(move || follow_room(rx, model, term, room_dir));
        let results: Vec<Result<(), Error>> = std::thread::scope(|benches| {
            let handles: Vec<_> = runs
                .iter()
                .enumerate()
                .map(|(i, (bench, plan, dir))| {
                    let (set, p, j) = (&set, prefix(bench), json_out(bench));
                    benches.spawn(move || execute(lab, bench, i, plan, dir, set, &p, j))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        // The room's channel closes with the last bench's reporter.
        drop(set);
        let (model, term, err) = follower
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (results, model, term, err)
    });
    let mut model = model;
    write_error = write_error.or(err);
    for (b, r) in model.benches.iter_mut().zip(&results) {
        b.exit_code = Some(r.as_ref().err().map_or(0, Error::exit_code));
    }
    model.finished_at = Some(now_unix());
    if let Err(e) = room::report::write(room_dir, &model) {
        write_error.get_or_insert(e);
    }
    room::report::tidy(room_dir);
    term.finish();
    term.summary(&model, Some(&index));
    if let Some(e) = write_error {
        crate::util::err_line(&format!("labctl: {e}"));
    }
    worst(&model, results)
}

/// The room's thread: folds what the benches send, draws it, and rewrites
/// the room report at most every [`crate::room::term::REPORT_EVERY`] while
/// something changed, until every bench is done.
fn follow_room(
    rx: Receiver<(usize, Event)>,
    mut room: crate::room::Room,
    term: crate::room::term::RoomTerm,
    dir: &std::path::Path,
) -> (
    crate::room::Room,
    crate::room::term::RoomTerm,
    Option<Error>,
) {
    use crate::room::{
        report,
        term::{REDRAW_AFTER, REPORT_EVERY},
    };
    use std::sync::mpsc::RecvTimeoutError;
    let ids = room.step_ids();
    let mut written = Instant::now();
    let mut stale = false;
    // A change the lines may not show yet (see `RoomTerm::redraw`).
    let mut undrawn: Option<Instant> = None;
    let mut error = None;
    loop {
        let wait = [
            stale.then(|| REPORT_EVERY.saturating_sub(written.elapsed())),
            undrawn.map(|t| REDRAW_AFTER.saturating_sub(t.elapsed())),
        ]
        .into_iter()
        .flatten()
        .min();
        let got = match wait {
            Some(w) => rx.recv_timeout(w),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match got {
            Ok((i, e)) => {
                if let Some(c) = room.benches.get_mut(i).and_then(|b| b.event(&ids, &e)) {
                    term.update(&room, i, &c);
                    stale = true;
                    if term.live() {
                        undrawn = Some(Instant::now());
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if undrawn.is_some_and(|t| t.elapsed() >= REDRAW_AFTER) {
            term.redraw();
            undrawn = None;
        }
        // A bench that finished is in the file within the second too (a
        // room's benches tend to finish together: one write for them all).
        if stale && written.elapsed() >= REPORT_EVERY {
            if let Err(e) = report::write(dir, &room) {
                error.get_or_insert(e);
            }
            written = Instant::now();
            stale = false;
        }
    }
    (room, term, error)
}

/// The room's exit: the worst of the benches' exit codes (Ctrl-C 130, then
/// 5, 4, 3, 1), its error naming the benches it came from; the summary
/// above already said each bench's failure.
fn worst(room: &crate::room::Room, results: Vec<Result<(), Error>>) -> Result<(), Error> {
    let n = results.len();
    let failed: Vec<(String, Error)> = room
        .benches
        .iter()
        .zip(results)
        .filter_map(|(b, r)| r.err().map(|e| (b.name.clone(), e)))
        .collect();
    let Some(code) = failed.iter().map(|(_, e)| e.exit_code()).max() else {
        return Ok(());
    };
    let names: Vec<String> = failed
        .iter()
        .filter(|(_, e)| e.exit_code() == code)
        .map(|(b, _)| format!("`{b}`"))
        .collect();
    let (_, e) = failed
        .into_iter()
        .find(|(_, e)| e.exit_code() == code)
        .expect("the worst is one of them");
    let k = room.benches.len() - room.passed();
    let what = format!(
        "{k} of {n} benches did not pass; see the room summary above (exit {code}: {})",
        names.join(", ")
    );
    Err(match e {
        Error::Interrupted => Error::Interrupted,
        Error::Host(_) => Error::Host(what),
        Error::Local(_) => Error::Local(what),
        Error::Busy(_) => Error::Busy(what),
        Error::Usage(_) | Error::Input(_) => Error::Usage(what),
        Error::Failed(_) => Error::Failed(what),
    })
}

trait BenchExt {
    fn in_room(&self) -> bool;
}

impl BenchExt for Bench {
    fn in_room(&self) -> bool {
        self.hosts.first().is_some_and(|h| h.in_room)
    }
}

/// SIGINT, SIGTERM and SIGHUP set the returned flag: the run stops as on
/// Ctrl-C (programs stopped, captures fetched, reports written, exit 130).
/// A second SIGINT or SIGTERM ends labctl at once (130); a second SIGHUP
/// does not: a closing terminal sends several (the kernel's and the
/// shell's), and the user who closed it cannot finish the run by hand.
///
/// Each signal also rings the returned bell (after the flag is set): a
/// socket that is readable from then on, which a worker waiting on its
/// host's channel watches too ([`Shared::bell`]), so it stops at once
/// rather than looking at the flag every so often.
fn interrupt_flag() -> Result<(Arc<AtomicBool>, Arc<UnixStream>), Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    let fail = |e: std::io::Error| Error::Local(format!("cannot handle signals: {e}"));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            sig,
            crate::error::exit::INTERRUPTED,
            Arc::clone(&flag),
        )
        .map_err(fail)?;
    }
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&flag)).map_err(fail)?;
    }
    let (bell, ringer) = UnixStream::pair().map_err(fail)?;
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::low_level::pipe::register(sig, ringer.try_clone().map_err(fail)?)
            .map_err(fail)?;
    }
    Ok((flag, Arc::new(bell)))
}

fn run_started(
    lab: &Lab,
    bench: &Bench,
    plan: &Plan,
    dir: Option<PathBuf>,
    dry_run: bool,
    versions: &BTreeMap<String, String>,
    run_of: &RunOf,
) -> Event {
    Event::RunStarted {
        run_id: plan.run_id.clone(),
        lab: lab.name.clone(),
        lab_title: lab.title.clone(),
        lab_file: lab.source.path.clone(),
        hosts: plan
            .hosts
            .iter()
            .filter_map(|h| bench.host(h))
            .map(|h| RunHost {
                name: h.name.as_str().into(),
                cidr: h.cidr(),
                interface: h.interface.clone(),
                endpoint: h.endpoint(),
            })
            .collect(),
        steps: {
            let hosts: std::collections::HashMap<&str, &Vec<String>> = lab
                .steps
                .iter()
                .rev()
                .map(|s| (s.id.as_str(), &s.hosts))
                .collect();
            plan.steps
                .iter()
                .map(|s| StepInfo {
                    id: s.id.as_str().into(),
                    title: s.title.clone(),
                    needed: s.needed,
                    hosts: hosts
                        .get(s.id.as_str())
                        .map(|h| h.iter().map(HostName::from).collect())
                        .unwrap_or_default(),
                })
                .collect()
        },
        programs: event::RunPrograms {
            set: lab.programs.name.clone(),
            interpreter: lab.programs.interpreter.clone(),
            versions: versions
                .iter()
                .filter(|(h, _)| plan.hosts.contains(h))
                .map(|(h, v)| (h.clone(), v.clone()))
                .collect(),
        },
        dir,
        dry_run,
        at: now_unix(),
        run: run_of.clone(),
    }
}

/// `--dry-run`: the same plan, the same outputs (`--json` and the
/// terminal, through the same [`sink::Sinks`]); every op is skipped and
/// nothing is recorded.
fn dry_run(lab: &Lab, bench: &Bench, plan: &Plan, prefix: &str, json: Option<json::JsonOut>) {
    let mut term = reporter::Terminal::new(&plan.hosts, false, prefix);
    term.to_stderr = json.is_some();
    let mut sinks = sink::Sinks::new(None).with(json).with(Some(term));
    let mut out = |e: &Event| sinks.event(e);
    let run_of = RunOf {
        bench: bench.name.as_str().into(),
        room: None,
    };
    out(&run_started(
        lab,
        bench,
        plan,
        None,
        true,
        &BTreeMap::new(),
        &run_of,
    ));
    let t0 = Instant::now();
    for s in &plan.steps {
        out(&Event::StepStarted {
            run: run_of.clone(),
            step: s.id.as_str().into(),
            title: s.title.clone(),
            needed: s.needed,
            at: now_unix(),
        });
        for (action, a) in s.actions.iter().enumerate() {
            for (op, o) in a.ops.iter().enumerate() {
                out(&Event::Skipped {
                    op: Some(OpRef { action, op }),
                    run: run_of.clone(),
                    step: s.id.as_str().into(),
                    host: o.host.as_str().into(),
                    what: o.what(),
                    cmd: o.op.shown(),
                });
            }
        }
    }
    out(&Event::RunFinished {
        run: run_of.clone(),
        outcome: Outcome::Passed,
        steps_passed: 0,
        steps_failed: 0,
        steps_not_run: plan.steps.len(),
        checks_passed: 0,
        checks_failed: 0,
        secs: t0.elapsed().as_secs_f64(),
        dir: None,
        error: None,
        at: now_unix(),
    });
}

/// How the plan's walk ended.
struct Walk {
    passed: usize,
    failed: usize,
    /// The expectations checked, as the hosts' replies counted them.
    checks: Checks,
    outcome: Outcome,
    fatal: Option<Error>,
    failure: Option<String>,
}

/// What every bench's run shares.
struct Settings<'a> {
    opts: &'a ConnectOptions,
    stop: &'a Arc<AtomicBool>,
    /// Readable once a signal set `stop` ([`interrupt_flag`]).
    bell: &'a Arc<UnixStream>,
    /// Draw per-host spinners.
    live: bool,
    /// `--pause`: presenter mode (one bench).
    pause: bool,
    /// Per bench, the program set's interpreter version per host (empty: none needed).
    versions: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// `run --all`: the room the benches report to.
    room: Option<RoomLink>,
    /// `--take-over`.
    take_over: bool,
    /// The hosts file's `orphaned_after`.
    orphaned_after: std::time::Duration,
}

/// A bench's way to the room (`run --all`): the room's id, and the channel
/// on which each bench's reporter sends the events the room needs
/// ([`crate::room::wants`]) with the bench's index.
struct RoomLink {
    id: String,
    events: Sender<(usize, Event)>,
    /// Each bench also logs its own lines, prefixed (`-v`).
    logs: bool,
}

#[allow(clippy::too_many_arguments)]
fn execute(
    lab: &Lab,
    bench: &Bench,
    index: usize,
    plan: &Plan,
    dir: &std::path::Path,
    set: &Settings,
    prefix: &str,
    json: Option<json::JsonOut>,
) -> Result<(), Error> {
    let (opts, stop, live) = (set.opts, set.stop, set.live);
    let hosts: Vec<&Host> = plan.hosts.iter().filter_map(|h| bench.host(h)).collect();
    let mut run_dir = rundir::RunDir::new(dir)?;
    run_dir.write_json(rundir::PLAN, plan);
    run_dir.write_json(rundir::QUESTIONS, &lab::evidence::records(lab, bench));
    // A run directory that cannot be written (no space, read-only, quota): nothing runs.
    if let Some(e) = run_dir.error.take() {
        return Err(Error::Local(format!("{e}; nothing was run")));
    }
    // A local write that fails later stops the run (exit 4): see `Shared::local`.
    let local: Arc<Mutex<Option<String>>> = Arc::default();
    // Bounded: a program printing faster than the run directory is written
    // slows its worker (and the host's stream), never grows labctl's memory.
    let (ev_tx, ev_rx) = sync_channel::<Event>(EVENT_QUEUE);
    // --pause: the presenter sees a copy of every event.
    let (tap, mut presenter) = if set.pause {
        let (tx, rx) = channel::<Event>();
        let p = pause::Presenter::new(lab, plan, dir.to_path_buf(), rx)?;
        (Some(tx), Some(p))
    } else {
        (None, None)
    };
    let t0 = Instant::now();
    // Every event of the run names its bench, and its room under `--all`.
    let run_of = RunOf {
        bench: bench.name.as_str().into(),
        room: set.room.as_ref().map(|r| r.id.clone()),
    };
    let _ = ev_tx.send(run_started(
        lab,
        bench,
        plan,
        Some(dir.to_path_buf()),
        false,
        set.versions.get(&bench.name).unwrap_or(&BTreeMap::new()),
        &run_of,
    ));
    let mut jobs: BTreeMap<String, JobSender> = BTreeMap::new();
    let mut inboxes: Vec<Mutex<Option<worker::JobReceiver>>> = Vec::new();
    for h in &hosts {
        let (tx, rx) = worker::channel();
        jobs.insert(h.name.clone(), tx);
        inboxes.push(Mutex::new(Some(rx)));
    }

    std::thread::scope(|s| {
        let (ready_tx, ready_rx) = channel::<worker::Ready>();
        let shared = Shared {
            run_id: plan.run_id.clone(),
            run: run_of.clone(),
            dir: Some(dir.to_path_buf()),
            events: ev_tx.clone(),
            stop: Arc::clone(stop),
            bell: Arc::clone(set.bell),
            programs: Arc::new(lab.programs.clone()),
            started: Arc::new(
                plan.hosts
                    .iter()
                    .map(|h| (h.clone(), plan.started_on(h)))
                    .collect(),
            ),
            gate: Arc::new(crate::hold::Gate::new(hosts.len())),
            take_over: set.take_over,
            ports: Arc::new(run_ports(lab, bench, plan)),
            orphaned_after: set.orphaned_after,
            local: Arc::clone(&local),
            lost: Arc::default(),
        };
        let lost = Arc::clone(&shared.lost);
        let gate = Arc::clone(&shared.gate);
        let hosts_ref = &hosts;
        let inboxes = &inboxes;
        let workers = s.spawn(move || {
            ssh::for_each_host(hosts_ref, opts, |h, sess| {
                let i = hosts_ref
                    .iter()
                    .position(|x| std::ptr::eq(*x, h))
                    .expect("one of the hosts");
                let rx = inboxes[i]
                    .lock()
                    .ok()
                    .and_then(|mut r| r.take())
                    .expect("each inbox is taken once");
                worker::run(h, sess, shared.clone(), rx, ready_tx.clone());
            })
        });

        // Every host connected and prepared, or the reason each one is not.
        let mut not_ready: Vec<(String, Error)> = Vec::new();
        let mut refusal = true;
        for _ in 0..hosts.len() {
            match ready_rx.recv() {
                Ok(worker::Ready { result: Ok(()), .. }) => {}
                Ok(worker::Ready {
                    host,
                    result: Err(e),
                    refusal: r,
                }) => {
                    refusal &= r;
                    not_ready.push((host, e));
                }
                Err(_) => {
                    refusal = false;
                    not_ready.push((
                        String::new(),
                        Error::Host("a host worker ended early".into()),
                    ));
                    break;
                }
            }
        }
        // Refused before anything changed on any host (the bench held by
        // another labctl, or a host not fit for the lab): no run, so no run
        // directory, and one `run_refused` line for `--json`. (A host that
        // cannot be reached is a failed run, recorded.)
        if gate.refused() && refusal && !not_ready.is_empty() {
            let e = setup_error(&plan.hosts, not_ready).expect("a host was not ready");
            // Nothing of it is recorded (a worker's event then goes nowhere, at once).
            drop(ev_rx);
            finish_workers(&jobs);
            drop(jobs);
            let _ = workers.join();
            drop(ev_tx);
            drop(run_dir);
            let _ = std::fs::remove_dir_all(dir);
            if let Some(j) = &json {
                j.refused(&plan.run_id, &bench.name, &e);
            }
            return Err(e);
        }
        let host_names = plan.hosts.clone();
        let in_room = set.room.as_ref().map(|r| (r.events.clone(), r.logs));
        let room_pace = in_room.is_some();
        let failed_write = Arc::clone(&local);
        let reporter = s.spawn(move || {
            // Alone, a bench logs its lines; in a room, only with `-v`.
            let logs = in_room.as_ref().is_none_or(|(_, logs)| *logs);
            let report_dir = run_dir.dir().to_path_buf();
            let terminal = logs.then(|| {
                let mut t = reporter::Terminal::new(&host_names, live, prefix);
                t.to_stderr = json.is_some();
                t
            });
            let room = in_room.map(|(events, _)| sink::ToRoom { index, events });
            sink::Sinks::new(Some(&failed_write))
                .batched(room_pace.then_some(sink::ROOM_BATCH))
                .with(Some(run_dir))
                .with(json)
                .with(tap.map(sink::Tap))
                .with(room)
                .with(terminal)
                .with(Some(sink::Reports::new(report_dir, room_pace)))
                .drain(ev_rx)
        });
        for (host, e) in &not_ready {
            let _ = ev_tx.send(Event::Problem {
                step: None,
                run: run_of.clone(),
                host: (!host.is_empty()).then(|| host.as_str().into()),
                message: e.to_string(),
            });
        }

        let walk = match setup_error(&plan.hosts, not_ready) {
            Some(e) => Walk {
                passed: 0,
                failed: 0,
                checks: Checks::default(),
                outcome: Outcome::Failed,
                fatal: Some(e),
                failure: None,
            },
            None => walk(
                plan,
                &run_of,
                &jobs,
                &ev_tx,
                stop,
                &lost,
                &local,
                presenter.as_mut(),
            ),
        };

        // Stop everything on every host, whatever happened.
        let problems = finish_workers(&jobs);
        drop(jobs);
        let _ = workers.join();
        for p in &problems {
            let _ = ev_tx.send(Event::Problem {
                step: None,
                run: run_of.clone(),
                host: None,
                message: p.clone(),
            });
        }

        let failed_write = local.lock().ok().and_then(|l| l.clone());
        let interrupted = failed_write.is_none()
            && (stop.load(Ordering::SeqCst) || walk.outcome == Outcome::Interrupted);
        let mut outcome = if interrupted {
            Outcome::Interrupted
        } else {
            walk.outcome
        };
        let result = if interrupted {
            Err(Error::Interrupted)
        } else if let Some(e) = walk.fatal {
            Err(e)
        } else if let Some(why) = failed_write {
            // A write that failed as the run ended (a capture fetched then).
            outcome = Outcome::Failed;
            Err(Error::Local(format!("{why}: the run was stopped")))
        } else if outcome == Outcome::Passed && problems.is_empty() {
            Ok(())
        } else {
            outcome = Outcome::Failed;
            Err(Error::Failed(
                walk.failure
                    .or_else(|| problems.first().cloned())
                    .unwrap_or_else(|| "the run failed".to_string()),
            ))
        };
        let _ = ev_tx.send(Event::RunFinished {
            run: run_of.clone(),
            outcome,
            steps_passed: walk.passed,
            steps_failed: walk.failed,
            steps_not_run: plan.steps.len() - walk.passed - walk.failed,
            checks_passed: walk.checks.passed,
            checks_failed: walk.checks.failed,
            secs: t0.elapsed().as_secs_f64(),
            dir: Some(dir.to_path_buf()),
            error: result.as_ref().err().map(Error::to_string),
            at: now_unix(),
        });
        drop(ev_tx);
        let write_error = reporter.join().unwrap_or(None);
        match (write_error, result) {
            // The record could not be written whole: the run did not pass.
            (Some(e), Ok(()) | Err(Error::Failed(_))) => Err(Error::Local(e)),
            (Some(e), result) => {
                crate::util::err_line(&format!("labctl: {e}"));
                result
            }
            (None, result) => result,
        }
    })
}

/// Per host of the plan, the ports its steps' servers bind there, as the
/// agent's port check takes them: `tcp:50000 udp:50000`.
fn run_ports(lab: &Lab, bench: &Bench, plan: &Plan) -> BTreeMap<String, String> {
    let steps: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for p in lab::plan::server_ports_in(lab, bench, |id| steps.contains(&id)) {
        let v = out.entry(p.host).or_default();
        if !v.is_empty() {
            v.push(' ');
        }
        v.push_str(&format!("{}:{}", p.proto, p.port));
    }
    out
}

/// Every worker stops what the run started on its host and ends; returns
/// once all did, with what is wrong with the captures collected then.
fn finish_workers(jobs: &BTreeMap<String, JobSender>) -> Vec<String> {
    let mut waits = Vec::new();
    for tx in jobs.values() {
        let (rtx, rrx) = channel();
        if tx.send(Job::Finish { reply: rtx }).is_ok() {
            waits.push(rrx);
        }
    }
    waits
        .into_iter()
        .flat_map(|w| w.recv().unwrap_or_default())
        .collect()
}

/// The run cannot start: one error naming every host that is not ready, a
/// line each, in the bench's order (`None` when all are).
fn setup_error(order: &[String], mut not_ready: Vec<(String, Error)>) -> Option<Error> {
    not_ready.sort_by_key(|(h, _)| order.iter().position(|o| o == h).unwrap_or(usize::MAX));
    // Another labctl holding the bench says it all (exit 5): the hosts it holds, a line each.
    let busy: Vec<String> = not_ready
        .iter()
        .filter(|(_, e)| matches!(e, Error::Busy(_)))
        .map(|(_, e)| e.to_string())
        .collect();
    if !busy.is_empty() {
        return Some(crate::hold::refusal(&busy));
    }
    if not_ready.len() <= 1 {
        return not_ready.pop().map(|(_, e)| e);
    }
    let lines: Vec<String> = not_ready.iter().map(|(_, e)| e.to_string()).collect();
    Some(match not_ready[0].1 {
        Error::Local(_) => Error::Local(lines.join("\n")),
        _ => Error::Host(lines.join("\n")),
    })
}

/// Walks the steps in order; stops at the first failed step.
#[allow(clippy::too_many_arguments)] // the executor's whole world, passed once
fn walk(
    plan: &Plan,
    run_of: &RunOf,
    jobs: &BTreeMap<String, JobSender>,
    ev: &SyncSender<Event>,
    stop: &AtomicBool,
    lost: &Mutex<Option<(String, Error)>>,
    local: &Mutex<Option<String>>,
    mut pause: Option<&mut pause::Presenter>,
) -> Walk {
    let mut w = Walk {
        passed: 0,
        failed: 0,
        checks: Checks::default(),
        outcome: Outcome::Passed,
        fatal: None,
        failure: None,
    };
    for (k, step) in plan.steps.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            w.outcome = Outcome::Interrupted;
            break;
        }
        if let Some(p) = pause.as_deref_mut() {
            match p.before(plan, k, stop) {
                pause::Choice::Run => {}
                pause::Choice::Skip => continue,
                pause::Choice::Quit => {
                    w.outcome = Outcome::Interrupted;
                    break;
                }
            }
        }
        let t0 = Instant::now();
        let _ = ev.send(Event::StepStarted {
            run: run_of.clone(),
            step: step.id.as_str().into(),
            title: step.title.clone(),
            needed: step.needed,
            at: now_unix(),
        });
        let mut outcome = Outcome::Passed;
        for (a, action) in step.actions.iter().enumerate() {
            // Each host's ops of this action, in order; the hosts at once.
            let mut by_host: Vec<(String, Vec<(OpRef, lab::plan::PlanOp)>)> = Vec::new();
            for (op, o) in action.ops.iter().enumerate() {
                let o = (OpRef { action: a, op }, o.clone());
                match by_host.iter_mut().find(|(h, _)| *h == o.1.host) {
                    Some((_, v)) => v.push(o),
                    None => by_host.push((o.1.host.clone(), vec![o])),
                }
            }
            let mut replies = Vec::new();
            for (h, ops) in by_host {
                let (rtx, rrx) = channel();
                let sent = jobs.get(&h).is_some_and(|tx| {
                    tx.send(Job::Ops {
                        step: step.id.as_str().into(),
                        ops,
                        reply: rtx,
                    })
                    .is_ok()
                });
                if sent {
                    replies.push((h, rrx));
                } else {
                    w.fatal.get_or_insert(Error::Host(format!(
                        "step `{}`: host `{h}`: its worker ended",
                        step.id
                    )));
                    outcome = Outcome::Failed;
                }
            }
            for (h, r) in replies {
                let reply = r.recv().map(|(result, checks)| {
                    w.checks += checks;
                    result
                });
                match reply {
                    Ok(OpsResult::Ok) => {}
                    Ok(OpsResult::Failed(m)) => {
                        outcome = Outcome::Failed;
                        w.failure.get_or_insert(m);
                    }
                    Ok(OpsResult::Interrupted) => {
                        if outcome == Outcome::Passed {
                            outcome = Outcome::Interrupted;
                        }
                    }
                    Ok(OpsResult::Fatal(e)) => {
                        outcome = Outcome::Failed;
                        // The last line of the run says where it stopped: step and host.
                        let e = in_step(&step.id, e);
                        let _ = ev.send(Event::Problem {
                            step: Some(step.id.as_str().into()),
                            run: run_of.clone(),
                            host: Some(h.as_str().into()),
                            message: e.to_string(),
                        });
                        w.fatal.get_or_insert(e);
                    }
                    Err(_) => {
                        outcome = Outcome::Failed;
                        w.fatal.get_or_insert(Error::Host(format!(
                            "step `{}`: host `{h}`: its worker ended",
                            step.id
                        )));
                    }
                }
            }
            // A host lost while idle in this step fails it, named with the step.
            let idle_lost = lost.lock().ok().and_then(|mut l| l.take());
            if let Some((h, e)) = idle_lost.filter(|_| w.fatal.is_none()) {
                outcome = Outcome::Failed;
                let e = in_step(&step.id, e);
                let _ = ev.send(Event::Problem {
                    step: Some(step.id.as_str().into()),
                    run: run_of.clone(),
                    host: Some(h.as_str().into()),
                    message: e.to_string(),
                });
                w.fatal = Some(e);
            }
            // A local write failed: the run stops, named with the step (exit 4).
            let failed_write = local.lock().ok().and_then(|l| l.clone());
            if let Some(why) = failed_write.filter(|_| w.fatal.is_none()) {
                outcome = Outcome::Failed;
                let e = Error::Local(format!("step `{}`: {why}: the run was stopped", step.id));
                let _ = ev.send(Event::Problem {
                    step: Some(step.id.as_str().into()),
                    run: run_of.clone(),
                    host: None,
                    message: e.to_string(),
                });
                w.fatal = Some(e);
            }
            if outcome != Outcome::Passed || stop.load(Ordering::SeqCst) {
                if outcome == Outcome::Passed {
                    outcome = Outcome::Interrupted;
                }
                break;
            }
        }
        let _ = ev.send(Event::StepFinished {
            run: run_of.clone(),
            step: step.id.as_str().into(),
            outcome,
            secs: t0.elapsed().as_secs_f64(),
        });
        if let Some(p) = pause.as_deref_mut() {
            p.after(&step.id);
        }
        match outcome {
            Outcome::Passed => w.passed += 1,
            Outcome::Failed => {
                w.failed += 1;
                w.outcome = Outcome::Failed;
                break;
            }
            Outcome::Interrupted => {
                w.outcome = Outcome::Interrupted;
                break;
            }
        }
    }
    w
}

/// `e`, which ended the run in `step`, saying so (a host error names its host already).
fn in_step(step: &str, e: Error) -> Error {
    match e {
        Error::Host(m) => Error::Host(format!("step `{step}`: {m}")),
        Error::Local(m) => Error::Local(format!("step `{step}`: {m}")),
        other => other,
    }
}

/// Events waiting for the reporter thread, at most.
const EVENT_QUEUE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_error_names_every_host_not_ready_in_the_benchs_order() {
        let order = ["A".to_string(), "B".into(), "C".into()];
        assert!(setup_error(&order, Vec::new()).is_none());
        let one = setup_error(
            &order,
            vec![("B".into(), Error::Host("host `B`: x".into()))],
        );
        assert!(matches!(one, Some(Error::Host(m)) if m == "host `B`: x"));
        // C answered first; A comes first all the same, a line each.
        let two = setup_error(
            &order,
            vec![
                (
                    "C".into(),
                    Error::Host("host `C` (127.0.0.1:4003): unknown host key".into()),
                ),
                (
                    "A".into(),
                    Error::Host("host `A` (127.0.0.1:4001): unknown host key".into()),
                ),
            ],
        )
        .unwrap();
        assert_eq!(two.exit_code(), crate::error::exit::HOST);
        assert_eq!(
            two.to_string(),
            "host `A` (127.0.0.1:4001): unknown host key\nhost `C` (127.0.0.1:4003): unknown host key"
        );
    }
}
