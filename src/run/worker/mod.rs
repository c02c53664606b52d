//! One host's worker: owns that host's SSH session (on its own thread, as
//! libssh2 requires), runs the ops the executor sends, and reports events.
//! At the start it starts the run's agent, takes the bench's hold on the
//! host through it (every host of the bench is held before any changes:
//! [`crate::hold::Gate`]), stops what an earlier labctl left, and keeps the
//! agent (one long-lived channel: every `lc_*` call goes through it, a few
//! milliseconds each instead of a new SSH channel's ~100 ms; it relays the
//! programs' output as it comes; and it is the watchdog that stops the run's
//! programs if the connection drops). At the end — normal, failed or
//! interrupted — it stops every program of the run, verifies they are gone,
//! waits for their last lines and collects the captures.
//!
//! The parts: `agent` (the channel: requests, replies and the pushed stream
//! of output frames), `programs` (start, send, stop, fetch a capture),
//! `expect` (expectations matched as lines arrive, foreground programs),
//! `finish` (the end of the run on this host). This file: the job loop, the
//! dispatch of ops and the events every op reports.

mod agent;
mod expect;
mod finish;
mod programs;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SendError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::event::{Event, HostName, OpRef, RunOf};
use crate::config::hosts::Host;
use crate::error::Error;
use crate::hostops::LabLink;
use crate::lab::plan::{call, Op, PlanOp};
use crate::remote::Reply;
use crate::ssh::{whole_reason, Session, Slowness, SshError};

use agent::{Agent, Prog};
use programs::Launch;

/// Longest wait of an idle worker (it wakes as soon as the host's channel
/// has data or a job comes; this bounds the keepalive's pace).
const IDLE_WAIT: Duration = Duration::from_millis(1000);
/// How long an ended program's last lines may take to arrive when no
/// end-of-output frame comes (a child of it holds its output open).
const SETTLE: Duration = Duration::from_millis(150);
/// Bound on the lab's short commands (start, send, stop).
const SHORT: Duration = Duration::from_secs(20);

/// The executor's handle on a worker: its jobs, and a wake-up for the
/// worker's wait on the host's channel (so an idle worker takes the host's
/// lines the moment they come, and a job the moment it is sent).
#[derive(Clone)]
pub(crate) struct JobSender {
    tx: Sender<Job>,
    wake: Arc<UnixStream>,
}

impl JobSender {
    pub(crate) fn send(&self, job: Job) -> Result<(), SendError<Job>> {
        let r = self.tx.send(job);
        let _ = (&*self.wake).write(&[1]);
        r
    }
}

/// The worker's end of [`JobSender`].
pub(crate) struct JobReceiver {
    rx: Receiver<Job>,
    wake: UnixStream,
}

/// A worker's job queue.
pub(crate) fn channel() -> (JobSender, JobReceiver) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (a, b) = UnixStream::pair().expect("a socket pair for a worker's wake-up");
    let _ = a.set_nonblocking(true);
    let _ = b.set_nonblocking(true);
    (
        JobSender {
            tx,
            wake: Arc::new(a),
        },
        JobReceiver { rx, wake: b },
    )
}

/// Work for a host.
pub(crate) enum Job {
    /// Run these ops in order; stop at the first that fails. Each op comes
    /// with where it is in the plan (its events name it).
    Ops {
        step: String,
        ops: Vec<(OpRef, PlanOp)>,
        reply: Sender<(OpsResult, Checks)>,
    },
    /// Stop everything of the run and collect what is left; then the worker
    /// ends. The reply: what is wrong with the captures collected then.
    Finish { reply: Sender<Vec<String>> },
}

/// How a job ended.
#[derive(Debug)]
pub(crate) enum OpsResult {
    Ok,
    /// An action or expectation failed; the message names step, host, program.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
    /// The host or this machine cannot go on (connection lost, no local build).
    Fatal(Error),
}

/// The expectations a job checked: how many passed, how many failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checks {
    pub passed: usize,
    pub failed: usize,
}

