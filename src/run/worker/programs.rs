//! The worker's programs on its host: start one under its own process
//! group, send lines to its stdin, stop some (INT, TERM, KILL, verified
//! gone) and fetch a capture's pcap. Their output arrives on its own (see
//! `agent`); a stop waits for the stopped programs' last lines.

use std::time::{Duration, Instant};

use super::agent::Prog;
use super::{OpsResult, Worker, SHORT};
use crate::lab::plan::call;
use crate::remote::{self, HostCall, ProgState, Reply};
use crate::run::event::Event;
use crate::ssh::{whole_reason, SshError, SshErrorKind};

/// How long a stop waits for the stopped programs' last lines.
const DRAIN: Duration = Duration::from_secs(2);

/// A program or a capture to start, and the call that starts it.
pub(super) struct Launch<'a> {
    pub name: &'a str,
    /// The program set's name for it, `tcpdump` for a capture.
    pub program: &'a str,
    pub capture: bool,
    pub call: HostCall,
}

impl Worker<'_> {
    pub(super) fn start(
        &mut self,
        step: &str,
        what: &str,
        launch: Launch<'_>,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let Launch {
            name,
            program,
            capture,
            call,
        } = launch;
        if self
            .progs
            .get(name)
            .is_some_and(|p| p.state != ProgState::Alive)
        {
            // The last lines of the previous program of this name come first.
            self.wait_drained(&[name.to_string()], DRAIN);
        }
        // In place before the call: its first lines may come before the reply.
        let mut prog = Prog::new(step, capture);
        prog.previous = self.progs.get(name).and_then(|p| p.pgid);
        let previous = self.progs.insert(name.to_string(), prog);
        let out = self.exec_call(&call.text, call.reply, SHORT)?;
        let pgid = out.stdout_str().trim().parse::<u32>().ok();
        if !out.success() || pgid.is_none() {
            match previous {
                Some(p) => self.progs.insert(name.to_string(), p),
                None => self.progs.remove(name),
            };
            let why = whole_reason(&out.stderr_str());
            return Ok(self.done(
                step,
                what,
                false,
                format!("cannot start: {} {why}", out.describe()),
                t0,
            ));
        }
        if let Some(p) = self.progs.get_mut(name) {
            p.pgid = pgid;
        }
        self.emit(Event::ProgramStarted {
            op: self.current_op.get(),
            run: self.sh.run.clone(),
            host: self.name(),
            name: name.to_string(),
            program: program.to_string(),
            step: step.into(),
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

    pub(super) fn send(
        &mut self,
        step: &str,
        what: &str,
        name: &str,
        lines: &[String],
        pace: Duration,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        // Each line may take its pace, and at least 5 ms (a program reading them).
        let per_line = pace.max(std::time::Duration::from_millis(5));
        let call = call::send(name, lines, pace);
        let out = self.exec_call_interruptible(&call, SHORT + per_line * lines.len() as u32)?;
        // The host time at which each line went out.
        let times: Vec<f64> = out
            .stdout_str()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        for (ts, line) in times.iter().zip(lines) {
            self.emit(Event::Sent {
                run: self.sh.run.clone(),
                host: self.name(),
                program: name.to_string(),
                ts: *ts,
                line: line.clone(),
            });
        }
        if self.stopping() {
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
            // Not running: how it ended is on its way (or in already).
            self.wait_drained(&[name.to_string()], super::SETTLE);
            let (state, _) = self.ended(name);
            return Ok(self.done(
                step,
                what,
                false,
                format!("program `{name}` is not running: {state}"),
                t0,
            ));
        }
        let why = whole_reason(&out.stderr_str());
        Ok(self.done(step, what, false, format!("{}: {why}", out.describe()), t0))
    }

    pub(super) fn stop(
        &mut self,
        step: &str,
        what: &str,
        names: &[String],
        captures: &[String],
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        // A capture that is no longer running when its stop comes ended early
        // (its tcpdump died, the host's disk filled): its frames are not all there.
        let mut early: Vec<&String> = captures
            .iter()
            .filter(|c| {
                self.progs
                    .get(*c)
                    .is_some_and(|p| p.state != ProgState::Alive)
            })
            .collect();
        let call = call::stop(names);
        let out = self.exec_call(&call.text, call.reply, SHORT)?;
        let text = out.stdout_str();
        let stopped = remote::parse_stop_output(&text);
        // `ended PGID NAME …`: it had ended on its own before the stop reached it.
        for l in text.lines() {
            let mut w = l.split(' ');
            if let (Some("ended"), Some(_), Some(name)) = (w.next(), w.next(), w.next()) {
                if let Some(c) = captures.iter().find(|c| *c == name) {
                    if !early.contains(&c) {
                        early.push(c);
                    }
                }
            }
        }
        for n in names {
            if let Some(p) = self.progs.get_mut(n) {
                p.stopped = true;
            }
        }
        self.wait_drained(names, DRAIN);
        let mut problems = Vec::new();
        for c in captures {
            let kept = self.fetch(c, step)?;
            if early.contains(&c) {
                let (_, said) = self.ended(c);
                problems.push(format!(
                    "capture `{c}` ended before its stop{}; {}",
                    said.map(|l| format!(" (it said: {l:?})"))
                        .unwrap_or_default(),
                    kept.as_ref()
                        .map_or_else(|p| p.clone(), |k| format!("{k} kept"))
                ));
            } else if let Err(p) = kept {
                let cause = self
                    .unkept
                    .as_ref()
                    .map(|w| format!(" (the host could not write: {w})"))
                    .unwrap_or_default();
                problems.push(format!("capture `{c}`: {p}{cause}"));
            }
        }
        if !problems.is_empty() {
            return Ok(self.done(step, what, false, problems.join("; "), t0));
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

    /// Downloads a capture's pcap into the run directory. `Ok(Ok(what was
    /// kept))`, or `Ok(Err(what is wrong))` when the capture is missing, is no
    /// pcap, or is cut in the middle of a frame (what was captured is kept
    /// and analysed all the same). A local write that fails stops the run
    /// ([`Self::local_failure`]).
    pub(super) fn fetch(
        &mut self,
        name: &str,
        step: &str,
    ) -> Result<Result<String, String>, SshError> {
        let Some(dir) = self.sh.dir.clone() else {
            return Ok(Ok(String::new()));
        };
        let Some(p) = self.progs.get_mut(name) else {
            return Ok(Ok(String::new()));
        };
        if p.fetched {
            return Ok(Ok(String::new()));
        }
        p.fetched = true;
        let started_by = p.step.clone();
        let remote = format!(
            "{}/{name}.pcap",
            remote::run_dir(self.host, &self.sh.run_id)
        );
        let file = format!("{}-{name}.pcap", self.host.name);
        // Through the agent as a file (`Reply::File`: sent as it lies, never
        // spooled on the host, whose disk the capture may have filled); on a
        // channel of its own once the agent stopped answering.
        let got = if self.agent.as_ref().is_some_and(|a| !a.broken) {
            self.exec_call(&remote, Reply::File, SHORT)
        } else {
            self.sess.exec(&crate::ssh::cat_cmd(&remote), None, SHORT)
        };
        let got = got.and_then(|out| {
            if out.success() {
                Ok(out.stdout)
            } else {
                Err(self.ssh_error(
                    SshErrorKind::Session,
                    format!(
                        "cannot read `{remote}`: {}",
                        whole_reason(&out.stderr_str())
                    ),
                ))
            }
        });
        match got {
            Ok(bytes) => match crate::util::write_private(&dir.join(&file), &bytes) {
                Ok(()) => {
                    self.emit(Event::CaptureSaved {
                        run: self.sh.run.clone(),
                        host: self.name(),
                        name: name.to_string(),
                        file: file.clone(),
                        bytes: bytes.len() as u64,
                        started_by: started_by.into(),
                        stopped_by: step.into(),
                    });
                    Ok(capture_whole(&bytes, &file))
                }
                Err(e) => {
                    let why = format!(
                        "cannot write `{}`: {}",
                        dir.join(&file).display(),
                        crate::util::io_reason(&e)
                    );
                    self.local_failure(&why);
                    Ok(Err(why))
                }
            },
            Err(e) => {
                self.emit(Event::Problem {
                    step: None,
                    run: self.sh.run.clone(),
                    host: Some(self.name()),
                    message: format!("capture `{name}`: {e}"),
                });
                Ok(Err(format!("missing: {}", e.message)))
            }
        }
    }

    /// How a program ended (or that it runs), and its last stderr line if any.
    pub(super) fn ended(&self, name: &str) -> (String, Option<String>) {
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
}

/// Whether a fetched pcap is whole: `Ok(N frames (B bytes) in FILE)`, or
/// what is wrong (cut in the middle of a frame, not a pcap), with what was kept.
fn capture_whole(bytes: &[u8], file: &str) -> Result<String, String> {
    match crate::capture::analyze(bytes) {
        Ok(a) => {
            let kept = format!(
                "{} frames ({} bytes) in {file}",
                a.frames.len(),
                bytes.len()
            );
            match a
                .warnings
                .iter()
                .find(|w| w.starts_with("the file ends inside"))
            {
                Some(w) => Err(format!("{w}: cut; {kept} kept")),
                None => Ok(kept),
            }
        }
        Err(e) => Err(format!("{e}; {} bytes kept in {file}", bytes.len())),
    }
}
