//! `labctl check`: the benches chosen and the flags, handed to
//! [`check`](crate::check).

use crate::check::{self, CheckOptions};
use crate::cli::CheckArgs;
use crate::config::Given;
use crate::error::Error;

pub(super) fn command(g: &Given, args: &CheckArgs) -> Result<(), Error> {
    check::command(
        g,
        &CheckOptions {
            select: (&args.select).into(),
            json: args.json,
            fix: args.fix,
            programs: args.programs.clone(),
            out: args.out.clone(),
        },
    )
}