impl std::ops::AddAssign for Checks {
    fn add_assign(&mut self, other: Checks) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// What every worker shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub run_id: String,
    /// The bench and room every event of the run names.
    pub run: RunOf,
    /// The run directory; `None` never happens in a real run (dry runs have no workers).
    pub dir: Option<PathBuf>,
    pub events: std::sync::mpsc::SyncSender<Event>,
    pub stop: Arc<AtomicBool>,
    /// Readable once a signal set `stop`: a worker waiting on its host's
    /// channel watches it too, and so ends its wait at once on Ctrl-C.
    pub bell: Arc<UnixStream>,
    /// What `deploy` puts on the host.
    pub programs: Arc<crate::programs::ProgramSet>,
    /// The programs the plan starts on each host (their stdin FIFOs are
    /// made when the host is prepared).
    pub started: Arc<BTreeMap<String, Vec<String>>>,
    /// Where the bench's workers meet once each tried its hold.
    pub gate: Arc<crate::hold::Gate>,
    /// `--take-over`: a stale holder is taken over.
    pub take_over: bool,
    /// Per host, the ports the run's servers bind there (`tcp:N udp:N …`):
    /// the run is refused when a program labctl did not start holds one.
    pub ports: Arc<BTreeMap<String, String>>,
    /// How long a host hears nothing from labctl before it ends the run itself.
    pub orphaned_after: Duration,
    /// A local write that failed (no space, read-only, quota), in words: the
    /// run stops as on Ctrl-C and ends with exit code 4.
    pub local: Arc<Mutex<Option<String>>>,
    /// A host of this bench given up while idle (silent, or its connection
    /// lost), with why: the bench's other workers end what they do, and the
    /// walk fails the step with it.
    pub lost: Arc<Mutex<Option<(String, Error)>>>,
}

struct Worker<'s> {
    host: &'s Host,
    sess: &'s Session,
    sh: Shared,
    progs: BTreeMap<String, Prog>,
    agent: Option<Agent<'s>>,
    /// The expectations of the job under way, for its reply.
    checks: Cell<Checks>,
    /// The op under way: its events name it.
    current_op: Cell<Option<OpRef>>,
    /// When to say the host is slow (`no answer for N s`).
    slowness: Slowness,
    /// The host was given up as silent: every later call fails with this at once.
    lost: Option<SshError>,
    /// What `sudo -n` refused when the agent started (`CMD PATH REASON` each).
    sudo_refused: Vec<String>,
    /// The host's clock against labctl's, a sample per answered tick.
    /// What the agent found on the run's ports as it took the hold (`lab_ports`' lines).
    ports_seen: String,
    /// Why a program's record could not be written on the host, the first
    /// time it happened (its disk full): the likely cause of a cut capture.
    unkept: Option<String>,
    clock: crate::record::HostClock,
}

/// A worker's word once its host is prepared, or why it is not.
pub(crate) struct Ready {
    pub host: String,
    pub result: Result<(), Error>,
    /// Not ready because of the bench's state, found before any host
    /// changed (held by another labctl, or not fit for the lab): the run is
    /// refused and leaves no run directory.
    pub refusal: bool,
}

/// The worker's thread body: `sess` is this host's connection attempt.
/// `ready` gets the host's name with `Ok` once the host is prepared, or
/// with the reason it is not ([`Ready`]).
pub(crate) fn run(
    host: &Host,
    sess: Result<Session, SshError>,
    sh: Shared,
    jobs: JobReceiver,
    ready: Sender<Ready>,
) {
    let ready_as = |r: Result<(), Error>| {
        let _ = ready.send(Ready {
            host: host.name.clone(),
            result: r,
            refusal: false,
        });
    };
    // Not ready because of the bench's state, found before any host changed:
    // another labctl holds it, or the host is not fit for the lab.
    let refuse = |e: Error| {
        let _ = ready.send(Ready {
            host: host.name.clone(),
            result: Err(e),
            refusal: true,
        });
    };
    let sess = match sess {
        Ok(s) => s,
        Err(e) => {
            sh.gate.pass(false);
            ready_as(Err(e.into()));
            return;
        }
    };
    let _ = sh.events.send(Event::Connected {
        run: sh.run.clone(),
        host: host.name.as_str().into(),
        ms: sess.connected_in.as_millis() as u64,
    });
    let mut w = Worker {
        host,
        sess: &sess,
        sh,
        progs: BTreeMap::new(),
        agent: None,
        checks: Cell::default(),
        current_op: Cell::default(),
        slowness: Slowness::default(),
        lost: None,
        sudo_refused: Vec::new(),
        ports_seen: String::new(),
        unkept: None,
        clock: crate::record::HostClock::default(),
    };
    // Every host of the bench is held, and fit for the lab, before anything on any of them changes.
    let held = w.hold();
    let fit = held.as_ref().map(|()| w.fit());
    let all_held = w.sh.gate.pass(matches!(fit, Ok(Ok(()))));
    if let Err(e) = held {
        // The agent ended without touching the host (the run id may be the holder's own).
        if matches!(e, Error::Busy(_)) {
            refuse(e);
        } else {
            ready_as(Err(e));
        }
        return;
    }
    if let Ok(Err((e, refusal))) = fit {
        // Held, but not fit: the agent ends the hold and leaves nothing of the run.
        let _ = w.finish();
        if refusal {
            refuse(e);
        } else {
            ready_as(Err(e));
        }
        return;
    }
    if all_held {
        if let Err(e) = w.setup() {
            ready_as(Err(e));
            return;
        }
    }
    ready_as(Ok(()));
    loop {
        // Wake-ups first, then the queue: a job sent after this look wakes the wait below.
        while matches!((&jobs.wake).read(&mut [0u8; 64]), Ok(n) if n > 0) {}
        match jobs.rx.try_recv() {
            Ok(Job::Ops { step, ops, reply }) => {
                let r = w.ops(&step, ops);
                let _ = reply.send((r, w.checks.take()));
            }
            Ok(Job::Finish { reply }) => {
                let problems = w.finish();
                let _ = reply.send(problems);
                return;
            }
            Err(TryRecvError::Empty) => {
                // Idle in this step, the host is still watched: silent or
                // gone, it stops the bench's run now, not at its next action.
                if let Err(e) = w.pump_or(jobs.wake.as_raw_fd(), IDLE_WAIT) {
                    if let Ok(mut lost) = w.sh.lost.lock() {
                        lost.get_or_insert((host.name.clone(), e.into()));
                    }
                }
            }
            Err(TryRecvError::Disconnected) => {
                let _ = w.finish();
                return;
            }
        }
    }
}

