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
        "      alice@example.test:\n        Mailbox: Lists\n      \"@example.test\": {}\n")
    s = TernServer(world_dir, domains_conf=domains)
    s.tern("account", "add", "bob", "bob@example.test", check=0)
    text = (s.confdir / "domains.conf").read_text()
    assert 'Description: "test: domain"' in text
    assert 'LocalpartCatchallSeparator: "+"' in text
    assert "Mailbox: Lists" in text
    assert '"@example.test": {}' in text
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
