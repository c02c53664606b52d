//! The worker's side of the run's agent (see [`remote::agent_cmd`]): one
//! long-lived channel whose stdout carries the replies to requests and
//! whose stderr carries the frames of the programs' output, pushed by the
//! host as it happens. Every read of the channel, whether the worker waits
//! for a reply, for an expectation or idles, takes both: frames are turned
//! into lines of the programs here (and `Output` events) the moment they
//! arrive, so expectations never ask the host for anything.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::{Worker, SHORT};
use crate::error::Error;
use crate::hold;
use crate::hostops;
use crate::lab::plan::secs;
use crate::remote::{self, Frame, HostCall, ProgState, Reply};
use crate::run::event::{now_unix, ClockSample, Event, Stream};
use crate::run::rundir;
use crate::ssh::{first_line, Output, SshError, SshErrorKind, StreamChannel, SLOW_AFTER};

/// The run's agent on the host.
pub(super) struct Agent<'s> {
    pub(super) ch: StreamChannel<'s>,
    /// Reply bytes (stdout) not yet consumed.
    buf: Vec<u8>,
    /// Frame bytes (stderr) not yet a whole frame.
    frames: Vec<u8>,
    /// A request timed out: replies can no longer be matched to requests.
    pub(super) broken: bool,
    /// What the host's shell said on the stream that was not a frame.
    said: String,
    /// The next tick's number, and when the last one went out.
    tick_seq: u64,
    tick_at: Option<Instant>,
    /// Ticks not answered yet: number, and labctl's clock when sent.
    unanswered: std::collections::VecDeque<(u64, f64)>,
    /// Ticks still to send one after the other, each once the one before
    /// is answered: the host's clock jumped, and its new offset is pinned
    /// as the run's first one is ([`FIRST_SAMPLES`]).
    burst: usize,
    /// The agent holds the bench and its heartbeat runs (`@@h` every
    /// second): waits on its channel send no SSH keepalive.
    beating: bool,
}

impl Agent<'_> {
    /// Waits up to `max` for the channel (see [`Agent::beating`]), or
    /// until `other` is readable (the run's bell: [`Worker::bell`]; an idle
    /// worker's wake-up), and never past the next tick's time.
    fn wait(&self, max: Duration, other: Option<RawFd>) {
        let max = match self.tick_at {
            _ if self.broken => max,
            Some(t) => max.min(TICK.saturating_sub(t.elapsed())),
            None => Duration::ZERO,
        }
        .max(Duration::from_millis(1));
        self.ch.wait_or(max, other, self.beating);
    }
}

/// Longest wait for an agent's reply before the worker looks again at
/// whether the run stops for another reason than a signal (a signal ends
/// the wait at once: [`Worker::bell`]).
pub(super) const RECHECK: Duration = Duration::from_millis(500);

/// How often labctl ticks the agent (see `lc_reader` in `remote/lib.sh`).
const TICK: Duration = Duration::from_secs(1);
/// Unanswered ticks kept (their answers may come late, never this late).
const TICKS_KEPT: usize = 64;
/// How long the run's first samples of a host's clock are waited for.
const FIRST_SAMPLE: Duration = Duration::from_secs(2);
/// How many samples of a host's clock the run begins with.
const FIRST_SAMPLES: usize = 5;
/// A first sample's round trip short enough to count (seconds; on a LAN
/// a round trip is well under a millisecond).
const FIRST_ROUND_TRIP: f64 = 0.01;

/// The lines of one stream that expectations look at: each cut at
/// [`rundir::LINE_SHOWN`] bytes, and only the last [`rundir::LIVE_MAX`]
/// bytes of them (older ones are in the run directory's file only), so
/// labctl's memory stays bounded whatever a program prints. Indexes count
/// every line since the program started.
#[derive(Default)]
pub(super) struct Window {
    /// Index of the first line kept.
    base: usize,
    v: std::collections::VecDeque<(f64, String)>,
    bytes: usize,
}

