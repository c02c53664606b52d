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

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::cli::BenchSelect;
use crate::config::Source;
use crate::error::{Diagnostics, Error};
use crate::ssh::config::{expand_tilde, SshConfig};

/// A validated hosts file: one bench, or a room of benches.
#[derive(Debug, Clone)]
pub struct Room {
    pub path: PathBuf,
    /// True for the `[benches.NAME]` form, false for a single bench (`[hosts]`).
    pub is_room: bool,
    pub benches: Vec<Bench>,
}

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
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub workdir: String,
    pub sudo: bool,
    /// Declared architecture (`aarch64`, `armv7`, ...): overrides `uname -m`
    /// when labctl picks the host's build.
    pub arch: Option<String>,
    /// labctl's own known_hosts file (`~/.ssh/known_hosts` is read as well).
    pub known_hosts: PathBuf,
}

/// Where to reach a host's sshd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// How to authenticate; secrets come from environment variables only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Agent,
    Key {
        identity: PathBuf,
        passphrase_env: Option<String>,
    },
    Password {
        env: String,
    },
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
        if self.target.host.contains(':') {
            format!("[{}]:{}", self.target.host, self.target.port)
        } else {
            format!("{}:{}", self.target.host, self.target.port)
        }
    }

    /// The subnet's network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask(self.prefix))
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
    pub fn select(&self, sel: &BenchSelect) -> Result<Vec<&Bench>, Error> {
        let names = || {
            self.benches
                .iter()
                .map(|b| format!("`{}`", b.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(name) = &sel.bench {
            return match self.benches.iter().find(|b| &b.name == name) {
                Some(b) => Ok(vec![b]),
                None => Err(Error::Usage(format!(
                    "no bench `{name}` in `{}`; its benches: {}",
                    self.path.display(),
                    names()
                ))),
            };
        }
        if sel.all || self.benches.len() == 1 {
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
    let ssh_config = crate::ssh::config::default_path()
        .map(|p| SshConfig::read(&p))
        .unwrap_or_default();
    parse(&source, &ssh_config)
}

/// Parses and validates hosts-file text (the testable core of [`load`]).
pub fn parse(source: &Source, ssh_config: &SshConfig) -> Result<Room, Error> {
    let root: Item = source.parse()?;
    let mut p = Parser {
        src: source,
        ssh_config,
        diags: Diagnostics::default(),
        base_dir: source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let room = p.room(&root);
    p.diags.into_result(room)
}

// ---------------------------------------------------------------------------
// A TOML tree that keeps the span of every key and value.
//
// `toml::Spanned<T>` fails on tables that have no span of their own (the
// implicit `hosts` table of `[hosts.A]`), so `Key` and `Item` speak the same
// protocol as `Spanned` (toml offers a span through a magic struct) but also
// accept values offered without one. Unit tests pin this to toml 0.8.

const SPANNED: &str = "$__serde_spanned_private_Spanned";
const START: &str = "$__serde_spanned_private_start";
const END: &str = "$__serde_spanned_private_end";
const VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[START, END, VALUE];

/// A table key and where it is.
#[derive(Debug, Clone)]
struct Key {
    name: String,
    span: Range<usize>,
}

impl Key {
    fn get_ref(&self) -> &String {
        &self.name
    }
    fn span(&self) -> Range<usize> {
        self.span.clone()
    }
}

/// A value (or table) and where it is; tables without a span of their own get their key's.
#[derive(Debug, Clone)]
struct Item {
    node: Node,
    span: Option<Range<usize>>,
}

impl Item {
    fn get_ref(&self) -> &Node {
        &self.node
    }
    fn span(&self) -> Range<usize> {
        self.span.clone().unwrap_or(0..0)
    }
}

#[derive(Debug, Clone)]
enum Node {
    Value(toml::Value),
    Table(Vec<(Key, Item)>),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key {
                    name: v.to_string(),
                    span: 0..0,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                let (mut start, mut end, mut name) = (0, 0, String::new());
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        START => start = map.next_value()?,
                        END => end = map.next_value()?,
                        _ => name = map.next_value()?,
                    }
                }
                Ok(Key {
                    name,
                    span: start..end,
                })
            }
        }
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, V)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, ItemVisitor)
    }
}

/// Deserializes the inner value of a spanned item (no span protocol again).
struct Bare(Node);

impl<'de> Deserialize<'de> for Bare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bare, D::Error> {
        d.deserialize_any(ItemVisitor).map(|i| Bare(i.node))
    }
}

struct ItemVisitor;

