//! `labctl clean`: on every host of the selected benches, stops every
//! program labctl started (the groups registered in `<workdir>/procs`),
//! verifies they are gone, and removes the remote run directories a killed
//! labctl left. Nothing else on the host is touched, unless
//! `--restore-network` asks it to undo `configure` too (labctl's
//! NetworkManager profile deleted, or the lab address `ip` gave removed:
//! [`hostops::restore_network_cmd`]). It holds every host
//! first ([`crate::hold`]): while another labctl holds one, it changes
//! nothing anywhere and exits with code 5, naming the holder.
//!
//! `--json`: a `host_cleaned` line per host and a last `clean_finished`
//! ([`CleanEvent`], in the style of a run's events; schema in
//! `docs/events-json-schema.json`) on stdout; the human lines on stderr.

use std::time::Duration;

use serde::Serialize;

use super::{parse_stop_output, stop_all_cmd, Stopped};
use crate::config::hosts::{self, BenchChoice, Host};
use crate::config::Given;
use crate::error::Error;
use crate::hold;
use crate::hostops;
use crate::ssh::{self, ConnectOptions};

/// What happened on one host.
enum HostResult {
    Unreachable(String),
    /// Another labctl holds this host (`Error::Busy`), or one of the others.
    NotHeld(Option<Error>),
    Done {
        stopped: Vec<String>,
        alive: Vec<String>,
        groups: Vec<Stopped>,
        /// `--restore-network`: what was undone, or why it failed.
        network: Option<Result<String, String>>,
    },
}

/// `clean --json`'s lines.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum CleanEvent<'a> {
    /// One host: the groups stopped (`alive`: survived SIGKILL), or why it could not be cleaned.
    HostCleaned {
        host: String,
        ok: bool,
        stopped: &'a [Stopped],
        error: Option<&'a str>,
        /// `--restore-network`: what was undone, or why it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        network: Option<&'a str>,
    },
    CleanFinished {
        ok: bool,
        hosts: usize,
        unreachable: usize,
        survived: usize,
    },
}

/// What `labctl clean` was asked.
#[derive(Debug, Clone)]
pub(crate) struct CleanOptions {
    pub select: BenchChoice,
    /// Also undo `configure` on the lab interface.
    pub restore_network: bool,
    /// Take the bench from a stale holder.
    pub take_over: bool,
    /// JSON lines on stdout; the human lines go to stderr.
    pub json: bool,
}

