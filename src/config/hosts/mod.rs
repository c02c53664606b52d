//! `hosts.toml`: the bench (or room of benches), from TOML text to a validated
//! [`Room`]. Every problem is reported at once, located to file:line:column,
//! and nothing here touches a host.
//!
//! Precedence for each host key: the host's own table, then (for an `ssh`
//! alias) `~/.ssh/config` (HostName, Port, User, IdentityFile), then the
//! bench's `[benches.NAME.defaults]`, then the file's `[defaults]`, then
//! built-in defaults (user `pi`, port 22, auth `agent` or `key` when an
//! identity is known, interface `eth0`, workdir `/home/USER/labctl`
//! (`/root/labctl` for root), `sudo` unless the user is root, known_hosts
//! `~/.config/labctl/known_hosts`). Relative paths are relative to the hosts
//! file's directory.
//!
//! The file is read into the shared spanned tree ([`crate::config::tree`]),
//! its shape and each value's form checked in `shape.rs`, then the hosts
//! judged together and resolved in `validate.rs`.

mod shape;
mod validate;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::config::openssh::{self, SshConfig};
use crate::config::tree::{self, Checker};
use crate::config::Source;
use crate::error::{Diagnostic, Error};
use crate::ssh;

/// How to authenticate (the SSH layer's type: the hosts file only chooses it).
pub use crate::ssh::Auth;

/// A validated hosts file: one bench, or a room of benches.
#[derive(Debug, Clone)]
pub struct Room {
    pub path: PathBuf,
    /// True for the `[benches.NAME]` form, false for a single bench (`[hosts]`).
    pub is_room: bool,
    /// How long a host hears nothing from labctl (its ticks) before it ends
    /// the run by itself (`orphaned_after`, top level; [`ORPHANED_AFTER`] by default).
    pub orphaned_after: std::time::Duration,
    /// The program set the file chooses (`programs = "NAME"`, top level).
    pub programs: Option<SetChoice>,
    pub benches: Vec<Bench>,
}

/// A hosts file's `programs = "NAME"`: the program set its labs run
/// (`--programs` overrides it; `lab::set::choose` resolves it against the lab).
#[derive(Debug, Clone)]
pub struct SetChoice {
    pub name: String,
    /// Where it is written, for located errors.
    pub at: Diagnostic,
}

/// A POSIX login name: 1 to 32 of the portable filename characters
/// (`A-Za-z0-9._-`), `-` not first.
pub fn login_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A run's host ends the run by itself after hearing nothing from labctl
/// this long, unless the hosts file says otherwise (`orphaned_after`).
pub const ORPHANED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// One bench: hosts on one switch, in file order.
#[derive(Debug, Clone)]
pub struct Bench {
    pub name: String,
    pub hosts: Vec<Host>,
}

/// One host of a bench, every setting resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub bench: String,
    /// Whether the host belongs to a room (labels then carry the bench name).
    pub in_room: bool,
    pub target: SshTarget,
    pub auth: Auth,
    pub interface: String,
    /// Where the hosts file sets `interface` for this host (`hosts.toml:21`),
    /// or, when the built-in `eth0` applies, where the host's table is.
    pub interface_at: Setting,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub workdir: String,
    pub sudo: bool,
    /// Declared architecture (`aarch64`, `armv7`, ...): overrides `uname -m`
    /// when labctl picks the host's build.
    pub arch: Option<String>,
    /// labctl's own known_hosts file (`~/.ssh/known_hosts` is read as well).
    pub known_hosts: PathBuf,
    /// The environment variable holding the login's password (`password_env`):
    /// the password of `auth = "password"`, or of the first contact
    /// (`labctl keys install`) with any auth.
    pub password_env: Option<String>,
}

/// Where a setting of a host comes from in the hosts file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setting {
    /// `FILE:LINE` of the `key = value` line, or of the host's table when
    /// the setting is not written (the built-in default applies).
    pub at: String,
    /// The setting is written (at `at`), not the built-in default.
    pub written: bool,
}

/// Where to reach a host's sshd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Which benches of a hosts file a command works on: labctl's own choice,
/// built from the command line at its edge (`cli`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchChoice {
    /// None named: the file's only bench (a room of several must be chosen from).
    Implied,
    /// The bench of that name.
    Named(String),
    /// Every bench of the room.
    All,
}

impl Host {
    /// The lab address in CIDR form, e.g. `10.0.3.1/24`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }

