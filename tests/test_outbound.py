"""tern's SMTP client (src/smtpclient, src/mtasts) end to end, through
tests/helpers/smtpclient_deliver, which calls smtpclient_deliver with tern's
resolver pointed at the test DNS and prints the results as JSON.

Receivers are scripted SMTP sinks on loopback addresses (127.0.0.2, ...,
one port for all: MX hosts are reached on --mx-port) and tern itself.
DNS: one plain DNSServer (answers insecure: the resolver's only trust anchor
covers other names) and, for DANE, nsd serving the signed zone dane.test.
MTA-STS policies come from an HTTPS server with a test CA the client trusts
through --ca-file.
"""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

import dnsfixture
from outboundfixture import Certs, PolicyServer, SignedZone, Sink
from smtpfixture import free_ports, serve, shared_dns, token

DELIVER_BIN = pathlib.Path(os.environ.get("TERN_BUILD_DIR", "build")) / "tests" / "helpers" / \
    "smtpclient_deliver"


@pytest.fixture(scope="module")
def dns():
    return shared_dns()


@pytest.fixture(scope="module")
def port():
    """One port all sinks listen on, each on its own loopback address."""
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def anchor(tmp_path_factory):
    return dnsfixture.write_unrelated_trust_anchor(tmp_path_factory.mktemp("ta") / "ta")


_zone_counter = [0]


def replace_zone(dns, origin, records):
    """Serves origin with records instead of what it had (DNSServer.add_zone adds)."""
    origin = origin.rstrip(".") + "."
    with dns._lock:
        for key in [k for k in dns.records if k[0] == origin or k[0].endswith("." + origin)]:
            del dns.records[key]
        dns.names = {n for n in dns.names if not (n == origin or n.endswith("." + origin))}
        dns.soas.pop(origin, None)
    dns.add_zone(origin, records)


def new_domain(dns, records):
    """A fresh domain NAME.test with records {owner: [...]} ('@' the domain)."""
    _zone_counter[0] += 1
    name = "d%d-%s.test." % (_zone_counter[0], token().lower()[:8])
    dns.add_zone(name, records)
    return name.rstrip(".")


def write_message(tmp_path, body=None, subject=None):
    path = tmp_path / "msg.eml"
    data = body if body is not None else (
        "From: a@sender.test\r\nTo: b@x.test\r\nSubject: %s\r\n\r\nhello\r\n" %
        (subject or token()))
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def deliver(dns, anchor, msg, rcpts, *args, mx_port=None, extra_dns=(), timeout=60):
    cmd = [str(DELIVER_BIN), "--dns", dns.addr, "--trust-anchor-file", str(anchor),
           "--message", str(msg), "--from", "a@sender.test", "--timeout", "5000"]
    for d in extra_dns:
        cmd += ["--stub", d]
    if mx_port is not None:
        cmd += ["--mx-port", str(mx_port)]
    for r in rcpts:
        cmd += ["--rcpt", r]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def statuses(out):
    return [(r["status"], r["enhanced"]) for r in out["rcpts"]]


# --- routing: MX order, fallback, null MX, implicit MX ---

def mx_is_tern(dns):
    """example.test's MX is mail.example.test at 127.0.0.1, where tern listens."""
    replace_zone(dns, "example.test.", {"@": ["MX 10 mail.example.test."],
                                        "mail": ["A 127.0.0.1"]})


def test_delivers_to_tern_and_stores(tmp_path, dns, anchor):
    gen = serve()
    srv = next(gen)
    try:
        mx_is_tern(dns)
        subject = token()
        msg = write_message(tmp_path, "From: a@sender.test\r\nTo: alice@example.test\r\n"
                            "Subject: %s\r\n\r\nbody line\r\n.dot line\r\n" % subject)
        out = deliver(dns, anchor, msg, ["alice@example.test", "nobody@example.test"],
                      "--domain", "example.test", mx_port=srv.smtp_port)
        ok, bad = out["rcpts"]
        assert ok["status"] == "delivered" and ok["code"] == 250, out
        assert ok["remote_mta"] == "mail.example.test" and ok["remote_ip"] == "127.0.0.1"
        assert bad["status"] == "permfail" and bad["code"] == 550, out
        assert bad["enhanced"].startswith("5.1."), out
        # tern offers STARTTLS: opportunistic TLS, no policy
        assert out["tls"]["tls"] is True and out["tls"]["policy"] == "none"
        stored = srv.wait_message(subject)
        assert stored.get_payload().replace("\r\n", "\n") == "body line\n.dot line\n"
    finally:
        gen.close()


def test_mx_preference_and_fallback_on_refused_connection(tmp_path, dns, anchor, port):
    # mx1 (preference 10) has no listener: the client moves on to mx2
    domain = new_domain(dns, {"@": ["MX 20 mx2", "MX 10 mx1"], "mx1": ["A 127.0.0.20"],
                              "mx2": ["A 127.0.0.21"]})
    with Sink("127.0.0.21", port) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["rcpts"][0]["remote_mta"] == "mx2." + domain
    assert len(s.sessions) == 1


def test_4xx_greeting_tries_next_host(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx1", "MX 20 mx2"], "mx1": ["A 127.0.0.22"],
                              "mx2": ["A 127.0.0.23"]})
    with Sink("127.0.0.22", port, greeting="421 4.3.2 busy") as busy, \
            Sink("127.0.0.23", port) as good:
        out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert busy.commands == ["QUIT"]
    assert any(c.startswith("MAIL FROM:") for c in good.commands)


