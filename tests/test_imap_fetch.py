"""End-to-end tests of tern's FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2;
RFC 3516 BINARY; RFC 7162 CHANGEDSINCE): messages go in through tern's SMTP
listener and come back over IMAP byte for byte, the delivery headers tern
added (Received, Authentication-Results) in front of them."""
import base64
import os
import pathlib
import re
import shutil
import tempfile

import pytest

from dovecotfixture import DovecotServer, have_dovecot
from imapfixture import PASSWORD, RawIMAP, imap_serve
from smtpfixture import token

ATTACHMENT = bytes(range(256)) * 4 + b"\x00end"


def mime_message(subject):
    b64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
    return (b"From: Sender Name <sender@example.org>\r\n"
            b"To: alice@example.test\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <" + subject.encode() + b"@example.org>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
            b"\r\n"
            b"--XYZ\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n"
            b"\r\n"
            b"Gr=C3=BC=C3=9Fe aus Z=C3=BCrich.\r\n"
            b"--XYZ\r\n"
            b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
            b"\r\n" + b64 +
            b"--XYZ--\r\n")


@pytest.fixture(scope="module")
def srv():
    yield from imap_serve(max_size=8_000_000)


class Session:
    """A logged-in raw IMAP session with literal-aware reading."""

    def __init__(self, srv, account="alice"):
        self.c = RawIMAP(srv.imaps_port, tls=True)
        self.c.login(account, PASSWORD)
        self.n = 0

    def cmd(self, line):
        """Sends a command; returns (tagged line, the answer's bytes before it)."""
        self.n += 1
        tag = f"t{self.n}"
        self.c.send(f"{tag} {line}\r\n")
        out = b""
        while True:
            ln = self.c.read_line()
            m = re.search(rb"~?\{(\d+)\}\r\n$", ln)
            if m:
                n = int(m.group(1))
                while len(self.c.buf) < n:
                    d = self.c.sock.recv(1 << 20)
                    if not d:
                        raise EOFError("closed inside a literal")
                    self.c.buf += d
                out += ln + self.c.buf[:n]
                self.c.buf = self.c.buf[n:]
                continue
            if ln.startswith(tag.encode() + b" "):
                return ln, out
            out += ln

    def ok(self, line):
        tagged, out = self.cmd(line)
        assert tagged.split(b" ")[1] == b"OK", (line, tagged, out[-2000:])
        return out

    def close(self):
        self.c.close()


def literal(answer, name):
    """The bytes of the literal after `name` in a FETCH answer."""
    i = answer.index(name.encode())
    m = re.compile(rb"~?\{(\d+)\}\r\n").match(answer, i + len(name) + 1)
    assert m, answer[i:i + 200]
    return answer[m.end():m.end() + int(m.group(1))]


def select_new_mailbox(s, srv, raws):
    """Delivers raws through SMTP and selects INBOX; returns the sequence
    numbers of the delivered messages (the last len(raws) ones)."""
    for raw in raws:
        srv.deliver("alice", raw=raw)
    out = s.ok("SELECT INBOX")
    exists = int(re.search(rb"\* (\d+) EXISTS", out).group(1))
    return list(range(exists - len(raws) + 1, exists + 1))


def test_body_byte_for_byte(srv):
    subject = token()
    raw = mime_message(subject)
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [raw])
    out = s.ok(f"FETCH {n} (RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[HEADER])")
    whole = literal(out, "BODY[]")
    # tern's delivery headers come first; then what was sent, unchanged
    assert whole.endswith(raw)
    added = whole[:-len(raw)]
    assert added.startswith(b"Received: ") and added.endswith(b"\r\n"), added
    size = int(re.search(rb"RFC822.SIZE (\d+)", out).group(1))
    assert size == len(whole)
    header_end = raw.index(b"\r\n\r\n") + 4
    assert literal(out, "BODY[TEXT]") == raw[header_end:]
    assert literal(out, "BODY[HEADER]") == added + raw[:header_end]
    # partial: origin octet, data clipped (RFC 9051 §6.4.5)
    out = s.ok(f"FETCH {n} (BODY.PEEK[]<{len(added)}.30> BODY.PEEK[1]<8.1000>)")
    assert literal(out, f"BODY[]<{len(added)}>") == raw[:30]
    assert literal(out, "BODY[1]<8>") == b"=C3=9Fe aus Z=C3=BCrich."
    s.close()


