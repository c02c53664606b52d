//! The end of the run on one host — normal, failed or interrupted: stop
//! every program of the run (through the agent, or a plain channel without
//! it), wait for their last lines, fetch the captures not yet fetched, and
//! let the agent remove the run's files on the host.

use std::time::Duration;

use super::{Worker, SHORT};
use crate::remote::{self, ProgState, Reply};
use crate::run::event::Event;

/// How long the end waits for the programs' last lines.
const LAST_LINES: Duration = Duration::from_secs(2);

impl Worker<'_> {
    /// Returns what is wrong with the captures fetched here (each named with
    /// its host): the run does not pass with them.
    pub(super) fn finish(&mut self) -> Vec<String> {
        if self.taken() {
            // Another labctl holds this host now: nothing of its run is touched.
            return Vec::new();
        }
        // The captures that had already ended before the run's end stopped
        // them (their tcpdump gone: killed, or the host's disk full); asked
        // before the stop below ends every one of them.
        let ended_before: Vec<String> = self
            .progs
            .iter()
            .filter(|(_, p)| p.capture && !p.fetched && p.state != ProgState::Alive)
            .map(|(n, _)| n.clone())
            .collect();
        let stop = remote::stop_run_cmd(self.host, &self.sh.run_id);
        let out = match self.exec_call("lc_stop_run", Reply::Lines, SHORT) {
            Ok(o) => Ok(o),
            // Without the agent, a plain channel does the same.
            Err(_) => self.exec(&stop, SHORT),
        };
        match out {
            Ok(out) => {
                for s in remote::parse_stop_output(&out.stdout_str()) {
                    // A program its step stopped (a capture that had flushed, only still
                    // exiting) was stopped by that step, not by the end of the run.
                    if !s.alive && self.progs.get(&s.name).is_some_and(|p| p.stopped) {
                        continue;
                    }
                    self.emit(Event::ProgramStopped {
                        run: self.sh.run.clone(),
                        host: self.name(),
                        name: s.name.clone(),
                        step: s.step.as_str().into(),
                        alive: s.alive,
                    });
                    if s.alive {
                        self.emit(Event::Problem {
                            step: None,
                            run: self.sh.run.clone(),
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
                step: None,
                run: self.sh.run.clone(),
                host: Some(self.name()),
                message: format!("stopping the run's programs: {e}"),
            }),
        }
        let all: Vec<String> = self.progs.keys().cloned().collect();
        self.wait_drained(&all, LAST_LINES);
        let pending: Vec<String> = self
            .progs
            .iter()
            .filter(|(_, p)| p.capture && !p.fetched)
            .map(|(n, _)| n.clone())
            .collect();
        let mut problems = Vec::new();
        for c in pending {
            let ended = ended_before.contains(&c);
            let kept = self.fetch(&c, "end");
            let said = self.ended(&c).1;
            match kept {
                Ok(Err(p)) => {
                    problems.push(format!("host `{}`: capture `{c}`: {p}", self.host.label()))
                }
                Ok(Ok(k)) if ended && !self.stopping() => problems.push(format!(
                    "host `{}`: capture `{c}` ended before the run's end{}; {k} kept",
                    self.host.label(),
                    said.map(|l| format!(" (it said: {l:?})"))
                        .unwrap_or_default()
                )),
                _ => {}
            }
        }
        // Everything is fetched: the agent removes the run's remote files when it ends.
        let done = self
            .exec_call("lc_done", Reply::Bytes, SHORT)
            .is_ok_and(|o| o.success());
        if let Some(a) = self.agent.take() {
            let _ = a.ch.close(Duration::from_secs(10));
        }
        if !done {
            let _ = self.exec(
                &remote::remove_run_dir_cmd(self.host, &self.sh.run_id),
                SHORT,
            );
        }
        problems
    }
}
