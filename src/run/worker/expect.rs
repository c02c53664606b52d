//! Expectations on a program's output, matched as its lines arrive: the
//! worker waits on the agent's channel (no request, no polling of the
//! host) and looks at each new line from the expectation's cursor on
//! (skipping lines an earlier expectation matched). A
//! match that did not come is decided when the program's output has ended
//! (every line is in) or its window is over. Also the foreground programs
//! (`run`), whose output comes with their reply.

use std::time::{Duration, Instant};

use regex::Regex;

use super::agent::{Lines, Prog, RECHECK};
use super::{OpsResult, Worker, SHORT};
use crate::lab::model::Stream;
use crate::lab::plan::{secs, stream_name, PlanCheck, RunOp};
use crate::remote::ProgState;
use crate::run::event::{Event, Stream as Output};
use crate::ssh::SshError;

impl Worker<'_> {
    pub(super) fn expect(
        &mut self,
        step: &str,
        what: &str,
        name: &str,
        stream: Stream,
        check: &PlanCheck,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let (re, wait) = match check {
            PlanCheck::Match { regex, within, .. } => (Some(regex.regex()), *within),
            PlanCheck::Absent { regex, window, .. } => (Some(regex.regex()), *window),
            PlanCheck::Exit { within, .. } => (None, *within),
        };
        let deadline = t0 + wait;
        // Lines already looked at (each line is matched once, as it arrives).
        let mut scanned = (0, 0);
        // The window is over, and what had come was looked at once more.
        let mut late = false;
        loop {
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
            let absent = matches!(check, PlanCheck::Absent { .. });
            let hit = re.and_then(|re| find(p, stream, re, absent, &mut scanned));
            match check {
                PlanCheck::Match { .. } => {
                    if let Some((err, i)) = hit {
                        let lines = if err { &mut p.err } else { &mut p.out };
                        lines.consume(i);
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
                    ProgState::Exited(_) | ProgState::Gone if settled(p) => {
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
                    _ => {}
                },
            }
            let drained = self.progs.get(name).is_some_and(|p| p.drained);
            if drained && !matches!(check, PlanCheck::Absent { .. }) {
                // Every line it will ever print is in.
                return Ok(self.missed(step, what, name, stream, check, t0));
            }
            let now = Instant::now();
            // A host that went quiet is waited for (until it is heard again or given up
            // as silent): its missing lines are no answer.
            if now >= deadline && !self.slow() && !late {
                // Once more with what came meanwhile (a labctl that was stopped learns
                // first whether its hold is still its own).
                late = true;
                self.pump_now()?;
                continue;
            }
            if now >= deadline && !self.slow() {
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
            if self.stopping() {
                return Ok(OpsResult::Interrupted);
            }
            // To the deadline itself (an `absent` window lasts what it says), never a busy loop.
            let left = deadline.saturating_duration_since(now);
            self.pump(RECHECK.min(left.max(Duration::from_millis(1))))?;
        }
    }

    /// The lines since the last one matched (the last few) on the watched stream(s).
    fn recent(&self, name: &str, stream: Stream) -> Vec<String> {
        let Some(p) = self.progs.get(name) else {
            return Vec::new();
        };
        let mut v: Vec<(f64, String)> = Vec::new();
        if stream != Stream::Stderr {
            v.extend(p.out.lines.from(p.out.after).cloned());
        }
        if stream != Stream::Stdout {
            v.extend(p.err.lines.from(p.err.after).cloned());
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
        // A capture that did not start: tcpdump's (or sudo's) words may name why.
        if !alive && self.progs.get(name).is_some_and(|p| p.capture) {
            if let Some(c) = crate::hostops::why::explain("tcpdump", self.host, &seen.join("\n")) {
                detail.push_str(&format!(" — {}; fix: {}", c.what, c.hint));
            }
        }
        self.failed(step, what, Some(name), detail, seen.join("\n"), t0)
    }

    /// A foreground program (`run`): its output comes with the reply.
    pub(super) fn run_fg(
        &mut self,
        step: &str,
        what: &str,
        run: &RunOp,
        t0: Instant,
    ) -> Result<OpsResult, SshError> {
        let RunOp {
            timeout,
            exit,
            regex,
            pattern,
            label,
            ..
        } = run;
        let call = run.call();
        let argv = run.argv();
        let argv = argv.as_str();
        let out = self.exec_call_interruptible(&call, *timeout + SHORT)?;
        // The host's time, as the lines it stamps itself carry.
        let ts = self.host_now();
        let mut lines = Vec::new();
        for (stream, bytes) in [(Output::Stdout, &out.stdout), (Output::Stderr, &out.stderr)] {
            for l in String::from_utf8_lossy(bytes).lines() {
                self.emit(Event::Output {
                    run: self.sh.run.clone(),
                    host: self.name(),
                    program: label.to_string(),
                    stream,
                    ts,
                    line: l.to_string(),
                });
                lines.push(l.to_string());
            }
        }
        if self.stopping() {
            return Ok(OpsResult::Interrupted);
        }
        let re: Option<&Regex> = regex.as_ref().map(|r| r.regex());
        let hit = re.and_then(|re| lines.iter().find(|l| re.is_match(l)));
        let status_ok = out.status == Some(*exit) && out.signal.is_none();
        let pattern_ok = re.is_none() || hit.is_some();
        if status_ok && pattern_ok {
            let seen = match hit {
                Some(l) => format!("exited with status {exit}: {l:?}"),
                None => format!("exited with status {exit}"),
            };
            return Ok(self.passed(step, what, Some(argv), seen, t0));
        }
        let got = if out.status == Some(124) {
            format!(
                "it was still running after {} and was stopped",
                secs(*timeout)
            )
        } else {
            format!("it {}", out.describe())
        };
        let want = match pattern {
            Some(p) => format!("expected exit status {exit} and /{p}/"),
            None => format!("expected exit status {exit}"),
        };
        let last: Vec<String> = lines.iter().rev().take(3).rev().cloned().collect();
        let detail = format!("{want}; {got}; saw: {}", quote_all(&last));
        Ok(self.failed(step, what, Some(argv), detail, last.join("\n"), t0))
    }
}

/// Ended, and its last lines are in (or had [`super::SETTLE`] to come).
fn settled(p: &Prog) -> bool {
    p.drained || p.ended_at.is_some_and(|t| t.elapsed() >= super::SETTLE)
}

/// The first line matching `re` on the watched stream(s) among those not
/// yet `scanned` (stdout, stderr: indexes from the cursors on, moved past
/// what was looked at) and not matched before: (is stderr, index). An
/// `absent` check looks only after the last line matched.
fn find(
    p: &Prog,
    stream: Stream,
    re: &Regex,
    absent: bool,
    scanned: &mut (usize, usize),
) -> Option<(bool, usize)> {
    let first = |l: &Lines, from: &mut usize| {
        let floor = if absent { l.after } else { l.cursor };
        let start = (*from).max(floor).max(l.lines.first()).min(l.lines.len());
        let hit = l
            .lines
            .from(start)
            .enumerate()
            .position(|(k, (_, t))| !l.matched.contains(&(start + k)) && re.is_match(t))
            .map(|i| (start + i, l.lines[start + i].0));
        *from = hit.map_or(l.lines.len(), |(i, _)| i);
        hit
    };
    let out = if stream != Stream::Stderr {
        first(&p.out, &mut scanned.0)
    } else {
        None
    };
    let err = if stream != Stream::Stdout {
        first(&p.err, &mut scanned.1)
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
