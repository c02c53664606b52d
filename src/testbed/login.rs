//! The login of a virtual host (`pi` by default, any name with `up --user`,
//! as Raspberry Pi Imager asks for one; `up --root` keeps root hosts): per
//! host, generated account files (`passwd`, `shadow`, `group`, `sudoers`,
//! `sudoers.d/`, `hosts`) and a home directory, which the host's sshd sees
//! bind-mounted over `/etc/...` and `/home` in its own mount namespace. This
//! machine's own `/etc` and `/home` are never written. With `up
//! --password-only` the login has a password and no authorized key, as
//! Imager leaves a card set up for password login.

use std::os::unix::fs::{chown, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::hostops;
use crate::util::io_reason;

use super::state::{write_file, HostState};

/// The login of non-root virtual hosts unless `up --user` names another.
pub const USER: &str = "pi";

/// Checks a `--user` name: what `useradd` accepts on Debian (`[a-z_][a-z0-9_-]*`,
/// at most 32 characters), and not `root` (`--root` makes root hosts).
pub(crate) fn validate_user(name: &str) -> Result<(), Error> {
    let ok = (1..=32).contains(&name.len())
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b == b'_' || (i > 0 && (b.is_ascii_digit() || b == b'-'))
        });
    if name == "root" {
        return Err(Error::Usage(
            "`--user root`: use `--root` for hosts whose login is root".to_string(),
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "bad login name `{name}`: use 1 to 32 characters from `a-z`, `0-9`, `_` and `-`, starting with a letter or `_`"
        )))
    }
}

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
pub(crate) const ETC_FILES: [&str; 6] =
    ["passwd", "shadow", "group", "sudoers", "sudoers.d", "hosts"];

/// The host's generated `etc/` directory.
pub(crate) fn etc_dir(host: &HostState) -> PathBuf {
    host.dir.join("etc")
}

/// The host's `/home`, as seen from this machine.
pub(crate) fn home_dir(host: &HostState) -> PathBuf {
    host.dir.join("home")
}

/// The workdir the hosts file names for a login (inside the host): `/home/USER/labctl`.
pub fn workdir(user: &str) -> String {
    format!("/home/{user}/labctl")
}

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

