//! What the five socket programs share, so each `bin` file shows only its socket lesson.
//!
//! Nothing here touches a socket that carries data: the `bind`, `listen`,
//! `accept`, `connect`, `send` and `recv` calls stay in the programs
//! themselves. This file holds the plumbing around them: the command line
//! (`--bind`/`--server`, `--port`, `--timeout`, `--help`), printing one event
//! per line, upper-casing a reply, and spotting `quit`.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::exit;
use std::time::Duration;

/// The lab's port, as in the original programs.
pub const DEFAULT_PORT: u16 = 50000;

/// The most bytes one `recv` takes (TCP: per read; UDP: per datagram).
pub const BUFFER_SIZE: usize = 4096;

/// Which side of the conversation a program is: it decides the flags it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Takes `--bind ADDR` (default 0.0.0.0: every interface) and `--port N`.
    Server,
    /// Takes `--server ADDR` (default 127.0.0.1), `--port N` and `--timeout S`.
    Client,
}

/// The command line of one program, parsed.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--bind` for a server, `--server` for a client: an IP address or a host name.
    pub host: String,
    /// `--port`; 0 lets a server take any free port (it prints which).
    pub port: u16,
    /// `--timeout S` (clients only): how long to wait for a reply, and `S` as typed.
    pub timeout: Option<(Duration, String)>,
}

impl Options {
    /// Reads `std::env::args()`; prints the help and exits 0 on `--help`,
    /// prints one error line and exits 1 on anything it does not understand.
    pub fn parse(role: Role, about: &str) -> Options {
        match Options::from_args(role, std::env::args().skip(1)) {
            Ok(Some(options)) => options,
            Ok(None) => {
                say(help(role, about));
                exit(0);
            }
            Err(message) => fail(format!("{message} (try `{} --help`)", program())),
        }
    }

    /// The parser behind [`Options::parse`]: `Ok(None)` means `--help` was asked for.
    pub fn from_args(
        role: Role,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Option<Options>, String> {
        let mut options = Options {
            host: match role {
                Role::Server => "0.0.0.0".to_string(),
                Role::Client => "127.0.0.1".to_string(),
            },
            port: DEFAULT_PORT,
            timeout: None,
        };
        let host_flag = match role {
            Role::Server => "--bind",
            Role::Client => "--server",
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // Accept both `--port 5000` and `--port=5000`.
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
                _ => (arg.clone(), None),
            };
            if flag == "--help" || flag == "-h" {
                return Ok(None);
            }
            let takes_value = flag == host_flag
                || flag == "--port"
                || (flag == "--timeout" && role == Role::Client);
            if !takes_value {
                return Err(format!("unknown argument `{arg}`"));
            }
            let value = match inline {
                Some(value) => value.to_string(),
                None => args
                    .next()
                    .ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            if flag == host_flag {
                options.host = value;
            } else if flag == "--port" {
                options.port = value
                    .parse()
                    .map_err(|_| format!("`--port {value}`: not a port number (0-65535)"))?;
            } else {
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        format!("`--timeout {value}`: not a positive number of seconds")
                    })?;
                options.timeout = Some((Duration::from_secs_f64(seconds), value));
            }
        }
        Ok(Some(options))
    }

    /// `(host, port)`, ready for `bind` or `connect` (both accept it).
    pub fn address(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The one socket address `--server`/`--port` name (a host name is looked up).
    pub fn resolve(&self) -> SocketAddr {
        match self.address().to_socket_addrs().map(|mut all| all.next()) {
            Ok(Some(address)) => address,
            Ok(None) => fail(format!("cannot resolve `{}`: no address", self.host)),
            Err(e) => fail(format!("cannot resolve `{}`: {e}", self.host)),
        }
    }

    /// `host:port` as typed, for messages (`[::1]:50000` for an IPv6 address).
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The read timeout to put on the socket (`None`: wait for ever, as the lab's programs do).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout.as_ref().map(|(duration, _)| *duration)
    }

    /// Called when a reply did not come within `--timeout`: `No reply within S s`, exit 1.
    pub fn no_reply(&self) -> ! {
        let typed = self
            .timeout
            .as_ref()
            .map_or("?", |(_, typed)| typed.as_str());
        fail(format!("No reply within {typed} s"))
    }
}

/// The `--help` text of one program.
pub fn help(role: Role, about: &str) -> String {
    let name = program();
    let flags = match role {
        Role::Server => concat!(
            "  --bind ADDR   address to listen on (default 0.0.0.0: every interface)\n",
            "  --port N      port to listen on (default 50000; 0: any free port)",
        ),
        Role::Client => concat!(
            "  --server ADDR server to talk to (default 127.0.0.1)\n",
            "  --port N      server's port (default 50000)\n",
            "  --timeout S   give up when no reply comes within S seconds (default: wait)",
        ),
    };
    format!(
        "{name}: {about}\n\nUsage: {name} [OPTIONS]\n\nOptions:\n{flags}\n  \
         --help        print this help\n\n\
         Every event is printed on its own line on stdout; errors go to stderr, exit 1."
    )
}

