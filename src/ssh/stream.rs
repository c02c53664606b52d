//! A long-lived channel running one remote command: what arrived on stdout
//! and stderr is read without blocking, lines are written to its stdin, and
//! it is closed explicitly (closing does not stop the remote program).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::{io_transport_reason, Output, Session, SshError, SshErrorKind};

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
    pub(super) sess: &'s Session,
    pub(super) ch: ssh2::Channel,
    pub(super) cmd: String,
    pub(super) eof_sent: bool,
}

impl StreamChannel<'_> {
    /// Everything that has arrived on stdout and stderr so far; never blocks.
    pub fn read_available(&mut self) -> Result<StreamRead, SshError> {
        let mut r = StreamRead::default();
        r.eof = self.read_into(&mut r.stdout, &mut r.stderr)?.1;
        Ok(r)
    }

    /// [`Self::read_available`] appended to `stdout` and `stderr` (no
    /// buffers of its own to allocate and copy from): whether anything
    /// came, and whether the remote side closed its output.
    pub(crate) fn read_into(
        &mut self,
        stdout: &mut Vec<u8>,
        stderr: &mut Vec<u8>,
    ) -> Result<(bool, bool), SshError> {
        let (out, err) = (stdout.len(), stderr.len());
        read_streams(&mut self.ch, stdout, stderr).map_err(|e| {
            self.sess.error(
                SshErrorKind::Session,
                format!("reading output of `{}`: {e}", self.cmd),
            )
        })?;
        let any = stdout.len() > out || stderr.len() > err;
        Ok((any, self.ch.eof()))
    }

    /// Waits until data may have arrived, at most `max` (use between reads instead of sleeping).
    pub fn wait(&self, max: Duration) {
        self.sess.wait_socket(max);
    }

    /// [`Self::wait`], also ending as soon as `other` (a file descriptor)
    /// is readable. `beating`: the remote command is heard every second
    /// without being asked (the run's agent: its heartbeat), so no SSH
    /// keepalive is sent: a silent host is told all the same, by the
    /// kernel's count of the connection's last received data.
    pub(crate) fn wait_or(&self, max: Duration, other: Option<std::os::fd::RawFd>, beating: bool) {
        if beating {
            self.sess.wait_socket_beating(max, other);
        } else {
            self.sess.wait_socket_or(max, other);
        }
    }

    /// Writes all of `bytes` to the command's stdin (within the session's command timeout).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        let deadline = Instant::now() + self.sess.command_timeout;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.ch.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.sess.check_heard()?;
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
        // No `flush`: libssh2 sends as it writes, and its "flush"
        // (`libssh2_channel_flush_ex`) discards what has arrived on stdout and
        // was not read yet — a reply, when labctl ticks during a request.
        Ok(())
    }

    /// Ends the command's stdin (it reads end-of-file).
    pub(crate) fn send_eof(&mut self) -> Result<(), SshError> {
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
                if let Err(e) = self.sess.check_heard() {
                    let _ = self.ch.close();
                    return Err(e);
                }
                self.sess.wait_socket(deadline - now);
            }
        }
        self.sess.finish(&mut self.ch, deadline, &mut out)?;
        Ok(out)
    }
}

/// Reads stdout and stderr until libssh2 holds nothing more for the
/// channel (reading one stream may queue data of the other). Returns
/// whether anything was read.
///
/// Every libssh2 read first pulls what the socket holds into libssh2's
/// queue, until the socket would block: one failed `recv` per read. So
/// only the first read goes to the socket; after it, what is queued for
/// the channel is known without a system call (`read_window`), and a
/// stream is read again only while something is queued. (Reading both
/// streams until each would block cost five failed `recv`s per wake: a
/// room of 30 benches made 80,000 of them.)
pub(super) fn read_streams(
    ch: &mut ssh2::Channel,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> Result<bool, String> {
    thread_local! {
        // One buffer per thread (a room has a thread per host), not one per read.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 32 * 1024]);
    }
    BUF.with_borrow_mut(|buf| read_streams_with(ch, stdout, stderr, buf))
}

fn read_streams_with(
    ch: &mut ssh2::Channel,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
    buf: &mut [u8],
) -> Result<bool, String> {
    let mut any = false;
    let mut first = true;
    for _pass in 0..1000 {
        let mut got = false;
        for which in [0, 1] {
            // The first read pulls from the socket; the others only take what is queued.
            if !first && ch.read_window().available == 0 {
                return Ok(any || got);
            }
            first = false;
            // One read copies all that is queued for the stream, up to the buffer's size.
            let r = if which == 0 {
                ch.read(buf)
            } else {
                ch.stderr().read(buf)
            };
            match r {
                Ok(0) => {}
                Ok(n) => {
                    got = true;
                    if which == 0 {
                        stdout.extend_from_slice(&buf[..n]);
                    } else {
                        stderr.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io_transport_reason(&e)),
            }
        }
        any |= got;
        if !got {
            // Something queued that neither stream takes (libssh2 tells no more).
            break;
        }
    }
    Ok(any)
}
