//! Which program set a lab runs ([`crate::programs`]): `--programs NAME`,
//! else the hosts file's `programs = "NAME"`, else the lab's own default;
//! resolved while the inputs load ([`super::Inputs::load_with_set`]), with
//! every program the lab starts or runs checked to be in it. Here, not in
//! `programs`, so that the sets know nothing of labs.

use std::path::Path;

use super::model::{ActionKind, Lab};
use crate::config::hosts::{Room, SetChoice};
use crate::config::tree::ticked;
use crate::error::{Diagnostic, Diagnostics, Error};
use crate::programs::{ProgramSet, SETS};

/// The set a command runs: `cli` (`--programs`), else the hosts file's
/// top-level `programs` (`hosts`), else the lab's own default. Every program
/// the lab starts or runs must be in it; each problem is located. Part of
/// loading the inputs ([`super::Inputs::load_with_set`]).
pub fn choose(
    lab: &Lab,
    hosts: Option<&SetChoice>,
    cli: Option<&str>,
) -> Result<ProgramSet, Error> {
    let mut diags = Diagnostics::default();
    let (name, origin) = match (cli, hosts) {
        (Some(n), _) => (Some(n.to_string()), None),
        (None, Some(c)) => (Some(c.name.clone()), Some(c.at.clone())),
        (None, None) => (None, None),
    };
    let mut set = match name.as_deref() {
        None => lab.programs.clone(),
        Some("rust") => ProgramSet::rust(),
        Some("python") => ProgramSet::python(),
        Some("lab") if lab.programs.name == "lab" => lab.programs.clone(),
        Some(other) => {
            let known = if lab.programs.name == "lab" {
                &SETS[..]
            } else {
                &SETS[..2]
            };
            let msg = if other == "lab" {
                "program set `lab`: the lab file has no `[programs]` table".to_string()
            } else {
                format!("unknown program set `{other}`")
            };
            let hint = format!("the program sets are {}", ticked(known));
            match &origin {
                Some(d) => {
                    let mut d: Diagnostic = d.clone();
                    d.message = msg;
                    d.hint = Some(hint);
                    diags.push(d);
                }
                _ => return Err(Error::Usage(format!("`--programs`: {msg}; {hint}"))),
            }
            return Err(Error::Input(diags));
        }
    };
    if origin.is_some() {
        set.origin = origin;
    }
    for step in &lab.steps {
        for a in &step.actions {
            let (program, hosts) = match &a.kind {
                ActionKind::Start { program, host, .. } => (program, std::slice::from_ref(host)),
                ActionKind::Run { program, hosts, .. } => (program, hosts.as_slice()),
                _ => continue,
            };
            if set.programs.contains_key(program) {
                set.runs_on
                    .entry(program.clone())
                    .or_default()
                    .extend(hosts.iter().cloned());
            } else {
                let names: Vec<&str> = set.programs.keys().map(String::as_str).collect();
                diags.push(lab.source.diag_hint(
                    a.span.clone(),
                    format!(
                        "step `{}` runs `{program}`, which program set `{}` does not have",
                        step.id, set.name
                    ),
                    format!("set `{}` has {}", set.name, ticked(&names)),
                ));
            }
        }
    }
    diags.into_result(set)
}

/// The set `labctl check` checks for: like [`choose`] (so a lab with its
/// own `[programs]` is checked for them by default), but the lab file is not
/// read for `rust` and `python`, nor when there is none. `room` is the hosts
/// file (at `hosts_path`) as loaded.
pub fn for_check(
    room: &Room,
    hosts_path: &Path,
    lab_path: &Path,
    benches: crate::config::hosts::BenchChoice,
    cli: Option<&str>,
) -> Result<ProgramSet, Error> {
    let name = cli.or(room.programs.as_ref().map(|c| c.name.as_str()));
    match name {
        // No choice: the lab's own set when it has one, as `run` takes it.
        None if !lab_path.exists() => Ok(ProgramSet::rust()),
        Some("rust") => Ok(ProgramSet::rust()),
        Some("python") => Ok(ProgramSet::python()),
        None | Some(_) => {
            let inputs = super::Inputs::load_with_set(hosts_path, lab_path, benches, cli)?;
            Ok(inputs.lab.programs)
        }
    }
}
