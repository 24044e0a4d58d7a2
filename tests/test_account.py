"""`tern account add|rm|list`: domains.conf changed directly when no server
runs, and through the control socket (the server writes and reloads) when one
does."""
import re

from conftest import MINIMAL_DOMAINS, TernServer


def test_add_list_remove_without_server(world_dir):
    s = TernServer(world_dir)
    p = s.tern("account", "add", "bob", "bob@example.test", check=0)
    assert p.stdout == "account bob added with address bob@example.test\n"
    assert s.tern("account", "list", check=0).stdout == \
        "alice\talice@example.test\nbob\tbob@example.test\n"
    s.tern("config", "test", check=0)
    p = s.tern("account", "rm", "alice", check=0)
    assert p.stdout.startswith("account alice removed from ")
    assert "its data stays in" in p.stdout
    assert s.tern("account", "list", check=0).stdout == "bob\tbob@example.test\n"


def test_add_keeps_other_settings(world_dir):
    domains = MINIMAL_DOMAINS.replace(
        "    Description: test domain\n",
        "    Description: \"test: domain\"\n    LocalpartCatchallSeparator: \"+\"\n").replace(
        "      alice@example.test: {}\n",
        "      alice@example.test:\n        Mailbox: Lists\n"
        "        Rulesets:\n"
        "          - HeadersRegexp:\n"
        "              List-Id: \"<dev\\\\.example>\"\n"
        "            Mailbox: Dev\n"
        "      \"@example.test\": {}\n")
    s = TernServer(world_dir, domains_conf=domains)
    s.tern("account", "add", "bob", "bob@example.test", check=0)
    text = (s.confdir / "domains.conf").read_text()
    assert 'Description: "test: domain"' in text
    assert 'LocalpartCatchallSeparator: "+"' in text
    assert "Mailbox: Lists" in text
    assert '"@example.test": {}' in text
    assert 'list-id: "<dev\\\\.example>"' in text and "Mailbox: Dev" in text
    s.tern("config", "test", check=0)
    assert text.startswith("# domains.conf: domains and accounts")


def test_add_errors(world_dir):
    s = TernServer(world_dir)
    before = (s.confdir / "domains.conf").read_text()
    p = s.tern("account", "add", "alice", "alice2@example.test", check=1)
    assert p.stderr == 'tern account add: account "alice" already exists\n'
    p = s.tern("account", "add", "carol", "carol@elsewhere.test", check=1)
    assert 'domain "elsewhere.test" is not in' in p.stderr
    p = s.tern("account", "add", "carol", "ALICE@example.test", check=1)
    assert 'address ALICE@example.test already belongs to account "alice"' in p.stderr
    p = s.tern("account", "add", "carol", "no-at-sign", check=1)
    assert '"no-at-sign" is not an address' in p.stderr
    p = s.tern("account", "add", "../etc", "x@example.test", check=1)
    assert "is not a valid account name" in p.stderr
    p = s.tern("account", "rm", "nobody", check=1)
    assert 'no account "nobody"' in p.stderr
    s.tern("account", "add", "bob", check=2)
    assert (s.confdir / "domains.conf").read_text() == before


def test_add_through_running_server(server):
    p = server.tern("account", "add", "bob", "bob@example.test", check=0)
    assert p.stdout == "account bob added with address bob@example.test\n"
    logs = server.logs()
    assert "pkg=ctl msg=request cmd=account-add" in logs
    # The running server took the new configuration: a reload reports two accounts.
    assert server.tern("config", "reload", check=0).stdout == \
        "config reloaded: 1 domains, 2 accounts\n"
    p = server.tern("account", "rm", "bob", check=0)
    assert "account bob removed" in p.stdout
    assert server.tern("config", "reload", check=0).stdout == \
        "config reloaded: 1 domains, 1 accounts\n"


def test_error_through_running_server(server):
    p = server.tern("account", "add", "alice", "x@example.test", check=1)
    assert p.stderr == 'tern account add: account "alice" already exists\n'
    assert server.ctl("ping").startswith("pong")


def test_password_set_and_check(world_dir):
    s = TernServer(world_dir)
    p = s.tern("setaccountpassword", "alice", input="correct horse\n", check=0)
    assert p.stdout == "password of account alice set\n"
    assert s.tern("account", "checkpassword", "alice", input="correct horse\n",
                  check=0).stdout == "password matches\n"
    p = s.tern("account", "checkpassword", "alice", input="correct hors\n", check=1)
    assert p.stdout == "password does not match\n"
    # Only derived keys are stored: the password is nowhere in the account's files.
    for f in (s.data / "accounts" / "alice").rglob("*"):
        if f.is_file():
            assert b"correct horse" not in f.read_bytes(), f
    import sqlite3
    db = sqlite3.connect(s.data / "accounts" / "alice" / "index.db")
    line = db.execute("SELECT line FROM credentials").fetchone()[0]
    assert re.match(r"v1 argon2=\$argon2id\$\S+ scram-sha-1=4096,\S+ scram-sha-256=\d+,\S+ "
                    r"cram-md5=\S+$", line), line
    # A new password replaces the old one; CRLF line ends are not part of it.
    s.tern("setaccountpassword", "alice", input="second\r\n", check=0)
    s.tern("account", "checkpassword", "alice", input="second\n", check=0)
    s.tern("account", "checkpassword", "alice", input="correct horse\n", check=1)


def test_password_errors(world_dir):
    s = TernServer(world_dir)
    p = s.tern("setaccountpassword", "nobody", input="x\n", check=1)
    assert 'no account "nobody"' in p.stderr
    p = s.tern("setaccountpassword", "alice", input="", check=1)
    assert "no password on standard input" in p.stderr
    p = s.tern("setaccountpassword", "alice", input="\n", check=1)
    assert "empty password" in p.stderr
    p = s.tern("setaccountpassword", "alice", input="x" * 1025 + "\n", check=1)
    assert "at most 1024 bytes" in p.stderr
    s.tern("setaccountpassword", "alice", input="x" * 1024 + "\n", check=0)
    s.tern("setaccountpassword", "alice", "extra", input="x\n", check=2)
    p = s.tern("account", "checkpassword", "alice", input="x\n", check=1)
    assert p.stdout == "password does not match\n"


def test_password_files_belong_to_server_user(world_dir):
    import os
    import pwd
    s = TernServer(world_dir)
    s.tern("setaccountpassword", "alice", input="pw\n", check=0)
    if os.geteuid() == 0:
        tern = pwd.getpwnam("tern").pw_uid
        for f in [s.data, *s.data.rglob("*")]:
            assert f.stat().st_uid == tern, f
    s.start()
    try:
        # The running server's user can use what the command wrote.
        assert s.ctl("ping").startswith("pong")
    finally:
        s.stop()
