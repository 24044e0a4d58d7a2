"""Real IMAP clients against tern's IMAP server over implicit TLS (IMAPS):
mbsync (isync) syncing both ways, offlineimap syncing both ways, fetchmail
retrieving with keep and without, and mutt in a tmux session showing a
message. Each client trusts the server's self-signed certificate through its
certificate-file option; none has verification turned off.

IMAPTEST_TARGET=dovecot runs the same tests against a private Dovecot
(dovecotfixture), to tell client set-up problems from server ones.

The server's state is checked through imaplib (verified TLS), not through the
client under test.
"""
import email
import email.policy
import imaplib
import os
import pathlib
import re
import shutil
import ssl
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from conftest import make_world_dir  # noqa: E402
from dovecotfixture import DovecotServer, have_dovecot, install_cert  # noqa: E402

TARGET = os.environ.get("IMAPTEST_TARGET", "tern")
HOST = "localhost"


class Server:
    """What the clients need: where (HOST, port), the certificate to trust,
    and an account."""

    def __init__(self, port, cert, user, password, stop):
        self.port = port
        self.cert = str(cert)
        self.user = user
        self.password = password
        self.stop = stop

    def imap(self):
        """imaplib, logged in, with the certificate verified."""
        ctx = ssl.create_default_context(cafile=self.cert)
        m = imaplib.IMAP4_SSL(HOST, self.port, ssl_context=ctx, timeout=20)
        m.login(self.user, self.password)
        return m

    def append(self, subject, body, flags=""):
        msg = make_message(subject, body)
        m = self.imap()
        try:
            typ, data = m.append("INBOX", flags, None, msg)
            assert typ == "OK", data
        finally:
            m.logout()

    def inbox(self):
        """[(subject, flags string, body)] of INBOX, in UID order."""
        m = self.imap()
        try:
            typ, _ = m.select("INBOX")
            assert typ == "OK"
            typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            assert typ == "OK", data
            out = []
            for item in data:
                if not isinstance(item, tuple):
                    continue
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                msg = email.message_from_bytes(item[1], policy=email.policy.default)
                out.append((str(msg["Subject"]), flags.group(1).decode() if flags else "",
                            msg.get_body(("plain",)).get_content()))
            return out
        finally:
            m.logout()

    def clear_inbox(self):
        m = self.imap()
        try:
            m.select("INBOX")
            typ, data = m.search(None, "ALL")
            if data and data[0]:
                m.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                m.expunge()
        finally:
            m.logout()


def make_message(subject, body):
    return ("From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@example.org>\r\n"
            "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n"
            % (subject, uuid.uuid4().hex, body)).encode()


def _start_tern(root):
    try:
        import imapfixture
    except ImportError:
        pytest.skip("tern's IMAP test fixture (tests/imapfixture.py) is not there yet")
    srv = imapfixture.ImapServer(root)
    install_cert(srv.confdir / "tls.crt", srv.confdir / "tls.key",
                 names=("mail.example.test", HOST))
    srv.started(("alice",), imapfixture.PASSWORD)
    return Server(srv.imaps_port, srv.confdir / "tls.crt", "alice", imapfixture.PASSWORD,
                  srv.stop)


def _start_dovecot(root):
    if not have_dovecot():
        pytest.skip("IMAPTEST_TARGET=dovecot but dovecot is not installed")
    dc = DovecotServer(root, users={"alice": "client-test-secret"}).start()
    return Server(dc.imaps_port, dc.cert_path, "alice", "client-test-secret", dc.stop)


@pytest.fixture(scope="module")
def server():
    root = make_world_dir()
    try:
        if TARGET == "dovecot":
            srv = _start_dovecot(root / "dovecot")
        elif TARGET == "tern":
            srv = _start_tern(root / "tern")
        else:
            pytest.fail("IMAPTEST_TARGET must be tern or dovecot, not %r" % TARGET)
        yield srv
        srv.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh(server, tmp_path):
    """The server with an empty INBOX, and a work directory."""
    server.clear_inbox()
    os.chmod(tmp_path, 0o755)
    return server, tmp_path


def need(program):
    if shutil.which(program) is None:
        pytest.fail("%s is not installed (scripts/install-deps.sh installs it)" % program)


def run(cmd, env_home, timeout=60, ok=(0,)):
    env = dict(os.environ, HOME=str(env_home))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert p.returncode in ok, "%s: exit %d\nstdout:\n%s\nstderr:\n%s" % (
        cmd[0], p.returncode, p.stdout, p.stderr)
    return p


