"""udp_server: a UDP server. There are no connections: each datagram arrives
with its sender's address, and the reply goes back to it.

The lesson: no handshake and no queue of clients, so every client is answered
at once; `quit` from any client ends the server.

Run it with `python3 udp_server.py` (add `--help` to see the options).
"""

import socket

from labsock import BUFFER_SIZE, address, fail, is_quit, parse, reason, say, text, upper, warn


def main():
    options = parse(True, "UDP server: answers every datagram in upper case; `quit` ends it")

    # socket() + bind(). No listen() and no accept(): UDP has no connections.
    family, addr = options.resolve(socket.SOCK_DGRAM)
    server = socket.socket(family, socket.SOCK_DGRAM)
    try:
        server.bind(addr)
    except OSError as e:
        fail("cannot bind `{}`: {}".format(options.endpoint(), reason(e)))
    me = address(server.getsockname())
    say("UDP server started ... listening on {}".format(me))

    while True:
        # recvfrom(): one whole datagram, and who sent it.
        try:
            received, client = server.recvfrom(BUFFER_SIZE)
        except OSError as e:
            fail("cannot receive on `{}`: {}".format(me, reason(e)))
        say("Client {}> {}".format(address(client), text(received)))
        if is_quit(received):
            say("Terminate server ...")
            return
        # sendto(): the reply goes to the address the datagram came from.
        # If that client has gone, the datagram is simply lost.
        try:
            server.sendto(upper(received), client)
        except OSError as e:
            warn("cannot reply to `{}`: {}".format(address(client), reason(e)))


if __name__ == "__main__":
    main()
