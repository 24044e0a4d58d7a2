"""End-to-end tests of the bounds of tern's IMAP server against costly
input: decompression bombs under COMPRESS, LIST patterns of many wildcards,
SORT keys of long display names, REPLACE of "*", and the memory one session
can make the server hold (measured from /proc/PID/status of the server)."""
import functools
import os
import threading
import time
import zlib

import pytest

from imapfixture import PASSWORD, RawIMAP, imap_serve


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve()


def logged_in(srv, timeout=30):
    c = RawIMAP(srv.imaps_port, tls=True, timeout=timeout)
    c.login("alice", PASSWORD)
    return c


@functools.cache
def sanitized_build():
    """Whether tern is built with AddressSanitizer, whose quarantine keeps
    freed memory: its memory figures say nothing about tern's."""
    path = os.environ.get("TERN_BIN", "")
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def measured(pid, field, before):
    """How much field grew since before (kB); skips under ASan."""
    if sanitized_build():
        pytest.skip("memory is not measurable under AddressSanitizer")
    return vm_kb(pid, field) - before


def vm_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def literal_cmd(head, data):
    return head + b" {%d+}\r\n" % len(data) + data + b"\r\n"


def append(c, mailbox, msg, tag="A"):
    c.send(literal_cmd(f"{tag} APPEND {mailbox}".encode(), msg))
    return c.read_until_tagged(tag)[-1]


# --- COMPRESS (RFC 4978) ---

def test_compress_bomb_closes_session(srv):
    """A burst that inflates past 100:1 ends the session with BYE instead of
    being inflated and skipped at the server's cost."""
    c = logged_in(srv, timeout=60)
    tagged, _ = c.cmd("C1 COMPRESS DEFLATE")
    assert tagged.startswith(b"C1 OK")
    comp = zlib.compressobj(9, wbits=-15)
    dec = zlib.decompressobj(wbits=-15)
    line = b"B1 NOOP " + b"x" * (49 * 1024 * 1024) + b"\r\n"
    wire = comp.compress(line) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert len(line) // len(wire) > 500
    try:
        c.sock.sendall(wire)
    except OSError:
        pass  # the server may close before all of it is sent
    out = b""
    try:
        while True:
            d = c.sock.recv(65536)
            if not d:
                break
            out += dec.decompress(d)
    except OSError:
        pass
    c.close()
    assert b"* BYE" in out, out
    assert b"inflates to more than 100 times" in out, out
    assert b"B1 " not in out
    # the server goes on serving
    c = logged_in(srv)
    assert c.cmd("N NOOP")[0].startswith(b"N OK")
    c.close()


# --- LIST patterns (RFC 9051 §6.3.9) ---

def test_list_wildcard_runs_and_work_bound(srv):
    c = logged_in(srv, timeout=60)
    names = [(b"lim%02d" % i) + b"a" * 990 for i in range(4)]
    for n in names:
        c.send(literal_cmd(b"C CREATE", n))
        assert c.read_until_tagged("C")[-1].startswith(b"C OK")
    # 31 patterns of 1999 "*" then "Q": runs of wildcards count as one
    pat = b"*" * 1999 + b"Q"
    pats = b" ".join(b"{%d+}\r\n" % len(pat) + pat for _ in range(31))
    c.send(b"L1 LIST \"\" (" + pats + b")\r\n")
    lines = c.read_until_tagged("L1")
    assert lines[-1].startswith(b"L1 OK"), lines[-1]
    assert len(lines) == 1  # no name ends in Q
    pat = b"*" * 1999 + b"a"
    c.send(literal_cmd(b"L2 LIST \"\"", pat))
    lines = c.read_until_tagged("L2")
    assert lines[-1].startswith(b"L2 OK")
    assert sum(b"lim0" in l for l in lines) == 4
    # patterns that need every step: refused before anything is listed
    pat = b"*a" * 1000
    pats = b" ".join(b"{%d+}\r\n" % len(pat) + pat for _ in range(31))
    c.send(b"L3 LIST \"\" (" + pats + b")\r\n")
    lines = c.read_until_tagged("L3")
    assert lines == [lines[-1]]
    assert lines[-1].startswith(b"L3 NO [LIMIT]"), lines[-1]
    for n in names:
        c.send(literal_cmd(b"D DELETE", n))
        assert c.read_until_tagged("D")[-1].startswith(b"D OK")
    c.close()