impl Window {
    pub(super) fn len(&self) -> usize {
        self.base + self.v.len()
    }
    /// The first index still kept.
    pub(super) fn first(&self) -> usize {
        self.base
    }
    pub(super) fn push(&mut self, line: (f64, String)) {
        self.bytes += line.1.len() + 32;
        self.v.push_back(line);
        while self.bytes > rundir::LIVE_MAX && self.v.len() > 1 {
            let (_, old) = self.v.pop_front().expect("more than one line");
            self.bytes -= old.len() + 32;
            self.base += 1;
        }
    }
    /// The lines from index `i` on (from the first kept, if `i` is older).
    pub(super) fn from(&self, i: usize) -> impl Iterator<Item = &(f64, String)> {
        self.v.iter().skip(i.saturating_sub(self.base))
    }
    pub(super) fn last(&self) -> Option<&(f64, String)> {
        self.v.back()
    }
}

impl std::ops::Index<usize> for Window {
    type Output = (f64, String);
    fn index(&self, i: usize) -> &(f64, String) {
        &self.v[i - self.base]
    }
}

/// One stream (stdout or stderr) of a program, as far as it came.
#[derive(Default)]
pub(super) struct Lines {
    /// Host time of each line, and the line (the last ones: see [`Window`]).
    pub(super) lines: Window,
    /// Expectations look from here on: every line before it was matched.
    pub(super) cursor: usize,
    /// Lines after the cursor that an expectation matched already (each
    /// line satisfies one expectation; lines printed at once by programs fed
    /// from two hosts may come in either order).
    pub(super) matched: std::collections::BTreeSet<usize>,
    /// One past the last line matched: what `absent` watches and failures quote.
    pub(super) after: usize,
    /// A long line whose pieces are still coming: its stamp and bytes.
    partial: Option<(f64, Vec<u8>)>,
}

/// A program started in this run on this host.
pub(super) struct Prog {
    pub(super) step: String,
    pub(super) capture: bool,
    pub(super) out: Lines,
    pub(super) err: Lines,
    pub(super) state: ProgState,
    /// Its output ended (`@@e`): every line of it is in.
    pub(super) drained: bool,
    /// When it was seen to end, for [`super::SETTLE`].
    pub(super) ended_at: Option<Instant>,
    /// The pcap was fetched.
    pub(super) fetched: bool,
    /// A step's `stop` stopped it.
    pub(super) stopped: bool,
    /// Its process group, once started; and the group of the program of
    /// the same name before it, whose late exit frames are not this one's.
    pub(super) pgid: Option<u32>,
    pub(super) previous: Option<u32>,
}

impl Lines {
    /// Adds a line (cut at [`rundir::LINE_SHOWN`]); lines no longer kept
    /// can no longer be matched.
    fn push(&mut self, ts: f64, line: &str) {
        self.lines.push((ts, rundir::shown_line(line).into_owned()));
        let first = self.lines.first();
        self.cursor = self.cursor.max(first);
        self.after = self.after.max(first);
        self.matched = self.matched.split_off(&first);
    }

    /// Line `i` satisfied an expectation: later ones look at the others.
    pub(super) fn consume(&mut self, i: usize) {
        self.matched.insert(i);
        self.after = self.after.max(i + 1);
        while self.matched.remove(&self.cursor) {
            self.cursor += 1;
        }
    }
}

impl Prog {
    pub(super) fn new(step: &str, capture: bool) -> Prog {
        Prog {
            step: step.into(),
            capture,
            out: Lines::default(),
            err: Lines::default(),
            state: ProgState::Alive,
            drained: false,
            ended_at: None,
            fetched: false,
            stopped: false,
            pgid: None,
            previous: None,
        }
    }

    /// A capture that has written its last frame: tcpdump printed its
    /// statistics, its last lines, after its capture loop ended (with `-U`
    /// every frame is in the file already). Its exit can follow later: the
    /// kernel takes 15-30 ms to close a packet socket. `flushed` in
    /// `remote/lib.sh` reads the same lines on the host.
    pub(super) fn flushed(&self) -> bool {
        self.capture
            && self.err.lines.last().is_some_and(|(_, l)| {
                l.ends_with(" dropped by kernel") || l.ends_with(" dropped by interface")
            })
    }

