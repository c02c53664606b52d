//! The `pi` login of a virtual host (the default; `up --root` keeps root
//! hosts): per host, generated account files (`passwd`, `shadow`, `group`,
//! `sudoers`, `sudoers.d/`, `hosts`) and a home directory, which the host's
//! sshd sees bind-mounted over `/etc/...` and `/home` in its own mount
//! namespace. This machine's own `/etc` and `/home` are never written.

use std::os::unix::fs::{chown, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::hostops;
use crate::util::io_reason;

use super::state::{write_file, HostState};

/// The login of every non-root virtual host, as on Raspberry Pi OS.
pub const USER: &str = "pi";

/// Where the hosts' sudo looks for a command (the sudoers `secure_path`).
const SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `pi` may run through sudo on a testbed host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sudo {
    /// Everything, without a password (Raspberry Pi OS's `010_pi-nopasswd`).
    All,
    /// Only the commands labctl names, by the sudoers line it suggests.
    LabOnly,
    /// Nothing.
    None,
}

/// `cmd` as the hosts' sudo finds it: the first of [`SECURE_PATH`] that has it.
fn sudo_path(cmd: &str) -> String {
    SECURE_PATH
        .split(':')
        .map(|d| format!("{d}/{cmd}"))
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| format!("/usr/bin/{cmd}"))
}

/// The files of the host's `etc/` mounted over this machine's `/etc/<same name>`.
pub const ETC_FILES: [&str; 6] = ["passwd", "shadow", "group", "sudoers", "sudoers.d", "hosts"];

/// The host's generated `etc/` directory.
pub fn etc_dir(host: &HostState) -> PathBuf {
    host.dir.join("etc")
}

/// The host's `/home`, as seen from this machine.
pub fn home_dir(host: &HostState) -> PathBuf {
    host.dir.join("home")
}

/// The workdir the hosts file names for `pi` hosts (inside the host).
pub const WORKDIR: &str = "/home/pi/labctl";

/// The first uid/gid from 1000 up that neither `passwd` nor `group` uses.
fn free_id(passwd: &str, group: &str) -> u32 {
    let used = |text: &str, id: u32| {
        text.lines()
            .any(|l| l.split(':').nth(2) == Some(id.to_string().as_str()))
    };
    (1000..60000)
        .find(|&id| !used(passwd, id) && !used(group, id))
        .unwrap_or(60001)
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Local(format!("cannot read `{path}`: {}", io_reason(&e))))
}

