"""Several hosts on one machine for end-to-end tests (needs root): network
namespaces joined by a bridge, with a DNS server every host can reach.

    with netns.Lab(["sender", "receiver"]) as lab:
        lab.dns.add_zone("example.test.", {"@": ["MX 10 mx"],
                                           "mx": ["A " + lab.ip("receiver")]})
        lab.run("sender", "/usr/bin/true")              # subprocess in a host
        lab.prefix("receiver")                          # ["ip", "netns", "exec", NS]
        lab.dns_addr                                    # "10.X.Y.1@53" for resolvers

Layout: a hub namespace holds the bridge (address SUBNET.1/24); each host is
a namespace with a veth "eth0" on the bridge (SUBNET.10, .11, ...) and its
own loopback, so every host can listen on the standard ports. The DNS
server is tests/dnsfixture.DNSServer running in the test process on
127.0.0.1; a relay bound to SUBNET.1:53 (UDP and TCP) in the hub namespace
passes queries to it, so tests add records with lab.dns.add_zone as usual.

The relay's listening sockets are made by a thread that has joined the hub
namespace with setns(2) (a network namespace is per thread); the threads that
serve them start from the test's own namespace and so reach 127.0.0.1 there.
"""
import ctypes
import os
import socket
import struct
import subprocess
import threading
import uuid

from dnsfixture import DNSServer

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def in_namespace(name, fn):
    """Runs fn() in a thread that joined network namespace name; returns its
    result. Sockets fn makes belong to that namespace."""
    out = {}

    def run():
        fd = os.open("/var/run/netns/" + name, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                out["e"] = OSError(err, "setns %s: %s" % (name, os.strerror(err)))
                return
        finally:
            os.close(fd)
        try:
            out["v"] = fn()
        except BaseException as e:  # handed to the caller
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class _Relay:
    """DNS over UDP and TCP from (addr, 53) in namespace ns to 127.0.0.1:port here."""

    def __init__(self, ns, addr, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)

        def bind():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((addr, 53))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((addr, 53))
            t.listen(16)
            return u, t

        self.udp, self.tcp = in_namespace(ns, bind)
        self.stopped = False
        threading.Thread(target=self._udp_loop, daemon=True).start()
        threading.Thread(target=self._tcp_loop, daemon=True).start()

    def _udp_loop(self):
        while not self.stopped:
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._udp_one, args=(data, peer), daemon=True).start()

    def _udp_one(self, data, peer):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            try:
                s.sendto(data, self.upstream)
                reply, _ = s.recvfrom(65535)
                self.udp.sendto(reply, peer)
            except OSError:
                pass   # the querier times out, as with a lost packet

    def _tcp_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_one, args=(conn,), daemon=True).start()

    def _tcp_one(self, conn):
        try:
            with conn, socket.create_connection(self.upstream, timeout=5) as up:
                while True:
                    head = _recv_exact(conn, 2)
                    up.sendall(head + _recv_exact(conn, struct.unpack("!H", head)[0]))
                    rhead = _recv_exact(up, 2)
                    conn.sendall(rhead + _recv_exact(up, struct.unpack("!H", rhead)[0]))
        except (OSError, EOFError):
            pass

    def stop(self):
        self.stopped = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Lab:
    def __init__(self, hosts, subnet=None):
        tag = uuid.uuid4().hex[:6]
        self.subnet = subnet or "10.%d.%d" % (100 + int(tag[:2], 16) % 100, int(tag[2:4], 16))
        self.hub = "tern-hub-" + tag
        self.hosts = {}
        self.dns = None
        self._relay = None
        _ip("netns", "add", self.hub)
        try:
            _ip("-n", self.hub, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "addr", "add", self.subnet + ".1/24", "dev", "br0")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for i, h in enumerate(hosts):
                self._add_host(h, i, tag)
            self.dns = DNSServer({".": {"@": [
                "SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}})
            self._relay = _Relay(self.hub, self.subnet + ".1", self.dns.port)
        except BaseException:
            self.stop()
            raise

    def _add_host(self, name, i, tag):
        ns = "tern-%s-%d" % (tag, i)
        _ip("netns", "add", ns)
        self.hosts[name] = (ns, "%s.%d" % (self.subnet, 10 + i))
        veth = "v%s%d" % (tag, i)
        _ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        _ip("-n", self.hub, "link", "set", veth, "master", "br0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", self.ip(name) + "/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")

    @property
    def dns_addr(self):
        return self.subnet + ".1@53"

    def ns(self, host):
        return self.hosts[host][0]

    def ip(self, host):
        return self.hosts[host][1]

    def prefix(self, host):
        return ["ip", "netns", "exec", self.ns(host)]

    def run(self, host, *cmd, timeout=60, **kw):
        return subprocess.run([*self.prefix(host), *cmd], capture_output=True, text=True,
                              timeout=timeout, **kw)

    def stop(self):
        if self._relay is not None:
            self._relay.stop()
        if self.dns is not None:
            self.dns.stop()
        for ns, _ in self.hosts.values():
            subprocess.run(["ip", "netns", "delete", ns], check=False)
        subprocess.run(["ip", "netns", "delete", self.hub], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