    /// An exit frame of group `pgid` is about this program.
    fn is_mine(&self, pgid: Option<u32>) -> bool {
        match pgid {
            None => true,
            Some(g) => Some(g) != self.previous && self.pgid.is_none_or(|p| p == g),
        }
    }
}

/// A call as an error message shows it: its first line, at most 120 bytes
/// (a send's call carries every line it sends).
fn call_shown(call: &str) -> String {
    let l = first_line(call);
    if l.len() <= 120 {
        return l.to_string();
    }
    let mut cut = 120;
    while !l.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} … ({} bytes)", &l[..cut], l.len())
}

impl<'s> Worker<'s> {
    pub(super) fn exec(&self, cmd: &str, timeout: Duration) -> Result<Output, SshError> {
        if let Some(e) = &self.lost {
            return Err(e.clone());
        }
        self.sess.exec(cmd, None, timeout)
    }

    pub(super) fn ssh_error(&self, kind: SshErrorKind, message: String) -> SshError {
        SshError {
            host: self.host.label(),
            endpoint: self.host.endpoint(),
            kind,
            message,
        }
    }

    /// Runs a call through the agent, its reply framed as `reply` says.
    pub(super) fn exec_call(
        &mut self,
        call: &str,
        reply: Reply,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.agent_exec(call, timeout, false, reply)
    }

    /// Like [`Self::exec_call`], for the long calls (paced sends, foreground
    /// programs): Ctrl-C of labctl ends them on the host at once.
    pub(super) fn exec_call_interruptible(
        &mut self,
        call: &HostCall,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.agent_exec(&call.text, timeout, true, call.reply)
    }

    fn agent_exec(
        &mut self,
        call: &str,
        timeout: Duration,
        interruptible: bool,
        reply: Reply,
    ) -> Result<Output, SshError> {
        let Some(mut agent) = self.agent.take() else {
            return Err(self.ssh_error(
                SshErrorKind::Session,
                "the run's agent is not running".into(),
            ));
        };
        let r = self.agent_call(&mut agent, Some((call, reply)), timeout, interruptible);
        self.agent = Some(agent);
        r
    }

    fn agent_call(
        &mut self,
        a: &mut Agent<'s>,
        request: Option<(&str, Reply)>,
        timeout: Duration,
        interruptible: bool,
    ) -> Result<Output, SshError> {
        if a.broken {
            if let Some(e) = &self.lost {
                return Err(e.clone());
            }
            return Err(self.ssh_error(
                SshErrorKind::Session,
                "the run's agent stopped answering".into(),
            ));
        }
        let mut deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let call = request.map(|(c, _)| c);
        if let Some((call, reply)) = request {
            // A file's path is not a command: shown as what the agent does with it.
            let shown = match reply {
                Reply::File => format!("cat -- {}", crate::util::shell_quote(call)).into(),
                _ => std::borrow::Cow::Borrowed(call),
            };
            crate::style::trace_command(&self.host.label(), &shown);
            a.ch.write(&remote::agent_request(call, reply))?;
        }
        let mut interrupted = false;
        loop {
            if interruptible && !interrupted && self.stopping() {
                // The request ends on the host; its reply follows as usual.
                interrupted = true;
                let stop = remote::script(self.host, &self.sh.run_id, "lc_interrupt");
                let _ = self.exec(&stop, SHORT);
            }
            if let Some((stdout, stderr, rc, used)) = remote::parse_agent_reply(&a.buf) {
                a.buf.drain(..used);
                if timed_out {
                    return Err(self.ssh_error(
                        SshErrorKind::Timeout,
                        format!(
                            "`{}` did not finish within {} and was stopped",
                            call_shown(call.unwrap_or("lc_agent")),
                            secs(timeout)
                        ),
                    ));
                }
                return Ok(Output {
                    status: Some(rc),
                    signal: None,
                    stdout,
                    stderr,
                });
            }
            if !self.read_agent(a)? {
                if let Err(e) = self.heard() {
                    a.broken = true;
                    return Err(e);
                }
                let now = Instant::now();
                if now >= deadline && interruptible && !timed_out {
                    // Too long (a send into a program that does not read):
                    // the request is stopped on the host as Ctrl-C stops it,
                    // so no shell stays blocked; its reply still comes.
                    timed_out = true;
                    interrupted = true;
                    deadline = now + SHORT;
                    let stop = remote::script(self.host, &self.sh.run_id, "lc_interrupt");
                    let _ = self.exec(&stop, SHORT);
                    continue;
                }
                if now >= deadline {
                    a.broken = true;
                    return Err(self.ssh_error(
                        SshErrorKind::Timeout,
                        format!(
                            "`{}` did not finish within {}",
                            call_shown(call.unwrap_or("lc_agent")),
                            secs(timeout)
                        ),
                    ));
                }
                a.wait((deadline - now).min(RECHECK), self.bell());
            }
        }
    }

