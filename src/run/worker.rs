//! One host's worker: owns that host's SSH session (on its own thread, as
//! libssh2 requires), runs the ops the executor sends, watches program
//! output for expectations, and reports events. At the start it stops what
//! an earlier labctl left and starts the run's agent (one long-lived
//! channel: every `lc_*` call goes through it, a few milliseconds each
//! instead of a new SSH channel's ~100 ms; and it is the watchdog that stops
//! the run's programs if the connection drops). At the end — normal, failed
//! or interrupted — it stops every program of the run, verifies they are
//! gone, collects their last output and the captures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

use super::event::{now_unix, Event};
use crate::config::hosts::Host;
use crate::error::Error;
use crate::lab::model::Stream;
use crate::lab::plan::{secs, stream_name, Op, PlanCheck, PlanOp};
use crate::remote::{self, PollFile, ProgState};
use crate::ssh::{first_line, Output, Session, SshError, SshErrorKind, StreamChannel};

/// How often output is read while an expectation waits.
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// How often output is read while the host is idle, so the run directory stays current.
pub const IDLE_POLL_EVERY: Duration = Duration::from_millis(500);
/// How long the last lines of an ended program may take to arrive.
const SETTLE: Duration = Duration::from_millis(150);
/// Bound on the lab's short commands (start, send, stop, poll).
const SHORT: Duration = Duration::from_secs(20);

/// Work for a host.
pub enum Job {
    /// Run these ops in order; stop at the first that fails.
    Ops {
        step: String,
        ops: Vec<PlanOp>,
        reply: Sender<OpsResult>,
    },
    /// Stop everything of the run and collect what is left; then the worker ends.
    Finish { reply: Sender<()> },
}

/// How a job ended.
#[derive(Debug)]
pub enum OpsResult {
    Ok,
    /// An action or expectation failed; the message names step, host, program.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
    /// The host or this machine cannot go on (connection lost, no local build).
    Fatal(Error),
}

/// What every worker shares.
#[derive(Clone)]
pub struct Shared {
    pub run_id: String,
    /// The run directory; `None` never happens in a real run (dry runs have no workers).
    pub dir: Option<PathBuf>,
    pub events: Sender<Event>,
    pub stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Lines {
    /// Bytes of the remote file consumed (whole lines only).
    offset: u64,
    lines: Vec<(f64, String)>,
    /// Expectations look from here on.
    cursor: usize,
}

struct Prog {
    step: String,
    capture: bool,
    out: Lines,
    err: Lines,
    state: ProgState,
    /// The pcap was fetched.
    fetched: bool,
    /// Polls that saw it ended (its last lines are in after two).
    polls_ended: u8,
}

struct Worker<'s> {
    host: &'s Host,
    sess: &'s Session,
    sh: Shared,
    progs: BTreeMap<String, Prog>,
    agent: Option<Agent<'s>>,
}

/// The run's agent on the host (see [`remote::agent_cmd`]).
struct Agent<'s> {
    ch: StreamChannel<'s>,
    buf: Vec<u8>,
    /// A request timed out: replies can no longer be matched to requests.
    broken: bool,
}

/// The worker's thread body: `sess` is this host's connection attempt.
/// `ready` gets the host's name with `Ok` once the host is prepared, or
/// with the reason it is not.
pub fn run(
    host: &Host,
    sess: Result<Session, SshError>,
    sh: Shared,
    jobs: Receiver<Job>,
    ready: Sender<(String, Result<(), Error>)>,
) {
    let ready_as = |r: Result<(), Error>| {
        let _ = ready.send((host.name.clone(), r));
    };
    let sess = match sess {
        Ok(s) => s,
        Err(e) => {
            ready_as(Err(e.into()));
            return;
        }
    };
    let _ = sh.events.send(Event::Connected {
        host: host.name.clone(),
        ms: sess.connected_in.as_millis() as u64,
    });
    let mut w = Worker {
        host,
        sess: &sess,
        sh,
        progs: BTreeMap::new(),
        agent: None,
    };
    if let Err(e) = w.setup() {
        ready_as(Err(e));
        return;
    }
    ready_as(Ok(()));
    loop {
        match jobs.recv_timeout(IDLE_POLL_EVERY) {
            Ok(Job::Ops { step, ops, reply }) => {
                let r = w.ops(&step, ops);
                let _ = reply.send(r);
            }
            Ok(Job::Finish { reply }) => {
                w.finish();
                let _ = reply.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = w.poll_all();
            }
            Err(RecvTimeoutError::Disconnected) => {
                w.finish();
                return;
            }
        }
    }
}

