//! `labctl completions bash|zsh|fish` and `labctl man`: both generated from
//! clap's own description of the command line (`cli::Cli`, handed in by `cmd`), so they
//! never drift from what labctl accepts.
//!
//! Step ids (`--step I.1<TAB>`, also `--from`, `--to`) complete from the lab
//! file: each shell's script gets a small hook (`steps.bash`, `steps.zsh`,
//! `steps.fish` beside this file) that asks the hidden `labctl list --ids`
//! for the ids of the lab named on the command line (`--lab`, `--hosts`, or
//! the defaults). Chosen over clap_complete's dynamic engine (`CompleteEnv`,
//! `ArgValueCompleter`) because that engine is behind clap_complete's
//! `unstable-dynamic` feature and changes how the script is installed on
//! every release; the static scripts plus a hook are stable, can be written
//! to a file once, and still follow the lab file as it changes (the ids are
//! read at each TAB).

use std::io::Write;

use clap::ValueEnum;
use clap_complete::generate;

use crate::config::hosts::BenchChoice;
use crate::config::Given;
use crate::error::Error;
use crate::lab::{Inputs, Lab};

/// The shells labctl writes completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

const BASH_HOOK: &str = include_str!("steps.bash");
const ZSH_HOOK: &str = include_str!("steps.zsh");
const FISH_HOOK: &str = include_str!("steps.fish");

/// The completion script for `shell` of the command line `cmd` (clap's
/// description of `cli::Cli`), with the step-id hook.
pub(crate) fn script(shell: Shell, mut cmd: clap::Command) -> String {
    let mut buf = Vec::new();
    match shell {
        Shell::Bash => generate(clap_complete::Shell::Bash, &mut cmd, "labctl", &mut buf),
        Shell::Zsh => generate(clap_complete::Shell::Zsh, &mut cmd, "labctl", &mut buf),
        Shell::Fish => generate(clap_complete::Shell::Fish, &mut cmd, "labctl", &mut buf),
    }
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => s.push_str(BASH_HOOK),
        // zsh: the option specs name their value `ID`; complete it with the hook.
        Shell::Zsh => {
            s = s.replace(":ID:_default", ":ID:_labctl_step_ids");
            // The hook must be defined before the script's last line runs `_labctl`.
            s = s.replacen(
                "#compdef labctl\n",
                &format!("#compdef labctl\n{ZSH_HOOK}"),
                1,
            );
        }
        Shell::Fish => s.push_str(FISH_HOOK),
    }
    s
}

/// `labctl completions SHELL`.
pub(crate) fn completions(shell: Shell, cmd: clap::Command) -> Result<(), Error> {
    print_out(script(shell, cmd).as_bytes())
}

/// The man page (roff): clap_mangen's page for labctl, then a section per
/// subcommand with its options, so `man labctl` tells all on one page.
pub(crate) fn man_page(cmd: clap::Command) -> Result<Vec<u8>, Error> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    let io = |e: std::io::Error| Error::Local(format!("cannot render the man page: {e}"));
    man.render_title(&mut buf).map_err(io)?;
    man.render_name_section(&mut buf).map_err(io)?;
    man.render_synopsis_section(&mut buf).map_err(io)?;
    man.render_description_section(&mut buf).map_err(io)?;
    man.render_options_section(&mut buf).map_err(io)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand_section(&mut buf, sub).map_err(io)?;
    }
    man.render_extra_section(&mut buf).map_err(io)?;
    man.render_version_section(&mut buf).map_err(io)?;
    Ok(buf)
}

fn subcommand_section(buf: &mut Vec<u8>, sub: &clap::Command) -> std::io::Result<()> {
    let name = sub.get_name();
    writeln!(buf, ".SH \"LABCTL {}\"", name.to_uppercase())?;
    if let Some(about) = sub.get_about() {
        writeln!(buf, "{}", roff_text(&about.to_string()))?;
    }
    let usage = sub
        .clone()
        .bin_name(format!("labctl {name}"))
        .render_usage();
    let usage = usage.to_string().replace("Usage: ", "");
    writeln!(buf, ".PP\n\\fB{}\\fR", roff_text(&usage))?;
    for arg in sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
    {
        let value = match arg.get_value_names() {
            Some(v) if arg.get_action().takes_values() => format!(" <{}>", v.join(" ")),
            _ => String::new(),
        };
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}{value}"),
            (None, Some(l)) => format!("--{l}{value}"),
            (Some(s), None) => format!("-{s}{value}"),
            (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        writeln!(
            buf,
            ".TP\n\\fB{}\\fR\n{}",
            roff_text(&flag),
            roff_text(&help)
        )?;
    }
    // Nested subcommands (`testbed up|down|status`).
    for nested in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = nested
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default();
        writeln!(
            buf,
            ".TP\n\\fBlabctl {name} {}\\fR\n{}",
            nested.get_name(),
            roff_text(&about)
        )?;
    }
    Ok(())
}

/// Escapes text for roff: backslashes, hyphens, and a leading `.` or `'`.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `labctl man`.
pub(crate) fn man(cmd: clap::Command) -> Result<(), Error> {
    print_out(&man_page(cmd)?)
}

/// `labctl list --ids`: the lab's step ids in run order, one a line. Behind
/// the completions, so it asks little: with an unusable hosts file (say
/// `--hosts room.toml` was not on the line) the lab is read for hosts A, B
/// and C. An unreadable lab prints nothing on stdout and exits non-zero.
pub(crate) fn list_ids(g: &Given) -> Result<(), Error> {
    let lab = match Inputs::load(&g.hosts, &g.lab, BenchChoice::All) {
        Ok(inputs) => inputs.lab,
        Err(_) => {
            let hosts = ["A", "B", "C"].map(String::from);
            Lab::load(&g.lab, &hosts)
                .map_err(|_| Error::Failed("cannot read the step ids of the lab".into()))?
        }
    };
    let ids: String = lab
        .run_order()
        .into_iter()
        .map(|i| format!("{}\n", lab.steps[i].id))
        .collect();
    print_out(ids.as_bytes())
}

fn print_out(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        // `labctl man | head` closing the pipe early is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Local(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
