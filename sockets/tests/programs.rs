//! The five socket programs against each other over loopback, in both
//! implementations (Rust binaries, Python files): every behaviour
//! of docs/design.md, "The socket programs" (lines printed, replies, `quit`, end of stream,
//! waiting clients, threads, UDP, timeouts, busy ports, vanished clients).

#[macro_use]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};
use support::{peer, Impl, Proc, QUIET, WAIT};

const ALL: [&str; 5] = [
    "tcp_server",
    "tcp_threaded_server",
    "udp_server",
    "tcp_client",
    "udp_client",
];

/// One full conversation: hello, a reply, quit; as the lab's step I.8 shows it.
fn tcp_client_and_server_talk_then_quit(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "tcp_server");
    let (mut client, local) = Proc::client(imp, "tcp_client", address, &[]);
    server.expect_next(&format!("New client connected from {local}"));

    client.ask("Hello, World 1", "HELLO, WORLD 1");
    server.expect_next(&format!("Client {local}> Hello, World 1"));

    client.send("quit");
    client.expect_next("Sent: quit");
    assert!(
        client.wait_exit().success(),
        "tcp_client must exit 0 on quit"
    );
    // Exactly the events, in order, and nothing else (no prompt into a pipe).
    assert_eq!(
        client.seen(),
        [
            format!("Connected {local} -> {address}"),
            "Sent: Hello, World 1".into(),
            "Server> HELLO, WORLD 1".into(),
            "Sent: quit".into(),
        ]
    );
    server.expect_next(&format!("Client {local}> quit"));
    server.expect_next(&format!("Client {local} disconnected"));
    server.expect_next("Waiting for a new client ...");
}

/// End of stdin ends the client; the server sees end of stream.
fn tcp_client_end_of_input_ends_the_session(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "tcp_server");
    let (mut client, local) = Proc::client(imp, "tcp_client", address, &[]);
    client.ask("one", "ONE");
    client.close_stdin();
    assert!(client.wait_exit().success());
    server.expect(&format!("Client {local}> one"));
    server.expect_next(&format!("Client {local} disconnected"));
    server.expect_next("Waiting for a new client ...");
}

/// `quit` with or without a newline ends the session and the server closes
/// the connection; raw bytes are echoed upper-cased exactly.
fn tcp_servers_end_a_session_on_quit_with_or_without_newline(imp: Impl) {
    for program in ["tcp_server", "tcp_threaded_server"] {
        let (mut server, address) = Proc::server(imp, program);
        for quit in [&b"quit"[..], b"quit\n", b"quit\r\n"] {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let local = stream.local_addr().unwrap();
            server.expect(&format!("New client connected from {local}"));

            stream.write_all(b"mixed Case 42!\n").unwrap();
            let mut reply = [0u8; 64];
            let n = stream.read(&mut reply).unwrap();
            assert_eq!(&reply[..n], b"MIXED CASE 42!\n", "{program}");

            stream.write_all(quit).unwrap();
            // The server closes its side: we read end of stream.
            assert_eq!(stream.read(&mut reply).unwrap(), 0, "{program}: {quit:?}");
            server.expect(&format!("Client {local}> quit"));
            // `expect`, not `expect_next`: the threaded server's main thread may
            // print `Waiting for a new client ...` between its handler's lines.
            server.expect(&format!("Client {local} disconnected"));
        }
    }
}

/// Lab step I.10: a second client of the iterative server connects (the
/// kernel queues it) but is answered only after the first client quits.
fn tcp_server_serves_one_client_at_a_time(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "tcp_server");
    let (mut b, b_local) = Proc::client(imp, "tcp_client", address, &[]);
    server.expect(&format!("New client connected from {b_local}"));
    b.ask("from b", "FROM B");

    // C's connect succeeds at once, and its line is sent...
    let (mut c, c_local) = Proc::client(imp, "tcp_client", address, &[]);
    c.send("from c");
    c.expect_next("Sent: from c");
    // ...but nobody accepts it or answers it while B is served.
    c.quiet("Server>");
    server.quiet(&c_local.to_string());
    b.ask("still b", "STILL B");

    b.send("quit");
    assert!(b.wait_exit().success());
    server.expect(&format!("Client {b_local} disconnected"));
    server.expect_next("Waiting for a new client ...");
    server.expect_next(&format!("New client connected from {c_local}"));
    server.expect_next(&format!("Client {c_local}> from c"));
    c.expect_next("Server> FROM C");
}

