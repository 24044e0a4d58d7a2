#!/usr/bin/env python3
"""Memory per idle IMAP connection of tern: the server's RSS growth while N
connections (default 500) are logged in, have INBOX selected and are in
IDLE, divided by N; once over plain TCP and once over implicit TLS.

    bench/imap_idle_rss.py [BUILDDIR] [-n N]

tern runs as `tern localserve` (plain LOGIN is allowed there, on loopback
only) from a configuration written to a temporary directory: one listener on
127.0.0.1 with IMAP and IMAPS on free ports and a self-signed certificate.
One connection is opened and left idle before the first reading, so that
what every session shares (the account's store, TLS contexts) is not
counted. Figures, not assertions; the goal printed beside them is 30 KiB.
"""
import argparse
import concurrent.futures
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

GOAL_KIB = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Client:
    """One IMAP connection, read line by line."""

    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.sock = s
        self.buf = b""
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting {greeting!r}")

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, tag, text):
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(f"{text}: {line!r}")
                return

    def idle(self):
        self.cmd("a", "LOGIN tern terntern")
        self.cmd("b", "SELECT INBOX")
        self.sock.sendall(b"c IDLE\r\n")
        line = self.line()
        if not line.startswith(b"+"):
            raise RuntimeError(f"IDLE: {line!r}")

    def close(self):
        self.sock.close()


def write_config(work, tern, imap_port, imaps_port, n):
    conf = os.path.join(work, "config")
    os.makedirs(conf)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", os.path.join(conf, "tls.key"), "-out", os.path.join(conf, "tls.crt")],
                   check=True, capture_output=True)
    user = "root" if os.getuid() == 0 else os.environ.get("USER", "nobody")
    with open(os.path.join(conf, "tern.conf"), "w") as f:
        f.write(f"""DataDir: ../data
Hostname: localhost
User: {user}
LogLevel: warn
Listeners:
  bench:
    IPs: [127.0.0.1]
    TLS: {{KeyCerts: [{{CertFile: tls.crt, KeyFile: tls.key}}]}}
    MaxConnections: {n + 100}
    MaxConnectionsPerIP: {n + 100}
    IMAP: {{Enabled: true, Port: {imap_port}}}
    IMAPS: {{Enabled: true, Port: {imaps_port}}}
""")
    with open(os.path.join(conf, "domains.conf"), "w") as f:
        f.write("""Domains:
  localhost: {}
Accounts:
  tern:
    Domain: localhost
    Destinations:
      tern@localhost: {}
""")


def wait_port(port, proc, log):
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"tern did not listen on {port}:\n{open(log).read()}")


def measure(pid, port, tls, n):
    warm = Client(port, tls)
    warm.idle()
    time.sleep(0.5)
    before = rss_kib(pid)
    clients = []

    def one():
        c = Client(port, tls)
        clients.append(c)
        c.idle()

    try:
        # logins cost the server CPU (password hashing): a few at a time
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(one) for _ in range(n)]:
                f.result()
        time.sleep(1.0)
        after = rss_kib(pid)
    finally:
        for c in clients:
            c.close()
        warm.close()
    return before, after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("-n", type=int, default=500, help="idle connections per run")
    args = ap.parse_args()
    tern = os.path.join(args.build, "tern")
    if not os.access(tern, os.X_OK):
        sys.exit(f"imap_idle_rss: {tern} missing; build first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * args.n + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    work = tempfile.mkdtemp(prefix="tern-idle-rss-")
    try:
        imap_port, imaps_port = free_port(), free_port()
        write_config(work, tern, imap_port, imaps_port, args.n)
        log = os.path.join(work, "tern.log")
        with open(log, "w") as out:
            proc = subprocess.Popen([tern, "localserve", "-dir", work], stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            wait_port(imap_port, proc, log)
            wait_port(imaps_port, proc, log)
            print(f"== tern: RSS per idle connection ({args.n} connections logged in, "
                  f"INBOX selected, in IDLE); goal < {GOAL_KIB} KiB")
            for name, port, tls in (("plain", imap_port, False), ("TLS", imaps_port, True)):
                before, after = measure(proc.pid, port, tls, args.n)
                per = (after - before) / args.n
                print(f"{name:6} RSS {before} -> {after} KiB: {per:.1f} KiB per connection "
                      f"({'ok' if per < GOAL_KIB else 'over the goal'})")
                time.sleep(1.0)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
