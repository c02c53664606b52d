//! The lab: its types ([`model`]), read from the file's format
//! (`format.rs`, `format/action.rs`, `format/question.rs`) and checked
//! across steps (`validate.rs`); templates ([`template`]); the evidence
//! questions declare ([`evidence`]); which steps a command runs
//! ([`select`]); and the [`plan::Plan`] the executor runs. Plus the
//! `labctl list` and `labctl plan` commands, which execute nothing.

pub mod evidence;
mod format;
pub mod model;
pub mod plan;
pub mod select;
pub mod set;
pub mod template;
mod validate;

use std::path::Path;

use crate::config::hosts::{self, Bench, BenchChoice, Room};
use crate::config::{tree, Source};
use crate::error::Error;

pub use model::Lab;
pub use plan::Plan;

/// The hosts file and the lab file, both validated (the lab against the
/// host names of the selected benches), and the program set the lab runs
/// (`lab.programs`: resolved by [`Inputs::load_with_set`], the lab's own
/// default otherwise).
pub struct Inputs {
    pub room: Room,
    /// Indexes into `room.benches`.
    pub benches: Vec<usize>,
    pub lab: Lab,
}

impl Inputs {
    /// Reads and validates the hosts file `hosts_path` (the benches `choice`
    /// names) and the lab file `lab_path`.
    pub fn load(
        hosts_path: &Path,
        lab_path: &Path,
        choice: impl Into<BenchChoice>,
    ) -> Result<Inputs, Error> {
        let choice = choice.into();
        // Both files are read before reporting, so one pass shows every input error.
        let room = hosts::load(hosts_path);
        let (room, names) = match room {
            Ok(room) => {
                let benches: Vec<usize> = {
                    let chosen = room.select(choice)?;
                    room.benches
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| chosen.iter().any(|c| std::ptr::eq(*c, *b)))
                        .map(|(i, _)| i)
                        .collect()
                };
                let mut names: Vec<String> = Vec::new();
                for &i in &benches {
                    for h in &room.benches[i].hosts {
                        if !names.contains(&h.name) {
                            names.push(h.name.clone());
                        }
                    }
                }
                (Ok((room, benches)), names)
            }
            Err(e) => (Err(e), declared_host_names(hosts_path)),
        };
        // A broken hosts file that still names its hosts: the lab is checked
        // against them. Without any host name, the lab's hosts, templates and
        // `on`s cannot be judged, so only its syntax is (no made-up errors).
        let lab = if room.is_ok() || !names.is_empty() {
            Lab::load(lab_path, &names).map(Some)
        } else {
            Source::read(lab_path).and_then(|s| tree::parse(&s).map(|_| None))
        };
        match (room, lab) {
            (Ok((room, benches)), Ok(Some(lab))) => Ok(Inputs { room, benches, lab }),
            (Err(Error::Input(mut a)), Err(Error::Input(b))) => {
                a.extend(b);
                Err(Error::Input(a))
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(_), Ok(None)) => unreachable!("a valid hosts file always has its lab loaded"),
        }
    }

    /// [`Inputs::load`], with the program set the lab runs resolved:
    /// `programs` (`--programs`), else the hosts file's `programs`, else the
    /// lab's own ([`set::choose`]). What `plan`, `run` and `check` use.
    pub fn load_with_set(
        hosts_path: &Path,
        lab_path: &Path,
        choice: impl Into<BenchChoice>,
        programs: Option<&str>,
    ) -> Result<Inputs, Error> {
        let mut inputs = Inputs::load(hosts_path, lab_path, choice)?;
        inputs.lab.programs = set::choose(&inputs.lab, inputs.room.programs.as_ref(), programs)?;
        Ok(inputs)
    }

    pub fn benches(&self) -> impl Iterator<Item = &Bench> {
        self.benches.iter().map(|&i| &self.room.benches[i])
    }
}

/// The host names a hosts file declares (`[hosts.X]`, `[benches.N.hosts.X]`),
/// read leniently from a file that failed validation; empty if it is not
/// TOML or names a host in a way that was refused.
fn declared_host_names(path: &Path) -> Vec<String> {
    let Ok(root) = Source::read(path).and_then(|s| tree::parse(&s)) else {
        return Vec::new();
    };
    let top = root.entries();
    let mut names: Vec<String> = Vec::new();
    let mut add = |hosts: Option<&tree::Node>| {
        for e in hosts.map_or(&[][..], tree::Node::entries) {
            if !names.contains(&e.key) {
                names.push(e.key.clone());
            }
        }
    };
    add(tree::get(top, "hosts"));
    for bench in tree::get(top, "benches").map_or(&[][..], tree::Node::entries) {
        add(tree::get(bench.node.entries(), "hosts"));
    }
    // An unusable name was reported; the lab's references to it would only be noise.
    if !names.iter().all(|n| hosts::usable_name(n)) {
        names.clear();
    }
    names
}

/// A run id: `<UTC time>-<lab name>` (with the bench in a room), e.g. `20250601T101500Z-sockets`.
pub fn run_id(lab: &str, bench: Option<&str>) -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = now.format(&fmt).unwrap_or_else(|_| "run".to_string());
    match bench {
        Some(b) => format!("{t}-{lab}-{b}"),
        None => format!("{t}-{lab}"),
    }
}

/// `labctl list`: one line per step: id, hosts, title, needs.
pub fn list_command(hosts_path: &Path, lab_path: &Path) -> Result<(), Error> {
    let inputs = Inputs::load(hosts_path, lab_path, BenchChoice::All)?;
    let lab = &inputs.lab;
    let w = lab.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let hw = lab
        .steps
        .iter()
        .map(|s| s.hosts.join(",").len())
        .max()
        .unwrap_or(0);
    for i in lab.run_order() {
        let s = &lab.steps[i];
        let needs = if s.needs.is_empty() {
            String::new()
        } else {
            format!("  (needs {})", s.needs.join(", "))
        };
        crate::util::out_line(&format!(
            "{:w$}  {:hw$}  {}{needs}",
            s.id,
            s.hosts.join(","),
            crate::util::show_controls(&s.title, false)
        ));
    }
    Ok(())
}

/// `labctl plan`: the exact commands per step and host; nothing is executed.
pub fn plan_command(
    hosts_path: &Path,
    lab_path: &Path,
    benches: BenchChoice,
    steps: select::StepChoice,
    programs: Option<&str>,
) -> Result<(), Error> {
    let inputs = Inputs::load_with_set(hosts_path, lab_path, benches, programs)?;
    let sel = plan::select_steps(&inputs.lab, steps)?;
    let many = inputs.benches.len() > 1;
    for (k, bench) in inputs.benches().enumerate() {
        let id = run_id(&inputs.lab.name, many.then_some(bench.name.as_str()));
        let plan = Plan::build(&inputs.lab, bench, &sel, &id)?;
        if k > 0 {
            crate::util::out_line("");
        }
        let text = plan.render(bench);
        crate::util::out_line(&crate::util::show_controls(
            text.strip_suffix('\n').unwrap_or(&text),
            true,
        ));
    }
    Ok(())
}
