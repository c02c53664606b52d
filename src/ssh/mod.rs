//! SSH to the hosts (crate `ssh2`): one session per host, owned by one thread.
//!
//! The facts this layer is built on (docs/design.md, "SSH"): a `Session` is
//! never shared across threads ([`for_each_host`] gives each host its own
//! scoped thread); after authentication the session is non-blocking and every
//! wait polls the socket with a deadline, so stdout and stderr are read
//! together and no read can hang; `exit_status()` is read only after
//! `wait_close()`, and `exit_signal()` is checked too; channels are closed
//! explicitly; keepalive is on, every second while labctl waits, and a host
//! from which nothing arrived for [`SILENCE_LIMIT`] (read from the kernel:
//! TCP_INFO's last data received) is given up as silent. Host keys are strict (see [`known_hosts`]).
//!
//! This layer knows nothing of the hosts file: it connects to a [`Target`]
//! (built from a configured host by `config`), so it imports no stage above it.
//! Here: the target, options, errors and outputs, and [`for_each_host`];
//! the session (connect, exec, upload, download) in `session.rs`; the
//! long-lived [`StreamChannel`] in `stream.rs`.

mod identity;
pub mod known_hosts;
mod session;
mod stream;

use std::path::PathBuf;
use std::time::Duration;

use ssh2::ErrorCode;

use crate::error::Error;

pub use session::Session;
pub(crate) use session::{probe_host_key, OfferedKey};
pub(crate) use stream::StreamChannel;
pub use stream::StreamRead;

const EAGAIN: i32 = -37;

/// See [`ConnectOptions::silence_limit`]: within the 10 s a silent host must
/// be found in, with room for a keepalive's round trip on a busy host.
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(8);
/// Silent this long, a host is slow: labctl says so and no longer takes the
/// absence of its output as an answer (a healthy host is heard every second).
pub(crate) const SLOW_AFTER: Duration = Duration::from_millis(2500);

/// When to say that a host is slow (`no answer for N s`): once from 3 s of
/// silence on, then every 2 s, and again from the start once it was heard.
/// `run` and `check` say it the same way.
#[derive(Debug, Default)]
pub(crate) struct Slowness {
    said: u64,
}

impl Slowness {
    /// The whole seconds to say for a host silent for `quiet`, if it is time to say them.
    pub(crate) fn tick(&mut self, quiet: Duration) -> Option<u64> {
        if quiet < SLOW_AFTER {
            self.said = 0;
            return None;
        }
        let s = quiet.as_secs();
        (s >= 3 && (self.said == 0 || s >= self.said + 2)).then(|| {
            self.said = s;
            s
        })
    }
}
const LIBSSH2_TIMEOUT: i32 = -9;

/// Everything needed to reach and log in to one host's sshd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host's label in messages (`A`, `bench2/A`).
    pub label: String,
    /// The sshd's address or name.
    pub address: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    /// labctl's own known_hosts file (`~/.ssh/known_hosts` is read as well).
    pub known_hosts: PathBuf,
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

impl Target {
    /// `127.0.0.1:40001` (IPv6 in brackets).
    pub(crate) fn endpoint(&self) -> String {
        endpoint(&self.address, self.port)
    }
}

/// `address:port`, with an IPv6 address in brackets.
pub(crate) fn endpoint(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Timeouts and host-key policy for connecting.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// TCP connect, then again for the handshake and for authentication.
    pub connect_timeout: Duration,
    /// Default for commands run through [`Session::upload`] / [`Session::download`].
    pub command_timeout: Duration,
    /// Trust a key seen for the first time and append it to the host's `known_hosts` file.
    pub accept_new: bool,
    /// A connected host that sends nothing for this long (not even the reply
    /// to a keepalive, sent every second while labctl waits) is given up:
    /// every wait on it ends with [`SshErrorKind::Silent`].
    pub silence_limit: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            accept_new: false,
            silence_limit: SILENCE_LIMIT,
        }
    }
}

/// What went wrong talking to one host; the text names the host and endpoint.
#[derive(Debug, Clone)]
pub struct SshError {
    /// The host's label (`A`, `bench2/A`).
    pub host: String,
    /// `127.0.0.1:40001`
    pub endpoint: String,
    pub kind: SshErrorKind,
    /// Lowercase reason, e.g. `connection refused`.
    pub message: String,
}

/// The class of an [`SshError`], so callers (e.g. `check`) know which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshErrorKind {
    /// TCP connect or SSH handshake failed (refused, unreachable, no answer).
    Connect,
    /// The host key is not in any known_hosts file (and `--accept-new` was not given).
    HostKeyUnknown,
    /// The host key differs from the one recorded.
    HostKeyChanged,
    /// Authentication failed, or a secret's environment variable is missing.
    Auth,
    /// A command or transfer did not finish in time.
    Timeout,
    /// The host stopped answering without closing the connection (a frozen
    /// host, a pulled cable): nothing came for [`ConnectOptions::silence_limit`].
    Silent,
    /// The session broke, or a command/transfer failed.
    Session,
    /// Another labctl took the bench over (`--take-over`) while this one
    /// was not heard from: nothing more is done on the host (exit code 5).
    Taken,
}

