//! A miniature bench for the capture and report tests: hosts A, B, C as
//! network namespaces on a bridge (itself in a namespace), the real socket
//! programs run inside them, tcpdump on a host's eth0, and tshark as the
//! independent reader. Nothing is sent from the root namespace; everything
//! is removed on drop (also on panic).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use labctl::capture::{self, CaptureAnalysis, Kind, Proto, Role};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs a command, panicking with its stderr when it fails.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// target/debug, where cargo put this test and the socket programs.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug/deps/<test>")
        .to_path_buf()
}

/// Builds the socket programs once per test binary and returns their directory.
pub fn programs() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "sockets", "--bins"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the socket programs failed");
    });
    target_dir()
}

/// One line a program printed (`stdout`/`stderr`), was sent (`stdin`), or
/// its start (`start`, the text is the program).
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Unix seconds, when the line was seen.
    pub at: f64,
    pub host: String,
    pub program: String,
    pub stream: &'static str,
    pub text: String,
    /// The lab step it belongs to, when the test says.
    pub step: Option<&'static str>,
}

pub type Log = Arc<Mutex<Vec<LogLine>>>;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Three hosts on one switch: `lc-cap<pid>-<n>-{a,b,c}` and the switch `…-sw`.
pub struct MiniBench {
    prefix: String,
    made: Vec<String>,
    children: Vec<Child>,
    /// Every program's lines, for the report tests' timeline.
    pub log: Log,
    started: usize,
}

pub const ADDRS: [(&str, &str); 3] = [("A", "10.0.3.1"), ("B", "10.0.3.2"), ("C", "10.0.3.3")];

impl MiniBench {
    pub fn new() -> MiniBench {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut bench = MiniBench {
            prefix: format!("lc-cap{}-{n}", std::process::id()),
            made: Vec::new(),
            children: Vec::new(),
            log: Log::default(),
            started: 0,
        };
        let sw = bench.add_ns("sw");
        sh(
            "ip",
            &[
                "-n",
                &sw,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "forward_delay",
                "0",
            ],
        );
        sh("ip", &["-n", &sw, "link", "set", "br0", "up"]);
        for (host, addr) in ADDRS {
            let ns = bench.add_ns(&host.to_lowercase());
            let port = format!("v{host}");
            sh(
                "ip",
                &[
                    "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            );
            sh(
                "ip",
                &["-n", &sw, "link", "set", &port, "master", "br0", "up"],
            );
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "eth0",
                ],
            );
            sh("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        bench
    }

    fn add_ns(&mut self, tag: &str) -> String {
        let name = format!("{}-{tag}", self.prefix);
        sh("ip", &["netns", "add", &name]);
        self.made.push(name.clone());
        // No IPv6 chatter (router solicitations, MLD) in the captures.
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ],
        );
        name
    }