# --- SORT (RFC 5256, RFC 5957) ---

def test_sort_display_name_longer_than_key(srv):
    """A display name past the sort key sorts by its start, not as ""."""
    c = logged_in(srv)
    assert c.cmd("C CREATE sortlong")[0].startswith(b"C OK")
    for frm in [b"\"Adam\" <a@example.org>", b"\"Zed" + b"z" * 300 + b"\" <z@example.org>",
                b"\"Mia\" <m@example.org>"]:
        m = b"From: " + frm + b"\r\nSubject: s\r\n\r\nbody\r\n"
        assert append(c, "sortlong", m).startswith(b"A OK")
    assert c.cmd("S SELECT sortlong")[0].startswith(b"S OK")
    tagged, lines = c.cmd("O SORT (DISPLAYFROM) UTF-8 ALL")
    assert tagged.startswith(b"O OK")
    assert b"* SORT 1 3 2\r\n" in lines
    c.cmd("U UNSELECT")
    assert c.cmd("D DELETE sortlong")[0].startswith(b"D OK")
    c.close()


# --- REPLACE (RFC 8508) ---

def test_replace_star(srv):
    """RFC 8508 §6: REPLACE takes a seq-number, so "*" is the last message."""
    c = logged_in(srv)
    assert c.cmd("C CREATE repstar")[0].startswith(b"C OK")
    for i in range(2):
        assert append(c, "repstar", b"Subject: old%d\r\n\r\nx\r\n" % i).startswith(b"A OK")
    assert c.cmd("S SELECT repstar")[0].startswith(b"S OK")
    c.send(literal_cmd(b"R1 REPLACE * repstar", b"Subject: new\r\n\r\ny\r\n"))
    lines = c.read_until_tagged("R1")
    assert lines[-1].startswith(b"R1 OK"), lines
    assert b"* 2 EXPUNGE\r\n" in lines
    c.send(literal_cmd(b"R2 UID REPLACE * repstar", b"Subject: newer\r\n\r\ny\r\n"))
    lines = c.read_until_tagged("R2")
    assert lines[-1].startswith(b"R2 OK"), lines
    tagged, lines = c.cmd("F FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert tagged.startswith(b"F OK")
    subjects = b"".join(lines)
    # "*" was the message R1 appended (reported to the session by then)
    assert b"old0" in subjects and b"newer" in subjects
    assert b"old1" not in subjects and b"Subject: new\r\n" not in subjects
    c.cmd("U UNSELECT")
    assert c.cmd("D DELETE repstar")[0].startswith(b"D OK")
    c.close()


# --- APPEND memory (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502) ---

def test_append_to_missing_mailbox_refused_before_continuation(srv):
    """A synchronizing literal of an APPEND to a mailbox that does not exist
    gets NO [TRYCREATE] instead of "+": the message is never sent."""
    c = logged_in(srv)
    c.send(b"A1 APPEND NoSuchMailbox {47185920}\r\n")
    line = c.read_line()
    assert line == b"A1 NO [TRYCREATE] Mailbox NoSuchMailbox does not exist\r\n", line
    c.send(b"A2 APPEND INBOX {21}\r\n")
    assert c.read_line().startswith(b"+ ")
    c.send(b"Subject: x\r\n\r\nbody\r\n\r\n")
    assert c.read_until_tagged("A2")[-1].startswith(b"A2 OK [APPENDUID")
    c.close()


def test_multiappend_memory_given_back(srv):
    """A MULTIAPPEND of 4 x 45 MiB to a mailbox that does not exist (sent
    without waiting, LITERAL+) is refused, and the idle session does not
    keep the memory it took."""
    pid = srv.proc.pid
    c = logged_in(srv, timeout=120)
    assert c.cmd("N0 NOOP")[0].startswith(b"N0 OK")
    before = vm_kb(pid, "VmRSS")
    msg = b"Subject: x\r\n\r\n" + b"y" * (45 * 1024 * 1024 - 15)
    lit = b"{%d+}\r\n" % len(msg)
    c.send(b"A1 APPEND NoSuchMailbox " + b" ".join([lit + msg] * 4) + b"\r\n")
    line = c.read_until_tagged("A1")[-1]
    assert line.startswith(b"A1 NO [TRYCREATE]"), line
    assert c.cmd("N1 NOOP")[0].startswith(b"N1 OK")
    assert measured(pid, "VmRSS", before) < 32 * 1024
    c.close()


# --- logins (RFC 9051 §6.2.3) ---

def test_parallel_wrong_logins_counted_before_check(srv):
    """Failed logins are counted per address when the attempt starts, so 30
    attempts sent at once on 30 connections get at most 10 password checks
    (LOGINGUARD_FAILS_PER_IP); the others are refused."""
    source = "127.0.0.77"
    conns = [RawIMAP(srv.imaps_port, tls=True, timeout=60, source=source) for _ in range(30)]
    results = []

    def go(i, c):
        c.send(f"L{i} LOGIN alice wrong-password-{i}\r\n")
        results.append(c.read_until_tagged(f"L{i}")[-1])

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    checked = sum(b"AUTHENTICATIONFAILED" in r for r in results)
    refused = sum(b"too many failed logins" in r for r in results)
    assert (checked, refused) == (10, 20), results
    # a right password from another address still works, and does not count
    for i in range(12):
        c = RawIMAP(srv.imaps_port, tls=True, source="127.0.0.78")
        c.login("alice", PASSWORD)
        c.close()


# --- STARTTLS and COMPRESS (RFC 4978, RFC 9051 §6.2.1) ---

def test_starttls_refused_under_compress(srv):
    """After COMPRESS and UNAUTHENTICATE, STARTTLS is neither offered nor
    accepted: TLS cannot start below the compression layer, and input the
    DEFLATE layer holds would otherwise run inside TLS."""
    from test_imap_session import scram
    c = RawIMAP(srv.imap_port)
    assert scram(c, "SCRAM-SHA-256", "alice", PASSWORD).startswith(b"a OK")
    assert c.cmd("C1 COMPRESS DEFLATE")[0].startswith(b"C1 OK")
    comp = zlib.compressobj(wbits=-15)
    dec = zlib.decompressobj(wbits=-15)
    pending = [dec.decompress(c.buf)]
    c.buf = b""

    def zcmd(line, tag):
        c.sock.sendall(comp.compress(line) + comp.flush(zlib.Z_SYNC_FLUSH))
        out = pending[0]
        while (b"\r\n" + tag + b" ") not in (b"\r\n" + out):
            d = c.sock.recv(65536)
            assert d, out
            out += dec.decompress(d)
        pending[0] = b""
        return out

    assert b"U OK" in zcmd(b"U UNAUTHENTICATE\r\n", b"U")
    caps = zcmd(b"K CAPABILITY\r\n", b"K")
    assert b"STARTTLS" not in caps, caps
    out = zcmd(b"S STARTTLS\r\nX ID NIL\r\n", b"X")
    assert b"S BAD" in out, out
    assert b"X OK" in out  # still the same plain, compressed session
    c.close()


# --- SEARCH and FETCH memory (RFC 9051 §6.4.4, §6.4.5) ---

def reset_peak(pid):
    """Starts VmHWM again from the current RSS (proc(5) clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def big_subject_message():
    subj = "Subject: " + "\r\n ".join(["x" * 70] * 12000) + "\r\n"  # about 870 KB
    return ("From: a@example.org\r\nTo: alice@example.test\r\n" + subj +
            "\r\nbody\r\n").encode()


@pytest.fixture(scope="module")
def big_header_box(srv):
    c = logged_in(srv, timeout=120)
    assert c.cmd("C CREATE bighdr")[0].startswith(b"C OK")
    assert append(c, "bighdr", big_subject_message()).startswith(b"A OK")
    c.close()
    return "bighdr"


def test_search_many_header_keys_bounded(srv, big_header_box):
    """300 SUBJECT keys against a message with an 870 KB Subject: each key
    decodes the field in memory that is given back after the key."""
    pid = srv.proc.pid
    c = logged_in(srv, timeout=300)
    assert c.cmd(f"S SELECT {big_header_box}")[0].startswith(b"S OK")
    keys = " ".join(f"NOT SUBJECT zz{i}" for i in range(300))
    reset_peak(pid)
    before = vm_kb(pid, "VmRSS")
    tagged, lines = c.cmd(f"Q SEARCH {keys}")
    assert tagged.startswith(b"Q OK"), tagged
    assert b"* SEARCH 1\r\n" in lines
    assert measured(pid, "VmHWM", before) < 64 * 1024
    c.close()


def test_fetch_repeated_items_bounded(srv, big_header_box):
    """FETCH of ENVELOPE 200 times over an 870 KB Subject: the answer is
    sent as it is made, not built whole in memory."""
    pid = srv.proc.pid
    c = logged_in(srv, timeout=300)
    assert c.cmd(f"S SELECT {big_header_box}")[0].startswith(b"S OK")
    reset_peak(pid)
    before = vm_kb(pid, "VmRSS")
    c.send("F FETCH 1 (" + " ".join(["ENVELOPE"] * 200) + ")\r\n")
    got = 0
    while True:
        line = c.read_line()
        got += len(line)
        if line.startswith(b"F "):
            break
    assert line.startswith(b"F OK"), line
    assert got > 150 * 1024 * 1024  # all 200 envelopes were sent
    assert measured(pid, "VmHWM", before) < 64 * 1024
    c.close()


# --- last: it leaves a reservation the server gives back in its own time ---

def test_append_budget_shared_by_sessions(srv):
    """APPEND literals are reserved from a budget shared by all sessions
    (256 MiB) before "+": while five sessions each hold a 50 MiB one,
    a sixth's that does not fit gets NO [LIMIT] (a shortage to retry),
    never a "+"; a small one still fits, and the budget comes back with
    the sessions."""
    size = 50 << 20
    holders = [logged_in(srv) for _ in range(5)]
    for i, h in enumerate(holders):
        h.send(b"H%d APPEND INBOX {%d}\r\n" % (i, size))
        assert h.read_line().startswith(b"+ ")
    b = logged_in(srv)
    b.send(b"B1 APPEND INBOX {%d}\r\n" % size)
    line = b.read_line()
    assert line.startswith(b"B1 NO [LIMIT]"), line
    b.send(b"B2 APPEND INBOX {21}\r\n")
    assert b.read_line().startswith(b"+ ")
    b.send(b"Subject: x\r\n\r\nbody\r\n\r\n")
    assert b.read_until_tagged("B2")[-1].startswith(b"B2 OK")
    holders.pop().close()  # the reservation goes with the session
    for i in range(100):
        b.send(b"B3%d APPEND INBOX {%d}\r\n" % (i, size))
        line = b.read_line()
        if line.startswith(b"+ "):
            break
        assert line.startswith(b"B3%d NO [LIMIT]" % i), line
        time.sleep(0.1)
    assert line.startswith(b"+ "), line
    b.close()
    for h in holders:
        h.close()
