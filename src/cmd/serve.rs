//! `labctl serve`, handed to [`serve`](crate::serve).

use crate::cli::ServeArgs;
use crate::error::Error;
use crate::serve::{self, ServeOptions};

pub(super) fn command(args: &ServeArgs) -> Result<(), Error> {
    serve::command(&ServeOptions {
        runs_dir: args.runs_dir.clone(),
        port: args.port,
        listen: args.listen,
    })
}