def test_all_hosts_down_is_tempfail(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx1"], "mx1": ["A 127.0.0.24"]})
    out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain,
                  mx_port=port)
    r = out["rcpts"][0]
    assert r["status"] == "tempfail" and r["enhanced"] == "4.4.1", out
    assert "refused" in r["text"].lower()


def test_null_mx_permfail_without_connecting(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 0 ."], "mx": ["A 127.0.0.25"]})
    # a sink on the domain's own address would catch an implicit-MX attempt
    replace_zone(dns, domain, {"@": ["MX 0 .", "A 127.0.0.25"]})
    with Sink("127.0.0.25", port) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("permfail", "5.1.10")], out
    assert s.sessions == []


def test_implicit_mx_uses_the_domain_address(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["A 127.0.0.26"]})
    with Sink("127.0.0.26", port) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["rcpts"][0]["remote_mta"] == domain
    assert len(s.sessions) == 1


def test_nonexistent_domain_permfail(tmp_path, dns, anchor):
    out = deliver(dns, anchor, write_message(tmp_path), ["b@nowhere.invalid"],
                  "--domain", "nowhere-%s.test" % token().lower()[:8])
    assert statuses(out) == [("permfail", "5.1.2")], out


def test_dns_servfail_tempfail(tmp_path, dns, anchor):
    domain = new_domain(dns, {"@": ["MX 10 mx"]})
    dns.servfail(domain + ".")
    out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain], "--domain", domain)
    assert statuses(out) == [("tempfail", "4.4.3")], out


# --- the SMTP dialogue ---

