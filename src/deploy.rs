//! Puts the five socket programs and labctl's host tools (`labctl-stamp`,
//! [`hostops::DEPLOYED`]) on a host: the local build matching the
//! host's architecture, compared by sha-256 with what the host has, uploaded
//! only when different (temporary name, then an atomic rename into
//! `<workdir>/bin/`).
//!
//! Local programs are looked up in `$LABCTL_PROGRAMS` if set; else, for the
//! native architecture, next to the running `labctl` (cargo puts them side by
//! side in `target/{debug,release}`); else in `target/<triple>/release/` of
//! the workspace, built there first (`build`) when missing or older than the
//! sources. `labctl deploy` (`deploy/command.rs`) and `check --fix` both
//! deploy through [`deploy_set`].

mod command;
pub use command::command;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::config::hosts::Host;
use crate::error::Error;
use crate::hostops::{self, DEPLOYED};
use crate::programs::ProgramSet;
use crate::ssh::{Output, Session, SshError};

/// One program of the local build.
#[derive(Debug, Clone)]
pub struct LocalProgram {
    pub name: String,
    pub path: PathBuf,
    /// The file's bytes when labctl holds them (a program set's files), else
    /// read from `path` when uploaded.
    pub content: Option<Vec<u8>>,
    /// Lowercase hex sha-256.
    pub sha256: String,
}

/// The five programs built for one target triple.
#[derive(Debug, Clone)]
pub struct LocalBuild {
    pub triple: String,
    pub dir: PathBuf,
    pub programs: Vec<LocalProgram>,
}

/// What [`deploy_set`] did on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployReport {
    pub host: String,
    pub triple: String,
    /// Programs uploaded (missing or different on the host).
    pub uploaded: Vec<String>,
    /// Programs already identical on the host.
    pub unchanged: Vec<String>,
}

/// Where the programs for `triple` are expected (see the module doc).
pub fn local_dir(triple: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("LABCTL_PROGRAMS") {
        return PathBuf::from(dir);
    }
    if Some(triple) == crate::arch::native_triple() {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
        {
            // Integration tests run from target/debug/deps: the programs are one level up.
            if dir.ends_with("deps") {
                if let Some(up) = dir.parent() {
                    return up.to_path_buf();
                }
            }
            return dir;
        }
    }
    workspace_root().join("target").join(triple).join("release")
}

/// The workspace labctl was built from (where cross builds go).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The local build for `triple`, read and hashed once per process.
pub fn local_build(triple: &str) -> Result<Arc<LocalBuild>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<LocalBuild>>>> = OnceLock::new();
    // Held while hashing: thirty host threads asking at once hash once.
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(b) = cache.get(triple) {
        return Ok(b.clone());
    }
    let dir = local_dir(triple);
    let cross = std::env::var_os("LABCTL_PROGRAMS").is_none()
        && Some(triple) != crate::arch::native_triple();
    if cross && crate::build::is_stale(&workspace_root(), &dir, &DEPLOYED) {
        crate::build::build(&workspace_root(), triple)?;
    }
    let mut programs = Vec::new();
    for name in DEPLOYED {
        let path = dir.join(name);
        let sha256 = sha256_file(&path).map_err(|e| {
            Error::Local(format!(
                "socket program `{}` for `{triple}` is missing ({}); build it with `{}`",
                path.display(),
                crate::util::io_reason(&e),
                build_command(triple)
            ))
        })?;
        programs.push(LocalProgram {
            name: name.to_string(),
            path,
            sha256,
            content: None,
        });
    }
    let build = Arc::new(LocalBuild {
        triple: triple.to_string(),
        dir,
        programs,
    });
    cache.insert(triple.to_string(), build.clone());
    Ok(build)
}

/// Hashes a file in chunks (the programs are not kept in memory).
fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The command that builds the socket programs for `triple`.
pub fn build_command(triple: &str) -> String {
    if Some(triple) == crate::arch::native_triple() && std::env::var_os("LABCTL_PROGRAMS").is_none()
    {
        "cargo build -p sockets -p hostkit".to_string()
    } else {
        crate::build::command_line(triple)
    }
}

