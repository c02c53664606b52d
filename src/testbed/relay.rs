//! The management path into the hosts: one loopback port per host in the
//! root namespace, each connection relayed to 127.0.0.1:22 inside the host's
//! namespace. The relay enters the namespace only on the connecting thread
//! (`setns`), so nothing in the root namespace routes to the lab network.
//!
//! It runs as `labctl testbed relay --state DIR`, started detached by `up`,
//! stopped by `down`; it also ends by itself once the state directory is gone.
//! While a host's fault flag exists (`labctl testbed fault`, [`super::fault`])
//! its connections pass nothing either way and stay open: a silent host.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::util::io_reason;

use super::netns;
use super::state::{write_atomic, State, PORTS_FILE, STATE_FILE};

/// How long a relayed connection may take to reach the host's sshd.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The relay's main loop: listen, write the ports file, relay until killed
/// or until the testbed's state file disappears.
pub fn run(dir: &Path) -> Result<(), Error> {
    let state = State::load(dir)?;
    let mut listeners = Vec::new();
    let mut ports = BTreeMap::new();
    for (_, h) in state.hosts() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                Error::Local(format!(
                    "relay: cannot listen on 127.0.0.1: {}",
                    io_reason(&e)
                ))
            })?;
        let port = l
            .local_addr()
            .map_err(|e| Error::Local(format!("relay: {}", io_reason(&e))))?
            .port();
        ports.insert(h.netns.clone(), port);
        let silent = Arc::new(AtomicBool::new(false));
        listeners.push((l, h.netns.clone(), silent));
    }
    let text = serde_json::to_string_pretty(&ports).expect("ports serialize");
    write_atomic(&dir.join(PORTS_FILE), text.as_bytes())?;
    eprintln!("relay: listening for {} hosts", listeners.len());

    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|(l, _, _)| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let state_file = dir.join(STATE_FILE);
    loop {
        // SAFETY: `fds` is a valid array of pollfd for the listeners we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        for (_, ns, silent) in &listeners {
            silent.store(super::fault::flag(dir, ns).exists(), Ordering::Relaxed);
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Local(format!("relay: poll: {}", io_reason(&e))));
        }
        if n == 0 {
            if !state_file.exists() {
                eprintln!("relay: `{}` is gone; exiting", state_file.display());
                return Ok(());
            }
            continue;
        }
        for (i, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            let (listener, ns, silent) = &listeners[i];
            // Drain every pending connection of this listener.
            loop {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (ns, silent) = (ns.clone(), Arc::clone(silent));
                        std::thread::spawn(move || serve(client, &ns, silent));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        eprintln!("relay: accept for `{ns}`: {}", io_reason(&e));
                        // E.g. out of file descriptors: don't spin on it.
                        std::thread::sleep(Duration::from_millis(50));
                        break;
                    }
                }
            }
        }
    }
}

/// Relays one client to the sshd inside namespace `ns`; returns when both
/// directions ended. Nothing passes while `silent` is set.
fn serve(client: TcpStream, ns: &str, silent: Arc<AtomicBool>) {
    let _ = client.set_nonblocking(false);
    let upstream = match connect_in(ns) {
        Ok(s) => s,
        Err(e) => {
            // The host's sshd is down: close at once so the client fails fast.
            eprintln!("relay: `{ns}`: {e}");
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let quiet = Arc::clone(&silent);
    let back = std::thread::spawn(move || pump(u2, c2, &quiet));
    pump(client, upstream, &silent);
    let _ = back.join();
}

/// Copies `from` to `to` until end of stream (then half-closes `to`) or an
/// error (then closes both, which ends the other direction too). While
/// `silent` is set it holds what it read and reads no more (the sender's
/// window fills; nothing is closed).
fn pump(mut from: TcpStream, mut to: TcpStream, silent: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    let hold = || {
        while silent.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    loop {
        hold();
        let r = from.read(&mut buf);
        hold();
        match r {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                // Without this, sshd's second small packet waits 40 ms for
                // our delayed ACK (sshd keeps Nagle on without a PTY).
                crate::util::tcp_quickack(from.as_raw_fd());
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Connects to 127.0.0.1:22 inside namespace `ns`. Only the calling thread
/// enters the namespace; the socket stays there once made.
fn connect_in(ns: &str) -> Result<TcpStream, String> {
    let path = netns::path(ns);
    let f = std::fs::File::open(&path)
        .map_err(|e| format!("cannot open `{}`: {}", path.display(), io_reason(&e)))?;
    // SAFETY: setns(2) on a namespace fd we hold; it changes this thread only.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("cannot enter namespace: {}", io_reason(&e)));
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 22));
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("cannot reach sshd: {}", io_reason(&e)))
}

/// Waits (up to `limit`) for the relay's ports file; returns netns -> port.
pub(crate) fn wait_ports(dir: &Path, limit: Duration) -> Result<BTreeMap<String, u16>, Error> {
    let path = dir.join(PORTS_FILE);
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text).map_err(|e| {
                Error::Local(format!(
                    "relay ports file `{}` is damaged: {e}",
                    path.display()
                ))
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::Local(format!(
                "the relay did not start within {} s; see `{}`",
                limit.as_secs(),
                dir.join("relay.log").display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the SSH banner from 127.0.0.1:`port`: `Ok(banner line)` when an sshd answers.
pub fn banner(port: u16, timeout: Duration) -> Result<String, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io_reason(&e))?;
    let _ = s.set_read_timeout(Some(timeout));
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.contains(&b'\n') && got.len() < 1024 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(io_reason(&e)),
        }
    }
    let line = String::from_utf8_lossy(&got);
    let line = line.lines().next().unwrap_or("").trim().to_string();
    if line.starts_with("SSH-2.0-") {
        Ok(line)
    } else if line.is_empty() {
        Err("connection closed without a banner".to_string())
    } else {
        Err(format!("unexpected banner `{line}`"))
    }
}
