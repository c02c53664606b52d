//! Test plumbing for the socket programs: spawn a program or a third-party
//! peer, read its stdout line by line with bounded waits, and kill it on drop.
//!
//! Everything talks over loopback (127.0.0.1) only. Waits are generous and
//! event-driven (a line appears, a port is bound), never sleeps-and-hopes.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest any test waits for something that must happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long a test watches for something that must NOT happen.
pub const QUIET: Duration = Duration::from_millis(1000);

/// Which implementation of the five programs a test runs: the Rust binaries
/// cargo built for this test run, or the Python 3 files in `sockets/python/`
/// run with `python3`. Every behavioural test runs over both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Rust,
    Python,
}

impl Impl {
    pub const ALL: [Impl; 2] = [Impl::Rust, Impl::Python];

    /// The command line that starts program `name` (no arguments yet).
    pub fn argv(self, name: &str) -> Vec<String> {
        match self {
            Impl::Rust => vec![exe(name).to_string()],
            Impl::Python => vec!["python3".to_string(), python_file(name)],
        }
    }

    /// Program `name` ready to be given its arguments and started.
    pub fn command(self, name: &str) -> Command {
        let argv = self.argv(name);
        let mut command = match self {
            Impl::Rust => Command::new(&argv[0]),
            Impl::Python => peer("python3", "python3"),
        };
        command.args(&argv[1..]);
        command
    }
}

/// The path of the Python version of program `name`; it must exist.
pub fn python_file(name: &str) -> String {
    let path = format!("{}/python/{name}.py", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(&path).is_file(),
        "no Python program `{path}`"
    );
    path
}

/// Generates, for each test function `NAME(imp: Impl)` named, the tests
/// `rust::NAME` and `python::NAME`: one behaviour, both implementations.
macro_rules! for_both_implementations {
    ($($test:ident),* $(,)?) => {
        mod rust {
            $(#[test]
            fn $test() {
                super::$test(super::support::Impl::Rust)
            })*
        }
        mod python {
            $(#[test]
            fn $test() {
                super::$test(super::support::Impl::Python)
            })*
        }
    };
}

/// The path of one of our five programs: in `$SOCKETS_PROGRAMS_DIR` when set
/// (labctl's ARM test runs these tests on the aarch64 and armv7 builds, under
/// qemu), else the one cargo built for this test run.
pub fn exe(name: &str) -> &'static str {
    if let Some(dir) = std::env::var_os("SOCKETS_PROGRAMS_DIR") {
        let path = PathBuf::from(dir).join(name);
        assert!(path.is_file(), "no program `{}`", path.display());
        return Box::leak(
            path.into_os_string()
                .into_string()
                .unwrap()
                .into_boxed_str(),
        );
    }
    match name {
        "tcp_server" => env!("CARGO_BIN_EXE_tcp_server"),
        "tcp_threaded_server" => env!("CARGO_BIN_EXE_tcp_threaded_server"),
        "udp_server" => env!("CARGO_BIN_EXE_udp_server"),
        "tcp_client" => env!("CARGO_BIN_EXE_tcp_client"),
        "udp_client" => env!("CARGO_BIN_EXE_udp_client"),
        other => panic!("no program `{other}`"),
    }
}

/// A third-party program the interop tests need, found on PATH. A missing one
/// FAILS the test and names the Debian package that provides it.
pub fn peer(program: &str, package: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<PathBuf>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file());
    match found {
        Some(path) => Command::new(path),
        None => panic!(
            "`{program}` is not installed: install the Debian package `{package}` \
             (apt-get install {package}), or run ./scripts/test which does"
        ),
    }
}