/// Lowercase hex sha-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses `sha256sum` output into program name → hash.
pub fn parse_sha256sum(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ").or_else(|| l.split_once(" *"))?;
            let name = path.rsplit('/').next()?;
            (hash.len() == 64).then(|| (name.to_string(), hash.to_string()))
        })
        .collect()
}

/// The host's target triple: its declared `arch` if any, else what `uname
/// -m` said (`uname_m`).
fn host_triple(host: &Host, uname_m: &str) -> Result<&'static str, Error> {
    if let Some(t) = host.arch.as_deref().and_then(crate::arch::target_triple) {
        return Ok(t);
    }
    crate::arch::target_triple(uname_m).ok_or_else(|| {
        Error::Host(format!(
            "host `{}`: unsupported architecture `{}` (from `uname -m`)",
            host.label(),
            uname_m.trim()
        ))
    })
}

/// Deploys what program set `set` needs to `host`: the build for its
/// architecture (the `rust` set's programs; another set's files with
/// labctl's host tools), sha-256 compared, uploaded under a temporary name
/// and renamed. One round trip tells the architecture and what is there.
pub fn deploy_set(session: &Session, host: &Host, set: &ProgramSet) -> Result<DeployReport, Error> {
    deploy_set_asking(session, host, set, |cmd| {
        session.exec(cmd, None, session.command_timeout())
    })
}

/// [`deploy_set`], asking what the host has through `ask`: a run's agent,
/// whose request costs a fraction of a new SSH channel's.
pub fn deploy_set_asking(
    session: &Session,
    host: &Host,
    set: &ProgramSet,
    ask: impl FnOnce(&str) -> Result<Output, SshError>,
) -> Result<DeployReport, Error> {
    let names = set.deployed_names();
    let out = ask(&hostops::programs_state_cmd(host, &names))?;
    let state = ProgramsState::parse(&out.stdout_str());
    let triple = host_triple(host, &state.arch)?;
    deploy_build(session, host, &*set_build(triple, set)?, state)
}

/// What program set `set` puts on a host of `triple`: the local build for
/// `rust`; else the set's files and labctl's host tools from that build.
pub fn set_build(triple: &str, set: &ProgramSet) -> Result<Arc<LocalBuild>, Error> {
    let build = local_build(triple)?;
    if set.is_built() {
        return Ok(build);
    }
    let mut programs: Vec<LocalProgram> = build
        .programs
        .iter()
        .filter(|p| hostops::HOST_TOOLS.contains(&p.name.as_str()))
        .cloned()
        .collect();
    programs.extend(set.files.iter().map(|f| LocalProgram {
        name: f.name.clone(),
        path: PathBuf::from(&f.name),
        sha256: sha256_hex(&f.bytes),
        content: Some(f.bytes.clone()),
    }));
    Ok(Arc::new(LocalBuild {
        triple: build.triple.clone(),
        dir: build.dir.clone(),
        programs,
    }))
}

