//! The hosts file judged as a whole, once its shape was read
//! ([`super::shape`]): each host has an `ssh` target and a lab address, its
//! own and on its bench's subnet; its `ssh` alias is looked up in
//! `~/.ssh/config`; every setting is resolved by precedence (see
//! [`super`]), and the chosen auth has what it needs.

use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::PathBuf;

use super::shape::{At, AuthKind, RawBench, RawHost, Shape};
use super::{mask, Auth, Bench, Host, Room, Setting, SshTarget};
use crate::config::openssh::{expand_tilde, SshConfig};
use crate::config::tree::Checker;

/// The validated room of what `shape` read, reporting every problem into `c`.
pub(super) fn room(c: &mut Checker<'_>, shape: Shape, ssh_config: &SshConfig) -> Room {
    let base_dir = c.src.path.parent().map(PathBuf::from).unwrap_or_default();
    let mut v = Validator {
        c,
        ssh_config,
        base_dir,
    };
    Room {
        path: v.c.src.path.clone(),
        is_room: shape.is_room,
        orphaned_after: shape.orphaned_after.unwrap_or(super::ORPHANED_AFTER),
        programs: shape.programs.clone(),
        benches: shape
            .benches
            .iter()
            .map(|b| v.bench(b, shape.is_room))
            .collect(),
    }
}

struct Validator<'c, 'a> {
    c: &'c mut Checker<'a>,
    ssh_config: &'c SshConfig,
    base_dir: PathBuf,
}

impl Validator<'_, '_> {
    fn bench(&mut self, raw: &RawBench, in_room: bool) -> Bench {
        let mut bench = Bench {
            name: raw.name.clone(),
            hosts: Vec::new(),
        };
        // (address, host name, span) of hosts seen so far, for duplicates and the subnet.
        let mut seen: Vec<(Ipv4Addr, u8, String, Range<usize>)> = Vec::new();
        for h in &raw.hosts {
            let s = &h.settings;
            let table_span = &h.key_span;
            // Both keys are judged before giving up on the host, and the address
            // is compared with the others' even when `ssh` is wrong: every problem at once.
            let ssh = s.ssh.clone();
            if ssh.is_none() && !s.refused("ssh") {
                self.c.err_hint(
                    table_span,
                    format!("host `{}` has no `ssh`", h.name),
                    "add `ssh = \"address[:port]\"` or an alias from ~/.ssh/config",
                );
            }
            let Some(addr) = s.addr.clone() else {
                if !s.refused("addr") {
                    self.c.err_hint(
                        table_span,
                        format!("host `{}` has no `addr`", h.name),
                        "add its lab address, e.g. `addr = \"10.0.3.1/24\"`",
                    );
                }
                continue;
            };
            let (ip, prefix) = addr.value;
            let mut addr_ok = true;
            if let Some((_, _, other, _)) = seen.iter().find(|(a, ..)| *a == ip) {
                let other = other.clone();
                self.c.err_hint(
                    &addr.span,
                    format!(
                        "address {ip} of host `{}` is already used by host `{other}`",
                        h.name
                    ),
                    "each host of a bench needs its own lab address",
                );
                addr_ok = false;
            }
            if let Some((a0, p0, first, _)) = seen.first() {
                let net0 = u32::from(*a0) & mask(*p0);
                if *p0 != prefix || u32::from(ip) & mask(prefix) != net0 {
                    let first = first.clone();
                    let net = format!("{}/{}", Ipv4Addr::from(net0), p0);
                    self.c.err_hint(
                        &addr.span,
                        format!(
                            "host `{}` ({ip}/{prefix}) is not on the subnet {net} of host `{first}`",
                            h.name
                        ),
                        "the hosts of one bench share one switch: give them addresses in one subnet",
                    );
                    addr_ok = false;
                }
            }
            if addr_ok {
                seen.push((ip, prefix, h.name.clone(), addr.span.clone()));
            }
            let Some(ssh) = ssh else {
                continue;
            };
            if let Some(host) = self.resolve(raw, in_room, h, &ssh, (ip, prefix)) {
                bench.hosts.push(host);
            }
        }
        bench
    }

