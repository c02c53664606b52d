//! The hosts' OpenSSH servers: keys (one ed25519 host key per host, plus
//! an RSA one on request, one client key per testbed), a config per host, and an `sshd` per host running inside
//! its network namespace and its own UTS namespace (so `hostname` says `A`).
//! Real sshds, so the tests exercise what a Raspberry Pi would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;
use crate::util::shell_template::{render, Val};
use crate::util::{io_reason, shell_quote};

use super::state::{write_file, HostState, State};
use super::{login, nm, proc};

/// The testbed's client key (private half); `.pub` next to it.
pub(crate) fn client_key(dir: &Path) -> PathBuf {
    dir.join("id_ed25519")
}

/// A host's private host key.
pub(crate) fn host_key(host: &HostState) -> PathBuf {
    host.dir.join("ssh_host_ed25519_key")
}

/// A host's second host key, an RSA one: made only when `testbed up` runs
/// with [`RSA_HOST_KEY_ENV`] set (a host offering two key types, for the
/// host-key negotiation tests).
pub(crate) fn rsa_host_key(host: &HostState) -> PathBuf {
    host.dir.join("ssh_host_rsa_key")
}

/// Set (to anything) for `testbed up`: every host also gets an RSA host key.
pub(crate) const RSA_HOST_KEY_ENV: &str = "LABCTL_TESTBED_RSA_HOST_KEY";

/// A host's sshd config.
pub(crate) fn config_path(host: &HostState) -> PathBuf {
    host.dir.join("sshd_config")
}

/// Generates every key `state` needs (in parallel: one `ssh-keygen` each).
pub(crate) fn generate_keys(state: &State) -> Result<(), Error> {
    let mut keys = vec![(
        client_key(&state.dir),
        "ed25519",
        format!("labctl-testbed-{}", state.name),
    )];
    let rsa = std::env::var_os(RSA_HOST_KEY_ENV).is_some();
    for (_, h) in state.hosts() {
        keys.extend(host_keys(state, h, rsa));
    }
    keygen(&keys)
}

/// New host keys for `host`, as a re-flashed card has (`testbed reimage`):
/// the old ones are removed first; an RSA key again only if it had one.
pub(crate) fn regenerate_host_keys(state: &State, host: &HostState) -> Result<(), Error> {
    let rsa = rsa_host_key(host).exists();
    let keys = host_keys(state, host, rsa);
    for (path, _, _) in &keys {
        for p in [path.clone(), path.with_extension("pub")] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Local(format!(
                        "cannot remove `{}`: {}",
                        p.display(),
                        io_reason(&e)
                    )))
                }
            }
        }
    }
    keygen(&keys)
}

/// `(path, type, comment)` of `host`'s host keys.
fn host_keys(state: &State, h: &HostState, rsa: bool) -> Vec<(PathBuf, &'static str, String)> {
    let comment = format!("labctl-testbed-{}-{}", state.name, h.hostname);
    let mut keys = Vec::new();
    if rsa {
        keys.push((rsa_host_key(h), "rsa", comment.clone()));
    }
    keys.push((host_key(h), "ed25519", comment));
    keys
}

