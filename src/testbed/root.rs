//! Hosts whose userland is another OS (`testbed up --os debian13`): the
//! base Raspberry Pi OS has been built on since its October 2025 images,
//! Debian 13 "trixie", so labctl is proven against OpenSSH 10, sudo 1.9.16,
//! iproute2 6.15, tcpdump 4.99.5, Python 3.13 and NetworkManager behind
//! Netplan, not only this machine's own userland.
//!
//! The root is made once with `debootstrap --variant=minbase` from Debian's
//! packages ([`PACKAGES`]) and kept in `/var/cache/labctl/roots/` under a
//! name that carries a hash of what made it (suite, variant, packages), so
//! it is made again only when that list changes; concurrent `up`s wait for
//! one another ([`ensure`] holds a lock). A host never writes it: each boots
//! it as an overlay with its own upper directory in the host's testbed
//! directory, as a card of its own (`host-boot.sh`), which `down` removes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::util::io_reason;

/// The OS names `--os` takes.
pub(crate) const OSES: [&str; 2] = ["local", "debian13"];

/// Debian 13's suite.
const SUITE: &str = "trixie";

/// What a Debian 13 host has (besides `minbase`): what labctl uses on a
/// host, and NetworkManager with Netplan as Raspberry Pi OS sets it up.
pub(crate) const PACKAGES: [&str; 10] = [
    "openssh-server",
    "sudo",
    "iproute2",
    "iputils-ping",
    "tcpdump",
    "python3",
    "procps",
    "dbus",
    "network-manager",
    "netplan.io",
];

/// The packages whose versions `up` names (what labctl is proven against).
pub const SHOWN: [&str; 6] = [
    "openssh-server",
    "sudo",
    "python3",
    "network-manager",
    "iproute2",
    "tcpdump",
];

/// Where roots are kept: `$LABCTL_ROOTS` or `/var/cache/labctl/roots`.
pub(crate) fn cache_dir() -> PathBuf {
    match std::env::var_os("LABCTL_ROOTS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/var/cache/labctl/roots"),
    }
}

/// The Debian mirror: `$LABCTL_DEBIAN_MIRROR` or deb.debian.org.
fn mirror() -> String {
    std::env::var("LABCTL_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_string())
}

/// What makes a root: suite, variant and packages, one per line.
fn recipe() -> String {
    let mut r = format!("suite={SUITE}\nvariant=minbase\n");
    for p in PACKAGES {
        r.push_str(p);
        r.push('\n');
    }
    r
}

/// The directory of the Debian 13 root for the current [`recipe`].
pub fn path(os: &str) -> PathBuf {
    let hash = Sha256::digest(recipe().as_bytes());
    let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    cache_dir().join(format!("{os}-{hex}"))
}

/// The file a finished root holds its recipe in (its absence: unfinished).
const MARK: &str = ".labctl-root";

/// The root for `os` (only `debian13`), made first when missing: returns its directory.
pub fn ensure(os: &str) -> Result<PathBuf, Error> {
    if os != "debian13" {
        return Err(Error::Usage(format!(
            "unknown OS `{os}`: use `debian13` (or `local`, this machine's own)"
        )));
    }
    let dir = path(os);
    if dir.join(MARK).is_file() {
        return Ok(dir);
    }
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|e| {
        Error::Local(format!(
            "cannot create `{}`: {}",
            cache.display(),
            io_reason(&e)
        ))
    })?;
    // One builder at a time; the others find it made.
    let lock = std::fs::File::create(cache.join(".lock")).map_err(|e| {
        Error::Local(format!(
            "cannot lock `{}`: {}",
            cache.display(),
            io_reason(&e)
        ))
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a file we hold open; released when it closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::Local(format!(
            "cannot lock `{}`: {}",
            cache.display(),
            io_reason(&std::io::Error::last_os_error())
        )));
    }
    if dir.join(MARK).is_file() {
        return Ok(dir);
    }
    build(os, &dir)?;
    Ok(dir)
}

