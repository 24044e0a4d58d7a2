"""Shared helpers for tern's IMAP end-to-end tests (test_imap_*.py).

    srv = ImapServer().start()              # SMTP + IMAP (STARTTLS) + IMAPS, free ports
    srv.set_password("alice", PASSWORD)     # ImapServer.started() does this for alice, bob
    m = srv.login("alice")                  # imaplib.IMAP4_SSL, logged in (IMAPS)
    m = srv.login_starttls("alice")         # imaplib.IMAP4 on the IMAP port after STARTTLS
    srv.deliver("alice", subject="hi")      # through tern's SMTP listener; waits until stored
    c = RawIMAP(srv.imap_port)              # bytes over a socket; c.greeting
    c = RawIMAP(srv.imaps_port, tls=True)
    tag, lines = c.cmd("a1 LOGIN alice x")  # lines up to and including the tagged one
    srv.cleanup()

Or as a pytest fixture: `yield from imap_serve()` (accounts alice and bob with
password PASSWORD). The certificate is self-signed: contexts do not verify.
"""
import email.policy
import imaplib
import re
import smtplib
import time
from email.message import EmailMessage

from smtpfixture import (DOMAINS, HOSTNAME, LineClient, SmtpServer, free_ports, static_conf,
                         token, unverified_context)

PASSWORD = "imap-test-password"


def imap_static_conf(ports, imap_port, imaps_port, **kw):
    """smtpfixture's tern.conf with IMAP and IMAPS added to its listener."""
    return (static_conf(ports, **kw) +
            f"    IMAP: {{Enabled: true, Port: {imap_port}}}\n"
            f"    IMAPS: {{Enabled: true, Port: {imaps_port}}}\n")


class ImapServer(SmtpServer):
    """An SmtpServer whose listener also runs IMAP (STARTTLS) and IMAPS
    (implicit TLS) on free loopback ports."""

    def __init__(self, root=None, domains=DOMAINS, per_ip=50, **kw):
        ports = free_ports(5)
        super().__init__(root, domains=domains, per_ip=per_ip, ports=ports[:3], **kw)
        self.imap_port, self.imaps_port = ports[3], ports[4]
        self.config.write_text(imap_static_conf(
            ports[:3], self.imap_port, self.imaps_port, max_size=kw.get("max_size", 100000),
            max_rcpt=kw.get("max_rcpt", 100), per_ip=per_ip, dns_addr=kw.get("dns_addr")))

    def start(self, *extra, wait=True):
        super().start(*extra, wait=wait)
        if wait:
            self.wait_imap()
        return self

    def started(self, accounts=("alice", "bob"), password=PASSWORD):
        """start(), then the accounts' passwords set."""
        self.start()
        for a in accounts:
            self.set_password(a, password)
        return self

    def wait_imap(self, timeout=15):
        deadline = time.time() + timeout
        while True:
            try:
                with RawIMAP(self.imap_port, timeout=5) as c:
                    assert c.greeting.startswith(b"* OK"), f"greeting {c.greeting!r}\n{self.logs()}"
                    return
            except (OSError, EOFError) as e:
                if time.time() > deadline:
                    raise AssertionError(f"tern IMAP not listening on {self.imap_port} ({e}):\n"
                                         f"{self.logs()}")
                time.sleep(0.05)

    # --- clients ---

    def imaps(self, timeout=10):
        """imaplib over implicit TLS, not logged in."""
        return imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=unverified_context(),
                                 timeout=timeout)

    def imap(self, timeout=10):
        """imaplib on the STARTTLS port, plain text, not logged in."""
        return imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=timeout)

    def login(self, account="alice", password=PASSWORD, timeout=10):
        """imaplib over IMAPS, logged in as account."""
        m = self.imaps(timeout)
        m.login(account, password)
        return m

    def login_starttls(self, account="alice", password=PASSWORD, timeout=10):
        m = self.imap(timeout)
        m.starttls(ssl_context=unverified_context())
        m.login(account, password)
        return m

    # --- messages ---

    def deliver(self, account="alice", subject=None, body="Hello.\r\n", sender="sender@example.org",
                raw=None, wait=True):
        """Sends one message to account@example.test through tern's SMTP
        listener; returns its subject. With wait, returns once the store has
        it (tern answers 250 only after storing; this only double-checks)."""
        subject = subject or token()
        if raw is None:
            msg = EmailMessage()
            msg["From"] = sender
            msg["To"] = f"{account}@example.test"
            msg["Subject"] = subject
            msg["Message-ID"] = f"<{token()}@example.org>"
            msg.set_content(body)
            raw = msg.as_bytes(policy=email.policy.SMTP)
        with smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname="localhost", timeout=20) as s:
            s.sendmail(sender, [f"{account}@example.test"], raw)
        return subject


def imap_serve(accounts=("alice", "bob"), password=PASSWORD, **kw):
    """For a pytest fixture (`yield from imap_serve()`): a started ImapServer
    with passwords set, cleaned up after."""
    s = ImapServer(**kw)
    try:
        s.started(accounts, password)
        yield s
    finally:
        s.cleanup()


def imaps_session(srv, account="alice"):
    """A RawIMAP on srv's IMAPS port, logged in as account (password PASSWORD)."""
    c = RawIMAP(srv.imaps_port, tls=True)
    c.login(account, PASSWORD)
    return c


class RawIMAP(LineClient):
    """A byte-level IMAP client: sends lines as given, reads lines back."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10, greet=True, source=None):
        super().__init__(port, host, tls, timeout, source)
        self.greeting = self.read_line() if greet else None

    def starttls(self):
        self.sock = unverified_context().wrap_socket(self.sock, server_hostname=HOSTNAME)

    def read_until_tagged(self, tag):
        """Lines up to and including the one starting with tag."""
        lines = []
        t = tag.encode() + b" "
        while True:
            line = self.read_line()
            lines.append(line)
            if line.startswith(t):
                return lines

    def cmd(self, line):
        """Sends "TAG COMMAND" (CRLF added) and reads to its tagged line:
        returns (tagged line, all lines)."""
        tag = line.split(" ", 1)[0]
        self.send(line + "\r\n")
        lines = self.read_until_tagged(tag)
        return lines[-1], lines

    def login(self, user, password, tag="L1"):
        tagged, lines = self.cmd(f'{tag} LOGIN "{user}" "{password}"')
        assert tagged.startswith(f"{tag} OK".encode()), lines
        return lines

    def ok(self, line):
        """cmd(line), asserting that the tagged answer is OK: all lines."""
        tagged, lines = self.cmd(line)
        assert b" OK " in tagged, lines
        return lines


def capabilities(line):
    """The capability names of a "* CAPABILITY ..." line or a greeting or
    tagged line with a [CAPABILITY ...] code."""
    text = line.decode() if isinstance(line, bytes) else line
    m = re.search(r"\[CAPABILITY ([^\]]*)\]", text)
    if m:
        return m.group(1).split()
    m = re.match(r"\* CAPABILITY (.*)", text.strip())
    assert m, f"no capabilities in {text!r}"
    return m.group(1).split()
