//! `labctl clean`: the benches and switches chosen, handed to
//! [`remote::clean`](crate::remote::clean).

use crate::cli::CleanArgs;
use crate::config::Given;
use crate::error::Error;
use crate::remote::clean::{self, CleanOptions};

pub(super) fn command(g: &Given, args: &CleanArgs) -> Result<(), Error> {
    clean::command(
        g,
        &CleanOptions {
            select: (&args.select).into(),
            restore_network: args.restore_network,
            take_over: args.take_over,
            json: args.json,
        },
    )
}
