"""Email authentication of mail received on port 25, end to end: the test
DNS server publishes SPF (and, as they come, DKIM and DMARC) records; tern
writes the results into Received-SPF and Authentication-Results (RFC 8601)
and acts on them."""
import pytest

from smtpfixture import RawSMTP, mbox_headers, message, serve, shared_dns, token, with_token

DOMAINS = """\
Domains:
  example.test: {}
Accounts:
  alice:
    Domain: example.test
    Destinations:
      alice@example.test: {}
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