impl<'s> Worker<'s> {
    fn emit(&self, e: Event) {
        let _ = self.sh.events.send(e);
    }

    fn count(&self, f: impl FnOnce(&mut Checks)) {
        let mut c = self.checks.get();
        f(&mut c);
        self.checks.set(c);
    }

    fn name(&self) -> HostName {
        self.host.name.as_str().into()
    }

    /// Ctrl-C, a host of this bench lost, or a local write failed: the ops under way end.
    fn stopping(&self) -> bool {
        self.sh.stop.load(Ordering::SeqCst)
            || self.sh.lost.lock().map_or(true, |l| l.is_some())
            || self.sh.local.lock().map_or(true, |l| l.is_some())
    }

    /// A local write failed (`why` names the file and the error): the run stops.
    fn local_failure(&self, why: &str) {
        self.emit(Event::Problem {
            step: None,
            run: self.sh.run.clone(),
            host: None,
            message: why.to_string(),
        });
        if let Ok(mut l) = self.sh.local.lock() {
            l.get_or_insert_with(|| why.to_string());
        }
    }

    fn ops(&mut self, step: &str, ops: Vec<(OpRef, PlanOp)>) -> OpsResult {
        for (at, op) in ops {
            if self.stopping() {
                return OpsResult::Interrupted;
            }
            self.current_op.set(Some(at));
            let what = op.what();
            self.emit(Event::OpStarted {
                op: self.current_op.get(),
                run: self.sh.run.clone(),
                step: step.into(),
                host: self.name(),
                what: what.clone(),
            });
            let r = self.op(step, &op, &what);
            self.current_op.set(None);
            if !matches!(r, OpsResult::Ok) {
                return r;
            }
        }
        OpsResult::Ok
    }

    /// Runs `op`, `what` its words for people ([`PlanOp::what`]).
    fn op(&mut self, step: &str, op: &PlanOp, what: &str) -> OpsResult {
        let t0 = Instant::now();
        let r = match &op.op {
            Op::Configure(link) => self.exec_action(step, what, link, t0),
            Op::Ping {
                addr, interface, ..
            } => self.ping(step, what, interface, *addr, t0),
            Op::Deploy { .. } => Ok(self.deploy(step, what, t0)),
            Op::Capture {
                name,
                step: id,
                interface,
                filter,
                sudo,
            } => self.start(
                step,
                what,
                Launch {
                    name,
                    program: "tcpdump",
                    capture: true,
                    call: call::capture(name, id, interface, filter, *sudo),
                },
                t0,
            ),
            Op::Start {
                name,
                step: id,
                program,
                command,
                args,
            } => self.start(
                step,
                what,
                Launch {
                    name,
                    program,
                    capture: false,
                    call: call::start(name, id, command, args),
                },
                t0,
            ),
            Op::Send { name, lines, pace } => self.send(step, what, name, lines, *pace, t0),
            Op::Expect {
                name,
                stream,
                check,
            } => self.expect(step, what, name, *stream, check, t0),
            Op::Run(run) => self.run_fg(step, what, run, t0),
            Op::Stop { names, captures } => self.stop(step, what, names, captures, t0),
        };
        match r {
            Ok(r) => r,
            Err(e) => OpsResult::Fatal(e.into()),
        }
    }

    fn done(&self, step: &str, what: &str, ok: bool, detail: String, t0: Instant) -> OpsResult {
        self.emit(Event::ActionDone {
            op: self.current_op.get(),
            run: self.sh.run.clone(),
            step: step.into(),
            host: self.name(),
            what: what.to_string(),
            ok,
            detail: detail.clone(),
            secs: t0.elapsed().as_secs_f64(),
        });
        if ok {
            OpsResult::Ok
        } else {
            OpsResult::Failed(format!(
                "step `{step}` on host `{}`: {what}: {detail}",
                self.host.label()
            ))
        }
    }

