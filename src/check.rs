//! `labctl check`: is a bench (or the whole room) ready for class?

use crate::cli::{CheckArgs, GlobalArgs};
use crate::error::Error;

/// Runs `labctl check`.
pub fn command(_global: &GlobalArgs, _args: &CheckArgs) -> Result<(), Error> {
    todo!("check")
}
