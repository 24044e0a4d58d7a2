"""End-to-end tests of tern's IMAP session: greeting and capabilities, TLS,
logins (LOGIN, AUTHENTICATE PLAIN and SCRAM, throttling shared with SMTP),
ENABLE, ID, SELECT/EXAMINE, IDLE, COMPRESS, UNAUTHENTICATE, commands in the
wrong state, and shutdown."""
import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import zlib

import pytest

from imapfixture import PASSWORD, ImapServer, RawIMAP, capabilities, imap_serve
from smtpfixture import RawSMTP


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve()


def b64(b):
    return base64.b64encode(b).decode()


def logged_in(srv, tls=True, account="alice"):
    c = RawIMAP(srv.imaps_port, tls=True) if tls else RawIMAP(srv.imap_port)
    c.login(account, PASSWORD)
    return c


# --- greeting, capabilities, TLS ---

def test_greeting_before_tls(srv):
    with RawIMAP(srv.imap_port) as c:
        assert re.match(rb"\* OK \[CAPABILITY [^\]]+\] tern ready\r\n$", c.greeting)
        caps = capabilities(c.greeting)
        assert "IMAP4rev2" in caps and "IMAP4rev1" in caps
        assert "STARTTLS" in caps and "LOGINDISABLED" in caps
        # RFC 9051 §6.2.3: no plaintext mechanisms before TLS
        assert "AUTH=PLAIN" not in caps and "AUTH=LOGIN" not in caps
        assert "AUTH=SCRAM-SHA-256" in caps
        assert not [x for x in caps if x.endswith("-PLUS")]
        assert "PREAUTH" not in c.greeting.decode()


def test_capabilities_after_starttls_and_login(srv):
    with RawIMAP(srv.imap_port) as c:
        tagged, _ = c.cmd("s1 STARTTLS")
        assert tagged == b"s1 OK Begin TLS negotiation now\r\n"
        c.starttls()
        tagged, lines = c.cmd("c1 CAPABILITY")
        assert tagged == b"c1 OK CAPABILITY completed\r\n"
        caps = capabilities(lines[0])
        assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
        for cap in ("AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-256-PLUS", "SASL-IR"):
            assert cap in caps
        assert "COMPRESS=DEFLATE" not in caps  # only once authenticated
        lines = c.login("alice", PASSWORD)
        after = capabilities(lines[-1])  # tagged OK [CAPABILITY ...]
        assert not [x for x in after if x.startswith("AUTH=")]
        assert "SASL-IR" not in after
        for cap in ("IDLE", "ENABLE", "COMPRESS=DEFLATE", "UNAUTHENTICATE", "CONDSTORE"):
            assert cap in after
        tagged, lines = c.cmd("c2 CAPABILITY")
        assert capabilities(lines[0]) == after


