"""`tern serve` on the real SMTP ports (25, 587, 465) as root: the ports are
bound before privileges are dropped, and the sessions run as the unprivileged
User. The server and its client run in a network namespace the test creates,
so the machine's own ports are untouched."""
import os
import subprocess
import textwrap
import uuid

import pytest

from conftest import MINIMAL_DOMAINS
from smtpfixture import SmtpServer, token, with_token

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binding ports below 1024 needs root")

CLIENT = textwrap.dedent("""
    import smtplib, ssl, sys
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", 25, timeout=10) as s:
        s.sendmail("x@example.org", ["alice@example.test"],
                   ("Subject: " + sys.argv[1] + "\\r\\n\\r\\nhello\\r\\n").encode())
    with smtplib.SMTP("127.0.0.1", 587, timeout=10) as s:
        s.starttls(context=ctx)
        s.login("alice", "pw-of-alice")
    with smtplib.SMTP_SSL("127.0.0.1", 465, context=ctx, timeout=10) as s:
        s.login("alice@example.test", "pw-of-alice")
    print("client ok")
""")


@pytest.fixture
def netns():
    name = "tern-test-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_netns(ns, *cmd, timeout=60):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout)


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


def test_serve_on_standard_ports_drops_privileges(world_dir, netns):
    s = SmtpServer(world_dir, domains=MINIMAL_DOMAINS, ports=(25, 587, 465))
    s.command_prefix = ["ip", "netns", "exec", netns]
    s.start(wait=False)
    try:
        s.wait_ready()  # the control socket is a file: reachable across namespaces
        s.set_password("alice", "pw-of-alice")
        tern_uid = int(subprocess.run(["id", "-u", "tern"], capture_output=True, text=True,
                                      check=True).stdout)
        # real, effective, saved and file-system uid: all tern's, for good
        assert uid_of(s.proc.pid) == [tern_uid] * 4
        tok = token()
        r = in_netns(netns, "/usr/bin/python3", "-c", CLIENT, tok)
        assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr + s.logs()
        assert len(with_token(s, "alice", tok)) == 1
    finally:
        s.stop()
