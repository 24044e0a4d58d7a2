"""Outbound routes and transports of `tern serve` (tern.conf Transports and
Routes), and the DSN parameters the queue hands to the SMTP client, on
loopback:

- a route to a smarthost: a second tern whose submission listener (AUTH)
  takes the message and relays it from its own queue to the recipient
  domain's MX (a scripted sink on port 25 of its own loopback address);
- a route through a SOCKS5 proxy (RFC 1928, RFC 1929), a small one in this
  file that records what it was asked and passes the bytes on;
- route selection by MAIL FROM domain and recipient domain, and
  MinimumAttempts (direct first, the proxy after a temporary failure);
- ENVID and ORCPT with "+" (xtext, RFC 3461 §4) sent on encoded as they
  came, and no success DSN from tern when the next hop took the DSN request
  (RFC 3461 §5.2.1) but a "relayed" one when it did not (§5.2.2);
- `tern config test` naming the file, line and field of a bad route.
"""
import random
import select
import socket
import struct
import threading
import time

import pytest

from conftest import run_tern
from outboundfixture import Certs, Sink
from smtpfixture import SmtpServer, shared_dns, token, unverified_context
import smtplib

PASSWORD = "routes-pass-1"
DIRECT = "direct-routes.test"      # MX: the sink, reached directly
RELAYED = "relayed-routes.test"    # through the smarthost
PROXIED = "proxied-routes.test"    # through the SOCKS5 proxy
LATER = "later-routes.test"        # direct first, then the proxy (MinimumAttempts)
VERIFIED = "verified-routes.test"  # through the smarthost, its certificate verified
MISNAMED = "misnamed-routes.test"  # through the smarthost named by a name not in its certificate
ACCOUNT = "account-routes.test"    # through the proxy by alice's own route (domains.conf)
OTHER_FROM = "other-from.test"     # a FromDomain that never matches


def domains_conf(alice_routes=""):
    return ("Domains:\n  example.test: {}\n"
            "Accounts:\n"
            "  alice:\n    Domain: example.test\n    Destinations:\n      alice@example.test: {}\n"
            + alice_routes)


class Socks5Proxy:
    """A SOCKS5 server (RFC 1928) with username/password (RFC 1929) on
    127.0.0.1: CONNECT to an IPv4 address, domain name or IPv6 address,
    then bytes both ways. Records (user, host, port) of each CONNECT."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.connects = []
        self.bad_auth = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read(c, n):
        d = b""
        while len(d) < n:
            chunk = c.recv(n - len(d))
            if not chunk:
                raise EOFError
            d += chunk
        return d

    def _serve(self, c):
        try:
            with c:
                ver, nmethods = self._read(c, 2)
                methods = self._read(c, nmethods)
                if ver != 5 or 2 not in methods:
                    c.sendall(b"\x05\xff")
                    return
                c.sendall(b"\x05\x02")
                _, ulen = self._read(c, 2)
                user = self._read(c, ulen).decode()
                (plen,) = self._read(c, 1)
                password = self._read(c, plen).decode()
                if (user, password) != (self.user, self.password):
                    self.bad_auth += 1
                    c.sendall(b"\x01\x01")
                    return
                c.sendall(b"\x01\x00")
                ver, cmd, _, atyp = self._read(c, 4)
                if atyp == 1:
                    host = socket.inet_ntoa(self._read(c, 4))
                elif atyp == 4:
                    host = socket.inet_ntop(socket.AF_INET6, self._read(c, 16))
                else:
                    host = self._read(c, self._read(c, 1)[0]).decode()
                (port,) = struct.unpack("!H", self._read(c, 2))
                self.connects.append((user, host, port))
                try:
                    up = socket.create_connection((host, port), timeout=10)
                except OSError:
                    c.sendall(b"\x05\x05\x00\x01" + bytes(6))   # connection refused
                    return
                c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
                with up:
                    self._pipe(c, up)
        except (OSError, EOFError):
            pass

    @staticmethod
    def _pipe(a, b):
        while True:
            r, _, _ = select.select([a, b], [], [], 30)
            if not r:
                return
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                (b if s is a else a).sendall(d)


@pytest.fixture(scope="module")
def sink():
    addr = "127.0.%d.%d" % (random.randint(100, 250), random.randint(2, 250))
    s = Sink(addr=addr, port=25, exts=["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                                       "SIZE 1000000", "DSN"])
    for d in (DIRECT, RELAYED, PROXIED, LATER, VERIFIED, MISNAMED, ACCOUNT):
        shared_dns().add_zone(d + ".", {"@": [f"MX 10 mx.{d}."], "mx": [f"A {addr}"]})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def nodsn_sink():
    """A receiver that does not offer DSN."""
    addr = "127.0.%d.%d" % (random.randint(100, 250), random.randint(2, 250))
    s = Sink(addr=addr, port=25, exts=["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"])
    shared_dns().add_zone("nodsn-routes.test.", {"@": ["MX 10 mx.nodsn-routes.test."],
                                                 "mx": [f"A {addr}"]})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def smarthost(sink, certs):
    """A second tern: its submission listener takes mail from alice and
    relays it from its queue (to the sink). Its certificate is for
    relay.example.test, from the test CA."""
    s = SmtpServer(domains=domains_conf())
    crt, key = certs.leaf("relay.example.test")
    (s.confdir / "tls.crt").write_bytes(open(crt, "rb").read())
    (s.confdir / "tls.key").write_bytes(open(key, "rb").read())
    shared_dns().add_zone("relay.example.test.", {"@": ["A 127.0.0.1"]})
    text = s.config.read_text().replace("Hostname: mail.example.test", "Hostname: relay.example.test")
    s.config.write_text(text + "Queue:\n  FirstRetrySeconds: 1\n  MaxRetrySeconds: 2\n")
    s.start()
    s.set_password("alice", "relay-secret-9")
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def proxy():
    p = Socks5Proxy("proxyuser", "proxy-pw")
    yield p
    p.stop()


@pytest.fixture(scope="module")
def srv(sink, smarthost, proxy, certs):
    s = SmtpServer(domains=domains_conf(
        f"    Routes:\n      - ToDomain: [{ACCOUNT}]\n        Transport: viasocks\n"))
    (s.confdir / "relay.pw").write_text("relay-secret-9\n")
    (s.confdir / "ca.crt").write_bytes(open(certs.ca_path, "rb").read())
    s.config.write_text(s.config.read_text() + f"""\
