"""tcp_server: an iterative TCP server. It serves ONE client at a time and
answers each message with the same bytes in upper case.

The lesson: while one client is served, a second client's connect still
succeeds (the kernel queues it and even ACKs its data), but its messages are
answered only after the first client has left.

Run it with `python3 tcp_server.py` (add `--help` to see the options).
"""

import socket

from labsock import BUFFER_SIZE, address, fail, is_quit, parse, reason, say, text, upper, warn


def serve(conn, client):
    """Talks to one client until it says `quit` or goes away."""
    while True:
        # recv(): whatever bytes have arrived, up to the buffer's size.
        try:
            received = conn.recv(BUFFER_SIZE)
        except OSError:
            break  # the client vanished (e.g. connection reset)
        if not received:
            break  # end of stream: the client closed its side
        say("Client {}> {}".format(client, text(received)))
        if is_quit(received):
            break
        # send(): the reply, all of it.
        try:
            conn.sendall(upper(received))
        except OSError:
            break
    conn.close()
    say("Client {} disconnected".format(client))


def main():
    options = parse(True, "iterative TCP server: one client at a time, replies in upper case")

    # socket() + bind() + listen(). SO_REUSEADDR lets us restart at once on
    # the same port. A backlog of 1, as in the lab's original program: a
    # waiting client is queued by the kernel, not served by us.
    family, addr = options.resolve(socket.SOCK_STREAM)
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(addr)
        server.listen(1)
    except OSError as e:
        fail("cannot listen on `{}`: {}".format(options.endpoint(), reason(e)))
    say("TCP server started ... listening on {}".format(address(server.getsockname())))

    while True:
        # accept() waits for the next client in the queue and gives us a new
        # socket for talking to it; the listening socket stays as it is.
        try:
            conn, client = server.accept()
        except OSError as e:
            warn("accept failed: {}".format(reason(e)))
        else:
            client = address(client)
            say("New client connected from {}".format(client))
            serve(conn, client)
        # Only now do we come back for the next client.
        say("Waiting for a new client ...")


if __name__ == "__main__":
    main()