/// `labctl clean`.
pub(crate) fn command(g: &Given, args: &CleanOptions) -> Result<(), Error> {
    let room = hosts::load(&g.hosts)?;
    let benches = room.select(args.select.clone())?;
    let hosts: Vec<&Host> = benches.iter().flat_map(|b| b.hosts.iter()).collect();
    let opts = ConnectOptions {
        accept_new: g.accept_new,
        ..ConnectOptions::default()
    };
    let gate = hold::Gate::new(hosts.len());
    let results = ssh::for_each_host(&hosts, &opts, |h, sess| {
        let sess = match sess {
            Ok(s) => s,
            Err(e) => {
                gate.pass(true);
                return HostResult::Unreachable(e.to_string());
            }
        };
        // Every host held before any is cleaned.
        let held = hold::take_with(&sess, h, "clean", args.take_over);
        let all = gate.pass(!matches!(held, Err(Error::Busy(_))));
        let held = match held {
            Ok(held) => held,
            Err(e @ Error::Busy(_)) => return HostResult::NotHeld(Some(e)),
            Err(e) => return HostResult::Unreachable(e.to_string()),
        };
        if !all {
            return HostResult::NotHeld(None);
        }
        if let Some(old) = &held.took_over {
            let line = format!("! {}", hold::took_over_warning(h, old));
            if args.json {
                crate::util::err_line(&line);
            } else {
                crate::util::out_line(&line);
            }
        }
        let out = match sess.exec(&stop_all_cmd(h), None, Duration::from_secs(30)) {
            Ok(o) => o,
            Err(e) => return HostResult::Unreachable(e.to_string()),
        };
        // The run directories killed labctls left (those a note names stay: `lc_tidy_runs`).
        let _ = sess.exec(
            &super::script(h, "", "lc_tidy_runs"),
            None,
            Duration::from_secs(30),
        );
        let mut r = (Vec::new(), Vec::new());
        let groups = parse_stop_output(&out.stdout_str());
        for s in &groups {
            let text = format!("`{}` (step {}, run {})", s.name, s.step, s.run);
            if s.alive {
                r.1.push(text);
            } else {
                r.0.push(text);
            }
        }
        let network = args.restore_network.then(|| restore_network(&sess, h));
        held.release();
        HostResult::Done {
            stopped: r.0,
            alive: r.1,
            groups,
            network,
        }
    });
    if gate.refused() {
        let busy: Vec<String> = results
            .into_iter()
            .filter_map(|r| match r {
                HostResult::NotHeld(Some(e)) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        return Err(hold::refusal(&busy));
    }
    // With --json the human lines go to stderr.
    let say = |line: String| {
        if args.json {
            crate::util::err_line(&line);
        } else {
            crate::util::out_line(&line);
        }
    };
    let (mut unreachable, mut survived, mut unrestored) = (0, 0, 0);
    for (h, r) in hosts.iter().zip(results) {
        match r {
            HostResult::NotHeld(_) => {}
            HostResult::Unreachable(e) => {
                unreachable += 1;
                say(format!("✘ {}  {e}", h.label()));
                if args.json {
                    crate::util::json_line(&CleanEvent::HostCleaned {
                        host: h.label(),
                        ok: false,
                        stopped: &[],
                        error: Some(&e),
                        network: None,
                    });
                }
            }
            HostResult::Done {
                stopped,
                alive,
                groups,
                network,
            } => {
                if args.json {
                    let net = network.as_ref().map(|r| match r {
                        Ok(s) | Err(s) => s.as_str(),
                    });
                    crate::util::json_line(&CleanEvent::HostCleaned {
                        host: h.label(),
                        ok: alive.is_empty() && !matches!(network, Some(Err(_))),
                        stopped: &groups,
                        error: None,
                        network: net,
                    });
                }
                if stopped.is_empty() && alive.is_empty() {
                    say(format!(
                        "✔ {}  nothing labctl started is running",
                        h.label()
                    ));
                }
                if !stopped.is_empty() {
                    say(format!("✔ {}  stopped {}", h.label(), stopped.join(", ")));
                }
                match &network {
                    Some(Ok(done)) => say(format!("✔ {}  network: {done}", h.label())),
                    Some(Err(e)) => {
                        unrestored += 1;
                        say(format!("✘ {}  network: {e}", h.label()));
                    }
                    None => {}
                }
                if !alive.is_empty() {
                    survived += 1;
                    say(format!(
                        "✘ {}  still running after SIGKILL: {}",
                        h.label(),
                        alive.join(", ")
                    ));
                }
            }
        }
    }
    if args.json {
        crate::util::json_line(&CleanEvent::CleanFinished {
            ok: unreachable == 0 && survived == 0,
            hosts: hosts.len(),
            unreachable,
            survived,
        });
    }
    if unreachable > 0 {
        return Err(Error::Host(format!(
            "{unreachable} host{} could not be cleaned",
            if unreachable == 1 { "" } else { "s" }
        )));
    }
    if survived > 0 {
        return Err(Error::Failed(format!(
            "programs survived on {survived} host{}",
            if survived == 1 { "" } else { "s" }
        )));
    }
    if unrestored > 0 {
        return Err(Error::Failed(format!(
            "the network could not be restored on {unrestored} host{}",
            if unrestored == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// `--restore-network` on one host: [`hostops::restore_network_cmd`], in words.
fn restore_network(sess: &ssh::Session, h: &Host) -> Result<String, String> {
    match sess.exec(
        &hostops::restore_network_cmd(h),
        None,
        Duration::from_secs(30),
    ) {
        Ok(o) if o.success() => Ok(hostops::parse_restore(&o.stdout_str()).describe(h)),
        Ok(o) => Err(format!(
            "undoing `configure` {}: {}",
            o.describe(),
            ssh::whole_reason(&o.stderr_str())
        )),
        Err(e) => Err(e.to_string()),
    }
}
