//! One authenticated session to one host: connect (TCP, handshake, host key,
//! authentication, each under a timeout), then run commands with stdout and
//! stderr read together, upload and download files, or open a long-lived
//! [`StreamChannel`]. A session stays on the thread that made it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode};

use super::known_hosts::{self, KeyVerdict};
use super::stream::{read_streams, StreamChannel};
use super::{
    cat_cmd, io_transport_reason, is_lost, is_timeout, short, whole_reason, Auth, ConnectOptions,
    HostKeyStatus, Output, SshError, SshErrorKind, Target, EAGAIN, LOST,
};
use crate::util::shell_quote;
use crate::util::shell_template::{render, Val};

/// The host key a host offers, and what the known_hosts files say of it
/// ([`probe_host_key`]: the handshake only, nothing is sent to log in).
#[derive(Debug, Clone)]
pub(crate) struct OfferedKey {
    /// The key blob, its type and `SHA256:…` fingerprint.
    pub key: Vec<u8>,
    pub kind: ssh2::HostKeyType,
    pub fingerprint: String,
    pub verdict: KeyVerdict,
    /// With [`KeyVerdict::Changed`]: the fingerprint the named line records.
    pub recorded: Option<String>,
}

/// Connects to `target` and completes the SSH handshake only, to see the
/// host key it offers and how the known_hosts files judge it (`labctl keys`).
pub(crate) fn probe_host_key(
    target: impl Into<Target>,
    opts: &ConnectOptions,
) -> Result<OfferedKey, SshError> {
    let host: Target = target.into();
    let (sess, _fd, files) = open(&host, opts)?;
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (key, kind) = sess
        .host_key()
        .map(|(k, t)| (k.to_vec(), t))
        .ok_or_else(|| SshError {
            host: host.label.clone(),
            endpoint: host.endpoint(),
            kind: SshErrorKind::Session,
            message: "the server sent no host key".to_string(),
        })?;
    let verdict = known_hosts::verify(&sess, &files, &host.address, host.port, &key);
    let recorded = match &verdict {
        KeyVerdict::Changed { file, line } => known_hosts::line_fingerprint(file, *line),
        _ => None,
    };
    let _ = sess.disconnect(None, "labctl: host key seen", None);
    Ok(OfferedKey {
        fingerprint: known_hosts::fingerprint(&key),
        key,
        kind,
        verdict,
        recorded,
    })
}

