"""udp_client: sends each line typed on stdin (without its newline) to a UDP
server as one datagram and prints the reply datagram.

The lesson: no handshake and no connection. The socket is never connected, so
if the server is gone our datagram is lost and the ICMP "port unreachable"
never reaches us: only --timeout ends the wait.

Run it with `python3 udp_client.py` (add `--help` to see the options).
"""

import socket

from labsock import (BUFFER_SIZE, address, fail, is_quit, local_ip_towards, next_line, parse,
                     reason, say, text)


def main():
    options = parse(False, "UDP client: sends each stdin line to the server as a datagram, "
                           "prints the reply; `quit` ends it")
    family, server = options.resolve(socket.SOCK_DGRAM)

    # socket() + bind() to our own address and any free port.
    try:
        ip = local_ip_towards(family, server)
    except OSError as e:
        fail("no route to `{}`: {}".format(address(server), reason(e)))
    client = socket.socket(family, socket.SOCK_DGRAM)
    try:
        client.bind((ip, 0))
    except OSError as e:
        fail("cannot bind `{}`: {}".format(ip, reason(e)))
    # Nothing was sent yet: "connected" only names the two addresses.
    say("Connected {} -> {}".format(address(client.getsockname()), address(server)))
    client.settimeout(options.read_timeout())

    # One line of stdin at a time, until the end of input.
    while True:
        line = next_line()
        if line is None:
            break
        # sendto(): one datagram to the server's address.
        try:
            client.sendto(line.encode(), server)
        except OSError as e:
            fail("cannot send to `{}`: {}".format(address(server), reason(e)))
        say("Sent: {}".format(line))
        if is_quit(line.encode()):
            break  # the server ends; there is no reply to wait for

        # recvfrom(): one reply datagram.
        try:
            reply, _ = client.recvfrom(BUFFER_SIZE)
        except socket.timeout:
            options.no_reply()
        except OSError as e:
            fail("cannot receive from `{}`: {}".format(address(server), reason(e)))
        say("Server> {}".format(text(reply)))
    client.close()


if __name__ == "__main__":
    main()