    /// Reads what the channel has: replies into the agent's buffer, frames
    /// into the programs. False when nothing came. Ticks the agent before
    /// and after, when a second has passed since the last tick
    /// ([`Self::tick`]); waits end at that time ([`Agent::wait`]).
    fn read_agent(&mut self, a: &mut Agent<'s>) -> Result<bool, SshError> {
        self.tick(a);
        let (any, eof) = a.ch.read_into(&mut a.buf, &mut a.frames)?;
        if !any {
            if eof {
                a.broken = true;
                if let Some(e) = self.why_ended() {
                    self.lost = Some(e.clone());
                    return Err(e);
                }
                let said = crate::ssh::whole_reason(&a.said);
                return Err(self.ssh_error(
                    SshErrorKind::Session,
                    format!("the run's agent ended: {said}"),
                ));
            }
            return Ok(false);
        }
        for f in remote::take_frames_keeping(&mut a.frames, &mut a.said) {
            match f {
                Frame::Tick { seq, host } => {
                    if let Some(k) = a.unanswered.iter().position(|(s, _)| *s == seq) {
                        let (_, sent) = a.unanswered[k];
                        a.unanswered.drain(..=k);
                        let received = now_unix();
                        let jumped = self.clock.push(ClockSample {
                            sent,
                            host,
                            received,
                        });
                        if jumped.is_some() {
                            a.burst = FIRST_SAMPLES;
                        }
                        // In the stream's order: the report tells a line's
                        // stretch of the clock by the samples before it.
                        self.emit(Event::Clock {
                            run: self.sh.run.clone(),
                            host: self.name(),
                            sent,
                            host_time: host,
                            received,
                        });
                    }
                }
                f => self.frame(f),
            }
        }
        // A tick that came due meanwhile, or the burst's next one (its
        // answer may have just come).
        self.tick(a);
        Ok(true)
    }

    /// Tells the agent labctl is alive, once a second (`@@tick SEQ`): a
    /// host that hears nothing for [`crate::hold::STALE_SECS`] marks the
    /// hold stale. Its answer is a sample of the host's clock.
    fn tick(&mut self, a: &mut Agent<'s>) {
        let now = Instant::now();
        let burst = a.burst > 0 && a.unanswered.is_empty();
        if a.broken || (!burst && a.tick_at.is_some_and(|t| now.duration_since(t) < TICK)) {
            return;
        }
        if burst {
            a.burst -= 1;
        }
        a.tick_at = Some(now);
        let seq = a.tick_seq;
        a.tick_seq += 1;
        let sent = now_unix();
        if a.ch.write(&remote::agent_tick(seq)).is_ok() {
            if a.unanswered.len() >= TICKS_KEPT {
                a.unanswered.pop_front();
            }
            a.unanswered.push_back((seq, sent));
        }
    }

