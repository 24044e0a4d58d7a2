"""End-to-end tests of tern's IMAP mailbox commands: CREATE, RENAME, DELETE
and LIST with children (RFC 9051 §6.3), LIST-EXTENDED (RFC 5258) and
LIST-STATUS (RFC 5819) on the wire, SPECIAL-USE (RFC 6154), LSUB, STATUS,
NAMESPACE, modified UTF-7 and UTF-8 names, and QUOTA (RFC 9208) for an
account with configured limits."""
import re

import pytest

from conftest import accounts_conf
from imapfixture import ImapServer, imap_serve, imaps_session
from smtpfixture import EXAMPLE_DOMAIN, token


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve()


def listed(m, pattern):
    """imaplib LIST -> {name: set of attributes}."""
    typ, data = m.list('""', pattern)
    assert typ == "OK", data
    out = {}
    for d in data:
        if d is None:
            continue
        mt = re.match(rb'\(([^)]*)\) "/" (.*)$', d)
        assert mt, d
        name = mt.group(2).decode().strip('"')
        out[name] = set(mt.group(1).decode().split())
    return out


def test_create_rename_delete_with_children(srv):
    p = token()
    m = srv.login()
    try:
        assert m.create(f"{p}/a/b")[0] == "OK"
        assert m.create(f"{p}/a/c")[0] == "OK"
        got = listed(m, f"{p}*")
        assert got == {p: {"\\HasChildren"}, f"{p}/a": {"\\HasChildren"},
                       f"{p}/a/b": {"\\HasNoChildren"}, f"{p}/a/c": {"\\HasNoChildren"}}
        typ, data = m.create(f"{p}/a")
        assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
        # RFC 9051 §6.3.6: children move with their parent
        assert m.rename(f"{p}/a", f"{p}/z")[0] == "OK"
        got = listed(m, f"{p}*")
        assert set(got) == {p, f"{p}/z", f"{p}/z/b", f"{p}/z/c"}
        # RFC 9051 §6.3.5: with children, DELETE leaves a \Noselect name
        assert m.delete(f"{p}/z")[0] == "OK"
        assert listed(m, f"{p}/z") == {f"{p}/z": {"\\Noselect", "\\HasChildren"}}
        typ, data = m.delete(f"{p}/z")
        assert typ == "NO" and b"[HASCHILDREN]" in data[0]
        assert m.delete(f"{p}/z/b")[0] == "OK"
        assert m.delete(f"{p}/z/c")[0] == "OK"
        # the \Noselect parent without children went with them
        assert set(listed(m, f"{p}*")) == {p}
        typ, data = m.delete(f"{p}/nothing")
        assert typ == "NO" and b"[NONEXISTENT]" in data[0]
        typ, data = m.delete("INBOX")
        assert typ == "NO"
    finally:
        m.logout()


def test_list_delimiter_and_namespace(srv):
    with imaps_session(srv) as c:
        _, lines = c.cmd('a1 LIST "" ""')
        assert lines == [b'* LIST (\\Noselect) "/" ""\r\n', b"a1 OK LIST completed\r\n"]
        _, lines = c.cmd("a2 NAMESPACE")
        assert lines == [b'* NAMESPACE (("" "/")) NIL NIL\r\n', b"a2 OK NAMESPACE completed\r\n"]


