//! `labctl clean`: on every host of the selected benches, stops every
//! program labctl started (the groups registered in `<workdir>/procs`),
//! verifies they are gone, and removes the remote run directories a killed
//! labctl left. Nothing else on the host is touched.

use std::time::Duration;

use super::{parse_stop_output, stop_all_cmd};
use crate::cli::{CleanArgs, GlobalArgs};
use crate::config::hosts::{self, Host};
use crate::error::Error;
use crate::ssh::{self, ConnectOptions};
use crate::util::{out_line, shell_quote};

/// What happened on one host.
enum HostResult {
    Unreachable(String),
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
    let results = ssh::for_each_host(&hosts, &opts, |h, sess| {
        let sess = match sess {
            Ok(s) => s,
            Err(e) => return HostResult::Unreachable(e.to_string()),
        };
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
        HostResult::Done {
            stopped: r.0,
            alive: r.1,
        }
    });
    let (mut unreachable, mut survived) = (0, 0);
    for (h, r) in hosts.iter().zip(results) {
        match r {
            HostResult::Unreachable(e) => {
                unreachable += 1;
                out_line(&format!("✘ {}  {e}", h.label()));
            }
            HostResult::Done { stopped, alive } => {
                if stopped.is_empty() && alive.is_empty() {
                    out_line(&format!(
                        "✔ {}  nothing labctl started is running",
                        h.label()
                    ));
                }
                if !stopped.is_empty() {
                    out_line(&format!("✔ {}  stopped {}", h.label(), stopped.join(", ")));
                }
                if !alive.is_empty() {
                    survived += 1;
                    out_line(&format!(
                        "✘ {}  still running after SIGKILL: {}",
                        h.label(),
                        alive.join(", ")
                    ));
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