/// TCP connect and the SSH handshake within `opts.connect_timeout`, asking
/// first for a key type the known_hosts files know for the host; returns
/// the session, its socket and those files (`~/.ssh/known_hosts`, then
/// labctl's own).
fn open(
    host: &Target,
    opts: &ConnectOptions,
) -> Result<(ssh2::Session, RawFd, Vec<PathBuf>), SshError> {
    let fail = |kind, message: String| SshError {
        host: host.label.clone(),
        endpoint: host.endpoint(),
        kind,
        message,
    };
    let secs = opts.connect_timeout.as_secs_f64();
    let addrs: Vec<SocketAddr> = (host.address.as_str(), host.port)
        .to_socket_addrs()
        .map_err(|e| {
            fail(
                SshErrorKind::Connect,
                format!(
                    "cannot resolve `{}`: {}",
                    host.address,
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
            None => format!("`{}` resolves to no address", host.address),
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
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(h) = crate::util::home_dir() {
        files.push(h.join(".ssh/known_hosts"));
    }
    files.push(host.known_hosts.clone());
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    known_hosts::prefer_known(&sess, &refs, &host.address, host.port);
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
    Ok((sess, fd, files))
}

/// One authenticated SSH session to one host. Keep it on the thread that made it.
pub struct Session {
    pub(super) sess: ssh2::Session,
    pub(super) fd: RawFd,
    label: String,
    endpoint: String,
    pub(super) command_timeout: Duration,
    silence_limit: Duration,
    /// Time taken by TCP connect, handshake, host-key check and authentication.
    pub connected_in: Duration,
    pub host_key: HostKeyStatus,
}

impl Session {
    /// Connects, verifies the host key and authenticates, each within `opts.connect_timeout`.
    pub fn connect(target: impl Into<Target>, opts: &ConnectOptions) -> Result<Session, SshError> {
        let start = Instant::now();
        let host: Target = target.into();
        let host = &host;
        let label = host.label.clone();
        let endpoint = host.endpoint();
        let fail = |kind, message: String| SshError {
            host: label.clone(),
            endpoint: endpoint.clone(),
            kind,
            message,
        };
        let (sess, fd, files) = open(host, opts)?;
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
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
        let name = known_hosts::entry_name(&host.address, host.port);
        let host_key = match known_hosts::verify(&sess, &files, &host.address, host.port, &key) {
            KeyVerdict::Known { file } => HostKeyStatus {
                fingerprint: fp,
                file,
                newly_accepted: false,
            },
            KeyVerdict::Changed { file, line } => {
                let recorded = known_hosts::line_fingerprint(&file, line)
                    .map_or_else(|| "another key".to_string(), |f| format!("key {f}"));
                return Err(fail(
                    SshErrorKind::HostKeyChanged,
                    format!(
                        "host key CHANGED: the server now presents {} {fp}, but `{}` line {line} records {recorded} for `{name}`; \
                         if the host's card was re-imaged, `labctl keys trust --replace` shows both and records the new key once you confirm \
                         (or remove that line: `ssh-keygen -R '{name}' -f {}`), else someone may be intercepting",
                        known_hosts::key_type_name(kind),
                        file.display(),
                        shell_quote(&file.display().to_string()),
                    ),
                ))
            }
            KeyVerdict::Unknown if opts.accept_new => {
                known_hosts::append(&host.known_hosts, &host.address, host.port, &key, kind).map_err(|e| {
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
        // Every second while labctl waits: its reply is how a silent host is told from a quiet one.
        sess.set_keepalive(true, 1);
        sess.set_blocking(false);
        Ok(Session {
            sess,
            fd,
            label,
            endpoint,
            command_timeout: opts.command_timeout,
            silence_limit: opts.silence_limit,
            connected_in: start.elapsed(),
            host_key,
        })
    }

    /// The host's label, as in error messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The default timeout for commands and transfers (from [`ConnectOptions`]).
    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// How long nothing has arrived from the host (the kernel's count of the
    /// connection's last received data: keepalive replies, the agent's
    /// heartbeat and every output count, read by labctl or not yet).
    pub(crate) fn silent_for(&self) -> Duration {
        // SAFETY: tcp_info is plain data; the length is passed and the fd is this session's socket.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                self.fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::from(info.tcpi_last_data_recv))
    }

    /// `Err` (kind [`SshErrorKind::Silent`]) once the host has been silent
    /// for the session's silence limit.
    pub(crate) fn check_heard(&self) -> Result<(), SshError> {
        self.check_quiet(self.silent_for())
    }

    /// [`Self::check_heard`] for a silence the caller measured already.
    pub(crate) fn check_quiet(&self, quiet: Duration) -> Result<(), SshError> {
        if quiet < self.silence_limit {
            return Ok(());
        }
        Err(self.error(
            SshErrorKind::Silent,
            format!(
                "no answer for {} s: the host stopped responding without closing the connection (frozen, or its cable pulled)",
                quiet.as_secs()
            ),
        ))
    }

    pub(super) fn error(&self, kind: SshErrorKind, message: String) -> SshError {
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
    pub(super) fn wait_socket(&self, max: Duration) {
        self.wait_socket_or(max, None)
    }

    /// [`Self::wait_socket`], also ending when `other` (a file descriptor) becomes readable.
    pub(super) fn wait_socket_or(&self, max: Duration, other: Option<std::os::fd::RawFd>) {
        let _ = self.sess.keepalive_send();
        self.wait_socket_beating(max, other);
    }

    /// [`Self::wait_socket_or`] without the keepalive: for a channel whose
    /// remote end sends something every second by itself (the run's agent
    /// and its heartbeat), where a keepalive and its reply would be two
    /// more packets a second that tell nothing more.
    pub(super) fn wait_socket_beating(&self, max: Duration, other: Option<std::os::fd::RawFd>) {
        crate::util::tcp_quickack(self.fd);
        let events = match self.sess.block_directions() {
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            _ => libc::POLLIN,
        };
        let mut pfd = [
            libc::pollfd {
                fd: self.fd,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: other.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = max.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: valid pollfds (a negative fd is ignored); the fds outlive the call.
        unsafe {
            libc::poll(pfd.as_mut_ptr(), 2, ms);
        }
    }

    /// Retries a libssh2 call that would block until it completes or `deadline` passes.
    pub(super) fn retry<T>(
        &self,
        deadline: Instant,
        what: &str,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, SshError> {
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.code() == ErrorCode::Session(EAGAIN) => {
                    self.check_heard()?;
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
                if let Err(e) = self.check_heard() {
                    let _ = ch.close();
                    return Err(e);
                }
                self.wait_socket(deadline - now);
            }
        }
        self.finish(&mut ch, deadline, &mut out)?;
        Ok(out)
    }

    /// Closes the channel and reads the exit status and signal.
    pub(super) fn finish(
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
    /// running program is never overwritten in place (`upload.sh`).
    pub fn upload(&self, remote_path: &str, bytes: &[u8], mode: u32) -> Result<(), SshError> {
        let (dir, name) = match remote_path.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => (".", remote_path),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = format!("{dir}/.{name}.labctl-{}-{nanos}", std::process::id());
        let cmd = render(
            include_str!("upload.sh"),
            &[
                ("DIR", Val::Quoted(dir)),
                ("TMP", Val::Quoted(&tmp)),
                ("MODE", Val::Quoted(&format!("{mode:o}"))),
                ("PATH", Val::Quoted(remote_path)),
            ],
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
                    whole_reason(&out.stderr_str())
                ),
            ))
        }
    }

    /// The contents of `remote_path`.
    pub fn download(&self, remote_path: &str) -> Result<Vec<u8>, SshError> {
        let out = self.exec(&cat_cmd(remote_path), None, self.command_timeout)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(
                SshErrorKind::Session,
                format!(
                    "download of `{remote_path}` {}: {}",
                    out.describe(),
                    whole_reason(&out.stderr_str())
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

/// Authenticates with the host's configured method (blocking, under the session timeout).
fn authenticate(sess: &ssh2::Session, host: &Target) -> Result<(), (SshErrorKind, String)> {
    let user = host.user.as_str();
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
            // An unencrypted ed25519 key is parsed once per process and signs
            // itself (`identity.rs`); any other key takes libssh2's own path.
            let tried = match super::identity::load(identity) {
                Some(key) => super::identity::authenticate(sess, user, &key),
                None => {
                    // With the public half beside it (`ssh-keygen` writes `<identity>.pub`),
                    // libssh2 need not derive it: the private key is parsed once, not twice.
                    let public = {
                        let mut p = identity.clone().into_os_string();
                        p.push(".pub");
                        PathBuf::from(p)
                    };
                    // A `.pub` that is not the key's own is refused: then the key alone.
                    let public = public.is_file().then_some(public.as_path());
                    let by_public = public.map(|p| sess.userauth_pubkey_file(user, Some(p), identity, pass.as_deref()));
                    match by_public {
                        Some(Ok(())) => Ok(()),
                        Some(Err(e)) if is_timeout(&e) => Err(e),
                        _ => sess.userauth_pubkey_file(user, None, identity, pass.as_deref()),
                    }
                }
            };
            tried.map_err(|e| {
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