def test_list_extended_raw(srv):
    p = token()
    with imaps_session(srv) as c:
        for box in ("Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli"):
            c.ok(f"c CREATE {p}/{box}")
        for box in ("Fruit/Banana", "Fruit/Peach", "Vegetable"):
            c.ok(f"s SUBSCRIBE {p}/{box}")
        # RFC 5258 §3: SUBSCRIBED lists subscriptions, gone mailboxes included
        _, lines = c.cmd(f'a1 LIST (SUBSCRIBED) "" "{p}/*"')
        assert lines == [
            f'* LIST (\\Subscribed \\HasNoChildren) "/" {p}/Fruit/Banana\r\n'.encode(),
            f'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" {p}/Fruit/Peach\r\n'.encode(),
            f'* LIST (\\Subscribed \\HasChildren) "/" {p}/Vegetable\r\n'.encode(),
            b"a1 OK LIST completed\r\n"]
        # RFC 5258 §3.5: RECURSIVEMATCH with CHILDINFO
        _, lines = c.cmd(f'a2 LIST (SUBSCRIBED RECURSIVEMATCH) "" "{p}/%"')
        assert lines == [
            f'* LIST (\\HasChildren) "/" {p}/Fruit ("CHILDINFO" ("SUBSCRIBED"))\r\n'.encode(),
            f'* LIST (\\Subscribed \\HasChildren) "/" {p}/Vegetable\r\n'.encode(),
            b"a2 OK LIST completed\r\n"]
        # several patterns and RETURN (SUBSCRIBED CHILDREN)
        _, lines = c.cmd(f'a3 LIST "" ({p}/Tofu {p}/Veg%) RETURN (SUBSCRIBED CHILDREN)')
        assert lines == [
            f'* LIST (\\HasNoChildren) "/" {p}/Tofu\r\n'.encode(),
            f'* LIST (\\Subscribed \\HasChildren) "/" {p}/Vegetable\r\n'.encode(),
            b"a3 OK LIST completed\r\n"]
        # LSUB (IMAP4rev1): the unsubscribed parent "%" stops at is \Noselect
        _, lines = c.cmd(f'a4 LSUB "" "{p}/%"')
        assert lines == [f'* LSUB (\\Noselect) "/" {p}/Fruit\r\n'.encode(),
                         f'* LSUB () "/" {p}/Vegetable\r\n'.encode(), b"a4 OK LSUB completed\r\n"]
        tagged, _ = c.cmd('a5 LIST (BOGUS) "" "*"')
        assert tagged.startswith(b"a5 BAD")