def test_pipelining_dsn_and_size_parameters(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.30"]})
    msg = write_message(tmp_path)
    with Sink("127.0.0.30", port) as s:
        out = deliver(dns, anchor, msg,
                      ["b@" + domain + ",SUCCESS+FAILURE,rfc822;B+x=y@" + domain,
                       "c@" + domain + ",NEVER"],
                      "--domain", domain, "--ret-hdrs", "--envid", "id 1+2", mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")] * 2, out
    cmds = s.commands
    size = msg.stat().st_size
    assert "MAIL FROM:<a@sender.test> SIZE=%d RET=HDRS ENVID=id+201+2B2" % size in cmds, cmds
    assert ("RCPT TO:<b@%s> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Bx+3Dy@%s" %
            (domain, domain)) in cmds, cmds
    assert "RCPT TO:<c@%s> NOTIFY=NEVER" % domain in cmds
    assert s.sessions[0]["pipelined"] is True
    assert cmds[-1] == "QUIT"
    assert all(r["dsn_passed"] for r in out["rcpts"])


def test_no_pipelining_no_dsn_parameters(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.31"]})
    with Sink("127.0.0.31", port, exts=["8BITMIME"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["b@" + domain + ",SUCCESS"],
                      "--domain", domain, "--envid", "x", mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert "MAIL FROM:<a@sender.test>" in s.commands
    assert "RCPT TO:<b@%s>" % domain in s.commands
    assert s.sessions[0]["pipelined"] is False
    # no DSN at the next hop: the queue owes a "relayed" notice (RFC 3461 §5.2.2)
    assert out["rcpts"][0]["dsn_passed"] is False


def test_per_recipient_results(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.32"]})
    replies = {"gone@" + domain: "550 5.1.1 no such user",
               "later@" + domain: "450-4.2.1 mailbox busy\r\n450 4.2.1 try again"}
    with Sink("127.0.0.32", port, rcpt_replies=replies) as s:
        out = deliver(dns, anchor, write_message(tmp_path),
                      ["ok@" + domain, "gone@" + domain, "later@" + domain],
                      "--domain", domain, mx_port=port)
    ok, gone, later = out["rcpts"]
    assert (ok["status"], ok["code"]) == ("delivered", 250)
    assert (gone["status"], gone["code"], gone["enhanced"]) == ("permfail", 550, "5.1.1")
    assert gone["text"] == "no such user"
    assert (later["status"], later["enhanced"]) == ("tempfail", "4.2.1")
    assert later["text"] == "mailbox busy; try again"   # lines joined
    assert s.sessions[0]["data"] is not None


def test_no_recipient_accepted_sends_no_data(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.33"]})
    with Sink("127.0.0.33", port, rcpt_replies={"x@" + domain: "550 5.1.1 no"}) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["x@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("permfail", "5.1.1")]
    assert "DATA" not in s.commands and s.commands[-1] == "QUIT"


def test_mail_from_rejected_applies_to_all(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.34"]})
    with Sink("127.0.0.34", port, mail_reply="451 4.3.0 try later"):
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain, "b@" + domain],
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("tempfail", "4.3.0")] * 2, out


def test_data_final_reply_multiline(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.35"]})
    with Sink("127.0.0.35", port, data_reply=["554 5.7.1 rejected", "554 5.7.1 spam"]):
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      mx_port=port)
    r = out["rcpts"][0]
    assert (r["status"], r["code"], r["enhanced"]) == ("permfail", 554, "5.7.1")
    assert r["text"] == "rejected; spam"


def test_long_final_reply_line_is_delivered(tmp_path, dns, anchor, port):
    # RFC 5321 §4.5.3.1: replies longer than 512 octets are read, not taken
    # for a broken session (which would send the message again later)
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.70"]})
    text = "2.0.0 queued as " + "Q" * 600
    with Sink("127.0.0.70", port, data_reply="250 " + text) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      mx_port=port)
    r = out["rcpts"][0]
    assert (r["status"], r["code"], r["enhanced"]) == ("delivered", 250, "2.0.0"), out
    assert r["text"].startswith("queued as QQQ")
    assert s.sessions[0]["data"] is not None


def test_success_reply_to_data_is_not_delivery(tmp_path, dns, anchor, port):
    # RFC 5321 §4.1.1.4: only 354 lets the message go; a 250 to DATA means
    # nothing was sent, so the recipient stays for a later attempt
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.71"]})
    with Sink("127.0.0.71", port, data_init_reply="250 2.0.0 fine") as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      mx_port=port)
    r = out["rcpts"][0]
    assert (r["status"], r["enhanced"]) == ("tempfail", "4.5.0"), out
    assert "unexpected reply 250 to DATA" in r["text"]
    assert s.sessions[0]["data"] is None
    assert s.commands[-1] == "QUIT"


def test_size_too_big_refused_before_mail(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.36"]})
    with Sink("127.0.0.36", port, exts=["SIZE 50"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("permfail", "5.3.4")], out
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_8bit_needs_8bitmime(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.37"]})
    body = "Subject: x\r\n\r\ncaf\u00e9\r\n".encode()
    with Sink("127.0.0.37", port, exts=["PIPELINING"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path, body), ["a@" + domain], "--8bit",
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("permfail", "5.6.3")], out
    assert not any(c.startswith("MAIL") for c in s.commands)
    with Sink("127.0.0.37", port, exts=["8BITMIME"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path, body), ["a@" + domain], "--8bit",
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert "MAIL FROM:<a@sender.test> BODY=8BITMIME" in s.commands
    assert s.sessions[0]["data"] == body


def test_smtputf8_needed_but_not_offered(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.38"]})
    with Sink("127.0.0.38", port, exts=["8BITMIME"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["j\u00f6rg@" + domain],
                      "--smtputf8", "--domain", domain, mx_port=port)
    assert statuses(out) == [("permfail", "5.6.7")], out
    assert not any(c.startswith("MAIL") for c in s.commands)
    with Sink("127.0.0.38", port, exts=["8BITMIME", "SMTPUTF8"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["j\u00f6rg@" + domain],
                      "--smtputf8", "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert "MAIL FROM:<a@sender.test> SMTPUTF8" in s.commands


def test_dot_stuffing_and_final_crlf(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.39"]})
    body = b"Subject: dots\r\n\r\n.\r\n..two\r\n.x\r\nno final newline"
    with Sink("127.0.0.39", port) as s:
        out = deliver(dns, anchor, write_message(tmp_path, body), ["a@" + domain],
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert s.sessions[0]["data"] == body + b"\r\n"


def test_chunking_uses_bdat(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.40"]})
    body = b"Subject: big\r\n\r\n" + b"".join(b".line %06d\r\n" % i for i in range(40000))
    with Sink("127.0.0.40", port, exts=["PIPELINING", "CHUNKING", "SIZE 10000000"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path, body), ["a@" + domain],
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    sess = s.sessions[0]
    assert "DATA" not in sess["commands"]
    assert len(sess["bdat"]) >= 2 and sess["bdat"][-1].endswith(" LAST")
    assert sess["data"] == body    # no dot-stuffing with BDAT


def test_ehlo_refused_falls_back_to_helo(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.41"]})
    with Sink("127.0.0.41", port, ehlo_code=502) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain],
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert s.commands[:2] == ["EHLO client.tern.test", "HELO client.tern.test"]
    assert "MAIL FROM:<a@sender.test>" in s.commands   # no ESMTP parameters after HELO


def test_opportunistic_starttls_unverified(tmp_path, dns, anchor, port, certs):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.42"]})
    cert = certs.leaf("other.name.test", signed=False)
    with Sink("127.0.0.42", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain],
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"] == {"policy": "none", "tls": True, "failure": None,
                          "mx_host": "mx." + domain, "ip": "127.0.0.42",
                          "sending_ip": "127.0.0.1", "additional_info": ""}
    cmds = s.commands
    assert cmds[:3] == ["EHLO client.tern.test", "STARTTLS", "EHLO client.tern.test"]
    assert s.sessions[0]["tls"] is True


def test_requiretls_without_verified_tls_never_sent(tmp_path, dns, anchor, port, certs):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.43"]})
    with Sink("127.0.0.43", port, exts=["PIPELINING", "REQUIRETLS"]) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--requiretls",
                      "--domain", domain, mx_port=port)
    assert statuses(out) == [("permfail", "5.7.10")], out
    assert not any(c.startswith("MAIL") for c in s.commands)


DEFAULT_TLS_EXTS = ["PIPELINING", "8BITMIME", "STARTTLS", "ENHANCEDSTATUSCODES"]


# --- smarthost ---

def test_smarthost_auth_plain_over_starttls(tmp_path, dns, anchor, certs):
    replace_zone(dns, "relay.test.", {"smart": ["A 127.0.0.44"]})
    cert = certs.leaf("smart.relay.test")
    p = free_ports(1)[0]
    with Sink("127.0.0.44", p, exts=["STARTTLS", "AUTH PLAIN LOGIN", "8BITMIME"], cert=cert,
              auth=("user", "pass")) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["x@far.test"],
                      "--host", "smart.relay.test", "--port", str(p), "--tls", "required",
                      "--ca-file", certs.ca_path, "--auth-user", "user",
                      "--auth-password", "pass")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert s.sessions[0]["auth"] == "PLAIN" and s.sessions[0]["tls"] is True
    assert out["tls"]["tls"] is True and out["tls"]["failure"] is None


def test_smarthost_required_tls_bad_certificate(tmp_path, dns, anchor, certs):
    replace_zone(dns, "relay2.test.", {"smart": ["A 127.0.0.45"]})
    cert = certs.leaf("smart.relay2.test", signed=False)
    p = free_ports(1)[0]
    with Sink("127.0.0.45", p, exts=["STARTTLS"], cert=cert) as s:
        out = deliver(dns, anchor, write_message(tmp_path), ["x@far.test"],
                      "--host", "smart.relay2.test", "--port", str(p), "--tls", "required",
                      "--ca-file", certs.ca_path)
    assert statuses(out) == [("tempfail", "4.7.5")], out
    assert out["tls"]["failure"] == "certificate-not-trusted"
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_smarthost_scram_to_tern_submission_and_submissions(tmp_path, dns, anchor):
    gen = serve(passwords={"alice": "s3cret-pw"})
    srv = next(gen)
    try:
        mx_is_tern(dns)

        def message(text):
            subject = token()
            return subject, write_message(
                tmp_path, "From: alice@example.test\r\nTo: alice@example.test\r\n"
                "Subject: %s\r\n\r\n%s\r\n" % (subject, text))

        def submit(msg, port, tls, password="s3cret-pw"):
            return deliver(dns, anchor, msg, ["alice@example.test"], "--host",
                           "mail.example.test", "--port", str(port), "--tls", tls,
                           "--ca-file", str(srv.confdir / "tls.crt"),
                           "--auth-user", "alice@example.test", "--auth-password", password,
                           "--from", "alice@example.test")

        subject, msg = message("via submission")
        out = submit(msg, srv.sub_port, "required")
        assert statuses(out)[0][0] == "delivered", out["rcpts"][0]["text"]
        srv.wait_message(subject)
        # implicit TLS (RFC 8314 §3) to the submissions port
        subject, msg = message("via submissions")
        out = submit(msg, srv.subs_port, "implicit")
        assert statuses(out)[0][0] == "delivered", out["rcpts"][0]["text"]
        assert out["tls"]["tls"] is True
        srv.wait_message(subject)
        # both sessions bound SCRAM to the TLS session (RFC 5802 §6, RFC 9266)
        assert srv.logs().count("mechanism=SCRAM-SHA-256-PLUS user=alice@example.test") == 2
        # a wrong password: no delivery
        out = submit(msg, srv.subs_port, "implicit", password="wrong")
        r = out["rcpts"][0]
        assert (r["status"], r["code"]) == ("tempfail", 535), out
    finally:
        gen.close()


# --- MTA-STS (RFC 8461) ---

def sts_setup(dns, certs, mode, mx_name="mx", policy_mx=None):
    """A domain with an MTA-STS record and a policy server; returns (domain, server)."""
    domain = new_domain(dns, {})
    policy = "version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 86400\r\n" % (
        mode, policy_mx or ("*." + domain))
    pcert = certs.leaf("mta-sts." + domain)
    server = PolicyServer(*pcert, policy)
    return domain, server


def sts_deliver(tmp_path, dns, anchor, certs, domain, server, port, *extra):
    return deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                   "--ca-file", certs.ca_path, "--mtasts-cache", str(tmp_path / "sts"),
                   "--mtasts-port", str(server.port), *extra, mx_port=port)


def sts_zone(dns, domain, addr, policy_id="1"):
    replace_zone(dns, domain, {"@": ["MX 10 mx"], "mx": ["A " + addr],
                                "_mta-sts": ['TXT "v=STSv1; id=%s;"' % policy_id],
                                "mta-sts": ["A 127.0.0.1"]})


def test_mtasts_enforce_valid_certificate_delivers_and_caches(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "enforce")
    sts_zone(dns, domain, "127.0.0.50")
    try:
        cert = certs.leaf("mx." + domain)
        with Sink("127.0.0.50", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
            assert statuses(out) == [("delivered", "2.0.0")], out
            assert out["tls"]["policy"] == "mta-sts" and out["tls"]["failure"] is None
            assert s.sessions[0]["tls"] is True
            assert server.requests == 1
            # the cached policy is used while the record's id stays the same
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
            assert statuses(out) == [("delivered", "2.0.0")], out
            assert server.requests == 1
            # a new id makes the client fetch again
            sts_zone(dns, domain, "127.0.0.50", policy_id="2")
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
            assert statuses(out) == [("delivered", "2.0.0")], out
            assert server.requests == 2
        cache = (tmp_path / "sts" / domain).read_text()
        assert cache.startswith("id: 2\n") and "mode: enforce" in cache
    finally:
        server.stop()


def test_mtasts_enforce_bad_certificate_not_delivered(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "enforce")
    sts_zone(dns, domain, "127.0.0.51")
    try:
        cert = certs.leaf("mx." + domain, signed=False)
        with Sink("127.0.0.51", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("tempfail", "4.7.5")], out
        assert out["tls"]["policy"] == "mta-sts"
        assert out["tls"]["failure"] == "certificate-not-trusted"
        # RFC 8460 §4.4 failure details: our address, and why
        assert out["tls"]["sending_ip"] == "127.0.0.1", out
        assert "certificate" in out["tls"]["additional_info"], out
        assert not any(c.startswith("MAIL") for c in s.commands)
    finally:
        server.stop()


def test_mtasts_enforce_without_starttls_not_delivered(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "enforce")
    sts_zone(dns, domain, "127.0.0.52")
    try:
        with Sink("127.0.0.52", port) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("tempfail", "4.7.4")], out
        assert out["tls"]["additional_info"] == "STARTTLS not offered in the EHLO reply", out
        assert out["tls"]["failure"] == "starttls-not-supported"
        assert not any(c.startswith("MAIL") for c in s.commands)
    finally:
        server.stop()


def test_mtasts_enforce_mx_not_in_policy(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "enforce", policy_mx="other.example")
    sts_zone(dns, domain, "127.0.0.53")
    try:
        cert = certs.leaf("mx." + domain)
        with Sink("127.0.0.53", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("tempfail", "4.7.5")], out
        assert s.sessions == []
    finally:
        server.stop()


def test_mtasts_testing_bad_certificate_delivers_and_reports(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "testing")
    sts_zone(dns, domain, "127.0.0.54")
    try:
        cert = certs.leaf("mx." + domain, signed=False)
        with Sink("127.0.0.54", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("delivered", "2.0.0")], out
        assert out["tls"]["policy"] == "mta-sts"
        assert out["tls"]["failure"] == "certificate-not-trusted"
        assert s.sessions[0]["tls"] is True
    finally:
        server.stop()


def test_mtasts_testing_mismatch_reported_for_that_host_only(tmp_path, dns, anchor, port, certs):
    # RFC 8461 §4.1: in testing mode an MX host the policy does not name is
    # reported; a later host that the policy names and that validates is not
    domain, server = sts_setup(dns, certs, "testing")
    try:
        server_policy_mx = "mx." + domain
        server.stop()
        server = PolicyServer(*certs.leaf("mta-sts." + domain),
                              "version: STSv1\r\nmode: testing\r\nmx: %s\r\n"
                              "max_age: 86400\r\n" % server_policy_mx)
        replace_zone(dns, domain, {"@": ["MX 10 other", "MX 20 mx"],
                                    "other": ["A 127.0.0.72"], "mx": ["A 127.0.0.73"],
                                    "_mta-sts": ['TXT "v=STSv1; id=1;"'],
                                    "mta-sts": ["A 127.0.0.1"]})
        cert = certs.leaf("mx." + domain)
        with Sink("127.0.0.73", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("delivered", "2.0.0")], out
        assert out["tls"]["mx_host"] == "mx." + domain, out
        assert out["tls"]["policy"] == "mta-sts" and out["tls"]["failure"] is None, out
        assert s.sessions[0]["tls"] is True
    finally:
        server.stop()


def test_every_session_of_an_attempt_is_reported(tmp_path, dns, anchor, port, certs):
    # RFC 8460 §4.3: the first MX host's failed session counts beside the
    # second host's successful one
    domain, server = sts_setup(dns, certs, "enforce")
    try:
        replace_zone(dns, domain, {"@": ["MX 10 mx1", "MX 20 mx2"],
                                    "mx1": ["A 127.0.0.74"], "mx2": ["A 127.0.0.75"],
                                    "_mta-sts": ['TXT "v=STSv1; id=1;"'],
                                    "mta-sts": ["A 127.0.0.1"]})
        bad = certs.leaf("mx1." + domain, signed=False)
        good = certs.leaf("mx2." + domain)
        with Sink("127.0.0.74", port, exts=DEFAULT_TLS_EXTS, cert=bad), \
                Sink("127.0.0.75", port, exts=DEFAULT_TLS_EXTS, cert=good) as s2:
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("delivered", "2.0.0")], out
        assert s2.sessions[0]["data"] is not None
        first, second = out["tls_sessions"]
        assert (first["mx_host"], first["failure"]) == ("mx1." + domain,
                                                        "certificate-not-trusted"), out
        assert first["policy"] == "mta-sts" and first["additional_info"] != "", out
        # RFC 8460 §4.4 policy-string: the policy's lines
        assert first["policy_strings"].split("\n") == [
            "version: STSv1", "mode: enforce", "mx: *." + domain, "max_age: 86400"], out
        assert (second["mx_host"], second["failure"], second["tls"]) == ("mx2." + domain, None,
                                                                         True), out
    finally:
        server.stop()


def test_mtasts_policy_fetch_failure_is_opportunistic(tmp_path, dns, anchor, port, certs):
    domain = new_domain(dns, {})
    sts_zone(dns, domain, "127.0.0.55")   # a record, but no policy server answers
    cert = certs.leaf("mx." + domain, signed=False)
    with Sink("127.0.0.55", port, exts=DEFAULT_TLS_EXTS, cert=cert):
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      "--ca-file", certs.ca_path, "--mtasts-cache", str(tmp_path / "sts"),
                      "--mtasts-port", str(free_ports(1)[0]), mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"]["tls"] is True
    assert out["tls"]["policy"] == "mta-sts"
    assert out["tls"]["failure"] == "sts-policy-fetch-error"


# --- DANE (RFC 7672) ---

@pytest.fixture(scope="module")
def dane(tmp_path_factory, certs):
    """Signed zone dane.test. with MX hosts whose TLSA records match, do not
    match, or are unusable; returns (zone, certs by host, the DS anchor file)."""
    host_certs = {
        "ee": certs.leaf("mx-ee.dane.test", signed=False, expired=True),
        "bad": certs.leaf("mx-bad.dane.test", signed=False),
        "ta": certs.leaf("mx-ta.dane.test"),
        "unusable": certs.leaf("mx-unusable.dane.test", signed=False),
    }
    ee_hash = Certs.spki_sha256(host_certs["ee"][0])
    body = """ee IN MX 10 mx-ee
mx-ee IN A 127.0.0.60
_25._tcp.mx-ee IN TLSA 3 1 1 {ee}
bad IN MX 10 mx-bad
mx-bad IN A 127.0.0.61
_25._tcp.mx-bad IN TLSA 3 1 1 {zero}
ta IN MX 10 mx-ta
mx-ta IN A 127.0.0.62
_25._tcp.mx-ta IN TLSA 2 0 1 {ca}
unusable IN MX 10 mx-unusable
mx-unusable IN A 127.0.0.63
_25._tcp.mx-unusable IN TLSA 1 1 1 {ee}
rtls IN MX 10 mx-rtls
mx-rtls IN A 127.0.0.64
_25._tcp.mx-rtls IN TLSA 3 1 1 {ee}
notls IN MX 10 mx-notls
mx-notls IN A 127.0.0.65
_25._tcp.mx-notls IN TLSA 3 1 1 {ee}
bogus IN MX 10 mx-bogus
mx-bogus IN A 127.0.0.67
_25._tcp.mx-bogus IN TLSA 3 1 1 {bogus}
cname IN MX 10 mx-cname
mx-cname IN CNAME host-cname
host-cname IN A 127.0.0.68
_25._tcp.host-cname IN TLSA 3 1 1 {ee}
_25._tcp.mx-cname IN TLSA 3 1 1 {zero}
cname2 IN MX 10 mx-cname2
mx-cname2 IN CNAME host-cname2
host-cname2 IN A 127.0.0.69
_25._tcp.mx-cname2 IN TLSA 3 1 1 {ee}
""".format(ee=ee_hash, zero="00" * 32, ca=certs.ca_sha256(), bogus="11" * 32)

    def tamper(text):
        # the TLSA record of mx-bogus no longer matches its signature
        return text.replace("11" * 32, ee_hash.upper()).replace("11" * 32, ee_hash)

    d = tmp_path_factory.mktemp("dane")
    with SignedZone(d / "zone", "dane.test.", body, tamper=tamper) as z:
        ta = d / "ta"
        ta.write_text("\n".join(z.trust_anchors + [dnsfixture.UNRELATED_TRUST_ANCHOR]) + "\n")
        yield z, host_certs, ta


def dane_deliver(tmp_path, dns, dane, port, domain, *extra):
    z, _, ta = dane
    return deliver(dns, ta, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                   *extra, mx_port=port, extra_dns=["dane.test.=" + z.addr])


def test_dane_ee_match_delivers_despite_name_and_expiry(tmp_path, dns, dane, port):
    _, host_certs, _ = dane
    with Sink("127.0.0.60", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ee"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "ee.dane.test")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"]["policy"] == "dane" and out["tls"]["failure"] is None
    assert s.sessions[0]["tls"] is True
    # RFC 8460 §4.4 policy-string: the TLSA record in presentation form
    (session,) = out["tls_sessions"]
    assert session["policy_strings"] == "3 1 1 " + Certs.spki_sha256(host_certs["ee"][0]).upper()


def test_dane_mx_host_cname_uses_the_expanded_names_tlsa(tmp_path, dns, dane, port):
    # RFC 7672 §2.2.2: a secure CNAME: the TLSA records of the expanded name
    # (which match), not those of the original (which would not)
    _, host_certs, _ = dane
    with Sink("127.0.0.68", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ee"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "cname.dane.test")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"]["policy"] == "dane" and s.sessions[0]["tls"] is True
    # the expanded name has none: the original name's records apply
    with Sink("127.0.0.69", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["bad"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "cname2.dane.test")
    assert statuses(out) == [("tempfail", "4.7.5")], out
    assert out["tls"]["policy"] == "dane"
    assert not any(c.startswith("MAIL") for c in s.commands)
    with Sink("127.0.0.69", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ee"]):
        out = dane_deliver(tmp_path, dns, dane, port, "cname2.dane.test")
    assert statuses(out) == [("delivered", "2.0.0")], out


def test_dane_mismatch_not_delivered(tmp_path, dns, dane, port):
    _, host_certs, _ = dane
    with Sink("127.0.0.61", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["bad"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "bad.dane.test")
    assert statuses(out) == [("tempfail", "4.7.5")], out
    assert out["tls"]["policy"] == "dane"
    assert out["tls"]["failure"] == "validation-failure"
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_dane_ta_chain_to_the_ca_delivers(tmp_path, dns, dane, port):
    _, host_certs, _ = dane
    with Sink("127.0.0.62", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ta"]):
        out = dane_deliver(tmp_path, dns, dane, port, "ta.dane.test")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"]["policy"] == "dane"


def test_dane_unusable_records_require_tls_only(tmp_path, dns, dane, port):
    _, host_certs, _ = dane
    # PKIX-EE(1) is not for SMTP: TLS is still required, without authentication
    with Sink("127.0.0.63", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["unusable"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "unusable.dane.test")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert s.sessions[0]["tls"] is True
    with Sink("127.0.0.63", port) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "unusable.dane.test")
    assert statuses(out) == [("tempfail", "4.7.4")], out
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_dane_without_starttls_not_delivered(tmp_path, dns, dane, port):
    with Sink("127.0.0.65", port) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "notls.dane.test")
    assert statuses(out) == [("tempfail", "4.7.4")], out
    assert out["tls"]["failure"] == "starttls-not-supported"
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_dane_requiretls_delivers_with_parameter(tmp_path, dns, dane, port):
    _, host_certs, _ = dane
    with Sink("127.0.0.64", port, exts=DEFAULT_TLS_EXTS + ["REQUIRETLS"],
              cert=host_certs["ee"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "rtls.dane.test", "--requiretls")
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert any(c.startswith("MAIL") and c.endswith(" REQUIRETLS") for c in s.commands)
    # the same host without REQUIRETLS in its EHLO: never sent
    with Sink("127.0.0.64", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ee"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "rtls.dane.test", "--requiretls")
    assert statuses(out) == [("permfail", "5.7.10")], out
    assert not any(c.startswith("MAIL") for c in s.commands)


def test_insecure_tlsa_ignored(tmp_path, dns, dane, port, certs):
    # the same records in an unsigned zone: no DANE, opportunistic TLS
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.66"],
                              "_25._tcp.mx": ["TLSA 3 1 1 " + "00" * 32]})
    cert = certs.leaf("mx." + domain, signed=False)
    with Sink("127.0.0.66", port, exts=DEFAULT_TLS_EXTS, cert=cert) as s:
        out = dane_deliver(tmp_path, dns, dane, port, domain)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["tls"]["policy"] == "none" and out["tls"]["tls"] is True
    assert s.sessions[0]["tls"] is True


# --- two hosts on the standard port (network namespaces) ---

PROBE = """
import socket, sys, time
for _ in range(150):
    try:
        with socket.create_connection((sys.argv[1], 25), timeout=2) as s:
            if s.recv(100).startswith(b"220"):
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_two_hosts_mx_delivery_on_port_25(tmp_path):
    import netns
    from conftest import make_world_dir
    from smtpfixture import SmtpServer
    with netns.Lab(["sender", "receiver"]) as lab:
        lab.dns.add_zone("example.test.", {"@": ["MX 10 mx"], "mx": ["A " + lab.ip("receiver")]})
        srv = SmtpServer(make_world_dir(), ports=(25, 587, 465), dns_addr=lab.dns_addr)
        srv.config.write_text(srv.config.read_text().replace(
            "IPs: [127.0.0.1]", "IPs: [%s]" % lab.ip("receiver")))
        srv.command_prefix = lab.prefix("receiver")
        srv.start(wait=False)
        try:
            srv.wait_ready()
            probe = lab.run("sender", "/usr/bin/python3", "-c", PROBE, lab.ip("receiver"))
            assert probe.returncode == 0, srv.logs()
            anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "ta")
            subject = token()
            msg = write_message(tmp_path, "From: a@sender.test\r\nTo: alice@example.test\r\n"
                                "Subject: %s\r\n\r\nacross hosts\r\n" % subject)
            r = lab.run("sender", str(DELIVER_BIN), "--dns", lab.dns_addr, "--trust-anchor-file",
                        anchor, "--message", str(msg), "--from", "a@sender.test",
                        "--rcpt", "alice@example.test", "--domain", "example.test")
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            rc = out["rcpts"][0]
            assert (rc["status"], rc["code"]) == ("delivered", 250), out
            assert rc["remote_mta"] == "mx.example.test" and rc["remote_ip"] == lab.ip("receiver")
            assert out["tls"]["tls"] is True
            stored = srv.wait_message(subject)
            assert lab.ip("sender") in stored.get("Received", "")
        finally:
            srv.cleanup()
            shutil.rmtree(srv.root, ignore_errors=True)


def test_unsendable_recipient_fails_alone(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.46"]})
    with Sink("127.0.0.46", port) as s:
        out = deliver(dns, anchor, write_message(tmp_path),
                      ["ok@" + domain, "bad>\r\nDATA@" + domain], "--domain", domain,
                      mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0"), ("permfail", "5.1.3")], out
    assert [c for c in s.commands if c.startswith("RCPT")] == ["RCPT TO:<ok@%s>" % domain]


def test_silent_server_times_out_and_next_host_is_tried(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx1", "MX 20 mx2"], "mx1": ["A 127.0.0.47"],
                              "mx2": ["A 127.0.0.48"]})
    with Sink("127.0.0.47", port, greeting=None), Sink("127.0.0.48", port) as good:
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      "--timeout", "1000", mx_port=port)
    assert statuses(out) == [("delivered", "2.0.0")], out
    assert out["rcpts"][0]["remote_mta"] == "mx2." + domain
    assert len(good.sessions) == 1
    with Sink("127.0.0.47", port, greeting=None):
        out = deliver(dns, anchor, write_message(tmp_path), ["a@" + domain], "--domain", domain,
                      "--timeout", "1000", mx_port=port)
    r = out["rcpts"][0]
    assert r["status"] == "tempfail", out
    # mx2 refused the connection last; mx1 timed out before it
    assert r["remote_mta"] == "mx2." + domain


def test_mtasts_expired_policy_is_fetched_again(tmp_path, dns, anchor, port, certs):
    domain, server = sts_setup(dns, certs, "enforce")
    sts_zone(dns, domain, "127.0.0.56")
    try:
        cache = tmp_path / "sts"
        cache.mkdir()
        # same id, but fetched long ago: max_age (86400) has passed (RFC 8461 §5.1)
        (cache / domain).write_text("id: 1\nfetched: 1000\n\nversion: STSv1\nmode: enforce\n"
                                    "mx: nothing.example\nmax_age: 86400\n")
        cert = certs.leaf("mx." + domain)
        with Sink("127.0.0.56", port, exts=DEFAULT_TLS_EXTS, cert=cert):
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        assert statuses(out) == [("delivered", "2.0.0")], out
        assert server.requests == 1
        assert "mx: *." + domain in (cache / domain).read_text()
    finally:
        server.stop()


def test_mtasts_policy_with_wrong_media_type_is_not_used(tmp_path, dns, anchor, port, certs):
    domain = new_domain(dns, {})
    sts_zone(dns, domain, "127.0.0.57")
    pcert = certs.leaf("mta-sts." + domain)
    server = PolicyServer(*pcert, "version: STSv1\nmode: enforce\nmx: none.example\n"
                          "max_age: 86400\n", content_type="text/html")
    try:
        cert = certs.leaf("mx." + domain, signed=False)
        with Sink("127.0.0.57", port, exts=DEFAULT_TLS_EXTS, cert=cert):
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        # RFC 8461 §3.3: only text/plain counts; without a policy: opportunistic
        assert statuses(out) == [("delivered", "2.0.0")], out
        assert out["tls"]["failure"] == "sts-policy-fetch-error"
        assert server.requests == 1
    finally:
        server.stop()


def test_dane_bogus_tlsa_not_delivered(tmp_path, dns, dane, port):
    # RFC 7672 §2.2: a TLSA lookup that fails validation leaves the host unused
    _, host_certs, _ = dane
    with Sink("127.0.0.67", port, exts=DEFAULT_TLS_EXTS, cert=host_certs["ee"]) as s:
        out = dane_deliver(tmp_path, dns, dane, port, "bogus.dane.test")
    assert statuses(out) == [("tempfail", "4.7.5")], out
    assert out["tls"]["policy"] == "dane" and out["tls"]["failure"] == "tlsa-invalid"
    assert "bogus" in out["rcpts"][0]["text"]
    assert s.sessions == []


def test_message_shorter_than_its_size_is_a_local_failure(tmp_path, dns, anchor, port):
    domain = new_domain(dns, {"@": ["MX 10 mx"], "mx": ["A 127.0.0.49"]})
    msg = write_message(tmp_path)
    with Sink("127.0.0.49", port, exts=["CHUNKING", "PIPELINING"]) as s:
        out = deliver(dns, anchor, msg, ["a@" + domain], "--domain", domain,
                      "--size", str(msg.stat().st_size + 10), mx_port=port)
    assert out["rc"] == -1 and "shorter than its size" in out["error"], out
    assert out["rcpts"][0]["status"] == "tempfail"
    assert s.sessions[0]["data"] is None     # the LAST chunk was never sent


@pytest.mark.parametrize("case", ["webpki", "invalid"])
def test_mtasts_policy_failures_reported(tmp_path, dns, anchor, port, certs, case):
    domain = new_domain(dns, {})
    sts_zone(dns, domain, "127.0.0.58")
    body = "version: STSv1\nmode: enforce\nmx: none.example\nmax_age: 86400\n"
    if case == "webpki":
        pcert = certs.leaf("mta-sts." + domain, signed=False)
    else:
        pcert = certs.leaf("mta-sts." + domain)
        body = "version: STSv1\nmode: enforce\nmax_age: 86400\n"   # no mx
    server = PolicyServer(*pcert, body)
    try:
        with Sink("127.0.0.58", port):
            out = sts_deliver(tmp_path, dns, anchor, certs, domain, server, port)
        # RFC 8461 §5: without a usable policy, delivery goes on
        assert statuses(out) == [("delivered", "2.0.0")], out
        want = {"webpki": "sts-webpki-invalid", "invalid": "sts-policy-invalid"}[case]
        assert out["tls"] == {"policy": "mta-sts", "tls": False, "failure": want,
                              "mx_host": "mx." + domain, "ip": "127.0.0.58",
                              "sending_ip": "127.0.0.1", "additional_info": ""}
        assert not (tmp_path / "sts" / domain).exists()
    finally:
        server.stop()
