//! `udp_server`: a UDP server. There are no connections: each datagram
//! arrives with its sender's address, and the reply goes back to it.
//!
//! The lesson: no handshake and no queue of clients, so every client is
//! answered at once; `quit` from any client ends the server.

use sockets::{fail, is_quit, say, text, upper, Options, Role, BUFFER_SIZE};
use std::net::UdpSocket;

fn main() {
    let options = Options::parse(
        Role::Server,
        "UDP server: answers every datagram in upper case; `quit` ends it",
    );

    // socket() + bind(). No listen() and no accept(): UDP has no connections.
    let socket = UdpSocket::bind(options.address()).unwrap_or_else(|e| {
        fail(format!(
            "cannot bind `{}`: {}",
            options.endpoint(),
            sockets::bind_error(&e)
        ))
    });
    let me = socket.local_addr().expect("a bound socket has an address");
    say(format!("UDP server started ... listening on {me}"));

    let mut buffer = [0u8; BUFFER_SIZE];
    loop {
        // recvfrom(): one whole datagram, and who sent it.
        let (received, client) = match socket.recv_from(&mut buffer) {
            Ok((n, client)) => (&buffer[..n], client),
            Err(e) => fail(format!("cannot receive on `{me}`: {e}")),
        };
        say(format!("Client {client}> {}", text(received)));
        if is_quit(received) {
            say("Terminate server ...");
            return;
        }
        // sendto(): the reply goes to the address the datagram came from.
        // If that client has gone, the datagram is simply lost.
        if let Err(e) = socket.send_to(&upper(received), client) {
            eprintln!("{}: cannot reply to `{client}`: {e}", sockets::program());
        }
    }
}