fn bare(v: toml::Value) -> Item {
    Item {
        node: Node::Value(v),
        span: None,
    }
}

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
        Ok(bare(toml::Value::Boolean(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
        Ok(bare(toml::Value::Integer(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
        i64::try_from(v)
            .map(|v| bare(toml::Value::Integer(v)))
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
        Ok(bare(toml::Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Item, E> {
        Ok(bare(toml::Value::String(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<toml::Value>()? {
            items.push(v);
        }
        Ok(bare(toml::Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut entries = Vec::new();
        let mut start = None;
        while let Some(k) = map.next_key::<Key>()? {
            match k.name.as_str() {
                // The span protocol: start, end, then the value itself.
                START if entries.is_empty() => start = Some(map.next_value::<usize>()?),
                END if start.is_some() => {
                    let end: usize = map.next_value()?;
                    let _value_key = map.next_key::<String>()?;
                    let Bare(node) = map.next_value()?;
                    return Ok(Item {
                        node,
                        span: start.map(|s| s..end),
                    });
                }
                _ => {
                    let mut v: Item = map.next_value()?;
                    if v.span.is_none() {
                        v.span = Some(k.span.clone());
                    }
                    entries.push((k, v));
                }
            }
        }
        Ok(Item {
            node: Node::Table(entries),
            span: None,
        })
    }
}

fn type_name(n: &Node) -> &'static str {
    match n {
        Node::Table(_) => "a table",
        Node::Value(v) => match v {
            toml::Value::String(_) => "a string",
            toml::Value::Integer(_) => "an integer",
            toml::Value::Float(_) => "a float",
            toml::Value::Boolean(_) => "a boolean",
            toml::Value::Datetime(_) => "a date",
            toml::Value::Array(_) => "an array",
            toml::Value::Table(_) => "a table",
        },
    }
}

// ---------------------------------------------------------------------------
// Raw settings of one level (file defaults, bench defaults, host).

const SETTING_KEYS: &[&str] = &[
    "user",
    "port",
    "auth",
    "identity",
    "passphrase_env",
    "password_env",
    "interface",
    "workdir",
    "sudo",
    "arch",
    "known_hosts",
];
const HOST_KEYS: &[&str] = &["ssh", "addr"];

/// A value with the place it came from.
#[derive(Debug, Clone)]
struct At<T> {
    value: T,
    span: Range<usize>,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    user: Option<At<String>>,
    port: Option<At<u16>>,
    auth: Option<At<AuthKind>>,
    identity: Option<At<String>>,
    passphrase_env: Option<At<String>>,
    password_env: Option<At<String>>,
    interface: Option<At<String>>,
    workdir: Option<At<String>>,
    sudo: Option<At<bool>>,
    arch: Option<At<String>>,
    known_hosts: Option<At<String>>,
    ssh: Option<At<String>>,
    addr: Option<At<(Ipv4Addr, u8)>>,
    /// Keys present but invalid (already reported): not "missing" as well.
    invalid: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    Agent,
    Key,
    Password,
}

impl Settings {
    /// `self` over `lower`, key by key.
    fn over(&self, lower: &Settings) -> Settings {
        macro_rules! pick {
            ($($f:ident),*) => { Settings { $($f: self.$f.clone().or_else(|| lower.$f.clone()),)* invalid: self.invalid.iter().chain(&lower.invalid).cloned().collect() } };
        }
        pick!(
            user,
            port,
            auth,
            identity,
            passphrase_env,
            password_env,
            interface,
            workdir,
            sudo,
            arch,
            known_hosts,
            ssh,
            addr
        )
    }
}

struct Parser<'a> {
    src: &'a Source,
    ssh_config: &'a SshConfig,
    diags: Diagnostics,
    base_dir: PathBuf,
}

impl Parser<'_> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>, hint: impl Into<String>) {
        let d = self.src.diag_hint(span, msg, hint);
        self.diags.push(d);
    }

    fn table<'n>(&mut self, node: &'n Item, what: &str) -> Option<&'n [(Key, Item)]> {
        match node.get_ref() {
            Node::Table(t) => Some(t),
            other => {
                let ty = type_name(other);
                self.err(
                    node.span(),
                    format!("{what} must be a table, found {ty}"),
                    format!("write it as a `[{what}]` table"),
                );
                None
            }
        }
    }

    fn room(&mut self, root: &Item) -> Room {
        let mut room = Room {
            path: self.src.path.clone(),
            is_room: false,
            benches: Vec::new(),
        };
        let Some(top) = self.table(root, "file") else {
            return room;
        };
        let mut name: Option<At<String>> = None;
        let mut defaults = Settings::default();
        let mut hosts = None;
        let mut benches = None;
        for (k, v) in top {
            match k.get_ref().as_str() {
                "name" => name = self.string(v, "name"),
                "defaults" => defaults = self.settings(v, "defaults", false),
                "hosts" => hosts = Some((k, v)),
                "benches" => benches = Some((k, v)),
                other => self.unknown(
                    k,
                    other,
                    "at the top level",
                    &["name", "defaults", "hosts", "benches"],
                ),
            }
        }
        match (hosts, benches) {
            (Some(_), Some((bk, _))) => self.err(
                bk.span(),
                "a file has either `[hosts]` (one bench) or `[benches]` (a room), not both",
                "move the top-level hosts into a `[benches.NAME.hosts]` table",
            ),
            (None, None) => self.err(
                0..0,
                "no hosts: the file has neither `[hosts]` nor `[benches]`",
                "add `[hosts.A]` with `ssh` and `addr`, as in the example hosts.toml",
            ),
            (Some((hk, hv)), None) => {
                let bench_name = name.map_or_else(|| "bench".to_string(), |n| n.value);
                let b = self.bench(&bench_name, false, hk, hv, &defaults);
                room.benches.push(b);
            }
            (None, Some((bk, bv))) => {
                room.is_room = true;
                if let Some(n) = &name {
                    self.err(
                        n.span.clone(),
                        "`name` names a single bench; a room's benches are named by their tables",
                        "remove `name`",
                    );
                }
                if let Some(t) = self.table(bv, "benches") {
                    if t.is_empty() {
                        self.err(
                            bk.span(),
                            "`[benches]` has no bench",
                            "add `[benches.NAME.hosts.A]`",
                        );
                    }
                    for (bname, bnode) in t {
                        self.name_ok(bname, "bench");
                        let Some(bt) = self.table(bnode, "benches.NAME") else {
                            continue;
                        };
                        let mut bdefaults = Settings::default();
                        let mut bhosts = None;
                        for (k, v) in bt {
                            match k.get_ref().as_str() {
                                "defaults" => bdefaults = self.settings(v, "defaults", false),
                                "hosts" => bhosts = Some((k, v)),
                                other => self.unknown(
                                    k,
                                    other,
                                    &format!("in bench `{}`", bname.get_ref()),
                                    &["defaults", "hosts"],
                                ),
                            }
                        }
                        let merged = bdefaults.over(&defaults);
                        match bhosts {
                            Some((hk, hv)) => {
                                let b = self.bench(bname.get_ref(), true, hk, hv, &merged);
                                room.benches.push(b);
                            }
                            None => self.err(
                                bname.span(),
                                format!("bench `{}` has no hosts", bname.get_ref()),
                                format!(
                                    "add `[benches.{}.hosts.A]` with `ssh` and `addr`",
                                    bname.get_ref()
                                ),
                            ),
                        }
                    }
                }
            }
        }
        room
    }

    fn name_ok(&mut self, name: &Key, what: &str) {
        let n = name.get_ref();
        if !usable_name(n) {
            self.err(
                name.span(),
                format!("{what} name `{n}` is not usable"),
                "use 1 to 32 letters, digits, `-` or `_`",
            );
        }
    }

    fn unknown(&mut self, k: &Key, name: &str, place: &str, allowed: &[&str]) {
        let hint = format!(
            "allowed {place}: {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.err(k.span(), format!("unknown field `{name}` {place}"), hint);
    }

    fn bench(
        &mut self,
        name: &str,
        in_room: bool,
        key: &Key,
        node: &Item,
        defaults: &Settings,
    ) -> Bench {
        let mut bench = Bench {
            name: name.to_string(),
            hosts: Vec::new(),
        };
        let Some(t) = self.table(node, "hosts") else {
            return bench;
        };
        if t.is_empty() {
            self.err(
                key.span(),
                format!("bench `{name}` has no hosts"),
                "add `[hosts.A]` with `ssh` and `addr`",
            );
        }
        // (address, host name, span) of hosts seen so far, for duplicates and the subnet.
        let mut seen: Vec<(Ipv4Addr, u8, String, Range<usize>)> = Vec::new();
        for (hname, hnode) in t {
            self.name_ok(hname, "host");
            let own = self.settings(hnode, &format!("hosts.{}", hname.get_ref()), true);
            let s = own.clone();
            let table_span = hname.span();
            // Both keys are judged before giving up on the host, and the address
            // is compared with the others' even when `ssh` is wrong: every problem at once.
            let ssh = s.ssh.clone();
            if ssh.is_none() && !s.invalid.iter().any(|k| k == "ssh") {
                self.err(
                    table_span.clone(),
                    format!("host `{}` has no `ssh`", hname.get_ref()),
                    "add `ssh = \"address[:port]\"` or an alias from ~/.ssh/config",
                );
            }
            let Some(addr) = s.addr.clone() else {
                if !s.invalid.iter().any(|k| k == "addr") {
                    self.err(
                        table_span.clone(),
                        format!("host `{}` has no `addr`", hname.get_ref()),
                        "add its lab address, e.g. `addr = \"10.0.3.1/24\"`",
                    );
                }
                continue;
            };
            let (ip, prefix) = addr.value;
            let mut addr_ok = true;
            if let Some((_, _, other, _)) = seen.iter().find(|(a, ..)| *a == ip) {
                let other = other.clone();
                self.err(
                    addr.span.clone(),
                    format!(
                        "address {ip} of host `{}` is already used by host `{other}`",
                        hname.get_ref()
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
                    self.err(
                        addr.span.clone(),
                        format!(
                            "host `{}` ({ip}/{prefix}) is not on the subnet {net} of host `{first}`",
                            hname.get_ref()
                        ),
                        "the hosts of one bench share one switch: give them addresses in one subnet",
                    );
                    addr_ok = false;
                }
            }
            if addr_ok {
                seen.push((ip, prefix, hname.get_ref().clone(), addr.span.clone()));
            }
            let Some(ssh) = ssh else {
                continue;
            };
            if let Some(h) = self.resolve(
                name,
                in_room,
                hname.get_ref(),
                &own,
                defaults,
                &ssh,
                (ip, prefix),
            ) {
                bench.hosts.push(h);
            }
        }
        bench
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        bench: &str,
        in_room: bool,
        name: &str,
        own: &Settings,
        defaults: &Settings,
        ssh: &At<String>,
        (addr, prefix): (Ipv4Addr, u8),
    ) -> Option<Host> {
        let s = own.over(defaults);
        // `ssh = "host[:port]"`, `[v6]:port`, or an alias.
        let (alias, explicit_port) = match split_host_port(&ssh.value) {
            Ok(x) => x,
            Err(msg) => {
                self.err(
                    ssh.span.clone(),
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
            .unwrap_or_else(|| "pi".to_string());
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
                None if s.invalid.iter().any(|k| k == "identity") => return None,
                None => {
                    self.err(
                        auth_span,
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
                None if s.invalid.iter().any(|k| k == "password_env") => return None,
                None => {
                    self.err(
                        auth_span,
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
        Some(Host {
            name: name.to_string(),
            bench: bench.to_string(),
            in_room,
            target: SshTarget { host, port, user },
            auth,
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

    fn string(&mut self, v: &Item, key: &str) -> Option<At<String>> {
        match v.get_ref() {
            Node::Value(toml::Value::String(s)) => Some(At {
                value: s.clone(),
                span: v.span(),
            }),
            other => {
                let ty = type_name(other);
                self.err(
                    v.span(),
                    format!("`{key}` must be a string, found {ty}"),
                    "strings need quotes: `key = \"value\"`",
                );
                None
            }
        }
    }

    /// One level's settings; `host` allows `ssh` and `addr`.
    fn settings(&mut self, node: &Item, what: &str, host: bool) -> Settings {
        let mut s = Settings::default();
        let Some(t) = self.table(node, what) else {
            return s;
        };
        for (k, v) in t {
            let key = k.get_ref().as_str();
            let span = v.span();
            let reported = self.diags.0.len();
            match key {
                "user" => s.user = self.string(v, key).filter(|u| self.nonempty(u, key)),
                "identity" => s.identity = self.string(v, key).filter(|u| self.nonempty(u, key)),
                "known_hosts" => s.known_hosts = self.string(v, key).filter(|u| self.nonempty(u, key)),
                "passphrase_env" | "password_env" => {
                    let e = self.string(v, key).filter(|e| {
                        let ok = !e.value.is_empty()
                            && !e.value.starts_with(|c: char| c.is_ascii_digit())
                            && e.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                        if !ok {
                            self.err(
                                e.span.clone(),
                                format!("`{key}` = `{}` is not an environment variable name", e.value),
                                "name the variable (e.g. `LABCTL_PASSWORD`), not the secret",
                            );
                        }
                        ok
                    });
                    if key == "passphrase_env" {
                        s.passphrase_env = e;
                    } else {
                        s.password_env = e;
                    }
                }
                "interface" => {
                    s.interface = self.string(v, key).filter(|i| {
                        let ok = !i.value.is_empty()
                            && i.value.len() <= 15
                            && i.value.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
                        if !ok {
                            self.err(
                                i.span.clone(),
                                format!("`{}` is not an interface name", i.value),
                                "use the interface's name as `ip link` shows it, e.g. `eth0`",
                            );
                        }
                        ok
                    })
                }
                "workdir" => {
                    s.workdir = self.string(v, key).filter(|w| {
                        let ok = w.value.starts_with('/') && w.value.len() > 1;
                        if !ok {
                            self.err(
                                w.span.clone(),
                                format!("workdir `{}` is not an absolute path", w.value),
                                "write the full path, e.g. `/home/pi/labctl` (`~` is not expanded on the host)",
                            );
                        }
                        ok
                    })
                }
                "auth" => {
                    if let Some(a) = self.string(v, key) {
                        let kind = match a.value.as_str() {
                            "agent" => Some(AuthKind::Agent),
                            "key" => Some(AuthKind::Key),
                            "password" => Some(AuthKind::Password),
                            _ => None,
                        };
                        match kind {
                            Some(k) => s.auth = Some(At { value: k, span }),
                            None => self.err(
                                span,
                                format!("unknown auth `{}`", a.value),
                                "use \"agent\", \"key\" or \"password\"",
                            ),
                        }
                    }
                }
                "port" => match v.get_ref() {
                    Node::Value(toml::Value::Integer(p)) if (1..=65535).contains(p) => {
                        s.port = Some(At {
                            value: *p as u16,
                            span,
                        })
                    }
                    Node::Value(toml::Value::Integer(p)) => {
                        self.err(span, format!("port {p} is out of range"), "use a port from 1 to 65535")
                    }
                    other => {
                        let ty = type_name(other);
                        self.err(span, format!("`port` must be an integer, found {ty}"), "write it without quotes: `port = 22`")
                    }
                },
                "sudo" => match v.get_ref() {
                    Node::Value(toml::Value::Boolean(b)) => s.sudo = Some(At { value: *b, span }),
                    other => {
                        let ty = type_name(other);
                        self.err(span, format!("`sudo` must be true or false, found {ty}"), "write `sudo = true` or `sudo = false`")
                    }
                },
                "arch" => {
                    if let Some(a) = self.string(v, key) {
                        if crate::hostops::target_triple(&a.value).is_some() {
                            s.arch = Some(a);
                        } else {
                            self.err(span, format!("unknown architecture `{}`", a.value), "write `arch = \"aarch64\"`, `\"armv7\"` or `\"x86_64\"`")
                        }
                    }
                }
                "ssh" if host => s.ssh = self.string(v, key).filter(|u| self.nonempty(u, key)),
                "addr" if host => {
                    if let Some(a) = self.string(v, key) {
                        match parse_cidr(&a.value) {
                            Ok(x) => s.addr = Some(At { value: x, span }),
                            Err(msg) => self.err(span, msg, "write the lab address with its prefix, e.g. `10.0.3.1/24`"),
                        }
                    }
                }
                "password" | "passphrase" => self.err(
                    k.span(),
                    format!("`{key}` in hosts.toml: secrets never go in this file"),
                    format!("put it in an environment variable and name that variable with `{key}_env = \"VAR\"`"),
                ),
                other => {
                    let mut allowed: Vec<&str> = SETTING_KEYS.to_vec();
                    if host {
                        allowed.extend_from_slice(HOST_KEYS);
                    }
                    self.unknown(k, other, &format!("in `[{what}]`"), &allowed);
                }
            }
            if self.diags.0.len() > reported {
                s.invalid.push(key.to_string());
            }
        }
        s
    }

    fn nonempty(&mut self, v: &At<String>, key: &str) -> bool {
        if v.value.trim().is_empty() {
            self.err(
                v.span.clone(),
                format!("`{key}` is empty"),
                "give it a value or remove the line",
            );
            false
        } else {
            true
        }
    }
}

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
        let none = BenchSelect {
            bench: None,
            all: false,
        };
        assert!(matches!(room.select(&none), Err(Error::Usage(m)) if m.contains("`b1`, `b2`")));
        let all = BenchSelect {
            bench: None,
            all: true,
        };
        assert_eq!(room.select(&all).unwrap().len(), 2);
        let one = BenchSelect {
            bench: Some("b2".into()),
            all: false,
        };
        assert_eq!(room.select(&one).unwrap()[0].name, "b2");
        let bad = BenchSelect {
            bench: Some("nope".into()),
            all: false,
        };
        assert!(matches!(room.select(&bad), Err(Error::Usage(m)) if m.contains("no bench `nope`")));
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