impl<'s> Worker<'s> {
    fn emit(&self, e: Event) {
        let _ = self.sh.events.send(e);
    }

    fn name(&self) -> String {
        self.host.name.clone()
    }

    fn exec(&self, cmd: &str, timeout: Duration) -> Result<Output, SshError> {
        self.sess.exec(cmd, None, timeout)
    }

    fn ssh_error(&self, kind: SshErrorKind, message: String) -> SshError {
        SshError {
            host: self.host.label(),
            endpoint: self.host.endpoint(),
            kind,
            message,
        }
    }

    /// Runs an `lc_*` call through the agent.
    fn exec_call(&mut self, call: &str, timeout: Duration) -> Result<Output, SshError> {
        self.agent_exec(call, timeout, false)
    }

    /// Like [`Self::exec_call`], for the long calls (paced sends, foreground
    /// programs): Ctrl-C of labctl ends them on the host at once.
    fn exec_call_interruptible(
        &mut self,
        call: &str,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.agent_exec(call, timeout, true)
    }

    fn agent_exec(
        &mut self,
        call: &str,
        timeout: Duration,
        interruptible: bool,
    ) -> Result<Output, SshError> {
        let Some(mut agent) = self.agent.take() else {
            return Err(self.ssh_error(
                SshErrorKind::Session,
                "the run's agent is not running".into(),
            ));
        };
        let r = self.agent_call(&mut agent, call, timeout, interruptible);
        self.agent = Some(agent);
        r
    }

    fn agent_call(
        &self,
        a: &mut Agent<'s>,
        call: &str,
        timeout: Duration,
        interruptible: bool,
    ) -> Result<Output, SshError> {
        if a.broken {
            return Err(self.ssh_error(
                SshErrorKind::Session,
                "the run's agent stopped answering".into(),
            ));
        }
        let deadline = Instant::now() + timeout;
        crate::style::trace_command(&self.host.label(), call);
        a.ch.write(&remote::agent_request(call))?;
        let mut interrupted = false;
        loop {
            if interruptible && !interrupted && self.sh.stop.load(Ordering::SeqCst) {
                // The request ends on the host; its reply follows as usual.
                interrupted = true;
                let stop = remote::script(self.host, &self.sh.run_id, "lc_interrupt");
                let _ = self.exec(&stop, SHORT);
            }
            if let Some((stdout, stderr, rc, used)) = remote::parse_agent_reply(&a.buf) {
                a.buf.drain(..used);
                return Ok(Output {
                    status: Some(rc),
                    signal: None,
                    stdout,
                    stderr,
                });
            }
            let r = a.ch.read_available()?;
            a.buf.extend_from_slice(&r.stdout);
            if r.stdout.is_empty() {
                if r.eof {
                    a.broken = true;
                    return Err(
                        self.ssh_error(SshErrorKind::Session, "the run's agent ended".into())
                    );
                }
                let now = Instant::now();
                if now >= deadline {
                    a.broken = true;
                    return Err(self.ssh_error(
                        SshErrorKind::Timeout,
                        format!(
                            "`{}` did not finish within {}",
                            first_line(call),
                            secs(timeout)
                        ),
                    ));
                }
                a.ch.wait((deadline - now).min(Duration::from_millis(100)));
            }
        }
    }