/// Lab part II: four clients at once, each answered while all are connected,
/// and the open-connection count going up and down.
fn tcp_threaded_server_serves_every_client_at_once(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "tcp_threaded_server");
    let mut clients = Vec::new();
    for k in 1..=4 {
        let (client, local) = Proc::client(imp, "tcp_client", address, &[]);
        server.expect(&format!("New client connected from {local}"));
        server.expect(&format!("Open connections: {k}"));
        clients.push((client, local));
    }
    // The last client first: no one waits behind anyone.
    for (k, (client, local)) in clients.iter_mut().enumerate().rev() {
        client.ask(&format!("client {k}"), &format!("CLIENT {k}"));
        server.expect(&format!("Client {local}> client {k}"));
    }
    for (k, (client, local)) in clients.iter_mut().enumerate() {
        client.send("quit");
        assert!(client.wait_exit().success());
        server.expect(&format!("Client {local} disconnected"));
        server.expect(&format!("Open connections: {}", 3 - k));
    }
}

/// Lab step I.12: two UDP clients answered at once; `quit` from one ends the
/// server; the other then gets no reply and ends only by its timeout.
fn udp_server_answers_everyone_and_quit_terminates_it(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "udp_server");
    let (mut b, b_local) = Proc::client(imp, "udp_client", address, &["--timeout", "5"]);
    let (mut c, c_local) = Proc::client(imp, "udp_client", address, &["--timeout", "1"]);
    b.ask("from b", "FROM B");
    c.ask("from c", "FROM C");
    server.expect_next(&format!("Client {b_local}> from b"));
    server.expect_next(&format!("Client {c_local}> from c"));

    b.send("quit");
    b.expect_next("Sent: quit");
    assert!(b.wait_exit().success(), "udp_client must exit 0 on quit");
    server.expect_next(&format!("Client {b_local}> quit"));
    server.expect_next("Terminate server ...");
    assert!(
        server.wait_exit().success(),
        "udp_server must exit 0 on quit"
    );

    c.send("anyone?");
    c.expect_next("Sent: anyone?");
    let status = c.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", c.stderr());
    assert!(c.stderr().contains("No reply within 1 s"), "{}", c.stderr());
}

/// A raw datagram `quit` (with or without newline) from any socket ends the server.
fn udp_server_quit_with_or_without_newline(imp: Impl) {
    for quit in [&b"quit"[..], b"quit\n"] {
        let (mut server, address) = Proc::server(imp, "udp_server");
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket.send_to(b"Mixed\n", address).unwrap();
        let mut reply = [0u8; 64];
        let (n, from) = socket.recv_from(&mut reply).unwrap();
        assert_eq!((&reply[..n], from), (&b"MIXED\n"[..], address));
        socket.send_to(quit, address).unwrap();
        server.expect("Terminate server ...");
        assert!(server.wait_exit().success());
    }
}

/// A client of a busy iterative server with `--timeout` gives up: exit 1.
fn tcp_client_timeout_when_no_reply(imp: Impl) {
    let (_server, address) = Proc::server(imp, "tcp_server");
    let (mut b, _) = Proc::client(imp, "tcp_client", address, &[]);
    b.ask("first", "FIRST");
    let (mut c, _) = Proc::client(imp, "tcp_client", address, &["--timeout", "0.5"]);
    c.send("second");
    c.expect_next("Sent: second");
    assert_eq!(c.wait_exit().code(), Some(1));
    let stderr = c.stderr();
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    assert!(stderr.contains("No reply within 0.5 s"), "{stderr}");
}

/// Lab step I.9: a second server on a busy port fails with ONE line naming
/// the address and `Address already in use`, exit 1. TCP and UDP on the
/// same port coexist.
fn second_server_on_a_busy_port_fails_with_one_line(imp: Impl) {
    let (_tcp, address) = Proc::server(imp, "tcp_server");
    let port = address.port().to_string();
    let args = ["--bind", "127.0.0.1", "--port", &port];
    // UDP has its own ports: udp_server on the same number starts fine.
    let mut udp = Proc::program(imp, "udp_server", &args);
    udp.expect(&format!("UDP server started ... listening on {address}"));

    for program in ["tcp_server", "tcp_threaded_server", "udp_server"] {
        let mut second = Proc::program(imp, program, &args);
        assert_eq!(second.wait_exit().code(), Some(1), "{program}");
        let stderr = second.stderr();
        assert_eq!(stderr.lines().count(), 1, "{program}: one line: {stderr}");
        assert!(stderr.contains(&address.to_string()), "{program}: {stderr}");
        assert!(
            stderr.contains("Address already in use"),
            "{program}: {stderr}"
        );
        assert!(second.seen().is_empty(), "{program}: {:?}", second.seen());
    }
}