/// `text` (`passwd`, `shadow` or `group`) without the entry named `name`:
/// this machine's own account of that name, if any, gives way to the host's.
fn without(text: &str, name: &str) -> String {
    text.lines()
        .filter(|l| l.split(':').next() != Some(name))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Adds `user` to the group named `name` in `group` text (when there is one).
fn add_member(group: &str, name: &str, user: &str) -> String {
    group
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() == 4 && f[0] == name {
                let members = if f[3].is_empty() {
                    user.to_string()
                } else {
                    format!("{},{user}", f[3])
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

/// The login a host gets.
#[derive(Debug, Clone)]
pub struct Login {
    /// Its name (`pi`, or `up --user`'s).
    pub user: String,
    /// The public key its `authorized_keys` holds; `None`: no key, as a card
    /// Imager set up for password login (`up --password-only`).
    pub authorized_key: Option<String>,
    /// Its password's crypt(3) hash; `None`: no password (keys only).
    pub password_hash: Option<String>,
    /// What it may run through sudo.
    pub sudo: Sudo,
    /// The host runs NetworkManager: `--sudo-lab-only` also allows `nmcli`,
    /// which gives the lab address there.
    pub nm: bool,
}

/// Writes `host`'s account files and home: the login (a free uid, shell
/// `/bin/bash`, home `/home/USER`, groups `sudo` and `netdev`), its
/// `authorized_keys` or password, `/home/USER/labctl` (the workdir; `work` in
/// the host's directory points at it), and a sudoers granting what `sudo` says.
/// The account files are those of `base` (`/`, or the host's OS's root)
/// with the login added.
pub fn write(host: &HostState, login: &Login, base: &Path) -> Result<(), Error> {
    let user = login.user.as_str();
    let file = |f: &str| read(&base.join("etc").join(f).to_string_lossy());
    let passwd = without(&file("passwd")?, user);
    let shadow = without(&file("shadow")?, user);
    let group = without(&file("group")?, user);
    let id = free_id(&passwd, &group);
    let etc = etc_dir(host);
    mkdir(&etc, 0o755, None)?;
    write_file(
        &etc.join("passwd"),
        &format!("{passwd}{user}:x:{id}:{id}:{user}:/home/{user}:/bin/bash\n"),
    )?;
    // `*`: no password, yet not locked (sshd refuses keys of locked accounts).
    let hash = login.password_hash.as_deref().unwrap_or("*");
    write_file(
        &etc.join("shadow"),
        &format!("{shadow}{user}:{hash}:20000:0:99999:7:::\n"),
    )?;
    set_mode(&etc.join("shadow"), 0o640, None)?;
    let groups = add_member(&add_member(&group, "sudo", user), "netdev", user);
    write_file(&etc.join("group"), &format!("{groups}{user}:x:{id}:\n"))?;
    let rule = match login.sudo {
        Sudo::All => format!("{user} ALL=(ALL) NOPASSWD: ALL\n"),
        Sudo::LabOnly => {
            let mut cmds: Vec<&str> = hostops::SUDO_COMMANDS.to_vec();
            if login.nm {
                cmds.push(hostops::NM_SUDO_COMMAND);
            }
            let paths: Vec<String> = cmds.iter().map(|c| sudo_path(c)).collect();
            format!(
                "# Only what labctl's advice grants (`testbed up --sudo-lab-only`).\n{}\n",
                hostops::sudoers_line(user, &paths)
            )
        }
        Sudo::None => {
            format!("# `{user}` has no sudo rights on this host (`testbed up --no-sudo`).\n")
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
    write_home(host, login, id)
}

/// The uid of `user` in the host's generated `passwd`.
pub fn uid(host: &HostState, user: &str) -> Result<u32, Error> {
    let path = etc_dir(host).join("passwd");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Local(format!(
            "cannot read `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| Error::Local(format!("`{}` has no user `{user}`", path.display())))
}

/// The login's home as a fresh card has it: `.ssh/authorized_keys` (when it
/// has a key) and the empty workdir. Anything there before is removed first
/// (`testbed reimage`).
pub(crate) fn write_home(host: &HostState, login: &Login, id: u32) -> Result<(), Error> {
    let user = login.user.as_str();
    let home = home_dir(host);
    mkdir(&home, 0o755, None)?;
    let dir = home.join(user);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| {
            Error::Local(format!(
                "cannot remove `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    }
    mkdir(&dir, 0o755, Some(id))?;
    if let Some(key) = &login.authorized_key {
        mkdir(&dir.join(".ssh"), 0o700, Some(id))?;
        let keys = dir.join(".ssh").join("authorized_keys");
        write_file(&keys, key)?;
        set_mode(&keys, 0o600, Some(id))?;
    }
    mkdir(&dir.join("labctl"), 0o755, Some(id))?;
    let work = host.dir.join("work");
    if std::fs::symlink_metadata(&work).is_ok() {
        return Ok(());
    }
    std::os::unix::fs::symlink(format!("home/{user}/labctl"), &work).map_err(|e| {
        Error::Local(format!(
            "cannot link `{}`: {}",
            work.display(),
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
            add_member("sudo:x:27:\nadm:x:4:a\n", "sudo", "pi"),
            "sudo:x:27:pi\nadm:x:4:a\n"
        );
        assert_eq!(
            add_member("sudo:x:27:a\n", "sudo", "ada"),
            "sudo:x:27:a,ada\n"
        );
    }

    #[test]
    fn a_machine_account_of_the_same_name_gives_way() {
        assert_eq!(
            without(
                "root:x:0:0::/root:/bin/sh\npi:x:1000:1000::/home/pi:/bin/sh\n",
                "pi"
            ),
            "root:x:0:0::/root:/bin/sh\n"
        );
    }

    #[test]
    fn login_names_are_checked() {
        assert!(validate_user("ada").is_ok());
        assert!(validate_user("_lab-2").is_ok());
        for bad in ["", "Ada", "2ab", "a b", "root", &"a".repeat(33)] {
            assert_eq!(validate_user(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
