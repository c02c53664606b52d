//! `tcp_server`: an iterative TCP server. It serves ONE client at a time and
//! answers each message with the same bytes in upper case.
//!
//! The lesson: while one client is served, a second client's `connect` still
//! succeeds (the kernel queues it and even ACKs its data), but its messages
//! are answered only after the first client has left.

use sockets::{fail, is_quit, say, text, upper, Options, Role, BUFFER_SIZE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

fn main() {
    let options = Options::parse(
        Role::Server,
        "iterative TCP server: one client at a time, replies in upper case",
    );

    // socket() + bind() + listen() in one call. The lab's C and Python servers
    // listen with a backlog of 1; std always uses 128 and offers no way to
    // change it without unsafe code. The lesson shows either way: a waiting
    // client is queued by the kernel, not served by us.
    let listener = TcpListener::bind(options.address()).unwrap_or_else(|e| {
        fail(format!(
            "cannot listen on `{}`: {}",
            options.endpoint(),
            sockets::bind_error(&e)
        ))
    });
    let me = listener
        .local_addr()
        .expect("a bound socket has an address");
    say(format!("TCP server started ... listening on {me}"));

    loop {
        // accept() waits for the next client in the queue and gives us a new
        // socket for talking to it; the listening socket stays as it is.
        match listener.accept() {
            Ok((stream, client)) => {
                say(format!("New client connected from {client}"));
                serve(stream, client);
            }
            Err(e) => eprintln!("{}: accept failed: {e}", sockets::program()),
        }
        // Only now do we come back for the next client.
        say("Waiting for a new client ...");
    }
}

/// Talks to one client until it says `quit` or goes away.
fn serve(mut stream: TcpStream, client: SocketAddr) {
    let mut buffer = [0u8; BUFFER_SIZE];
    loop {
        // recv(): whatever bytes have arrived, up to the buffer's size.
        let received = match stream.read(&mut buffer) {
            Ok(0) => break,  // end of stream: the client closed its side
            Err(_) => break, // the client vanished (e.g. connection reset)
            Ok(n) => &buffer[..n],
        };
        say(format!("Client {client}> {}", text(received)));
        if is_quit(received) {
            break;
        }
        // send(): the reply, all of it.
        if stream.write_all(&upper(received)).is_err() {
            break;
        }
    }
    // Dropping the stream closes the connection (close()).
    drop(stream);
    say(format!("Client {client} disconnected"));
}
