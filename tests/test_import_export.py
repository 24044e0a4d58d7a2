"""`tern import` and `tern export`: the spam corpus round trip (as message
files, as one mbox and as maildirs, also in archives) gives the same messages
byte for byte apart from line endings; flags and keywords travel; bad input
gets clear errors."""
import hashlib
import os
import pathlib
import re

import pytest

from conftest import REPO, TernServer, accounts_conf, export_mbox

CORPUS = REPO.parent / "shared" / "external-tests" / "spam-corpus-train" / "ham"

DOMAINS = "Domains:\n  example.test: {}\n" + accounts_conf("alice", "bob", "carol")


def digest(data):
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def corpus_digests():
    assert CORPUS.is_dir(), f"{CORPUS} is missing"
    return sorted(digest(p.read_bytes()) for p in CORPUS.iterdir())


def maildir_digests(d):
    return sorted(digest(p.read_bytes()) for p in (d / "cur").iterdir())


def mbox_text(msgs):
    """An exported mailbox's messages as one text, message after message."""
    return "\n".join(m.decode().replace("\r\n", "\n") for m in msgs)


def imported_count(p):
    return int(re.match(r"imported (\d+) messages", p.stdout).group(1))


@pytest.fixture
def tern(world_dir):
    return TernServer(world_dir, domains_conf=DOMAINS)


def test_corpus_round_trip(tern, world_dir):
    want = corpus_digests()
    # message files -> alice -> maildir export
    p = tern.tern("import", "files", "alice", "Inbox", str(CORPUS), check=0)
    assert imported_count(p) == len(want)
    # The account database stays well below the messages themselves. It holds
    # the trigram body index (substring search, RFC 9051 §6.4.4: about a
    # quarter of the text it indexes) and each message's ENVELOPE and search
    # headers (about 600 bytes), which weigh most on this corpus of small
    # (5 KB) messages.
    acct = tern.data / "accounts" / "alice"
    db = sum(f.stat().st_size for f in acct.glob("index.db*"))
    msgs = sum(f.stat().st_size for f in (acct / "msg").rglob("*") if f.is_file())
    assert db < 0.5 * msgs, f"database {db} bytes is {100 * db / msgs:.1f}% of {msgs}"
    tern.tern("export", "maildir", str(world_dir / "md"), "alice", check=0)
    assert maildir_digests(world_dir / "md" / "Inbox") == want
    # alice -> one mbox -> bob -> maildir: mboxrd quoting and unquoting are exact
    tern.tern("export", "mbox", str(world_dir / "mbox"), "alice", check=0)
    p = tern.tern("import", "mbox", "bob", "Inbox", str(world_dir / "mbox" / "Inbox.mbox"), check=0)
    assert imported_count(p) == len(want)
    tern.tern("export", "maildir", str(world_dir / "md2"), "bob", check=0)
    assert maildir_digests(world_dir / "md2" / "Inbox") == want
    # bob -> maildir tree in a tgz -> carol (auto-detected) -> maildir
    tern.tern("export", "maildir", str(world_dir / "bob.tgz"), "bob", check=0)
    p = tern.tern("import", "auto", "carol", "Inbox", str(world_dir / "bob.tgz"), check=0)
    assert imported_count(p) == len(want)
    tern.tern("export", "maildir", str(world_dir / "md3"), "carol", check=0)
    assert maildir_digests(world_dir / "md3" / "Inbox") == want
    v = tern.tern("verifydata", str(tern.data), check=0)
    assert "3 accounts checked: all ok" in v.stdout


