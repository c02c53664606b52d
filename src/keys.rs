//! `labctl keys`: the first contact with a room's hosts, and their re-imaged
//! cards, without ever trusting a host key silently.
//!
//! A card that Raspberry Pi Imager set up for password login accepts only
//! the login's password. `keys install` takes that password from the
//! environment variable the hosts file names (`password_env`; it is never
//! written anywhere), logs in with it and adds labctl's public key (the
//! `.pub` of the host's `identity`) to `~/.ssh/authorized_keys`, as
//! ssh-copy-id does (`keys/install-key.sh`: right modes, never a duplicate
//! line); a host whose key login already works needs nothing. A re-imaged
//! card comes back with new host keys, which every command refuses; `keys
//! trust --replace` shows, per host, the recorded and the offered
//! fingerprints and records the new key in labctl's own known_hosts.
//!
//! Both start the same way: every host's offered host key is seen (the SSH
//! handshake only, in parallel) and judged against the known_hosts files,
//! then the new ones (and with `--replace` the changed ones) are listed with
//! their fingerprints and recorded only after one confirmation for them all
//! (`--accept-new` for `install`, `--yes` for `trust`). The password login
//! that follows is strict again: it meets exactly the keys just recorded.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::hosts::{self, BenchChoice, Host};
use crate::error::Error;
use crate::ssh::known_hosts::{self, KeyVerdict};
use crate::ssh::{self, Auth, ConnectOptions, OfferedKey, Session, SshError, SshErrorKind};
use crate::util::shell_template::{render, Val};

/// The hosts of the selected benches.
fn selected(room: &hosts::Room, select: BenchChoice) -> Result<Vec<&Host>, Error> {
    Ok(room
        .select(select)?
        .into_iter()
        .flat_map(|b| b.hosts.iter())
        .collect())
}

/// Runs `f` for every host on a thread of its own; results in `hosts` order.
fn each<T: Send>(hosts: &[&Host], f: impl Fn(&Host) -> T + Sync) -> Vec<T> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = hosts.iter().map(|&h| s.spawn(move || f(h))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// What labctl will do with one host's offered key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Known already: nothing to record.
    Known,
    /// Recorded after the confirmation.
    Record,
    /// Changed, without `--replace`: refused.
    Refuse,
}