Queue:
  FirstRetrySeconds: 1
  MaxRetrySeconds: 2
  CAFile: ca.crt
Transports:
  verified:
    Submission:
      Host: relay.example.test
      Port: {smarthost.sub_port}
      Auth: {{Username: alice@example.test, Password: relay-secret-9}}
  misnamed:
    Submission:
      Host: 127.0.0.1
      Port: {smarthost.sub_port}
      Auth: {{Username: alice@example.test, Password: relay-secret-9}}
  relay:
    SMTP:
      Host: 127.0.0.1
      Port: {smarthost.sub_port}
      Auth:
        Username: alice@example.test
        PasswordFile: relay.pw
  viasocks:
    Socks:
      Address: 127.0.0.1:{proxy.port}
      RemoteIPs: [127.0.0.1]
      RemoteHostname: out.example.test
      Username: proxyuser
      Password: proxy-pw
Routes:
  - FromDomain: [{OTHER_FROM}]
    Transport: viasocks
  - ToDomain: [{RELAYED}]
    Transport: relay
  - FromDomain: [example.test]
    ToDomain: [{PROXIED}]
    Transport: viasocks
  - ToDomain: [{LATER}]
    MinimumAttempts: 1
    Transport: viasocks
  - ToDomain: [{VERIFIED}]
    Transport: verified
  - ToDomain: [{MISNAMED}]
    Transport: misnamed