def test_envelope_and_bodystructure(srv):
    subject = token()
    raw = mime_message(subject)
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [raw])
    out = s.ok(f"FETCH {n} (ENVELOPE BODYSTRUCTURE)")
    # the CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1):
    # the text part's one line has no line ending of its own, so 0 lines
    # (body-fld-lines counts line endings, as Dovecot does)
    b64_len = len(base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")) - 2
    expect = (f'* {n} FETCH (ENVELOPE ("Wed, 25 Nov 2026 10:00:00 +0000" "{subject}" '
              '(("Sender Name" NIL "sender" "example.org")) '
              '(("Sender Name" NIL "sender" "example.org")) '
              '(("Sender Name" NIL "sender" "example.org")) '
              '((NIL NIL "alice" "example.test")) NIL NIL NIL '
              f'"<{subject}@example.org>") '
              'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" '
              '32 0 NIL NIL NIL NIL)'
              '("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" '
              f'{b64_len} NIL ("attachment" ("filename" "data.bin")) NIL NIL) '
              '"mixed" ("boundary" "XYZ") NIL NIL NIL))\r\n').encode()
    assert out == expect
    s.close()


def test_binary_decodes(srv):
    raw = mime_message(token())
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [raw])
    out = s.ok(f"FETCH {n} (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.PEEK[1] BINARY.PEEK[2])")
    assert f"BINARY.SIZE[1] {len('Grüße aus Zürich.'.encode())}".encode() in out
    assert f"BINARY.SIZE[2] {len(ATTACHMENT)}".encode() in out
    assert literal(out, "BINARY[1]") == "Grüße aus Zürich.".encode()
    # RFC 3516 §4.3: data with NUL goes as literal8
    assert b"BINARY[2] ~{" in out
    assert literal(out, "BINARY[2]") == ATTACHMENT
    out = s.ok(f"FETCH {n} (BINARY.PEEK[2]<1020.100>)")
    assert literal(out, "BINARY[2]<1020>") == ATTACHMENT[1020:]
    s.close()


def test_seen_set_by_body_not_by_peek(srv):
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [mime_message(token())])
    # \\Recent: this session is the first to see the message (RFC 3501 2.3.2)
    out = s.ok(f"FETCH {n} (BODY.PEEK[1] FLAGS)")
    assert f"* {n} FETCH (BODY[1] ".encode() in out and b"FLAGS (\\Recent)" in out
    out = s.ok(f"FETCH {n} (BODY[1])")
    assert out.endswith(b" FLAGS (\\Seen \\Recent))\r\n"), out
    out = s.ok(f"FETCH {n} (FLAGS)")
    assert out == f"* {n} FETCH (FLAGS (\\Seen \\Recent))\r\n".encode()
    s.close()
    # EXAMINE is read-only: BODY[] leaves \Seen alone (RFC 9051 §6.3.3)
    s = Session(srv)
    (m,) = select_new_mailbox(s, srv, [mime_message(token())])
    s.ok("EXAMINE INBOX")
    out = s.ok(f"FETCH {m} (BODY[TEXT])")
    assert b"FLAGS" not in out
    s.ok("SELECT INBOX")
    assert s.ok(f"FETCH {m} (FLAGS)").endswith(b"FLAGS ())\r\n")
    s.close()


def test_uid_fetch_and_errors(srv):
    s = Session(srv)
    nums = select_new_mailbox(s, srv, [mime_message(token()), mime_message(token())])
    out = s.ok(f"FETCH {nums[0]}:{nums[1]} (UID)")
    uids = [int(u) for u in re.findall(rb"UID (\d+)", out)]
    assert len(uids) == 2 and uids[0] < uids[1]
    # UID FETCH answers with sequence numbers and always includes UID (§6.4.9)
    out = s.ok(f"UID FETCH {uids[1]} (RFC822.SIZE)")
    assert re.fullmatch(rf"\* {nums[1]} FETCH \(UID {uids[1]} RFC822.SIZE \d+\)\r\n".encode(),
                        out), out
    assert s.ok(f"UID FETCH {uids[1] + 1000} (FLAGS)") == b""
    tagged, _ = s.cmd(f"FETCH {nums[1] + 1} (FLAGS)")
    assert tagged.split(b" ")[1] == b"BAD", tagged
    tagged, _ = s.cmd("FETCH 1 (EMAILID)")
    assert b"BAD" in tagged and b"not supported" in tagged
    s.close()


def test_changedsince(srv):
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [mime_message(token())])
    out = s.ok(f"FETCH {n} (MODSEQ)")
    assert b"[HIGHESTMODSEQ " in out  # the first CONDSTORE enabling command
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", out).group(1))
    out = s.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")
    assert f"* {n} FETCH".encode() not in out
    out = s.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq - 1})")
    assert f"* {n} FETCH (FLAGS (\\Recent) MODSEQ ({modseq}))".encode() in out
    s.close()


def test_large_message_streamed(srv):
    """A message of several MiB comes back whole, byte for byte."""
    line = b"".join(bytes([33 + (i % 90)]) for i in range(76)) + b"\r\n"
    body = line * 60000   # about 4.7 MB
    raw = (b"From: sender@example.org\r\nTo: alice@example.test\r\nSubject: big\r\n"
           b"Content-Type: text/plain\r\n\r\n" + body)
    s = Session(srv)
    (n,) = select_new_mailbox(s, srv, [raw])
    out = s.ok(f"FETCH {n} (BODY.PEEK[] BODYSTRUCTURE)")
    whole = literal(out, "BODY[]")
    assert whole.endswith(raw)
    assert f'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" {len(body)} 60000 '.encode() \
        in out
    out = s.ok(f"FETCH {n} (BODY.PEEK[TEXT]<{len(body) - 10}.100>)")
    assert literal(out, f"BODY[TEXT]<{len(body) - 10}>") == body[-10:]
    s.close()