    /// Host `h` of bench `raw`, every setting resolved; `None` when something it needs is wrong.
    fn resolve(
        &mut self,
        raw: &RawBench,
        in_room: bool,
        h: &RawHost,
        ssh: &At<String>,
        (addr, prefix): (Ipv4Addr, u8),
    ) -> Option<Host> {
        let (bench, name, own, defaults) = (&raw.name, &h.name, &h.settings, &raw.defaults);
        let s = own.over(defaults);
        // `ssh = "host[:port]"`, `[v6]:port`, or an alias.
        let (alias, explicit_port) = match split_host_port(&ssh.value) {
            Ok(x) => x,
            Err(msg) => {
                self.c.err_hint(
                    &ssh.span.clone(),
                    msg,
                    "write `address`, `address:port` or an ~/.ssh/config alias",
                );
                return None;
            }
        };
        let cfg = self.ssh_config.lookup(&alias);
        let user = own
            .user
            .as_ref()
            .map(|u| u.value.clone())
            .or(cfg.user.clone())
            .or_else(|| defaults.user.as_ref().map(|u| u.value.clone()))
            // The example hosts file and `labctl init` name the login; a file
            // that names none gets the login of the Pi images labs long used.
            .unwrap_or_else(|| "pi".to_string());
        // A login name from ~/.ssh/config is judged as one from this file.
        if !super::login_name_ok(&user) {
            self.c.err_hint(
                &ssh.span.clone(),
                format!(
                    "host `{name}`: user `{}` (from ~/.ssh/config) is not a login name",
                    user.escape_debug()
                ),
                "fix its `User` line, or set `user` for this host",
            );
            return None;
        }
        let port = explicit_port
            .or(own.port.as_ref().map(|p| p.value))
            .or(cfg.port)
            .or(defaults.port.as_ref().map(|p| p.value))
            .unwrap_or(22);
        let host = cfg.hostname.clone().unwrap_or(alias);
        let identity = own
            .identity
            .as_ref()
            .map(|i| i.value.clone())
            .or(cfg.identity_file.clone())
            .or_else(|| defaults.identity.as_ref().map(|i| i.value.clone()));
        let auth_kind = s
            .auth
            .as_ref()
            .map(|a| a.value)
            .unwrap_or(if identity.is_some() {
                AuthKind::Key
            } else {
                AuthKind::Agent
            });
        let auth_span = s.auth.as_ref().map_or(ssh.span.clone(), |a| a.span.clone());
        let auth = match auth_kind {
            AuthKind::Agent => Auth::Agent,
            AuthKind::Key => match identity {
                Some(i) => Auth::Key {
                    identity: self.path(&i),
                    passphrase_env: s.passphrase_env.as_ref().map(|p| p.value.clone()),
                },
                // A present but invalid `identity` was reported already.
                None if s.refused("identity") => return None,
                None => {
                    self.c.err_hint(
                        &auth_span,
                        format!("host `{name}`: auth = \"key\" needs `identity`"),
                        "add `identity = \"~/.ssh/id_ed25519\"` (the private key file)",
                    );
                    return None;
                }
            },
            AuthKind::Password => match &s.password_env {
                Some(e) => Auth::Password {
                    env: e.value.clone(),
                },
                None if s.refused("password_env") => return None,
                None => {
                    self.c.err_hint(
                        &auth_span,
                        format!("host `{name}`: auth = \"password\" needs `password_env`"),
                        "add `password_env = \"VAR\"` and put the password in that environment variable",
                    );
                    return None;
                }
            },
        };
        let workdir = s
            .workdir
            .as_ref()
            .map(|w| w.value.clone())
            .unwrap_or_else(|| {
                if user == "root" {
                    "/root/labctl".to_string()
                } else {
                    format!("/home/{user}/labctl")
                }
            });
        let sudo = s.sudo.as_ref().map(|v| v.value).unwrap_or(user != "root");
        let known_hosts = match &s.known_hosts {
            Some(k) => self.path(&k.value),
            None => expand_tilde("~/.config/labctl/known_hosts"),
        };
        let at = |span: &Range<usize>| {
            format!(
                "{}:{}",
                self.c.src.path.display(),
                self.c.src.line_col(span.start).0
            )
        };
        let interface_at = match &s.interface {
            Some(i) => Setting {
                at: at(&i.span),
                written: true,
            },
            None => Setting {
                at: at(&h.key_span),
                written: false,
            },
        };
        let password_env = s.password_env.as_ref().map(|p| p.value.clone());
        Some(Host {
            name: name.to_string(),
            bench: bench.to_string(),
            in_room,
            target: SshTarget { host, port, user },
            auth,
            interface_at,
            password_env,
            interface: s.interface.map_or_else(|| "eth0".to_string(), |i| i.value),
            addr,
            prefix,
            workdir,
            sudo,
            arch: s.arch.map(|a| a.value),
            known_hosts,
        })
    }

    /// `~` expanded; relative paths relative to the hosts file.
    fn path(&self, p: &str) -> PathBuf {
        let e = expand_tilde(p);
        if e.is_relative() {
            self.base_dir.join(e)
        } else {
            e
        }
    }
}

/// `host`, `host:port`, `[v6]:port` → (host, port).
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let bad_port =
        |p: &str| format!("port `{p}` in `ssh = \"{s}\"` is not a number from 1 to 65535");
    if let Some(rest) = s.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(format!("`{s}`: missing `]`"));
        };
        return match after.strip_prefix(':') {
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok((h.to_string(), Some(n))),
                _ => Err(bad_port(p)),
            },
            None if after.is_empty() => Ok((h.to_string(), None)),
            None => Err(format!("`{s}`: unexpected text after `]`")),
        };
    }
    if s.contains(char::is_whitespace) {
        return Err(format!("`ssh = \"{s}\"` contains a space"));
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
            Ok(n) if n > 0 && !h.is_empty() => Ok((h.to_string(), Some(n))),
            _ => Err(bad_port(p)),
        },
        _ => Ok((s.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_values_split() {
        assert_eq!(split_host_port("h").unwrap(), ("h".to_string(), None));
        assert_eq!(
            split_host_port("h:22").unwrap(),
            ("h".to_string(), Some(22))
        );
        assert_eq!(
            split_host_port("[::1]:22").unwrap(),
            ("::1".to_string(), Some(22))
        );
        assert_eq!(split_host_port("::1").unwrap(), ("::1".to_string(), None));
        assert!(split_host_port("h:0").is_err());
        assert!(split_host_port("h:x").is_err());
    }
}
