"""What the five socket programs share, so each program shows only its socket lesson.

Nothing here touches a socket that carries data: the bind, listen, accept,
connect, send and recv calls stay in the programs themselves. This file holds
the plumbing around them: the command line (--bind/--server, --port,
--timeout, --help), printing one event per line, upper-casing a reply, and
spotting `quit`. It mirrors sockets/src/lib.rs line for line in behaviour.

Python 3.7 or newer, standard library only.
"""

import os
import signal
import socket
import sys

# Ctrl-C ends a program at once, as it ends the Rust and C ones, without
# Python's KeyboardInterrupt traceback.
signal.signal(signal.SIGINT, signal.SIG_DFL)

# The lab's port, as in the original programs.
DEFAULT_PORT = 50000

# The most bytes one recv takes (TCP: per read; UDP: per datagram).
BUFFER_SIZE = 4096


def program():
    """This program's name, for messages: `tcp_server`, without `.py`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name[:-3] if name.endswith(".py") else (name or "socket program")


def say(line):
    """Prints one event as one line on stdout and flushes it at once, so a
    program reading us through a pipe sees each event as it happens."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        # Nobody reads our output any more: nothing useful is left to do.
        os._exit(1)


def fail(message):
    """Prints one error line on stderr (`tcp_server: ...`) and exits with status 1."""
    sys.stderr.write("{}: {}\n".format(program(), message))
    sys.stderr.flush()
    sys.exit(1)


def warn(message):
    """Prints one error line on stderr (`tcp_server: ...`) and carries on."""
    sys.stderr.write("{}: {}\n".format(program(), message))
    sys.stderr.flush()


def reason(error):
    """An OSError as one short phrase: `Address already in use (os error 98)`."""
    if isinstance(error, OSError) and error.errno is not None and error.strerror:
        return "{} (os error {})".format(error.strerror, error.errno)
    return str(error)


def address(addr):
    """A socket address as `IP:PORT` (`[::1]:PORT` for IPv6)."""
    host, port = addr[0], addr[1]
    return "[{}]:{}".format(host, port) if ":" in host else "{}:{}".format(host, port)


class Options:
    """The command line of one program, parsed (see parse_args)."""

    def __init__(self, host, port, timeout):
        self.host = host        # --bind (server) or --server (client)
        self.port = port        # --port; 0 lets a server take any free port
        self.timeout = timeout  # --timeout: (seconds, as typed) or None

    def address(self):
        """(host, port), ready for bind or connect."""
        return (self.host, self.port)

    def endpoint(self):
        """host:port as typed, for messages."""
        return address((self.host, self.port))

    def read_timeout(self):
        """The timeout to put on the socket (None: wait for ever)."""
        return self.timeout[0] if self.timeout else None

    def resolve(self, kind):
        """(family, address): the one socket address --bind or --server and
        --port name, for a socket of `kind` (a host name is looked up)."""
        try:
            found = socket.getaddrinfo(self.host, self.port, 0, kind, 0, socket.AI_PASSIVE)
        except OSError as e:
            fail("cannot resolve `{}`: {}".format(self.host, e))
        if not found:
            fail("cannot resolve `{}`: no address".format(self.host))
        family, _, _, _, addr = found[0]
        return family, addr[:2]

    def no_reply(self):
        """A reply did not come within --timeout: `No reply within S s`, exit 1."""
        fail("No reply within {} s".format(self.timeout[1] if self.timeout else "?"))


def help_text(server, about):
    """The --help text of one program."""
    name = program()
    if server:
        flags = ("  --bind ADDR   address to listen on (default 0.0.0.0: every interface)\n"
                 "  --port N      port to listen on (default 50000; 0: any free port)")
    else:
        flags = ("  --server ADDR server to talk to (default 127.0.0.1)\n"
                 "  --port N      server's port (default 50000)\n"
                 "  --timeout S   give up when no reply comes within S seconds (default: wait)")
    return ("{0}: {1}\n\nUsage: {0} [OPTIONS]\n\nOptions:\n{2}\n"
            "  --help        print this help\n\n"
            "Every event is printed on its own line on stdout; errors go to stderr, exit 1."
            ).format(name, about, flags)


def parse_args(args, server):
    """The parser behind parse(): returns Options, None for --help, or raises ValueError."""
    host_flag = "--bind" if server else "--server"
    options = Options("0.0.0.0" if server else "127.0.0.1", DEFAULT_PORT, None)
    args = list(args)
    while args:
        arg = args.pop(0)
        # Accept both `--port 5000` and `--port=5000`.
        flag, inline = arg, None
        if arg.startswith("--") and "=" in arg:
            flag, inline = arg.split("=", 1)
        if flag in ("--help", "-h"):
            return None
        if flag not in (host_flag, "--port") and not (flag == "--timeout" and not server):
            raise ValueError("unknown argument `{}`".format(arg))
        if inline is None:
            if not args:
                raise ValueError("`{}` needs a value".format(flag))
            inline = args.pop(0)
        value = inline
        if flag == host_flag:
            options.host = value
        elif flag == "--port":
            if not (value.isascii() and value.isdigit()) or int(value) > 65535:
                raise ValueError("`--port {}`: not a port number (0-65535)".format(value))
            options.port = int(value)
        else:
            try:
                seconds = float(value)
            except ValueError:
                seconds = float("nan")
            if not (0 < seconds < float("inf")):
                raise ValueError("`--timeout {}`: not a positive number of seconds".format(value))
            options.timeout = (seconds, value)
    return options


def parse(server, about):
    """Reads sys.argv; prints the help and exits 0 on --help, prints one
    error line and exits 1 on anything it does not understand."""
    try:
        options = parse_args(sys.argv[1:], server)
    except ValueError as e:
        fail("{} (try `{} --help`)".format(e, program()))
    if options is None:
        say(help_text(server, about))
        sys.exit(0)
    return options


def next_line():
    """The next line typed on stdin, without its newline; None at the end of
    input. Empty lines are skipped: TCP cannot carry an empty message, and
    the two clients behave alike. A prompt only when a person types at a
    terminal, never into a pipe."""
    while True:
        if sys.stdin.isatty():
            sys.stdout.write("You> ")
            sys.stdout.flush()
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        line = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if line:
            return line


def upper(data):
    """The reply a server sends: the received bytes, ASCII-upper-cased."""
    return data.upper()  # bytes.upper() changes only a-z


def is_quit(data):
    """Whether a message is `quit`, with or without a trailing newline."""
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    return data == b"quit"


def text(data):
    """Received bytes as printable text on one line: the trailing newline is
    dropped, a newline inside shows as \\n, bytes that are not UTF-8 as U+FFFD."""
    line = data.decode("utf-8", "replace")
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line.replace("\r", "\\r").replace("\n", "\\n")


def local_ip_towards(family, server):
    """The local IP address this machine would send from to reach `server`.

    A UDP client that never calls connect does not know its own address until
    it sends. Asking the kernel with a throw-away connected UDP socket sends
    nothing; it only looks up the route."""
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect(server)
        return probe.getsockname()[0]
    finally:
        probe.close()