    fn passed(
        &self,
        step: &str,
        what: &str,
        program: Option<&str>,
        seen: String,
        t0: Instant,
    ) -> OpsResult {
        self.count(|c| c.passed += 1);
        self.emit(Event::ExpectationPassed {
            op: self.current_op.get(),
            run: self.sh.run.clone(),
            step: step.into(),
            host: self.name(),
            program: program.map(str::to_string),
            what: what.to_string(),
            seen,
            secs: t0.elapsed().as_secs_f64(),
        });
        OpsResult::Ok
    }

    /// `detail` says what was expected and what was seen.
    fn failed(
        &self,
        step: &str,
        what: &str,
        program: Option<&str>,
        detail: String,
        seen: String,
        t0: Instant,
    ) -> OpsResult {
        let who = match program {
            Some(p) => format!("program `{p}`"),
            None => what.to_string(),
        };
        let message = format!(
            "step `{step}` on host `{}`: {who}: {detail}",
            self.host.label()
        );
        self.count(|c| c.failed += 1);
        self.emit(Event::ExpectationFailed {
            op: self.current_op.get(),
            run: self.sh.run.clone(),
            step: step.into(),
            host: self.name(),
            program: program.map(str::to_string),
            what: what.to_string(),
            seen,
            detail,
            message: message.clone(),
            secs: t0.elapsed().as_secs_f64(),
        });
        OpsResult::Failed(message)
    }

    fn exec_action(
        &mut self,
        step: &str,
        what: &str,
        link: &LabLink,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let c = call::configure(link);
        let out = self.exec_call(&c.text, c.reply, SHORT)?;
        Ok(if out.success() {
            self.done(step, what, true, "done".into(), t0)
        } else {
            // `configure` runs `ip`, or `nmcli` where NetworkManager manages the interface.
            let why = whole_reason(&out.stderr_str());
            let tool = if out.stdout_str().contains("via nm") {
                "nmcli"
            } else {
                "ip"
            };
            let why = crate::hostops::why::with_cause(tool, self.host, &why);
            self.done(step, what, false, format!("{}: {why}", out.describe()), t0)
        })
    }

    fn ping(
        &mut self,
        step: &str,
        what: &str,
        interface: &str,
        addr: Ipv4Addr,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let c = call::ping(interface, addr);
        let out = self.exec_call(&c.text, c.reply, SHORT)?;
        let summary = out
            .stdout_str()
            .lines()
            .find(|l| l.contains("transmitted"))
            .unwrap_or("")
            .trim()
            .to_string();
        Ok(if out.success() {
            self.passed(step, what, None, summary, t0)
        } else {
            let seen = if summary.is_empty() {
                whole_reason(&out.stderr_str())
            } else {
                summary
            };
            // Ping's own words may name another cause than a missing reply.
            let detail = match crate::hostops::why::explain("ping", self.host, &out.stderr_str()) {
                Some(c) => format!("{}; saw: {seen:?}; fix: {}", c.what, c.hint),
                None => format!("no reply; saw: {seen:?}"),
            };
            self.failed(step, what, None, detail, seen.clone(), t0)
        })
    }

    fn deploy(&mut self, step: &str, what: &str, t0: Instant) -> OpsResult {
        let (sess, host, programs) = (self.sess, self.host, Arc::clone(&self.sh.programs));
        // Its reply is a few lines of text (architecture, stat lines, manifest, hashes).
        let ask = |cmd: &str| self.exec_call(cmd, Reply::Lines, SHORT);
        match crate::deploy::deploy_set_asking(sess, host, &programs, ask) {
            Ok(r) => {
                let detail = if r.uploaded.is_empty() {
                    format!("{} programs already up to date", r.unchanged.len())
                } else {
                    format!(
                        "uploaded {} ({}), {} unchanged",
                        r.uploaded.len(),
                        r.uploaded.join(", "),
                        r.unchanged.len()
                    )
                };
                self.done(step, what, true, detail, t0)
            }
            Err(e @ Error::Local(_)) => {
                self.emit(Event::ActionDone {
                    op: self.current_op.get(),
                    run: self.sh.run.clone(),
                    step: step.into(),
                    host: self.name(),
                    what: what.to_string(),
                    ok: false,
                    detail: e.to_string(),
                    secs: t0.elapsed().as_secs_f64(),
                });
                OpsResult::Fatal(e)
            }
            Err(e) => self.done(step, what, false, e.to_string(), t0),
        }
    }
}
