//! `udp_client`: sends each line typed on stdin (without its newline) to a
//! UDP server as one datagram and prints the reply datagram.
//!
//! The lesson: no handshake and no connection. The socket is never
//! connected, so if the server is gone our datagram is lost and the ICMP
//! "port unreachable" never reaches us: only `--timeout` ends the wait.

use sockets::{
    is_quit, local_ip_towards, prompt, say, text, timed_out, Options, Role, BUFFER_SIZE,
};
use std::io::BufRead;
use std::net::{ToSocketAddrs, UdpSocket};

fn main() {
    let options = Options::parse(
        Role::Client,
        "UDP client: sends each stdin line to the server as a datagram, prints the reply; `quit` ends it",
    );
    let server = match options
        .address()
        .to_socket_addrs()
        .map(|mut all| all.next())
    {
        Ok(Some(server)) => server,
        _ => sockets::fail(format!("cannot resolve `{}`", options.host)),
    };

    // socket() + bind() to our own address and any free port.
    let local = match local_ip_towards(server) {
        Ok(ip) => (ip, 0),
        Err(e) => sockets::fail(format!("no route to `{server}`: {e}")),
    };
    let socket = match UdpSocket::bind(local) {
        Ok(socket) => socket,
        Err(e) => sockets::fail(format!("cannot bind `{}`: {e}", local.0)),
    };
    let me = socket.local_addr().expect("a bound socket has an address");
    // Nothing was sent yet: "connected" only names the two addresses.
    say(format!("Connected {me} -> {server}"));
    socket
        .set_read_timeout(options.read_timeout())
        .expect("a valid timeout");

    let mut buffer = [0u8; BUFFER_SIZE];
    let mut stdin = std::io::stdin().lock();
    loop {
        prompt();
        let mut line = String::new();
        if stdin.read_line(&mut line).unwrap_or(0) == 0 {
            return; // end of stdin
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue; // keep the two clients alike: empty lines are not sent
        }

        // sendto(): one datagram to the server's address.
        if let Err(e) = socket.send_to(line.as_bytes(), server) {
            sockets::fail(format!("cannot send to `{server}`: {e}"));
        }
        say(format!("Sent: {line}"));
        if is_quit(line.as_bytes()) {
            return; // the server ends; there is no reply to wait for
        }

        // recvfrom(): one reply datagram.
        match socket.recv_from(&mut buffer) {
            Ok((n, _from)) => say(format!("Server> {}", text(&buffer[..n]))),
            Err(e) if timed_out(&e) => options.no_reply(),
            Err(e) => sockets::fail(format!("cannot receive from `{server}`: {e}")),
        }
    }
}
