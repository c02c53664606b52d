//! `udp_client`: sends each line typed on stdin (without its newline) to a
//! UDP server as one datagram and prints the reply datagram.
//!
//! The lesson: no handshake and no connection. The socket is never
//! connected, so if the server is gone our datagram is lost and the ICMP
//! "port unreachable" never reaches us: only `--timeout` ends the wait.

use sockets::{
    fail, is_quit, local_ip_towards, next_line, say, text, timed_out, Options, Role, BUFFER_SIZE,
};
use std::net::UdpSocket;

fn main() {
    let options = Options::parse(
        Role::Client,
        "UDP client: sends each stdin line to the server as a datagram, prints the reply; `quit` ends it",
    );
    let server = options.resolve();

    // socket() + bind() to our own address and any free port.
    let ip =
        local_ip_towards(server).unwrap_or_else(|e| fail(format!("no route to `{server}`: {e}")));
    let socket =
        UdpSocket::bind((ip, 0)).unwrap_or_else(|e| fail(format!("cannot bind `{ip}`: {e}")));
    let me = socket.local_addr().expect("a bound socket has an address");
    // Nothing was sent yet: "connected" only names the two addresses.
    say(format!("Connected {me} -> {server}"));
    socket
        .set_read_timeout(options.read_timeout())
        .expect("a valid timeout");

    let mut buffer = [0u8; BUFFER_SIZE];
    // One line of stdin at a time, until the end of input.
    while let Some(line) = next_line() {
        // sendto(): one datagram to the server's address.
        if let Err(e) = socket.send_to(line.as_bytes(), server) {
            fail(format!("cannot send to `{server}`: {e}"));
        }
        say(format!("Sent: {line}"));
        if is_quit(line.as_bytes()) {
            return; // the server ends; there is no reply to wait for
        }

        // recvfrom(): one reply datagram.
        match socket.recv_from(&mut buffer) {
            Ok((n, _from)) => say(format!("Server> {}", text(&buffer[..n]))),
            Err(e) if timed_out(&e) => options.no_reply(),
            Err(e) => fail(format!("cannot receive from `{server}`: {e}")),
        }
    }
}
