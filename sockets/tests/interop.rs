//! The socket programs against third-party peers over loopback: netcat
//! (`nc`, Debian `netcat-openbsd`), `socat` and a `python3` socket one-liner,
//! each as a client of our servers and as an upper-casing echo server for our
//! clients, in both implementations; and the Python programs against the Rust
//! ones. A missing peer fails the test, naming its Debian package.

#[macro_use]
mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use support::{free_port, peer, wait_bound, Guard, Impl, Proc};

fn nc() -> Command {
    peer("nc", "netcat-openbsd")
}
fn socat() -> Command {
    peer("socat", "socat")
}
fn python3() -> Command {
    peer("python3", "python3")
}

/// The upper-casing half of an echo server, as docs/design.md ("Facts verified") gives it.
const UPPER: &str = "stdbuf -o0 tr a-z A-Z";

// ---------------------------------------------------------------------------
// Peers as clients of our servers.
// ---------------------------------------------------------------------------

/// A line-mode peer (nc or socat, stdin -> socket -> stdout) talks to one of
/// our TCP servers: a reply per line, then `quit` ends the session.
fn line_peer_against_tcp(
    imp: Impl,
    program: &str,
    name: &str,
    make: impl Fn(SocketAddr) -> Command,
) {
    let (mut server, address) = Proc::server(imp, program);
    let mut client = Proc::spawn(name, make(address));
    client.send("hello from a peer");
    client.expect_next("HELLO FROM A PEER");
    let connected = server.expect("New client connected from ");
    let from = connected.rsplit(' ').next().unwrap().to_string();
    server.expect(&format!("Client {from}> hello from a peer"));
    client.send("quit");
    server.expect(&format!("Client {from}> quit"));
    server.expect(&format!("Client {from} disconnected"));
}

/// The same against our UDP server: `quit` terminates it.
fn line_peer_against_udp(imp: Impl, name: &str, make: impl Fn(SocketAddr) -> Command) {
    let (mut server, address) = Proc::server(imp, "udp_server");
    let mut client = Proc::spawn(name, make(address));
    client.send("hello from a peer");
    client.expect_next("HELLO FROM A PEER");
    server.expect("> hello from a peer");
    client.send("quit");
    server.expect("> quit");
    server.expect_next("Terminate server ...");
    assert!(server.wait_exit().success());
}

fn nc_client(udp: bool) -> impl Fn(SocketAddr) -> Command {
    move |address| {
        let mut command = nc();
        if udp {
            command.arg("-u");
        }
        command.args(["127.0.0.1", &address.port().to_string()]);
        command
    }
}

fn socat_client(protocol: &'static str) -> impl Fn(SocketAddr) -> Command {
    move |address| {
        let mut command = socat();
        command.args(["-", &format!("{protocol}:127.0.0.1:{}", address.port())]);
        command
    }
}

fn nc_is_a_client_of_the_tcp_servers(imp: Impl) {
    line_peer_against_tcp(imp, "tcp_server", "nc", nc_client(false));
    line_peer_against_tcp(imp, "tcp_threaded_server", "nc", nc_client(false));
}

fn nc_is_a_client_of_the_udp_server(imp: Impl) {
    line_peer_against_udp(imp, "nc -u", nc_client(true));
}

fn socat_is_a_client_of_the_tcp_servers(imp: Impl) {
    line_peer_against_tcp(imp, "tcp_server", "socat", socat_client("TCP"));
    line_peer_against_tcp(imp, "tcp_threaded_server", "socat", socat_client("TCP"));
}

fn socat_is_a_client_of_the_udp_server(imp: Impl) {
    line_peer_against_udp(imp, "socat", socat_client("UDP"));
}

/// python3 as the lab's own client would be: messages without newlines.
const PY_TCP_CLIENT: &str = "
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
for m in [b'hello', b'Python 3']:
    s.sendall(m); print(s.recv(1024).decode(), flush=True)
s.sendall(b'quit')
print('closed' if s.recv(1024) == b'' else 'open', flush=True)
";

