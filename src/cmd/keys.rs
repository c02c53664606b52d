//! `labctl keys install|trust`: the benches chosen on the command line,
//! handed to [`keys`](crate::keys).

use crate::cli::{KeysArgs, KeysCommand};
use crate::config::Given;
use crate::error::Error;
use crate::keys;

pub(super) fn command(g: &Given, args: &KeysArgs) -> Result<(), Error> {
    match &args.command {
        KeysCommand::Install { select } => keys::install(&g.hosts, select.into(), g.accept_new),
        KeysCommand::Trust {
            select,
            replace,
            yes,
        } => keys::trust(&g.hosts, select.into(), *replace, *yes),
    }
}
