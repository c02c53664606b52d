//! `labctl deploy [--bench NAME | --all]`: puts the programs on every host
//! of the selected benches, building them when needed, and nothing else —
//! through [`super::deploy_set`] (the program set as `check` chooses it:
//! `--programs`, hosts.toml, the lab's own), as `check --fix` does. Like `check --fix` it
//! holds every host first ([`crate::hold`]; held elsewhere: nothing changed,
//! exit 5). A spinner per host while it works, then a line per host; exit
//! codes as `check`'s.

use super::{deploy_set, DeployReport};
use crate::check::progress::Progress;
use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::hosts::{self, Host};
use crate::error::Error;
use crate::hold;
use crate::ssh::{self, ConnectOptions};

/// What happened on one host.
enum HostResult {
    Done(Result<DeployReport, Error>),
    /// Not changed: this host (`Some`: held by another labctl) or another one was not held.
    NotHeld(Option<Error>),
}

/// Runs `labctl deploy`.
pub fn command(g: &GlobalArgs, args: &DeployArgs) -> Result<(), Error> {
    let room = hosts::load(&g.hosts)?;
    let benches = room.select(&args.select)?;
    let hosts: Vec<&Host> = benches.iter().flat_map(|b| b.hosts.iter()).collect();
    // The program set, chosen as `check` chooses it (flag, hosts.toml, the lab's own).
    let set = crate::lab::set::for_check(
        &room,
        &g.hosts,
        &g.lab,
        (&args.select).into(),
        args.programs.as_deref(),
    )?;
    let opts = ConnectOptions {
        accept_new: g.accept_new,
        ..ConnectOptions::default()
    };
    let progress = Progress::new(&hosts);
    let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
    let gate = hold::Gate::new(hosts.len());
    let results = ssh::for_each_host(&hosts, &opts, |h, sess| {
        let i = labels.iter().position(|l| *l == h.label()).unwrap_or(0);
        let s = match sess {
            Ok(s) => s,
            Err(e) => {
                gate.pass(true);
                progress.done(i, "✘ unreachable");
                return HostResult::Done(Err(e.into()));
            }
        };
        // Every host held (one labctl at a time) before any is changed.
        let held = hold::take(&s, h, "deploy");
        let all = gate.pass(!matches!(held, Err(Error::Busy(_))));
        let r = match held {
            Err(e @ Error::Busy(_)) => HostResult::NotHeld(Some(e)),
            Err(e) => HostResult::Done(Err(e)),
            Ok(_) if !all => HostResult::NotHeld(None),
            Ok(held) => {
                if let Some(old) = &held.took_over {
                    crate::util::err_line(&format!("! {}", hold::took_over_warning(h, old)));
                }
                progress.set(i, "deploying");
                let r = deploy_set(&s, h, &set);
                held.release();
                HostResult::Done(r)
            }
        };
        progress.done(
            i,
            match &r {
                HostResult::Done(Ok(_)) => "✔ deployed",
                HostResult::Done(Err(_)) => "✘ failed",
                HostResult::NotHeld(_) => "- not held",
            },
        );
        r
    });
    progress.finish();
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
    let mut failed = Vec::new();
    for (label, r) in labels.iter().zip(&results) {
        match r {
            HostResult::Done(Ok(d)) => {
                crate::util::out_line(&crate::style::marks(&format!("✔ {label}  {}", said(d))))
            }
            HostResult::Done(Err(e)) => {
                crate::util::out_line(&crate::style::marks(&format!("✘ {label}  {e}")));
                failed.push(e);
            }
            HostResult::NotHeld(_) => {}
        }
    }
    outcome(hosts.len(), &failed)
}

/// What happened on one host, in a few words.
fn said(d: &DeployReport) -> String {
    if d.uploaded.is_empty() {
        format!(
            "up to date: {} programs for `{}` already there (sha-256)",
            d.unchanged.len(),
            d.triple
        )
    } else {
        format!(
            "uploaded {} for `{}`{}",
            d.uploaded.join(", "),
            d.triple,
            match d.unchanged.len() {
                0 => String::new(),
                n => format!("; {n} already there"),
            }
        )
    }
}

/// Exit status, as `check`'s: 0 when every host has the programs; 3 when no
/// host could be reached; 4 when this machine lacks the build; else 1.
fn outcome(n: usize, failed: &[&Error]) -> Result<(), Error> {
    if failed.is_empty() {
        return Ok(());
    }
    if let Some(e) = failed.iter().find(|e| matches!(e, Error::Local(_))) {
        return Err(Error::Local(e.to_string()));
    }
    if failed.len() == n && failed.iter().all(|e| matches!(e, Error::Host(_))) {
        return Err(Error::Host(format!(
            "no host could be reached or deployed to ({n} tried)"
        )));
    }
    Err(Error::Failed(format!(
        "{} of {n} host{} not deployed",
        failed.len(),
        if n == 1 { " is" } else { "s are" }
    )))
}
