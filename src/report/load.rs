//! Reading a run directory into a [`RunInput`]: the one part of the report
//! that knows the files the lab engine writes.

use std::path::Path;

use super::model::RunInput;
use crate::error::Error;

/// Reads what the run recorded in `run_dir`.
pub fn load(run_dir: &Path) -> Result<RunInput, Error> {
    Err(Error::Usage(format!(
        "`{}`: reading run directories is not built yet",
        run_dir.display()
    )))
}
