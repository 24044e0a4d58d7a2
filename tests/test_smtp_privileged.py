"""`tern serve` on the real SMTP ports (25, 587, 465) as root: the ports are
bound before privileges are dropped, and the sessions run as the unprivileged
User. The server and its client run in a network namespace the test creates,
so the machine's own ports are untouched."""
import os
import subprocess
import textwrap
import uuid

import pytest

from conftest import MINIMAL_DOMAINS, tern_bin
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


# A DNS server inside the namespace (tern's resolver there cannot reach the
# test process's own): it prints its address, and stops when its input closes.
DNS = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from dnsfixture import DNSServer
    d = DNSServer({".": {"@": ["SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}})
    print(d.addr, flush=True)
    sys.stdin.read()
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


@pytest.fixture
def netns_dns(netns):
    p = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", DNS,
                          os.path.dirname(os.path.abspath(__file__))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield p.stdout.readline().strip()
    finally:
        p.stdin.close()
        p.wait(10)


def test_serve_on_standard_ports_drops_privileges(world_dir, netns, netns_dns):
    s = SmtpServer(world_dir, domains=MINIMAL_DOMAINS, ports=(25, 587, 465), dns_addr=netns_dns)
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


def test_localserve_without_ipv6(netns, world_dir):
    # Containers often have no IPv6: localserve then listens on 127.0.0.1
    # only and says so, instead of failing to start.
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w",
                    "net.ipv6.conf.all.disable_ipv6=1"], check=True)
    d = world_dir / "ls"
    p = subprocess.Popen(["ip", "netns", "exec", netns, tern_bin(), "localserve", "-dir", str(d)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe = textwrap.dedent("""
            import smtplib, sys, time
            for _ in range(100):
                try:
                    with smtplib.SMTP("127.0.0.1", 1025, timeout=5) as s:
                        s.sendmail("app@example.com", ["x@example.org"], b"Subject: v4\\r\\n\\r\\nhi\\r\\n")
                    print("sent")
                    sys.exit(0)
                except OSError:
                    time.sleep(0.1)
            sys.exit(1)
        """)
        r = in_netns(netns, "/usr/bin/python3", "-c", probe)
        assert r.returncode == 0 and "sent" in r.stdout, r.stdout + r.stderr
    finally:
        subprocess.run(["ip", "netns", "exec", netns, tern_bin(), "-config",
                        str(d / "config" / "tern.conf"), "stop"], capture_output=True)
        out = p.communicate(timeout=20)[0]
    assert p.returncode == 0, out
    assert "no IPv6 here: not listening on [::1]:1025" in out, out
