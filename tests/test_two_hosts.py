"""Two `tern serve` instances sending to each other (needs root): hosts in
network namespaces on one bridge (tests/netns.py), each tern with its own
address, domain, certificate and account; mail goes submission (465) →
queue → SMTP client → port 25 of the other.

DNS: nsd serves the zones a.test and b.test, each signed with its own keys
(ldns-signzone); the lab's DNS relay passes every query to it, and each tern
trusts the zones' DS records (Resolver.TrustAnchorFile), so its answers are
DNSSEC-secure and DANE applies.

A third host "c" holds what the cases need besides the two terns: scripted
SMTP receivers (no STARTTLS; one that stalls the reply to the data) and the
HTTPS server of an MTA-STS policy.

Cases: plain delivery both ways (b.test's MX has a matching TLSA record, so
a→b is DANE-verified; b→a, without TLSA, opportunistic TLS); a DANE
mismatch (queued, retried, then after Queue.MaxAgeSeconds a failure DSN);
MTA-STS enforce with a certificate no CA vouches for (not delivered);
REQUIRETLS to a host without TLS (a failure DSN at once); a null MX (a
failure DSN at once); the receiving tern not running at first (retried,
then delivered); and SIGKILL of the sending tern while the receiver stalls
the data: after the restart the message is delivered.

Every DSN is read with Python's email package (multipart/report,
message/delivery-status fields) and with tern's own MIME parser: the
BODYSTRUCTURE that tern's IMAP server gives for it.
"""
import email
import email.policy
import http.server
import imaplib
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import threading
import time

import pytest

import netns
from conftest import TernServer, make_world_dir, read_mbox_tree, tern_bin
from dnsfixture import DNSSECZones
from outboundfixture import Certs, Sink
from postfix import PostfixRelay
from smtpfixture import token

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="network namespaces and port 25 need root")

PASS_A = "alice-pass-2hosts"
PASS_B = "bob-pass-2hosts"
MAX_AGE = 25   # Queue.MaxAgeSeconds of the sender: a temporary failure fails after this


class TwoZones(DNSSECZones):
    """nsd serving a.test. and b.test., each signed; trust_anchors: both DS."""

    ZONE = "a.test."

    def __init__(self, tmpdir, bodies):
        self._bodies = bodies
        super().__init__(tmpdir)

    def _make_zones(self):
        self.files, self.trust_anchors = {}, []
        for zone, body in self._bodies.items():
            text = ("$ORIGIN {z}\n$TTL 300\n@ IN SOA ns.{z} hostmaster.{z} 1 3600 600 86400 60\n"
                    "@ IN NS ns.{z}\nns IN A 127.0.0.1\n").format(z=zone) + body
            signed, ksk = self._sign(zone, text)
            self.files[zone] = signed
            self.trust_anchors.append(self._ds_line(ksk))


def self_signed(directory, name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt")],
                   check=True, capture_output=True, timeout=60)
    os.chmod(directory / "tls.key", 0o644)
    return directory / "tls.crt"