""")
    p = run_tern("-config", str(s.config), "config", "test")
    assert p.returncode == 0, p.stdout + p.stderr
    s.start()
    s.set_password("alice", PASSWORD)
    yield s
    s.cleanup()


def submit(srv, rcpts, subject, mail_options=(), rcpt_options=()):
    msg = (f"From: Alice <alice@example.test>\r\nTo: {', '.join(rcpts)}\r\n"
           f"Subject: {subject}\r\n\r\nRouted {subject}.\r\n")
    with smtplib.SMTP("127.0.0.1", srv.sub_port, timeout=15) as s:
        s.starttls(context=unverified_context())
        s.ehlo()
        s.login("alice@example.test", PASSWORD)
        assert s.sendmail("alice@example.test", rcpts, msg.encode(),
                          mail_options=list(mail_options), rcpt_options=list(rcpt_options)) == {}


def wait_session(sink, tok, timeout=30, srv=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for s in list(sink.sessions):
            if s["data"] is not None and tok.encode() in s["data"]:
                return s
        time.sleep(0.1)
    raise AssertionError(f"no message with {tok} at the sink" + (f"\n{srv.logs()}" if srv else ""))


def queue_empty(srv, rcpt, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f"<{rcpt}>" not in srv.tern("queue", "list", check=0).stdout:
            return
        time.sleep(0.1)
    raise AssertionError(srv.tern("queue", "list").stdout)


def ehlo_of(session):
    return [c for c in session["commands"] if c.upper().startswith("EHLO")][-1]


def test_direct_without_matching_route(srv, sink, proxy):
    tok = token()
    before = len(proxy.connects)
    submit(srv, [f"d-{tok}@{DIRECT}"], f"direct {tok}")
    s = wait_session(sink, tok, srv=srv)
    assert ehlo_of(s) == "EHLO mail.example.test"
    assert len(proxy.connects) == before


def test_smarthost_route_authenticates_and_relays(srv, sink, smarthost):
    tok = token()
    rcpt = f"r-{tok}@{RELAYED}"
    submit(srv, [rcpt], f"relayed {tok}")
    s = wait_session(sink, tok, srv=srv)
    # the sink heard from the smarthost, which took it over submission
    assert ehlo_of(s) == "EHLO relay.example.test", s["commands"]
    head = s["data"].split(b"\r\n\r\n")[0].decode()
    assert "by relay.example.test" in head and "with ESMTPSA" in head, head
    queue_empty(srv, rcpt)
    # handed to the smarthost (its 250), which delivered it to the MX
    mine = [l for l in srv.logs().splitlines() if rcpt in l and "delivery attempt" in l]
    assert len(mine) == 1 and "transport=relay" in mine[0] and "result=delivered" in mine[0], mine
    theirs = [l for l in smarthost.logs().splitlines() if rcpt in l and "delivery attempt" in l]
    assert len(theirs) == 1 and f"remote=mx.{RELAYED}" in theirs[0], theirs


def test_submission_smarthost_certificate_verified(srv, sink, smarthost):
    tok = token()
    rcpt = f"v-{tok}@{VERIFIED}"
    submit(srv, [rcpt], f"verified {tok}")
    s = wait_session(sink, tok, srv=srv)
    assert ehlo_of(s) == "EHLO relay.example.test"
    queue_empty(srv, rcpt)
    # a certificate that is not for the name the transport gives: not sent
    tok = token()
    rcpt = f"w-{tok}@{MISNAMED}"
    submit(srv, [rcpt], f"misnamed {tok}")
    deadline = time.time() + 20
    while True:
        out = srv.tern("queue", "list").stdout
        line = [l for l in out.splitlines() if f"<{rcpt}>" in l]
        if line and "attempts 0" not in line[0]:
            break
        assert time.time() < deadline, out
        time.sleep(0.1)
    assert "queued" in line[0] and "certificate" in line[0], line[0]
    assert not [x for x in sink.sessions if x["data"] and tok.encode() in x["data"]]
    assert f"misnamed {tok}" not in smarthost.logs()
    srv.tern("queue", "drop", "all")


def test_socks_route(srv, sink, proxy):
    tok = token()
    before = len(proxy.connects)
    rcpt = f"p-{tok}@{PROXIED}"
    submit(srv, [rcpt], f"proxied {tok}")
    s = wait_session(sink, tok, srv=srv)
    assert ehlo_of(s) == "EHLO out.example.test"   # RemoteHostname
    assert proxy.connects[before:] == [("proxyuser", sink.addr, 25)], proxy.connects
    assert proxy.bad_auth == 0
    queue_empty(srv, rcpt)


def test_account_route(srv, sink, proxy):
    tok = token()
    before = len(proxy.connects)
    rcpt = f"acc-{tok}@{ACCOUNT}"
    submit(srv, [rcpt], f"account route {tok}")
    s = wait_session(sink, tok, srv=srv)
    assert ehlo_of(s) == "EHLO out.example.test"
    assert proxy.connects[before:] == [("proxyuser", sink.addr, 25)], proxy.connects
    queue_empty(srv, rcpt)


def test_minimum_attempts_route_after_a_temporary_failure(srv, sink, proxy):
    tok = token()
    rcpt = f"l-{tok}@{LATER}"
    sink.rcpt_replies[rcpt] = "451 4.3.0 not over this path"
    before = len(proxy.connects)
    submit(srv, [rcpt], f"later {tok}")
    deadline = time.time() + 20
    while not any(c.startswith("RCPT TO:<%s>" % rcpt) for c in sink.commands):
        assert time.time() < deadline, srv.logs()
        time.sleep(0.1)
    # the first attempt went directly
    assert len(proxy.connects) == before
    del sink.rcpt_replies[rcpt]
    s = wait_session(sink, tok, srv=srv)
    assert ehlo_of(s) == "EHLO out.example.test"
    assert len(proxy.connects) > before
    queue_empty(srv, rcpt)


def test_dsn_parameters_passed_encoded_and_no_success_dsn(srv, sink):
    tok = token()
    rcpt = f"n-{tok}@{DIRECT}"
    submit(srv, [rcpt], f"dsnpass {tok}", mail_options=[f"ENVID=e+2B{tok}", "RET=HDRS"],
           rcpt_options=["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;orig+2Btag-{tok}@{DIRECT}"])
    s = wait_session(sink, tok, srv=srv)
    mail = [c for c in s["commands"] if c.startswith("MAIL FROM:")][0]
    rcpt_cmd = [c for c in s["commands"] if c.startswith("RCPT TO:")][0]
    # xtext as received: "+" stays "+2B", not decoded nor encoded twice
    assert f" ENVID=e+2B{tok}" in mail and " RET=HDRS" in mail, mail
    assert f" ORCPT=rfc822;orig+2Btag-{tok}@{DIRECT}" in rcpt_cmd, rcpt_cmd
    assert " NOTIFY=SUCCESS,FAILURE" in rcpt_cmd, rcpt_cmd
    queue_empty(srv, rcpt)
    time.sleep(1)
    # the next hop offered DSN and took the request: success is its to report
    assert not [m for m in srv.messages("alice") if "Delivery Status" in str(m.get("Subject"))
                and tok in m.as_string()]


def test_relayed_dsn_when_next_hop_has_no_dsn(srv, nodsn_sink):
    tok = token()
    rcpt = f"m-{tok}@nodsn-routes.test"
    submit(srv, [rcpt], f"nodsn {tok}", mail_options=[f"ENVID=e+2B{tok}"],
           rcpt_options=["NOTIFY=SUCCESS", f"ORCPT=rfc822;orig+2Btag-{tok}@nodsn-routes.test"])
    s = wait_session(nodsn_sink, tok, srv=srv)
    assert not any("ORCPT" in c or "NOTIFY" in c or "ENVID" in c for c in s["commands"])
    dsn = srv.wait_message("Delivery Status Notification (Success)", timeout=30)
    status = "".join(str(p) for p in dsn.get_payload()[1].get_payload())
    assert "Action: relayed" in status and f"Final-Recipient: rfc822; {rcpt}" in status
    # RFC 3464 §2.3.1, §2.2.1: the decoded ORCPT and ENVID
    assert f"Original-Recipient: rfc822;orig+tag-{tok}@nodsn-routes.test" in status, status
    assert f"Original-Envelope-Id: e+{tok}" in status, status


def test_config_test_reports_bad_routes(tmp_path):
    conf = tmp_path / "tern.conf"
    (tmp_path / "domains.conf").write_text(domains_conf())
    base = f"DataDir: {tmp_path}/data\nHostname: mail.example.test\nUser: nobody\n"
    conf.write_text(base + "Transports:\n  relay:\n    SMTP: {Host: smtp.example.net}\n"
                    "Routes:\n  - ToDomain: [example.net]\n    Transport: nope\n")
    p = run_tern("-config", str(conf), "config", "test")
    assert p.returncode != 0
    assert f"{conf}:9:16: Routes[0].Transport: no transport \"nope\" in Transports" in p.stderr, \
        p.stderr
    conf.write_text(base + "Transports:\n  relay:\n    SMTP: {Host: a.example.net}\n"
                    "    Socks: {Address: 127.0.0.1:1080}\n")
    p = run_tern("-config", str(conf), "config", "test")
    assert ("Transports.relay: needs exactly one of Submissions, Submission, SMTP or Socks"
            in p.stderr), p.stderr
    conf.write_text(base + "Transports:\n  relay:\n    Socks: {Address: 127.0.0.1}\n")
    p = run_tern("-config", str(conf), "config", "test")
    assert f"{conf}:6:22: Transports.relay.Socks.Address: \"127.0.0.1\" is not host:port" \
        in p.stderr, p.stderr
    conf.write_text(base + "Transports:\n  relay:\n    Submission:\n      Host: a.example.net\n"
                    "      Auth: {Username: u}\n")
    p = run_tern("-config", str(conf), "config", "test")
    assert "Transports.relay.Submission.Auth: needs one of Password or PasswordFile" in p.stderr
    conf.write_text(base + "Routes:\n  - ToDomain: [-bad-]\n    Transport: \"\"\n")
    p = run_tern("-config", str(conf), "config", "test")
    assert f"{conf}:5:16: Routes[0].ToDomain" in p.stderr, p.stderr
    # domains.conf's routes name tern.conf's transports
    conf.write_text(base)
    (tmp_path / "domains.conf").write_text(domains_conf(
        "    Routes:\n      - ToDomain: [example.net]\n        Transport: relay\n"))
    p = run_tern("-config", str(conf), "config", "test")
    assert (f"{tmp_path}/domains.conf: Accounts.alice.Routes[0].Transport: no transport "
            f"\"relay\" in {conf}'s Transports") in p.stderr, p.stderr