    /// Stops what an earlier labctl left, prepares the run directory, starts the agent.
    fn setup(&mut self) -> Result<(), Error> {
        // The agent creates the run directory; then what an earlier labctl left goes first.
        self.agent = Some(Agent {
            ch: self
                .sess
                .spawn_stream(&remote::agent_cmd(self.host, &self.sh.run_id))?,
            buf: Vec::new(),
            broken: false,
        });
        let out = self.exec_call("lc_stop_all", SHORT)?;
        let left = remote::parse_stop_output(&out.stdout_str());
        if !left.is_empty() {
            self.emit(Event::Cleaned {
                host: self.name(),
                programs: left
                    .iter()
                    .map(|s| format!("`{}` (step {}, run {})", s.name, s.step, s.run))
                    .collect(),
            });
        }
        if let Some(s) = left.iter().find(|s| s.alive) {
            return Err(Error::Host(format!(
                "host `{}`: program `{}` left by run `{}` survived SIGKILL (group {})",
                self.host.label(),
                s.name,
                s.run,
                s.pgid
            )));
        }
        Ok(())
    }

    fn ops(&mut self, step: &str, ops: Vec<PlanOp>) -> OpsResult {
        for op in ops {
            if self.sh.stop.load(Ordering::SeqCst) {
                return OpsResult::Interrupted;
            }
            self.emit(Event::OpStarted {
                step: step.to_string(),
                host: self.name(),
                what: op.what.clone(),
            });
            let r = self.op(step, &op);
            if !matches!(r, OpsResult::Ok) {
                return r;
            }
        }
        OpsResult::Ok
    }

    fn op(&mut self, step: &str, op: &PlanOp) -> OpsResult {
        let t0 = Instant::now();
        let r = match &op.op {
            Op::Exec { cmd } => self.exec_action(step, &op.what, cmd, t0),
            Op::Ping { cmd, .. } => self.ping(step, &op.what, cmd, t0),
            Op::Deploy => self.deploy(step, &op.what, t0),
            Op::Start { .. } => self.start(step, &op.what, &op.op, t0),
            Op::Send { .. } => self.send(step, &op.what, &op.op, t0),
            Op::Expect {
                name,
                stream,
                check,
            } => self.expect(step, &op.what, name, *stream, check, t0),
            Op::Run {
                call,
                argv,
                timeout,
                exit,
                regex,
                pattern,
                label,
            } => {
                let spec = RunSpec {
                    argv,
                    timeout: *timeout,
                    exit: *exit,
                    regex: regex.as_deref(),
                    pattern: pattern.as_deref(),
                    label,
                };
                self.run_fg(step, &op.what, call, &spec, t0)
            }
            Op::Stop {
                names, captures, ..
            } => self.stop(step, &op.what, names, captures, &op.op, t0),
        };
        match r {
            Ok(r) => r,
            Err(e) => OpsResult::Fatal(e.into()),
        }
    }

