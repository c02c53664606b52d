//! Processes the testbed starts and stops: detached daemons (own session,
//! no terminal) and stopping them by pid, only while `/proc` still shows them
//! as ours, so a recycled pid is never killed.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::util::io_reason;

/// Whether `pid` is a live process (a zombie counts as gone: it only waits to be reaped).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold ')'.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// `pid`'s command line, arguments joined by spaces ("" when gone or a zombie).
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Whether `pid` is alive and its command line mentions `needle` (our state directory).
pub(crate) fn is_ours(pid: u32, needle: &str) -> bool {
    alive(pid) && cmdline(pid).contains(needle)
}

/// Starts `cmd` in a session of its own (no controlling terminal, its own
/// process group), so it outlives the command that started it.
pub(crate) fn spawn_detached(cmd: &mut Command) -> std::io::Result<Child> {
    // SAFETY: setsid(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Makes `cmd` the reaper of its descendants' orphans (`PR_SET_CHILD_SUBREAPER`,
/// kept across exec): a host's sshd, so the processes a lab leaves to
/// themselves (a program's wrapper, started with `setsid -f`) are reaped when
/// they end, as a Raspberry Pi's init reaps them at once. This machine's pid 1
/// does not: without a reaper, each would stay a zombie, and a process
/// group that only a zombie still names looks alive to `kill -0`, which a
/// host's stop then cannot trust (`livegroups_of` in `src/remote/lib.sh`).
/// sshd reaps every child it is sent `SIGCHLD` for (`waitpid(-1, …)`).
pub(crate) fn reaps_orphans(cmd: &mut Command) {
    // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Opens the log `path` for appending, twice: a daemon's stdout and stderr.
pub(crate) fn log_files(path: &std::path::Path) -> Result<(std::fs::File, std::fs::File), Error> {
    let open = || {
        std::fs::File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                Error::Local(format!(
                    "cannot open `{}`: {}",
                    path.display(),
                    io_reason(&e)
                ))
            })
    };
    Ok((open()?, open()?))
}

/// Sends `sig` to `pid`.
fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we checked is ours.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Stops `pids`: SIGTERM, waits up to `grace`, then SIGKILL and waits again.
/// Returns the pids still alive after all that (normally none).
pub(crate) fn terminate(pids: &[u32], grace: Duration) -> Vec<u32> {
    for &pid in pids {
        signal(pid, libc::SIGTERM);
    }
    let mut left = wait_gone(pids, grace);
    if !left.is_empty() {
        for &pid in &left {
            signal(pid, libc::SIGKILL);
        }
        left = wait_gone(&left, Duration::from_secs(2));
    }
    left
}

/// Waits until every pid is gone or `limit` passes; returns those still alive.
fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until every pid is reaped (not even a zombie is left) or `limit`
/// passes: a parent that reaps its children (a host's sshd) gets the time
/// to do it before it is stopped itself.
pub(crate) fn wait_reaped(pids: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    while pids
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Finds `program` in `$PATH` or the sbin directories (root's tools), or
/// says which Debian package provides it.
pub(crate) fn require_tool(program: &str, package: &str) -> Result<std::path::PathBuf, Error> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').filter(|d| !d.is_empty()).chain([
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/bin",
        "/bin",
    ]);
    for d in dirs {
        let p = std::path::Path::new(d).join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Local(format!(
        "`{program}` not found: install the Debian package `{package}` (apt-get install {package})"
    )))
}

/// Runs `cmd` to the end; a failure names `what`.
pub fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, Error> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Local(format!("{what}: {}", io_reason(&e))))?;
    if !out.status.success() {
        return Err(Error::Local(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_alive_and_a_child_gone() {
        assert!(alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!cmdline(std::process::id()).is_empty());
    }

    #[test]
    fn names_the_package_of_a_missing_tool() {
        let e = require_tool("no-such-tool-labctl", "some-pkg").unwrap_err();
        assert!(e.to_string().contains("`some-pkg`"), "{e}");
        assert!(require_tool("sh", "dash").is_ok());
    }
}