def test_imaps_greeting(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        caps = capabilities(c.greeting)
        assert "AUTH=PLAIN" in caps and "STARTTLS" not in caps
        assert "LOGINDISABLED" not in caps


def test_starttls_twice_and_after_tls(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, _ = c.cmd("s STARTTLS")
        assert tagged == b"s BAD TLS is already active\r\n"


def test_starttls_discards_pipelined_command(srv):
    """RFC 9051 §6.2.1: input sent after STARTTLS before TLS is not run."""
    with RawIMAP(srv.imap_port) as c:
        c.send(b"s STARTTLS\r\nx LOGIN alice " + PASSWORD.encode() + b"\r\n")
        assert c.read_line() == b"s OK Begin TLS negotiation now\r\n"
        with pytest.raises((EOFError, ConnectionError)):
            c.read_line()


# --- LOGIN ---

def test_login_refused_without_tls(srv):
    with RawIMAP(srv.imap_port) as c:
        tagged, _ = c.cmd(f"a LOGIN alice {PASSWORD}")
        assert tagged == b"a NO [PRIVACYREQUIRED] LOGIN needs TLS: use STARTTLS first\r\n"


def test_login_wrong_then_right(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        t0 = time.time()
        tagged, _ = c.cmd("a LOGIN alice wrong-password")
        assert tagged == b"a NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
        assert time.time() - t0 >= 0.9  # each failure waits a second
        tagged, _ = c.cmd("b LOGIN nosuchuser whatever")
        assert tagged == b"b NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
        tagged, _ = c.cmd(f"c LOGIN alice {PASSWORD}")
        assert tagged.startswith(b"c OK [CAPABILITY IMAP4rev2 ")
        assert tagged.endswith(b"] LOGIN completed\r\n")
        tagged, _ = c.cmd(f"d LOGIN alice {PASSWORD}")
        assert tagged == b"d BAD already authenticated\r\n"


def test_login_by_address_and_literal(srv):
    """A login name may be an address of the account; a synchronizing
    literal gets "+ Ready"."""
    with RawIMAP(srv.imaps_port, tls=True) as c:
        c.send(b"a LOGIN alice@example.test {%d}\r\n" % len(PASSWORD))
        assert c.read_line() == b"+ Ready\r\n"
        c.send(PASSWORD.encode() + b"\r\n")
        assert c.read_until_tagged("a")[-1].startswith(b"a OK [CAPABILITY")


def test_imaplib_login(srv):
    m = srv.login_starttls("bob")
    typ, data = m.noop()
    assert typ == "OK"
    assert m.logout()[0] == "BYE"


# --- AUTHENTICATE ---

def test_authenticate_plain_sasl_ir(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        ir = b64(b"\0alice\0" + PASSWORD.encode())
        tagged, _ = c.cmd(f"a AUTHENTICATE PLAIN {ir}")
        assert tagged.startswith(b"a OK [CAPABILITY") and b"AUTHENTICATE completed" in tagged


def test_authenticate_plain_continuation(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        c.send(b"a AUTHENTICATE PLAIN\r\n")
        assert c.read_line() == b"+ \r\n"  # RFC 9051 §6.2.2: empty challenge
        c.send(b64(b"\0alice\0wrong").encode() + b"\r\n")
        assert c.read_line() == b"a NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
        c.send(b"b AUTHENTICATE PLAIN\r\n")
        assert c.read_line() == b"+ \r\n"
        c.send(b"*\r\n")  # cancel
        assert c.read_line() == b"b BAD authentication cancelled\r\n"
        c.send(b"c AUTHENTICATE PLAIN\r\n")
        assert c.read_line() == b"+ \r\n"
        c.send(b"!!notbase64\r\n")
        assert c.read_line() == b"c BAD cannot decode the response: not base64\r\n"
        c.send(b"d AUTHENTICATE PLAIN\r\n")
        c.read_line()
        c.send(b64(b"\0alice\0" + PASSWORD.encode()).encode() + b"\r\n")
        assert c.read_line().startswith(b"d OK [CAPABILITY")


def test_authenticate_plain_refused_before_tls(srv):
    with RawIMAP(srv.imap_port) as c:
        ir = b64(b"\0alice\0x")
        tagged, _ = c.cmd(f"a AUTHENTICATE PLAIN {ir}")
        assert tagged.startswith(b"a NO [CANNOT] unsupported authentication mechanism PLAIN")


def test_authenticate_unknown_mechanism(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, _ = c.cmd("a AUTHENTICATE X-UNKNOWN")
        assert tagged == b"a NO [CANNOT] unsupported authentication mechanism X-UNKNOWN\r\n"


def scram(c, mech, user, password, tag="a", ir=True):
    """An RFC 5802 SCRAM exchange (no channel binding) over RawIMAP c;
    returns the tagged line. Checks the server signature."""
    h = {"SCRAM-SHA-1": hashlib.sha1, "SCRAM-SHA-256": hashlib.sha256}[mech]
    nonce = secrets.token_urlsafe(18)
    gs2 = "n,,"
    first_bare = f"n={user},r={nonce}"
    if ir:
        c.send(f"{tag} AUTHENTICATE {mech} {b64((gs2 + first_bare).encode())}\r\n")
    else:
        c.send(f"{tag} AUTHENTICATE {mech}\r\n")
        assert c.read_line() == b"+ \r\n"
        c.send(b64((gs2 + first_bare).encode()) + "\r\n")
    line = c.read_line()
    if not line.startswith(b"+ "):
        return line
    server_first = base64.b64decode(line[2:].strip()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", h).digest()
    final_wo_proof = f"c={b64(gs2.encode())},r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo_proof}".encode()
    sig = hmac.new(h(client_key).digest(), auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    c.send(b64(f"{final_wo_proof},p={b64(proof)}".encode()) + "\r\n")
    line = c.read_line()
    if not line.startswith(b"+ "):
        return line
    server_key = hmac.new(salted, b"Server Key", h).digest()
    want = "v=" + b64(hmac.new(server_key, auth_msg, h).digest())
    assert base64.b64decode(line[2:].strip()).decode() == want
    c.send(b"\r\n")
    return c.read_line()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_authenticate_scram(srv, mech):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        assert scram(c, mech, "alice", "wrong") == \
            b"a NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
        tagged = scram(c, mech, "alice", PASSWORD, tag="b", ir=False)
        assert tagged.startswith(b"b OK [CAPABILITY")


def test_authenticate_scram_without_tls(srv):
    """SCRAM never sends the password: offered before TLS too."""
    with RawIMAP(srv.imap_port) as c:
        assert scram(c, "SCRAM-SHA-256", "bob", PASSWORD).startswith(b"a OK [CAPABILITY")


def test_login_throttled_per_address_shared_with_smtp():
    """10 failures from one address in 5 minutes: further logins are refused,
    also the right password, and also on SMTP submission."""
    s = ImapServer()
    try:
        s.started(accounts=("alice",))
        with RawIMAP(s.imaps_port, tls=True) as c:
            for i in range(10):
                tagged, _ = c.cmd(f"f{i} LOGIN alice wrong{i}")
                assert tagged == f"f{i} NO [AUTHENTICATIONFAILED] invalid credentials\r\n".encode()
            tagged, _ = c.cmd(f"ok LOGIN alice {PASSWORD}")
            assert tagged == (b"ok NO [UNAVAILABLE] too many failed logins from your address, "
                              b"try again later\r\n")
        smtp = RawSMTP(s.subs_port, tls=True)
        smtp.cmd("EHLO client.test")
        ir = b64(b"\0alice\0" + PASSWORD.encode())
        r = smtp.cmd(f"AUTH PLAIN {ir}")
        assert r.code == 454, r
    finally:
        s.cleanup()



def test_parallel_logins_from_one_address_all_succeed(srv):
    """Many clients behind one address logging in at once (an office behind
    NAT): attempts beyond the failure budget wait for the running ones to
    end instead of being refused."""
    results = []

    def one():
        with RawIMAP(srv.imaps_port, tls=True, timeout=60) as c:
            tagged, _ = c.cmd(f"a LOGIN bob {PASSWORD}")
            results.append(tagged)

    threads = [threading.Thread(target=one) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 25
    assert all(t.startswith(b"a OK [CAPABILITY") for t in results), results

def test_login_account_slowed_not_locked():
    """Failures against one account from many addresses slow its logins
    (5 s before the password is checked) but never refuse the right one."""
    s = ImapServer()
    try:
        s.started(accounts=("alice",))

        def fail_from(source):
            with RawIMAP(s.imaps_port, tls=True, timeout=30, source=source) as c:
                for i in range(7):
                    tagged, _ = c.cmd(f"f{i} LOGIN alice@example.test wrong{i}")
                    assert b"NO [AUTHENTICATIONFAILED]" in tagged

        threads = [threading.Thread(target=fail_from, args=(f"127.0.0.{k}",)) for k in (2, 3, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with RawIMAP(s.imaps_port, tls=True) as c:
            t0 = time.time()
            tagged, _ = c.cmd(f"ok LOGIN alice {PASSWORD}")
            assert tagged.startswith(b"ok OK [CAPABILITY")
            assert time.time() - t0 >= 4.5
        assert "account_slowed=true" in s.logs()
    finally:
        s.cleanup()


# --- ENABLE, ID, UNAUTHENTICATE ---

def test_enable(srv):
    with logged_in(srv) as c:
        tagged, lines = c.cmd("e1 ENABLE IMAP4rev2 X-UNKNOWN")
        assert lines == [b"* ENABLED IMAP4rev2\r\n", b"e1 OK ENABLE completed\r\n"]
        tagged, lines = c.cmd("e2 ENABLE IMAP4rev2 CONDSTORE QRESYNC UTF8=ACCEPT")
        assert lines[0] == b"* ENABLED CONDSTORE QRESYNC UTF8=ACCEPT\r\n"
        tagged, lines = c.cmd("e3 ENABLE CONDSTORE")
        assert lines[0] == b"* ENABLED\r\n"


def test_enable_wrong_states(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, _ = c.cmd("e ENABLE IMAP4rev2")
        assert tagged == b"e BAD not authenticated: log in first\r\n"
        c.login("alice", PASSWORD)
        c.cmd("s SELECT INBOX")
        tagged, _ = c.cmd("e ENABLE IMAP4rev2")
        assert tagged == b"e BAD ENABLE is only valid before a mailbox is selected\r\n"


def test_id(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, lines = c.cmd('i ID ("name" "pytest" "version" "1")')
        assert re.match(rb'\* ID \("name" "tern" "version" "[^"]+"\)\r\n$', lines[0])
        assert tagged == b"i OK ID completed\r\n"
        tagged, lines = c.cmd("j ID NIL")
        assert lines[0].startswith(b'* ID ("name" "tern"')


def test_unauthenticate(srv):
    with logged_in(srv) as c:
        c.cmd("s SELECT INBOX")
        tagged, _ = c.cmd("u UNAUTHENTICATE")
        assert tagged == b"u OK UNAUTHENTICATE completed\r\n"
        tagged, _ = c.cmd("n SELECT INBOX")
        assert tagged == b"n BAD not authenticated: log in first\r\n"
        tagged, lines = c.cmd("c CAPABILITY")
        assert "AUTH=PLAIN" in capabilities(lines[0])
        c.login("bob", PASSWORD, tag="l2")


# --- states and errors ---

def test_wrong_state_commands(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        for cmd in ("SELECT INBOX", "LIST \"\" *", "IDLE", "FETCH 1 FLAGS", "CLOSE"):
            tagged, _ = c.cmd("w " + cmd)
            assert tagged == b"w BAD not authenticated: log in first\r\n", cmd
        c.login("alice", PASSWORD)
        for cmd in ("FETCH 1 FLAGS", "CLOSE", "UNSELECT", "EXPUNGE", "UID SEARCH ALL"):
            tagged, _ = c.cmd("w " + cmd)
            assert tagged == b"w BAD no mailbox selected: SELECT or EXAMINE one first\r\n", cmd
        tagged, _ = c.cmd("w AUTHENTICATE PLAIN")
        assert tagged == b"w BAD already authenticated\r\n"
        tagged, _ = c.cmd("w STARTTLS")
        assert tagged == b"w BAD already authenticated\r\n"


def test_bad_command_survives(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, _ = c.cmd("x FROBNICATE")
        assert tagged.startswith(b"x BAD ")
        c.send(b"\r\n")
        assert c.read_line().startswith(b"* BAD ")
        tagged, _ = c.cmd("y NOOP")
        assert tagged == b"y OK NOOP completed\r\n"
        tagged, _ = c.cmd("z LOGOUT")
        assert tagged == b"z OK LOGOUT completed\r\n"


def test_logout(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, lines = c.cmd("l LOGOUT")
        assert lines == [b"* BYE mail.example.test logging out\r\n", b"l OK LOGOUT completed\r\n"]
        with pytest.raises((EOFError, ConnectionError, OSError)):
            c.read_line()


# --- SELECT, EXAMINE, CLOSE, UNSELECT ---

def test_select_rev1(srv):
    srv.deliver("bob", subject="select-rev1")
    with logged_in(srv, account="bob") as c:
        tagged, lines = c.cmd("s SELECT INBOX")
        text = b"".join(lines).decode()
        exists = int(re.search(r"\* (\d+) EXISTS", text).group(1))
        assert exists >= 1
        # RFC 3501 2.3.2: the new message is recent in the first session to see it
        recent = int(re.search(r"\* (\d+) RECENT\r\n", text).group(1))
        assert 1 <= recent <= exists
        assert re.search(r"\* OK \[UNSEEN \d+\]", text)
        assert "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n" in text
        assert ("* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft \\*)]"
                in text)
        assert re.search(r"\* OK \[UIDVALIDITY \d+\]", text)
        assert re.search(r"\* OK \[UIDNEXT \d+\]", text)
        assert "HIGHESTMODSEQ" not in text and "* LIST" not in text
        assert tagged == b"s OK [READ-WRITE] SELECT completed\r\n"
        # and in that one only: selecting again, it is not recent any more
        tagged, lines = c.cmd("t SELECT INBOX")
        assert b"* 0 RECENT\r\n" in lines
        _, lines = c.cmd("u SEARCH RECENT")
        assert lines[0] == b"* SEARCH\r\n"


def test_examine_rev2_condstore(srv):
    with logged_in(srv, account="bob") as c:
        c.cmd("e ENABLE IMAP4rev2")
        tagged, lines = c.cmd("x EXAMINE inbox (CONDSTORE)")
        text = b"".join(lines).decode()
        assert "* LIST () \"/\" INBOX\r\n" in text
        assert "RECENT" not in text and "UNSEEN" not in text
        assert "* OK [PERMANENTFLAGS ()]" in text
        assert re.search(r"\* OK \[HIGHESTMODSEQ \d+\]", text)
        assert tagged == b"x OK [READ-ONLY] EXAMINE completed\r\n"


def test_select_failure_leaves_no_mailbox(srv):
    with logged_in(srv) as c:
        c.cmd("s SELECT INBOX")
        tagged, lines = c.cmd("t SELECT nosuchbox")
        assert lines == [b"* OK [CLOSED] previous mailbox closed\r\n",
                         b"t NO [NONEXISTENT] no such mailbox\r\n"]
        tagged, _ = c.cmd("u FETCH 1 FLAGS")
        assert tagged == b"u BAD no mailbox selected: SELECT or EXAMINE one first\r\n"


def test_qresync_needs_enable(srv):
    with logged_in(srv) as c:
        tagged, _ = c.cmd("q SELECT INBOX (QRESYNC (1 1))")
        assert tagged == b"q BAD QRESYNC parameter without ENABLE QRESYNC\r\n"


def test_unselect_and_close(srv):
    with logged_in(srv) as c:
        c.cmd("s SELECT INBOX")
        tagged, _ = c.cmd("u UNSELECT")
        assert tagged == b"u OK UNSELECT completed\r\n"
        tagged, _ = c.cmd("c CLOSE")
        assert tagged.startswith(b"c BAD no mailbox selected")
        c.cmd("s2 EXAMINE INBOX")
        tagged, _ = c.cmd("c2 CLOSE")
        assert tagged == b"c2 OK CLOSE completed\r\n"


def test_noop_reports_new_message(srv):
    with logged_in(srv) as c:
        tagged, lines = c.cmd("s SELECT INBOX")
        n = int(re.search(rb"\* (\d+) EXISTS", b"".join(lines)).group(1))
        srv.deliver("alice", subject="noop-new")
        tagged, lines = c.cmd("n NOOP")
        assert lines == [f"* {n + 1} EXISTS\r\n".encode(), b"* 1 RECENT\r\n",
                         b"n OK NOOP completed\r\n"]


# --- IDLE ---

def test_idle_exists_after_delivery(srv):
    with logged_in(srv) as c:
        tagged, lines = c.cmd("s SELECT INBOX")
        n = int(re.search(rb"\* (\d+) EXISTS", b"".join(lines)).group(1))
        recent = int(re.search(rb"\* (\d+) RECENT", b"".join(lines)).group(1))
        c.send(b"i IDLE\r\n")
        assert c.read_line() == b"+ idling\r\n"
        srv.deliver("alice", subject="idle-new")
        t0 = time.time()
        assert c.read_line() == f"* {n + 1} EXISTS\r\n".encode()
        assert time.time() - t0 < 1.0
        # RFC 3501 2.3.2: this session is the first to see it
        assert c.read_line() == f"* {recent + 1} RECENT\r\n".encode()
        c.send(b"DONE\r\n")
        assert c.read_line() == b"i OK IDLE terminated\r\n"


def test_idle_done_in_pieces_with_updates_between(srv):
    """A DONE that arrives slowly does not stop the updates meanwhile."""
    with logged_in(srv) as c:
        tagged, lines = c.cmd("s SELECT INBOX")
        n = int(re.search(rb"\* (\d+) EXISTS", b"".join(lines)).group(1))
        recent = int(re.search(rb"\* (\d+) RECENT", b"".join(lines)).group(1))
        c.send(b"i IDLE\r\n")
        assert c.read_line() == b"+ idling\r\n"
        c.send(b"DO")
        time.sleep(2.5)
        srv.deliver("alice", subject="idle-pieces")
        assert c.read_line() == f"* {n + 1} EXISTS\r\n".encode()
        assert c.read_line() == f"* {recent + 1} RECENT\r\n".encode()
        c.send(b"NE\r\n")
        assert c.read_line() == b"i OK IDLE terminated\r\n"


def test_idle_not_done(srv):
    with logged_in(srv) as c:
        c.send(b"i IDLE\r\n")
        assert c.read_line() == b"+ idling\r\n"
        c.send(b"NOT DONE\r\n")
        assert c.read_line() == b"i BAD expected DONE to end IDLE\r\n"
        tagged, _ = c.cmd("n NOOP")
        assert tagged == b"n OK NOOP completed\r\n"


def test_idle_expunge_from_other_session(srv):
    srv.deliver("bob", subject="idle-expunge")
    with logged_in(srv, account="bob") as other, logged_in(srv, account="bob") as c:
        tagged, lines = c.cmd("s SELECT INBOX")
        n = int(re.search(rb"\* (\d+) EXISTS", b"".join(lines)).group(1))
        other.cmd("s SELECT INBOX")
        tagged, _ = other.cmd(f"st STORE {n} +FLAGS.SILENT (\\Deleted)")
        assert tagged == b"st OK STORE completed\r\n"
        c.send(b"i IDLE\r\n")
        assert c.read_line() == b"+ idling\r\n"
        line = c.read_line()  # the flag change made before IDLE
        assert line.startswith(f"* {n} FETCH (FLAGS (".encode()) and b"\\Deleted" in line
        tagged, _ = other.cmd("x EXPUNGE")
        assert tagged.startswith(b"x OK"), tagged
        assert c.read_line() == f"* {n} EXPUNGE\r\n".encode()
        c.send(b"DONE\r\n")
        assert c.read_line() == b"i OK IDLE terminated\r\n"



def server_threads(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_idle_sessions_give_their_threads_back(srv):
    """Sessions in IDLE are parked: no thread each while they wait, and a
    delivery still reaches every one of them promptly."""
    before = server_threads(srv)
    sessions = []
    try:
        for _ in range(30):
            c = logged_in(srv, account="bob")
            c.cmd("s SELECT INBOX")
            c.send(b"i IDLE\r\n")
            assert c.read_line() == b"+ idling\r\n"
            sessions.append(c)
        deadline = time.time() + 5
        while server_threads(srv) > before + 2 and time.time() < deadline:
            time.sleep(0.05)
        assert server_threads(srv) <= before + 2  # the listener's park thread
        srv.deliver("bob", subject="idle-parked")
        t0 = time.time()
        for c in sessions:
            assert re.fullmatch(rb"\* \d+ EXISTS\r\n", c.read_line())
        assert time.time() - t0 < 2.0
        for c in sessions:
            c.send(b"DONE\r\n")
        for c in sessions:
            line = c.read_line()
            while line.startswith(b"* "):  # RECENT, for the one that took it
                line = c.read_line()
            assert line == b"i OK IDLE terminated\r\n"
    finally:
        for c in sessions:
            c.close()

# --- COMPRESS ---

class Deflated:
    """Raw DEFLATE both ways over a RawIMAP's socket (RFC 4978)."""

    def __init__(self, c):
        self.c = c
        self.comp = zlib.compressobj(wbits=-15)
        self.decomp = zlib.decompressobj(wbits=-15)
        self.buf = c.buf and self.decomp.decompress(c.buf) or b""

    def send(self, data):
        self.c.sock.sendall(self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH))

    def read_line(self):
        while b"\n" not in self.buf:
            d = self.c.sock.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += self.decomp.decompress(d)
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"


def test_compress_deflate(srv):
    with logged_in(srv) as c:
        tagged, _ = c.cmd("z COMPRESS DEFLATE")
        assert tagged == b"z OK DEFLATE active\r\n"
        d = Deflated(c)
        d.send(b"a NOOP\r\nb CAPABILITY\r\n")
        assert d.read_line() == b"a OK NOOP completed\r\n"
        caps = d.read_line()
        assert b"COMPRESS=DEFLATE" not in caps and b"IDLE" in caps
        assert d.read_line() == b"b OK CAPABILITY completed\r\n"
        d.send(b"c COMPRESS DEFLATE\r\n")
        assert d.read_line() == b"c NO [COMPRESSIONACTIVE] DEFLATE is already active\r\n"
        d.send(b"s SELECT INBOX\r\n")
        while not (line := d.read_line()).startswith(b"s "):
            pass
        assert line == b"s OK [READ-WRITE] SELECT completed\r\n"
        d.send(b"l LOGOUT\r\n")
        assert d.read_line().startswith(b"* BYE")


def test_compress_large_fetch_and_literal(srv):
    """Large answers and a synchronizing literal through the compressed stream."""
    body = "".join(f"line {i} {secrets.token_hex(20)}\r\n" for i in range(1500))
    subject = srv.deliver("bob", body=body)
    with logged_in(srv, account="bob") as c:
        c.cmd("s SELECT INBOX")
        tagged, _ = c.cmd("z COMPRESS DEFLATE")
        d = Deflated(c)
        d.send(f"f UID SEARCH SUBJECT {subject}\r\n".encode())
        uid = int(d.read_line().split()[-1])
        assert d.read_line().startswith(b"f OK")
        d.send(f"g UID FETCH {uid} BODY.PEEK[TEXT]\r\n".encode())
        head = d.read_line()
        n = int(re.search(rb"\{(\d+)\}\r\n$", head).group(1))
        while len(d.buf) < n:
            d.buf += d.decomp.decompress(c.sock.recv(65536))
        assert d.buf[:n].decode() == body
        d.buf = d.buf[n:]
        assert d.read_line() == b")\r\n"
        assert d.read_line().startswith(b"g OK")
        d.send(b"h STATUS {5}\r\n")
        assert d.read_line() == b"+ Ready\r\n"
        d.send(b"INBOX (MESSAGES)\r\n")
        assert d.read_line().startswith(b"* STATUS INBOX (MESSAGES ")
        assert d.read_line().startswith(b"h OK")



def test_compress_idle_parked(srv):
    """IDLE inside TLS and COMPRESS parks and wakes like a plain one: the
    update and the DONE pass through both layers; DONE sent together with
    the command is answered without waiting."""
    with logged_in(srv, account="bob") as c:
        c.cmd("s SELECT INBOX")
        c.cmd("z COMPRESS DEFLATE")
        d = Deflated(c)
        d.send(b"i IDLE\r\nDONE\r\n")
        assert d.read_line() == b"+ idling\r\n"
        assert d.read_line() == b"i OK IDLE terminated\r\n"
        d.send(b"j IDLE\r\n")
        assert d.read_line() == b"+ idling\r\n"
        time.sleep(0.5)  # parked by now
        srv.deliver("bob", subject="compressed-idle")
        assert re.fullmatch(rb"\* \d+ EXISTS\r\n", d.read_line())
        d.send(b"DONE\r\n")
        line = d.read_line()
        while line.startswith(b"* "):
            line = d.read_line()
        assert line == b"j OK IDLE terminated\r\n"

def test_compress_unknown_and_before_login(srv):
    with RawIMAP(srv.imaps_port, tls=True) as c:
        tagged, _ = c.cmd("z COMPRESS DEFLATE")
        assert tagged == b"z BAD not authenticated: log in first\r\n"
        c.login("alice", PASSWORD)
        tagged, _ = c.cmd("z COMPRESS GZIP")
        assert tagged.startswith(b"z BAD ")


# --- shutdown ---

def test_shutdown_sends_bye():
    s = ImapServer()
    try:
        s.started(accounts=("alice",))
        waiting = logged_in(s)
        idling = logged_in(s)
        idling.cmd("s SELECT INBOX")
        idling.send(b"i IDLE\r\n")
        assert idling.read_line() == b"+ idling\r\n"
        preauth = RawIMAP(s.imap_port)
        s.stop()
        assert waiting.read_line() == b"* BYE server shutting down\r\n"
        assert idling.read_line() == b"* BYE server shutting down\r\n"
        assert preauth.read_line() == b"* BYE server shutting down\r\n"
    finally:
        s.cleanup()


# --- configuration ---

@pytest.mark.parametrize("service,text", [
    ("IMAP: {Enabled: true}", "Listeners.public.IMAP: needs TLS.KeyCerts (authentication is "
                              "only offered over TLS)"),
    ("IMAPS: {Enabled: true}", "Listeners.public.IMAPS: needs TLS.KeyCerts (implicit TLS)"),
])
def test_config_imap_needs_tls(tmp_path, service, text):
    from test_config import GOOD_STATIC, config_test, write_config
    conf = write_config(tmp_path, static=GOOD_STATIC + f"    {service}\n")
    r = config_test(conf)
    assert r.returncode == 1
    assert r.stderr == f"{conf}: {text}\n"


def test_config_imap_port_clash(tmp_path):
    from test_config import GOOD_STATIC, config_test, write_config
    static = (GOOD_STATIC + "    TLS: {KeyCerts: [{CertFile: c.pem, KeyFile: k.pem}]}\n"
              "    SMTP: {Enabled: true, Port: 2525}\n    IMAPS: {Enabled: true, Port: 2525}\n")
    (tmp_path / "c.pem").write_text("")
    (tmp_path / "k.pem").write_text("")
    conf = write_config(tmp_path, static=static)
    r = config_test(conf)
    assert r.returncode == 1
    assert r.stderr == (f"{conf}: Listeners.public and public: two services on 127.0.0.1 "
                        "port 2525\n")


def test_config_describe_lists_imap():
    from conftest import run_tern
    out = run_tern("config", "describe-static", check=0).stdout
    assert "IMAP:" in out and "IMAPS:" in out and "993" in out and "143" in out


# --- localserve ---

def test_localserve_imap_ports():
    """localserve: IMAP on 1143 (logins without TLS, loopback only) and IMAPS
    on 1993, account tern with password terntern."""
    import shutil
    from conftest import make_world_dir
    from test_localserve import Localserve
    root = make_world_dir()
    ls = Localserve(root / "ls")
    try:
        assert "127.0.0.1:1143" in ls.output() and "1993" in ls.output()
        deadline = time.time() + 10
        while True:
            try:
                c = RawIMAP(1143)
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.05)
        with c:
            caps = capabilities(c.greeting)
            assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps and "STARTTLS" in caps
            c.login("tern@localhost", "terntern")
            tagged, lines = c.cmd("s SELECT INBOX")
            assert tagged == b"s OK [READ-WRITE] SELECT completed\r\n"
        with RawIMAP(1993, tls=True) as c:
            c.login("tern", "terntern")
    finally:
        ls.stop()
        shutil.rmtree(root, ignore_errors=True)
