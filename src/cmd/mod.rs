//! The subcommands' entry points: the one layer that reads [`crate::cli`]
//! (clap's types). Each turns its arguments into the plain values its domain
//! module takes ([`config::Given`], [`BenchChoice`](crate::config::hosts::BenchChoice),
//! [`StepChoice`](crate::lab::select::StepChoice), an options struct) and
//! calls it, so no module below knows the command line's shape, and the
//! domain modules can be called the same way from tests.

mod answer;
mod check;
mod clean;
mod complete;
mod deploy;
mod init;
mod keys;
mod report;
mod reset;
mod run;
mod serve;
mod testbed;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{self, Given};
use crate::error::Error;

/// What every command takes from the global arguments (`--hosts`, `--lab`,
/// `--accept-new`); `-q`, `-v` and `--color` went to [`crate::style`] in [`main`].
fn given(g: &GlobalArgs) -> Given {
    Given {
        hosts: g.hosts.clone(),
        lab: g.lab.clone(),
        lab_given: g.lab_given,
        accept_new: g.accept_new,
    }
}

/// Reads the command line, sets the output style (`-q`, `-v`, `--color`)
/// and runs the subcommand it names.
pub(crate) fn main() -> Result<(), Error> {
    let cli = Cli::parse_given();
    crate::style::init(cli.global.color, cli.global.quiet, cli.global.verbose);
    dispatch(cli)
}

/// Runs the subcommand `cli` names.
fn dispatch(cli: Cli) -> Result<(), Error> {
    let g = cli.global;
    // A `--lab` named on the command line is read before anything, by every
    // command, also one that has no use for it (`clean`, `deploy`): a file
    // that is not there is exit 2 naming it, not a connection to every host.
    if g.lab_given {
        config::source::Source::read(&g.lab)?;
    }
    let given = given(&g);
    match cli.command {
        Command::Testbed(args) => testbed::command(&args),
        Command::Keys(args) => keys::command(&given, &args),
        Command::Check(args) => check::command(&given, &args),
        Command::Deploy(args) => deploy::command(&given, &args),
        Command::Clean(args) => clean::command(&given, &args),
        Command::Reset(args) => reset::command(&given, &args),
        Command::Plan(args) => run::plan(&given, &args),
        Command::List { ids: true } => complete::list_ids(&given),
        Command::List { ids: false } => run::list(&given),
        Command::Init(args) => init::command(&args),
        Command::Completions { shell } => complete::completions(shell),
        Command::Man => complete::man(),
        Command::Run(args) => run::run(&given, &args),
        Command::Report(args) => report::command(&args),
        Command::Serve(args) => serve::command(&args),
        Command::Answer(args) => answer::command(&given, &args),
    }
}
