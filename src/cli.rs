//! The command line, as raw arguments (clap). Each subcommand's handler turns
//! these into validated inputs before anything runs; the selections of
//! benches and steps become labctl's own types here, at the edge
//! ([`BenchChoice`], [`StepChoice`]), so no clap type reaches `config` or `lab`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::hosts::BenchChoice;
use crate::error::EXIT_CODES_HELP;
use crate::lab::select::StepChoice;

/// Runs a socket-programming lab on benches of three hosts (A, B, C) over SSH:
/// checks the benches, runs the whole lab or replays one step, and writes a report.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The bench (or room of benches) to work on.
    #[arg(long, global = true, value_name = "FILE", default_value = "hosts.toml")]
    pub hosts: PathBuf,
    /// The lab to run.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "labs/lab.toml"
    )]
    pub lab: PathBuf,
    /// Trust a host key seen for the first time and record it in labctl's known_hosts.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Say less (`run`: failures, warnings and the summary only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: also every command sent to a host (on stderr, as `plan` shows it).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to colour the output (`auto`: on a terminal, unless `NO_COLOR` is set).
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: crate::style::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that a bench (or the whole room) is ready for class.
    #[command(after_help = EXIT_CODES_HELP)]
    Check(CheckArgs),
    /// Run the whole lab, one step, or a range of steps, and write a report.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),
    /// Show the exact commands each step runs on each host; nothing is executed.
    Plan(PlanArgs),
    /// List the lab's steps.
    List {
        /// Only the step ids, one a line (used by the shell completions).
        #[arg(long, hide = true)]
        ids: bool,
    },
    /// Stop every program labctl started on the hosts, and nothing else.
    #[command(after_help = EXIT_CODES_HELP)]
    Clean(CleanArgs),
    /// Rebuild report.md, report.html and run.json from a run directory.
    Report(ReportArgs),
    /// Write a hosts file for a room of benches (documented, ready for `check`).
    Init(crate::init::InitArgs),
    /// Print the shell completion script for bash, zsh or fish.
    Completions {
        /// The shell to complete for.
        shell: crate::complete::Shell,
    },
    /// Print labctl's man page (roff), e.g. `labctl man | man -l -`.
    Man,
    /// A virtual bench on this machine: network namespaces with their own sshd and eth0.
    Testbed(TestbedArgs),
}

/// Which benches of hosts.toml to work on.
#[derive(Debug, Clone, Args)]
pub struct BenchSelect {
    /// Work on this bench of the room.
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub bench: Option<String>,
    /// Work on every bench of the room.
    #[arg(long)]
    pub all: bool,
}

impl From<&BenchSelect> for BenchChoice {
    fn from(sel: &BenchSelect) -> BenchChoice {
        match (&sel.bench, sel.all) {
            (Some(name), _) => BenchChoice::Named(name.clone()),
            (None, true) => BenchChoice::All,
            (None, false) => BenchChoice::Implied,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: BenchSelect,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Repair what can be repaired (addresses, links, programs, stale processes), then check again.
    #[arg(long)]
    pub fix: bool,
}

/// Which steps of the lab to work on.
#[derive(Debug, Clone, Args)]
pub struct StepSelect {
    /// Only this step, after the steps it needs.
    #[arg(long, value_name = "ID", conflicts_with_all = ["from", "to"])]
    pub step: Option<String>,
    /// Start at this step (after the steps it needs).
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Stop after this step.
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

impl From<&StepSelect> for StepChoice {
    fn from(sel: &StepSelect) -> StepChoice {
        match &sel.step {
            Some(id) => StepChoice::Only(id.clone()),
            None => StepChoice::Range {
                from: sel.from.clone(),
                to: sel.to.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub steps: StepSelect,
    #[command(flatten)]
    pub select: BenchSelect,
    /// Print what would run, exactly as `run` would run it; execute nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to create the run directory (default: `runs/` in the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub steps: StepSelect,
    #[command(flatten)]
    pub select: BenchSelect,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub select: BenchSelect,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `labctl run`.
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestbedArgs {
    #[command(subcommand)]
    pub command: TestbedCommand,
}

#[derive(Debug, Subcommand)]
pub enum TestbedCommand {
    /// Build a virtual bench (root): namespaces, a switch, an sshd per host; prints the hosts file path last.
    Up {
        /// A name for the bench, unique on this machine.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// Build a classroom of this many benches.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        benches: u16,
        /// Make ARM hosts: programs are aarch64 or armv7 builds run through
        /// qemu-user (the hosts file declares `arch`).
        #[arg(long, value_parser = ["aarch64", "armv7"])]
        arch: Option<String>,
        /// Hosts log in as root (default: `pi` with passwordless sudo, like Raspberry Pi OS).
        #[arg(long)]
        root: bool,
        /// `pi` gets no sudo rights (for testing what labctl says then).
        #[arg(long, conflicts_with = "root")]
        no_sudo: bool,
    },
    /// Remove exactly what `up` made.
    Down {
        #[arg(long, default_value = "labctl")]
        name: String,
    },
    /// Show what exists and which sshds answer; exit 0 only when the bench is whole.
    Status {
        #[arg(long, default_value = "labctl")]
        name: String,
    },
    /// Make a host silent as a frozen Pi or a pulled cable (its SSH traffic held:
    /// no FIN, no RST), or bring it back.
    Fault {
        /// The testbed, as named to `up`.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// The host: `A`, or `bench2/A` in a room.
        host: String,
        /// `silent` or `restore`.
        #[arg(value_enum)]
        action: FaultAction,
    },
    /// Internal: the loopback relay into the namespaces' sshds (started by `up`).
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        state: PathBuf,
    },
}

/// What `labctl testbed fault` does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultAction {
    /// Hold the host's management traffic, without closing anything.
    Silent,
    /// Let it flow again.
    Restore,
}
