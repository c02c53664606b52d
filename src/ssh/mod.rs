//! SSH to the hosts (crate `ssh2`): one session per host, owned by one thread.
//!
//! The facts this layer is built on (DESIGN.md section 4): a `Session` is
//! never shared across threads ([`for_each_host`] gives each host its own
//! scoped thread); after authentication the session is non-blocking and every
//! wait polls the socket with a deadline, so stdout and stderr are read
//! together and no read can hang; `exit_status()` is read only after
//! `wait_close()`, and `exit_signal()` is checked too; channels are closed
//! explicitly; keepalive is on. Host keys are strict (see [`known_hosts`]).

pub mod config;
pub mod known_hosts;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode};

use crate::config::hosts::{Auth, Host};
use crate::error::Error;
use crate::util::shell_quote;
use known_hosts::KeyVerdict;

const EAGAIN: i32 = -37;
const LIBSSH2_TIMEOUT: i32 = -9;

/// Timeouts and host-key policy for connecting.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// TCP connect, then again for the handshake and for authentication.
    pub connect_timeout: Duration,
    /// Default for commands run through [`Session::upload`] / [`Session::download`].
    pub command_timeout: Duration,
    /// Trust a key seen for the first time and append it to the host's `known_hosts` file.
    pub accept_new: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            accept_new: false,
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
    /// The session broke, or a command/transfer failed.
    Session,
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
        Error::Host(e.to_string())
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

/// One authenticated SSH session to one host. Keep it on the thread that made it.
pub struct Session {
    sess: ssh2::Session,
    fd: RawFd,
    label: String,
    endpoint: String,
    command_timeout: Duration,
    /// Time taken by TCP connect, handshake, host-key check and authentication.
    pub connected_in: Duration,
    pub host_key: HostKeyStatus,
}