/// Sees every host's offered key, prints a line for each, and records the
/// new ones (and with `replace` the changed ones) once confirmed. Returns,
/// per host, the offered key or why it is not trusted.
fn survey(
    hosts: &[&Host],
    opts: &ConnectOptions,
    replace: bool,
    confirmed: bool,
    refuse_hint: &str,
) -> Result<Vec<Result<OfferedKey, String>>, Error> {
    let offered = each(hosts, |h| ssh::probe_host_key(h, opts));
    let mut decisions = Vec::new();
    for (h, o) in hosts.iter().zip(&offered) {
        let label = h.label();
        let d = match o {
            Err(e) => {
                say(format!("✘ {label}  {}", e.message));
                None
            }
            Ok(k) => {
                let kind = known_hosts::key_type_name(k.kind);
                Some(match &k.verdict {
                    KeyVerdict::Known { file } => {
                        say(format!(
                            "✔ {label}  {kind} {} known in `{}`",
                            k.fingerprint,
                            file.display()
                        ));
                        Decision::Known
                    }
                    KeyVerdict::Unknown => {
                        say(format!(
                            "? {label}  new host key {kind} {} (not recorded yet)",
                            k.fingerprint
                        ));
                        Decision::Record
                    }
                    KeyVerdict::Changed { file, line } => {
                        say(format!(
                            "! {label}  host key CHANGED: recorded {} (`{}` line {line}), offered {kind} {}",
                            k.recorded.as_deref().unwrap_or("another key"),
                            file.display(),
                            k.fingerprint
                        ));
                        if replace {
                            Decision::Record
                        } else {
                            Decision::Refuse
                        }
                    }
                })
            }
        };
        decisions.push(d);
    }
    let to_record: Vec<usize> = decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| **d == Some(Decision::Record))
        .map(|(i, _)| i)
        .collect();
    let mut ok = !to_record.is_empty();
    if ok && !confirmed {
        let mut files: Vec<String> = to_record
            .iter()
            .map(|&i| format!("`{}`", hosts[i].known_hosts.display()))
            .collect();
        files.sort();
        files.dedup();
        ok = confirm(&format!(
            "trust the {} host key{} marked above (? new, ! changed) and record {} in {}? [y/N] ",
            to_record.len(),
            if to_record.len() == 1 { "" } else { "s" },
            if to_record.len() == 1 { "it" } else { "them" },
            files.join(", ")
        ));
        if !ok {
            return Err(Error::Failed(
                "not confirmed: no host key was recorded and nothing was changed on any host"
                    .to_string(),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, (h, o)) in hosts.iter().zip(offered).enumerate() {
        let r = match (o, decisions[i]) {
            (Err(e), _) => Err(e.message),
            (Ok(k), Some(Decision::Known)) => Ok(k),
            (Ok(_), Some(Decision::Refuse)) => Err(format!("its host key changed: {refuse_hint}")),
            (Ok(k), _) => record(h, &k).map(|()| k),
        };
        out.push(r);
    }
    Ok(out)
}

/// Records `k` for `h` in labctl's own known_hosts: appended when new,
/// replacing the host's other keys there when changed.
fn record(h: &Host, k: &OfferedKey) -> Result<(), String> {
    let file = &h.known_hosts;
    let host = &h.target.host;
    let port = h.target.port;
    let fail = |e: std::io::Error| {
        format!(
            "cannot record its host key in `{}`: {}",
            file.display(),
            crate::util::io_reason(&e)
        )
    };
    match &k.verdict {
        KeyVerdict::Changed { file: old, line } => {
            let removed = known_hosts::replace(file, host, port, &k.key, k.kind).map_err(fail)?;
            let mut line_note = String::new();
            if old != file {
                line_note = format!(
                    "; `{}` line {line} still holds the old key (labctl writes only its own file: `ssh-keygen -R '{}' -f {}`)",
                    old.display(),
                    known_hosts::entry_name(host, port),
                    old.display()
                );
            }
            say(format!(
                "✔ {}  recorded {} in `{}`{}{line_note}",
                h.label(),
                k.fingerprint,
                file.display(),
                if removed.is_empty() {
                    ""
                } else {
                    " (the old key removed from it)"
                }
            ));
        }
        _ => {
            known_hosts::append(file, host, port, &k.key, k.kind).map_err(fail)?;
            say(format!(
                "✔ {}  recorded {} in `{}`",
                h.label(),
                k.fingerprint,
                file.display()
            ));
        }
    }
    Ok(())
}

/// Asks `question` on stderr and reads the answer from stdin: `y` or `yes`.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    if matches!(read, Ok(0) | Err(_)) {
        eprintln!();
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn say(line: String) {
    crate::util::out_line(&line);
}

/// `keys trust [--replace] [--yes]`: the hosts file, the benches chosen.
pub(crate) fn trust(
    hosts_file: &Path,
    select: BenchChoice,
    replace: bool,
    yes: bool,
) -> Result<(), Error> {
    let room = hosts::load(hosts_file)?;
    let hosts = selected(&room, select)?;
    let opts = ConnectOptions::default();
    let results = survey(
        &hosts,
        &opts,
        replace,
        yes,
        "run `labctl keys trust --replace` to see both keys and record the new one",
    )?;
    finish(&hosts, &results, "host keys trusted")
}

/// The exit of a `keys` command from its per-host results.
fn finish<T>(hosts: &[&Host], results: &[Result<T, String>], what: &str) -> Result<(), Error> {
    let failed: Vec<String> = hosts
        .iter()
        .zip(results)
        .filter_map(|(h, r)| r.as_ref().err().map(|e| format!("`{}`: {e}", h.label())))
        .collect();
    if failed.is_empty() {
        say(format!(
            "{what} on {} host{}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ));
        return Ok(());
    }
    let msg = format!(
        "{} of {} host{} failed: {}",
        failed.len(),
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        failed.join("; ")
    );
    if failed.len() == hosts.len() && results.iter().all(|r| r.is_err()) {
        return Err(Error::Host(msg));
    }
    Err(Error::Failed(msg))
}

/// The public key `keys install` puts on a host: the `.pub` of its identity.
fn public_key(h: &Host) -> Result<(String, PathBuf), Error> {
    let Auth::Key { identity, .. } = &h.auth else {
        return Err(Error::Usage(format!(
            "host `{}`: `keys install` installs the public key of `identity`: set `auth = \"key\"` and `identity` for it in hosts.toml",
            h.label()
        )));
    };
    let path = PathBuf::from(format!("{}.pub", identity.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "host `{}`: cannot read the public key `{}`: {} (make it with `ssh-keygen -y -f {} > {}`)",
            h.label(),
            path.display(),
            crate::util::io_reason(&e),
            identity.display(),
            path.display()
        ))
    })?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match line {
        Some(l) if l.split_whitespace().count() >= 2 => Ok((l.to_string(), path)),
        _ => Err(Error::Usage(format!(
            "host `{}`: `{}` holds no public key",
            h.label(),
            path.display()
        ))),
    }
}

/// The command that installs `key` (a `.pub` line) for the login.
pub(crate) fn install_cmd(key: &str) -> String {
    let blob: Vec<&str> = key.split_whitespace().take(2).collect();
    render(
        include_str!("keys/install-key.sh"),
        &[
            ("KEY", Val::Quoted(key)),
            ("BLOB", Val::Quoted(&blob.join(" "))),
        ],
    )
}

/// `keys install`: every selected host's login gets labctl's public key
/// (`accept_new`: new host keys recorded without asking).
pub(crate) fn install(
    hosts_file: &Path,
    select: BenchChoice,
    accept_new: bool,
) -> Result<(), Error> {
    let room = hosts::load(hosts_file)?;
    let hosts = selected(&room, select)?;
    // Everything checked before any host is contacted.
    let mut keys = Vec::new();
    for h in &hosts {
        let Some(var) = &h.password_env else {
            return Err(Error::Usage(format!(
                "host `{}`: `keys install` logs in with the login's password: name the environment variable holding it with `password_env = \"VAR\"` in hosts.toml",
                h.label()
            )));
        };
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            return Err(Error::Usage(format!(
                "environment variable `{var}` (the password of `{}` on host `{}`, as `password_env` says) is not set; set it for this command only, e.g. `read -rs {var} && export {var}`",
                h.target.user,
                h.label()
            )));
        }
        keys.push(public_key(h)?);
    }
    let opts = ConnectOptions::default();
    let trusted = survey(
        &hosts,
        &opts,
        false,
        accept_new,
        "if its card was re-imaged, run `labctl keys trust --replace` first",
    )?;
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .zip(&keys)
            .zip(&trusted)
            .map(|((&h, (key, path)), t)| {
                let opts = &opts;
                s.spawn(move || match t {
                    Err(e) => Err(e.clone()),
                    Ok(_) => install_one(h, key, path, opts),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for (h, r) in hosts.iter().zip(&results) {
        match r {
            Ok(()) => {}
            Err(e) => say(format!("✘ {}  {e}", h.label())),
        }
    }
    finish(&hosts, &results, "key login works")
}

/// Installs `key` on `h`: nothing when its key login works already, else
/// through a password login, then proves the key login.
fn install_one(h: &Host, key: &str, path: &Path, opts: &ConnectOptions) -> Result<(), String> {
    let label = h.label();
    let user = &h.target.user;
    match Session::connect(h, opts) {
        Ok(_) => {
            say(format!(
                "✔ {label}  key login as `{user}` works already (`{}`): nothing to do",
                path.display()
            ));
            return Ok(());
        }
        Err(e) if e.kind == SshErrorKind::Auth => {}
        Err(e) => return Err(e.message),
    }
    let var = h.password_env.clone().unwrap_or_default();
    let mut target = h.ssh_target();
    target.auth = Auth::Password { env: var };
    let sess = Session::connect(target, opts).map_err(|e: SshError| e.message)?;
    let out = sess
        .exec(&install_cmd(key), None, Duration::from_secs(30))
        .map_err(|e| e.message)?;
    if !out.success() {
        return Err(format!(
            "installing the key in ~{user}/.ssh/authorized_keys {}: {}",
            out.describe(),
            ssh::whole_reason(&out.stderr_str())
        ));
    }
    let added = out.stdout_str().contains("added");
    Session::connect(h, opts).map_err(|e| {
        format!(
            "the key is in ~{user}/.ssh/authorized_keys, yet key login still fails: {}",
            e.message
        )
    })?;
    say(format!(
        "✔ {label}  {} `{}` to ~{user}/.ssh/authorized_keys; key login works",
        if added { "added" } else { "already had" },
        path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_leaves_one_line_with_ssh_copy_ids_modes() {
        use std::os::unix::fs::PermissionsExt;
        let home = std::env::temp_dir().join(format!("labctl-keys-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let keys = home.join(".ssh/authorized_keys");
        // An existing key whose line has no newline at its end.
        std::fs::write(&keys, "ssh-ed25519 AAAAother someone").unwrap();
        let cmd = install_cmd("ssh-ed25519 AAAAC3Nza labctl");
        let run = || {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .env("HOME", &home)
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
            String::from_utf8(o.stdout).unwrap()
        };
        assert_eq!(run(), "added\n");
        assert_eq!(run(), "present\n");
        let text = std::fs::read_to_string(&keys).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let modes = (mode(&home.join(".ssh")), mode(&keys));
        let _ = std::fs::remove_dir_all(&home);
        assert_eq!(
            text,
            "ssh-ed25519 AAAAother someone\nssh-ed25519 AAAAC3Nza labctl\n"
        );
        assert_eq!(modes, (0o700, 0o600));
    }

    #[test]
    fn the_install_command_quotes_the_key() {
        let c = install_cmd("ssh-ed25519 AAAAC3Nza labctl's key");
        assert!(
            c.contains("grep -q -F -e 'ssh-ed25519 AAAAC3Nza' \"$f\""),
            "{c}"
        );
        assert!(
            c.contains(r"printf '%s\n' 'ssh-ed25519 AAAAC3Nza labctl'\''s key' >>"),
            "{c}"
        );
    }
}