def test_list_status_raw(srv):
    p = token()
    with imaps_session(srv) as c:
        c.ok(f"c CREATE {p}/box")
        msg = b"Subject: one\r\n\r\nbody\r\n"
        c.send(f"a APPEND {p}/box (\\Seen) {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        c.read_until_tagged("a")
        c.send(f"b APPEND {p}/box {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        c.read_until_tagged("b")
        _, lines = c.cmd(f'a1 LIST "" "{p}*" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
        assert lines == [
            f'* LIST (\\HasChildren) "/" {p}\r\n'.encode(),
            f'* STATUS {p} (MESSAGES 0 UNSEEN 0 SIZE 0)\r\n'.encode(),
            f'* LIST (\\HasNoChildren) "/" {p}/box\r\n'.encode(),
            f'* STATUS {p}/box (MESSAGES 2 UNSEEN 1 SIZE {2 * len(msg)})\r\n'.encode(),
            b"a1 OK LIST completed\r\n"]
        _, lines = c.cmd(f"a2 STATUS {p}/box (MESSAGES UIDNEXT UNSEEN DELETED SIZE RECENT)")
        assert lines == [f"* STATUS {p}/box (MESSAGES 2 UIDNEXT 3 UNSEEN 1 DELETED 0 "
                         f"SIZE {2 * len(msg)} RECENT 2)\r\n".encode(),  # none seen yet
                         b"a2 OK STATUS completed\r\n"]


def test_special_use(srv):
    p = token()
    with imaps_session(srv) as c:
        _, lines = c.cmd('a1 LIST (SPECIAL-USE) "" "*"')
        names = [l for l in lines if l.startswith(b"* LIST")]
        assert b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n' in names
        assert b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n' in names
        assert not [l for l in names if b"INBOX" in l]
        c.ok(f"a2 CREATE {p}-sent (USE (\\Sent))")
        _, lines = c.cmd(f'a3 LIST "" {p}-sent')
        assert lines[0] == f'* LIST (\\HasNoChildren \\Sent) "/" {p}-sent\r\n'.encode()
        tagged, _ = c.cmd(f"a4 CREATE {p}-all (USE (\\All))")
        assert tagged.startswith(b"a4 NO [USEATTR]")


def test_international_names(srv):
    with imaps_session(srv) as c:
        # RFC 3501 §5.1.3: modified UTF-7 for IMAP4rev1 clients
        c.ok('a1 CREATE "Entw&APw-rfe"')
        _, lines = c.cmd('a2 LIST "" "Entw*"')
        assert lines[0] == b'* LIST (\\HasNoChildren) "/" Entw&APw-rfe\r\n'
        # RFC 9051 §5.1: UTF-8 once IMAP4rev2 is enabled
        c.ok("a3 ENABLE IMAP4rev2")
        _, lines = c.cmd('a4 LIST "" "Entw*"')
        assert lines[0] == '* LIST (\\HasNoChildren) "/" "Entwürfe"\r\n'.encode()
        tagged, _ = c.cmd('a5 LSUB "" "*"')
        assert tagged.startswith(b"a5 BAD")
        c.ok('a6 DELETE "Entwürfe"')


def test_status_sees_deliveries(srv):
    m = srv.login("bob")
    try:
        before = int(re.search(rb"MESSAGES (\d+)", m.status("INBOX", "(MESSAGES)")[1][0]).group(1))
        srv.deliver("bob")
        srv.deliver("bob")
        typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
        assert typ == "OK"
        assert re.search(rb"MESSAGES (\d+)", data[0]).group(1) == str(before + 2).encode()
    finally:
        m.logout()


def quota_domains():
    accounts = accounts_conf("carol").replace(
        "    Domain: example.test\n", "    Domain: example.test\n    QuotaMB: 1\n"
        "    QuotaMessages: 3\n")
    return "Domains:\n" + EXAMPLE_DOMAIN + accounts


def test_quota():
    s = ImapServer(domains=quota_domains())
    try:
        s.started(accounts=("carol",))
        with imaps_session(s, "carol") as c:
            # the configured limits hold from login on (RFC 9208 §4.2);
            # QuotaMB counts 10^6 bytes: 976 units of 1024 (RFC 9208 §5.1)
            _, lines = c.cmd('q0 GETQUOTA ""')
            assert lines[0] == b'* QUOTA "" (STORAGE 0 976 MESSAGE 0 3)\r\n', lines
            s.deliver("carol", body="x" * 3000 + "\r\n")
            _, lines = c.cmd("q1 GETQUOTAROOT INBOX")
            assert lines[0] == b'* QUOTAROOT INBOX ""\r\n'
            m = re.match(rb'\* QUOTA "" \(STORAGE (\d+) 976 MESSAGE 1 3\)\r\n$', lines[1])
            assert m and int(m.group(1)) >= 2, lines
            assert lines[2] == b"q1 OK GETQUOTAROOT completed\r\n"
            _, lines = c.cmd('q2 GETQUOTA ""')
            assert re.match(rb'\* QUOTA "" \(STORAGE \d+ 976 MESSAGE 1 3\)\r\n$', lines[0])
            tagged, _ = c.cmd('q3 SETQUOTA "" (STORAGE 100)')
            assert tagged.startswith(b"q3 NO [NOPERM]")
            # RFC 3502: MULTIAPPEND of three is refused whole: the third passes the quota
            msg = b"Subject: q\r\n\r\nq\r\n"
            lit = f"{{{len(msg)}+}}\r\n".encode()
            c.send(b"q4 APPEND INBOX " + lit + msg + b" " + lit + msg + b" " + lit + msg + b"\r\n")
            lines = c.read_until_tagged("q4")
            assert lines[-1].startswith(b"q4 NO [OVERQUOTA]"), lines
            _, lines = c.cmd("q5 STATUS INBOX (MESSAGES)")
            assert lines[0] == b"* STATUS INBOX (MESSAGES 1)\r\n"
            c.send(b"q6 APPEND INBOX " + lit + msg + b" " + lit + msg + b"\r\n")
            lines = c.read_until_tagged("q6")
            # UIDs 2 and 3 went to the two messages taken back: never reused
            assert re.match(rb"q6 OK \[APPENDUID \d+ 4:5\] APPEND completed", lines[-1]), lines
            # copying would pass the message limit
            c.ok("q7 SELECT INBOX")
            tagged, _ = c.cmd("q8 COPY 1 Archive")
            assert tagged.startswith(b"q8 NO [OVERQUOTA]"), tagged
    finally:
        s.cleanup()
