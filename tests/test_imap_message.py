"""End-to-end tests of tern's IMAP message commands: STORE (RFC 9051 §6.4.6,
UNCHANGEDSINCE RFC 7162), COPY and MOVE (COPYUID RFC 4315, RFC 6851),
EXPUNGE and UID EXPUNGE seen by a second session, APPEND with flags and
date-time fetched back, MULTIAPPEND (RFC 3502) and REPLACE (RFC 8508)."""
import re

import pytest

from imapfixture import imap_serve, imaps_session
from smtpfixture import token


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve()


def msg(subject):
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n".encode()


def append(c, box, subject, flags=""):
    data = msg(subject)
    c.send(f"ap APPEND {box} {flags}{{{len(data)}+}}\r\n".encode() + data + b"\r\n")
    lines = c.read_until_tagged("ap")
    assert lines[-1].startswith(b"ap OK [APPENDUID "), lines
    return int(re.search(rb"APPENDUID \d+ (\d+)\]", lines[-1]).group(1))


def box_with(c, n, flags=""):
    """A new mailbox with n messages, selected."""
    box = token()
    c.ok(f"c CREATE {box}")
    for i in range(n):
        append(c, box, f"m{i + 1}", flags)
    # the first SELECT takes \\Recent (RFC 3501 2.3.2): after the second one
    # FETCH FLAGS shows the stored flags alone
    c.ok(f"s0 SELECT {box}")
    c.ok(f"s SELECT {box}")
    return box


def test_store_flags_and_keywords(srv):
    with imaps_session(srv) as c:
        box_with(c, 3)
        _, lines = c.cmd("a1 STORE 1:2 +FLAGS (\\Flagged $Work)")
        assert lines == [b"* 1 FETCH (FLAGS (\\Flagged $Work))\r\n",
                         b"* 2 FETCH (FLAGS (\\Flagged $Work))\r\n", b"a1 OK STORE completed\r\n"]
        _, lines = c.cmd("a2 UID STORE 2 -FLAGS.SILENT (\\Flagged)")
        assert lines == [b"a2 OK UID STORE completed\r\n"]
        _, lines = c.cmd("a3 FETCH 1:3 (FLAGS)")
        assert lines[:3] == [b"* 1 FETCH (FLAGS (\\Flagged $Work))\r\n",
                             b"* 2 FETCH (FLAGS ($Work))\r\n", b"* 3 FETCH (FLAGS ())\r\n"]
        # $Junk and $NotJunk exclude each other
        c.ok("a4 STORE 3 +FLAGS.SILENT ($NotJunk)")
        _, lines = c.cmd("a5 STORE 3 +FLAGS ($Junk)")
        assert lines[0] == b"* 3 FETCH (FLAGS ($Junk))\r\n"
        tagged, _ = c.cmd("a6 STORE 1 +FLAGS (\\Recent)")
        assert tagged == b"a6 BAD \\Recent cannot be stored\r\n"
        tagged, _ = c.cmd("a7 STORE 9 +FLAGS (\\Seen)")
        assert tagged.startswith(b"a7 BAD")
        c.ok("a8 EXAMINE INBOX")
        tagged, _ = c.cmd("a9 STORE 1:* +FLAGS (\\Seen)")
        assert tagged.startswith((b"a9 NO", b"a9 BAD"))


def test_store_unchangedsince(srv):
    with imaps_session(srv) as c:
        c.ok("e ENABLE CONDSTORE")
        box_with(c, 2)
        _, lines = c.cmd("f FETCH 1:2 (MODSEQ)")
        ms = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in lines[:2]]
        c.ok("a1 STORE 2 +FLAGS.SILENT (\\Seen)")
        # RFC 7162 §3.1.3: 2 changed since; 1 did not and gets its MODSEQ
        _, lines = c.cmd(f"a2 STORE 1:2 (UNCHANGEDSINCE {max(ms)}) +FLAGS.SILENT (\\Deleted)")
        assert re.match(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)\r\n$", lines[0]), lines
        assert lines[-1] == b"a2 OK [MODIFIED 2] Conditional STORE completed\r\n"


