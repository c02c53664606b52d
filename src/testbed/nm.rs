//! NetworkManager on a virtual host, as Raspberry Pi OS runs it: Debian's
//! `NetworkManager` manages the host's `eth0` and, with no profile of its
//! own for it, creates and activates `Wired connection 1` (DHCP). With no
//! DHCP server on the switch that activation fails after 45 s and takes
//! away every IPv4 address on `eth0`, the lab's too, then starts again:
//! what labctl's `configure` must survive.
//!
//! It is contained in the host (the facts behind each choice are in
//! `docs/design.md`, "NetworkManager on the virtual bench"): it runs in the
//! host's network namespace and in the private mount namespace of the
//! host's sshd (`host-boot.sh`), where a tmpfs `/run` holds its own
//! `dbus-daemon --system` (its config [`dbus_config`]: no service
//! activation, so no helper starts), `/etc/NetworkManager` and
//! `/var/lib/NetworkManager` are the host's own directories, and `/sys` is
//! read-only (without that, NetworkManager waits for udev and leaves every
//! device unmanaged). Its config ([`config_text`]) keeps it off this
//! machine: `dns=none` and `rc-manager=unmanaged` (resolv.conf is never
//! written), `hostname-mode=none`, `plugins=keyfile` (no ifupdown), and
//! `auth-polkit=root-only` (there is no polkit: only root, or a login
//! through sudo, changes the network, as with `ip`).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::util::io_reason;

use super::netns;
use super::state::{write_file, HostState, State};

/// The processes of a host's NetworkManager, as `/proc/PID/comm` names them.
pub(crate) const DAEMONS: [&str; 2] = ["NetworkManager", "dbus-daemon"];

/// The host's `/etc/NetworkManager`.
pub(crate) fn etc_dir(host: &HostState) -> PathBuf {
    host.dir.join("nm").join("etc")
}

/// The host's `/var/lib/NetworkManager`.
pub(crate) fn lib_dir(host: &HostState) -> PathBuf {
    host.dir.join("nm").join("lib")
}

/// The D-Bus system bus config every host's `dbus-daemon` reads.
pub(crate) fn dbus_config(state: &State) -> PathBuf {
    state.dir.join("dbus-system.conf")
}

/// NetworkManager's config on every host.
pub(crate) fn config_text() -> &'static str {
    include_str!("NetworkManager.conf")
}

/// The tools a NetworkManager host needs, found (or the package named).
pub(crate) fn require_tools() -> Result<(), Error> {
    let missing = |e: Error| {
        Error::Local(format!(
            "{e}; or make hosts without NetworkManager with `labctl testbed up --no-network-manager`"
        ))
    };
    super::proc::require_tool("NetworkManager", "network-manager").map_err(missing)?;
    super::proc::require_tool("nmcli", "network-manager").map_err(missing)?;
    super::proc::require_tool("dbus-daemon", "dbus-daemon").map_err(missing)?;
    for dir in ["/etc/NetworkManager", "/var/lib/NetworkManager"] {
        if !Path::new(dir).is_dir() {
            return Err(missing(Error::Local(format!(
                "`{dir}` is missing (where each host's own is mounted): install the Debian package `network-manager`"
            ))));
        }
    }
    Ok(())
}

/// Writes the D-Bus config of the testbed and each host's NetworkManager
/// directories (its config, no profile: it makes `Wired connection 1`).
pub fn write(state: &State) -> Result<(), Error> {
    write_file(&dbus_config(state), include_str!("dbus-system.conf"))?;
    for (_, h) in state.hosts() {
        reset(h)?;
    }
    Ok(())
}

/// A host's NetworkManager directories as a fresh image has them: the
/// config, no connection profile, no state.
pub fn reset(host: &HostState) -> Result<(), Error> {
    let nm = host.dir.join("nm");
    if nm.exists() {
        std::fs::remove_dir_all(&nm).map_err(|e| {
            Error::Local(format!(
                "cannot remove `{}`: {}",
                nm.display(),
                io_reason(&e)
            ))
        })?;
    }
    for d in [
        etc_dir(host).join("conf.d"),
        etc_dir(host).join("system-connections"),
        lib_dir(host),
    ] {
        std::fs::create_dir_all(&d).map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                d.display(),
                io_reason(&e)
            ))
        })?;
    }
    use std::os::unix::fs::PermissionsExt;
    let profiles = etc_dir(host).join("system-connections");
    std::fs::set_permissions(&profiles, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
        Error::Local(format!(
            "cannot set the mode of `{}`: {}",
            profiles.display(),
            io_reason(&e)
        ))
    })?;
    write_file(&etc_dir(host).join("NetworkManager.conf"), config_text())
}

/// The pids of `host`'s NetworkManager and dbus-daemon (those running in
/// its network namespace), with their names.
pub fn daemons(host: &HostState) -> Vec<(u32, String)> {
    let Some(inode) = netns::inode(&host.netns) else {
        return Vec::new();
    };
    netns::pids_in(&[inode])
        .into_iter()
        .filter_map(|p| {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).ok()?;
            let comm = comm.trim();
            (DAEMONS.contains(&comm) && super::proc::alive(p)).then(|| (p, comm.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_networkmanager_off_this_machine() {
        let c = config_text();
        for line in [
            "plugins=keyfile",
            "dns=none",
            "rc-manager=unmanaged",
            "auth-polkit=root-only",
            "hostname-mode=none",
        ] {
            assert!(c.lines().any(|l| l == line), "{line} in\n{c}");
        }
        let d = include_str!("dbus-system.conf");
        assert!(d.contains("<listen>unix:path=/run/dbus/system_bus_socket</listen>"));
        assert!(!d.contains("servicedir"), "no service activation:\n{d}");
    }
}
