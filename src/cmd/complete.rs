//! `labctl completions SHELL`, `labctl man` and the hidden `labctl list
//! --ids`: [`complete`](crate::complete) given clap's description of the
//! command line.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::complete::{self, Shell};
use crate::config::Given;
use crate::error::Error;

pub(super) fn completions(shell: Shell) -> Result<(), Error> {
    complete::completions(shell, Cli::command())
}

pub(super) fn man() -> Result<(), Error> {
    complete::man(Cli::command())
}

pub(super) fn list_ids(g: &Given) -> Result<(), Error> {
    complete::list_ids(g)
}