    /// `A` for a single bench, `bench2/A` in a room.
    pub fn label(&self) -> String {
        if self.in_room {
            format!("{}/{}", self.bench, self.name)
        } else {
            self.name.clone()
        }
    }

    /// `127.0.0.1:40001` (IPv6 in brackets).
    pub fn endpoint(&self) -> String {
        ssh::endpoint(&self.target.host, self.target.port)
    }

    /// What the SSH layer needs to connect to this host, and nothing else.
    pub fn ssh_target(&self) -> ssh::Target {
        ssh::Target {
            label: self.label(),
            address: self.target.host.clone(),
            port: self.target.port,
            user: self.target.user.clone(),
            auth: self.auth.clone(),
            known_hosts: self.known_hosts.clone(),
        }
    }

    /// The subnet's network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask(self.prefix))
    }
}

impl From<&Host> for ssh::Target {
    fn from(host: &Host) -> ssh::Target {
        host.ssh_target()
    }
}

impl Bench {
    /// The host named `name` (exact match).
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

impl Room {
    /// The benches a command works on: a single-bench file's bench; in a room,
    /// `--bench NAME` or `--all` (not needed when the room has one bench).
    pub fn select(&self, choice: impl Into<BenchChoice>) -> Result<Vec<&Bench>, Error> {
        let choice = choice.into();
        let names = || {
            self.benches
                .iter()
                .map(|b| format!("`{}`", b.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let BenchChoice::Named(name) = &choice {
            return match self.benches.iter().find(|b| &b.name == name) {
                Some(b) => Ok(vec![b]),
                None => Err(Error::Usage(format!(
                    "no bench `{name}` in `{}`; its benches: {}",
                    self.path.display(),
                    names()
                ))),
            };
        }
        if choice == BenchChoice::All || self.benches.len() == 1 {
            return Ok(self.benches.iter().collect());
        }
        Err(Error::Usage(format!(
            "`{}` is a room of {} benches: choose one with `--bench NAME` or all with `--all`; its benches: {}",
            self.path.display(),
            self.benches.len(),
            names()
        )))
    }

    /// Every host of every bench, in file order.
    pub fn all_hosts(&self) -> impl Iterator<Item = &Host> {
        self.benches.iter().flat_map(|b| b.hosts.iter())
    }
}

/// Reads, parses and validates a hosts file, reporting every problem at once.
pub fn load(path: &Path) -> Result<Room, Error> {
    let source = Source::read(path)?;
    let ssh_config = openssh::default_path()
        .map(|p| SshConfig::read(&p))
        .unwrap_or_default();
    parse(&source, &ssh_config)
}

/// Parses and validates hosts-file text (the testable core of [`load`]).
pub fn parse(source: &Source, ssh_config: &SshConfig) -> Result<Room, Error> {
    let root = tree::parse(source)?;
    let mut c = Checker::new(source);
    let shape = shape::read(&mut c, &root);
    let room = validate::room(&mut c, shape, ssh_config);
    c.finish(room)
}

/// The netmask of a prefix length, as a number.
fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// `10.0.3.1/24` → (10.0.3.1, 24); refuses network and broadcast addresses.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let Some((a, p)) = s.split_once('/') else {
        return Err(format!("`{s}` is not in CIDR form (no `/prefix`)"));
    };
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("`{a}` in `{s}` is not an IPv4 address"))?;
    let prefix: u8 = match p.parse() {
        Ok(p) if (1..=32).contains(&p) => p,
        _ => {
            return Err(format!(
                "prefix `/{p}` in `{s}` is not a number from 1 to 32"
            ))
        }
    };
    if prefix <= 30 {
        let host_bits = u32::from(addr) & !mask(prefix);
        if host_bits == 0 {
            return Err(format!(
                "`{s}` is the network address of its subnet, not a host address"
            ));
        }
        if host_bits == !mask(prefix) {
            return Err(format!(
                "`{s}` is the broadcast address of its subnet, not a host address"
            ));
        }
    }
    Ok((addr, prefix))
}

/// Whether `n` may name a host or a bench: 1 to 32 letters, digits, `-` or `_`.
pub fn usable_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Host names by bench, for messages.
pub fn host_names(bench: &Bench) -> String {
    let names: BTreeMap<_, _> = bench.hosts.iter().map(|h| (h.name.as_str(), ())).collect();
    names
        .keys()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Room, Error> {
        parse(
            &Source::from_text("/lab/hosts.toml", text),
            &SshConfig::default(),
        )
    }

    fn diags(text: &str) -> Vec<crate::error::Diagnostic> {
        match load_text(text) {
            Err(Error::Input(d)) => d.0,
            Ok(r) => panic!("expected errors, got {r:?}"),
            Err(e) => panic!("expected input errors, got {e}"),
        }
    }

    const BENCH: &str = r#"
[defaults]
user = "root"
auth = "key"
identity = "keys/id"
known_hosts = "kh"
[hosts.A]
ssh = "127.0.0.1:40001"
addr = "10.0.3.1/24"
[hosts.B]
ssh = "127.0.0.1:40002"
addr = "10.0.3.2/24"
sudo = true
[hosts.C]
ssh = "127.0.0.1:40003"
addr = "10.0.3.3/24"
interface = "eth1"
"#;

    #[test]
    fn single_bench_resolves_defaults_and_overrides() {
        let room = load_text(BENCH).unwrap();
        assert!(!room.is_room);
        assert_eq!(room.benches.len(), 1);
        let b = &room.benches[0];
        assert_eq!(b.name, "bench");
        let names: Vec<_> = b.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        let a = b.host("A").unwrap();
        assert_eq!(
            a.target,
            SshTarget {
                host: "127.0.0.1".into(),
                port: 40001,
                user: "root".into()
            }
        );
        assert_eq!(
            a.auth,
            Auth::Key {
                identity: PathBuf::from("/lab/keys/id"),
                passphrase_env: None
            }
        );
        assert_eq!(a.cidr(), "10.0.3.1/24");
        assert_eq!(a.label(), "A");
        assert_eq!(a.workdir, "/root/labctl");
        assert!(!a.sudo, "root needs no sudo by default");
        assert!(b.host("B").unwrap().sudo);
        assert_eq!(b.host("C").unwrap().interface, "eth1");
        assert_eq!(a.interface, "eth0");
        assert_eq!(a.known_hosts, PathBuf::from("/lab/kh"));
    }

    #[test]
    fn the_program_set_is_part_of_the_file_and_located() {
        let room = load_text(&format!("programs = \"python\"\n{BENCH}")).unwrap();
        let set = room.programs.expect("the file chooses a set");
        assert_eq!(set.name, "python");
        assert_eq!((set.at.line, set.at.col), (1, 12));
        assert!(load_text(BENCH).unwrap().programs.is_none());
        let Err(Error::Input(d)) = load_text(&format!("programs = 3\n{BENCH}")) else {
            panic!("a number is no set")
        };
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(
            d.0[0].message,
            "`programs` must be a string, found an integer"
        );
        assert_eq!(
            d.0[0].hint.as_deref(),
            Some("the program sets are `rust`, `python`, `lab`")
        );
        assert_eq!(d.0[0].line, 1);
    }

    #[test]
    fn the_workdir_follows_the_logins_home() {
        let room = load_text(
            r#"[defaults]
user = "ada"
[hosts.A]
ssh = "a"
addr = "10.0.3.1/24"
"#,
        )
        .unwrap();
        let a = room.benches[0].host("A").unwrap();
        assert_eq!(a.target.user, "ada");
        assert_eq!(a.workdir, "/home/ada/labctl");
    }

    #[test]
    fn room_labels_carry_the_bench_and_select_works() {
        let room = load_text(
            r#"
[defaults]
user = "pi"
[benches.b1.hosts.A]
ssh = "h1"
addr = "10.0.3.1/24"
[benches.b2.defaults]
user = "student"
port = 2222
[benches.b2.hosts.A]
ssh = "h2"
addr = "10.0.3.1/24"
"#,
        )
        .unwrap();
        assert!(room.is_room);
        let b2 = &room.benches[1];
        let a = b2.host("A").unwrap();
        assert_eq!(a.label(), "b2/A");
        assert_eq!(a.target.user, "student");
        assert_eq!(a.target.port, 2222);
        assert!(a.sudo);
        assert_eq!(a.workdir, "/home/student/labctl");
        let none = BenchChoice::Implied;
        assert!(matches!(room.select(none), Err(Error::Usage(m)) if m.contains("`b1`, `b2`")));
        let all = BenchChoice::All;
        assert_eq!(room.select(all).unwrap().len(), 2);
        let one = BenchChoice::Named("b2".into());
        assert_eq!(room.select(one).unwrap()[0].name, "b2");
        let bad = BenchChoice::Named("nope".into());
        assert!(matches!(room.select(bad), Err(Error::Usage(m)) if m.contains("no bench `nope`")));
    }

    #[test]
    fn every_error_is_reported_at_once_with_locations() {
        let d = diags(
            r#"[defaults]
colour = "red"
port = "22"
[hosts.A]
ssh = "a"
addr = "10.0.3.1/33"
[hosts.B]
ssh = "b"
addr = "10.0.3.2/24"
password = "hunter2"
[hosts.C]
addr = "10.0.3.3/24"
[hosts.D]
ssh = "d"
addr = "10.0.3.2/24"
[hosts.E]
ssh = "e"
addr = "10.0.4.5/24"
[hosts.F]
ssh = "f"
"#,
        );
        let text: Vec<String> = d
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.col, d.message))
            .collect();
        let all = text.join("\n");
        let expect = [
            ("2:1", "unknown field `colour`"),
            ("3:8", "`port` must be an integer"),
            ("6:8", "prefix `/33`"),
            ("10:1", "secrets never go in this file"),
            ("11:8", "host `C` has no `ssh`"),
            (
                "15:8",
                "address 10.0.3.2 of host `D` is already used by host `B`",
            ),
            (
                "18:8",
                "host `E` (10.0.4.5/24) is not on the subnet 10.0.3.0/24",
            ),
            ("19:8", "host `F` has no `addr`"),
        ];
        for (pos, msg) in expect {
            assert!(
                text.iter().any(|t| t.starts_with(pos) && t.contains(msg)),
                "missing `{pos} {msg}` in:\n{all}"
            );
        }
        assert_eq!(d.len(), expect.len(), "{all}");
        let secret = d.iter().find(|d| d.message.contains("secrets")).unwrap();
        assert!(secret.hint.as_deref().unwrap().contains("password_env"));
    }

    #[test]
    fn bad_cidr_forms_are_refused() {
        for bad in [
            "10.0.3.1",
            "10.0.3.256/24",
            "10.0.3.0/24",
            "10.0.3.255/24",
            "10.0.3.1/x",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_cidr("10.0.3.1/24").unwrap(),
            (Ipv4Addr::new(10, 0, 3, 1), 24)
        );
        assert!(parse_cidr("10.0.3.0/32").is_ok());
    }

    #[test]
    fn duplicate_host_names_are_a_located_toml_error() {
        let d = diags("[hosts.A]\nssh = \"a\"\naddr = \"10.0.3.1/24\"\n[hosts.A]\nssh = \"b\"\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 4, "{}", d[0]);
    }

    #[test]
    fn empty_bench_and_missing_hosts_are_errors() {
        let d = diags("[hosts]\n");
        assert!(d[0].message.contains("has no hosts"), "{}", d[0]);
        let d = diags("[defaults]\nuser = \"pi\"\n");
        assert!(d[0].message.contains("no hosts"), "{}", d[0]);
        let d = diags("[benches.b1.defaults]\nuser = \"x\"\n");
        assert!(d[0].message.contains("bench `b1` has no hosts"), "{}", d[0]);
    }

    #[test]
    fn wrong_types_and_auth_requirements() {
        let d = diags(
            "[defaults]\nsudo = \"yes\"\nauth = \"password\"\n[hosts.A]\nssh = \"a\"\naddr = \"10.0.3.1/24\"\nworkdir = \"lab\"\n",
        );
        let all: Vec<_> = d.iter().map(|d| d.message.clone()).collect();
        assert!(
            all.iter()
                .any(|m| m.contains("`sudo` must be true or false")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|m| m.contains("needs `password_env`")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|m| m.contains("not an absolute path")),
            "{all:?}"
        );
    }

    #[test]
    fn ssh_alias_uses_ssh_config() {
        let cfg = SshConfig::parse(
            "Host pi-a\n HostName 192.168.7.10\n Port 2200\n User student\n IdentityFile /k/id\n",
        );
        let room = parse(
            &Source::from_text(
                "h.toml",
                "[defaults]\nuser = \"pi\"\n[hosts.A]\nssh = \"pi-a\"\naddr = \"10.0.3.1/24\"\n",
            ),
            &cfg,
        )
        .unwrap();
        let a = &room.benches[0].hosts[0];
        assert_eq!(
            a.target,
            SshTarget {
                host: "192.168.7.10".into(),
                port: 2200,
                user: "student".into()
            }
        );
        assert_eq!(
            a.auth,
            Auth::Key {
                identity: PathBuf::from("/k/id"),
                passphrase_env: None
            }
        );
    }
}