/// [`deploy_set`] with the build for the host's architecture and what the
/// host has (`state`). Afterwards the host's manifest ([`hostops::MANIFEST`])
/// names every program's hash and stat line, rewritten (temporary name, then
/// a rename) whenever it is missing or stale, so a program is hashed on the
/// host only when it changed.
fn deploy_build(
    session: &Session,
    host: &Host,
    build: &LocalBuild,
    state: ProgramsState,
) -> Result<DeployReport, Error> {
    let timeout = session.command_timeout();
    let names: Vec<&str> = build.programs.iter().map(|p| p.name.as_str()).collect();
    let mut report = DeployReport {
        host: host.label(),
        triple: build.triple.clone(),
        uploaded: Vec::new(),
        unchanged: Vec::new(),
    };
    for p in &build.programs {
        if state.sha.get(&p.name) == Some(&p.sha256) {
            report.unchanged.push(p.name.to_string());
            continue;
        }
        let bytes = match &p.content {
            Some(bytes) => Ok(bytes.clone()),
            None => std::fs::read(&p.path),
        }
        .map_err(|e| {
            Error::Local(format!(
                "cannot read `{}`: {}",
                p.path.display(),
                crate::util::io_reason(&e)
            ))
        })?;
        session.upload(&hostops::program_path(host, &p.name), &bytes, 0o755)?;
        report.uploaded.push(p.name.to_string());
    }
    let stats = if report.uploaded.is_empty() {
        state.stats
    } else {
        let out = session.exec(&hostops::programs_stat_cmd(host, &names), None, timeout)?;
        parse_stats(&out.stdout_str())
    };
    let manifest = manifest_text(build, &stats);
    if manifest != state.manifest {
        let path = format!("{}/{}", hostops::bin_dir(host), hostops::MANIFEST);
        session.upload(&path, manifest.as_bytes(), 0o644)?;
    }
    Ok(report)
}

/// What [`hostops::programs_state_cmd`] printed.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProgramsState {
    /// What `uname -m` said.
    arch: String,
    /// Program name → the rest of its stat line.
    stats: HashMap<String, String>,
    sha: HashMap<String, String>,
    manifest: String,
}

impl ProgramsState {
    fn parse(out: &str) -> ProgramsState {
        let (arch, rest) = out.split_once('\n').unwrap_or((out, ""));
        let (stats, rest) = rest.split_once("@manifest\n").unwrap_or((rest, ""));
        let (manifest, sha) = rest.split_once("@sha\n").unwrap_or((rest, ""));
        ProgramsState {
            arch: arch.strip_prefix("@arch ").unwrap_or("").to_string(),
            stats: parse_stats(stats),
            sha: parse_sha256sum(sha),
            manifest: manifest.to_string(),
        }
    }
}

/// `NAME STAT` lines → name → stat.
fn parse_stats(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .map(|(n, s)| (n.to_string(), s.trim().to_string()))
        .collect()
}

/// The manifest for the programs present on the host: `HASH NAME STAT` lines
/// in the build's order; a program without a stat line (vanished) is left out.
fn manifest_text(build: &LocalBuild, stats: &HashMap<String, String>) -> String {
    build
        .programs
        .iter()
        .filter_map(|p| {
            let st = stats.get(&p.name)?;
            Some(format!("{} {} {st}\n", p.sha256, p.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_state_reads_arch_stats_manifest_and_hashes() {
        let h = "a".repeat(64);
        let out = format!(
            "@arch aarch64\ntcp_server 1:2:3\n@manifest\n{h} tcp_server 1:2:3\n@sha\n{h}  tcp_server\n"
        );
        let s = ProgramsState::parse(&out);
        assert_eq!(s.arch, "aarch64");
        assert_eq!(s.stats["tcp_server"], "1:2:3");
        assert_eq!(s.manifest, format!("{h} tcp_server 1:2:3\n"));
        assert_eq!(s.sha["tcp_server"], h);
        // No bin directory yet: only the architecture.
        let s = ProgramsState::parse("@arch x86_64\n");
        assert_eq!(s.arch, "x86_64");
        assert!(s.stats.is_empty() && s.sha.is_empty() && s.manifest.is_empty());
    }

    #[test]
    fn sha256sum_output_is_parsed_by_program_name() {
        let h = "a".repeat(64);
        let out = format!("{h}  /w/bin/tcp_server\n{h} */w/bin/udp_client\ngarbage\n");
        let m = parse_sha256sum(&out);
        assert_eq!(m.get("tcp_server"), Some(&h));
        assert_eq!(m.get("udp_client"), Some(&h));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn hashes_are_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn missing_cross_build_names_the_command() {
        let e = local_build("aarch64-unknown-linux-none-such").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("rustup target add aarch64-unknown-linux-none-such"),
            "{m}"
        );
    }
}
