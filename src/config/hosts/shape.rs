//! The hosts file's shape: which tables it has (`[defaults]`, `[hosts.X]`,
//! or `[benches.NAME]` with their own `defaults` and `hosts`) and what each
//! level of settings says, read from the spanned tree with every value's
//! type and form checked where it is written. What depends on several
//! values (a host's address among its bench's, its `ssh` target, the
//! precedence of levels) is judged afterwards, in [`super::validate`].

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{parse_cidr, usable_name, SetChoice};
use crate::arch::PROGRAM_SETS;
use crate::config::tree::{ticked, Checker, Entry, Node, Value};

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
pub(super) struct At<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// The settings one level gives (file defaults, bench defaults, a host).
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    pub user: Option<At<String>>,
    pub port: Option<At<u16>>,
    pub auth: Option<At<AuthKind>>,
    pub identity: Option<At<String>>,
    pub passphrase_env: Option<At<String>>,
    pub password_env: Option<At<String>>,
    pub interface: Option<At<String>>,
    pub workdir: Option<At<String>>,
    pub sudo: Option<At<bool>>,
    pub arch: Option<At<String>>,
    pub known_hosts: Option<At<String>>,
    pub ssh: Option<At<String>>,
    pub addr: Option<At<(Ipv4Addr, u8)>>,
    /// Keys present but invalid (already reported): not "missing" as well.
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthKind {
    Agent,
    Key,
    Password,
}

impl Settings {
    /// `self` over `lower`, key by key.
    pub fn over(&self, lower: &Settings) -> Settings {
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

    /// Whether `key` was given but refused (so it is not reported missing too).
    pub fn refused(&self, key: &str) -> bool {
        self.invalid.iter().any(|k| k == key)
    }
}

/// The file as read: its benches in file order.
#[derive(Debug, Default)]
pub(super) struct Shape {
    /// True for the `[benches.NAME]` form, false for a single bench (`[hosts]`).
    pub is_room: bool,
    pub benches: Vec<RawBench>,
    /// `orphaned_after`: how long a host waits without hearing labctl before
    /// it ends the run itself.
    pub orphaned_after: Option<std::time::Duration>,
    /// `programs`: the program set the file chooses.
    pub programs: Option<SetChoice>,
}

/// One bench as written, with the defaults that apply to its hosts (the
/// bench's over the file's).
#[derive(Debug)]
pub(super) struct RawBench {
    pub name: String,
    pub defaults: Settings,
    pub hosts: Vec<RawHost>,
}

/// One host as written: its name, where its table is named, its own settings.
#[derive(Debug)]
pub(super) struct RawHost {
    pub name: String,
    pub key_span: Range<usize>,
    pub settings: Settings,
}

/// Reads the tree of a hosts file, reporting every problem of shape and form into `c`.
pub(super) fn read(c: &mut Checker<'_>, root: &Node) -> Shape {
    Reader { c }.room(root)
}

struct Reader<'c, 'a> {
    c: &'c mut Checker<'a>,
}

impl Reader<'_, '_> {
    fn table<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        self.c
            .table(node, what, Some(format!("write it as a `[{what}]` table")))
    }

    fn string(&mut self, v: &Node, key: &str) -> Option<At<String>> {
        self.c.string(v, &format!("`{key}`")).map(|value| At {
            value,
            span: v.span.clone(),
        })
    }

