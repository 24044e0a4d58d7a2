"""Dovecot imaptest's scripted IMAP tests (../shared/external-tests/imaptest),
each script its own case, run by imaptest_runner against tern's IMAP server
with one account (and a second one for scripts that name `user 2`).

IMAPTEST_TARGET=dovecot runs the same cases against a private Dovecot
(dovecotfixture), the server the scripts were written for: that is how the
runner itself is checked. The default target is tern.

Scripts whose `capabilities:` the server does not advertise are skipped with
that reason, as imaptest does; the only other skips are listed in
KNOWN_SKIPS with their reason. Scripts a target is known to fail are strict
expected failures, each with its reason (TERN_KNOWN_FAILURES,
DOVECOT_KNOWN_FAILURES): a failure report names the command, the line of the
script, the reply expected and the closest one received.
"""
import os
import pathlib
import shutil
import ssl
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import imaptest_runner as runner  # noqa: E402
from conftest import make_world_dir  # noqa: E402
from dovecotfixture import DovecotServer, have_dovecot, install_cert  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
SUITE = REPO.parent / "shared" / "external-tests" / "imaptest" / "tests"
TARGET = os.environ.get("IMAPTEST_TARGET", "tern")

# Dovecot's accounts; tern's are imapfixture's alice and bob.
USER, PASSWORD = "alice", "imaptest-secret-1"
USER2, PASSWORD2 = "bob", "imaptest-secret-2"

# Scripts not run, and why (besides those skipped for a missing capability).
KNOWN_SKIPS = {
    "append-binary":
        "the script contradicts itself: it expects BINARY.SIZE[1] 7 and a BINARY[1] "
        "literal that its own {{{ }}} syntax makes 6 bytes long (the literal's last line "
        "end is dropped), so it fails against Dovecot as well",
}

# Scripts tern does not pass yet, and why: expected failures (strict, so a fix
# shows up as XPASS and its line here goes). Only for IMAPTEST_TARGET=tern.
TERN_KNOWN_FAILURES = {
}

# Scripts the Debian 12 Dovecot (2.3.19) fails by crashing (its log shows the
# panics); only for IMAPTEST_TARGET=dovecot.
DOVECOT_KNOWN_FAILURES = {
    "urlauth-binary": "imap panics in URLFETCH ... BINARY BODYPARTSTRUCTURE "
                      "(client_command_free: assertion failed: !cmd->executing)",
    "urlauth2": "imap-urlauth-login panics when the second user's URLFETCH starts the "
                "imap-urlauth service (sasl_server_auth_begin assertion)",
}

SCRIPTS = runner.list_scripts(str(SUITE)) if SUITE.is_dir() else []


def _dovecot_target(root):
    if not have_dovecot():
        pytest.skip("IMAPTEST_TARGET=dovecot but dovecot is not installed")
    server = DovecotServer(root, users={USER: PASSWORD, USER2: PASSWORD2}).start()
    target = runner.Target("127.0.0.1", server.imap_port, USER, PASSWORD, USER2, PASSWORD2)
    return server, target


def _tern_target(root):
    try:
        import imapfixture
    except ImportError:
        pytest.skip("tern's IMAP test fixture (tests/imapfixture.py) is not there yet")
    srv = imapfixture.ImapServer(root)
    install_cert(srv.confdir / "tls.crt", srv.confdir / "tls.key",
                 names=("mail.example.test", "localhost"))
    srv.started(("alice", "bob"), imapfixture.PASSWORD)
    ctx = ssl.create_default_context(cafile=str(srv.confdir / "tls.crt"))
    target = runner.Target("localhost", srv.imaps_port, "alice", imapfixture.PASSWORD,
                           "bob", imapfixture.PASSWORD, ssl_context=ctx)
    return srv, target


@pytest.fixture(scope="module")
def imap_target():
    root = make_world_dir()
    if TARGET == "dovecot":
        server, target = _dovecot_target(root / "dovecot")
    elif TARGET == "tern":
        server, target = _tern_target(root / "tern")
    else:
        pytest.fail("IMAPTEST_TARGET must be tern or dovecot, not %r" % TARGET)
    yield target
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(not SCRIPTS, reason="imaptest scripts not found at %s" % SUITE)
@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(p) for p in SCRIPTS])
def test_imaptest_script(script, imap_target, request):
    name = os.path.basename(script)
    if name in KNOWN_SKIPS:
        pytest.skip(KNOWN_SKIPS[name])
    known = TERN_KNOWN_FAILURES if TARGET == "tern" else DOVECOT_KNOWN_FAILURES
    if name in known:
        request.applymarker(pytest.mark.xfail(reason=known[name], strict=True))
    result = runner.run_script(script, imap_target)
    if result.status == "skipped":
        pytest.skip(result.reason)
    assert result.status == "passed", result.report()


def test_suite_is_there():
    """The scripts are part of the test data: a missing directory is an error,
    not a silent pass."""
    assert SCRIPTS, "imaptest scripts not found at %s" % SUITE
    assert len(SCRIPTS) >= 50


# A script of our own that a correct runner must fail: the mailbox is empty,
# so "* 1 exists" never comes.
WRONG_SCRIPT = """\
state: created

ok select $mailbox
* 1 exists
"""

# And one it must pass, exercising variables, relative sequences and the
# default unordered FETCH matching.
RIGHT_SCRIPT = """\
state: created

ok append
ok append
ok select $mailbox
* 2 exists
ok fetch 1:2 (flags uid)
* 1 fetch (uid $uid1 flags ())
* 2 fetch (flags () uid $uid2)
ok uid store $uid1 +flags (\\deleted)
* 1 fetch (uid $uid1 flags (\\deleted))
ok expunge
* $1 expunge
ok uid fetch $uid2 uid
* 1 fetch (uid $uid2)
"""


