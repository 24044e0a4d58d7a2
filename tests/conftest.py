"""Fixtures shared by tern's end-to-end tests.

The tests build nothing: they run the binary named by $TERN_BIN (default
build/tern in the repository), each in its own temporary directory, and stop
every process they start.
"""
import mailbox
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import ternctl

REPO = pathlib.Path(__file__).resolve().parent.parent


def tern_bin():
    return os.environ.get("TERN_BIN", str(REPO / "build" / "tern"))


def run_tern(*args, input=None, timeout=60, check=None):
    """Runs tern with args; returns the CompletedProcess (text mode)."""
    p = subprocess.run([tern_bin(), *args], input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def accounts_conf(*names, domain="example.test"):
    """domains.conf's Accounts section: each name an account in domain with the
    one destination name@domain."""
    return "Accounts:\n" + "".join(f"  {n}:\n    Domain: {domain}\n    Destinations:\n"
                                   f"      {n}@{domain}: {{}}\n" for n in names)


MINIMAL_DOMAINS = """\
Domains:
  example.test:
    Description: test domain
""" + accounts_conf("alice")


def server_user():
    """The user `tern serve` drops to."""
    return "tern" if os.geteuid() == 0 else os.environ.get("USER", "nobody")


def read_mbox_tree(out):
    """Reads an `export mbox` directory: Inbox.mbox, Lists/tern.mbox -> names."""
    out = pathlib.Path(out)
    result = {}
    for f in sorted(out.rglob("*.mbox")):
        name = str(f.relative_to(out))[:-len(".mbox")]
        box = mailbox.mbox(str(f), create=False)
        result[name] = [box.get_bytes(k) for k in box.keys()]
        box.close()
    return result


def export_mbox(config, out, account):
    """`tern export mbox` of account into the new directory out, read back:
    {"Inbox": [bytes, ...], "Lists/tern": [...]}."""
    run_tern("-config", str(config), "export", "mbox", str(out), account, check=0)
    return read_mbox_tree(out)


def make_world_dir():
    """A fresh directory that an unprivileged server user can enter (pytest's own
    temporary directories are private to root)."""
    d = tempfile.mkdtemp(prefix="tern-test-", dir="/tmp")
    os.chmod(d, 0o755)
    return pathlib.Path(d)


class TernServer:
    """`tern serve` in its own directory: DIR/config/{tern.conf,domains.conf}, DIR/data."""

    def __init__(self, root, static_conf=None, domains_conf=MINIMAL_DOMAINS, user=None):
        self.root = pathlib.Path(root)
        self.confdir = self.root / "config"
        self.confdir.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.config = self.confdir / "tern.conf"
        if user is None:
            user = server_user()
        self.config.write_text(static_conf or
                               f"DataDir: ../data\nHostname: mail.example.test\nUser: {user}\n")
        (self.confdir / "domains.conf").write_text(domains_conf)
        self.proc = None
        self.command_prefix = []  # e.g. ["ip", "netns", "exec", NS]
        self.log_path = self.root / "server.log"

    def start(self, *extra, wait=True):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*self.command_prefix, tern_bin(), "-config", str(self.config),
                                      "serve", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tern serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                ternctl.call(str(self.data), "ping", timeout=2)
                return
            except (OSError, ternctl.CtlError):
                time.sleep(0.05)
        raise AssertionError(f"tern serve not ready after {timeout}s:\n{self.logs()}")

    def ctl(self, *args):
        return ternctl.call(str(self.data), *args)

    def tern(self, *args, **kw):
        return run_tern("-config", str(self.config), *args, **kw)

    def logs(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"tern serve did not stop on SIGTERM:\n{self.logs()}")


@pytest.fixture
def world_dir():
    d = make_world_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(world_dir):
    """A started `tern serve` with a minimal configuration; stopped after the test."""
    s = TernServer(world_dir).start()
    yield s
    s.stop()
