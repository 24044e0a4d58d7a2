"""`tern serve`: control socket, reload (SIGHUP and command), stop, privileges,
logs; and `tern localserve`."""
import os
import pwd
import re
import signal
import stat
import subprocess
import time

import pytest

import ternctl
from conftest import MINIMAL_DOMAINS, TernServer, run_tern, tern_bin

LOGFMT = re.compile(r'^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(\w+) pkg=(\w+) msg=("[^"]*"|\S+)')


def test_ctl_ping(server):
    assert re.match(r"pong \d+\.\d+\.\d+ pid \d+$", server.ctl("ping"))


def test_ctl_unknown_command(server):
    with pytest.raises(ternctl.CtlError, match='unknown control command "frob"'):
        server.ctl("frob")
    with pytest.raises(ternctl.CtlError, match='wrong number of arguments for "ping"'):
        server.ctl("ping", "extra")


def test_reload_command_picks_up_changes(server):
    p = server.tern("config", "reload", check=0)
    assert p.stdout == "config reloaded: 1 domains, 1 accounts\n"
    (server.confdir / "domains.conf").write_text(MINIMAL_DOMAINS + """\
  bob:
    Domain: example.test
    Destinations:
      bob@example.test: {}
""")
    p = server.tern("config", "reload", check=0)
    assert p.stdout == "config reloaded: 1 domains, 2 accounts\n"


def test_reload_with_error_keeps_running_config(server):
    (server.confdir / "domains.conf").write_text(MINIMAL_DOMAINS + "  bob:\n    Domian: x\n")
    p = server.tern("config", "reload", check=1)
    assert re.search(r"domains\.conf:\d+:\d+: Accounts\.bob.*unknown key \"Domian\"", p.stderr), p.stderr
    # The old configuration stays in force and the server keeps answering.
    assert server.ctl("ping").startswith("pong")
    (server.confdir / "domains.conf").write_text(MINIMAL_DOMAINS)
    assert server.tern("config", "reload", check=0).stdout == \
        "config reloaded: 1 domains, 1 accounts\n"


def test_sighup_reloads(server):
    (server.confdir / "domains.conf").write_text(MINIMAL_DOMAINS.replace("alice", "carol"))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "config reloaded" not in server.logs() and time.time() < deadline:
        time.sleep(0.05)
    assert re.search(r"msg=\"config reloaded\" domains=1 accounts=1", server.logs())
    assert server.ctl("ping").startswith("pong")


def test_stop_command(server):
    p = server.tern("stop", check=0)
    assert p.stdout == "stopping\n"
    assert server.proc.wait(10) == 0
    assert not (server.data / "ctl").exists()
    assert "msg=stopped" in server.logs()
    p = server.tern("stop", check=1)
    assert "no server is running" in p.stderr


def test_sigterm_stops_cleanly(server):
    assert server.stop() == 0
    assert not (server.data / "ctl").exists()


def test_second_server_refused(server):
    p = server.tern("serve", timeout=10, check=1)
    assert "a server is already running" in p.stderr
    assert server.ctl("ping").startswith("pong")


def test_stale_control_socket_is_replaced(world_dir):
    s = TernServer(world_dir).start()
    s.proc.kill()   # leaves DATADIR/ctl behind with nobody listening
    s.proc.wait()
    assert (s.data / "ctl").exists()
    s.start()
    assert s.ctl("ping").startswith("pong")
    assert s.stop() == 0


def test_bad_config_fails_to_start(world_dir):
    s = TernServer(world_dir, static_conf="Hostname: mail.example.test\nMaxFoo: 1\n")
    p = s.tern("serve", timeout=10, check=1)
    assert re.search(r"tern\.conf:2:1: .*unknown key \"MaxFoo\"", p.stderr), p.stderr


def test_logs_are_logfmt(server):
    server.ctl("ping")
    server.stop()
    lines = [l for l in server.logs().splitlines() if l]
    assert lines, "no log lines"
    for line in lines:
        assert LOGFMT.match(line), line
    assert any('pkg=serve msg=started' in l and "datadir=" in l for l in lines)
    assert any("pkg=ctl msg=request cmd=ping" in l for l in lines)


def test_package_log_levels(world_dir):
    user = "tern" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    conf = (f"DataDir: ../data\nHostname: mail.example.test\nUser: {user}\n"
            "LogLevel: error\nPackageLogLevels:\n  ctl: debug\n")
    s = TernServer(world_dir, static_conf=conf).start()
    s.ctl("ping")
    s.stop()
    logs = s.logs()
    assert "pkg=ctl msg=request" in logs
    assert "pkg=serve" not in logs   # info lines of other packages are below error


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_drops_privileges_to_user(server):
    tern = pwd.getpwnam("tern")
    status = open(f"/proc/{server.proc.pid}/status").read()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    assert set(uids) == {str(tern.pw_uid)}
    assert set(gids) == {str(tern.pw_gid)}
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    assert groups in ([], [str(tern.pw_gid)])
    assert os.stat(server.data).st_uid == tern.pw_uid
    # It may rewrite domains.conf (account changes), never tern.conf.
    assert os.stat(server.confdir / "domains.conf").st_uid == tern.pw_uid
    assert os.stat(server.confdir).st_uid == tern.pw_uid
    assert os.stat(server.config).st_uid == 0
    sock = os.stat(server.data / "ctl")
    assert stat.S_IMODE(sock.st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_unknown_user_is_an_error(world_dir):
    conf = "DataDir: ../data\nHostname: mail.example.test\nUser: no-such-user-xyz\n"
    s = TernServer(world_dir, static_conf=conf)
    p = s.tern("serve", timeout=10, check=1)
    assert 'user "no-such-user-xyz" does not exist' in p.stderr


def start_localserve(d):
    p = subprocess.Popen([tern_bin(), "localserve", "-dir", str(d)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            ternctl.call(str(d / "data"), "ping", timeout=2)
            return p
        except (OSError, ternctl.CtlError):
            assert p.poll() is None, p.stdout.read()
            time.sleep(0.05)
    p.kill()
    raise AssertionError("localserve did not start")


def test_localserve(world_dir):
    d = world_dir / "ls"
    p = start_localserve(d)
    try:
        conf = d / "config" / "tern.conf"
        assert conf.exists() and (d / "config" / "domains.conf").exists()
        assert (d / "config" / "localhost.crt").exists()
        assert stat.S_IMODE(os.stat(d / "config" / "localhost.key").st_mode) == 0o600
        run_tern("-config", str(conf), "config", "test", check=0)
        # It runs as the invoking user, and says plainly what it does not serve yet.
        assert os.stat(d / "data").st_uid == os.geteuid()
        run_tern("-config", str(conf), "stop", check=0)
        out = p.communicate(timeout=10)[0]
        assert p.returncode == 0, out
        assert "wrote a new configuration" in out
        assert "password terntern" in out
        assert "HTTP is not in this version yet" in out
        assert "127.0.0.1:1143" in out and "1993" in out
    finally:
        if p.poll() is None:
            p.kill()
    # A second run reuses the configuration.
    before = (d / "config" / "localhost.crt").read_bytes()
    p = start_localserve(d)
    run_tern("-config", str(d / "config" / "tern.conf"), "stop", check=0)
    out = p.communicate(timeout=10)[0]
    assert "wrote a new configuration" not in out
    assert (d / "config" / "localhost.crt").read_bytes() == before
