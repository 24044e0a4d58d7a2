"""Shared helpers for tern's SMTP end-to-end tests (test_smtp.py,
test_smtp_auth.py, test_smtp_peers.py, test_localserve.py).

    srv = SmtpServer(root, domains=DOMAINS).start()     # TLS, ports picked free
    srv.set_password("alice", "s3cret")
    c = RawSMTP(srv.smtp_port)                          # greeting read
    r = c.cmd("EHLO client.test")                       # Reply(code, lines)
    msgs = srv.export("alice")                          # {"Inbox": [bytes, ...]}
    srv.stop()

RawSMTP talks bytes over a socket (optionally TLS, unverified) and reads
replies with read_reply() (expect() also checks the code); scram_auth() runs an RFC 5802 SCRAM exchange
(no channel binding) over one.
"""
import base64
import email
import hashlib
import hmac
import os
import pathlib
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time

from dnsfixture import DNSServer

from conftest import (TernServer, accounts_conf, export_mbox, make_world_dir, run_tern,
                      server_user)

HOSTNAME = "mail.example.test"

# The name 127.0.0.1 has for tern's resolver: libunbound answers
# 127.in-addr.arpa and localhost itself (its default local zones), so a test
# client's iprev check passes with it.
CLIENT_HOST = "localhost"
_dns = None


