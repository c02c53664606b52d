//! The virtual bench: network namespaces with their own eth0 and sshd, on this machine.

use crate::cli::TestbedArgs;
use crate::error::Error;

pub fn command(_args: &TestbedArgs) -> Result<(), Error> {
    Err(Error::Usage("`testbed` is not built yet".to_string()))
}