    /// The namespace of host `A`, `B` or `C`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{}", self.prefix, host.to_lowercase())
    }

    /// Starts a socket program on a host, stdin and stdout piped.
    pub fn start(&mut self, host: &str, program: &str, args: &[&str]) -> Program {
        let path = programs().join(program);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .arg(&path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{program}` on {host}: {e}"));
        let stdin = child.stdin.take();
        // Unique names, as a lab gives them (`client-B1`): output is matched by name.
        self.started += 1;
        let name = format!("{program}-{}", self.started);
        let tag = Some((self.log.clone(), host.to_string(), name));
        record(&tag, "start", program);
        let lines = reader(
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
            tag.clone(),
        );
        let pid = child.id();
        self.children.push(child);
        Program {
            name: format!("{program}@{host}"),
            pid,
            stdin,
            lines,
            seen: Vec::new(),
            tag,
        }
    }

    /// Starts tcpdump on a host's eth0 and waits until it listens.
    pub fn capture(&mut self, host: &str, file: &Path) -> Capture {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args([
                "tcpdump",
                "-i",
                "eth0",
                "-n",
                "-U",
                "--immediate-mode",
                "-w",
            ])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump starts");
        let lines = reader(std::io::empty(), child.stderr.take().expect("piped"), None);
        let pid = child.id();
        self.children.push(child);
        let cap = Capture { pid, lines };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match cap
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) if l.contains("listening on") => break,
                Ok(_) => {}
                Err(e) => panic!("tcpdump on {host} did not start listening: {e:?}"),
            }
        }
        cap
    }

    /// Starts any capture command on a host (`tcpdump` or `dumpcap`, with
    /// its options; `file` is appended) and waits until it captures.
    pub fn capture_cmd(&mut self, host: &str, cmd: &[&str], file: &Path) -> Capture {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(cmd)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("`{}` starts: {e}", cmd.join(" ")));
        let lines = reader(std::io::empty(), child.stderr.take().expect("piped"), None);
        let pid = child.id();
        self.children.push(child);
        let cap = Capture { pid, lines };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match cap
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) if l.contains("listening on") || l.contains("Capturing on") => break,
                Ok(_) => {}
                Err(e) => panic!(
                    "`{}` on {host} did not start capturing: {e:?}",
                    cmd.join(" ")
                ),
            }
        }
        // dumpcap says so before its socket is bound: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        cap
    }

    /// Runs a short shell command inside a host's namespace and waits for it.
    pub fn sh_in(&self, host: &str, script: &str) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host), "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("`{script}` on {host}: {e}"))
    }

    /// Starts a background shell command inside a host's namespace (stopped on drop).
    pub fn spawn_in(&mut self, host: &str, script: &str) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host), "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("`{script}` on {host}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Stops a capture with SIGINT and waits until tcpdump has written everything.
    pub fn stop_capture(&mut self, cap: Capture) {
        signal(cap.pid, libc::SIGINT);
        self.wait(cap.pid, Duration::from_secs(10));
    }

    /// Waits for the process `pid` (started here) to exit; returns its exit code.
    pub fn wait(&mut self, pid: u32, limit: Duration) -> Option<i32> {
        let i = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("a process this bench started");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.children[i].try_wait().expect("try_wait") {
                // Already reaped by try_wait; forget it.
                drop(self.children.swap_remove(i));
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops a program with SIGINT (as `labctl` does) and waits for it.
    pub fn stop(&mut self, p: &Program) {
        signal(p.pid, libc::SIGINT);
        self.wait(p.pid, Duration::from_secs(10));
    }

    /// Captures on each (host, file) of `captures` while `exchange` runs
    /// with `server` started on A (bound to its lab address, listening);
    /// stops the captures once the last frames are through.
    fn captured(
        &mut self,
        captures: &[(&str, &Path)],
        server: &str,
        exchange: impl FnOnce(&mut MiniBench, Program),
    ) {
        let caps: Vec<Capture> = captures.iter().map(|(h, f)| self.capture(h, f)).collect();
        let mut server = self.start("A", server, &["--bind", "10.0.3.1"]);
        server.expect("listening on");
        exchange(self, server);
        std::thread::sleep(Duration::from_millis(200));
        for cap in caps {
            self.stop_capture(cap);
        }
    }
}

impl Drop for MiniBench {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.made.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test started and has not reaped yet.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

type Tag = Option<(Log, String, String)>;

fn record(tag: &Tag, stream: &'static str, text: &str) {
    if let Some((log, host, program)) = tag {
        log.lock().unwrap().push(LogLine {
            at: unix_now(),
            host: host.clone(),
            program: program.clone(),
            stream,
            text: text.to_string(),
            step: None,
        });
    }
}

/// Lines of stdout and stderr, as they come (and into the log when tagged).
fn reader(
    out: impl std::io::Read + Send + 'static,
    err: impl std::io::Read + Send + 'static,
    tag: Tag,
) -> Receiver<String> {
    let (tx, rx) = channel();
    for (input, stream) in [
        (Box::new(out) as Box<dyn std::io::Read + Send>, "stdout"),
        (Box::new(err), "stderr"),
    ] {
        let (tx, tag) = (tx.clone(), tag.clone());
        std::thread::spawn(move || {
            for l in BufReader::new(input).lines().map_while(Result::ok) {
                record(&tag, stream, &l);
                let _ = tx.send(l);
            }
        });
    }
    rx
}

pub struct Capture {
    pid: u32,
    lines: Receiver<String>,
}

/// A socket program running on a host of the mini bench.
pub struct Program {
    pub name: String,
    pub pid: u32,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    tag: Tag,
}

impl Program {
    /// Sends one line to the program's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        record(&self.tag, "stdin", line);
        writeln!(stdin, "{line}").expect("write to the program");
        stdin.flush().expect("flush");
    }

    /// Waits for an output line containing `text`; returns it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Err(e) => panic!(
                    "{}: no line with `{text}` ({e:?}); saw {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Asserts no output line containing `text` comes within `d`.
    pub fn expect_none(&mut self, text: &str, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) => {
                    assert!(!l.contains(text), "{}: unexpected `{l}`", self.name);
                    self.seen.push(l);
                }
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// I.8-I.10: B is served by the iterative server; C connects and sends a
/// line while B is served; B quits; C is answered and quits.
pub fn iterative_exchange(bench: &mut MiniBench, captures: &[(&str, &Path)]) {
    bench.captured(captures, "tcp_server", |bench, mut server| {
        let mut b = bench.start("B", "tcp_client", &["--server", "10.0.3.1"]);
        b.expect("Connected");
        b.send("hello from B");
        b.expect("Server> HELLO FROM B");
        let mut c = bench.start("C", "tcp_client", &["--server", "10.0.3.1"]);
        c.expect("Connected");
        c.send("hello from C");
        c.expect("Sent: hello from C");
        c.expect_none("Server>", Duration::from_millis(600));
        b.send("quit");
        bench.wait(b.pid, Duration::from_secs(10));
        c.expect("Server> HELLO FROM C");
        c.send("quit");
        bench.wait(c.pid, Duration::from_secs(10));
        server.expect("Waiting for a new client");
        bench.stop(&server);
    });
}

/// I.12: B and C each send a datagram and are answered at once; B's `quit`
/// ends the server; C's next datagram draws ICMP port unreachable.
pub fn udp_exchange(bench: &mut MiniBench, captures: &[(&str, &Path)]) {
    bench.captured(captures, "udp_server", |bench, mut server| {
        let mut b = bench.start("B", "udp_client", &["--server", "10.0.3.1"]);
        b.expect("Connected");
        let mut c = bench.start(
            "C",
            "udp_client",
            &["--server", "10.0.3.1", "--timeout", "1"],
        );
        c.expect("Connected");
        b.send("hello from B");
        b.expect("Server> HELLO FROM B");
        c.send("hello from C");
        c.expect("Server> HELLO FROM C");
        b.send("quit");
        bench.wait(b.pid, Duration::from_secs(10));
        server.expect("Terminate server");
        bench.wait(server.pid, Duration::from_secs(10));
        c.send("again");
        c.expect("Sent: again");
        bench.wait(c.pid, Duration::from_secs(10));
    });
}

/// II: four clients (two on B, two on C) served at once by the threaded server.
pub fn threaded_exchange(bench: &mut MiniBench, captures: &[(&str, &Path)]) {
    bench.captured(captures, "tcp_threaded_server", |bench, mut server| {
        let mut clients = Vec::new();
        for (i, host) in ["B", "B", "C", "C"].iter().enumerate() {
            let mut c = bench.start(host, "tcp_client", &["--server", "10.0.3.1"]);
            c.expect("Connected");
            server.expect(&format!("Open connections: {}", i + 1));
            clients.push(c);
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&format!("line {i}"));
            c.expect(&format!("Server> LINE {i}"));
        }
        for c in &mut clients {
            c.send("quit");
        }
        for c in &clients {
            bench.wait(c.pid, Duration::from_secs(10));
        }
        server.expect("Open connections: 0");
        bench.stop(&server);
    });
}

/// One capture of [`lab_captures`]: name, host, step that started it, file.
pub struct LabCapture {
    pub name: &'static str,
    pub host: &'static str,
    pub step: &'static str,
    pub file: PathBuf,
}

/// Runs the three exchanges on a fresh mini bench, captured where the seed
/// lab captures (B in part I, B and C in part II) plus on A for the
/// iterative server; pcaps in `dir`.
pub fn lab_captures(dir: &Path) -> (Vec<LabCapture>, Vec<LogLine>) {
    let mut bench = MiniBench::new();
    let cap = |name, host, step| LabCapture {
        name,
        host,
        step,
        file: dir.join(format!("{name}.pcap")),
    };
    let caps = vec![
        cap("cap-A", "A", "I.7"),
        cap("cap-B", "B", "I.7"),
        cap("cap-udp", "B", "I.12"),
        cap("cap-B2", "B", "II.1"),
        cap("cap-C2", "C", "II.1"),
    ];
    let on = |i: usize| (caps[i].host, caps[i].file.as_path());
    let mark = |bench: &MiniBench, step: &'static str| {
        for l in bench.log.lock().unwrap().iter_mut() {
            l.step.get_or_insert(step);
        }
    };
    iterative_exchange(&mut bench, &[on(0), on(1)]);
    mark(&bench, "I.10");
    udp_exchange(&mut bench, &[on(2)]);
    mark(&bench, "I.12");
    threaded_exchange(&mut bench, &[on(3), on(4)]);
    mark(&bench, "II.3");
    let log = bench.log.lock().unwrap().clone();
    (caps, log)
}

/// A fresh temporary directory under target/ (kept for inspection).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = target_dir().join("capture-tests").join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// tshark's count of frames matching a display filter.
pub fn tshark_count(file: &Path, filter: &str) -> usize {
    tshark_fields(file, filter, &["frame.number"]).len()
}

/// tshark's `-T fields` output for a filter, one Vec per frame.
pub fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-n",
        "-r",
        file.to_str().unwrap(),
        "-Y",
        filter,
        "-T",
        "fields",
    ];
    for f in fields {
        args.push("-e");
        args.push(f);
    }
    sh("tshark", &args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// tshark display filters for our exclusive kinds (see `capture::Kind`).
pub const KIND_FILTERS: [(Kind, &str); 9] = [
    (Kind::Rst, "tcp.flags.reset==1"),
    (Kind::Syn, "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.flags.reset==0"),
    (Kind::SynAck, "tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.flags.reset==0"),
    (Kind::Fin, "tcp.flags.fin==1 && tcp.flags.syn==0 && tcp.flags.reset==0"),
    (
        Kind::Data,
        "tcp.len>0 && tcp.flags.syn==0 && tcp.flags.fin==0 && tcp.flags.reset==0",
    ),
    (
        Kind::Ack,
        "tcp.len==0 && tcp.flags.ack==1 && tcp.flags.syn==0 && tcp.flags.fin==0 && tcp.flags.reset==0",
    ),
    (Kind::Udp, "udp && !icmp && !icmpv6"),
    (Kind::Icmp, "icmp || icmpv6"),
    (Kind::Arp, "arp"),
];

pub fn analyse(file: &Path) -> CaptureAnalysis {
    let bytes = std::fs::read(file).expect("the capture exists");
    capture::analyze(&bytes).expect("a pcap tcpdump wrote")
}

/// Everything tshark can tell independently must match.
pub fn agrees_with_tshark(file: &Path, a: &CaptureAnalysis) {
    assert_eq!(a.counts.total, tshark_count(file, "frame"), "frame total");
    assert_eq!(a.frames.len(), a.counts.total);
    for (kind, filter) in KIND_FILTERS {
        assert_eq!(
            a.counts.get(kind),
            tshark_count(file, filter),
            "{} frames (tshark `{filter}`) in {}",
            kind.name(),
            file.display()
        );
    }

    // TCP conversations: the same 4-tuples.
    let conv = sh(
        "tshark",
        &["-n", "-r", file.to_str().unwrap(), "-q", "-z", "conv,tcp"],
    );
    let theirs: BTreeSet<(String, String)> = conv
        .lines()
        .filter(|l| l.contains("<->"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (x, y) = (w[0].to_string(), w[2].to_string());
            if x <= y {
                (x, y)
            } else {
                (y, x)
            }
        })
        .collect();
    let ours: BTreeSet<(String, String)> = a
        .tcp
        .iter()
        .map(|c| {
            let (x, y) = (c.client.clone(), c.server.clone());
            if x <= y {
                (x, y)
            } else {
                (y, x)
            }
        })
        .collect();
    assert_eq!(ours, theirs, "TCP conversations of {}", file.display());
    assert_eq!(
        a.tcp.len(),
        theirs.len(),
        "no tuple reused in these captures"
    );

    // Socket addresses, per protocol.
    for (proto, filter, sport, dport) in [
        (Proto::Tcp, "tcp", "tcp.srcport", "tcp.dstport"),
        (Proto::Udp, "udp && !icmp", "udp.srcport", "udp.dstport"),
    ] {
        let mut theirs = BTreeSet::new();
        for f in tshark_fields(file, filter, &["ip.src", sport, "ip.dst", dport]) {
            theirs.insert(format!("{}:{}", f[0], f[1]));
            theirs.insert(format!("{}:{}", f[2], f[3]));
        }
        let ours: BTreeSet<String> = a
            .sockets
            .iter()
            .filter(|s| s.proto == proto)
            .map(|s| s.address.clone())
            .collect();
        assert_eq!(
            ours,
            theirs,
            "{proto:?} socket addresses of {}",
            file.display()
        );
    }

    // The server of each TCP conversation is the side that sent the SYN-ACK.
    for f in tshark_fields(
        file,
        "tcp.flags.syn==1 && tcp.flags.ack==1",
        &["ip.src", "tcp.srcport"],
    ) {
        let addr = format!("{}:{}", f[0], f[1]);
        let s = a
            .sockets
            .iter()
            .find(|s| s.proto == Proto::Tcp && s.address == addr)
            .expect("a SYN-ACK sender is a socket");
        assert_eq!(s.role, Role::Server, "{addr} sent a SYN-ACK");
    }
}

/// The value of attribute `name` in one SVG start tag.
fn svg_attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Every collision in a ladder SVG, read from its geometry: a frame label
/// (`<text class="label">`) whose box crosses a lifeline
/// (`<line class="lifeline">`), overlaps another label, or leaves the
/// picture. Boxes are measured in the 12 px monospace font the diagram
/// names (DejaVu Sans Mono advances 0.602 em) plus the 1.5 px halo.
pub fn ladder_collisions(svg: &str) -> Vec<String> {
    let num = |tag: &str, name: &str| -> f64 {
        svg_attr(tag, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("`{name}` in {tag}"))
    };
    let width = num(&svg[..svg.find('>').unwrap()], "width");
    let mut lifelines = Vec::new(); // (x, y1, y2)
    let mut labels = Vec::new(); // (x0, x1, y0, y1, text)
    for (i, _) in svg.match_indices('<') {
        let end = i + svg[i..].find('>').unwrap();
        let tag = &svg[i..end];
        if tag.starts_with("<line class=\"lifeline\"") {
            lifelines.push((num(tag, "x1"), num(tag, "y1"), num(tag, "y2")));
        } else if tag.starts_with("<text class=\"label\"") {
            let close = end + svg[end..].find("</text>").unwrap();
            let text = svg[end + 1..close]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'")
                .replace("&apos;", "'")
                .replace("&amp;", "&");
            let w = text.chars().count() as f64 * 0.602 * 12.0 + 3.0;
            let (x, y) = (num(tag, "x"), num(tag, "y"));
            let x0 = if svg_attr(tag, "text-anchor") == Some("middle") {
                x - w / 2.0
            } else {
                x - 1.5
            };
            labels.push((x0, x0 + w, y - 12.0, y + 3.0, text));
        }
    }
    let mut out = Vec::new();
    for (x0, x1, y0, y1, text) in &labels {
        for (lx, ly0, ly1) in &lifelines {
            if x0 < lx && lx < x1 && y0 < ly1 && ly0 < y1 {
                out.push(format!(
                    "label {text:?} ({x0:.1}–{x1:.1}) crosses the lifeline at x={lx}"
                ));
            }
        }
        if *x0 < 0.0 || *x1 > width {
            out.push(format!(
                "label {text:?} ({x0:.1}–{x1:.1}) leaves the picture (width {width})"
            ));
        }
    }
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            if a.0 < b.1 && b.0 < a.1 && a.2 < b.3 && b.2 < a.3 {
                out.push(format!("labels {:?} and {:?} overlap", a.4, b.4));
            }
        }
    }
    out
}

/// The number of lifelines in a ladder SVG.
pub fn ladder_lanes(svg: &str) -> usize {
    svg.matches("<line class=\"lifeline\"").count()
}