/// A running child process whose stdout we read line by line. Killed on drop,
/// even when the test panics.
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line so far, for assertions and for failure messages.
    seen: Vec<String>,
    /// How many of `seen` the test has already consumed.
    cursor: usize,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Proc {
    /// Starts `command` with stdin, stdout and stderr piped to the test.
    pub fn spawn(name: &str, mut command: Command) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{name}`: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let out_reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&errors);
        let err_reader = thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Proc {
            name: name.to_string(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
            cursor: 0,
            stderr: errors,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Starts one of our programs, in implementation `imp`, with these arguments.
    pub fn program(imp: Impl, name: &str, args: &[&str]) -> Proc {
        let mut command = imp.command(name);
        command.args(args);
        Proc::spawn(&format!("{name} ({imp:?})"), command)
    }

    /// Starts one of our servers on 127.0.0.1 and a free port, waits for its
    /// `started ... listening on` line, and returns it with its address.
    pub fn server(imp: Impl, name: &str) -> (Proc, SocketAddr) {
        let mut server = Proc::program(imp, name, &["--bind", "127.0.0.1", "--port", "0"]);
        let started = server.expect("started ... listening on ");
        (server, listening_address(&started))
    }

    /// Starts one of our clients talking to `server`, with extra arguments,
    /// and waits for its `Connected LOCAL -> REMOTE` line; returns LOCAL too.
    pub fn client(imp: Impl, name: &str, server: SocketAddr, extra: &[&str]) -> (Proc, SocketAddr) {
        let port = server.port().to_string();
        let mut args = vec!["--server", "127.0.0.1", "--port", &port];
        args.extend_from_slice(extra);
        let mut client = Proc::program(imp, name, &args);
        let connected = client.expect("Connected ");
        let (local, remote) = connected
            .strip_prefix("Connected ")
            .and_then(|rest| rest.split_once(" -> "))
            .unwrap_or_else(|| panic!("`{name}`: bad line `{connected}`"));
        assert_eq!(remote, server.to_string(), "`{name}`: `{connected}`");
        (client, local.parse().expect("LOCAL is a socket address"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, waiting up to [`WAIT`]; `None` at end of output.
    fn next_line(&mut self, within: Duration) -> Result<String, RecvTimeoutError> {
        if self.cursor < self.seen.len() {
            self.cursor += 1;
            return Ok(self.seen[self.cursor - 1].clone());
        }
        let line = self.lines.recv_timeout(within)?;
        self.seen.push(line.clone());
        self.cursor += 1;
        Ok(line)
    }

    /// Waits for the next stdout line that contains `needle` (skipping others)
    /// and returns it; panics with everything seen if it does not come.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(why) => self.fail(&format!("no line with `{needle}` ({why:?})")),
            }
        }
    }

    /// The first stdout line, or `None` when the program exits without one
    /// (then its stderr is complete).
    pub fn next_or_exit(&mut self) -> Option<String> {
        match self.next_line(WAIT) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => {
                self.wait_exit();
                None
            }
            Err(RecvTimeoutError::Timeout) => self.fail("printed nothing"),
        }
    }

    /// The very next stdout line must be exactly `line`.
    pub fn expect_next(&mut self, line: &str) {
        match self.next_line(WAIT) {
            Ok(got) if got == line => {}
            Ok(got) => self.fail(&format!("expected the line `{line}`, got `{got}`")),
            Err(why) => self.fail(&format!("expected the line `{line}` ({why:?})")),
        }
    }

    /// Asserts that no stdout line containing `needle` appears for [`QUIET`]
    /// (`""`: no line at all). Lines that do appear stay for later `expect`s.
    pub fn quiet(&mut self, needle: &str) {
        let deadline = Instant::now() + QUIET;
        let start = self.cursor;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next_line(left) {
                Ok(line) if line.contains(needle) => {
                    self.fail(&format!("unexpected line `{line}`"))
                }
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.cursor = start;
    }

    /// Every stdout line seen so far (including ones not consumed yet).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Writes one line (a newline is added) to the program's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        if let Err(e) = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
        {
            self.fail(&format!("cannot write `{line}` to stdin: {e}"));
        }
    }

    /// For a client: sends `line`, then its next lines must be exactly
    /// `Sent: LINE` and `Server> REPLY`.
    pub fn ask(&mut self, line: &str, reply: &str) {
        self.send(line);
        self.expect_next(&format!("Sent: {line}"));
        self.expect_next(&format!("Server> {reply}"));
    }

    /// Closes the program's stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the program to exit by itself; then all its output is read.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    for reader in self.readers.drain(..) {
                        let _ = reader.join();
                    }
                    while let Ok(line) = self.lines.try_recv() {
                        self.seen.push(line);
                    }
                    return status;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => self.fail("did not exit"),
                Err(e) => self.fail(&format!("cannot wait: {e}")),
            }
        }
    }

    /// Kills the program now (SIGKILL), as a crash or a pulled cable would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the program wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("the process is alive");
        // Fields after the `(name)`: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // Linux reports these in USER_HZ, which is 100 on every Linux ABI.
        Duration::from_millis(ticks * 10)
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "`{}`: {what}\n--- stdout so far:\n{}\n--- stderr so far:\n{}",
            self.name,
            self.seen.join("\n"),
            self.stderr()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a `... listening on IP:PORT` line.
pub fn listening_address(line: &str) -> SocketAddr {
    line.rsplit_once("listening on ")
        .and_then(|(_, address)| address.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
}

/// A port that is free on 127.0.0.1 right now (for peers that need one up front).
pub fn free_port(protocol: &str) -> u16 {
    match protocol {
        "tcp" => TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        "udp" => UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        other => panic!("no protocol `{other}`"),
    }
}

/// A child process that is killed when the guard is dropped, even on panic
/// (for peers whose output the test does not read).
pub struct Guard {
    pub name: String,
    pub child: Child,
}

impl Guard {
    pub fn spawn(name: &str, command: &mut Command) -> Guard {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{name}`: {e}"));
        Guard {
            name: name.to_string(),
            child,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until some process listens on 127.0.0.1:`port` (TCP) or has bound
/// it (UDP), by reading the kernel's socket table: no probe connection, so a
/// one-shot peer like `nc -l` keeps its single connection for the test.
pub fn wait_bound(protocol: &str, port: u16, peer: &mut Guard) {
    // /proc/net/{tcp,udp}: `sl local_address rem_address st ...`, addresses in hex.
    let wanted = format!("0100007F:{port:04X}");
    let state = if protocol == "tcp" { "0A" } else { "07" }; // LISTEN / UDP "closed"
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let table = std::fs::read_to_string(format!("/proc/net/{protocol}")).unwrap();
        let bound = table.lines().skip(1).any(|row| {
            let columns: Vec<&str> = row.split_whitespace().collect();
            columns.len() > 3 && columns[1] == wanted && columns[3] == state
        });
        if bound {
            return;
        }
        if let Ok(Some(status)) = peer.child.try_wait() {
            panic!(
                "`{}` exited with {status} before binding {protocol} port {port}",
                peer.name
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("`{}` did not bind {protocol} port {port}", peer.name);
}
