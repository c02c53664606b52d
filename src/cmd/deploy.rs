//! `labctl deploy`: the benches chosen and the program set, handed to
//! [`deploy`](crate::deploy).

use crate::cli::DeployArgs;
use crate::config::Given;
use crate::deploy::{self, DeployOptions};
use crate::error::Error;

pub(super) fn command(g: &Given, args: &DeployArgs) -> Result<(), Error> {
    deploy::command(
        g,
        &DeployOptions {
            select: (&args.select).into(),
            programs: args.programs.clone(),
        },
    )
}