/// Runs debootstrap into a temporary directory beside `dir`, then renames it.
fn build(os: &str, dir: &Path) -> Result<(), Error> {
    let debootstrap = super::proc::require_tool("debootstrap", "debootstrap")?;
    let tmp = dir.with_extension("building");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| {
            Error::Local(format!(
                "cannot remove `{}`: {}",
                tmp.display(),
                io_reason(&e)
            ))
        })?;
    }
    let log = dir.with_extension("log");
    let started = Instant::now();
    eprintln!(
        "testbed: making the {os} root `{}` with debootstrap from {} (once, about a minute; log in `{}`)",
        dir.display(),
        mirror(),
        log.display()
    );
    let mut child = Command::new(debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(&tmp)
        .arg(mirror())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Local(format!("cannot run `debootstrap`: {}", io_reason(&e))))?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut text = String::new();
    let mut stage = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        // `I: Retrieving …`, `I: Unpacking …`, `I: Configuring …`: one line per stage.
        let now = line
            .strip_prefix("I: ")
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("")
            .to_string();
        const STAGES: [&str; 5] = [
            "Retrieving",
            "Extracting",
            "Installing",
            "Unpacking",
            "Configuring",
        ];
        if STAGES.contains(&now.as_str()) && now != stage {
            eprintln!("testbed: debootstrap: {now} …");
            stage = now;
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child
        .wait()
        .map_err(|e| Error::Local(format!("waiting for `debootstrap`: {}", io_reason(&e))))?;
    text.push_str(&err_thread.join().unwrap_or_default());
    let _ = std::fs::write(&log, &text);
    if !status.success() {
        let last: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
            .collect();
        return Err(Error::Local(format!(
            "`debootstrap` failed making the {os} root ({status}): {}; see `{}`{}",
            if last.is_empty() {
                "no message".to_string()
            } else {
                last.join("; ")
            },
            log.display(),
            if tmp.join("debootstrap/debootstrap.log").exists() {
                format!(
                    " and `{}`",
                    tmp.join("debootstrap/debootstrap.log").display()
                )
            } else {
                String::new()
            }
        )));
    }
    std::fs::write(tmp.join(MARK), recipe())
        .and_then(|()| std::fs::rename(&tmp, dir))
        .map_err(|e| {
            Error::Local(format!(
                "cannot finish the root `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    eprintln!(
        "testbed: the {os} root is made in {:.0} s ({} MB); later benches reuse it",
        started.elapsed().as_secs_f64(),
        size_mb(dir)
    );
    Ok(())
}

/// The size of what `dir` holds, in MB (not following links).
fn size_mb(dir: &Path) -> u64 {
    fn walk(d: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(d) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => 0,
            })
            .sum()
    }
    walk(dir) / 1_000_000
}

/// The versions of `packages` installed in `root`, from its dpkg status.
pub fn versions(root: &Path, packages: &[&str]) -> Vec<(String, String)> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap_or_default();
    let mut out = Vec::new();
    for block in status.split("\n\n") {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(str::to_string)
        };
        if let (Some(p), Some(v)) = (field("Package"), field("Version")) {
            if packages.contains(&p.as_str()) {
                out.push((p, v));
            }
        }
    }
    out.sort_by_key(|(p, _)| packages.iter().position(|q| *q == p.as_str()));
    out
}

/// The netplan config a host's image has for eth0: what cloud-init writes
/// from the network-config Raspberry Pi Imager puts on the card (DHCP on
/// eth0, rendered by NetworkManager).
pub(crate) const NETPLAN: &str = "\
# Written by `labctl testbed up`, as cloud-init writes it on Raspberry Pi OS
# from the card's network-config: eth0 by DHCP, rendered by NetworkManager.
network:
  version: 2
  renderer: NetworkManager
  ethernets:
    eth0:
      dhcp4: true
      optional: true
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_named_for_what_makes_it() {
        let p = path("debian13");
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("debian13-") && name.len() == "debian13-".len() + 12,
            "{name}"
        );
        assert!(recipe().contains("\nnetwork-manager\n"));
        assert!(ensure("debian99").is_err());
    }

    #[test]
    fn versions_come_from_dpkg_status() {
        let dir = std::env::temp_dir().join(format!("labctl-root-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
        std::fs::write(
            dir.join("var/lib/dpkg/status"),
            "Package: sudo\nStatus: install ok installed\nVersion: 1.9.16p2-3\n\n\
             Package: openssh-server\nVersion: 1:10.0p1-7\n\nPackage: other\nVersion: 1\n",
        )
        .unwrap();
        let v = versions(&dir, &["openssh-server", "sudo"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            v,
            [
                ("openssh-server".to_string(), "1:10.0p1-7".to_string()),
                ("sudo".to_string(), "1.9.16p2-3".to_string())
            ]
        );
    }
}
