//! The testbed's record of what `up` made (`<state>/testbed.json`), so `down`
//! removes exactly that, `status` knows what to look for, and the test
//! fixture finds ports, pids and namespaces without guessing.
//!
//! `up` writes the file before it creates anything and again after each
//! stage, so a half-built bench can still be torn down.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::util::io_reason;

/// File name of the record inside the state directory.
pub(crate) const STATE_FILE: &str = "testbed.json";
/// File the relay writes once it listens: netns name -> loopback port.
pub(crate) const PORTS_FILE: &str = "relay-ports.json";

/// One testbed (a bench, or a room of benches) as `up` built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The `--name` given to `up`.
    pub name: String,
    /// `true` for `--benches N` (hosts.toml in room form).
    pub room: bool,
    /// The state directory: `<root>/<name>`.
    pub dir: PathBuf,
    /// The relay process (`labctl testbed relay`), once started.
    pub relay_pid: Option<u32>,
    /// `--arch`: the hosts' declared architecture (ARM programs under qemu).
    #[serde(default)]
    pub arch: Option<String>,
    /// `true`: hosts log in as `pi` (the default of `up`); `false`: root (`up --root`).
    #[serde(default)]
    pub pi: bool,
    /// With `pi`: whether `pi` may sudo (`false` for `up --no-sudo`).
    #[serde(default)]
    pub sudo: bool,
    /// With `pi`: the login's name (`up --user`; `pi` by default).
    #[serde(default = "default_user")]
    pub user: String,
    /// With `pi`: the login accepts only its password at first (`up --password-only`).
    #[serde(default)]
    pub password_only: bool,
    /// Every host runs NetworkManager (the default; `false` for `up --no-network-manager`).
    #[serde(default)]
    pub nm: bool,
    pub benches: Vec<BenchState>,
}

fn default_user() -> String {
    "pi".to_string()
}

impl State {
    /// The login of the hosts: the `--user` name, or `root` (`up --root`).
    pub fn login(&self) -> &str {
        if self.pi {
            &self.user
        } else {
            "root"
        }
    }
}

/// One bench: a switch namespace and its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchState {
    /// `bench` for a single bench, `bench1`..`benchN` in a room.
    pub name: String,
    /// The switch namespace, holding bridge `br0`.
    pub switch: String,
    pub hosts: Vec<HostState>,
}

/// One host: its namespace, sshd and management port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// `A`, `B` or `C`.
    pub name: String,
    /// The hostname its sshd (and whatever runs under it) sees: `A`, or `bench2-A`.
    pub hostname: String,
    /// The host's network namespace.
    pub netns: String,
    /// The lab address the hosts file gives it (not configured by `up`).
    pub addr: String,
    /// The host's directory: keys, sshd config and log, `work/`.
    pub dir: PathBuf,
    /// The relay's loopback port in the root namespace that reaches this host's sshd.
    pub ssh_port: Option<u16>,
    /// The host's sshd, once started.
    pub sshd_pid: Option<u32>,
    /// The host has a clock of its own (`up --clock`), off from this
    /// machine's by the offset in its clock directory (`testbed/clock.rs`).
    #[serde(default)]
    pub clock: bool,
    /// Another OS's userland (`up --os debian13`): its name and its root
    /// directory (booted as an overlay of the host's own). `None`: this machine's.
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub root: Option<PathBuf>,
}

impl HostState {
    /// The host's Netplan directory (`/etc/netplan` on a host with another OS's root).
    pub(crate) fn netplan_dir(&self) -> PathBuf {
        self.dir.join("netplan")
    }
}

impl State {
    /// Reads `<dir>/testbed.json`.
    pub fn load(dir: &Path) -> Result<State, Error> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Local(format!(
                "cannot read testbed state `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Local(format!(
                "testbed state `{}` is damaged: {e}",
                path.display()
            ))
        })
    }

    /// Writes `<dir>/testbed.json` atomically (temporary file, then rename).
    pub(crate) fn save(&self) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self).expect("state serializes");
        write_atomic(&self.dir.join(STATE_FILE), text.as_bytes())
    }

    /// Every host of every bench, with its bench.
    pub fn hosts(&self) -> impl Iterator<Item = (&BenchState, &HostState)> {
        self.benches
            .iter()
            .flat_map(|b| b.hosts.iter().map(move |h| (b, h)))
    }

    /// The host named by `spec`: `A` (single bench, or the first bench of a
    /// room) or `bench2/A`.
    pub fn host(&self, spec: &str) -> Option<&HostState> {
        let (bench, host) = split_spec(spec);
        self.find(bench, host)
            .map(|(b, h)| &self.benches[b].hosts[h])
    }

    /// Mutable [`State::host`].
    pub(crate) fn host_mut(&mut self, spec: &str) -> Option<&mut HostState> {
        let (bench, host) = split_spec(spec);
        self.find(bench, host)
            .map(|(b, h)| &mut self.benches[b].hosts[h])
    }

    fn find(&self, bench: Option<&str>, host: &str) -> Option<(usize, usize)> {
        let b = match bench {
            Some(name) => self.benches.iter().position(|b| b.name == name)?,
            None if self.benches.is_empty() => return None,
            None => 0,
        };
        let h = self.benches[b].hosts.iter().position(|h| h.name == host)?;
        Some((b, h))
    }
}

fn split_spec(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('/') {
        Some((b, h)) => (Some(b), h),
        None => (None, spec),
    }
}

/// Writes `text` to `path`; a failure names the file.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| {
        Error::Local(format!(
            "cannot write `{}`: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// Writes `path` through a temporary sibling and a rename, so a reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            Error::Local(format!(
                "cannot write `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let host = |bench: &str, name: &str| HostState {
            name: name.to_string(),
            hostname: format!("{bench}-{name}"),
            netns: format!("lc-x-{bench}-{name}"),
            addr: "10.0.3.1/24".to_string(),
            dir: PathBuf::from("/tmp"),
            ssh_port: None,
            sshd_pid: None,
            clock: false,
            os: None,
            root: None,
        };
        State {
            name: "x".to_string(),
            room: true,
            dir: PathBuf::from("/tmp/x"),
            relay_pid: None,
            arch: None,
            pi: false,
            sudo: false,
            user: "pi".to_string(),
            password_only: false,
            nm: false,
            benches: ["bench1", "bench2"]
                .iter()
                .map(|b| BenchState {
                    name: b.to_string(),
                    switch: format!("lc-x-{b}-sw"),
                    hosts: vec![host(b, "A"), host(b, "B")],
                })
                .collect(),
        }
    }

    #[test]
    fn finds_hosts_by_spec() {
        let s = sample();
        assert_eq!(s.host("A").unwrap().netns, "lc-x-bench1-A");
        assert_eq!(s.host("bench2/B").unwrap().netns, "lc-x-bench2-B");
        assert!(s.host("bench3/A").is_none());
        assert!(s.host("C").is_none());
        assert_eq!(s.hosts().count(), 4);
    }

    #[test]
    fn round_trips_through_json() {
        let s = sample();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
    }
}
