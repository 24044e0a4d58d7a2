"""DNS servers on 127.0.0.1 for tern's end-to-end tests.

Two context-manager classes, with no dependency on pytest:

DNSServer(zones)
    An authoritative server written with python3-dnslib, on 127.0.0.1 at a
    free port, UDP and TCP. Zones are given by the test as zone text or as a
    dict of owner -> ["TYPE RDATA", ...]. It answers like a real
    authoritative server: NXDOMAIN when the name does not exist, NODATA
    (NOERROR, empty answer) when it exists without records of the type, the
    zone's SOA in the authority section of both (RFC 2308 §3), CNAMEs followed
    inside its zones, TC over UDP when the answer does not fit, and REFUSED
    outside its zones. servfail(name) and timeout(name) make a name (and the
    names below it) answer SERVFAIL or never answer, for TEMPFAIL tests.

DNSSECZones(tmpdir)
    nsd on 127.0.0.1 at a free port serving a DNSSEC-signed tree made with
    ldns-keygen (ECDSAP256SHA256, KSK + ZSK) and ldns-signzone:
        dnssec.test.            signed; its KSK's DS is the trust anchor
        secure.dnssec.test.     signed, DS in the parent      -> secure
                                (tampered.secure.dnssec.test. A was changed
                                after signing                 -> bogus)
        insecure.dnssec.test.   unsigned, no DS in the parent -> insecure
        bogus.dnssec.test.      signed, but the parent's DS is of another
                                key                           -> bogus
    .trust_anchors is the list of DS lines; write_trust_anchor_file(path)
    writes them for Resolver.TrustAnchorFile or -trust-anchor.

Both have .port, .addr ("127.0.0.1@PORT"), .stop(), and start in __init__.

Trust anchors and plain servers: a resolver with no configured anchor uses
the system's root key, and then every answer from DNSServer (which cannot
sign) would be bogus. Tests pointing tern at a DNSServer give it an anchor
that covers none of the test names, UNRELATED_TRUST_ANCHOR (or the
DNSSECZones anchor); answers outside every anchor are insecure.

pytest wrappers, for conftest.py:

    import dnsfixture

    @pytest.fixture
    def dns_server():
        with dnsfixture.DNSServer({"example.test.": {"@": ["MX 10 mx1"]}}) as s:
            yield s

    @pytest.fixture(scope="session")
    def dnssec_zones(tmp_path_factory):
        # keys are made and zones signed once per session (about a second)
        with dnsfixture.DNSSECZones(tmp_path_factory.mktemp("dnssec")) as z:
            yield z
"""

import os
import shutil
import socket
import socketserver
import struct
import subprocess
import threading
import time

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord

LOCALHOST = "127.0.0.1"

# A DS for a name no test serves (RFC 6761 §6.4 invalid.): configured as the
# only anchor, it replaces the root key, so plain answers come back insecure.
UNRELATED_TRUST_ANCHOR = ("anchor.invalid. IN DS 12345 13 2 "
                          "0000000000000000000000000000000000000000000000000000000000000000")


def write_unrelated_trust_anchor(path):
    """Writes UNRELATED_TRUST_ANCHOR to path; returns path as a str."""
    with open(path, "w") as f:
        f.write(UNRELATED_TRUST_ANCHOR + "\n")
    return str(path)


def _fqdn(name):
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _under(name, zone):
    return name == zone or zone == "." or name.endswith("." + zone)


def _zone_text(origin, data, default_ttl):
    """Zone text for origin from text or a dict of owner -> ["TYPE RDATA", ...]."""
    if isinstance(data, str):
        body = data
    else:
        lines = []
        for owner, records in data.items():
            if isinstance(records, str):
                records = [records]
            for rec in records:
                lines.append("%s IN %s" % (owner, rec))
        body = "\n".join(lines)
    return "$ORIGIN %s\n$TTL %d\n%s\n" % (origin, default_ttl, body)