impl Session {
    /// Connects, verifies the host key and authenticates, each within `opts.connect_timeout`.
    pub fn connect(host: &Host, opts: &ConnectOptions) -> Result<Session, SshError> {
        let start = Instant::now();
        let label = host.label();
        let endpoint = host.endpoint();
        let fail = |kind, message: String| SshError {
            host: label.clone(),
            endpoint: endpoint.clone(),
            kind,
            message,
        };
        let secs = opts.connect_timeout.as_secs_f64();
        let addrs: Vec<SocketAddr> = (host.target.host.as_str(), host.target.port)
            .to_socket_addrs()
            .map_err(|e| {
                fail(
                    SshErrorKind::Connect,
                    format!(
                        "cannot resolve `{}`: {}",
                        host.target.host,
                        crate::util::io_reason(&e)
                    ),
                )
            })?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, opts.connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            let msg = match last {
                Some(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    format!("no answer within {secs} s (connect timeout)")
                }
                Some(e) => crate::util::io_reason(&e),
                None => format!("`{}` resolves to no address", host.target.host),
            };
            fail(SshErrorKind::Connect, msg)
        })?;
        let _ = tcp.set_nodelay(true);
        let fd = tcp.as_raw_fd();
        let mut sess = ssh2::Session::new().map_err(|e| {
            fail(
                SshErrorKind::Session,
                format!(
                    "cannot create an ssh session: {}",
                    crate::util::lower_first(e.message())
                ),
            )
        })?;
        sess.set_tcp_stream(tcp);
        sess.set_timeout(opts.connect_timeout.as_millis().min(u32::MAX as u128) as u32);
        sess.handshake().map_err(|e| {
            if is_timeout(&e) {
                fail(
                    SshErrorKind::Connect,
                    format!("no ssh handshake within {secs} s"),
                )
            } else {
                fail(
                    SshErrorKind::Connect,
                    format!(
                        "ssh handshake failed: {}",
                        crate::util::lower_first(e.message())
                    ),
                )
            }
        })?;

        // Host key, before any secret is sent.
        let (key, kind) = sess
            .host_key()
            .map(|(k, t)| (k.to_vec(), t))
            .ok_or_else(|| {
                fail(
                    SshErrorKind::Session,
                    "the server sent no host key".to_string(),
                )
            })?;
        let fp = known_hosts::fingerprint(&key);
        let user_file = config::home_dir().map(|h| h.join(".ssh/known_hosts"));
        let mut files: Vec<&Path> = Vec::new();
        if let Some(u) = &user_file {
            files.push(u);
        }
        files.push(&host.known_hosts);
        let name = known_hosts::entry_name(&host.target.host, host.target.port);
        let host_key = match known_hosts::verify(&sess, &files, &host.target.host, host.target.port, &key) {
            KeyVerdict::Known { file } => HostKeyStatus {
                fingerprint: fp,
                file,
                newly_accepted: false,
            },
            KeyVerdict::Changed { file, line } => {
                return Err(fail(
                    SshErrorKind::HostKeyChanged,
                    format!(
                        "host key CHANGED: the server now presents {} {fp}, but `{}` line {line} records another key for `{name}`; \
                         if the host was reinstalled, remove that line (`ssh-keygen -R '{name}' -f {}`), else someone may be intercepting",
                        known_hosts::key_type_name(kind),
                        file.display(),
                        shell_quote(&file.display().to_string()),
                    ),
                ))
            }
            KeyVerdict::Unknown if opts.accept_new => {
                known_hosts::append(&host.known_hosts, &host.target.host, host.target.port, &key, kind).map_err(|e| {
                    fail(
                        SshErrorKind::HostKeyUnknown,
                        format!(
                            "cannot record the new host key in `{}`: {}",
                            host.known_hosts.display(),
                            crate::util::io_reason(&e)
                        ),
                    )
                })?;
                HostKeyStatus {
                    fingerprint: fp,
                    file: host.known_hosts.clone(),
                    newly_accepted: true,
                }
            }
            KeyVerdict::Unknown => {
                return Err(fail(
                    SshErrorKind::HostKeyUnknown,
                    format!(
                        "unknown host key {} {fp} for `{name}` (not in {}); if that is the host's key, run again with `--accept-new` to record it in `{}`",
                        known_hosts::key_type_name(kind),
                        files.iter().map(|f| format!("`{}`", f.display())).collect::<Vec<_>>().join(" or "),
                        host.known_hosts.display()
                    ),
                ))
            }
        };

        authenticate(&sess, host).map_err(|(kind, m)| fail(kind, m))?;
        sess.set_keepalive(true, 5);
        sess.set_blocking(false);
        Ok(Session {
            sess,
            fd,
            label,
            endpoint,
            command_timeout: opts.command_timeout,
            connected_in: start.elapsed(),
            host_key,
        })
    }

    /// The host's label, as in error messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The default timeout for commands and transfers (from [`ConnectOptions`]).
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    fn error(&self, kind: SshErrorKind, message: String) -> SshError {
        SshError {
            host: self.label.clone(),
            endpoint: self.endpoint.clone(),
            kind,
            message,
        }
    }

    fn ssh_error(&self, what: &str, e: &ssh2::Error) -> SshError {
        let reason = if is_lost(e) {
            LOST.to_string()
        } else {
            crate::util::lower_first(e.message())
        };
        self.error(SshErrorKind::Session, format!("{what}: {reason}"))
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on, at most `max`.
    fn wait_socket(&self, max: Duration) {
        let _ = self.sess.keepalive_send();
        crate::util::tcp_quickack(self.fd);
        let events = match self.sess.block_directions() {
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            _ => libc::POLLIN,
        };
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        let ms = max.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd; the fd lives as long as the session.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
        }
    }

    /// Retries a libssh2 call that would block until it completes or `deadline` passes.
    fn retry<T>(
        &self,
        deadline: Instant,
        what: &str,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, SshError> {
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(self.error(SshErrorKind::Timeout, format!("{what}: timed out")));
                    }
                    self.wait_socket(deadline - now);
                }
                Err(e) => return Err(self.ssh_error(what, &e)),
            }
        }
    }

    fn open_exec(&self, cmd: &str, deadline: Instant) -> Result<ssh2::Channel, SshError> {
        crate::style::trace_command(&self.label, cmd);
        let mut ch = self.retry(deadline, "cannot open a channel", || {
            self.sess.channel_session()
        })?;
        self.retry(deadline, "cannot start the command", || ch.exec(cmd))?;
        Ok(ch)
    }

    /// Runs `cmd` (a shell command line) with optional stdin, collecting stdout
    /// and stderr, within `timeout`. A non-zero exit is not an error: look at
    /// [`Output::status`]. On timeout the channel is closed (the remote process
    /// may go on; start long-lived programs with `setsid` and stop them by group).
    pub fn exec(
        &self,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let deadline = Instant::now() + timeout;
        let mut ch = self.open_exec(cmd, deadline)?;
        let mut out = Output::default();
        let mut input = stdin.unwrap_or(&[]);
        let mut eof_sent = false;
        loop {
            let mut progress = false;
            if !eof_sent {
                while !input.is_empty() {
                    match ch.write(input) {
                        Ok(n) => {
                            input = &input[n..];
                            progress = true;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            return Err(self.error(
                                SshErrorKind::Session,
                                format!(
                                    "writing stdin of `{}`: {}",
                                    short(cmd),
                                    io_transport_reason(&e)
                                ),
                            ))
                        }
                    }
                }
                if input.is_empty() {
                    match ch.send_eof() {
                        Ok(()) => eof_sent = true,
                        Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {}
                        Err(e) => return Err(self.ssh_error("sending end of stdin", &e)),
                    }
                }
            }
            progress |= read_streams(&mut ch, &mut out.stdout, &mut out.stderr).map_err(|e| {
                self.error(
                    SshErrorKind::Session,
                    format!("reading output of `{}`: {e}", short(cmd)),
                )
            })?;
            if eof_sent && ch.eof() {
                // Whatever arrived with the EOF.
                read_streams(&mut ch, &mut out.stdout, &mut out.stderr).map_err(|e| {
                    self.error(
                        SshErrorKind::Session,
                        format!("reading output of `{}`: {e}", short(cmd)),
                    )
                })?;
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let _ = ch.close();
                return Err(self.error(
                    SshErrorKind::Timeout,
                    format!(
                        "`{}` did not finish within {} s",
                        short(cmd),
                        timeout.as_secs_f64()
                    ),
                ));
            }
            if !progress {
                self.wait_socket(deadline - now);
            }
        }
        self.finish(&mut ch, deadline, &mut out)?;
        Ok(out)
    }

    /// Closes the channel and reads the exit status and signal.
    fn finish(
        &self,
        ch: &mut ssh2::Channel,
        deadline: Instant,
        out: &mut Output,
    ) -> Result<(), SshError> {
        self.retry(deadline, "closing the channel", || ch.close())?;
        self.retry(deadline, "waiting for the channel to close", || {
            ch.wait_close()
        })?;
        let status = ch
            .exit_status()
            .map_err(|e| self.ssh_error("reading the exit status", &e))?;
        let signal = ch.exit_signal().ok().and_then(|s| s.exit_signal);
        if signal.is_some() {
            out.signal = signal;
            out.status = None;
        } else {
            out.status = Some(status);
        }
        Ok(())
    }

    /// Writes `bytes` to `remote_path` with `mode`: first under a temporary name
    /// in the same directory (created if missing), then an atomic rename, so a
    /// running program is never overwritten in place.
    pub fn upload(&self, remote_path: &str, bytes: &[u8], mode: u32) -> Result<(), SshError> {
        let (dir, name) = match remote_path.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => (".", remote_path),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = format!("{dir}/.{name}.labctl-{}-{nanos}", std::process::id());
        let (dq, tq, pq) = (
            shell_quote(dir),
            shell_quote(&tmp),
            shell_quote(remote_path),
        );
        let cmd = format!(
            "mkdir -p {dq} && umask 077 && cat > {tq} && chmod {mode:o} {tq} && mv -f {tq} {pq} || {{ rc=$?; rm -f {tq}; exit $rc; }}"
        );
        let out = self.exec(&cmd, Some(bytes), self.command_timeout)?;
        if out.success() {
            Ok(())
        } else {
            Err(self.error(
                SshErrorKind::Session,
                format!(
                    "upload of `{remote_path}` {}: {}",
                    out.describe(),
                    first_line(&out.stderr_str())
                ),
            ))
        }
    }

    /// The contents of `remote_path`.
    pub fn download(&self, remote_path: &str) -> Result<Vec<u8>, SshError> {
        let out = self.exec(
            &format!("cat -- {}", shell_quote(remote_path)),
            None,
            self.command_timeout,
        )?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(
                SshErrorKind::Session,
                format!(
                    "download of `{remote_path}` {}: {}",
                    out.describe(),
                    first_line(&out.stderr_str())
                ),
            ))
        }
    }

    /// Starts `cmd` on a channel that stays open: read what arrives without
    /// blocking, write to its stdin, close when done. Uses one of the
    /// session's channels (sshd allows 10 by default) until closed.
    pub fn spawn_stream(&self, cmd: &str) -> Result<StreamChannel<'_>, SshError> {
        let deadline = Instant::now() + self.command_timeout;
        let ch = self.open_exec(cmd, deadline)?;
        Ok(StreamChannel {
            sess: self,
            ch,
            cmd: short(cmd),
            eof_sent: false,
        })
    }
}

