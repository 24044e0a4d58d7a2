"""A client for tern's control socket (DATADIR/ctl), written from its wire
format (src/ctl/ctl.h) so that tests check the protocol, not just the CLI."""
import socket


class CtlError(Exception):
    pass


def _read_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            raise CtlError("control socket closed")
        line += c
        if len(line) > 64:
            raise CtlError("header too long")
    return line[:-1].decode()


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise CtlError("control socket closed in the middle of a reply")
        data += chunk
    return data


def call(data_dir, *args, timeout=10):
    """Sends one request; returns the reply text, raises CtlError on an error reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(f"{data_dir}/ctl")
        greeting = _read_line(s)
        if greeting != "tern-ctl 1":
            raise CtlError(f"unexpected greeting {greeting!r}")
        msg = f"call {len(args)}\n".encode()
        for a in args:
            b = a.encode()
            msg += f"{len(b)}\n".encode() + b
        s.sendall(msg)
        head = _read_line(s)
        kind, _, n = head.partition(" ")
        text = _read_exact(s, int(n)).decode()
        if kind == "ok":
            return text
        if kind == "error":
            raise CtlError(text)
        raise CtlError(f"bad reply header {head!r}")
