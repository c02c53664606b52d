//! `labctl report [--student] RUN_DIR`, handed to [`report`](crate::report).

use crate::cli::ReportArgs;
use crate::error::Error;

pub(super) fn command(args: &ReportArgs) -> Result<(), Error> {
    crate::report::command(&args.run_dir, args.student)
}
