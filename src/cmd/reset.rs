//! `labctl reset`: the benches and switches chosen, handed to
//! [`reset`](crate::reset).

use crate::cli::ResetArgs;
use crate::config::Given;
use crate::error::Error;
use crate::reset::{self, ResetOptions};

pub(super) fn command(g: &Given, args: &ResetArgs) -> Result<(), Error> {
    reset::command(
        g,
        &ResetOptions {
            select: (&args.select).into(),
            dry_run: args.dry_run,
            take_over: args.take_over,
            programs: args.programs.clone(),
        },
    )
}