/// A client that resets the connection, or is killed, is seen as gone once:
/// the server neither spins nor prints in a loop, and serves the next one.
fn tcp_servers_survive_vanished_clients(imp: Impl) {
    for program in ["tcp_server", "tcp_threaded_server"] {
        let (mut server, address) = Proc::server(imp, program);

        // Reset: close while the reply still sits unread in our receive
        // buffer; the kernel then sends RST instead of FIN.
        let stream = TcpStream::connect(address).unwrap();
        let local = stream.local_addr().unwrap();
        (&stream).write_all(b"hello").unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut reply = [0u8; 8];
        assert_eq!(
            stream.peek(&mut reply).unwrap(),
            5,
            "{program}: reply arrived"
        );
        drop(stream);
        server.expect(&format!("Client {local}> hello"));
        if program == "tcp_server" {
            server.expect_next(&format!("Client {local} disconnected"));
        } else {
            // The accepting thread's `Waiting for a new client ...` may come
            // between: it runs beside the client's thread.
            server.expect(&format!("Client {local} disconnected"));
        }

        // Killed: a client process that dies mid-session.
        let (mut client, killed) = Proc::client(imp, "tcp_client", address, &[]);
        client.ask("about to vanish", "ABOUT TO VANISH");
        client.kill();
        server.expect(&format!("Client {killed} disconnected"));

        let cpu_before = server.cpu_time();
        server.quiet(&local.to_string());
        server.quiet(&killed.to_string());
        let cpu = server.cpu_time() - cpu_before;
        assert!(
            cpu < QUIET / 2,
            "{program} used {cpu:?} of CPU in {QUIET:?} with no client: it spins"
        );

        let (mut next, next_local) = Proc::client(imp, "tcp_client", address, &[]);
        next.ask("next", "NEXT");
        server.expect(&format!("Client {next_local}> next"));
        assert_eq!(server.stderr(), "", "{program}");
    }
}

/// A UDP client that leaves before its reply arrives costs the server nothing.
fn udp_server_survives_a_vanished_client(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "udp_server");
    let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let gone_address = gone.local_addr().unwrap();
    gone.send_to(b"bye", address).unwrap();
    drop(gone); // the reply goes to a closed port: ICMP port unreachable
    server.expect(&format!("Client {gone_address}> bye"));
    server.quiet("");
    let (mut client, _) = Proc::client(imp, "udp_client", address, &["--timeout", "10"]);
    client.ask("still there?", "STILL THERE?");
    assert_eq!(server.stderr(), "");
}

/// Port 50000 on the machine's loopback is one for the whole test binary:
/// the Rust and the Python variants of the defaults test run in parallel
/// threads, and one's argument-less client would reach the other's server.
/// Taken only where the test cannot have a loopback of its own.
static DEFAULT_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Gives the calling thread, and so every program it starts from now on, a
/// network namespace of its own with `lo` up: port 50000 there is free.
/// On the machine's loopback it may not be: it lies in Linux's ephemeral
/// range, and any connection that took it as its local port (another
/// test's, another program's) keeps a server off it while it lives and for
/// a minute of TIME_WAIT after. False where the thread may not (not root).
fn own_loopback() -> bool {
    extern "C" {
        // libc's, which std links already.
        fn unshare(flags: std::ffi::c_int) -> std::ffi::c_int;
    }
    const CLONE_NEWNET: std::ffi::c_int = 0x4000_0000;
    // SAFETY: no pointers; it changes only this thread's network namespace.
    if unsafe { unshare(CLONE_NEWNET) } != 0 {
        return false;
    }
    let up = peer("ip", "iproute2")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    assert!(up.success(), "ip link set lo up: {up}");
    true
}

/// Defaults: port 50000; servers on 0.0.0.0, clients to 127.0.0.1.
fn defaults_are_port_50000_and_the_lab_addresses(imp: Impl) {
    let _port = (!own_loopback()).then(|| DEFAULT_PORT.lock().unwrap_or_else(|e| e.into_inner()));
    // Port 50000 on loopback: both servers (TCP and UDP coexist), then the
    // clients with no arguments at all.
    let tcp = on_default_port(imp, "tcp_server", "TCP server started");
    let udp = on_default_port(imp, "udp_server", "UDP server started");
    for (name, mut server) in [("tcp_client", tcp), ("udp_client", udp)] {
        let mut client = Proc::program(imp, name, &[]);
        let connected = client.expect("Connected ");
        assert!(connected.ends_with(" -> 127.0.0.1:50000"), "{connected}");
        client.ask("default", "DEFAULT");
        server.expect("> default");
    }
    // The servers' default address: every interface (nothing is sent).
    for (name, banner) in [
        ("tcp_server", "TCP server started"),
        ("tcp_threaded_server", "TCP threaded server started"),
        ("udp_server", "UDP server started"),
    ] {
        let mut server = Proc::program(imp, name, &["--port", "0"]);
        let line = server.expect("listening on");
        assert!(
            line.starts_with(&format!("{banner} ... listening on 0.0.0.0:")),
            "{line}"
        );
    }
}