    fn done(&self, step: &str, what: &str, ok: bool, detail: String, t0: Instant) -> OpsResult {
        self.emit(Event::ActionDone {
            step: step.to_string(),
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
        self.emit(Event::ExpectationPassed {
            step: step.to_string(),
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
        self.emit(Event::ExpectationFailed {
            step: step.to_string(),
            host: self.name(),
            program: program.map(str::to_string),
            what: what.to_string(),
            seen,
            message: message.clone(),
            secs: t0.elapsed().as_secs_f64(),
        });
        OpsResult::Failed(message)
    }

    fn exec_action(
        &mut self,
        step: &str,
        what: &str,
        cmd: &str,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let out = self.exec_call(cmd, SHORT)?;
        Ok(if out.success() {
            self.done(step, what, true, "done".into(), t0)
        } else {
            let why = first_line(&out.stderr_str()).to_string();
            self.done(step, what, false, format!("{}: {why}", out.describe()), t0)
        })
    }

    fn ping(
        &mut self,
        step: &str,
        what: &str,
        cmd: &str,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let out = self.exec_call(cmd, SHORT)?;
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
                first_line(&out.stderr_str()).to_string()
            } else {
                summary
            };
            self.failed(
                step,
                what,
                None,
                format!("no reply; saw: {seen:?}"),
                seen.clone(),
                t0,
            )
        })
    }

    fn deploy(&self, step: &str, what: &str, t0: Instant) -> Result<OpsResult, SshError> {
        Ok(match crate::deploy::deploy(self.sess, self.host) {
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
                    step: step.to_string(),
                    host: self.name(),
                    what: what.to_string(),
                    ok: false,
                    detail: e.to_string(),
                    secs: t0.elapsed().as_secs_f64(),
                });
                OpsResult::Fatal(e)
            }
            Err(e) => self.done(step, what, false, e.to_string(), t0),
        })
    }

    fn start(
        &mut self,
        step: &str,
        what: &str,
        op: &Op,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let Op::Start {
            name,
            program,
            capture,
            call,
        } = op
        else {
            unreachable!("called for a start")
        };
        let (name, capture) = (name.as_str(), *capture);
        if self.progs.contains_key(name) {
            // Collect the last lines of the previous program of this name: starting truncates its files.
            self.poll(&[name.to_string()])?;
        }
        let out = self.exec_call(call, SHORT)?;
        let pgid = out.stdout_str().trim().parse::<u32>().ok();
        if !out.success() || pgid.is_none() {
            let why = first_line(&out.stderr_str()).to_string();
            return Ok(self.done(
                step,
                what,
                false,
                format!("cannot start: {} {why}", out.describe()),
                t0,
            ));
        }
        self.progs.insert(
            name.to_string(),
            Prog {
                step: step.to_string(),
                capture,
                out: Lines::default(),
                err: Lines::default(),
                state: ProgState::Alive,
                fetched: false,
                polls_ended: 0,
            },
        );
        self.emit(Event::ProgramStarted {
            host: self.name(),
            name: name.to_string(),
            program: program.clone(),
            step: step.to_string(),
            capture,
            pgid: pgid.unwrap_or(0),
        });
        Ok(self.done(
            step,
            what,
            true,
            format!("process group {}", pgid.unwrap_or(0)),
            t0,
        ))
    }

    fn send(
        &mut self,
        step: &str,
        what: &str,
        op: &Op,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let Op::Send {
            name,
            lines,
            pace,
            call,
        } = op
        else {
            unreachable!("called for a send")
        };
        let out = self.exec_call_interruptible(call, SHORT + *pace * lines.len() as u32)?;
        // The host time at which each line went out.
        let times: Vec<f64> = out
            .stdout_str()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        for (ts, line) in times.iter().zip(lines) {
            self.emit(Event::Sent {
                host: self.name(),
                program: name.to_string(),
                ts: *ts,
                line: line.clone(),
            });
        }
        if self.sh.stop.load(Ordering::SeqCst) {
            return Ok(OpsResult::Interrupted);
        }
        if out.success() {
            return Ok(self.done(
                step,
                what,
                true,
                format!("{} line(s) sent", times.len()),
                t0,
            ));
        }
        if out.status == Some(3) {
            self.poll(&[name.to_string()])?;
            let (state, _) = self.ended(name);
            return Ok(self.done(
                step,
                what,
                false,
                format!("program `{name}` is not running: {state}"),
                t0,
            ));
        }
        let why = first_line(&out.stderr_str()).to_string();
        Ok(self.done(step, what, false, format!("{}: {why}", out.describe()), t0))
    }

    /// Polls every program still running or not yet drained after it ended.
    fn poll_all(&mut self) -> Result<(), SshError> {
        let names: Vec<String> = self
            .progs
            .iter()
            .filter(|(_, p)| p.state == ProgState::Alive || p.polls_ended < 2)
            .map(|(n, _)| n.clone())
            .collect();
        self.poll(&names)
    }

    /// Reads new output of these programs, emits it, updates their states.
    fn poll(&mut self, names: &[String]) -> Result<(), SshError> {
        let names: Vec<String> = names
            .iter()
            .filter(|n| self.progs.contains_key(*n))
            .cloned()
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let mut files = Vec::new();
        let mut index = Vec::new();
        for name in &names {
            let p = &self.progs[name];
            for (err, lines) in [(false, &p.out), (true, &p.err)] {
                files.push(PollFile {
                    file: format!("{name}.{}", if err { "err" } else { "out" }),
                    offset: lines.offset,
                });
                index.push((name.clone(), err));
            }
        }
        let out = self.exec_call(&remote::poll_call(&files, &names), SHORT)?;
        let r = remote::parse_poll(&out.stdout, &files);
        for ((name, err), (_, _, bytes)) in index.into_iter().zip(r.files) {
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let text = String::from_utf8_lossy(&bytes[..whole]).into_owned();
            let mut new = Vec::new();
            {
                let p = self.progs.get_mut(&name).expect("polled");
                let lines = if err { &mut p.err } else { &mut p.out };
                lines.offset += whole as u64;
                for l in text.lines() {
                    let (ts, line) = match l.split_once(' ') {
                        Some((t, rest)) => match t.parse::<f64>() {
                            Ok(ts) => (ts, rest.to_string()),
                            Err(_) => (now_unix(), l.to_string()),
                        },
                        None => match l.parse::<f64>() {
                            Ok(ts) => (ts, String::new()),
                            Err(_) => (now_unix(), l.to_string()),
                        },
                    };
                    lines.lines.push((ts, line.clone()));
                    new.push((ts, line));
                }
            }
            for (ts, line) in new {
                self.emit(Event::Output {
                    host: self.name(),
                    program: name.clone(),
                    stream: if err { "stderr" } else { "stdout" },
                    ts,
                    line,
                });
            }
        }
        for (name, st) in r.states {
            if let Some(p) = self.progs.get_mut(&name) {
                p.state = st;
                if st != ProgState::Alive {
                    p.polls_ended = p.polls_ended.saturating_add(1);
                }
            }
        }
        Ok(())
    }

    /// How a program ended (or that it runs), and its last stderr line if any.
    fn ended(&self, name: &str) -> (String, Option<String>) {
        let Some(p) = self.progs.get(name) else {
            return ("it was never started on this host".into(), None);
        };
        let state = match p.state {
            ProgState::Alive => "it is still running".to_string(),
            ProgState::Exited(c) => format!("it exited with status {c}"),
            ProgState::Gone => "it was stopped or killed by a signal".to_string(),
        };
        (state, p.err.lines.last().map(|(_, l)| l.clone()))
    }

    fn expect(
        &mut self,
        step: &str,
        what: &str,
        name: &str,
        stream: Stream,
        check: &PlanCheck,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let (regex, wait) = match check {
            PlanCheck::Match { regex, within, .. } => (Some(regex.as_str()), *within),
            PlanCheck::Absent { regex, window, .. } => (Some(regex.as_str()), *window),
            PlanCheck::Exit { within, .. } => (None, *within),
        };
        let re = match regex.map(Regex::new).transpose() {
            Ok(re) => re,
            Err(e) => {
                return Ok(self.failed(
                    step,
                    what,
                    Some(name),
                    format!("bad pattern: {e}"),
                    String::new(),
                    t0,
                ))
            }
        };
        let deadline = t0 + wait;
        let mut ended_at: Option<Instant> = None;
        loop {
            self.poll(&[name.to_string()])?;
            let Some(p) = self.progs.get_mut(name) else {
                return Ok(self.failed(
                    step,
                    what,
                    Some(name),
                    "it was never started on this host".into(),
                    String::new(),
                    t0,
                ));
            };
            let hit = re.as_ref().and_then(|re| find(p, stream, re));
            match check {
                PlanCheck::Match { .. } => {
                    if let Some((err, i)) = hit {
                        let lines = if err { &mut p.err } else { &mut p.out };
                        lines.cursor = i + 1;
                        let seen = lines.lines[i].1.clone();
                        return Ok(self.passed(step, what, Some(name), seen, t0));
                    }
                }
                PlanCheck::Absent {
                    pattern, window, ..
                } => {
                    if let Some((err, i)) = hit {
                        let seen = if err { &p.err } else { &p.out }.lines[i].1.clone();
                        let detail = format!(
                            "expected no /{pattern}/ for {}; saw: {seen:?}",
                            secs(*window)
                        );
                        return Ok(self.failed(step, what, Some(name), detail, seen, t0));
                    }
                }
                PlanCheck::Exit { code, .. } => match p.state {
                    ProgState::Exited(c) if c == *code => {
                        return Ok(self.passed(
                            step,
                            what,
                            Some(name),
                            format!("exited with status {c}"),
                            t0,
                        ));
                    }
                    ProgState::Exited(_) | ProgState::Gone => {
                        let (state, _) = self.ended(name);
                        let seen = self.recent(name, stream);
                        let detail = format!(
                            "expected to exit with status {code}; {state}; saw: {}",
                            quote_all(&seen)
                        );
                        return Ok(self.failed(
                            step,
                            what,
                            Some(name),
                            detail,
                            seen.join("\n"),
                            t0,
                        ));
                    }
                    ProgState::Alive => {}
                },
            }
            let now = Instant::now();
            let alive = self
                .progs
                .get(name)
                .is_some_and(|p| p.state == ProgState::Alive);
            if !alive && !matches!(check, PlanCheck::Absent { .. }) {
                // Nothing more will come once its last lines are in.
                match ended_at {
                    None => ended_at = Some(now),
                    Some(t) if now - t >= SETTLE => {
                        return Ok(self.missed(step, what, name, stream, check, t0))
                    }
                    Some(_) => {}
                }
            }
            if now >= deadline {
                return Ok(match check {
                    PlanCheck::Absent { .. } => self.passed(
                        step,
                        what,
                        Some(name),
                        format!("nothing matching for {}", secs(wait)),
                        t0,
                    ),
                    _ => self.missed(step, what, name, stream, check, t0),
                });
            }
            if self.sh.stop.load(Ordering::SeqCst) {
                return Ok(OpsResult::Interrupted);
            }
            std::thread::sleep(POLL_EVERY.min(deadline - now));
        }
    }

    /// The lines since the cursor (the last few) on the watched stream(s).
    fn recent(&self, name: &str, stream: Stream) -> Vec<String> {
        let Some(p) = self.progs.get(name) else {
            return Vec::new();
        };
        let mut v: Vec<(f64, String)> = Vec::new();
        if stream != Stream::Stderr {
            v.extend(p.out.lines[p.out.cursor..].iter().cloned());
        }
        if stream != Stream::Stdout {
            v.extend(p.err.lines[p.err.cursor..].iter().cloned());
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = v.len();
        v.into_iter()
            .skip(n.saturating_sub(3))
            .map(|(_, l)| l)
            .collect()
    }

    /// A match or exit that did not come.
    fn missed(
        &self,
        step: &str,
        what: &str,
        name: &str,
        stream: Stream,
        check: &PlanCheck,
        t0: Instant,
    ) -> OpsResult {
        let seen = self.recent(name, stream);
        let (state, last_err) = self.ended(name);
        let mut detail = match check {
            PlanCheck::Match {
                pattern, within, ..
            } => {
                let on = if stream == Stream::Stdout {
                    String::new()
                } else {
                    format!(" on {}", stream_name(stream))
                };
                format!(
                    "expected /{pattern}/{on} within {}; saw: {}",
                    secs(*within),
                    quote_all(&seen)
                )
            }
            PlanCheck::Exit { code, within } => {
                format!(
                    "expected to exit with status {code} within {}; {state}; saw: {}",
                    secs(*within),
                    quote_all(&seen)
                )
            }
            PlanCheck::Absent { .. } => String::new(),
        };
        let alive = self
            .progs
            .get(name)
            .is_some_and(|p| p.state == ProgState::Alive);
        if !alive && !matches!(check, PlanCheck::Exit { .. }) {
            detail.push_str(&format!("; {state}"));
            if let (Some(l), Stream::Stdout) = (last_err, stream) {
                detail.push_str(&format!(" (stderr: {l:?})"));
            }
        }
        self.failed(step, what, Some(name), detail, seen.join("\n"), t0)
    }

    fn run_fg(
        &mut self,
        step: &str,
        what: &str,
        call: &str,
        spec: &RunSpec,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let out = self.exec_call_interruptible(call, spec.timeout + SHORT)?;
        let ts = now_unix();
        let mut lines = Vec::new();
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            for l in String::from_utf8_lossy(bytes).lines() {
                self.emit(Event::Output {
                    host: self.name(),
                    program: spec.label.to_string(),
                    stream,
                    ts,
                    line: l.to_string(),
                });
                lines.push(l.to_string());
            }
        }
        if self.sh.stop.load(Ordering::SeqCst) {
            return Ok(OpsResult::Interrupted);
        }
        let re = match spec.regex.map(Regex::new).transpose() {
            Ok(re) => re,
            Err(e) => {
                return Ok(self.failed(
                    step,
                    what,
                    Some(spec.argv),
                    format!("bad pattern: {e}"),
                    String::new(),
                    t0,
                ))
            }
        };
        let hit = re
            .as_ref()
            .and_then(|re| lines.iter().find(|l| re.is_match(l)));
        let status_ok = out.status == Some(spec.exit) && out.signal.is_none();
        let pattern_ok = re.is_none() || hit.is_some();
        if status_ok && pattern_ok {
            let seen = match hit {
                Some(l) => format!("exited with status {}: {l:?}", spec.exit),
                None => format!("exited with status {}", spec.exit),
            };
            return Ok(self.passed(step, what, Some(spec.argv), seen, t0));
        }
        let got = if out.status == Some(124) {
            format!(
                "it was still running after {} and was stopped",
                secs(spec.timeout)
            )
        } else {
            format!("it {}", out.describe())
        };
        let want = match spec.pattern {
            Some(p) => format!("expected exit status {} and /{p}/", spec.exit),
            None => format!("expected exit status {}", spec.exit),
        };
        let last: Vec<String> = lines.iter().rev().take(3).rev().cloned().collect();
        let detail = format!("{want}; {got}; saw: {}", quote_all(&last));
        Ok(self.failed(step, what, Some(spec.argv), detail, last.join("\n"), t0))
    }

    fn stop(
        &mut self,
        step: &str,
        what: &str,
        names: &[String],
        captures: &[String],
        op: &Op,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let Some(call) = op.shown() else {
            unreachable!("a stop has a command")
        };
        let out = self.exec_call(call, SHORT)?;
        let stopped = remote::parse_stop_output(&out.stdout_str());
        self.poll(names)?;
        for c in captures {
            self.fetch(c, step)?;
        }
        if let Some(s) = stopped.iter().find(|s| s.alive) {
            return Ok(self.done(
                step,
                what,
                false,
                format!("`{}` is still running after SIGKILL", s.name),
                t0,
            ));
        }
        let gone: Vec<&str> = stopped.iter().map(|s| s.name.as_str()).collect();
        let detail = if gone.len() == names.len() {
            "stopped".to_string()
        } else {
            format!("stopped {}; the others had already ended", gone.len())
        };
        Ok(self.done(step, what, true, detail, t0))
    }

    /// Downloads a capture's pcap into the run directory.
    fn fetch(&mut self, name: &str, step: &str) -> Result<(), SshError> {
        let Some(dir) = self.sh.dir.clone() else {
            return Ok(());
        };
        let Some(p) = self.progs.get_mut(name) else {
            return Ok(());
        };
        if p.fetched {
            return Ok(());
        }
        p.fetched = true;
        let started_by = p.step.clone();
        let remote = format!(
            "{}/{name}.pcap",
            remote::run_dir(self.host, &self.sh.run_id)
        );
        let file = format!("{}-{name}.pcap", self.host.name);
        let got = self
            .exec_call(
                &format!("cat -- {}", crate::util::shell_quote(&remote)),
                SHORT,
            )
            .and_then(|out| {
                if out.success() {
                    Ok(out.stdout)
                } else {
                    Err(self.ssh_error(
                        SshErrorKind::Session,
                        format!("cannot read `{remote}`: {}", first_line(&out.stderr_str())),
                    ))
                }
            });
        match got {
            Ok(bytes) => match crate::util::write_private(&dir.join(&file), &bytes) {
                Ok(()) => self.emit(Event::CaptureSaved {
                    host: self.name(),
                    name: name.to_string(),
                    file,
                    bytes: bytes.len() as u64,
                    started_by,
                    stopped_by: step.to_string(),
                }),
                Err(e) => self.emit(Event::Problem {
                    host: Some(self.name()),
                    message: format!(
                        "cannot write `{}`: {}",
                        dir.join(&file).display(),
                        crate::util::io_reason(&e)
                    ),
                }),
            },
            Err(e) => self.emit(Event::Problem {
                host: Some(self.name()),
                message: format!("capture `{name}`: {e}"),
            }),
        }
        Ok(())
    }

    /// The end of the run on this host: stop everything, collect, clean up.
    fn finish(&mut self) {
        let stop = remote::stop_run_cmd(self.host, &self.sh.run_id);
        let out = match self.exec_call("lc_stop_run", SHORT) {
            Ok(o) => Ok(o),
            // Without the agent, a plain channel does the same.
            Err(_) => self.exec(&stop, SHORT),
        };
        match out {
            Ok(out) => {
                for s in remote::parse_stop_output(&out.stdout_str()) {
                    self.emit(Event::ProgramStopped {
                        host: self.name(),
                        name: s.name.clone(),
                        step: s.step.clone(),
                        alive: s.alive,
                    });
                    if s.alive {
                        self.emit(Event::Problem {
                            host: Some(self.name()),
                            message: format!(
                                "program `{}` (group {}) survived SIGKILL",
                                s.name, s.pgid
                            ),
                        });
                    }
                }
            }
            Err(e) => self.emit(Event::Problem {
                host: Some(self.name()),
                message: format!("stopping the run's programs: {e}"),
            }),
        }
        let all: Vec<String> = self.progs.keys().cloned().collect();
        let _ = self.poll(&all);
        let pending: Vec<String> = self
            .progs
            .iter()
            .filter(|(_, p)| p.capture && !p.fetched)
            .map(|(n, _)| n.clone())
            .collect();
        for c in pending {
            let _ = self.fetch(&c, "end");
        }
        // Everything is fetched: the agent removes the run's remote files when it ends.
        let done = self.exec_call("lc_done", SHORT).is_ok_and(|o| o.success());
        if let Some(a) = self.agent.take() {
            let _ = a.ch.close(Duration::from_secs(10));
        }
        if !done {
            let _ = self.exec(
                &remote::remove_run_dir_cmd(self.host, &self.sh.run_id),
                SHORT,
            );
        }
    }
}

struct RunSpec<'a> {
    argv: &'a str,
    timeout: Duration,
    exit: i32,
    regex: Option<&'a str>,
    pattern: Option<&'a str>,
    label: &'a str,
}

/// The first line from the cursor matching `re` on the watched stream(s): (is stderr, index).
fn find(p: &Prog, stream: Stream, re: &Regex) -> Option<(bool, usize)> {
    let first = |l: &Lines| {
        l.lines[l.cursor..]
            .iter()
            .position(|(_, t)| re.is_match(t))
            .map(|i| (l.cursor + i, l.lines[l.cursor + i].0))
    };
    let out = if stream != Stream::Stderr {
        first(&p.out)
    } else {
        None
    };
    let err = if stream != Stream::Stdout {
        first(&p.err)
    } else {
        None
    };
    match (out, err) {
        (Some((i, a)), Some((j, b))) => Some(if b < a { (true, j) } else { (false, i) }),
        (Some((i, _)), None) => Some((false, i)),
        (None, Some((j, _))) => Some((true, j)),
        (None, None) => None,
    }
}

fn quote_all(lines: &[String]) -> String {
    if lines.is_empty() {
        "nothing".to_string()
    } else {
        lines
            .iter()
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
