"""Email authentication of mail received on port 25, end to end: the test
DNS server publishes SPF (and, as they come, DKIM and DMARC) records; tern
writes the results into Received-SPF and Authentication-Results (RFC 8601)
and acts on them."""
import email.message
import email.policy
import gzip
import sqlite3

import pytest

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


@pytest.fixture(scope="module")
def srv():
    dns = shared_dns()
    dns.add_zone("spfpass.test.", {"@": ['TXT "v=spf1 ip4:127.0.0.1 -all"']})
    dns.add_zone("spffail.test.", {"@": ['TXT "v=spf1 ip4:192.0.2.1 -all"']})
    dns.add_zone("spfhelo.test.", {"relay": ['TXT "v=spf1 a:relay.spfhelo.test -all"',
                                             "A 127.0.0.1"]})
    yield from serve(domains=DOMAINS)


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
