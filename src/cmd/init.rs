//! `labctl init`, handed to [`init`](crate::init).

use crate::cli::InitArgs;
use crate::error::Error;
use crate::init::{self, InitOptions};

pub(super) fn command(args: &InitArgs) -> Result<(), Error> {
    init::command(&InitOptions {
        benches: args.benches,
        ssh: args.ssh.clone(),
        user: args.user.clone(),
        subnet: args.subnet.clone(),
        name: args.name.clone(),
        file: args.file.clone(),
        force: args.force,
    })
}