/// Starts a server with the default port on 127.0.0.1. On the machine's
/// loopback (see [`own_loopback`]) another program may hold port 50000 for
/// a moment: while the server fails with `Address already in use` on
/// exactly that address, try again (bounded).
fn on_default_port(imp: Impl, name: &str, banner: &str) -> Proc {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut server = Proc::program(imp, name, &["--bind", "127.0.0.1"]);
        let line = server.next_or_exit();
        if let Some(line) = line {
            assert_eq!(line, format!("{banner} ... listening on 127.0.0.1:50000"));
            return server;
        }
        let stderr = server.stderr();
        assert!(
            stderr.contains("`127.0.0.1:50000`: Address already in use"),
            "{name}: {stderr}"
        );
        assert!(
            Instant::now() < deadline,
            "port 50000 on 127.0.0.1 stayed busy: {stderr}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// `--help` on each program: usage, its flags, exit 0; a bad flag: one line, exit 1.
fn help_and_bad_arguments(imp: Impl) {
    for name in ALL {
        let help = imp.command(name).arg("--help").output().unwrap();
        assert!(help.status.success(), "{name} --help");
        let text = String::from_utf8(help.stdout).unwrap();
        assert!(text.contains(&format!("Usage: {name}")), "{text}");
        let flags: &[&str] = if name.ends_with("client") {
            &["--server", "--port", "--timeout", "--help"]
        } else {
            &["--bind", "--port", "--help"]
        };
        for flag in flags {
            assert!(text.contains(flag), "{name} --help lacks {flag}: {text}");
        }

        let bad = imp.command(name).args(["--port", "nope"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8(bad.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("{name}: ")), "{stderr}");
        assert!(stderr.contains("--port nope"), "{stderr}");
    }
    let out = imp.command("tcp_server").arg("--timeout").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "servers take no --timeout");
}

/// A client that cannot connect says so on one line and exits 1.
fn tcp_client_without_a_server_fails_with_one_line(imp: Impl) {
    let port = support::free_port("tcp").to_string();
    let out = imp
        .command("tcp_client")
        .args(["--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

/// A prompt only when stdin is a terminal: with a pseudo-terminal (made by
/// python3's `pty`) the client prompts; through a pipe it never does (every
/// other test checks the exact lines).
fn clients_prompt_only_at_a_terminal(imp: Impl) {
    for (client, server) in [("tcp_client", "tcp_server"), ("udp_client", "udp_server")] {
        let (_server, address): (Proc, SocketAddr) = Proc::server(imp, server);
        let mut command = peer("python3", "python3");
        command.args(["-c", "import pty, sys; pty.spawn(sys.argv[1:])"]);
        command.args(imp.argv(client));
        command.args(["--port", &address.port().to_string()]);
        let mut tty = Proc::spawn("python3 pty", command);
        tty.expect("Connected ");
        tty.send("hi");
        tty.expect("Server> HI");
        tty.send("quit");
        tty.wait_exit();
        let all = tty.seen().join("\n");
        assert!(
            all.contains("You> "),
            "{client} at a terminal must prompt: {all}"
        );
    }
}

for_both_implementations!(
    tcp_client_and_server_talk_then_quit,
    tcp_client_end_of_input_ends_the_session,
    tcp_servers_end_a_session_on_quit_with_or_without_newline,
    tcp_server_serves_one_client_at_a_time,
    tcp_threaded_server_serves_every_client_at_once,
    udp_server_answers_everyone_and_quit_terminates_it,
    udp_server_quit_with_or_without_newline,
    tcp_client_timeout_when_no_reply,
    second_server_on_a_busy_port_fails_with_one_line,
    tcp_servers_survive_vanished_clients,
    udp_server_survives_a_vanished_client,
    defaults_are_port_50000_and_the_lab_addresses,
    help_and_bad_arguments,
    tcp_client_without_a_server_fails_with_one_line,
    clients_prompt_only_at_a_terminal,
);

/// Every Python file parses as Python 3.7 (Raspberry Pi OS ships 3.9 to
/// 3.11; the handout promises 3.7 or newer), checked by python3's own parser.
#[test]
fn python_programs_parse_as_python_3_7() {
    let dir = format!("{}/python", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "five programs and labsock.py: {files:?}");
    for file in files {
        let mut command = peer("python3", "python3");
        command.args([
            "-c",
            "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1], feature_version=(3, 7))",
        ]);
        command.arg(&file);
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{} is not Python 3.7: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