class DNSServer:
    """Authoritative DNS server for test zones on 127.0.0.1 (UDP and TCP).

    zones: {"example.test.": ZONE_TEXT or {"@": ["MX 10 mx1", ...], ...}}.
    A zone without an SOA gets "ns.ZONE hostmaster.ZONE 1 3600 600 86400 60".
    """

    def __init__(self, zones, default_ttl=300):
        self.records = {}     # (name, qtype) -> [RR]
        self.names = set()    # every owner name
        self.soas = {}        # zone -> SOA RR
        self.queries = []     # (name, type name, "udp"/"tcp"), in arrival order
        self._servfail = set()
        self._timeout = set()
        self._lock = threading.Lock()
        for origin, data in zones.items():
            self.add_zone(origin, data, default_ttl)
        self._udp = self._tcp = None
        self.port = None
        self._start()

    @property
    def addr(self):
        return "%s@%d" % (LOCALHOST, self.port)

    # ---- zone data ----

    def add_zone(self, origin, data, default_ttl=300):
        origin = _fqdn(origin)
        rrs = RR.fromZone(_zone_text(origin, data, default_ttl))
        if not any(rr.rtype == QTYPE.SOA for rr in rrs):
            rrs += RR.fromZone("%s %d IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60" % (
                origin, default_ttl, origin, origin))
        with self._lock:
            for rr in rrs:
                name = _fqdn(str(rr.rname))
                if not _under(name, origin):
                    raise ValueError("%s is outside zone %s" % (name, origin))
                if rr.rtype == QTYPE.SOA and name == origin:
                    self.soas[origin] = rr
                self.records.setdefault((name, rr.rtype), []).append(rr)
                self.names.add(name)

    def servfail(self, name):
        """name and the names below it answer SERVFAIL from now on."""
        self._servfail.add(_fqdn(name))

    def timeout(self, name):
        """Queries for name and the names below it are never answered."""
        self._timeout.add(_fqdn(name))

    # ---- answering ----

    def _zone_of(self, name):
        best = None
        for zone in self.soas:
            if _under(name, zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best

    def _exists(self, name):
        # an owner, or an empty non-terminal above one (RFC 8020)
        return name in self.names or any(n.endswith("." + name) for n in self.names)

    def answer(self, request):
        """The reply to request (a DNSRecord), or None to stay silent."""
        q = request.q
        qname, qtype = _fqdn(str(q.qname)), q.qtype
        if any(_under(qname, n) for n in self._timeout):
            return None
        reply = request.reply(ra=1, aa=1)
        if any(_under(qname, n) for n in self._servfail):
            reply.header.aa = 0
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name, seen = qname, set()
        with self._lock:
            while True:
                zone = self._zone_of(name)
                if zone is None:
                    if name == qname:
                        reply.header.aa = 0
                        reply.header.rcode = RCODE.REFUSED
                    return reply
                rrs = self.records.get((name, qtype))
                if rrs:
                    reply.add_answer(*rrs)
                    return reply
                cname = self.records.get((name, QTYPE.CNAME))
                if cname and qtype != QTYPE.CNAME and name not in seen:
                    # RFC 1034 §4.3.2 step 3a: follow the CNAME in our data
                    seen.add(name)
                    reply.add_answer(*cname)
                    name = _fqdn(str(cname[0].rdata.label))
                    continue
                break
            if not self._exists(name):
                reply.header.rcode = RCODE.NXDOMAIN
            soa = self.soas[zone]
            # RFC 2308 §3: the SOA's TTL in a negative answer is min(TTL, MINIMUM)
            neg = RR(soa.rname, QTYPE.SOA, ttl=min(soa.ttl, soa.rdata.times[4]), rdata=soa.rdata)
            reply.add_auth(neg)
        return reply

    def _handle(self, data, transport):
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        self.queries.append((str(request.q.qname), QTYPE.get(request.q.qtype), transport))
        reply = self.answer(request)
        if reply is None:
            return None
        edns = [r for r in request.ar if r.rtype == QTYPE.OPT]
        if edns:
            reply.add_ar(EDNS0(udp_len=1232))
        packed = reply.pack()
        limit = min(max(edns[0].rclass, 512), 1232) if edns else 512
        if transport == "udp" and len(packed) > limit:
            # RFC 1035 §4.2.1: too big for UDP, set TC and let the client use TCP
            reply = request.reply(ra=1, aa=reply.header.aa)
            reply.header.tc = 1
            if edns:
                reply.add_ar(EDNS0(udp_len=1232))
            packed = reply.pack()
        return packed

    # ---- sockets ----

    def _start(self):
        outer = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                out = outer._handle(data, "udp")
                if out is not None:
                    sock.sendto(out, self.client_address)

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                sock = self.request
                sock.settimeout(10)
                try:
                    while True:
                        head = _recv_exact(sock, 2)
                        if head is None:
                            return
                        data = _recv_exact(sock, struct.unpack("!H", head)[0])
                        if data is None:
                            return
                        out = outer._handle(data, "tcp")
                        if out is None:
                            continue
                        sock.sendall(struct.pack("!H", len(out)) + out)
                except OSError:
                    return

        class UDPServer(socketserver.ThreadingUDPServer):
            daemon_threads = True

        class TCPServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        for _ in range(20):
            udp = UDPServer((LOCALHOST, 0), UDPHandler)
            port = udp.server_address[1]
            try:
                tcp = TCPServer((LOCALHOST, port), TCPHandler)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no free port for UDP and TCP on %s" % LOCALHOST)
        self._udp, self._tcp, self.port = udp, tcp, port
        for srv in (udp, tcp):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()

    def stop(self):
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        self._udp = self._tcp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _free_port():
    """A port free for both UDP and TCP on 127.0.0.1 at the time of asking."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((LOCALHOST, 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((LOCALHOST, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def query(port, name, qtype="SOA", timeout=1.0):
    """One UDP query to 127.0.0.1:port; returns the parsed reply or None."""
    q = DNSRecord.question(name, qtype)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q.pack(), (LOCALHOST, port))
        return DNSRecord.parse(s.recv(65535))
    except (OSError, socket.timeout):
        return None
    finally:
        s.close()


SOA_LINES = """$ORIGIN {zone}
$TTL 300
@ IN SOA ns.dnssec.test. hostmaster.dnssec.test. 1 3600 600 86400 60
@ IN NS ns.dnssec.test.
"""

CHILD_ZONES = {
    "secure.dnssec.test.": """@ IN MX 10 mx.secure.dnssec.test.
@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx IN A 192.0.2.10
mx IN AAAA 2001:db8::10
_25._tcp.mx IN TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
tampered IN A 192.0.2.66
""",
    "insecure.dnssec.test.": """@ IN MX 10 mx.insecure.dnssec.test.
mx IN A 192.0.2.20
""",
    "bogus.dnssec.test.": """@ IN MX 10 mx.bogus.dnssec.test.
mx IN A 192.0.2.30
""",
}


class DNSSECZones:
    """nsd serving a signed zone tree under dnssec.test. (see the module doc)."""

    ZONE = "dnssec.test."

    def __init__(self, tmpdir):
        for tool in ("nsd", "ldns-keygen", "ldns-signzone"):
            if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
                raise RuntimeError("%s missing: apt-get install nsd ldnsutils" % tool)
        self.dir = os.path.abspath(str(tmpdir))
        self.keys = os.path.join(self.dir, "keys")
        self.zones = os.path.join(self.dir, "zones")
        os.makedirs(self.keys, exist_ok=True)
        os.makedirs(self.zones, exist_ok=True)
        self.proc = None
        self.port = None
        self.trust_anchors = []
        self._make_zones()
        self._start()

    @property
    def addr(self):
        return "%s@%d" % (LOCALHOST, self.port)

    def write_trust_anchor_file(self, path):
        """Writes the DS line(s) of dnssec.test. to path; returns path as a str."""
        with open(path, "w") as f:
            f.write("\n".join(self.trust_anchors) + "\n")
        return str(path)

    # ---- keys and zones ----

    def _keygen(self, zone, ksk):
        args = ["ldns-keygen", "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + [zone]
        out = subprocess.run(args, cwd=self.keys, check=True, capture_output=True, text=True)
        return os.path.join(self.keys, out.stdout.strip())

    @staticmethod
    def _ds_line(key_base):
        # ldns writes "owner\tTTL\tIN\tDS\t..." and maybe a comment; keep one line
        with open(key_base + ".ds") as f:
            line = f.read().split(";")[0]
        fields = line.split()
        # drop the TTL: "owner IN DS tag alg digesttype digest"
        if len(fields) > 1 and fields[1].isdigit():
            del fields[1]
        return " ".join(fields)

    def _sign(self, zone, text):
        path = os.path.join(self.zones, zone + "zone")
        with open(path, "w") as f:
            f.write(text)
        zsk = self._keygen(zone, ksk=False)
        ksk = self._keygen(zone, ksk=True)
        now = time.time()
        fmt = "%Y%m%d%H%M%S"
        inception = time.strftime(fmt, time.gmtime(now - 3600))
        expiration = time.strftime(fmt, time.gmtime(now + 30 * 86400))
        # -n: NSEC3 (RFC 5155), so denial of existence is tested with it
        subprocess.run(["ldns-signzone", "-n", "-i", inception, "-e", expiration,
                        "-f", path + ".signed", path, zsk, ksk],
                       check=True, capture_output=True, text=True)
        return path + ".signed", ksk

    def _make_zones(self):
        parent_extra = ["ns IN A 127.0.0.1"]
        self.files = {}
        for zone, body in CHILD_ZONES.items():
            label = zone[: -len(self.ZONE) - 1]
            parent_extra.append("%s IN NS ns.dnssec.test." % label)
            text = SOA_LINES.format(zone=zone) + body
            if zone.startswith("insecure."):
                path = os.path.join(self.zones, zone + "zone")
                with open(path, "w") as f:
                    f.write(text)
                self.files[zone] = path
                continue
            signed, ksk = self._sign(zone, text)
            if zone.startswith("bogus."):
                # the parent vouches for a key that signed nothing
                ksk = self._keygen(zone, ksk=True)
            parent_extra.append(self._ds_line(ksk))
            self.files[zone] = signed
        # break a signature in the secure zone after signing (RFC 4035 §5.3)
        secure = self.files["secure.dnssec.test."]
        with open(secure) as f:
            text = f.read()
        with open(secure, "w") as f:
            f.write(text.replace("192.0.2.66", "192.0.2.99"))
        parent = SOA_LINES.format(zone=self.ZONE) + "\n".join(parent_extra) + "\n"
        signed, ksk = self._sign(self.ZONE, parent)
        self.files[self.ZONE] = signed
        self.trust_anchors = [self._ds_line(ksk)]

    # ---- nsd ----

    def _conf(self, port):
        zones = "".join("zone:\n\tname: %s\n\tzonefile: %s\n" % (z, f)
                        for z, f in self.files.items())
        d = self.dir
        return f"""server:
	ip-address: {LOCALHOST}@{port}
	do-ip6: no
	server-count: 1
	username: ""
	chroot: ""
	database: ""
	zonesdir: "{self.zones}"
	pidfile: "{d}/nsd.pid"
	logfile: "{d}/nsd.log"
	xfrdfile: "{d}/xfrd.state"
	zonelistfile: "{d}/zone.list"
	xfrdir: "{d}"
	verbosity: 1
remote-control:
	control-enable: no
{zones}"""

    def _start(self):
        nsd = shutil.which("nsd") or "/usr/sbin/nsd"
        for _ in range(5):
            port = _free_port()
            conf = os.path.join(self.dir, "nsd.conf")
            with open(conf, "w") as f:
                f.write(self._conf(port))
            # -d: stay in the foreground, so this object owns the process
            self.proc = subprocess.Popen([nsd, "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                r = query(port, self.ZONE, "SOA", timeout=0.2)
                if r is not None and r.header.rcode == RCODE.NOERROR and r.rr:
                    self.port = port
                    return
                time.sleep(0.05)
            self.stop()
        log = os.path.join(self.dir, "nsd.log")
        raise RuntimeError("nsd did not start: " + (open(log).read() if os.path.exists(log) else ""))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
