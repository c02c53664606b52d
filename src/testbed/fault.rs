//! `labctl testbed fault --name NAME HOST silent|restore`: makes one host of
//! a virtual bench go silent as a frozen Pi or a pulled cable does (its
//! management connections stay open, but nothing passes either way: no FIN,
//! no RST), and brings it back. The relay ([`super::relay`]), which carries
//! every SSH connection into the host's namespace, holds the bytes of that
//! host while a flag file `<state>/fault-<netns>` exists; nothing outside
//! the testbed's own processes is touched (no firewall rules).
//!
//! When restored, what was held flows on: a labctl that gave up in between
//! has closed its end, so the host's sshd then reads end-of-file and the
//! run's agent stops what it had started.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::util::io_reason;

use super::state::State;

/// What `fault` does to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing passes either way.
    Silent,
    /// What was held flows on.
    Restore,
}

/// The flag file that silences host namespace `netns` (read by the relay).
pub(crate) fn flag(dir: &Path, netns: &str) -> PathBuf {
    dir.join(format!("fault-{netns}"))
}

/// Runs `labctl testbed fault`.
pub(crate) fn command(name: &str, spec: &str, action: Fault) -> Result<(), Error> {
    let dir = super::state_root().join(name);
    let state = State::load(&dir)?;
    let host = state.host(spec).ok_or_else(|| {
        let names: Vec<String> = state
            .hosts()
            .map(|(b, h)| {
                if state.room {
                    format!("`{}/{}`", b.name, h.name)
                } else {
                    format!("`{}`", h.name)
                }
            })
            .collect();
        Error::Usage(format!(
            "testbed `{name}` has no host `{spec}`; its hosts: {}",
            names.join(", ")
        ))
    })?;
    let path = flag(&dir, &host.netns);
    let r = match action {
        Fault::Silent => std::fs::write(&path, b"silent\n"),
        Fault::Restore => match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    r.map_err(|e| {
        Error::Local(format!(
            "cannot write `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    match action {
        Fault::Silent => println!(
            "host `{spec}` of testbed `{name}` is silent: its SSH traffic is held (no FIN, no RST); `labctl testbed fault --name {name} {spec} restore` brings it back"
        ),
        Fault::Restore => println!("host `{spec}` of testbed `{name}` answers again"),
    }
    Ok(())
}