impl std::fmt::Display for SshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host `{}` ({}): {}",
            self.host, self.endpoint, self.message
        )
    }
}

impl std::error::Error for SshError {}

impl From<SshError> for Error {
    fn from(e: SshError) -> Error {
        match e.kind {
            SshErrorKind::Taken => Error::Busy(e.to_string()),
            _ => Error::Host(e.to_string()),
        }
    }
}

/// What a remote command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` when the command was killed by a signal.
    pub status: Option<i32>,
    /// The signal's name without `SIG` (e.g. `TERM`), if it was killed by one.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0) && self.signal.is_none()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// `exited with status 1` / `killed by signal TERM`.
    pub fn describe(&self) -> String {
        match (&self.signal, self.status) {
            (Some(s), _) => format!("killed by signal {s}"),
            (None, Some(c)) => format!("exited with status {c}"),
            (None, None) => "ended without an exit status".to_string(),
        }
    }
}

/// How the host key was accepted on connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyStatus {
    /// `SHA256:...`
    pub fingerprint: String,
    /// Where it was found, or where `--accept-new` recorded it.
    pub file: std::path::PathBuf,
    /// True when `--accept-new` recorded it just now.
    pub newly_accepted: bool,
}

fn is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_TIMEOUT)
}

/// A command shortened for messages.
/// How a dropped connection reads in every error.
const LOST: &str = "the connection was lost";

/// libssh2's own words when the transport (the TCP connection) is gone. ssh2
/// hands channel errors over as `io::Error`s that keep only this text.
const LOST_WORDS: [&str; 5] = [
    "draining incoming flow",
    "transport read",
    "unable to send",
    "socket disconnect",
    "socket recv",
];

/// Whether libssh2 failed because the transport is gone; its words for that
/// ("failure while draining incoming flow") mean nothing to an instructor.
fn is_lost(e: &ssh2::Error) -> bool {
    const SOCKET_SEND: i32 = -7;
    const SOCKET_DISCONNECT: i32 = -13;
    const SOCKET_RECV: i32 = -43;
    matches!(
        e.code(),
        ErrorCode::Session(SOCKET_SEND | SOCKET_DISCONNECT | SOCKET_RECV)
    ) || lost_words(e.message())
}

fn lost_words(text: &str) -> bool {
    let text = text.to_lowercase();
    LOST_WORDS.iter().any(|w| text.contains(w))
}

/// An io error from a channel, in words: a lost connection says so.
fn io_transport_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if matches!(
        e.kind(),
        BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
    ) || lost_words(&e.to_string())
    {
        LOST.to_string()
    } else {
        crate::util::io_reason(e)
    }
}

fn short(cmd: &str) -> String {
    let one = cmd.lines().next().unwrap_or("");
    if one.chars().count() > 60 || cmd.contains('\n') {
        format!("{}…", one.chars().take(60).collect::<String>())
    } else {
        one.to_string()
    }
}

/// The first non-empty line of `s`, trimmed.
/// The whole reason a host gave on stderr: every non-empty line, trimmed,
/// `; ` between them (at most 2000 characters), or `nothing on stderr`.
/// Host-side failures show this, never only the first line (sudo's
/// `unable to resolve host` comes before the line that matters).
pub(crate) fn whole_reason(s: &str) -> String {
    const MAX: usize = 2000;
    let mut out = String::new();
    for l in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(l);
        if out.len() > MAX {
            let mut cut = MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    if out.is_empty() {
        out.push_str("nothing on stderr");
    }
    out
}

pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The command that prints the file at `path` on a host (`ssh/cat.sh`):
/// [`Session::download`], and a run's captures fetched through its agent.
pub(crate) fn cat_cmd(path: &str) -> String {
    crate::util::shell_template::render(
        include_str!("cat.sh"),
        &[("PATH", crate::util::shell_template::Val::Quoted(path))],
    )
}

/// Connects to every host in parallel (one scoped thread per host, each owning
/// its session) and calls `f` on that thread. Results are in `hosts` order.
/// A host is anything that names its [`Target`] (a configured host does).
pub fn for_each_host<H, T>(
    hosts: &[&H],
    opts: &ConnectOptions,
    f: impl Fn(&H, Result<Session, SshError>) -> T + Sync,
) -> Vec<T>
where
    H: Sync,
    T: Send,
    for<'h> &'h H: Into<Target>,
{
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|&h| {
                let target: Target = h.into();
                std::thread::Builder::new()
                    .name(format!("ssh-{}", target.label))
                    .spawn_scoped(s, move || f(h, Session::connect(target, opts)))
                    .expect("cannot start a thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_transport_reads_as_a_lost_connection() {
        let draining = ssh2::Error::new(
            ErrorCode::Session(-43),
            "Failure while draining incoming flow",
        );
        assert!(is_lost(&draining));
        // What ssh2 hands over from a channel: the text only.
        let io = std::io::Error::other("Failure while draining incoming flow");
        assert_eq!(io_transport_reason(&io), LOST);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(io_transport_reason(&reset), LOST);
    }

    #[test]
    fn other_failures_keep_their_own_words() {
        let denied = ssh2::Error::new(ErrorCode::Session(-28), "Channel open failure");
        assert!(!is_lost(&denied));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(io_transport_reason(&other), "permission denied");
    }
}