/// This program's name, for error messages (the file name it was started under).
pub fn program() -> String {
    std::env::args()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "socket program".to_string())
}

/// Prints one event as one line on stdout, and flushes it at once, so a
/// program reading us through a pipe sees each event as it happens.
pub fn say(line: impl Display) {
    let mut out = io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        // Nobody reads our output any more: nothing useful is left to do.
        exit(1);
    }
}

/// The next line typed on stdin, without its newline; `None` at the end of
/// input. Empty lines are skipped: TCP cannot carry an empty message, and
/// the two clients behave alike. A prompt is shown only when a person types
/// at a terminal, never into a pipe.
pub fn next_line() -> Option<String> {
    let stdin = io::stdin();
    loop {
        if stdin.is_terminal() {
            let mut out = io::stdout().lock();
            let _ = write!(out, "You> ").and_then(|()| out.flush());
        }
        let mut line = String::new();
        if stdin.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.is_empty() {
            return Some(line.to_string());
        }
    }
}

/// Why a bind or listen failed, in the same words on every C library: the
/// static ARM builds use musl, which says "Address in use" where glibc (and
/// the lab handout) say "Address already in use".
pub fn bind_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "Address already in use".to_string(),
        _ => e.to_string(),
    }
}

/// Prints one error line on stderr (`tcp_server: ...`) and exits with status 1.
pub fn fail(message: impl Display) -> ! {
    eprintln!("{}: {message}", program());
    exit(1)
}

/// The reply a server sends: the received bytes, ASCII-upper-cased.
pub fn upper(data: &[u8]) -> Vec<u8> {
    data.to_ascii_uppercase()
}

/// Whether a message is `quit`, with or without a trailing newline.
pub fn is_quit(data: &[u8]) -> bool {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    let data = data.strip_suffix(b"\r").unwrap_or(data);
    data == b"quit"
}

/// Received bytes as printable text on one line: the trailing newline is
/// dropped, a newline inside shows as `\n`, bytes that are not UTF-8 as `�`.
pub fn text(data: &[u8]) -> String {
    let line = String::from_utf8_lossy(data);
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    line.replace('\r', "\\r").replace('\n', "\\n")
}

/// The local IP address this machine would send from to reach `server`.
///
/// A UDP client that never calls `connect` does not know its own address
/// until it sends. Asking the kernel with a throw-away connected UDP socket
/// sends nothing; it only looks up the route.
pub fn local_ip_towards(server: SocketAddr) -> io::Result<IpAddr> {
    let unspecified: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("valid address"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("valid address"),
    };
    let probe = UdpSocket::bind(unspecified)?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

/// Whether an error from a read with a timeout means "the time ran out".
pub fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(role: Role, args: &[&str]) -> Result<Option<Options>, String> {
        Options::from_args(role, args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_follow_the_lab() {
        let server = parse(Role::Server, &[]).unwrap().unwrap();
        assert_eq!(server.address(), ("0.0.0.0", 50000));
        let client = parse(Role::Client, &[]).unwrap().unwrap();
        assert_eq!(client.address(), ("127.0.0.1", 50000));
        assert!(client.timeout.is_none());
        assert_eq!(client.endpoint(), "127.0.0.1:50000");
        let v6 = parse(Role::Server, &["--bind", "::1"]).unwrap().unwrap();
        assert_eq!(v6.endpoint(), "[::1]:50000");
    }

    #[test]
    fn flags_take_a_value_both_ways() {
        let client = parse(
            Role::Client,
            &["--server", "10.0.3.1", "--port=7", "--timeout", "1.5"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(client.address(), ("10.0.3.1", 7));
        assert_eq!(client.read_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(client.timeout.unwrap().1, "1.5");
    }

    #[test]
    fn wrong_flags_are_refused() {
        assert!(parse(Role::Server, &["--server", "x"])
            .unwrap_err()
            .contains("`--server`"));
        assert!(parse(Role::Server, &["--timeout", "1"]).is_err());
        assert!(parse(Role::Client, &["--port", "70000"])
            .unwrap_err()
            .contains("70000"));
        assert!(parse(Role::Client, &["--timeout", "0"]).is_err());
        assert!(parse(Role::Client, &["--port"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(Role::Client, &["--help"]).unwrap().is_none());
    }

    #[test]
    fn quit_with_or_without_newline() {
        assert!(is_quit(b"quit"));
        assert!(is_quit(b"quit\n"));
        assert!(is_quit(b"quit\r\n"));
        assert!(!is_quit(b"quit now"));
        assert!(!is_quit(b"QUIT"));
    }

    #[test]
    fn text_is_one_line() {
        assert_eq!(text(b"hello\n"), "hello");
        assert_eq!(text(b"a\nb\n"), "a\\nb");
        assert_eq!(upper(b"Hello, 1!\n"), b"HELLO, 1!\n");
    }
}