class Host:
    """One tern in namespace ns: mx.DOMAIN at ip, account user@DOMAIN."""

    def __init__(self, lab, name, root, domain, user, password, anchors, ca):
        self.lab, self.name, self.domain, self.user, self.password = (
            lab, name, domain, user, password)
        self.ip = lab.ip(name)
        root.mkdir()
        os.chmod(root, 0o755)
        conf = f"""\
DataDir: ../data
Hostname: mx.{domain}
User: tern
Resolver:
  Upstreams: ["{lab.dns_addr}"]
  TrustAnchorFile: {anchors}
Queue:
  FirstRetrySeconds: 1
  MaxRetrySeconds: 2
  MaxAgeSeconds: {MAX_AGE}
  CAFile: {ca}
Listeners:
  public:
    IPs: [{self.ip}]
    TLS: {{KeyCerts: [{{CertFile: tls.crt, KeyFile: tls.key}}]}}
    SMTP: {{Enabled: true, Port: 25}}
    Submissions: {{Enabled: true, Port: 465}}
    IMAPS: {{Enabled: true, Port: 993}}
"""
        domains = (f"Domains:\n  {domain}: {{}}\nAccounts:\n  {user}:\n    Domain: {domain}\n"
                   f"    Destinations:\n      {user}@{domain}: {{}}\n")
        self.srv = TernServer(root, static_conf=conf, domains_conf=domains, user="tern")
        self.srv.command_prefix = lab.prefix(name)
        self.cert = self_signed(self.srv.confdir, f"mx.{domain}")
        self.out = root / "out"
        self.exports = 0

    def start(self):
        self.srv.start()
        self.srv.tern("setaccountpassword", self.user, input=self.password + "\n", check=0)
        return self

    def submit(self, to, subject, mail_options=()):
        """Submits a message from user@domain to `to` over submissions (465)."""
        msg = (f"From: {self.user}@{self.domain}\r\nTo: {to}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject.replace(' ', '.')}@{self.domain}>\r\n\r\n"
               f"Between two hosts: {subject}.\r\n")

        def send():
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP_SSL(self.ip, 465, context=ctx, timeout=20) as s:
                s.login(f"{self.user}@{self.domain}", self.password)
                return s.sendmail(f"{self.user}@{self.domain}", [to], msg.encode(),
                                  mail_options=list(mail_options))
        assert netns.in_namespace(self.lab.ns(self.name), send) == {}

    def inbox(self):
        """The Inbox, exported as the server's user: files that root made in
        the account's directory would be read-only for the server."""
        self.exports += 1
        out = self.out / f"{self.exports}"
        self.out.mkdir(exist_ok=True)
        shutil.chown(self.out, "tern", "tern")
        p = subprocess.run(["setpriv", "--reuid=tern", "--regid=tern", "--init-groups",
                            tern_bin(), "-config", str(self.srv.config), "export", "mbox",
                            str(out), self.user], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        boxes = read_mbox_tree(out)
        return [email.message_from_bytes(m, policy=email.policy.default)
                for m in boxes.get("Inbox", [])]

    def wait_inbox(self, pred, what, timeout=30):
        deadline = time.time() + timeout
        while True:
            for m in self.inbox():
                if pred(m):
                    return m
            assert time.time() < deadline, f"no {what} in {self.user}'s Inbox:\n" \
                f"{self.queue_list()}\n{self.srv.logs()[-6000:]}"
            time.sleep(0.3)

    def wait_subject(self, subject, timeout=30):
        return self.wait_inbox(lambda m: str(m["Subject"]) == subject, subject, timeout)

    def wait_dsn(self, tok, timeout=30):
        return self.wait_inbox(lambda m: m.get_content_type() == "multipart/report" and
                               tok in m.as_string(), f"DSN about {tok}", timeout)

    def queue_list(self):
        return tern_as_server_user(self, "queue", "list")

    def wait_queue(self, pattern, timeout=30):
        deadline = time.time() + timeout
        while True:
            out = self.queue_list()
            if re.search(pattern, out):
                return out
            assert time.time() < deadline, f"queue never matched {pattern!r}:\n{out}\n" \
                f"{self.srv.logs()[-4000:]}"
            time.sleep(0.2)

    def imap_bodystructure(self, tok):
        """tern's own parse of the message mentioning tok: its IMAP BODYSTRUCTURE."""
        def fetch():
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = imaplib.IMAP4_SSL(self.ip, 993, ssl_context=ctx, timeout=20)
            try:
                c.login(f"{self.user}@{self.domain}", self.password)
                c.select("INBOX")
                typ, data = c.search(None, "TEXT", tok)
                assert typ == "OK" and data[0], data
                num = data[0].split()[-1]
                typ, data = c.fetch(num, "(BODYSTRUCTURE)")
                assert typ == "OK", data
                return data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            finally:
                c.logout()
        return netns.in_namespace(self.lab.ns(self.name), fetch)


def tern_as_server_user(host, *args):
    """A tern command on host's files, run as the server's user (a command
    run as root could leave files the server cannot write)."""
    p = subprocess.run(["setpriv", "--reuid=tern", "--regid=tern", "--init-groups", tern_bin(),
                        "-config", str(host.srv.config), *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def check_dsn(host, dsn, tok, rcpt, status_re, action="failed"):
    """A DSN as RFC 3464 has it, read with Python's email package and with
    tern's own MIME parser (IMAP BODYSTRUCTURE); returns the status fields."""
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = dsn.get_payload()
    assert [p.get_content_type() for p in parts][:2] == ["text/plain",
                                                        "message/delivery-status"]
    per_msg, per_rcpt = parts[1].get_payload()[0], parts[1].get_payload()[1]
    assert per_msg["Reporting-MTA"] == f"dns; mx.{host.domain}"
    assert per_rcpt["Final-Recipient"] == f"rfc822; {rcpt}", str(per_rcpt)
    assert per_rcpt["Action"] == action
    assert re.fullmatch(status_re, per_rcpt["Status"]), per_rcpt["Status"]
    body = host.imap_bodystructure(tok)
    assert re.search(r'"text" "plain".*"message" "delivery-status".*"report" '
                     r'\("report-type" "delivery-status"', body, re.I | re.S), body
    return per_rcpt


class StallingSink(Sink):
    """A Sink whose reply to the data waits while `stall` is set."""

    def __init__(self, *a, **kw):
        self.stall = threading.Event()
        self.release = threading.Event()
        self.stalled = threading.Event()
        super().__init__(*a, **kw)

    def _final(self):
        if self.stall.is_set():
            self.stalled.set()
            self.release.wait(60)
            raise OSError("the connection was given up")
        return super()._final()


class PolicyServer443:
    """HTTPS on ip:443 in namespace ns serving an MTA-STS policy."""

    def __init__(self, ns, ip, cert, key, body):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = body.encode()
                self.send_response(200 if self.path == "/.well-known/mta-sts.txt" else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        def bind():
            return http.server.ThreadingHTTPServer((ip, 443), Handler)
        self.httpd = netns.in_namespace(ns, bind)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class NsPostfix(PostfixRelay):
    """tests/postfix.py's Postfix, run in a namespace and listening on its
    address ip:25 for mail from the lab's subnet, relaying it to
    127.0.0.1:2525 there."""

    def __init__(self, lab, host, root, ip):
        subnet = ip.rsplit(".", 1)[0] + ".0/24"
        super().__init__(root, 25, 2525, myhostname="mxpf.b.test", extra_main_cf={
            "inet_interfaces": "all", "mynetworks": f"127.0.0.0/8 {subnet}",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject"})
        self.lab, self.host, self.ip = lab, host, ip

    def _run(self, *args, check=True, timeout=60):
        return super()._run(*self.lab.prefix(self.host), *args, check=check, timeout=timeout)

    def write_config(self):
        super().write_config()
        cf = self.conf / "master.cf"
        cf.write_text(cf.read_text().replace("127.0.0.1:25 ", f"{self.ip}:25 ", 1))

    def _wait_listening(self, timeout):
        deadline = time.time() + timeout
        while True:
            p = self.lab.run(self.host, "/usr/bin/python3", "-c",
                             "import smtplib,sys; smtplib.SMTP(sys.argv[1], 25, timeout=3).noop()",
                             self.ip)
            if p.returncode == 0:
                return
            assert time.time() < deadline, p.stderr + self.log()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def world():
    root = make_world_dir()
    lab = netns.Lab(["a", "b", "c", "p"])
    started = []
    try:
        (root / "ca").mkdir()
        os.chmod(root / "ca", 0o755)
        certs = Certs(root / "ca")
        anchors = root / "anchors"
        ip_a, ip_b, ip_c, ip_p = lab.ip("a"), lab.ip("b"), lab.ip("c"), lab.ip("p")
        a = Host(lab, "a", root / "a", "a.test", "alice", PASS_A, anchors, certs.ca_path)
        b = Host(lab, "b", root / "b", "b.test", "bob", PASS_B, anchors, certs.ca_path)
        spki_b = Certs.spki_sha256(str(b.cert))
        zones = TwoZones(root / "zones", {
            "a.test.": f"@ IN MX 10 mx\nmx IN A {ip_a}\n",
            "b.test.": f"""@ IN MX 10 mx
mx IN A {ip_b}
_25._tcp.mx IN TLSA 3 1 1 {spki_b}
bad IN MX 10 mxbad
mxbad IN A {ip_b}
_25._tcp.mxbad IN TLSA 3 1 1 {"00" * 32}
sts IN MX 10 mxsts
mxsts IN A {ip_b}
_mta-sts.sts IN TXT "v=STSv1; id=20261126"
mta-sts.sts IN A {ip_c}
pf IN MX 10 mxpf
mxpf IN A {ip_p}
notls IN MX 10 mxc
stall IN MX 10 mxc
mxc IN A {ip_c}
nullmx IN MX 0 .
"""})
        started.append(zones)
        anchors.write_text("\n".join(zones.trust_anchors) + "\n")
        lab._relay.upstream = ("127.0.0.1", zones.port)   # every query to nsd
        sink = netns.in_namespace(lab.ns("c"), lambda: StallingSink(
            addr=ip_c, port=25, exts=["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"]))
        started.append(sink)
        pcert, pkey = certs.leaf("mta-sts.sts.b.test")
        policy = PolicyServer443(lab.ns("c"), ip_c, pcert, pkey,
                                 "version: STSv1\nmode: enforce\nmx: mxsts.b.test\n"
                                 "max_age: 86400\n")
        started.append(policy)
        a.start()
        started.append(a.srv)
        b.start()
        started.append(b.srv)
        # Postfix in host p: the MX of pf.b.test, passing what it takes to a
        # sink on p's loopback
        pf_sink = netns.in_namespace(lab.ns("p"), lambda: Sink(addr="127.0.0.1", port=2525))
        started.append(pf_sink)
        pf = NsPostfix(lab, "p", root / "postfix", ip_p)
        pf.start()
        started.append(pf)
        yield a, b, sink, lab, pf, pf_sink
    finally:
        for s in reversed(started):
            try:
                s.stop()
            except Exception:
                pass
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_plain_delivery_both_ways_and_dane(world):
    a, b = world[:2]
    tok = token()
    a.submit("bob@b.test", f"a to b {tok}")
    m = b.wait_subject(f"a to b {tok}")
    assert str(m["From"]) == "alice@a.test"
    b.submit("alice@a.test", f"b to a {tok}")
    m = a.wait_subject(f"b to a {tok}")
    assert str(m["From"]) == "bob@b.test"
    # each side received over TLS
    for host, other in ((a, b), (b, a)):
        rec = [str(r) for r in host.inbox()[-1].get_all("Received")]
        assert any(f"mx.{other.domain}" in r and "with ESMTPS" in r for r in rec), rec
    # a→b: TLSA of mx.b.test matched (DANE); b→a: no TLSA, no policy
    ra = tern_as_server_user(a, "tlsrpt", "results")
    assert re.search(r"^\S+ b\.test policy=tlsa mx=mx\.b\.test successful=[1-9]\d* failed=0$",
                     ra, re.M), ra
    rb = tern_as_server_user(b, "tlsrpt", "results")
    assert re.search(r"^\S+ a\.test policy=no-policy-found mx=mx\.a\.test successful=[1-9]", rb,
                     re.M), rb


def test_dane_mismatch_stays_queued_then_fails(world):
    a = world[0]
    tok = token()
    rcpt = f"carol-{tok}@bad.b.test"
    a.submit(rcpt, f"dane bad {tok}")
    a.wait_queue(rf"<{re.escape(rcpt)}> queued attempts [1-9].*4\.7\.5")
    dsn = a.wait_dsn(tok, timeout=MAX_AGE + 30)
    st = check_dsn(a, dsn, tok, rcpt, r"5\.4\.7")   # RFC 3463: delivery time expired
    assert st["Remote-MTA"] == "dns; mxbad.b.test"
    assert "no matching DANE TLSA records" in st["X-Tern-Diagnostic"], dict(st.items())


def test_mta_sts_enforce_bad_certificate_not_delivered(world):
    a, b = world[:2]
    tok = token()
    rcpt = f"dave-{tok}@sts.b.test"
    a.submit(rcpt, f"sts {tok}")
    out = a.wait_queue(rf"<{re.escape(rcpt)}> queued attempts [1-9]")
    line = [l for l in out.splitlines() if rcpt in l][0]
    assert "4.7" in line, line
    # mx.b.test never saw the message
    assert f"sts {tok}" not in b.srv.logs()
    assert not [m for m in b.inbox() if tok in str(m["Subject"])]
    rec = tern_as_server_user(a, "tlsrpt", "results")
    assert re.search(r"^\S+ sts\.b\.test policy=sts mx=mxsts\.b\.test successful=0 failed=[1-9]",
                     rec, re.M), rec


def test_requiretls_to_host_without_tls_gets_dsn(world):
    a, sink = world[0], world[2]
    tok = token()
    rcpt = f"erin-{tok}@notls.b.test"
    a.submit(rcpt, f"requiretls {tok}", mail_options=["REQUIRETLS"])
    dsn = a.wait_dsn(tok, timeout=20)
    check_dsn(a, dsn, tok, rcpt, r"5\.7\.10")
    assert not any(s["data"] and tok.encode() in s["data"] for s in sink.sessions)


def test_null_mx_gets_dsn_at_once(world):
    a = world[0]
    tok = token()
    rcpt = f"frank-{tok}@nullmx.b.test"
    t0 = time.time()
    a.submit(rcpt, f"nullmx {tok}")
    dsn = a.wait_dsn(tok, timeout=15)
    assert time.time() - t0 < 15
    check_dsn(a, dsn, tok, rcpt, r"5\.1\.10")


def test_receiver_down_then_up_is_retried_and_delivered(world):
    a, b = world[:2]
    b.srv.stop()
    try:
        tok = token()
        a.submit("bob@b.test", f"later {tok}")
        a.wait_queue(r"<bob@b\.test> queued attempts [1-9]")
    finally:
        b.srv.start()
    b.wait_subject(f"later {tok}", timeout=30)
    a.wait_queue(r"^(?![\s\S]*bob@b\.test)", timeout=15)


def test_sigkill_during_delivery_loses_nothing(world):
    a, sink = world[0], world[2]
    tok = token()
    rcpt = f"gina-{tok}@stall.b.test"
    sink.stall.set()
    sink.stalled.clear()
    sink.release.clear()
    try:
        a.submit(rcpt, f"kill {tok}")
        assert sink.stalled.wait(30), a.srv.logs()[-4000:]
        assert a.queue_list().count(rcpt) == 1
        a.srv.proc.kill()          # SIGKILL while the data waits for its reply
        a.srv.proc.wait()
    finally:
        sink.stall.clear()
        sink.release.set()
    # nothing was lost: queue.db still holds it, read without a server
    assert rcpt in a.queue_list()
    a.srv.log.close()
    a.start()
    deadline = time.time() + 30
    while rcpt in a.queue_list():
        assert time.time() < deadline, a.queue_list() + a.srv.logs()[-4000:]
        time.sleep(0.2)
    done = [s for s in sink.sessions if s["data"] and tok.encode() in s["data"]]
    assert len(done) >= 2   # the cut-off transfer and the one after the restart
    assert any(c.startswith("QUIT") for c in done[-1]["commands"]), done[-1]["commands"]


def test_postfix_as_the_receiving_mx(world):
    a, pf, pf_sink = world[0], world[4], world[5]
    tok = token()
    rcpt = f"henry-{tok}@pf.b.test"
    a.submit(rcpt, f"to postfix {tok}")
    deadline = time.time() + 30
    while not [s for s in pf_sink.sessions if s["data"] and tok.encode() in s["data"]]:
        assert time.time() < deadline, a.queue_list() + pf.log()[-3000:]
        time.sleep(0.2)
    (got,) = [s for s in pf_sink.sessions if s["data"] and tok.encode() in s["data"]]
    assert f"RCPT TO:<{rcpt}>" in " ".join(got["commands"])
    head = got["data"].split(b"\r\n\r\n")[0].decode()
    # Postfix's Received line names tern as the client; tern DKIM-signed nothing (no keys)
    assert re.search(r"Received: from mx\.a\.test \(.*\)\s+by mxpf\.b\.test \(Postfix\)", head), head
    assert re.search(rf"postfix-test/smtpd\[\d+\]: \w+: client=\S*\[{re.escape(a.ip)}\]", pf.log()), \
        pf.log()
    a.wait_queue(rf"^(?![\s\S]*{re.escape(rcpt)})", timeout=15)
