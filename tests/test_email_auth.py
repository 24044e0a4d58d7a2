"""Email authentication of mail received on port 25, end to end: the test
DNS server publishes SPF (and, as they come, DKIM and DMARC) records; tern
writes the results into Received-SPF and Authentication-Results (RFC 8601)
and acts on them."""
import email.message
import email.policy
import gzip
import sqlite3
import subprocess

import pytest

from conftest import tern_bin
from smtpfixture import RawSMTP, mbox_headers, message, serve, shared_dns, token, with_token
from test_reports import DMARC_XML, TLSRPT_JSON

DOMAINS = """\
Domains:
  example.test: {}
Accounts:
  alice:
    Domain: example.test
    Destinations:
      alice@example.test: {}
      dmarc-reports@example.test:
        Mailbox: Reports
        Reports: dmarc
      tls-reports@example.test:
        Mailbox: Reports
        Reports: tlsrpt
"""


def dkim_key(directory):
    """A new Ed25519 key made by `tern dkim gened25519`: (key file, TXT record)."""
    key = directory / "dkim.pem"
    p = subprocess.run([tern_bin(), "dkim", "gened25519"], capture_output=True, text=True,
                       check=True)
    key.write_text(p.stdout)
    record = [l for l in p.stderr.splitlines() if l.startswith("v=DKIM1;")][0]
    return key, record


@pytest.fixture(scope="module")
def dkim(tmp_path_factory):
    return dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(scope="module")
def srv(dkim):
    key, record = dkim
    dns = shared_dns()
    # good.test: SPF, DKIM and DMARC all in order, with aggregate reports asked for
    dns.add_zone("good.test.", {"@": ['TXT "v=spf1 ip4:127.0.0.1 -all"'],
                                "s1._domainkey": [f'TXT "{record}"'],
                                "_dmarc": ['TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"']})
    # bank.test: p=reject, and this client is not allowed to send for it
    dns.add_zone("bank.test.", {"@": ['TXT "v=spf1 ip4:192.0.2.1 -all"'],
                                "_dmarc": ['TXT "v=DMARC1; p=reject"']})
    # shop.test: the same with p=quarantine
    dns.add_zone("shop.test.", {"@": ['TXT "v=spf1 ip4:192.0.2.1 -all"'],
                                "_dmarc": ['TXT "v=DMARC1; p=quarantine"']})
    # fwd.test: SPF fails (a forwarder), its DKIM signature carries DMARC
    dns.add_zone("fwd.test.", {"@": ['TXT "v=spf1 ip4:192.0.2.1 -all"'],
                               "s1._domainkey": [f'TXT "{record}"'],
                               "_dmarc": ['TXT "v=DMARC1; p=reject"']})
    dns.add_zone("spfpass.test.", {"@": ['TXT "v=spf1 ip4:127.0.0.1 -all"']})
    dns.add_zone("spffail.test.", {"@": ['TXT "v=spf1 ip4:192.0.2.1 -all"']})
    dns.add_zone("spfhelo.test.", {"relay": ['TXT "v=spf1 a:relay.spfhelo.test -all"',
                                             "A 127.0.0.1"]})
    yield from serve(domains=DOMAINS, max_size=3_000_000)