/// What [`StreamChannel::read_available`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRead {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The remote side closed its output (the program ended or closed stdout and stderr).
    pub eof: bool,
}

/// A long-lived channel running one remote command (see [`Session::spawn_stream`]).
pub struct StreamChannel<'s> {
    sess: &'s Session,
    ch: ssh2::Channel,
    cmd: String,
    eof_sent: bool,
}

impl StreamChannel<'_> {
    /// Everything that has arrived on stdout and stderr so far; never blocks.
    pub fn read_available(&mut self) -> Result<StreamRead, SshError> {
        let mut r = StreamRead::default();
        read_streams(&mut self.ch, &mut r.stdout, &mut r.stderr).map_err(|e| {
            self.sess.error(
                SshErrorKind::Session,
                format!("reading output of `{}`: {e}", self.cmd),
            )
        })?;
        r.eof = self.ch.eof();
        Ok(r)
    }

    /// Waits until data may have arrived, at most `max` (use between reads instead of sleeping).
    pub fn wait(&self, max: Duration) {
        self.sess.wait_socket(max);
    }

    /// Writes all of `bytes` to the command's stdin (within the session's command timeout).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        let deadline = Instant::now() + self.sess.command_timeout;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.ch.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(self.sess.error(
                            SshErrorKind::Timeout,
                            format!("writing to `{}`: timed out", self.cmd),
                        ));
                    }
                    self.sess.wait_socket(deadline - now);
                }
                Err(e) => {
                    return Err(self.sess.error(
                        SshErrorKind::Session,
                        format!("writing to `{}`: {}", self.cmd, io_transport_reason(&e)),
                    ))
                }
            }
        }
        let _ = self.ch.flush();
        Ok(())
    }

    /// Ends the command's stdin (it reads end-of-file).
    pub fn send_eof(&mut self) -> Result<(), SshError> {
        if !self.eof_sent {
            let deadline = Instant::now() + self.sess.command_timeout;
            let ch = &mut self.ch;
            self.sess
                .retry(deadline, "sending end of stdin", || ch.send_eof())?;
            self.eof_sent = true;
        }
        Ok(())
    }

    /// Ends stdin, closes the channel and waits up to `wait` for the remote side
    /// to close; returns what was still unread and the exit status. Closing does
    /// not stop a remote process that ignores end-of-stdin.
    pub fn close(mut self, wait: Duration) -> Result<Output, SshError> {
        let deadline = Instant::now() + wait;
        let mut out = Output::default();
        let _ = self.send_eof();
        loop {
            let progress =
                read_streams(&mut self.ch, &mut out.stdout, &mut out.stderr).map_err(|e| {
                    self.sess.error(
                        SshErrorKind::Session,
                        format!("reading output of `{}`: {e}", self.cmd),
                    )
                })?;
            if self.ch.eof() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let _ = self.ch.close();
                return Err(self.sess.error(
                    SshErrorKind::Timeout,
                    format!(
                        "`{}` did not end within {} s of end-of-stdin; its channel was closed",
                        self.cmd,
                        wait.as_secs_f64()
                    ),
                ));
            }
            if !progress {
                self.sess.wait_socket(deadline - now);
            }
        }
        self.sess.finish(&mut self.ch, deadline, &mut out)?;
        Ok(out)
    }
}

