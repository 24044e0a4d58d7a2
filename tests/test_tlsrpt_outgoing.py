"""Outgoing SMTP TLS reports (RFC 8460) end to end: mail goes out through the
queue to two scripted sinks (outboundfixture.Sink), one offering STARTTLS and
one that does not; the queue records each attempt's TLS result in tern.db;
`tern tlsrpt results` shows them; `tern tlsrpt composereports` (with -now
on the next day) looks up each domain's "_smtp._tls" TXT record in the test
DNS and puts a report message into tern.db for the queue, which delivers it
to a third sink, the report address's MX. The report must be a §5.3
message whose gzip'ed JSON has the right counts; its own delivery is not
recorded (§3); an https destination is POSTed to, one that cannot be reached is
left for a retry; running the composer again composes nothing.
"""
import calendar
import email
import email.policy
import gzip
import http.server
import json
import random
import re
import smtplib
import ssl
import subprocess
import threading
import time

import pytest

from conftest import tern_bin
from outboundfixture import Certs, Sink
from smtpfixture import SmtpServer, make_cert, shared_dns, token, unverified_context

PASSWORD = "tlsrpt-pass-1"
TLS_DOMAIN = "tlsrpt-tls.test"         # its MX offers STARTTLS
PLAIN_DOMAIN = "tlsrpt-plain.test"     # its MX does not
REPORTS_DOMAIN = "tlsrpt-reports.test"  # where the reports go
QUEUE_CONF = "Queue:\n  FirstRetrySeconds: 1\n  MaxRetrySeconds: 2\n"


