"""SEARCH, SORT and THREAD end to end: messages sent through tern's SMTP
listener, searched, sorted and threaded over IMAPS with imaplib and raw
sockets (RFC 9051 §6.4.4, RFC 4731, RFC 5182, RFC 5256)."""
import base64
import pytest

from imapfixture import PASSWORD, RawIMAP, imap_serve


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve()


ENCODED = base64.b64encode("Grüße aus Köln: the word is xylophone.\n".encode()).decode()


def mail(subject, msgid, date, body="Hello.\r\n", refs=None, frm="Ann <ann@example.org>",
         extra=""):
    lines = [f"From: {frm}", "To: bob@example.test", f"Subject: {subject}",
             f"Date: {date}", f"Message-ID: <{msgid}>"]
    if refs:
        lines.append(f"References: {refs}")
        lines.append(f"In-Reply-To: {refs.split()[-1]}")
    head = "\r\n".join(lines) + "\r\n" + extra
    return (head + "\r\n" + body).encode()


@pytest.fixture(scope="module")
def mailbox(srv):
    """bob's INBOX: a thread of three, an unrelated message, and one with a
    base64 body and an encoded subject."""
    text = ENCODED
    msgs = [
        mail("Plans", "p1@example.org", "Mon, 1 Jan 2024 10:00:00 +0000"),
        mail("Re: Plans", "p2@example.org", "Tue, 2 Jan 2024 10:00:00 +0000",
             refs="<p1@example.org>", frm="Zoe <zoe@example.org>"),
        mail("Lunch", "l1@example.org", "Wed, 3 Jan 2024 10:00:00 +0000",
             frm="Carl <carl@example.org>", body="a much longer body, with more words in it\r\n"),
        mail("Re: Re: Plans", "p3@example.org", "Thu, 4 Jan 2024 10:00:00 +0000",
             refs="<p1@example.org> <p2@example.org>", frm="Bea <bea@example.org>"),
        mail("=?ISO-8859-1?Q?Caf=E9?=", "c1@example.org", "Fri, 5 Jan 2024 10:00:00 +0000",
             body=text + "\r\n", frm="Dan <dan@example.org>",
             extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: base64\r\n"),
    ]
    for raw in msgs:
        srv.deliver("bob", raw=raw)
    return srv


def login(srv):
    m = srv.login("bob", PASSWORD)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"5"], data
    return m


def raw_login(srv):
    c = RawIMAP(srv.imaps_port, tls=True)
    c.login("bob", PASSWORD)
    tagged, lines = c.cmd("s1 SELECT INBOX")
    assert tagged.startswith(b"s1 OK"), lines
    return c


def test_search(mailbox):
    m = login(mailbox)
    try:
        assert m.search(None, "ALL") == ("OK", [b"1 2 3 4 5"])
        assert m.search(None, "SUBJECT", "plans") == ("OK", [b"1 2 4"])
        assert m.search(None, "NOT", "SUBJECT", "plans") == ("OK", [b"3 5"])
        assert m.search(None, "FROM", "zoe") == ("OK", [b"2"])
        assert m.search(None, "OR", "FROM", "carl", "FROM", "dan") == ("OK", [b"3 5"])
        assert m.search(None, "HEADER", "References", '""') == ("OK", [b"2 4"])
        assert m.search(None, "SENTBEFORE", "3-Jan-2024") == ("OK", [b"1 2"])
        assert m.search(None, "2:4", "UNSEEN") == ("OK", [b"2 3 4"])
        # substrings of the decoded base64 body and of the RFC 2047 subject
        assert m.search(None, "BODY", "ylophon") == ("OK", [b"5"])
        assert m.search(None, "TEXT", "XYLOPHONE") == ("OK", [b"5"])
        # the encoded form is not the text
        typ, data = m.search(None, "BODY", ENCODED[:12])
        assert typ == "OK" and data[0] in (b"", None), data
        # UTF-8 strings go as literals
        m.literal = "café".encode()
        assert m.search("UTF-8", "SUBJECT") == ("OK", [b"5"])
        m.literal = "KÖLN".encode()
        assert m.search("UTF-8", "BODY") == ("OK", [b"5"])
        typ, data = m.uid("SEARCH", "SUBJECT", "lunch")
        assert typ == "OK" and len(data[0].split()) == 1
    finally:
        m.logout()