# --- the same messages as Dovecot shows them ---

CORPUS = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "external-tests" / \
    "mime-corpus"


def fetch_items(answer):
    """The data items of one "* n FETCH (...)" line as {name: value bytes}."""
    m = re.match(rb"\* \d+ FETCH \(", answer)
    assert m, answer[:200]
    i, items = m.end(), {}
    while answer[i:i + 1] != b")":
        name = re.match(rb"[A-Z0-9.\[\]]+", answer[i:]).group(0)
        i += len(name) + 1
        j = skip_value(answer, i)
        items[name.decode()] = answer[i:j]
        i = j + (answer[j:j + 1] == b" ")
    return items


def skip_value(s, i):
    """Where the IMAP value starting at s[i] ends."""
    if s[i:i + 1] == b"(":
        i += 1
        while s[i:i + 1] != b")":
            i = skip_value(s, i)
            i += s[i:i + 1] == b" "
        return i + 1
    if s[i:i + 1] == b'"':
        i += 1
        while s[i:i + 1] != b'"':
            i += 2 if s[i:i + 1] == b"\\" else 1
        return i + 1
    m = re.compile(rb"~?\{(\d+)\}\r\n").match(s, i)
    if m:
        return m.end() + int(m.group(1))
    return re.compile(rb"[^ ()]+").match(s, i).end()


def dovecot_fetch(root, messages, items):
    """Dovecot's FETCH answers for messages, put in a Maildir of its own
    server (dovecotfixture, loopback); returned by their BODY[]."""
    user = "user@example.test"
    dc = DovecotServer(root, users={user: "pass"}).start()
    try:
        uid, gid = dc._accounts()[:2]
        maildir = dc.maildir(user)
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for i, raw in enumerate(messages):
            (maildir / "cur" / f"{1000000000 + i}.M{i}.tern:2,").write_bytes(raw)
        for p in [maildir.parent, maildir, *maildir.rglob("*")]:
            os.chown(p, uid, gid)
        c = RawIMAP(dc.imap_port)
        c.login(user, "pass")
        tagged, _ = c.cmd("s SELECT INBOX")
        assert tagged.startswith(b"s OK"), (tagged, dc.log())
        c.send(f"f FETCH 1:* ({items} BODY.PEEK[])\r\n")
        answers = {}
        while True:
            line = c.read_line()
            if line.startswith(b"f "):
                assert line.startswith(b"f OK"), line
                break
            while re.search(rb"~?\{(\d+)\}\r\n$", line):
                n = int(re.search(rb"~?\{(\d+)\}\r\n$", line).group(1))
                while len(c.buf) < n:
                    c.buf += c.sock.recv(1 << 20)
                line += c.buf[:n]
                c.buf = c.buf[n:]
                line += c.read_line()
            items_ = fetch_items(line)
            body = items_["BODY[]"]
            answers[body[body.index(b"\r\n") + 2:]] = items_
        c.close()
        return answers
    finally:
        dc.stop()


@pytest.fixture
def dovecot_dir():
    """A directory outside pytest's (mode 0700) tree, for Dovecot's users."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="tern-dovecot-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not have_dovecot(), reason="dovecot is not installed")
def test_same_envelope_and_preview_as_dovecot(srv, dovecot_dir):
    """ENVELOPE and PREVIEW of the MIME corpus's well-formed messages (rfc/
    and legacy/) as Dovecot gives them. (BODYSTRUCTURE differs where tern's
    MIME parser lowercases types, decodes parameters and recovers broken parts
    otherwise; its line counts are Dovecot's.)"""
    s = Session(srv)
    ours = []
    for f in sorted(CORPUS.glob("rfc/*.eml")) + sorted(CORPUS.glob("legacy/*.eml")):
        raw = re.sub(rb"\r?\n", b"\r\n", f.read_bytes())
        if b"\r" in raw.replace(b"\r\n", b""):
            continue  # bare CR: refused by tern's SMTP listener
        srv.deliver("alice", raw=raw)
        out = s.ok("SELECT INBOX")
        n = int(re.search(rb"\* (\d+) EXISTS", out).group(1))
        out = s.ok(f"FETCH {n} (ENVELOPE PREVIEW BODY.PEEK[])")
        items = fetch_items(out)
        whole = literal(out, "BODY[]")
        ours.append((f.name, whole, items))
    assert len(ours) >= 50
    theirs = dovecot_fetch(dovecot_dir, [w for _, w, _ in ours], "ENVELOPE PREVIEW")
    for name, whole, items in ours:
        d = theirs[whole]
        assert items["ENVELOPE"] == d["ENVELOPE"], name
        assert items["PREVIEW"] == d["PREVIEW"], name
    s.close()