def deliver(srv, mail_from, ehlo="relay.example.org", frm=None):
    tok = token()
    with RawSMTP(srv.smtp_port) as c:
        c.ehlo(ehlo)
        c.expect(f"MAIL FROM:<{mail_from}>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        r = c.data(message(frm=frm or mail_from or "x@example.org", subject=tok))
    return tok, r


def unfolded_headers(srv, tok):
    [(box, m)] = with_token(srv, "alice", tok)
    return mbox_headers(m).replace("\n\t", " ").replace("\n ", " "), box


def test_spf_pass(srv):
    tok, r = deliver(srv, "news@spfpass.test")
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "spf=pass smtp.mailfrom=news@spfpass.test" in h, h
    assert "\nReceived-SPF: pass (" in "\n" + h and "mechanism=\"ip4:127.0.0.1\";" in h, h


def test_spf_fail_is_recorded(srv):
    # Without a DMARC policy a failing SPF is only recorded.
    tok, r = deliver(srv, "news@spffail.test")
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "spf=fail smtp.mailfrom=news@spffail.test" in h, h
    assert "\nReceived-SPF: fail (" in "\n" + h, h
    assert box == "Inbox"


def test_spf_null_sender_uses_helo(srv):
    # RFC 7208 §2.4: for the null path the HELO name is checked
    tok, r = deliver(srv, "", ehlo="relay.spfhelo.test", frm="mailer-daemon@spfhelo.test")
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "spf=pass smtp.helo=relay.spfhelo.test" in h, h


def report_mail(to, payload, maintype, subtype, filename, tok):
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = "noreply-dmarc-support@google.com"
    m["To"] = to
    m["Subject"] = "Report " + tok
    m.set_content("This is a report.\n")
    m.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes()


def send_report(srv, to, msg):
    with RawSMTP(srv.smtp_port) as c:
        c.ehlo("mail-sor-f41.google.com")
        c.expect("MAIL FROM:<noreply-dmarc-support@google.com>", 250)
        c.expect(f"RCPT TO:<{to}>", 250)
        return c.data(msg)


def stored_reports(srv, table):
    db = sqlite3.connect(f"file:{srv.data / 'tern.db'}?mode=ro", uri=True)
    try:
        return db.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        db.close()


def test_reports_kept_in_tern_db(srv):
    # A DMARC aggregate report about our domain sent to the dmarc report
    # address is delivered as mail and kept in tern.db; one about someone
    # else's domain, and one sent to a plain address, are mail only.
    ours = DMARC_XML.replace("<domain>example.org</domain>", "<domain>example.test</domain>")
    tok = token()
    r = send_report(srv, "dmarc-reports@example.test", report_mail(
        "dmarc-reports@example.test", gzip.compress(ours.encode()), "application", "gzip",
        "google.com!example.test!1700006400!1700092799.xml.gz", tok))
    assert r.code == 250, r
    [(box, m)] = with_token(srv, "alice", tok)
    assert box == "Reports"
    rows = stored_reports(srv, "dmarc_report")
    assert len(rows) == 1 and "example.test" in rows[0] and "4711" in rows[0], rows
    theirs = DMARC_XML.replace("<report_id>4711</report_id>", "<report_id>4712</report_id>")
    tok = token()
    send_report(srv, "dmarc-reports@example.test", report_mail(
        "dmarc-reports@example.test", theirs.encode(), "application", "xml", "r.xml", tok))
    tok2 = token()
    send_report(srv, "alice@example.test", report_mail(
        "alice@example.test", ours.replace("4711", "4713").encode(), "application", "xml",
        "r.xml", tok2))
    assert with_token(srv, "alice", tok) and with_token(srv, "alice", tok2)
    assert len(stored_reports(srv, "dmarc_report")) == 1
    # a TLS report for our domain, gzip as RFC 8460 §5.3 sends it
    import json
    tls = dict(TLSRPT_JSON)
    tls["policies"] = [dict(TLSRPT_JSON["policies"][0])]
    tls["policies"][0]["policy"] = dict(tls["policies"][0]["policy"], **{"policy-domain": "example.test"})
    tok = token()
    r = send_report(srv, "tls-reports@example.test", report_mail(
        "tls-reports@example.test", gzip.compress(json.dumps(tls).encode()), "application",
        "tlsrpt+gzip", "report.json.gz", tok))
    assert r.code == 250, r
    assert len(stored_reports(srv, "tlsrpt_report")) == 1


def signed(msg, domain, key, tmp_path):
    """msg with a DKIM signature of domain (selector s1) by `tern dkim sign`."""
    f = tmp_path / "msg.eml"
    f.write_bytes(msg)
    p = subprocess.run([tern_bin(), "dkim", "sign", "-domain", domain, "-selector", "s1",
                        "-key", str(key), str(f)], capture_output=True, check=True)
    return p.stdout


def send(srv, mail_from, msg):
    with RawSMTP(srv.smtp_port) as c:
        c.ehlo("relay.example.org")
        c.expect(f"MAIL FROM:<{mail_from}>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        return c.data(msg)


def test_dmarc_pass_spf_dkim(srv, dkim, tmp_path):
    tok = token()
    msg = signed(message(frm="news@good.test", subject=tok), "good.test", dkim[0], tmp_path)
    r = send(srv, "bounces@good.test", msg)
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "spf=pass smtp.mailfrom=bounces@good.test" in h, h
    assert "dkim=pass header.d=good.test header.s=s1 header.a=ed25519-sha256" in h, h
    assert "dmarc=pass (p=reject dis=none) header.from=good.test" in h, h
    assert box == "Inbox"
    # good.test asks for aggregate reports: the evaluation is recorded for them
    rows = stored_reports(srv, "dmarc_eval")
    assert any("good.test" in row for row in rows), rows


def test_dmarc_reject(srv):
    # forged From under p=reject: refused before anything is stored
    tok = token()
    r = send(srv, "ceo@bank.test", message(frm="ceo@bank.test", subject=tok))
    assert r.code == 550 and r.lines[0].startswith("5.7.1"), r
    assert "DMARC policy of bank.test says reject" in r.text, r
    assert with_token(srv, "alice", tok) == []


def test_dmarc_quarantine_goes_to_junk(srv):
    tok = token()
    r = send(srv, "offers@shop.test", message(frm="offers@shop.test", subject=tok))
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert box == "Junk", box
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=shop.test" in h, h


def test_dmarc_pass_by_dkim_when_spf_fails(srv, dkim, tmp_path):
    # a forwarded message: SPF fails for the forwarder's address, the
    # original DKIM signature still aligns with From
    tok = token()
    msg = signed(message(frm="alerts@fwd.test", subject=tok), "fwd.test", dkim[0], tmp_path)
    r = send(srv, "alerts@fwd.test", msg)
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "spf=fail" in h and "dkim=pass header.d=fwd.test" in h, h
    assert "dmarc=pass" in h and box == "Inbox", h


def test_dkim_broken_signature(srv, dkim, tmp_path):
    # a signature that no longer matches the body fails DKIM, and with SPF
    # passing DMARC still passes
    tok = token()
    msg = signed(message(frm="news@good.test", subject=tok), "good.test", dkim[0], tmp_path)
    msg = msg.replace(b"Hello.", b"Hellx.")
    r = send(srv, "bounces@good.test", msg)
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "dkim=fail" in h and "header.d=good.test" in h, h
    assert "dmarc=pass" in h, h


def test_arc_sealed_by_forwarder(srv, dkim, tmp_path):
    # A forwarder (good.test) sealed the message with ARC (RFC 8617): the
    # chain verifies and is recorded with header.oldest-pass.
    tok = token()
    f = tmp_path / "fwd.eml"
    f.write_bytes(message(frm="someone@elsewhere.test", subject=tok))
    p = subprocess.run([tern_bin(), "arc", "sign", "-domain", "good.test", "-selector", "s1",
                        "-key", str(dkim[0]), "-authserv-id", "lists.good.test",
                        "-ar", "spf=pass smtp.mailfrom=someone@elsewhere.test", str(f)],
                       capture_output=True, check=True)
    # `tern arc sign` prints the ARC set to put in front of the message
    r = send(srv, "bounces@good.test", p.stdout + f.read_bytes())
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "arc=pass (i=1) header.oldest-pass=0 smtp.remote-ip=127.0.0.1" in h, h
    # a seal that no longer matches fails the chain
    tok = token()
    f.write_bytes(message(frm="someone@elsewhere.test", subject=tok))
    p = subprocess.run([tern_bin(), "arc", "sign", "-domain", "good.test", "-selector", "s1",
                        "-key", str(dkim[0]), "-authserv-id", "lists.good.test", str(f)],
                       capture_output=True, check=True)
    r = send(srv, "bounces@good.test", p.stdout + f.read_bytes().replace(b"Hello.", b"Hellx."))
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "arc=fail" in h, h


def test_dkim_of_a_spooled_message(srv, dkim, tmp_path):
    # over 1 MiB the message waits in a spool file; DKIM reads it back whole
    tok = token()
    body = "".join("%08d %s\r\n" % (i, "q" * 90) for i in range(15000))  # 1.5 MB
    msg = signed(message(frm="news@good.test", subject=tok, body=body), "good.test", dkim[0],
                 tmp_path)
    r = send(srv, "bounces@good.test", msg)
    assert r.code == 250, r
    h, box = unfolded_headers(srv, tok)
    assert "dkim=pass header.d=good.test" in h and "dmarc=pass" in h, h
