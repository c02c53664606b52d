//! `tcp_client`: connects to a TCP server, sends each line typed on stdin
//! (without its newline) and prints the server's reply.
//!
//! The lesson: `connect` does the three-way handshake once; then every line
//! is a data segment, answered by the server and ACKed by the kernels.

use sockets::{fail, is_quit, next_line, say, text, timed_out, Options, Role, BUFFER_SIZE};
use std::io::{Read, Write};
use std::net::TcpStream;

fn main() {
    let options = Options::parse(
        Role::Client,
        "TCP client: sends each stdin line to the server, prints the reply; `quit` ends it",
    );

    // socket() + connect(): the handshake happens here. A busy iterative
    // server's kernel still completes it and queues us.
    let mut stream = TcpStream::connect(options.address())
        .unwrap_or_else(|e| fail(format!("cannot connect to `{}`: {e}", options.endpoint())));
    let me = stream
        .local_addr()
        .expect("a connected socket has an address");
    let server = stream.peer_addr().expect("a connected socket has a peer");
    say(format!("Connected {me} -> {server}"));
    // Without --timeout this is None: wait for a reply as long as it takes.
    stream
        .set_read_timeout(options.read_timeout())
        .expect("a valid timeout");

    let mut buffer = [0u8; BUFFER_SIZE];
    // One line of stdin at a time. At the end of input we return, and
    // dropping the stream closes the connection.
    while let Some(line) = next_line() {
        // send(): the line, without its newline.
        if let Err(e) = stream.write_all(line.as_bytes()) {
            fail(format!("cannot send to `{server}`: {e}"));
        }
        say(format!("Sent: {line}"));
        if is_quit(line.as_bytes()) {
            return; // the server closes the connection; so do we
        }

        // recv(): the reply, as much of it as has arrived.
        match stream.read(&mut buffer) {
            Ok(0) => fail(format!("server `{server}` closed the connection")),
            Ok(n) => say(format!("Server> {}", text(&buffer[..n]))),
            Err(e) if timed_out(&e) => options.no_reply(),
            Err(e) => fail(format!("lost the connection to `{server}`: {e}")),
        }
    }
}
