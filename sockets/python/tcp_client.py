"""tcp_client: connects to a TCP server, sends each line typed on stdin
(without its newline) and prints the server's reply.

The lesson: connect() does the three-way handshake once; then every line is a
data segment, answered by the server and ACKed by the kernels.

Run it with `python3 tcp_client.py` (add `--help` to see the options).
"""

import socket

from labsock import BUFFER_SIZE, address, fail, is_quit, next_line, parse, reason, say, text


def main():
    options = parse(False, "TCP client: sends each stdin line to the server, prints the reply; `quit` ends it")

    # socket() + connect(): the handshake happens here. A busy iterative
    # server's kernel still completes it and queues us.
    family, addr = options.resolve(socket.SOCK_STREAM)
    conn = socket.socket(family, socket.SOCK_STREAM)
    try:
        conn.connect(addr)
    except OSError as e:
        fail("cannot connect to `{}`: {}".format(options.endpoint(), reason(e)))
    server = address(conn.getpeername())
    say("Connected {} -> {}".format(address(conn.getsockname()), server))
    # Without --timeout this is None: wait for a reply as long as it takes.
    conn.settimeout(options.read_timeout())

    # One line of stdin at a time. At the end of input we stop, and close()
    # ends the connection.
    while True:
        line = next_line()
        if line is None:
            break
        # send(): the line, without its newline.
        try:
            conn.sendall(line.encode())
        except OSError as e:
            fail("cannot send to `{}`: {}".format(server, reason(e)))
        say("Sent: {}".format(line))
        if is_quit(line.encode()):
            break  # the server closes the connection; so do we

        # recv(): the reply, as much of it as has arrived.
        try:
            reply = conn.recv(BUFFER_SIZE)
        except socket.timeout:
            options.no_reply()
        except OSError as e:
            fail("lost the connection to `{}`: {}".format(server, reason(e)))
        if not reply:
            fail("server `{}` closed the connection".format(server))
        say("Server> {}".format(text(reply)))
    conn.close()


if __name__ == "__main__":
    main()