/// Reads stdout and stderr until both would block and libssh2 holds nothing
/// more for the channel (reading one stream may queue data of the other).
/// Returns whether anything was read.
fn read_streams(
    ch: &mut ssh2::Channel,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> Result<bool, String> {
    let mut buf = [0u8; 32 * 1024];
    let mut any = false;
    for _pass in 0..1000 {
        let mut got = false;
        for which in [0, 1] {
            loop {
                let r = if which == 0 {
                    ch.read(&mut buf)
                } else {
                    ch.stderr().read(&mut buf)
                };
                match r {
                    Ok(0) => break,
                    Ok(n) => {
                        got = true;
                        if which == 0 {
                            stdout.extend_from_slice(&buf[..n]);
                        } else {
                            stderr.extend_from_slice(&buf[..n]);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io_transport_reason(&e)),
                }
            }
        }
        any |= got;
        if !got && ch.read_window().available == 0 {
            break;
        }
    }
    Ok(any)
}

/// Authenticates with the host's configured method (blocking, under the session timeout).
fn authenticate(sess: &ssh2::Session, host: &Host) -> Result<(), (SshErrorKind, String)> {
    let user = host.target.user.as_str();
    let auth_err = |m: String| (SshErrorKind::Auth, m);
    let env = |var: &str, what: &str| {
        std::env::var(var).map_err(|_| {
            auth_err(format!(
                "environment variable `{var}` ({what}) is not set; set it before running labctl"
            ))
        })
    };
    let result = match &host.auth {
        Auth::Agent => sess.userauth_agent(user).map_err(|e| {
            if std::env::var_os("SSH_AUTH_SOCK").is_none() {
                auth_err(format!(
                    "auth = \"agent\" but no ssh-agent is running (SSH_AUTH_SOCK is not set) for user `{user}`"
                ))
            } else {
                auth_err(format!("no agent key was accepted for user `{user}`: {}", crate::util::lower_first(e.message())))
            }
        }),
        Auth::Key {
            identity,
            passphrase_env,
        } => {
            if !identity.exists() {
                return Err(auth_err(format!("identity file `{}` does not exist", identity.display())));
            }
            let pass = match passphrase_env {
                Some(v) => Some(env(v, &format!("the passphrase of `{}`", identity.display()))?),
                None => None,
            };
            sess.userauth_pubkey_file(user, None, identity, pass.as_deref())
                .map_err(|e| {
                    let m = e.message().to_string();
                    if m.contains("Unsupported private key format") || m.contains("Wrong passphrase") {
                        match passphrase_env {
                            Some(v) => auth_err(format!("wrong passphrase for `{}` (from ${v})", identity.display())),
                            None => auth_err(format!(
                                "cannot use `{}`: it is passphrase-protected or in an unsupported format; set `passphrase_env`",
                                identity.display()
                            )),
                        }
                    } else if is_timeout(&e) {
                        auth_err("authentication timed out".to_string())
                    } else {
                        auth_err(format!(
                            "key `{}` was not accepted for user `{user}`: {}",
                            identity.display(),
                            crate::util::lower_first(&m)
                        ))
                    }
                })
        }
        Auth::Password { env: var } => {
            let pw = env(var, &format!("the password of `{user}`"))?;
            sess.userauth_password(user, &pw)
                .map_err(|e| auth_err(format!("password (from ${var}) was not accepted for user `{user}`: {}", crate::util::lower_first(e.message()))))
        }
    };
    result?;
    if sess.authenticated() {
        Ok(())
    } else {
        Err(auth_err(format!(
            "authentication as `{user}` did not complete"
        )))
    }
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
pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Connects to every host in parallel (one scoped thread per host, each owning
/// its session) and calls `f` on that thread. Results are in `hosts` order.
pub fn for_each_host<T: Send>(
    hosts: &[&Host],
    opts: &ConnectOptions,
    f: impl Fn(&Host, Result<Session, SshError>) -> T + Sync,
) -> Vec<T> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|&h| {
                std::thread::Builder::new()
                    .name(format!("ssh-{}", h.label()))
                    .spawn_scoped(s, move || f(h, Session::connect(h, opts)))
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
