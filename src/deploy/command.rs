//! `labctl deploy [--bench NAME | --all]`: puts the programs on every host
//! of the selected benches, building them when needed, and nothing else —
//! through [`super::deploy_or_build`], as `check --fix` does. A spinner per
//! host while it works, then a line per host; exit codes as `check`'s.

use super::{deploy_or_build, DeployReport};
use crate::check::progress::Progress;
use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::hosts::{self, Host};
use crate::error::Error;
use crate::ssh::{self, ConnectOptions};

/// Runs `labctl deploy`.
pub fn command(g: &GlobalArgs, args: &DeployArgs) -> Result<(), Error> {
    let room = hosts::load(&g.hosts)?;
    let benches = room.select(&args.select)?;
    let hosts: Vec<&Host> = benches.iter().flat_map(|b| b.hosts.iter()).collect();
    let opts = ConnectOptions {
        accept_new: g.accept_new,
        ..ConnectOptions::default()
    };
    let progress = Progress::new(&hosts);
    let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
    let results = ssh::for_each_host(&hosts, &opts, |h, sess| {
        let i = labels.iter().position(|l| *l == h.label()).unwrap_or(0);
        let r = sess.map_err(Error::from).and_then(|s| {
            progress.set(i, "deploying");
            deploy_or_build(&s, h)
        });
        progress.done(
            i,
            match &r {
                Ok(_) => "✔ deployed",
                Err(_) => "✘ failed",
            },
        );
        r
    });
    progress.finish();
    let mut failed = Vec::new();
    for (label, r) in labels.iter().zip(&results) {
        match r {
            Ok(d) => println!(
                "{}",
                crate::style::marks(&format!("✔ {label}  {}", said(d)))
            ),
            Err(e) => {
                println!("{}", crate::style::marks(&format!("✘ {label}  {e}")));
                failed.push(e);
            }
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
