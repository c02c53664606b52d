"""tcp_threaded_server: the TCP server again, with one thread per client,
so every client is served at once. It differs from tcp_server.py only in
the threading.Thread below and in counting the open connections.

The lesson: one listening socket, plus one connected socket per client
(four clients: five server sockets).

Run it with `python3 tcp_threaded_server.py` (add `--help` to see the options).
"""

import socket
import threading

from labsock import BUFFER_SIZE, address, fail, is_quit, parse, reason, say, text, upper, warn


# How many clients are connected right now (every thread updates it, one at
# a time thanks to the lock).
open_connections = 0
count_lock = threading.Lock()


def count(change):
    """Adds `change` to the open connections and prints the new count."""
    global open_connections
    with count_lock:
        open_connections += change
        say("Open connections: {}".format(open_connections))


def serve(conn, client):
    """Talks to one client until it says `quit` or goes away (runs in its own thread)."""
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
    count(-1)


def main():
    options = parse(True, "threaded TCP server: every client at once, one thread each, replies in upper case")

    # socket() + bind() + listen(), with a backlog of 5 as in the lab's
    # original program (see tcp_server.py).
    family, addr = options.resolve(socket.SOCK_STREAM)
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(addr)
        server.listen(5)
    except OSError as e:
        fail("cannot listen on `{}`: {}".format(options.endpoint(), reason(e)))
    say("TCP threaded server started ... listening on {}".format(address(server.getsockname())))

    while True:
        try:
            conn, client = server.accept()
        except OSError as e:
            warn("accept failed: {}".format(reason(e)))
        else:
            client = address(client)
            say("New client connected from {}".format(client))
            count(+1)
            # The difference from tcp_server.py: the client gets its own
            # thread, and this loop goes straight back to accept() the next one.
            threading.Thread(target=serve, args=(conn, client), daemon=True).start()
        say("Waiting for a new client ...")


if __name__ == "__main__":
    main()