const PY_UDP_CLIENT: &str = "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server = ('127.0.0.1', int(sys.argv[1]))
for m in [b'hello', b'Python 3']:
    s.sendto(m, server); print(s.recvfrom(1024)[0].decode(), flush=True)
s.sendto(b'quit', server)
";

fn python3_is_a_client_of_the_tcp_servers(imp: Impl) {
    for program in ["tcp_server", "tcp_threaded_server"] {
        let (mut server, address) = Proc::server(imp, program);
        let mut command = python3();
        command.args(["-c", PY_TCP_CLIENT, &address.port().to_string()]);
        let mut client = Proc::spawn("python3", command);
        client.expect_next("HELLO");
        client.expect_next("PYTHON 3");
        client.expect_next("closed"); // our server closed the connection on `quit`
        assert!(client.wait_exit().success(), "{}", client.stderr());
        let from = server.expect("New client connected from ");
        let from = from.rsplit(' ').next().unwrap();
        server.expect(&format!("Client {from}> hello"));
        server.expect(&format!("Client {from}> Python 3"));
        server.expect(&format!("Client {from}> quit"));
        server.expect(&format!("Client {from} disconnected"));
    }
}

fn python3_is_a_client_of_the_udp_server(imp: Impl) {
    let (mut server, address) = Proc::server(imp, "udp_server");
    let mut command = python3();
    command.args(["-c", PY_UDP_CLIENT, &address.port().to_string()]);
    let mut client = Proc::spawn("python3", command);
    client.expect_next("HELLO");
    client.expect_next("PYTHON 3");
    assert!(client.wait_exit().success(), "{}", client.stderr());
    server.expect("> Python 3");
    server.expect("> quit");
    server.expect_next("Terminate server ...");
    assert!(server.wait_exit().success());
}

// ---------------------------------------------------------------------------
// Peers as upper-casing echo servers for our clients.
// ---------------------------------------------------------------------------

/// Our client against a peer server at 127.0.0.1:`port`: replies, then `quit`, exit 0.
fn client_against_peer(imp: Impl, client: &str, port: u16) {
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let (mut client, _) = Proc::client(imp, client, address, &["--timeout", "15"]);
    client.ask("hello", "HELLO");
    client.ask("Mixed Case 2", "MIXED CASE 2");
    client.send("quit");
    client.expect_next("Sent: quit");
    assert!(client.wait_exit().success(), "{}", client.stderr());
}

fn socat_is_a_server_for_the_clients(imp: Impl) {
    for (protocol, listen, client) in [
        (
            "tcp",
            "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            "tcp_client",
        ),
        (
            "udp",
            "UDP-RECVFROM:{port},bind=127.0.0.1,fork",
            "udp_client",
        ),
    ] {
        let port = free_port(protocol);
        let mut command = socat();
        command.args([
            listen.replace("{port}", &port.to_string()),
            format!("EXEC:{UPPER}"),
        ]);
        let mut server = Guard::spawn("socat", &mut command);
        wait_bound(protocol, port, &mut server);
        client_against_peer(imp, client, port);
    }
}

/// netcat has no `-e`: its output is piped through `tr` and back into its input.
fn nc_is_a_server_for_the_clients(imp: Impl) {
    for (protocol, client) in [("tcp", "tcp_client"), ("udp", "udp_client")] {
        let port = free_port(protocol);
        let mut upper = peer("stdbuf", "coreutils");
        upper.args(["-o0", "tr", "a-z", "A-Z"]);
        let mut upper = Guard::spawn("tr", upper.stdin(Stdio::piped()).stdout(Stdio::piped()));
        // nc reads what tr writes, and writes what it receives into tr.
        let mut listen = nc();
        if protocol == "udp" {
            listen.arg("-u");
        }
        listen.args(["-l", "127.0.0.1", &port.to_string()]);
        listen.stdin(Stdio::from(upper.child.stdout.take().unwrap()));
        listen.stdout(Stdio::from(upper.child.stdin.take().unwrap()));
        let mut server = Guard::spawn("nc -l", &mut listen);
        drop(listen); // our copies of the pipe ends
        wait_bound(protocol, port, &mut server);
        client_against_peer(imp, client, port);
    }
}