def _run_text(tmp_path, text, target):
    path = tmp_path / "own-script"
    path.write_text(text)
    (tmp_path / "default.mbox").write_bytes((SUITE / "default.mbox").read_bytes())
    return runner.run_script(str(path), target)


@pytest.mark.skipif(not SCRIPTS, reason="imaptest scripts not found at %s" % SUITE)
def test_runner_fails_a_wrong_expectation(tmp_path, imap_target):
    result = _run_text(tmp_path, WRONG_SCRIPT, imap_target)
    assert result.status == "failed", result.report()
    assert "missing 1 untagged replies" in result.reason


@pytest.mark.skipif(not SCRIPTS, reason="imaptest scripts not found at %s" % SUITE)
def test_runner_passes_a_right_expectation(tmp_path, imap_target):
    result = _run_text(tmp_path, RIGHT_SCRIPT, imap_target)
    assert result.status == "passed", result.report()


# The matching rules, without a server.

def _matcher():
    script = runner.Script("/nonexistent/x")
    r = runner.Runner.__new__(runner.Runner)
    r.s = script
    r.vars = {}
    r.added = []
    r.seqmap = [1, 2, 3]
    r.modseq_idx = 0
    r.modseq_value = 0
    return r


def _untagged(text):
    p = runner._Parser(runner.Script("/nonexistent/x"), {})
    p.group = runner.Group()
    p.untagged(text, "*", 1)
    return p.group.untagged[0].args


def _match(pattern, reply, r=None, prefix=False):
    r = r or _matcher()
    return r.match_args(_untagged(pattern), runner.parse_reply(reply), prefix=prefix) is True


def test_match_fetch_is_unordered_and_sets_variables():
    r = _matcher()
    assert _match("1 fetch (uid $uid flags (\\seen))", "1 FETCH (FLAGS (\\Recent \\Seen) UID 7)", r)
    assert r.vars["uid"] == "7"
    assert not _match("1 fetch (uid $uid)", "1 FETCH (UID 8)", r)


def test_match_flags_have_no_extra_but_recent():
    assert not _match("1 fetch (flags (\\seen))", "1 FETCH (FLAGS (\\Seen \\Flagged))")
    assert _match("1 fetch (flags (\\seen))", "1 FETCH (FLAGS (\\Seen \\Recent))")


def test_match_directives():
    assert _match("list ($!unordered \\noselect) \"/\" a", "LIST (\\HasChildren \\Noselect) \"/\" a")
    assert not _match("list ($!ordered \\noselect \\haschildren) \"/\" a",
                      "LIST (\\HasChildren \\Noselect) \"/\" a")
    assert not _match("list ($!unordered $!ban=\\marked \\noselect) \"/\" a",
                      "LIST (\\Noselect \\Marked) \"/\" a")
    assert _match("status box ($!unordered=2 messages 3)", "STATUS box (UIDNEXT 4 MESSAGES 3)")
    assert not _match("status box ($!unordered=2 $!noextra messages 3)",
                      "STATUS box (UIDNEXT 4 MESSAGES 3)")


def test_match_dollar_and_case():
    assert _match("1 fetch (body $)", "1 FETCH (BODY (\"text\" \"plain\" NIL))")
    assert _match("list () \"/\" ${case:INBOX}", "LIST () \"/\" INBOX")
    assert not _match("list () \"/\" ${case:INBOX}", "LIST () \"/\" Inbox")
    assert _match("list () \"/\" inbox", "LIST () \"/\" Inbox")


def test_match_relative_sequence_and_modseq():
    r = _matcher()
    r.seqmap_expunge(1)
    assert r.seqmap == [0, 1, 2]
    assert _match("$3 expunge", "2 EXPUNGE", r)
    assert _match("1 fetch (modseq ($modseq2))", "1 FETCH (MODSEQ (10))", r)
    assert not _match("1 fetch (modseq ($modseq4))", "1 FETCH (MODSEQ (11))", r)


def test_tagged_reply_is_a_prefix_match():
    r = _matcher()
    reply = runner.parse_reply("NO [TRYCREATE] Mailbox doesn't exist: x")
    assert r.match_args(runner.parse_args("no [trycreate]"), reply, prefix=True) is True
    assert r.match_args(runner.parse_args("no [nonexistent]"), reply, prefix=True) is not True
    assert r.match_args(runner.parse_args('""'), reply, prefix=True) is True


def test_script_syntax():
    p = runner._Parser(runner.Script("/nonexistent/x"), {"HAVE_X": "1"})
    p.parse("state: auth\n\nok append $mailbox {{{\na\nb\n}}}\n!ifnenv HAVE_X\nok noop\n!endif\n"
            "tag1 noop\ntag2 check\ntag2 ok\ntag1 ok\n")
    groups = p.s.groups
    assert groups[0].commands[0].text == "append $mailbox {4}\r\na\r\nb"
    assert len(groups) == 2
    assert [c.tag for c in groups[1].commands] == [1, 2]
    with pytest.raises(runner.ScriptError):
        runner._Parser(runner.Script("/nonexistent/x"), {}).parse("bogus: 1\n\nok noop\n")


def test_mbox_source_wraps():
    src = runner.MboxSource(str(SUITE / "search-date.mbox"))
    first, date = src.next()
    assert date == "24-Mar-2007 23:00:00 +0200"
    assert first.endswith("\r\n") and "\n" not in first.replace("\r\n", "")
    for _ in range(len(src.messages) - 1):
        src.next()
    assert src.eof()
    assert src.next()[0] == first