def test_esearch_and_searchres(mailbox):
    c = raw_login(mailbox)
    try:
        tagged, lines = c.cmd("a1 SEARCH RETURN (MIN MAX COUNT) SUBJECT plans")
        assert lines == [b'* ESEARCH (TAG "a1") MIN 1 MAX 4 COUNT 3\r\n', tagged], lines
        assert tagged.startswith(b"a1 OK")
        tagged, lines = c.cmd("a2 SEARCH RETURN (COUNT) SUBJECT nothing-like-it")
        assert lines[0] == b'* ESEARCH (TAG "a2") COUNT 0\r\n', lines
        # RFC 5182: SAVE alone answers nothing; "$" is the saved result
        tagged, lines = c.cmd("a3 SEARCH RETURN (SAVE) FROM zoe")
        assert lines == [tagged] and tagged.startswith(b"a3 OK"), lines
        tagged, lines = c.cmd("a4 SEARCH OR $ FROM carl")
        assert lines[0] == b"* SEARCH 2 3\r\n", lines
        # RFC 9051 §6.4.4: BADCHARSET, and a failed SAVE empties "$"
        tagged, lines = c.cmd("a5 SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")
        assert tagged.startswith(b"a5 NO [BADCHARSET (UTF-8 US-ASCII)]"), lines
        tagged, lines = c.cmd("a6 SEARCH $")
        assert lines[0] == b"* SEARCH\r\n", lines
    finally:
        c.close()
    # IMAP4rev2 (enabled before SELECT, RFC 5161 §3.1): ESEARCH always
    c = RawIMAP(mailbox.imaps_port, tls=True)
    try:
        c.login("bob", PASSWORD)
        tagged, lines = c.cmd("a7 ENABLE IMAP4rev2")
        assert tagged.startswith(b"a7 OK"), lines
        tagged, lines = c.cmd("s2 SELECT INBOX")
        assert tagged.startswith(b"s2 OK"), lines
        tagged, lines = c.cmd("a8 SEARCH SUBJECT plans")
        assert lines[0] == b'* ESEARCH (TAG "a8") ALL 1:2,4\r\n', lines
        tagged, lines = c.cmd("a9 UID SEARCH SUBJECT nothing-like-it")
        assert lines[0] == b'* ESEARCH (TAG "a9") UID\r\n', lines
    finally:
        c.close()


def test_sort(mailbox):
    m = login(mailbox)
    try:
        # base subjects: plans, plans, lunch, plans, café
        assert m.sort("(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"5 3 1 2 4"])
        assert m.sort("(REVERSE DATE)", "UTF-8", "ALL") == ("OK", [b"5 4 3 2 1"])
        assert m.sort("(FROM)", "UTF-8", "ALL") == ("OK", [b"1 4 3 5 2"])
        assert m.sort("(REVERSE SIZE)", "UTF-8", "SUBJECT", "lunch") == ("OK", [b"3"])
        typ, data = m.uid("SEARCH", "ALL")
        uids = data[0].split()
        typ, data = m.uid("SORT", "(SUBJECT DATE)", "UTF-8", "ALL")
        assert typ == "OK"
        assert data[0].split() == [uids[4], uids[2], uids[0], uids[1], uids[3]]
        typ, data = m.sort("(SUBJECT)", "KOI8-R", "ALL")
        assert typ == "NO"
    finally:
        m.logout()


def test_thread(mailbox):
    m = login(mailbox)
    try:
        # RFC 5256 §4 syntax: 1 has the child 2, whose child is 4
        assert m.thread("REFERENCES", "UTF-8", "ALL") == ("OK", [b"(1 2 4)(3)(5)"])
        assert m.thread("ORDEREDSUBJECT", "UTF-8", "ALL") == ("OK", [b"(1 (2)(4))(3)(5)"])
        assert m.thread("REFERENCES", "UTF-8", "NOT", "FROM", "zoe") == \
            ("OK", [b"(1 4)(3)(5)"])
        typ, data = m.uid("SEARCH", "ALL")
        u = data[0].split()
        typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "SUBJECT", "plans")
        assert (typ, data) == ("OK", [b"(" + b" ".join([u[0], u[1], u[3]]) + b")"])
    finally:
        m.logout()