def read_maildir(path):
    """{subject: (file path, maildir flags)} of the messages in a Maildir."""
    out = {}
    for sub in ("new", "cur"):
        d = pathlib.Path(path) / sub
        if not d.is_dir():
            continue
        for f in d.iterdir():
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            flags = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
            out[str(msg["Subject"])] = (f, flags, msg.get_body(("plain",)).get_content())
    return out


def add_local_message(maildir, subject, body):
    """Puts a new message into a Maildir the way a mail reader does."""
    name = "%d.%s.localhost" % (time.time(), uuid.uuid4().hex)
    tmp = pathlib.Path(maildir) / "tmp" / name
    tmp.write_bytes(make_message(subject, body).replace(b"\r\n", b"\n"))
    os.rename(tmp, pathlib.Path(maildir) / "new" / name)


def set_local_flags(path, flags):
    """Gives a Maildir message the flags (maildir letters), moving it to cur/."""
    path = pathlib.Path(path)
    base = path.name.split(":2,", 1)[0]
    target = path.parent.parent / "cur" / (base + ":2," + "".join(sorted(flags)))
    os.rename(path, target)
    return target


def unique(word):
    return "%s %s" % (word, uuid.uuid4().hex[:10])


# ---------------------------------------------------------------------------
# mbsync

MBSYNCRC = """\
IMAPAccount test
Host {host}
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {cert}
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {dir}/mail/
Inbox {dir}/mail/INBOX

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge None
SyncState *
Sync All
"""


def test_mbsync_syncs_both_ways(fresh):
    need("mbsync")
    srv, d = fresh
    (d / "mail").mkdir()
    rc = d / "mbsyncrc"
    rc.write_text(MBSYNCRC.format(host=HOST, port=srv.port, user=srv.user, password=srv.password,
                                  cert=srv.cert, dir=d))
    s1, s2, s3 = unique("mbsync one"), unique("mbsync two"), unique("mbsync local")
    srv.append(s1, "first body")
    srv.append(s2, "second body")

    run(["mbsync", "-c", str(rc), "-a"], d)
    local = read_maildir(d / "mail" / "INBOX")
    assert {s1, s2} <= set(local), local
    assert local[s1][2].strip() == "first body"

    # Pushed: a new local message, and the \Flagged flag set locally on s1.
    add_local_message(d / "mail" / "INBOX", s3, "written locally")
    set_local_flags(local[s1][0], set(local[s1][1]) | {"F"})
    # Pulled: \Seen set on the server on s2.
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", '"%s"' % s2)
    assert typ == "OK" and data[0], data
    m.store(data[0].decode().split()[0], "+FLAGS", "(\\Seen)")
    m.logout()

    run(["mbsync", "-c", str(rc), "-a"], d)
    remote = {subj: (flags, body) for subj, flags, body in srv.inbox()}
    assert set(remote) == {s1, s2, s3}, remote
    assert "\\Flagged" in remote[s1][0]
    assert remote[s3][1].strip() == "written locally"
    local = read_maildir(d / "mail" / "INBOX")
    assert "S" in local[s2][1], local[s2]


# ---------------------------------------------------------------------------
# offlineimap

OFFLINEIMAPRC = """\
[general]
accounts = test
metadata = {dir}/offlineimap-state

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {dir}/oimap

[Repository remote]
type = IMAP
remotehost = {host}
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = yes
sslcacertfile = {cert}
folderfilter = lambda name: name == 'INBOX'
createfolders = False
"""


def test_offlineimap_syncs_both_ways(fresh):
    need("offlineimap")
    srv, d = fresh
    rc = d / "offlineimaprc"
    rc.write_text(OFFLINEIMAPRC.format(host=HOST, port=srv.port, user=srv.user,
                                       password=srv.password, cert=srv.cert, dir=d))
    s1, s2 = unique("offlineimap remote"), unique("offlineimap local")
    srv.append(s1, "remote body")
    run(["offlineimap", "-c", str(rc), "-o", "-u", "basic"], d, timeout=120)
    local = read_maildir(d / "oimap" / "INBOX")
    assert set(local) == {s1}, local
    assert local[s1][2].strip() == "remote body"

    add_local_message(d / "oimap" / "INBOX", s2, "local body")
    set_local_flags(local[s1][0], {"F", "S"})
    run(["offlineimap", "-c", str(rc), "-o", "-u", "basic"], d, timeout=120)
    remote = {subj: (flags, body) for subj, flags, body in srv.inbox()}
    assert set(remote) == {s1, s2}, remote
    assert remote[s2][1].strip() == "local body"
    assert "\\Flagged" in remote[s1][0] and "\\Seen" in remote[s1][0], remote[s1]