class ReportReceiver:
    """An HTTPS server on 127.0.0.1 taking POSTed reports (RFC 8460 §5.3)."""

    def __init__(self, cert, key):
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((self.path, self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def loopback_addr():
    return "127.%d.%d.%d" % (random.randint(1, 250), random.randint(1, 250),
                             random.randint(2, 250))


@pytest.fixture(scope="module")
def sinks(tmp_path_factory):
    certdir = tmp_path_factory.mktemp("sinkcert")
    make_cert(certdir, cn=f"mx.{TLS_DOMAIN}")
    cert = (str(certdir / "tls.crt"), str(certdir / "tls.key"))
    exts = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 1000000"]
    tls_sink = Sink(addr=loopback_addr(), port=25, exts=exts + ["STARTTLS"], cert=cert)
    plain_sink = Sink(addr=loopback_addr(), port=25, exts=exts)
    report_sink = Sink(addr=loopback_addr(), port=25, exts=exts)
    certs = Certs(tmp_path_factory.mktemp("httpscerts"))
    receiver = ReportReceiver(*certs.leaf(f"tlsrpt.{REPORTS_DOMAIN}"))
    dns = shared_dns()
    dns.add_zone(TLS_DOMAIN + ".", {
        "@": [f"MX 10 mx.{TLS_DOMAIN}."], "mx": [f"A {tls_sink.addr}"],
        "_smtp._tls": [f'TXT "v=TLSRPTv1; rua=mailto:tls-reports@{REPORTS_DOMAIN}, '
                       f'https://tlsrpt.{REPORTS_DOMAIN}:{receiver.port}/v1/tlsrpt"'],
    })
    # two TXT strings (joined, RFC 8460 §3), an unreachable https destination
    dns.add_zone(PLAIN_DOMAIN + ".", {
        "@": [f"MX 10 mx.{PLAIN_DOMAIN}."], "mx": [f"A {plain_sink.addr}"],
        "_smtp._tls": [f'TXT "v=TLSRPTv1;rua=mailto:plain-reports@{REPORTS_DOMAIN}," '
                       '"https://127.0.0.1:1/tlsrpt"', 'TXT "v=spf1 -all"'],
    })
    dns.add_zone(REPORTS_DOMAIN + ".", {
        "@": [f"MX 10 mx.{REPORTS_DOMAIN}."], "mx": [f"A {report_sink.addr}"],
        "tlsrpt": ["A 127.0.0.1"],
    })
    yield tls_sink, plain_sink, report_sink, receiver, certs.ca_path
    for s in (tls_sink, plain_sink, report_sink, receiver):
        s.stop()


def domains_conf():
    return ("Domains:\n  example.test:\n    DKIM:\n      Selectors:\n        t1:\n"
            "          PrivateKeyFile: dkim.pem\n      Sign: [t1]\n"
            "Accounts:\n"
            "  alice:\n    Domain: example.test\n    Destinations:\n      alice@example.test: {}\n")


@pytest.fixture(scope="module")
def srv(sinks):
    s = SmtpServer(domains=domains_conf())
    with open(s.config, "a") as f:
        f.write(QUEUE_CONF)
    p = subprocess.run([tern_bin(), "dkim", "gened25519"], capture_output=True, text=True,
                       check=True)
    (s.confdir / "dkim.pem").write_text(p.stdout)
    s.start()
    s.set_password("alice", PASSWORD)
    yield s
    s.cleanup()


def submit(srv, rcpt, subject):
    msg = (f"From: Alice <alice@example.test>\r\nTo: {rcpt}\r\n"
           f"Subject: {subject}\r\n\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", srv.sub_port, local_hostname="laptop.example.org",
                      timeout=15) as c:
        c.starttls(context=unverified_context())
        c.ehlo()
        c.login("alice@example.test", PASSWORD)
        c.sendmail("alice@example.test", [rcpt], msg.encode())


def wait_sink(sink, needle, count=1, timeout=30, srv=None):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = [s for s in sink.sessions if s["data"] is not None and needle.encode() in s["data"]]
        if len(got) >= count:
            return got
        time.sleep(0.1)
    raise AssertionError(f"the sink got {len(got)} messages with {needle}, not {count}" +
                         (f"\n{srv.tern('queue', 'list').stdout}\n{srv.logs()}" if srv else ""))


def wait_queue_empty(srv, timeout=30):
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        out = srv.tern("queue", "list").stdout
        if "@" not in out:
            return
        time.sleep(0.1)
    raise AssertionError(f"queue not empty:\n{out}")


def report_of(data):
    """The JSON report and the attachment's file name of a §5.3 message."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/tlsrpt+gzip"]
    att = parts[1]
    return msg, json.loads(gzip.decompress(att.get_content())), att.get_filename()


def test_results_recorded_reported_and_sent(srv, sinks, tmp_path):
    tls_sink, plain_sink, report_sink, receiver, ca_file = sinks
    tok = token()
    submit(srv, f"a-{tok}@{TLS_DOMAIN}", f"one {tok}")
    submit(srv, f"b-{tok}@{TLS_DOMAIN}", f"two {tok}")
    submit(srv, f"c-{tok}@{PLAIN_DOMAIN}", f"three {tok}")
    got = wait_sink(tls_sink, tok, count=2, srv=srv)
    assert all(s["tls"] for s in got)
    (plain,) = wait_sink(plain_sink, tok, srv=srv)
    assert not plain["tls"]
    wait_queue_empty(srv)

    # the recorded results (RFC 8460 §4.3)
    out = srv.tern("tlsrpt", "results").stdout
    assert re.search(rf"^\S+ {TLS_DOMAIN} policy=no-policy-found mx=mx\.{TLS_DOMAIN} "
                     r"successful=2 failed=0$", out, re.M), out
    assert re.search(rf"^\S+ {PLAIN_DOMAIN} policy=no-policy-found mx=mx\.{PLAIN_DOMAIN} "
                     r"successful=0 failed=1$", out, re.M), out
    # with our address (sending-mta-ip, RFC 8460 §4.4)
    assert re.search(rf"^  failure starttls-not-supported count=1 receiving-mx-hostname="
                     rf"mx\.{PLAIN_DOMAIN} receiving-ip={re.escape(plain_sink.addr)} "
                     r"sending-mta-ip=127\.0\.0\.1$", out, re.M), out
    day = out.split()[0]

    # a day that has not ended is refused; the next day composes it
    p = srv.tern("tlsrpt", "composereports", "-date", day, check=None)
    assert p.returncode == 1 and "has not ended" in p.stderr
    begin = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
    now = begin + 86400 + 60
    p = srv.tern("tlsrpt", "composereports", "-date", day, "-now", str(now), "-ca-file",
                 ca_file, check=0)
    assert "composed 2 reports" in p.stdout and "https: 1 posted, 1 failed" in p.stdout, p.stdout
    assert "runtime error" not in p.stderr and "Sanitizer" not in p.stderr, p.stderr
    p = srv.tern("tlsrpt", "composereports", "-now", str(now), check=0)
    assert "composed 0 reports" in p.stdout, p.stdout
    assert srv.tern("tlsrpt", "results").stdout.strip() == ""
    sent = srv.tern("tlsrpt", "results", "-sent").stdout
    # RFC 8460 §5.4: the failed POST is tried again by later runs
    assert re.search(r"post https://127\.0\.0\.1:1/tlsrpt retrying attempts=1: ", sent), sent
    p = srv.tern("tlsrpt", "composereports", "-now", str(now + 3600), check=0)
    assert "composed 0 reports" in p.stdout and "https: 0 posted, 1 failed" in p.stdout, p.stdout
    sent = srv.tern("tlsrpt", "results", "-sent").stdout
    assert re.search(r"post https://127\.0\.0\.1:1/tlsrpt retrying attempts=2: ", sent), sent
    assert re.search(rf"post https://tlsrpt\.{REPORTS_DOMAIN}:{receiver.port}/v1/tlsrpt sent "
                     r"attempts=1: HTTP status 200", sent), sent
    ((path, ctype, body),) = receiver.posts
    assert path == "/v1/tlsrpt" and ctype == "application/tlsrpt+gzip"
    posted = json.loads(gzip.decompress(body))

    # the queue sends the report messages
    srv.tern("queue", "kick")
    (tls_msg,) = wait_sink(report_sink, f"TLS-Report-Domain: {TLS_DOMAIN}", srv=srv)
    (plain_msg,) = wait_sink(report_sink, f"TLS-Report-Domain: {PLAIN_DOMAIN}", srv=srv)
    assert any(c.upper() == f"RCPT TO:<TLS-REPORTS@{REPORTS_DOMAIN}>".upper()
               for c in tls_msg["commands"])
    msg, rep, fname = report_of(tls_msg["data"])
    assert msg["TLS-Report-Submitter"] == "mail.example.test"
    assert msg["DKIM-Signature"] is not None
    subject = re.sub(r"\s+", " ", str(msg["Subject"]))
    assert subject == (f"Report Domain: {TLS_DOMAIN} Submitter: mail.example.test "
                       f"Report-ID: <{rep['report-id']}>")
    assert re.fullmatch(rf"mail\.example\.test!{re.escape(TLS_DOMAIN)}!{begin}!{begin + 86399}"
                        r"![0-9a-f]{16}\.json\.gz", fname), fname
    assert rep["organization-name"] == "mail.example.test"
    assert rep["contact-info"] == "postmaster@mail.example.test"
    assert rep["date-range"] == {"start-datetime": f"{day}T00:00:00Z",
                                 "end-datetime": f"{day}T23:59:59Z"}
    (pol,) = rep["policies"]
    assert pol["policy"] == {"policy-type": "no-policy-found", "policy-domain": TLS_DOMAIN,
                             "mx-host": [f"mx.{TLS_DOMAIN}"]}
    assert pol["summary"] == {"total-successful-session-count": 2,
                              "total-failure-session-count": 0}
    assert "failure-details" not in pol
    assert posted == rep   # the same report by mail and by https

    _, rep, _ = report_of(plain_msg["data"])
    (pol,) = rep["policies"]
    assert pol["summary"] == {"total-successful-session-count": 0,
                              "total-failure-session-count": 1}
    assert pol["failure-details"] == [{
        "result-type": "starttls-not-supported", "receiving-mx-hostname": f"mx.{PLAIN_DOMAIN}",
        "receiving-ip": plain_sink.addr, "sending-mta-ip": "127.0.0.1",
        "failed-session-count": 1}]

    # tern's own report parser reads it
    path = tmp_path / "report.eml"
    path.write_bytes(plain_msg["data"])
    p = srv.tern("tlsrpt", "parsereportmsg", "-json", str(path))
    parsed = json.loads(p.stdout)
    assert json.dumps(parsed).count('"starttls-not-supported"') == 1

    # §3: delivering the reports recorded nothing
    wait_queue_empty(srv)
    assert srv.tern("tlsrpt", "results").stdout.strip() == ""
    assert "runtime error" not in srv.logs() and "Sanitizer" not in srv.logs()
