//! `tcp_threaded_server`: the TCP server again, with one thread per client,
//! so every client is served at once. It differs from `tcp_server` only in
//! the `thread::spawn` below and in counting the open connections.
//!
//! The lesson: one listening socket, plus one connected socket per client
//! (four clients: five server sockets).

use sockets::{fail, is_quit, say, text, upper, Options, Role, BUFFER_SIZE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// How many clients are connected right now (every thread updates it).
static OPEN: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let options = Options::parse(
        Role::Server,
        "threaded TCP server: every client at once, one thread each, replies in upper case",
    );

    // socket() + bind() + listen(). The lab's server used a backlog of 5;
    // std always uses 128 (see tcp_server.rs).
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
    say(format!("TCP threaded server started ... listening on {me}"));

    loop {
        match listener.accept() {
            // The difference from tcp_server: the client gets its own thread,
            // and this loop goes straight back to accept() the next one.
            Ok((stream, client)) => {
                say(format!("New client connected from {client}"));
                let open = OPEN.fetch_add(1, Ordering::SeqCst) + 1;
                say(format!("Open connections: {open}"));
                thread::spawn(move || serve(stream, client));
            }
            Err(e) => eprintln!("{}: accept failed: {e}", sockets::program()),
        }
        say("Waiting for a new client ...");
    }
}

/// Talks to one client until it says `quit` or goes away (runs in its own thread).
fn serve(mut stream: TcpStream, client: SocketAddr) {
    let mut buffer = [0u8; BUFFER_SIZE];
    loop {
        let received = match stream.read(&mut buffer) {
            Ok(0) => break,  // end of stream: the client closed its side
            Err(_) => break, // the client vanished (e.g. connection reset)
            Ok(n) => &buffer[..n],
        };
        say(format!("Client {client}> {}", text(received)));
        if is_quit(received) {
            break;
        }
        if stream.write_all(&upper(received)).is_err() {
            break;
        }
    }
    drop(stream);
    say(format!("Client {client} disconnected"));
    let open = OPEN.fetch_sub(1, Ordering::SeqCst) - 1;
    say(format!("Open connections: {open}"));
}
