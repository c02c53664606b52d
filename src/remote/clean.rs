//! `labctl clean`: on every host of the selected benches, stops every
//! program labctl started (the groups registered in `<workdir>/procs`),
//! verifies they are gone, and removes the remote run directories a killed
//! labctl left. Nothing else on the host is touched. It holds every host
//! first ([`crate::hold`]): while another labctl holds one, it changes
//! nothing anywhere and exits with code 5, naming the holder.

use std::time::Duration;

use super::{parse_stop_output, stop_all_cmd};
use crate::cli::{CleanArgs, GlobalArgs};
use crate::config::hosts::{self, Host};
use crate::error::Error;
use crate::hold;
use crate::ssh::{self, ConnectOptions};
use crate::util::shell_quote;

/// What happened on one host.
enum HostResult {
    Unreachable(String),
    /// Another labctl holds this host (`Error::Busy`), or one of the others.
    NotHeld(Option<Error>),
    Done {
        stopped: Vec<String>,
        alive: Vec<String>,
    },
}

pub fn command(g: &GlobalArgs, args: &CleanArgs) -> Result<(), Error> {
    let room = hosts::load(&g.hosts)?;
    let benches = room.select(&args.select)?;
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
        let held = hold::take(&sess, h, "clean");
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
            println!("! {}", hold::took_over_warning(h, old));
        }
        let out = match sess.exec(&stop_all_cmd(h), None, Duration::from_secs(30)) {
            Ok(o) => o,
            Err(e) => return HostResult::Unreachable(e.to_string()),
        };
        let runs = format!("{}/runs", h.workdir.trim_end_matches('/'));
        let _ = sess.exec(
            &format!("rm -rf -- {}", shell_quote(&runs)),
            None,
            Duration::from_secs(30),
        );
        let mut r = (Vec::new(), Vec::new());
        for s in parse_stop_output(&out.stdout_str()) {
            let text = format!("`{}` (step {}, run {})", s.name, s.step, s.run);
            if s.alive {
                r.1.push(text);
            } else {
                r.0.push(text);
            }
        }
        held.release();
        HostResult::Done {
            stopped: r.0,
            alive: r.1,
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
    let (mut unreachable, mut survived) = (0, 0);
    for (h, r) in hosts.iter().zip(results) {
        match r {
            HostResult::NotHeld(_) => {}
            HostResult::Unreachable(e) => {
                unreachable += 1;
                println!("✘ {}  {e}", h.label());
            }
            HostResult::Done { stopped, alive } => {
                if stopped.is_empty() && alive.is_empty() {
                    println!("✔ {}  nothing labctl started is running", h.label());
                }
                if !stopped.is_empty() {
                    println!("✔ {}  stopped {}", h.label(), stopped.join(", "));
                }
                if !alive.is_empty() {
                    survived += 1;
                    println!(
                        "✘ {}  still running after SIGKILL: {}",
                        h.label(),
                        alive.join(", ")
                    );
                }
            }
        }
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
    Ok(())
}
