//! The virtual bench: network namespaces with their own eth0 and sshd, on this machine.

pub mod state;

use std::path::{Path, PathBuf};

use crate::cli::TestbedArgs;
use crate::error::Error;

/// Where testbeds keep their state: `$LABCTL_TESTBED_ROOT` or `/var/lib/labctl/testbed`.
pub fn state_root() -> PathBuf {
    match std::env::var_os("LABCTL_TESTBED_ROOT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/var/lib/labctl/testbed"),
    }
}

pub fn command(_args: &TestbedArgs) -> Result<(), Error> {
    Err(Error::Usage("`testbed` is not built yet".to_string()))
}

/// Starts (again) the sshd of host `spec` (`A` or `bench2/A`) of the testbed in `dir`; returns its pid.
pub fn start_sshd(_dir: &Path, _spec: &str) -> Result<u32, Error> {
    Err(Error::Usage("`testbed` is not built yet".to_string()))
}

/// Stops the sshd of host `spec` of the testbed in `dir` and waits until it is gone.
pub fn stop_sshd(_dir: &Path, _spec: &str) -> Result<(), Error> {
    Err(Error::Usage("`testbed` is not built yet".to_string()))
}