# ---------------------------------------------------------------------------
# fetchmail

FETCHMAILRC = """\
set no bouncemail
poll {host} with proto IMAP port {port}
  user "{user}" there with password "{password}"
  ssl sslcertck sslcertfile "{cert}"
  mda "{dir}/deliver"
"""


def test_fetchmail_retrieves_with_keep_and_nokeep(fresh):
    need("fetchmail")
    srv, d = fresh
    out = d / "delivered"
    out.mkdir()
    deliver = d / "deliver"
    deliver.write_text('#!/bin/sh\nf=$(mktemp "%s/msg.XXXXXX")\ncat > "$f"\n' % out)
    deliver.chmod(0o755)
    rc = d / "fetchmailrc"
    rc.write_text(FETCHMAILRC.format(host=HOST, port=srv.port, user=srv.user,
                                     password=srv.password, cert=srv.cert, dir=d))
    rc.chmod(0o600)
    s1, s2, s3 = unique("fetchmail one"), unique("fetchmail two"), unique("fetchmail three")
    srv.append(s1, "body one")
    srv.append(s2, "body two")
    fm = ["fetchmail", "-f", str(rc), "--nosyslog", "--nodetach", "--pidfile", str(d / "pid")]

    run(fm + ["--keep"], d)
    got = sorted(email.message_from_bytes(f.read_bytes())["Subject"] for f in out.iterdir())
    assert got == sorted([s1, s2])
    remote = srv.inbox()
    assert sorted(s for s, _, _ in remote) == sorted([s1, s2])
    assert all("\\Seen" in flags for _, flags, _ in remote), remote

    # Nothing new: exit 1 (no mail), nothing delivered.
    run(fm + ["--keep"], d, ok=(1,))
    assert len(list(out.iterdir())) == 2

    srv.append(s3, "body three")
    run(fm + ["--nokeep", "--all"], d)
    got = sorted(email.message_from_bytes(f.read_bytes())["Subject"] for f in out.iterdir())
    assert got == sorted([s1, s2, s1, s2, s3])
    assert srv.inbox() == []


# ---------------------------------------------------------------------------
# mutt

MUTTRC = """\
set folder="imaps://{user}@{host}:{port}/"
set spoolfile="+INBOX"
set imap_pass="{password}"
set ssl_ca_certificates_file="{cert}"
set certificate_file="{dir}/mutt-certificates"
set ssl_force_tls=yes
set header_cache=""
set message_cachedir=""
set sort=date
set mail_check=5
set timeout=5
set move=no
set wait_key=no
set pager_stop=yes
set charset="utf-8"
"""


class Tmux:
    """A tmux server of its own (socket in the test directory)."""

    def __init__(self, directory):
        self.sock = str(pathlib.Path(directory) / "tmux.sock")

    def run(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                              timeout=20)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "mutt").stdout

    def wait_for(self, text, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError("%r not on the screen:\n%s" % (text, self.screen()))

    def kill(self):
        self.run("kill-server")


def test_mutt_reads_a_message_over_imaps(fresh):
    need("mutt")
    need("tmux")
    srv, d = fresh
    subject = unique("mutt subject")
    srv.append(subject, "Body text seen in mutt's pager.")
    rc = d / "muttrc"
    rc.write_text(MUTTRC.format(user=srv.user, host=HOST, port=srv.port, password=srv.password,
                                cert=srv.cert, dir=d))
    tmux = Tmux(d)
    try:
        p = tmux.run("new-session", "-d", "-s", "mutt", "-x", "160", "-y", "40",
                     "env HOME=%s TERM=xterm mutt -n -F %s" % (d, rc))
        assert p.returncode == 0, p.stderr
        index = tmux.wait_for(subject)
        assert "INBOX" in index or "imaps://" in index, index
        tmux.run("send-keys", "-t", "mutt", "Enter")
        pager = tmux.wait_for("Body text seen in mutt's pager.")
        assert "Subject: " + subject in pager, pager
        tmux.run("send-keys", "-t", "mutt", "q")
        tmux.run("send-keys", "-t", "mutt", "q")
    finally:
        tmux.kill()