    fn room(&mut self, root: &Node) -> Shape {
        let mut room = Shape::default();
        let Some(top) = self.table(root, "file") else {
            return room;
        };
        let mut name: Option<At<String>> = None;
        let mut defaults = Settings::default();
        let mut hosts = None;
        let mut benches = None;
        for e in top {
            let v = &e.node;
            match e.key.as_str() {
                "name" => name = self.string(v, "name"),
                "defaults" => defaults = self.settings(v, "defaults", false),
                "hosts" => hosts = Some(e),
                "benches" => benches = Some(e),
                // The program set (`rust`, `python`, `lab`): named here,
                // resolved against the lab by `lab::set::choose`.
                "programs" => match &v.value {
                    Value::Str(name) => {
                        room.programs = Some(SetChoice {
                            name: name.clone(),
                            at: self.c.src.diag(v.span.clone(), ""),
                        })
                    }
                    other => self.c.err_hint(
                        &v.span,
                        format!("`programs` must be a string, found {}", other.kind()),
                        format!("the program sets are {}", ticked(&PROGRAM_SETS)),
                    ),
                },
                "orphaned_after" => {
                    let max = std::time::Duration::from_secs(24 * 3600);
                    let d = self.c.duration(v, "`orphaned_after`", false, max);
                    let min = std::time::Duration::from_secs(crate::hold::STALE_SECS);
                    room.orphaned_after = match d {
                        Some(d) if d < min => {
                            self.c.err_hint(
                                &v.span,
                                format!("`orphaned_after` is shorter than {}s", min.as_secs()),
                                "a host counts its labctl as gone no sooner than it counts it stale: write at least \"10s\" (the default is \"60s\")",
                            );
                            None
                        }
                        d => d,
                    };
                }
                _ => self.c.unknown(
                    e,
                    "at the top level",
                    &[
                        "name",
                        "defaults",
                        "hosts",
                        "benches",
                        "programs",
                        "orphaned_after",
                    ],
                ),
            }
        }
        match (hosts, benches) {
            (Some(_), Some(b)) => self.c.err_hint(
                &b.key_span,
                "a file has either `[hosts]` (one bench) or `[benches]` (a room), not both",
                "move the top-level hosts into a `[benches.NAME.hosts]` table",
            ),
            (None, None) => self.c.err_hint(
                &(0..0),
                "no hosts: the file has neither `[hosts]` nor `[benches]`",
                "add `[hosts.A]` with `ssh` and `addr`, as in the example hosts.toml",
            ),
            (Some(h), None) => {
                let bench_name = name.map_or_else(|| "bench".to_string(), |n| n.value);
                let b = self.bench(&bench_name, h, defaults);
                room.benches.push(b);
            }
            (None, Some(b)) => {
                room.is_room = true;
                if let Some(n) = &name {
                    self.c.err_hint(
                        &n.span,
                        "`name` names a single bench; a room's benches are named by their tables",
                        "remove `name`",
                    );
                }
                if let Some(t) = self.table(&b.node, "benches") {
                    if t.is_empty() {
                        self.c.err_hint(
                            &b.key_span,
                            "`[benches]` has no bench",
                            "add `[benches.NAME.hosts.A]`",
                        );
                    }
                    for bench in t {
                        let bname = &bench.key;
                        self.name_ok(bench, "bench");
                        let Some(bt) = self.table(&bench.node, "benches.NAME") else {
                            continue;
                        };
                        let mut bdefaults = Settings::default();
                        let mut bhosts = None;
                        for e in bt {
                            match e.key.as_str() {
                                "defaults" => bdefaults = self.settings(&e.node, "defaults", false),
                                "hosts" => bhosts = Some(e),
                                _ => self.c.unknown(
                                    e,
                                    &format!("in bench `{bname}`"),
                                    &["defaults", "hosts"],
                                ),
                            }
                        }
                        let merged = bdefaults.over(&defaults);
                        match bhosts {
                            Some(h) => {
                                let b = self.bench(bname, h, merged);
                                room.benches.push(b);
                            }
                            None => self.c.err_hint(
                                &bench.key_span,
                                format!("bench `{bname}` has no hosts"),
                                format!("add `[benches.{bname}.hosts.A]` with `ssh` and `addr`"),
                            ),
                        }
                    }
                }
            }
        }
        room
    }

    fn name_ok(&mut self, e: &Entry, what: &str) {
        if !usable_name(&e.key) {
            self.c.err_hint(
                &e.key_span,
                format!("{what} name `{}` is not usable", e.key),
                "use 1 to 32 letters, digits, `-` or `_`",
            );
        }
    }

    /// A bench's `hosts` table (`hosts` is its entry) and each host's own settings.
    fn bench(&mut self, name: &str, hosts: &Entry, defaults: Settings) -> RawBench {
        let mut bench = RawBench {
            name: name.to_string(),
            defaults,
            hosts: Vec::new(),
        };
        let Some(t) = self.table(&hosts.node, "hosts") else {
            return bench;
        };
        if t.is_empty() {
            self.c.err_hint(
                &hosts.key_span,
                format!("bench `{name}` has no hosts"),
                "add `[hosts.A]` with `ssh` and `addr`",
            );
        }
        for h in t {
            self.name_ok(h, "host");
            let settings = self.settings(&h.node, &format!("hosts.{}", h.key), true);
            bench.hosts.push(RawHost {
                name: h.key.clone(),
                key_span: h.key_span.clone(),
                settings,
            });
        }
        bench
    }