const PY_TCP_SERVER: &str = "
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
while True:
    d = c.recv(1024)
    if not d or d == b'quit': break
    c.sendall(d.upper())
";

const PY_UDP_SERVER: &str = "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
while True:
    d, a = s.recvfrom(1024)
    if d == b'quit': break
    s.sendto(d.upper(), a)
";

fn python3_is_a_server_for_the_clients(imp: Impl) {
    for (script, client) in [(PY_TCP_SERVER, "tcp_client"), (PY_UDP_SERVER, "udp_client")] {
        let mut command = python3();
        command.args(["-c", script]);
        let mut server = Proc::spawn("python3", command);
        let port: u16 = server
            .expect("")
            .trim()
            .parse()
            .expect("python3 prints its port");
        client_against_peer(imp, client, port);
        // Our client's `quit` reached the server and ended it.
        assert!(server.wait_exit().success(), "{}", server.stderr());
    }
}

// ---------------------------------------------------------------------------
// The Python programs against the Rust ones, each as client and as server.
// ---------------------------------------------------------------------------

/// A client of one implementation talks to a server of the other, for every
/// client/server pair of the lab: replies, the server's lines, then `quit`.
fn cross(client_impl: Impl, server_impl: Impl) {
    for (client, server) in [
        ("tcp_client", "tcp_server"),
        ("tcp_client", "tcp_threaded_server"),
        ("udp_client", "udp_server"),
    ] {
        let (mut server_proc, address) = Proc::server(server_impl, server);
        let (mut client_proc, local) =
            Proc::client(client_impl, client, address, &["--timeout", "15"]);
        if server != "udp_server" {
            server_proc.expect(&format!("New client connected from {local}"));
        }
        client_proc.ask("Hello, World 1", "HELLO, WORLD 1");
        client_proc.ask("mixed Case 42!", "MIXED CASE 42!");
        // The threaded server's accepting thread prints `Open connections`
        // and `Waiting for a new client ...` beside the client's thread, so
        // its lines may come between; the others print in one order.
        let threaded = server == "tcp_threaded_server";
        let next = |proc: &mut Proc, line: &str| {
            if threaded {
                assert_eq!(proc.expect(line), line);
            } else {
                proc.expect_next(line);
            }
        };
        server_proc.expect(&format!("Client {local}> Hello, World 1"));
        next(&mut server_proc, &format!("Client {local}> mixed Case 42!"));
        client_proc.send("quit");
        client_proc.expect_next("Sent: quit");
        assert!(
            client_proc.wait_exit().success(),
            "{client} ({client_impl:?}) against {server} ({server_impl:?}): {}",
            client_proc.stderr()
        );
        next(&mut server_proc, &format!("Client {local}> quit"));
        if server == "udp_server" {
            server_proc.expect_next("Terminate server ...");
            assert!(server_proc.wait_exit().success());
        } else {
            next(&mut server_proc, &format!("Client {local} disconnected"));
        }
        assert_eq!(server_proc.stderr(), "", "{server} ({server_impl:?})");
    }
}

#[test]
fn python_clients_talk_to_rust_servers() {
    cross(Impl::Python, Impl::Rust);
}

#[test]
fn rust_clients_talk_to_python_servers() {
    cross(Impl::Rust, Impl::Python);
}

for_both_implementations!(
    nc_is_a_client_of_the_tcp_servers,
    nc_is_a_client_of_the_udp_server,
    socat_is_a_client_of_the_tcp_servers,
    socat_is_a_client_of_the_udp_server,
    python3_is_a_client_of_the_tcp_servers,
    python3_is_a_client_of_the_udp_server,
    socat_is_a_server_for_the_clients,
    nc_is_a_server_for_the_clients,
    python3_is_a_server_for_the_clients,
);
