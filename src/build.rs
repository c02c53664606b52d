//! Builds the programs labctl deploys, for any host architecture, from one
//! table: which packages to build, per target triple how to link (aarch64:
//! static musl linked with rustup's `rust-lld`, no cross C toolchain; armv7:
//! static glibc linked with Debian's `arm-linux-gnueabihf-gcc`), and what to
//! install when a piece is missing. `deploy` and `check` ask here, so the
//! command labctl runs and the command it names are the same.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::Error;
use crate::util::io_reason;

/// The workspace packages whose binaries are deployed to every host.
pub(crate) const PACKAGES: &[&str] = &["sockets", "hostkit"];

/// How one target triple is linked, and what provides the linker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Toolchain {
    /// `None`: cargo's default linker.
    pub linker: Option<&'static str>,
    /// Extra rustflags (static linking).
    pub rustflags: &'static str,
    /// The command that installs a missing linker (and its libc).
    pub linker_install: Option<&'static str>,
}

/// The toolchain for `triple`; unknown triples use cargo's defaults.
pub(crate) fn toolchain(triple: &str) -> Toolchain {
    match triple {
        "aarch64-unknown-linux-musl" => Toolchain {
            linker: Some("rust-lld"),
            rustflags: "-C target-feature=+crt-static",
            linker_install: None, // ships with rustup
        },
        "armv7-unknown-linux-gnueabihf" => Toolchain {
            linker: Some("arm-linux-gnueabihf-gcc"),
            rustflags: "-C target-feature=+crt-static",
            linker_install: Some(
                "apt-get install -y gcc-arm-linux-gnueabihf libc6-dev-armhf-cross",
            ),
        },
        _ => Toolchain {
            linker: None,
            rustflags: "",
            linker_install: None,
        },
    }
}

/// `CARGO_TARGET_<TRIPLE>_...` prefix for `triple`.
fn env_prefix(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The environment the cargo command needs for `triple` (linker, rustflags).
pub(crate) fn cargo_env(triple: &str) -> Vec<(String, String)> {
    let tc = toolchain(triple);
    let prefix = env_prefix(triple);
    let mut env = Vec::new();
    if let Some(linker) = tc.linker {
        env.push((format!("{prefix}LINKER"), linker.to_string()));
    }
    if !tc.rustflags.is_empty() {
        env.push((format!("{prefix}RUSTFLAGS"), tc.rustflags.to_string()));
    }
    env
}

/// The cargo arguments that build every deployed package for `triple`.
pub(crate) fn cargo_args(triple: &str) -> Vec<String> {
    let mut args = vec!["build".to_string()];
    for p in PACKAGES {
        args.push("-p".into());
        args.push(p.to_string());
    }
    args.extend(["--release", "--target", triple].map(String::from));
    args
}

/// The whole build command, as a user would type it.
pub(crate) fn command_line(triple: &str) -> String {
    let mut words: Vec<String> = cargo_env(triple)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", crate::util::shell_quote(&v)))
        .collect();
    words.push("cargo".into());
    words.extend(cargo_args(triple));
    words.join(" ")
}

/// What is missing to build for `triple`, as the one command that installs
/// it (`rustup target add`, or the linker's package); `None` when complete.
pub fn missing(triple: &str) -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(o) = installed {
        if o.status.success()
            && !String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == triple)
        {
            return Some(format!("rustup target add {triple}"));
        }
    }
    let tc = toolchain(triple);
    if let (Some(linker), Some(install)) = (tc.linker, tc.linker_install) {
        let found = Command::new(linker)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(install.to_string());
        }
    }
    None
}

/// Newest modification time of the deployed packages' sources (and the
/// lock file): a build older than this is stale.
fn sources_mtime(root: &Path) -> Option<std::time::SystemTime> {
    fn walk(p: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(meta) = std::fs::metadata(p) else {
            return;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), newest);
                }
            }
        } else if let Ok(m) = meta.modified() {
            if newest.is_none_or(|n| m > n) {
                *newest = Some(m);
            }
        }
    }
    let mut newest = None;
    for p in PACKAGES {
        walk(&root.join(p).join("src"), &mut newest);
        walk(&root.join(p).join("Cargo.toml"), &mut newest);
    }
    newest
}

/// True when a program in `dir` is missing or older than the sources under
/// the workspace `root`.
pub fn is_stale(root: &Path, dir: &Path, programs: &[&str]) -> bool {
    let src = sources_mtime(root);
    programs.iter().any(
        |name| match std::fs::metadata(dir.join(name)).and_then(|m| m.modified()) {
            Err(_) => true,
            Ok(built) => src.is_some_and(|s| s > built),
        },
    )
}

/// Builds every deployed package for `triple` in the workspace `root`,
/// saying so in one line on stderr. Names the install command when a piece
/// of the toolchain is missing.
pub fn build(root: &Path, triple: &str) -> Result<(), Error> {
    if let Some(install) = missing(triple) {
        return Err(Error::Local(format!(
            "cannot build the programs for `{triple}`: install what is missing with `{install}`"
        )));
    }
    eprintln!(
        "labctl: building the programs for `{triple}` (`{}`)",
        command_line(triple)
    );
    let out = Command::new("cargo")
        .args(cargo_args(triple))
        .envs(cargo_env(triple))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Local(format!("cannot run `cargo`: {}", io_reason(&e))))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| l.starts_with("error")).unwrap_or("");
        return Err(Error::Local(format!(
            "building the programs for `{triple}` failed ({last}); run `{}` to see why",
            command_line(triple)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aarch64_links_with_rust_lld_statically() {
        let env = cargo_env("aarch64-unknown-linux-musl");
        assert!(env.contains(&(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".into(),
            "rust-lld".into()
        )));
        assert!(command_line("aarch64-unknown-linux-musl").ends_with(
            "cargo build -p sockets -p hostkit --release --target aarch64-unknown-linux-musl"
        ));
    }

    #[test]
    fn armv7_links_with_debian_cross_gcc_statically() {
        let tc = toolchain("armv7-unknown-linux-gnueabihf");
        assert_eq!(tc.linker, Some("arm-linux-gnueabihf-gcc"));
        assert!(tc.rustflags.contains("+crt-static"));
        assert!(tc
            .linker_install
            .unwrap()
            .contains("gcc-arm-linux-gnueabihf"));
    }

    #[test]
    fn a_missing_program_is_stale() {
        let dir = std::env::temp_dir();
        assert!(is_stale(&dir, &dir, &["labctl-no-such-program"]));
    }
}