/// Adds `pi` to the group named `name` in `group` text (when there is one).
fn add_member(group: &str, name: &str) -> String {
    group
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() == 4 && f[0] == name {
                let members = if f[3].is_empty() {
                    USER.to_string()
                } else {
                    format!("{},{USER}", f[3])
                };
                format!("{}:{}:{}:{members}\n", f[0], f[1], f[2])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn mkdir(path: &Path, mode: u32, owner: Option<u32>) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::Local(format!(
            "cannot create `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    };
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    if let Some(id) = owner {
        chown(path, Some(id), Some(id)).map_err(fail)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32, owner: Option<u32>) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::Local(format!(
            "cannot set the mode of `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    if let Some(id) = owner {
        chown(path, Some(id), Some(id)).map_err(fail)?;
    }
    Ok(())
}

/// Writes `host`'s account files and home: `pi` (a free uid, shell
/// `/bin/bash`, home `/home/pi`, group `sudo`), `authorized_keys` holding
/// `client_key`, `/home/pi/labctl` (the workdir; `work` in the host's
/// directory points at it), and a sudoers granting `pi` what `sudo` says.
pub fn write(host: &HostState, client_key: &str, sudo: Sudo) -> Result<(), Error> {
    let passwd = read("/etc/passwd")?;
    let shadow = read("/etc/shadow")?;
    let group = read("/etc/group")?;
    let id = free_id(&passwd, &group);
    let etc = etc_dir(host);
    mkdir(&etc, 0o755, None)?;
    let nl = |s: &str| {
        if s.is_empty() || s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    write_file(
        &etc.join("passwd"),
        &format!(
            "{}{USER}:x:{id}:{id}:Pi:/home/{USER}:/bin/bash\n",
            nl(&passwd)
        ),
    )?;
    // `*`: no password, yet not locked (sshd refuses keys of locked accounts).
    write_file(
        &etc.join("shadow"),
        &format!("{}{USER}:*:20000:0:99999:7:::\n", nl(&shadow)),
    )?;
    set_mode(&etc.join("shadow"), 0o640, None)?;
    write_file(
        &etc.join("group"),
        &format!("{}{USER}:x:{id}:\n", add_member(&nl(&group), "sudo")),
    )?;
    let rule = match sudo {
        Sudo::All => format!("{USER} ALL=(ALL) NOPASSWD: ALL\n"),
        Sudo::LabOnly => {
            let paths: Vec<String> = hostops::SUDO_COMMANDS
                .iter()
                .map(|c| sudo_path(c))
                .collect();
            format!(
                "# Only what labctl's advice grants (`testbed up --sudo-lab-only`).\n{}\n",
                hostops::sudoers_line(USER, &paths)
            )
        }
        Sudo::None => {
            format!("# `{USER}` has no sudo rights on this host (`testbed up --no-sudo`).\n")
        }
    };
    write_file(
        &etc.join("sudoers"),
        &format!(
            "# host `{}` of a labctl testbed: generated by `labctl testbed up`.\n\
             Defaults env_reset\nDefaults !requiretty\nDefaults !lecture\n\
             Defaults secure_path=\"{SECURE_PATH}\"\n\
             root ALL=(ALL:ALL) ALL\n{rule}",
            host.hostname
        ),
    )?;
    set_mode(&etc.join("sudoers"), 0o440, Some(0))?;
    mkdir(&etc.join("sudoers.d"), 0o755, None)?;
    write_file(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1 localhost\n127.0.1.1 {}\n::1 localhost ip6-localhost ip6-loopback\n",
            host.hostname
        ),
    )?;

    let home = home_dir(host);
    mkdir(&home, 0o755, None)?;
    let pi = home.join(USER);
    mkdir(&pi, 0o755, Some(id))?;
    mkdir(&pi.join(".ssh"), 0o700, Some(id))?;
    let keys = pi.join(".ssh").join("authorized_keys");
    write_file(&keys, client_key)?;
    set_mode(&keys, 0o600, Some(id))?;
    let work = pi.join("labctl");
    mkdir(&work, 0o755, Some(id))?;
    std::os::unix::fs::symlink("home/pi/labctl", host.dir.join("work")).map_err(|e| {
        Error::Local(format!(
            "cannot link `{}`: {}",
            host.dir.join("work").display(),
            io_reason(&e)
        ))
    })
}

/// What the host's sshd sees mounted, in its own mount namespace: `(source, target)`.
pub fn mounts(host: &HostState) -> Vec<(PathBuf, String)> {
    let mut m: Vec<(PathBuf, String)> = ETC_FILES
        .iter()
        .map(|f| (etc_dir(host).join(f), format!("/etc/{f}")))
        .collect();
    m.push((home_dir(host), "/home".to_string()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_an_unused_id() {
        let passwd = "root:x:0:0::/root:/bin/sh\nme:x:1000:1000::/home/me:/bin/sh\n";
        let group = "root:x:0:\nx:x:1001:\n";
        assert_eq!(free_id(passwd, group), 1002);
    }

    #[test]
    fn joins_the_sudo_group() {
        assert_eq!(
            add_member("sudo:x:27:\nadm:x:4:a\n", "sudo"),
            "sudo:x:27:pi\nadm:x:4:a\n"
        );
        assert_eq!(add_member("sudo:x:27:a\n", "sudo"), "sudo:x:27:a,pi\n");
    }
}