    /// The first samples of the host's clock as the run begins, before any
    /// step: ticks one after the other, each answer waited for, until
    /// [`FIRST_SAMPLES`] came back within [`FIRST_ROUND_TRIP`] (the agent
    /// answers its first ticks only once it has set itself up: their round
    /// trips are long), at most twice as many ticks, for at most
    /// [`FIRST_SAMPLE`]. The report trusts the shortest round trip: a few
    /// in a row find one the host's load did not stretch.
    fn sample_clock(&mut self) {
        let Some(mut a) = self.agent.take() else {
            return;
        };
        let deadline = Instant::now() + FIRST_SAMPLE;
        let mut good = 0;
        'tries: for _ in 0..2 * FIRST_SAMPLES {
            a.tick_at = None;
            self.tick(&mut a);
            let seq = a.tick_seq.wrapping_sub(1);
            while a.unanswered.iter().any(|(s, _)| *s == seq) {
                let now = Instant::now();
                if a.broken || now >= deadline {
                    break 'tries;
                }
                match self.read_agent(&mut a) {
                    Ok(true) => {}
                    // Until the answer comes (the wait ends with it).
                    Ok(false) => a.wait(deadline - now, self.bell()),
                    Err(_) => break 'tries,
                }
            }
            let last = self.clock.samples().last();
            if last.is_some_and(|s| s.received - s.sent <= FIRST_ROUND_TRIP) {
                good += 1;
                if good == FIRST_SAMPLES {
                    break;
                }
            }
        }
        self.agent = Some(a);
    }

    /// The host's clock now, as labctl's clock and the samples so far tell
    /// it (what the host stamps a line with; for output that comes without
    /// a stamp of the host's, a foreground program's).
    pub(super) fn host_now(&self) -> f64 {
        now_unix() + self.clock.offset_now().unwrap_or(0.0)
    }

    /// Why the agent ended without labctl ending it, when the host says:
    /// another labctl took the bench over ([`SshErrorKind::Taken`]).
    /// Read-only (`lc_why`), on a channel of its own.
    fn why_ended(&self) -> Option<SshError> {
        let out = self
            .sess
            .exec(
                &remote::script(self.host, &self.sh.run_id, "lc_why"),
                None,
                Duration::from_secs(5),
            )
            .ok()?;
        let text = out.stdout_str();
        let mut lines = text.lines();
        match lines.next()? {
            "taken" => Some(self.ssh_error(
                SshErrorKind::Taken,
                hold::taken_message(&hold::Holder::parse(lines)),
            )),
            "ended" => {
                let (mut at, mut why, mut dir) = (0, String::new(), String::new());
                for l in lines {
                    match l.split_once('=') {
                        Some(("at", v)) => at = v.trim().parse().unwrap_or(0),
                        Some(("why", v)) => why = v.to_string(),
                        Some(("dir", v)) => dir = v.to_string(),
                        _ => {}
                    }
                }
                let e = hold::Ended {
                    run: self.sh.run_id.clone(),
                    at,
                    why,
                    dir,
                };
                let said = hold::ended_message(self.host, &e);
                let said = said.split_once(": ").map_or(said.as_str(), |(_, r)| r);
                Some(self.ssh_error(SshErrorKind::Session, said.to_string()))
            }
            _ => None,
        }
    }

    /// Takes at once whatever the channel holds (a labctl that was stopped
    /// learns first what happened meanwhile): `Err` when the agent ended.
    pub(super) fn pump_now(&mut self) -> Result<(), SshError> {
        let Some(mut a) = self.agent.take() else {
            return Ok(());
        };
        let mut r = Ok(());
        while !a.broken {
            match self.read_agent(&mut a) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        self.agent = Some(a);
        r
    }

    /// The run's hold on this host was taken over by another labctl.
    pub(super) fn taken(&self) -> bool {
        self.lost
            .as_ref()
            .is_some_and(|e| e.kind == SshErrorKind::Taken)
    }

    /// Takes what the stream brought; when nothing is there, waits up to
    /// `wait` for it (on the socket: no polling of the host).
    pub(super) fn pump(&mut self, wait: Duration) -> Result<(), SshError> {
        let Some(mut a) = self.agent.take() else {
            return Ok(());
        };
        let r = (|| {
            if a.broken {
                return Ok(());
            }
            if !self.read_agent(&mut a)? && !wait.is_zero() {
                a.wait(wait, self.bell());
                if !self.read_agent(&mut a)? {
                    self.heard().inspect_err(|_| a.broken = true)?;
                }
            }
            Ok(())
        })();
        self.agent = Some(a);
        r
    }

    /// [`Self::pump`] for an idle worker: the wait also ends when `wake` is readable.
    pub(super) fn pump_or(
        &mut self,
        wake: std::os::fd::RawFd,
        wait: Duration,
    ) -> Result<(), SshError> {
        let Some(mut a) = self.agent.take() else {
            std::thread::sleep(wait.min(Duration::from_millis(50)));
            return Ok(());
        };
        let r = (|| {
            if a.broken {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                return Ok(());
            }
            if !self.read_agent(&mut a)? {
                a.wait(wait, Some(wake));
                if !self.read_agent(&mut a)? {
                    if let Err(e) = self.heard() {
                        // Idle in this step: the run's walk says it and stops.
                        a.broken = true;
                        return Err(e);
                    }
                }
            }
            Ok(())
        })();
        self.agent = Some(a);
        r
    }

    /// Waits until each of `names` has ended and its output is in (at most
    /// `max`; a program whose output stays open after it ended counts after
    /// [`super::SETTLE`]).
    pub(super) fn wait_drained(&mut self, names: &[String], max: Duration) {
        let deadline = Instant::now() + max;
        loop {
            let now = Instant::now();
            let pending = names.iter().any(|n| {
                self.progs.get(n).is_some_and(|p| {
                    !p.drained
                        && !p.flushed()
                        && p.ended_at
                            .is_none_or(|t| now.duration_since(t) < super::SETTLE)
                })
            });
            let listening = self.agent.as_ref().is_some_and(|a| !a.broken);
            if !pending || !listening || now >= deadline {
                return;
            }
            if self
                .pump(Duration::from_millis(20).min(deadline - now))
                .is_err()
            {
                return;
            }
        }
    }

    fn frame(&mut self, f: Frame) {
        match f {
            Frame::Line {
                name,
                stderr,
                ts,
                text,
                more,
                cut,
            } => {
                let Some(p) = self.progs.get_mut(&name) else {
                    return;
                };
                let lines = if stderr { &mut p.err } else { &mut p.out };
                let (ts, mut bytes) = match lines.partial.take() {
                    Some((t0, mut b)) => {
                        b.extend_from_slice(&text);
                        (t0, b)
                    }
                    None => (ts, text),
                };
                if more {
                    lines.partial = Some((ts, bytes));
                    return;
                }
                if cut {
                    bytes.extend_from_slice(
                        " [labctl: the rest of this line is in the host's file]".as_bytes(),
                    );
                }
                let line = String::from_utf8_lossy(&bytes).into_owned();
                lines.push(ts, &line);
                self.emit(Event::Output {
                    run: self.sh.run.clone(),
                    host: self.name(),
                    program: name,
                    stream: if stderr {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    },
                    ts,
                    line,
                });
            }
            Frame::Exit { name, status, pgid } => {
                if let Some(p) = self.progs.get_mut(&name).filter(|p| p.is_mine(pgid)) {
                    p.state = ProgState::Exited(status);
                    p.ended_at.get_or_insert_with(Instant::now);
                }
            }
            Frame::Tick { .. } => {}
            Frame::Unkept { name, why } => {
                self.emit(Event::Problem {
                    step: None,
                    run: self.sh.run.clone(),
                    host: Some(self.name()),
                    message: format!(
                        "host `{}`: program `{name}`: its output cannot be kept on the host ({why}); \
                         its lines still reach labctl and are kept here",
                        self.host.label()
                    ),
                });
                self.unkept.get_or_insert(why);
            }
            Frame::End { name, pgid } => {
                if let Some(p) = self.progs.get_mut(&name).filter(|p| p.is_mine(pgid)) {
                    if p.state == ProgState::Alive {
                        p.state = ProgState::Gone;
                    }
                    p.ended_at.get_or_insert_with(Instant::now);
                    p.drained = true;
                }
            }
        }
    }

    /// Starts the agent and takes the bench's hold on this host for the
    /// run (the agent's life is the hold; see [`crate::hold`]). Changes nothing else.
    pub(super) fn hold(&mut self) -> Result<(), Error> {
        let args = hold::hold_args("run", &self.sh.run_id, self.sh.take_over);
        let mut agent = Agent {
            ch: self.sess.spawn_stream(&remote::agent_cmd(
                self.host,
                &self.sh.run_id,
                &args,
                self.sh
                    .ports
                    .get(&self.host.name)
                    .map_or("", String::as_str),
                self.sh.orphaned_after,
            ))?,
            buf: Vec::new(),
            frames: Vec::new(),
            broken: false,
            said: String::new(),
            tick_seq: 0,
            tick_at: None,
            unanswered: std::collections::VecDeque::new(),
            burst: 0,
            beating: false,
        };
        // The agent's first reply, unasked: the hold, and with sudo, what sudo refuses.
        let out = self.agent_call(&mut agent, None, SHORT, false);
        // Then its heartbeat runs.
        agent.beating = out.is_ok();
        self.agent = Some(agent);
        let out = out?;
        let reply = remote::split_hold_reply(&out.stdout_str());
        let words = reply.hold;
        self.sudo_refused = reply.nosudo;
        self.ports_seen = reply.ports;
        for e in hold::ended_notes(&words) {
            self.emit(Event::Problem {
                step: None,
                run: self.sh.run.clone(),
                host: Some(self.name()),
                message: hold::ended_message(self.host, &e),
            });
        }
        match hold::parse_verdict(&words) {
            hold::Verdict::Held(took_over) => {
                if let Some(h) = took_over {
                    self.emit(Event::Problem {
                        step: None,
                        run: self.sh.run.clone(),
                        host: Some(self.name()),
                        message: hold::took_over_warning(self.host, &h),
                    });
                }
                self.sample_clock();
                Ok(())
            }
            hold::Verdict::Busy(h) => Err(hold::busy_error(self.host, &h, self.sh.take_over)),
            hold::Verdict::Unknown => Err(hold::hold_failed(self.host, &words, &out.stderr)),
        }
    }

    /// Whether the host, held, can run the lab, from what the agent found as
    /// it took the hold: sudo allows what the lab needs. Changes nothing: a
    /// host that is not fit stops the run before any host changes. With the
    /// error, whether it is a refusal (the run leaves no record).
    pub(super) fn fit(&mut self) -> Result<(), (Error, bool)> {
        if self.host.sudo {
            self.sudo_works().map_err(|e| (e, false))?;
        }
        // A port the run's servers bind here, taken by a program labctl did not
        // start: refused in `check`'s words (exit 1), before anything changes.
        if !self.ports_seen.is_empty() {
            let facts = crate::check::parse_facts(&self.ports_seen);
            if let Some((detail, hint)) = crate::check::lab_ports_taken(self.host, &facts) {
                return Err((
                    Error::Failed(format!(
                        "host `{}`: lab port: {detail}; nothing was changed\n  fix: {hint}",
                        self.host.label()
                    )),
                    true,
                ));
            }
        }
        Ok(())
    }

    /// Once every host is held: stops what an earlier labctl left (never a
    /// live labctl's programs: `lc_stop_all` leaves the runs whose agent
    /// lives) and makes the stdin FIFOs of the programs the run starts here
    /// (`lc_setup`).
    pub(super) fn setup(&mut self) -> Result<(), Error> {
        let names = self.sh.started.get(&self.host.name);
        let names: Vec<&str> = names
            .iter()
            .flat_map(|v| v.iter().map(String::as_str))
            .collect();
        let out = self.exec_call(&remote::call("lc_setup", &names), Reply::Lines, SHORT)?;
        let left = remote::parse_stop_output(&out.stdout_str());
        if !left.is_empty() {
            self.emit(Event::Cleaned {
                run: self.sh.run.clone(),
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

    /// `sudo -n` lets the login run what the lab needs (`ip`, `tcpdump`),
    /// without a password (the agent asked as it took the hold); else the
    /// error names the host, the commands and the sudoers line that would
    /// allow them.
    fn sudo_works(&self) -> Result<(), Error> {
        let mut refused: Vec<Vec<&str>> = self
            .sudo_refused
            .iter()
            .map(|l| l.splitn(3, ' ').collect())
            .collect();
        // The host checks the commands at once: named in the lab's order, not the host's.
        refused.sort_by_key(|f| hostops::SUDO_COMMANDS.iter().position(|c| *c == f[0]));
        if refused.is_empty() {
            return Ok(());
        }
        let cmds: Vec<&str> = refused.iter().map(|f| f[0]).collect();
        let paths: Vec<&str> = refused.iter().filter_map(|f| f.get(1).copied()).collect();
        let reason = refused[0].get(2).copied().unwrap_or("");
        let (what, line) = hostops::sudo_refusal(self.host, &cmds, &paths, reason);
        Err(Error::Host(format!(
            "{what}; allow it with the sudoers line `{line}` (e.g. in /etc/sudoers.d/labctl) or set `sudo = false`"
        )))
    }

    /// Whether the host is still heard from: says `no answer for N s` while
    /// it is slow, and errs once it has been silent for the silence limit.
    pub(super) fn heard(&mut self) -> Result<(), SshError> {
        // One question to the kernel for both.
        let quiet = self.sess.silent_for();
        if let Some(s) = self.slowness.tick(quiet) {
            self.emit(Event::Problem {
                step: None,
                run: self.sh.run.clone(),
                host: Some(self.name()),
                message: format!("no answer for {s} s"),
            });
        }
        self.sess.check_quiet(quiet).inspect_err(|e| {
            self.lost.get_or_insert_with(|| e.clone());
        })
    }

    /// What a wait on the host's channel also ends on: the run's bell
    /// ([`super::Shared::bell`]), until the run stops (the bell then stays
    /// readable, and would end every wait at once).
    pub(super) fn bell(&self) -> Option<RawFd> {
        (!self.stopping()).then(|| self.sh.bell.as_raw_fd())
    }

    /// The host has been quiet long enough that the absence of output proves nothing.
    pub(super) fn slow(&self) -> bool {
        self.sess.silent_for() >= SLOW_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_is_flushed_once_tcpdump_printed_its_statistics() {
        let mut cap = Prog::new("I.7", true);
        cap.err.push(
            1.0,
            "tcpdump: listening on eth0, link-type EN10MB (Ethernet)",
        );
        assert!(!cap.flushed(), "still capturing");
        cap.err.push(2.0, "3 packets captured");
        cap.err.push(2.0, "3 packets received by filter");
        cap.err.push(2.0, "0 packets dropped by kernel");
        assert!(cap.flushed());
        cap.err.push(2.0, "1 packet dropped by interface");
        assert!(cap.flushed(), "the interface line may follow");
        // A program that is not a capture never is, whatever it prints.
        let mut prog = Prog::new("I.8", false);
        prog.err.push(1.0, "0 packets dropped by kernel");
        assert!(!prog.flushed());
    }

    #[test]
    fn lines_matched_out_of_order_are_each_used_once() {
        let mut l = Lines::default();
        for t in ["c", "b", "x"] {
            l.push(1.0, t);
        }
        // "b" matched first: "c", before it, stays available to the next expectation.
        l.consume(1);
        assert_eq!((l.cursor, l.after), (0, 2));
        l.consume(0);
        assert_eq!((l.cursor, l.after), (2, 2));
        assert!(l.matched.is_empty());
    }
}