def test_copy_and_move(srv):
    with imaps_session(srv) as c:
        box = box_with(c, 4)
        dst = token()
        c.ok(f"c CREATE {dst}")
        _, lines = c.cmd(f"st STATUS {dst} (UIDVALIDITY)")
        uv = int(re.search(rb"UIDVALIDITY (\d+)", lines[0]).group(1))
        tagged, _ = c.cmd(f"a1 COPY 1,3:4 {dst}")
        assert tagged == f"a1 OK [COPYUID {uv} 1,3:4 1:3] COPY completed\r\n".encode()
        tagged, _ = c.cmd("a2 COPY 1 nowhere-" + token())
        assert tagged.startswith(b"a2 NO [TRYCREATE]")
        # RFC 6851 §4.3: COPYUID untagged, then the expunges
        _, lines = c.cmd(f"a3 MOVE 2:3 {dst}")
        assert lines == [f"* OK [COPYUID {uv} 2:3 4:5] Moved\r\n".encode(),
                         b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n", b"a3 OK MOVE completed\r\n"]
        _, lines = c.cmd(f"a4 STATUS {dst} (MESSAGES)")
        assert lines[0] == f"* STATUS {dst} (MESSAGES 5)\r\n".encode()
        _, lines = c.cmd("a5 UID SEARCH ALL")
        assert lines[0] == b"* SEARCH 1 4\r\n"
        _, lines = c.cmd(f"a6 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"m1" in lines[1] and b"m4" in b"".join(lines)


def test_expunge_seen_by_second_session(srv):
    with imaps_session(srv) as a, imaps_session(srv) as b:
        box = box_with(a, 5)
        b.ok(f"s SELECT {box}")
        b.ok("b1 STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        _, lines = b.cmd("b2 EXPUNGE")
        assert lines == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"b2 OK EXPUNGE completed\r\n"]
        # RFC 9051 §7.4.1: no EXPUNGE during STORE; the NOOP brings them
        _, lines = a.cmd("a1 STORE 1 +FLAGS (\\Seen)")
        assert not [l for l in lines if b"EXPUNGE" in l], lines
        _, lines = a.cmd("a2 NOOP")
        assert b"* 2 EXPUNGE\r\n" in lines and b"* 3 EXPUNGE\r\n" in lines, lines
        _, lines = a.cmd("a3 UID SEARCH ALL")
        assert lines[0] == b"* SEARCH 1 3 5\r\n"
        # UID EXPUNGE (RFC 4315 §2.1) only takes the named \Deleted messages
        b.ok("b3 STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        _, lines = b.cmd("b4 UID EXPUNGE 3:5")
        assert lines == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n", b"b4 OK UID EXPUNGE completed\r\n"]
        _, lines = a.cmd("a4 NOOP")
        assert lines.count(b"* 2 EXPUNGE\r\n") == 2, lines
    # with QRESYNC (RFC 7162 §3.2.10), VANISHED instead
    with imaps_session(srv) as q:
        q.ok("q1 ENABLE QRESYNC")
        q.ok(f"q2 SELECT {box}")
        q.ok("q3 STORE 1 +FLAGS.SILENT (\\Deleted)")
        _, lines = q.cmd("q4 EXPUNGE")
        assert lines == [b"* VANISHED 1\r\n", b"q4 OK EXPUNGE completed\r\n"]


def test_append_flags_and_date(srv):
    m = srv.login()
    try:
        box = token()
        assert m.create(box)[0] == "OK"
        typ, data = m.append(box, "(\\Seen \\Draft $Label1)", '"07-Feb-1994 21:52:25 -0800"',
                             msg("dated"))
        assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\] APPEND completed", data[0]), data
        m.select(box)
        typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        head = data[0][0]
        assert b"FLAGS (\\Seen \\Draft \\Recent $Label1)" in head  # the first to see it
        assert b'INTERNALDATE " 8-Feb-1994 05:52:25 +0000"' in head
        assert data[0][1] == msg("dated")
        typ, data = m.append("nowhere-" + token(), None, None, msg("x"))
        assert typ == "NO" and b"[TRYCREATE]" in data[0]
    finally:
        m.logout()


def test_multiappend_raw(srv):
    with imaps_session(srv) as c:
        box = token()
        c.ok(f"c CREATE {box}")
        one, two = msg("one"), msg("two")
        # synchronizing literals: the server asks for each
        c.send(f"a1 APPEND {box} (\\Seen) {{{len(one)}}}\r\n".encode())
        assert c.read_line().startswith(b"+ ")
        c.send(one + f' (\\Flagged) "01-Jan-2020 00:00:00 +0000" {{{len(two)}}}\r\n'.encode())
        assert c.read_line().startswith(b"+ ")
        c.send(two + b"\r\n")
        lines = c.read_until_tagged("a1")
        assert re.match(rb"a1 OK \[APPENDUID \d+ 1:2\] APPEND completed\r\n$", lines[-1]), lines
        # one bad message: none is stored
        c.send(f"a2 APPEND {box} {{{len(one)}+}}\r\n".encode() + one +
               f" (\\Bogus) {{{len(two)}+}}\r\n".encode() + two + b"\r\n")
        lines = c.read_until_tagged("a2")
        assert lines[-1] == b"a2 BAD unknown system flag \\Bogus\r\n"
        _, lines = c.cmd(f"a3 STATUS {box} (MESSAGES)")
        assert lines[0] == f"* STATUS {box} (MESSAGES 2)\r\n".encode()
        c.ok(f"a4 SELECT {box}")
        _, lines = c.cmd("a5 FETCH 1:2 (FLAGS INTERNALDATE)")
        assert lines[0].startswith(b"* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE "), lines
        assert lines[1] == (b'* 2 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE'
                            b' " 1-Jan-2020 00:00:00 +0000")\r\n')


def test_replace_raw(srv):
    with imaps_session(srv) as c:
        box = box_with(c, 2, "(\\Draft) ")
        _, lines = c.cmd(f"st STATUS {box} (UIDVALIDITY)")
        uv = int(re.search(rb"UIDVALIDITY (\d+)", lines[0]).group(1))
        new = msg("draft v2")
        # RFC 8508 §3: APPENDUID untagged, then the old message's expunge
        c.send(f"r1 REPLACE 1 {box} (\\Draft) {{{len(new)}+}}\r\n".encode() + new + b"\r\n")
        lines = c.read_until_tagged("r1")
        assert lines[0] == f"* OK [APPENDUID {uv} 3] Replacement message appended\r\n".encode()
        assert b"* 1 EXPUNGE\r\n" in lines
        assert lines[-1] == b"r1 OK REPLACE completed\r\n"
        _, lines = c.cmd("u UID SEARCH ALL")
        assert lines[0] == b"* SEARCH 2 3\r\n"
        c.send(f"r2 UID REPLACE 1 {box} {{{len(new)}+}}\r\n".encode() + new + b"\r\n")
        lines = c.read_until_tagged("r2")
        assert lines[-1] == b"r2 NO [NONEXISTENT] No message with UID 1\r\n"