def shared_dns():
    """The DNS server every SmtpServer's resolver asks (one per test process).
    It is authoritative for the root, so names nobody added do not exist
    (NXDOMAIN: SPF "none"); tests add zones for their own cases with
    shared_dns().add_zone(...)."""
    global _dns
    if _dns is None:
        _dns = DNSServer({".": {"@": ["SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}})
    return _dns


# domains.conf's entry for example.test: a "+" separator, case-insensitive.
EXAMPLE_DOMAIN = """\
  example.test:
    Description: test domain
    LocalpartCatchallSeparator: "+"
    LocalpartCaseSensitive: false
"""

DOMAINS = "Domains:\n" + EXAMPLE_DOMAIN + accounts_conf("alice", "bob")


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def make_cert(directory, cn=HOSTNAME):
    """A self-signed P-256 certificate tls.crt / tls.key in directory."""
    directory = pathlib.Path(directory)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt")],
                   check=True, capture_output=True, timeout=60)
    os.chmod(directory / "tls.key", 0o644)


def static_conf(ports, max_size=100000, max_rcpt=100, per_ip=20, tls=True, dns_addr=None):
    """tern.conf with one loopback listener; a limit of None is left to tern's default."""
    p1, p2, p3 = ports
    tls_line = "    TLS: {KeyCerts: [{CertFile: tls.crt, KeyFile: tls.key}]}\n" if tls else ""
    sub = "" if not tls else (f"    Submission: {{Enabled: true, Port: {p2}}}\n"
                              f"    Submissions: {{Enabled: true, Port: {p3}}}\n")
    return (f"DataDir: ../data\nHostname: {HOSTNAME}\nUser: {server_user()}\n"
            f"Resolver:\n  Upstreams: [\"{dns_addr or shared_dns().addr}\"]\n  DNSSEC: false\n"
            "Listeners:\n"
            "  test:\n"
            "    IPs: [127.0.0.1]\n"
            f"{tls_line}"
            f"    SMTP: {{Enabled: true, Port: {p1}}}\n"
            f"{sub}" +
            "".join(f"    {key}: {value}\n" for key, value in (
                ("SMTPMaxMessageSize", max_size), ("SMTPMaxRecipients", max_rcpt),
                ("MaxConnectionsPerIP", per_ip)) if value is not None))


class SmtpServer(TernServer):
    """A TernServer with one listener: SMTP, submission (STARTTLS) and
    submissions (implicit TLS) on free loopback ports, with a fresh
    self-signed certificate."""

    def __init__(self, root=None, domains=DOMAINS, max_size=100000, max_rcpt=100, per_ip=20,
                 tls=True, ports=None, dns_addr=None):
        self.own_root = root is None
        root = pathlib.Path(root) if root is not None else make_world_dir()
        self.smtp_port, self.sub_port, self.subs_port = ports or free_ports(3)
        super().__init__(root, static_conf=static_conf(
            (self.smtp_port, self.sub_port, self.subs_port), max_size, max_rcpt, per_ip, tls,
            dns_addr),
            domains_conf=domains)
        if tls:
            make_cert(self.confdir)
        self.exports = 0

    def start(self, *extra, wait=True):
        super().start(*extra, wait=wait)
        if wait:
            self.wait_greeting()
        return self

    def wait_greeting(self, timeout=15):
        """Waits until the SMTP port answers with a 220 greeting."""
        deadline = time.time() + timeout
        while True:
            try:
                with RawSMTP(self.smtp_port, timeout=5) as c:
                    assert c.greeting.code == 220, f"tern SMTP greeting: {c.greeting}\n{self.logs()}"
                    return
            except (OSError, EOFError) as e:
                if time.time() > deadline:
                    raise AssertionError(f"tern SMTP not listening on 127.0.0.1:{self.smtp_port}"
                                         f" ({e}):\n{self.logs()}")
                if self.proc.poll() is not None:
                    raise AssertionError(f"tern serve exited {self.proc.returncode}:\n"
                                         f"{self.logs()}")
                time.sleep(0.05)

    def set_password(self, account, password):
        self.tern("setaccountpassword", account, input=password + "\n", check=0)

    def export(self, account):
        """The account's messages by mailbox name: {"Inbox": [bytes, ...]}."""
        self.exports += 1
        return export_mbox(self.config, self.root / f"export-{account}-{self.exports}", account)

    def count(self, account, mailbox_name="Inbox"):
        return len(self.export(account).get(mailbox_name, []))

    def messages(self, account="alice", mailbox_name="Inbox"):
        """The messages of one mailbox, parsed (email.message.Message)."""
        return [parse(m) for m in self.export(account).get(mailbox_name, [])]

    def wait_message(self, subject, account="alice", timeout=10):
        """The stored message in account's Inbox with this Subject (waiting for
        it a little, should tern store after answering)."""
        deadline = time.time() + timeout
        while True:
            msgs = self.messages(account)
            for m in msgs:
                if unfold(m.get("Subject", "")) == subject:
                    return m
            if time.time() > deadline:
                raise AssertionError(f"no message with Subject {subject!r} in {account}'s Inbox "
                                     f"(subjects: {[m.get('Subject') for m in msgs]})")
            time.sleep(0.2)

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.own_root:
                shutil.rmtree(self.root, ignore_errors=True)


def serve(passwords=None, **kw):
    """For a pytest fixture (`yield from serve(...)`): a started SmtpServer(**kw),
    with passwords {account: password} set, cleaned up after."""
    s = SmtpServer(**kw).start()
    try:
        for account, password in (passwords or {}).items():
            s.set_password(account, password)
        yield s
    finally:
        s.cleanup()


def token():
    """A unique word to tell a test's messages apart by."""
    return "t" + secrets.token_hex(6)


def with_token(srv, account, tok):
    """(mailbox, message) pairs of account whose headers mention tok."""
    return [(box, m) for box, msgs in srv.export(account).items() for m in msgs
            if tok in mbox_headers(m)]


def unverified_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"

    def __str__(self):
        return "\n".join(f"{self.code} {l}" for l in self.lines)


class LineClient:
    """One TCP connection (TLS with tls, unverified) from source, if given:
    sends bytes as given, reads lines back."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10, source=None):
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0) if source else None)
        if tls:
            self.sock = unverified_context().wrap_socket(self.sock, server_hostname=HOSTNAME)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self):
        """One line with its line feed; EOFError when the server closed."""
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class RawSMTP(LineClient):
    """A byte-level SMTP client: nothing is interpreted, nothing is hidden."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10, greet=True, source=None):
        super().__init__(port, host, tls, timeout, source)
        self.greeting = self.read_reply() if greet else None

    def read_reply(self):
        lines = []
        code = None
        while True:
            raw = self.read_line()
            assert raw.endswith(b"\r\n"), f"reply line without CRLF: {raw!r}"
            s = raw[:-2].decode("utf-8", "replace")
            assert len(s) >= 3 and s[:3].isdigit(), f"bad reply line {s!r}"
            c = int(s[:3])
            assert code is None or c == code, f"codes differ in one reply: {lines} then {s!r}"
            code = c
            lines.append(s[4:])
            if len(s) == 3 or s[3] == " ":
                return Reply(code, lines)
            assert s[3] == "-", f"bad reply line {s!r}"

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.read_reply()

    def expect(self, line, code, status=""):
        """cmd(line), asserting the reply's code and that its first line starts
        with status (an enhanced status code, say "5.5.4")."""
        r = self.cmd(line)
        assert r.code == code and r.lines[0].startswith(status), r
        return r

    def ehlo(self, name="client.example.org"):
        r = self.cmd(f"EHLO {name}")
        assert r.code == 250, r
        return r

    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        assert self.buf == b""
        self.sock = unverified_context().wrap_socket(self.sock, server_hostname=HOSTNAME)
        return r

    def data(self, body):
        """DATA then body (bytes, CRLF lines, already dot-stuffed) then CRLF.CRLF."""
        r = self.cmd("DATA")
        assert r.code == 354, r
        self.send(body + b".\r\n")
        return self.read_reply()

    def is_closed(self, timeout=5):
        """True when the server closes without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        if d:
            self.buf += d
            return False
        return True


def message(frm="sender@example.org", to="alice@example.test", subject="test", body="Hello.\r\n",
            extra=""):
    """A small RFC 5322 message with CRLF line ends (bytes)."""
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-ID: <{secrets.token_hex(8)}@example.org>\r\n"
            f"{extra}\r\n{body}").encode()


def send_raw(port, mail_from, rcpts, msg, tls=False, ehlo="client.example.org"):
    """One transaction over a fresh RawSMTP; returns (mail reply, [rcpt replies], data reply)."""
    with RawSMTP(port, tls=tls) as c:
        c.ehlo(ehlo)
        m = c.cmd(f"MAIL FROM:<{mail_from}>")
        rr = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        d = c.data(msg) if any(r.code == 250 for r in rr) else None
        c.cmd("QUIT")
        return m, rr, d


# --- SCRAM (RFC 5802, RFC 7677) without channel binding ---

def _b64(b):
    return base64.b64encode(b).decode()


def auth_plain(user, password):
    """The AUTH PLAIN command line with its initial response (RFC 4616)."""
    return "AUTH PLAIN " + _b64(f"\0{user}\0{password}".encode())


def _saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


def scram_auth(c, mech, user, password, nonce=None, gs2="n,,"):
    """Runs AUTH mech (SCRAM-SHA-1 or SCRAM-SHA-256) on RawSMTP c with gs2 header
    gs2 ("n,,": no channel binding; "y,,": could bind, thinks the server cannot).
    Returns the final Reply; asserts the server signature on success."""
    h = {"SCRAM-SHA-1": hashlib.sha1, "SCRAM-SHA-256": hashlib.sha256}[mech]
    hname = h().name
    nonce = nonce or secrets.token_urlsafe(18)
    first_bare = f"n={_saslname(user)},r={nonce}"
    r = c.cmd(f"AUTH {mech} {_b64((gs2 + first_bare).encode())}")
    if r.code != 334:
        return r
    server_first = base64.b64decode(r.lines[0]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce), server_first
    salt = base64.b64decode(attrs["s"])
    iters = int(attrs["i"])
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    stored_key = h(client_key).digest()
    final_wo_proof = f"c={_b64(gs2.encode())},r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo_proof}".encode()
    sig = hmac.new(stored_key, auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    r = c.cmd(_b64(f"{final_wo_proof},p={_b64(proof)}".encode()))
    if r.code == 334:
        server_final = base64.b64decode(r.lines[0]).decode()
        server_key = hmac.new(salted, b"Server Key", h).digest()
        want = "v=" + _b64(hmac.new(server_key, auth_msg, h).digest())
        assert server_final == want, f"server signature {server_final!r}, want {want!r}"
        r = c.cmd("")
    return r


def mbox_headers(msg):
    """The header block of a stored message as text (unfolded lines kept)."""
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.decode("utf-8", "replace")


def mbox_body(msg):
    return msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]


def parse(msg):
    """A stored message (bytes) as an email.message.Message."""
    return email.message_from_bytes(msg)


def unfold(value):
    """A header value on one line, runs of white space as one space."""
    return re.sub(r"\s+", " ", str(value)).strip()


def body_text(msg):
    """The decoded body of a parsed single-part message, as text."""
    return msg.get_payload(decode=True).decode(errors="replace")


def tern_cmd(conf, *args, **kw):
    return run_tern("-config", str(conf), *args, **kw)