def test_flags_keywords_and_mailboxes(tern, world_dir):
    md = world_dir / "src"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
        (md / ".Lists.tern" / sub).mkdir(parents=True)
    (md / "cur" / "1000.1.host:2,FSa").write_bytes(b"Subject: one\n\nbody\n")
    (md / "cur" / "1001.1.host:2,").write_bytes(b"Subject: two\n\nbody\n")
    (md / ".Lists.tern" / "new" / "1002.1.host").write_bytes(b"Subject: three\n\nbody\n")
    (md / "dovecot-keywords").write_text("0 $Junk\n")
    tern.tern("import", "maildir", "alice", "Archive", str(md), check=0)
    boxes = export_mbox(tern.config, world_dir / "out", "alice")
    archive = mbox_text(boxes["Archive"])
    one = archive.split("\n\n")[0]
    assert "Subject: one" in one and re.search(r"^Status: RO?$", one, re.M), archive
    assert re.search(r"^X-Status: F$", one, re.M) and re.search(r"^X-Keywords: \$Junk$", one, re.M)
    assert "Subject: two" in archive
    lists = mbox_text(boxes["Lists/tern"])
    assert "Subject: three" in lists


def test_bare_lf_stored_as_crlf(tern, world_dir):
    src = world_dir / "in.mbox"
    src.write_bytes(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: x\n\n>From here\nline\n")
    tern.tern("import", "mbox", "alice", "Inbox", str(src), check=0)
    files = [p for p in (tern.data / "accounts" / "alice" / "msg").rglob("*") if p.is_file()]
    assert [f.read_bytes() for f in files] == [b"Subject: x\r\n\r\nFrom here\r\nline\r\n"]


def test_import_errors(tern, world_dir):
    p = tern.tern("import", "mbox", "nobody", "Inbox", str(CORPUS), check=1)
    assert 'no account "nobody"' in p.stderr
    p = tern.tern("import", "mbox", "alice", "Inbox", str(world_dir / "missing.mbox"), check=1)
    assert "missing.mbox" in p.stderr
    p = tern.tern("import", "floppy", "alice", "Inbox", "x", check=2)
    assert "usage: tern import" in p.stderr
    p = tern.tern("export", "zip", str(world_dir / "x"), "alice", check=2)
    assert "usage: tern export" in p.stderr
    p = tern.tern("export", "mbox", str(world_dir / "x"), "alice", "NoSuchBox", check=1)
    assert 'no mailbox "NoSuchBox"' in p.stderr
    (world_dir / "exists").mkdir()
    (world_dir / "exists" / "f").write_text("x")
    p = tern.tern("export", "mbox", str(world_dir / "exists"), "alice", check=1)
    assert "exists" in p.stderr


def test_import_respects_quota(world_dir):
    domains = DOMAINS.replace("  bob:\n    Domain: example.test\n",
                              "  bob:\n    Domain: example.test\n    QuotaMessages: 5\n")
    s = TernServer(world_dir, domains_conf=domains)
    p = s.tern("import", "files", "bob", "Inbox", str(CORPUS), check=1)
    assert "quota exceeded" in p.stderr
    assert "(5 messages imported before)" in p.stderr
    v = s.tern("verifydata", str(s.data), check=0)
    assert "account bob: ok: 5 messages" in v.stdout


def test_import_tells_running_server(tern, world_dir):
    tern.start()
    try:
        src = world_dir / "one.mbox"
        src.write_bytes(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: x\n\nbody\n")
        p = tern.tern("import", "mbox", "alice", "Inbox", str(src), check=0)
        assert p.stderr == ""
        assert "pkg=ctl msg=request cmd=account-changed" in tern.logs()
        # The server could open the store the command wrote (same owner).
        assert "bad request" not in tern.logs()
    finally:
        tern.stop()


def test_import_shows_progress_on_a_terminal(tern, world_dir):
    import shlex
    import subprocess
    from conftest import tern_bin
    try:
        fds = os.openpty()
    except OSError as e:
        pytest.skip(f"no pseudo-terminal here ({e}): a chroot without /dev/pts")
    for fd in fds:
        os.close(fd)
    cmd = " ".join(shlex.quote(a) for a in [tern_bin(), "-config", str(tern.config), "import",
                                            "files", "alice", "Inbox", str(CORPUS)])
    # script(1) gives the command a terminal, as a person running it has.
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=300)
    out = p.stdout.decode()  # bytes: text mode would turn the \r into line ends
    assert p.returncode == 0, out
    assert re.search(r"\rimported \d+ messages, \d+\.\d MB", out), out[-500:]
    assert "imported 2075 messages into account alice" in out