/// Runs one `ssh-keygen` per key, in parallel; the first failure is the error.
fn keygen(keys: &[(PathBuf, &str, String)]) -> Result<(), Error> {
    let mut children = Vec::new();
    for (path, kind, comment) in keys {
        let child = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Local(format!("cannot run `ssh-keygen`: {}", io_reason(&e))))?;
        children.push((path, child));
    }
    let mut first = None;
    for (path, child) in children {
        match child.wait_with_output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                first.get_or_insert(Error::Local(format!(
                    "`ssh-keygen` failed for `{}`: {}",
                    path.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            Err(e) => {
                first.get_or_insert(Error::Local(format!(
                    "waiting for `ssh-keygen`: {}",
                    io_reason(&e)
                )));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// The key of a `.pub` file as `TYPE BASE64` (no comment).
pub(crate) fn public_key(private: &Path) -> Result<String, Error> {
    let path = private.with_extension("pub");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Local(format!(
            "cannot read `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let mut fields = text.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(t), Some(k)) => Ok(format!("{t} {k}")),
        _ => Err(Error::Local(format!(
            "`{}` holds no public key",
            path.display()
        ))),
    }
}

/// The text of a host's sshd config.
pub(crate) fn config_text(state: &State, host: &HostState) -> String {
    format!(
        "# labctl testbed `{name}`, host `{hostname}`: generated by `labctl testbed up`.\n\
         ListenAddress 127.0.0.1\n\
         Port 22\n\
         HostKey {key}\n\
         {rsa}\
         AuthorizedKeysFile {auth}\n\
         PasswordAuthentication {password}\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin {root}\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile none\n\
         Subsystem sftp internal-sftp\n\
         MaxSessions 10\n\
         MaxStartups 100:30:200\n\
         LogLevel ERROR\n\
         ClientAliveInterval 5\n\
         ClientAliveCountMax 3\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         # bash skips ~/.bashrc for ssh commands when SHLVL is set; a root\n\
         # .bashrc that runs e.g. `pyenv init` costs 150 ms per command.\n\
         # (A host with its own clock also preloads libfaketime: testbed/clock.rs.)\n\
         SetEnv SHLVL=1{clock}\n",
        name = state.name,
        hostname = host.hostname,
        key = host_key(host).display(),
        rsa = if rsa_host_key(host).exists() {
            format!("HostKey {}\n", rsa_host_key(host).display())
        } else {
            String::new()
        },
        auth = if state.pi {
            ".ssh/authorized_keys".to_string()
        } else {
            state.dir.join("authorized_keys").display().to_string()
        },
        root = if state.pi { "no" } else { "prohibit-password" },
        password = if state.password_only { "yes" } else { "no" },
        clock = super::clock::sshd_env(state, host).unwrap_or_default(),
    )
}

/// Writes every host's config and its `work/` directory, and `authorized_keys`.
pub(crate) fn write_configs(state: &State) -> Result<(), Error> {
    let authorized = public_key(&client_key(&state.dir))? + "\n";
    write_file(&state.dir.join("authorized_keys"), &authorized)?;
    for (_, h) in state.hosts() {
        let work = h.dir.join("work");
        if state.pi {
            // `login::write` makes `work` a link to the host's `/home/pi/labctl`.
            write_file(&config_path(h), &config_text(state, h))?;
            continue;
        }
        std::fs::create_dir_all(&work).map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                work.display(),
                io_reason(&e)
            ))
        })?;
        write_file(&config_path(h), &config_text(state, h))?;
    }
    Ok(())
}

/// Makes sure sshd's privilege-separation directory exists, then has sshd check one config.
pub(crate) fn validate(sshd: &Path, config: &Path) -> Result<(), Error> {
    let privsep = Path::new("/run/sshd");
    if !privsep.is_dir() {
        std::fs::create_dir_all(privsep)
            .map_err(|e| Error::Local(format!("cannot create `/run/sshd`: {}", io_reason(&e))))?;
    }
    proc::run(
        Command::new(sshd).arg("-t").arg("-f").arg(config),
        &format!("`sshd -t` rejected `{}`", config.display()),
    )
    .map(|_| ())
}

/// The boot script of `host` (`host-boot.sh`, then `host-start.sh` in its
/// root): its name, its root, its mounts, its NetworkManager with
/// [`State::nm`], then its sshd.
pub(crate) fn boot_script(sshd: &Path, state: &State, host: &HostState) -> String {
    let mut binds = String::new();
    let mut mounts = Vec::new();
    if state.pi {
        mounts.extend(login::mounts(host));
    }
    // Its clock directory and wrappers (a testbed made before they existed has none).
    if super::clock::dir(host).join("date").exists() {
        mounts.extend(super::clock::mounts(host).unwrap_or_default());
    }
    for (from, to) in mounts {
        binds += &format!(
            "bind {} \"$m\"{}\n",
            shell_quote(&from.to_string_lossy()),
            shell_quote(&to)
        );
    }
    let q = |p: &Path| p.to_string_lossy().into_owned();
    let root = host.root.as_deref().map(q).unwrap_or_default();
    // A root's own sshd (OpenSSH 10 has no `-r`: it always runs sessions apart).
    let (sshd, flags) = if host.root.is_some() {
        ("/usr/sbin/sshd".to_string(), "")
    } else {
        (q(sshd), "-r ")
    };
    let start = render(
        include_str!("host-start.sh"),
        &[
            ("NM", Val::Raw(if state.nm { "1" } else { "" })),
            ("LOGS", Val::Quoted(&q(&host.dir))),
            ("DBUS_CONF", Val::Quoted(&q(&nm::dbus_config(state)))),
            ("IFACE", Val::Quoted("eth0")),
            ("SSHD", Val::Quoted(&sshd)),
            ("FLAGS", Val::Raw(flags)),
            ("CONFIG", Val::Quoted(&q(&config_path(host)))),
        ],
    );
    render(
        include_str!("host-boot.sh"),
        &[
            ("HOSTNAME", Val::Quoted(&host.hostname)),
            ("ROOT", Val::Quoted(&root)),
            ("LOGS", Val::Quoted(&q(&host.dir))),
            ("STATE", Val::Quoted(&q(&state.dir))),
            ("BINDS", Val::Raw(binds.trim_end())),
            ("NM", Val::Raw(if state.nm { "1" } else { "" })),
            ("NM_ETC", Val::Quoted(&q(&nm::etc_dir(host)))),
            ("NM_LIB", Val::Quoted(&q(&nm::lib_dir(host)))),
            ("NETPLAN", Val::Quoted(&q(&host.netplan_dir()))),
            ("START", Val::Quoted(&start)),
        ],
    )
}

/// Starts `host`'s sshd, detached, in its namespaces; returns its pid.
/// It runs in its own mount namespace ([`boot_script`]): on hosts whose
/// login is not root the host's account files and home are mounted there
/// (never on this machine's `/etc`), and with NetworkManager its private
/// `/run`, bus and NetworkManager. A host whose NetworkManager still runs
/// (its sshd was stopped) gets its sshd back in that same mount namespace.
///
/// `ip netns exec` and `unshare` exec in place and `sh` execs sshd, so the
/// pid of the spawned process is sshd's own. That sshd is its sessions'
/// reaper (see [`proc::reaps_orphans`]), and NetworkManager's and
/// dbus-daemon's parent. `-r` skips sshd's re-exec per connection: 30 hosts
/// share this machine's two cores, and the re-exec was about a fifth of the
/// CPU a `check` of a room costs.
pub(crate) fn spawn(sshd: &Path, state: &State, host: &HostState) -> Result<u32, Error> {
    let (log, log2) = proc::log_files(&host.dir.join("sshd.log"))?;
    let mut cmd;
    if let Some((pid, _)) = nm::daemons(host).first() {
        // Its NetworkManager holds the mount namespace (and root) sshd had.
        cmd = Command::new("nsenter");
        cmd.arg(format!("--target={pid}"))
            .args(["--mount", "--uts", "--net", "--root", "--wd", "--"]);
        if host.root.is_some() {
            cmd.args(["/usr/sbin/sshd", "-D", "-e", "-f"]);
        } else {
            cmd.arg(sshd).args(["-D", "-r", "-e", "-f"]);
        }
        cmd.arg(config_path(host));
    } else {
        cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &host.netns,
            "unshare",
            "--uts",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &boot_script(sshd, state, host),
        ]);
    }
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    proc::reaps_orphans(&mut cmd);
    let child = proc::spawn_detached(&mut cmd).map_err(|e| {
        Error::Local(format!(
            "cannot start sshd of host `{}`: {}",
            host.hostname,
            io_reason(&e)
        ))
    })?;
    Ok(child.id())
}

/// The `known_hosts` text: `[127.0.0.1]:PORT TYPE KEY` per host with a port.
pub(crate) fn known_hosts_text(state: &State) -> Result<String, Error> {
    let mut text = String::new();
    for (_, h) in state.hosts() {
        if let Some(port) = h.ssh_port {
            text += &format!("[127.0.0.1]:{port} {}\n", public_key(&host_key(h))?);
        }
    }
    Ok(text)
}