    fn settings(&mut self, node: &Node, what: &str, host: bool) -> Settings {
        let mut s = Settings::default();
        let Some(t) = self.table(node, what) else {
            return s;
        };
        for e in t {
            let (key, v) = (e.key.as_str(), &e.node);
            let span = v.span.clone();
            let reported = self.c.count();
            match key {
                "user" => {
                    s.user = self
                        .string(v, key)
                        .filter(|u| self.nonempty(u, key) && self.login_name(u))
                }
                "identity" => {
                    s.identity = self
                        .string(v, key)
                        .filter(|u| self.nonempty(u, key) && self.local_path(u, key))
                }
                "known_hosts" => {
                    s.known_hosts = self
                        .string(v, key)
                        .filter(|u| self.nonempty(u, key) && self.local_path(u, key))
                }
                "passphrase_env" | "password_env" => {
                    let e = self.string(v, key).filter(|e| {
                        let ok = !e.value.is_empty()
                            && !e.value.starts_with(|c: char| c.is_ascii_digit())
                            && e.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                        if !ok {
                            self.c.err_hint(
                                &e.span.clone(),
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
                            self.c.err_hint(
                                &i.span.clone(),
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
                            self.c.err_hint(
                                &w.span.clone(),
                                format!("workdir `{}` is not an absolute path", w.value),
                                "write the full path, e.g. `/home/pi/labctl` (`~` is not expanded on the host)",
                            );
                            return false;
                        }
                        let odd = w.value.chars().any(char::is_control)
                            || w.value.split('/').any(|c| c == "..")
                            || w.value.len() > 1024;
                        if odd {
                            self.c.err_hint(
                                &w.span.clone(),
                                format!("workdir `{}` is not a plain path", w.value.escape_debug()),
                                "write a path without `..`, control characters or a newline, e.g. `/home/pi/labctl`",
                            );
                        }
                        !odd
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
                            None => self.c.err_hint(
                                &span,
                                format!("unknown auth `{}`", a.value),
                                "use \"agent\", \"key\" or \"password\"",
                            ),
                        }
                    }
                }
                "port" => match self.c.int(v, "`port`", "write it without quotes: `port = 22`") {
                    Some(p) if (1..=65535).contains(&p) => {
                        s.port = Some(At {
                            value: p as u16,
                            span,
                        })
                    }
                    Some(p) => {
                        self.c.err_hint(&span, format!("port {p} is out of range"), "use a port from 1 to 65535")
                    }
                    None => {}
                },
                "sudo" => {
                    s.sudo = self.c
                        .bool(v, "`sudo`", "write `sudo = true` or `sudo = false`").map(|b| At { value: b, span })
                }
                "arch" => {
                    if let Some(a) = self.string(v, key) {
                        if crate::arch::target_triple(&a.value).is_some() {
                            s.arch = Some(a);
                        } else {
                            self.c.err_hint(
                                &span,
                                format!("unknown architecture `{}`", a.value),
                                "write `arch = \"aarch64\"`, `\"armv7\"` or `\"x86_64\"`",
                            )
                        }
                    }
                }
                "ssh" if host => s.ssh = self.string(v, key).filter(|u| self.nonempty(u, key)),
                "addr" if host => {
                    if let Some(a) = self.string(v, key) {
                        match parse_cidr(&a.value) {
                            Ok(x) => s.addr = Some(At { value: x, span }),
                            Err(msg) => self.c.err_hint(&span, msg, "write the lab address with its prefix, e.g. `10.0.3.1/24`"),
                        }
                    }
                }
                "password" | "passphrase" => self.c.err_hint(
                    &e.key_span,
                    format!("`{key}` in hosts.toml: secrets never go in this file"),
                    format!("put it in an environment variable and name that variable with `{key}_env = \"VAR\"`"),
                ),
                _ => {
                    let mut allowed: Vec<&str> = SETTING_KEYS.to_vec();
                    if host {
                        allowed.extend_from_slice(HOST_KEYS);
                    }
                    self.c.unknown(e, &format!("in `[{what}]`"), &allowed);
                }
            }
            if self.c.count() > reported {
                s.invalid.push(key.to_string());
            }
        }
        s
    }

    /// A POSIX login name (its portable characters, `-` not first, at most
    /// 32): `user = "$(…)"` is refused here, before any connection.
    fn login_name(&mut self, v: &At<String>) -> bool {
        let ok = super::login_name_ok(&v.value);
        if !ok {
            self.c.err_hint(
                &v.span,
                format!("`user` = `{}` is not a login name", v.value.escape_debug()),
                "a login name has only letters, digits, `.`, `_` and `-` (not first), at most 32: e.g. `pi`",
            );
        }
        ok
    }

    /// A path on this machine: no control characters (a newline would cut it),
    /// `~` only as `~/…`.
    fn local_path(&mut self, v: &At<String>, key: &str) -> bool {
        let ok = !v.value.chars().any(char::is_control)
            && (!v.value.starts_with('~') || v.value == "~" || v.value.starts_with("~/"));
        if !ok {
            self.c.err_hint(
                &v.span,
                format!("`{key}` = `{}` is not a path labctl can use", v.value.escape_debug()),
                "write a path on this machine, e.g. `~/.ssh/id_ed25519` (`~user/…` is not expanded)",
            );
        }
        ok
    }

    fn nonempty(&mut self, v: &At<String>, key: &str) -> bool {
        if v.value.trim().is_empty() {
            self.c.err_hint(
                &v.span,
                format!("`{key}` is empty"),
                "give it a value or remove the line",
            );
            false
        } else {
            true
        }
    }
}
