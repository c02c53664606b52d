//! labctl runs a networking class's socket-programming lab on benches of
//! three hosts over SSH, and checks the benches before class.
//!
//! The work is a staged pipeline; each stage changes type, so nothing reaches
//! a host before the whole input has been validated:
//!
//! ```text
//! hosts.toml, lab.toml ──config──▶ Bench + Lab ──plan──▶ Plan ──exec──▶ events ──report──▶ report
//! ```
//!
//! - [`cli`]: raw command-line arguments.
//! - [`config`]: hosts.toml to a validated [`config::hosts::Room`], every error
//!   at once with file:line:column; [`lab`]: the lab file, validated, and the
//!   [`lab::plan::Plan`] that `plan`, `run --dry-run` and `run` all share.
//! - [`run`]: runs a plan with one worker per host, emits events, writes the
//!   run directory as it goes; [`report`] and [`capture`] turn that directory
//!   into report.md, report.html and run.json.
//! - [`ssh`]: one `ssh2` session per host, owned by one thread; [`remote`]:
//!   programs on a host, started, registered and stopped by process group.
//! - [`check`], [`deploy`], [`hostops`]: is a bench ready, and the shell
//!   commands that make it so.
//! - [`testbed`]: a virtual bench of network namespaces with real sshds.
//! - [`error`]: the error type and the documented exit codes.

pub mod build;
pub mod capture;
pub mod check;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod error;
pub mod hostops;
pub mod lab;
pub mod remote;
pub mod report;
pub mod run;
pub mod ssh;
pub mod testbed;
pub mod util;

use clap::Parser;

use cli::{Cli, Command};
use error::{exit, Error};

/// Runs labctl with the process's arguments and returns the exit code.
/// Errors are printed here, once.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => exit::OK,
        Err(e) => {
            match &e {
                Error::Input(d) => eprintln!("{d}"),
                Error::Interrupted => eprintln!("labctl: {e}"),
                other => eprintln!("error: {other}"),
            }
            e.exit_code()
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Error> {
    let g = cli.global;
    match cli.command {
        Command::Testbed(args) => testbed::command(&args),
        Command::Check(args) => check::command(&g, &args),
        Command::Clean(args) => remote::clean::command(&g, &args),
        Command::Plan(args) => lab::plan_command(&g, &args),
        Command::List => lab::list_command(&g),
        Command::Run(args) => run::command(&g, &args),
        Command::Report(args) => report::command(&args),
    }
}
