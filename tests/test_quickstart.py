"""`tern quickstart EMAIL [IP...]`: the files it writes (a configuration that
`config test` accepts, DKIM keys matching their published records, a zone
fragment that named-checkzone accepts, the systemd unit), its refusals (an
existing configuration, a bad address, user or host name, a machine with only
private addresses) and its warning for private IPs. Then, as root, the whole
path in network namespaces: quickstart detecting the namespace's address,
`tern serve` with that configuration and a DNS server holding the printed
records; a message received on port 25 and one submitted on 465 with the
printed password, read back from the store and over IMAP (993 and 143); the
configured DKIM keys verified against the records; and a message to another
domain sent by the outbound queue to a second tern, which finds SPF, DKIM
(both keys) and DMARC passing."""
import email
import email.policy
import os
import re
import shutil
import subprocess
import textwrap
import time
import uuid

import pytest
import yaml

import ternctl
from conftest import export_mbox, make_world_dir, run_tern, tern_bin
from smtpfixture import token

DOMAIN = "example.com"
HOST = "mail.example.com"
IP4 = "198.51.100.10"
IP6 = "2001:db8::10"

# What a zone needs besides the fragment, for named-checkzone and the DNS server.
ZONE_HEADER = textwrap.dedent(f"""\
    $ORIGIN {DOMAIN}.
    $TTL 3600
    @ IN SOA ns.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 60
    @ IN NS ns.{DOMAIN}.
    ns IN A 192.0.2.53
""")


def quickstart(d, *args, check=None):
    return run_tern("quickstart", "-dir", str(d), *args, check=check)


def password_of(out):
    m = re.search(r"Its password, shown only now:\n\n\t(\S+)\n", out)
    assert m, out
    return m.group(1)


def txt_records(zone):
    """{owner: joined text} of the TXT records of a zone fragment as quickstart
    writes it (one string, or several in parentheses on the following lines)."""
    records, lines = {}, zone.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\S+)\s+IN\s+TXT\s+(.*)$", line)
        if not m or line.startswith(";"):
            continue
        data = m.group(2)
        if data == "(":
            parts = []
            for follow in lines[i + 1:]:
                if follow.strip() == ")":
                    break
                parts.append(follow.strip())
            data = " ".join(parts)
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', data)
        assert all(len(s) <= 255 for s in strings), data
        records[m.group(1)] = "".join(strings)
    return records


@pytest.fixture(scope="module")
def qs():
    """One quickstart run (RSA key generation takes a moment): its directory and output."""
    d = make_world_dir()
    p = quickstart(d / "mail", "-hostname", HOST, f"alice@{DOMAIN}", IP4, IP6, check=0)
    yield d / "mail", p
    shutil.rmtree(d, ignore_errors=True)


def test_config_passes_config_test(qs):
    d, _ = qs
    p = run_tern("-config", str(d / "config" / "tern.conf"), "config", "test", check=0)
    assert "config OK: 1 domains, 1 accounts, 1 listeners" in p.stdout


def test_static_config(qs):
    d, _ = qs
    st = yaml.safe_load((d / "config" / "tern.conf").read_text())
    assert st["Hostname"] == HOST and st["DataDir"] == "../data" and st["User"] == "tern"
    lst = st["Listeners"]["public"]
    assert lst["IPs"] == [IP4, IP6]
    ports = {k: (v["Enabled"], v["Port"]) for k, v in lst.items()
             if k in ("SMTP", "Submission", "Submissions", "IMAP", "IMAPS")}
    assert ports == {"SMTP": (True, 25), "Submissions": (True, 465), "Submission": (True, 587),
                     "IMAPS": (True, 993), "IMAP": (True, 143)}
    kc = lst["TLS"]["KeyCerts"][0]
    assert kc == {"CertFile": f"tls/{HOST}.crt", "KeyFile": f"tls/{HOST}.key"}
    cert = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           str(d / "config" / kc["CertFile"])], capture_output=True, text=True)
    assert f"DNS:{HOST}" in cert.stdout, cert.stdout + cert.stderr


def test_domains_config(qs):
    d, _ = qs
    dyn = yaml.safe_load((d / "config" / "domains.conf").read_text())
    dkim = dyn["Domains"][DOMAIN]["DKIM"]
    sels = list(dkim["Selectors"])
    assert len(sels) == 2 and dkim["Sign"] == sels
    assert re.fullmatch(r"\d{8}e", sels[0]) and re.fullmatch(r"\d{8}r", sels[1]), sels
    acct = dyn["Accounts"]["alice"]
    assert acct["Domain"] == DOMAIN
    assert acct["Destinations"] == {
        f"alice@{DOMAIN}": {}, f"postmaster@{DOMAIN}": {},
        f"dmarc-reports@{DOMAIN}": {"Reports": "dmarc"},
        f"tls-reports@{DOMAIN}": {"Reports": "tlsrpt"},
    }


def test_printed_password_is_the_accounts(qs):
    d, p = qs
    conf = str(d / "config" / "tern.conf")
    pw = password_of(p.stdout)
    assert len(pw) >= 16
    ok = run_tern("-config", conf, "account", "checkpassword", "alice", input=pw + "\n")
    assert ok.returncode == 0 and "password matches" in ok.stdout, ok.stdout + ok.stderr
    bad = run_tern("-config", conf, "account", "checkpassword", "alice", input=pw + "x\n")
    assert bad.returncode == 1 and "does not match" in bad.stdout


def test_zone_fragment_passes_named_checkzone(qs, tmp_path):
    d, p = qs
    zone = (d / "config" / f"{DOMAIN}.zone").read_text()
    assert zone in p.stdout  # printed as written
    f = tmp_path / "zone"
    f.write_text(ZONE_HEADER + zone)
    r = subprocess.run(["named-checkzone", DOMAIN, str(f)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("OK"), r.stdout + r.stderr + zone


@pytest.mark.parametrize("host,ips", [
    (DOMAIN, [IP4]),                        # the domain itself is the mail host
    ("mx.other.example", [IP6]),           # a host in another zone, IPv6 only
    ("mail.sub.example.com", [IP4, IP6]),  # deeper in the zone
])
def test_zone_variants_pass_named_checkzone(world_dir, host, ips):
    p = quickstart(world_dir / "q", "-hostname", host, f"alice@{DOMAIN}", *ips)
    assert p.returncode == 0, p.stderr
    zone = (world_dir / "q" / "config" / f"{DOMAIN}.zone").read_text()
    f = world_dir / "zone"
    f.write_text(ZONE_HEADER + zone)
    r = subprocess.run(["named-checkzone", DOMAIN, str(f)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("OK"), r.stdout + r.stderr + zone
    assert f"@                        IN MX    10 {host}.\n" in zone
    # one SPF record per name (RFC 7208 §4.5): the domain's covers a host that is the domain
    assert len(re.findall(r'^@\s+IN\s+TXT\s+"v=spf1 ', zone, re.M)) == 1, zone
    host_spf = re.findall(r'^(\S+)\s+IN\s+TXT\s+"v=spf1 a -all"', zone, re.M)
    assert host_spf == ([host[:-len(DOMAIN) - 1]] if host.endswith("." + DOMAIN) else []), zone


def test_zone_records(qs):
    d, _ = qs
    zone = (d / "config" / f"{DOMAIN}.zone").read_text()
    rec = re.compile(r"^(\S+)\s+IN\s+(\S+)\s+(.*)$", re.M)
    got = {(o, t, v) for o, t, v in rec.findall(zone) if t != "TXT"}
    for want in [("@", "MX", f"10 {HOST}."), ("mail", "A", IP4), ("mail", "AAAA", IP6),
                 ("mta-sts", "CNAME", f"{HOST}."), ("autoconfig", "CNAME", f"{HOST}."),
                 ("_submissions._tcp", "SRV", f"0 1 465 {HOST}."),
                 ("_submission._tcp", "SRV", f"0 1 587 {HOST}."),
                 ("_imaps._tcp", "SRV", f"0 1 993 {HOST}."),
                 ("_imap._tcp", "SRV", f"0 1 143 {HOST}."),
                 ("_pop3._tcp", "SRV", "0 0 0 ."),
                 ("@", "CAA", '0 issue "letsencrypt.org"')]:
        assert want in got, (want, zone)
    txt = txt_records(zone)
    assert txt["@"] == f"v=spf1 ip4:{IP4} ip6:{IP6} mx -all"
    assert txt["mail"] == "v=spf1 a -all"
    assert txt["_dmarc"] == f"v=DMARC1;p=reject;rua=mailto:dmarc-reports@{DOMAIN}"
    assert txt["_smtp._tls"] == f"v=TLSRPTv1; rua=mailto:tls-reports@{DOMAIN}"
    assert re.fullmatch(r"v=STSv1; id=[A-Za-z0-9]{1,32}", txt["_mta-sts"]), txt["_mta-sts"]
    policy = (d / "config" / "mta-sts.txt").read_text()
    assert policy == f"version: STSv1\nmode: testing\nmx: {HOST}\nmax_age: 86400\n"


def test_dkim_records_match_the_keys(qs):
    d, _ = qs
    zone = (d / "config" / f"{DOMAIN}.zone").read_text()
    txt = txt_records(zone)
    dyn = yaml.safe_load((d / "config" / "domains.conf").read_text())
    sels = dyn["Domains"][DOMAIN]["DKIM"]["Selectors"]
    kinds = set()
    for sel, v in sels.items():
        key = (d / "config" / v["PrivateKeyFile"]).read_text()
        want = run_tern("dkim", "txt", input=key, check=0).stdout.strip()
        assert txt[f"{sel}._domainkey"] == want
        kinds.add(re.search(r"k=(\w+)", want).group(1))
        assert oct(os.stat(d / "config" / v["PrivateKeyFile"]).st_mode & 0o777) == "0o600"
    assert kinds == {"ed25519", "rsa"}
    rsa = subprocess.run(["openssl", "pkey", "-noout", "-text", "-in",
                          str(d / "config" / sels[[s for s in sels if s.endswith("r")][0]]
                              ["PrivateKeyFile"])], capture_output=True, text=True)
    assert "2048 bit" in rsa.stdout, rsa.stdout + rsa.stderr


def test_ptr_records_and_unit(qs):
    d, p = qs
    assert f"10.100.51.198.in-addr.arpa. PTR {HOST}." in p.stdout
    assert ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. "
            f"PTR {HOST}.") in p.stdout
    unit = (d / "config" / "tern.service").read_text()
    conf = d.resolve() / "config" / "tern.conf"
    assert f"\nExecStart={os.path.realpath(tern_bin())} -config {conf} serve\n" in unit
    for line in ("Type=simple", "Restart=on-failure", "WantedBy=multi-user.target",
                 f"ReadWritePaths={conf.parent} {d.resolve()}/data"):
        assert f"\n{line}\n" in unit, unit
    assert f"-config {conf} serve" in p.stdout and "self-signed" in p.stdout


def test_refuses_to_overwrite(qs):
    d, _ = qs
    before = (d / "config" / "domains.conf").read_text()
    p = quickstart(d, "-hostname", HOST, f"bob@{DOMAIN}", IP4)
    assert p.returncode == 1
    assert f"{d.resolve()}/config/tern.conf exists already" in p.stderr, p.stderr
    assert (d / "config" / "domains.conf").read_text() == before


@pytest.mark.parametrize("addr,msg", [
    ("alice", '"alice" is not an email address'),
    ("alice@localhost", '"localhost" is not a domain name'),
    ("al ice@example.com", "the part before '@'"),
    (".alice@example.com", "the part before '@'"),
    ("alice@exa_mple.com", "is not a domain name"),
])
def test_bad_email(world_dir, addr, msg):
    p = quickstart(world_dir / "q", "-hostname", HOST, addr, IP4)
    assert p.returncode == 1 and msg in p.stderr, p.stderr
    assert not (world_dir / "q" / "config").exists()


def test_bad_hostname_and_ips(world_dir):
    p = quickstart(world_dir / "q", "-hostname", "mail", f"alice@{DOMAIN}", IP4)
    assert p.returncode == 1 and "not fully qualified" in p.stderr, p.stderr
    p = quickstart(world_dir / "q", "-hostname", HOST, f"alice@{DOMAIN}", "300.1.2.3")
    assert p.returncode == 1 and '"300.1.2.3" is not an IP address' in p.stderr, p.stderr
    p = quickstart(world_dir / "q", "-hostname", HOST, f"alice@{DOMAIN}", "0.0.0.0")
    assert p.returncode == 1 and "0.0.0.0 is no address of this machine" in p.stderr, p.stderr
    p = quickstart(world_dir / "q", "-hostname", HOST, f"a+b@{DOMAIN}", IP4)
    assert p.returncode == 1 and "choose one with -account" in p.stderr, p.stderr
    p = quickstart(world_dir / "q", "-hostname", HOST, "-user", "a b", f"alice@{DOMAIN}", IP4)
    assert p.returncode == 1 and '"a b" is not a user name' in p.stderr, p.stderr
    if os.geteuid() == 0:
        p = quickstart(world_dir / "q", "-hostname", HOST, "-user", "no-such-user-qs",
                       f"alice@{DOMAIN}", IP4)
        assert p.returncode == 1 and "useradd --system" in p.stderr, p.stderr
    assert not (world_dir / "q" / "config").exists()


def test_private_ip_warns(world_dir):
    p = quickstart(world_dir / "q", "-hostname", "mx.other.example", f"postmaster@{DOMAIN}",
                   "10.1.2.3")
    assert p.returncode == 0, p.stderr
    assert "warning: 10.1.2.3 is a private address" in p.stderr
    zone = (world_dir / "q" / "config" / f"{DOMAIN}.zone").read_text()
    # the host is in another zone: its records are comments here
    assert re.search(r"^;\s+mx\.other\.example\.\s+IN A\s+10\.1\.2\.3$", zone, re.M), zone
    dyn = yaml.safe_load((world_dir / "q" / "config" / "domains.conf").read_text())
    assert list(dyn["Accounts"]["postmaster"]["Destinations"]) == [
        f"postmaster@{DOMAIN}", f"dmarc-reports@{DOMAIN}", f"tls-reports@{DOMAIN}"]


# ---- quickstart, then serve, in network namespaces (root) ----

OTHER = "other.example"
OTHER_IP = "198.51.100.20"

DNS = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from dnsfixture import DNSServer
    zones = {".": {"@": ["SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}}
    for i in range(2, len(sys.argv), 2):
        zones[sys.argv[i] + "."] = open(sys.argv[i + 1]).read()
    d = DNSServer(zones)
    print(d.addr, flush=True)
    sys.stdin.read()
""")

RECEIVE = textwrap.dedent("""
    import smtplib, sys
    ip, domain, tok = sys.argv[1:4]
    with smtplib.SMTP(ip, 25, timeout=20) as s:
        s.sendmail("someone@example.org", ["alice@" + domain],
                   ("From: someone@example.org\\r\\nTo: alice@" + domain + "\\r\\n"
                    "Subject: in " + tok + "\\r\\n\\r\\nhello\\r\\n").encode())
    print("client ok")
""")

SUBMIT = textwrap.dedent("""
    import smtplib, ssl, sys
    ip, domain, password, to, tok = sys.argv[1:6]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL(ip, 465, context=ctx, timeout=20) as s:
        s.login("alice@" + domain, password)
        s.sendmail("alice@" + domain, [to],
                   ("From: alice@" + domain + "\\r\\nTo: " + to + "\\r\\n"
                    "Subject: out " + tok + "\\r\\nMessage-ID: <" + tok + "@" + domain + ">\\r\\n"
                    "\\r\\nsigned\\r\\n").encode())
    print("client ok")
""")


IMAP = textwrap.dedent("""
    import imaplib, ssl, sys
    ip, user, password, tok = sys.argv[1:5]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with imaplib.IMAP4_SSL(ip, 993, ssl_context=ctx, timeout=20) as m:
        m.login(user, password)
        m.select("INBOX", readonly=True)
        typ, data = m.search(None, "SUBJECT", '"in ' + tok + '"')
        assert typ == "OK" and len(data[0].split()) == 1, (typ, data)
        typ, data = m.fetch(data[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        print("993", data[0][1].decode().strip())
    with imaplib.IMAP4(ip, 143, timeout=20) as m:
        m.starttls(ssl_context=ctx)
        m.login(user, password)
        typ, data = m.select("INBOX", readonly=True)
        print("143", typ, int(data[0]) >= 2)
""")


def in_netns(ns, *cmd, timeout=60, input=None):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout, input=input)


@pytest.fixture
def netns_pair():
    """Two network namespaces joined by a veth pair: the first has the 'public'
    address IP4, the second OTHER_IP (for a mail server of another domain)."""
    tag = uuid.uuid4().hex[:8]
    names = ["tern-qs-" + tag, "tern-qs2-" + tag]
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
    try:
        subprocess.run(["ip", "link", "add", "pub0", "netns", names[0], "type", "veth", "peer",
                        "name", "pub0", "netns", names[1]], check=True)
        for n, ip in zip(names, (IP4, OTHER_IP)):
            for cmd in (["ip", "link", "set", "lo", "up"],
                        ["ip", "addr", "add", f"{ip}/24", "dev", "pub0"],
                        ["ip", "link", "set", "pub0", "up"]):
                subprocess.run(["ip", "netns", "exec", n, *cmd], check=True)
        yield names
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "delete", n], check=False)


class NsServer:
    """`tern serve` with the configuration conf, run in namespace ns."""

    def __init__(self, ns, conf, log_path):
        self.ns, self.conf, self.log_path = ns, conf, log_path
        self.data = conf.parent.parent / "data"
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, tern_bin(), "-config",
                                      str(conf), "serve"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            assert self.proc.poll() is None, self.logs()
            try:
                ternctl.call(str(self.data), "ping", timeout=2)
                return
            except (OSError, ternctl.CtlError):
                assert time.time() < deadline, self.logs()
                time.sleep(0.05)

    def logs(self):
        return self.log_path.read_text()

    def inbox(self, account, subjects, out, timeout=15):
        """The parsed messages of account's Inbox once all subjects are there."""
        deadline = time.time() + timeout
        n = 0
        while True:
            n += 1
            boxes = export_mbox(self.conf, out / f"export-{account}-{n}", account)
            raw = boxes.get("Inbox", [])
            msgs = [email.message_from_bytes(m, policy=email.policy.default) for m in raw]
            got = [str(m["Subject"]) for m in msgs]
            if all(s in got for s in subjects):
                return {str(m["Subject"]): (m, r) for m, r in zip(msgs, raw)}
            assert time.time() < deadline, f"{got}\n{self.logs()}"
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            in_netns(self.ns, tern_bin(), "-config", str(self.conf), "stop")
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_dns(ns, zones):
    """A DNS server in namespace ns for zones [(name, file)]: (process, "IP@PORT")."""
    args = [x for name, f in zones for x in (name, str(f))]
    p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", DNS,
                          os.path.dirname(os.path.abspath(__file__)), *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    addr = p.stdout.readline().strip()
    assert addr, "DNS server did not start"
    return p, addr


def stop_dns(p):
    p.stdin.close()
    p.wait(10)


class QuickstartInstance:
    """quickstart for alice@DOMAIN in namespace ns (its IPs detected), a DNS
    server there with the printed records (and extra zones), and `tern serve`."""

    def __init__(self, root, ns, extra_zones=()):
        self.root, self.ns = root, ns
        d = root / "mail"
        p = in_netns(ns, tern_bin(), "quickstart", "-dir", str(d), "-hostname", HOST,
                     f"alice@{DOMAIN}")
        assert p.returncode == 0, p.stdout + p.stderr
        # the namespace's only non-loopback address was found and chosen
        assert f"Using the public IPs of this machine: {IP4}\n" in p.stdout, p.stdout
        self.password = password_of(p.stdout)
        self.conf = d / "config" / "tern.conf"
        zonefile = root / "zone"
        zonefile.write_text(ZONE_HEADER + (d / "config" / f"{DOMAIN}.zone").read_text())
        self.zones = [(DOMAIN, zonefile)]
        for name, text in extra_zones:
            f = root / f"zone-{name}"
            f.write_text(text)
            self.zones.append((name, f))
        self.server = None
        self.dns, self.dns_addr = start_dns(ns, self.zones)
        # the namespaces have no way out: tern asks the test's DNS server
        with open(self.conf, "a") as f:
            f.write(f"Resolver:\n  Upstreams: [\"{self.dns_addr}\"]\n  DNSSEC: false\n")
        self.server = NsServer(ns, self.conf, root / "server.log")

    def close(self):
        if self.server is not None:
            self.server.stop()
        stop_dns(self.dns)


@pytest.fixture
def instance(world_dir, netns_pair):
    q = None
    try:
        q = QuickstartInstance(world_dir, netns_pair[0])
        yield q
    finally:
        if q is not None:
            q.close()


def verify_in(ns, conf, msgfile):
    """`tern dkim verify` with the Resolver of conf (the DNS server of the test)."""
    return in_netns(ns, tern_bin(), "-config", str(conf), "dkim", "verify", str(msgfile))


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and ports below 1024 need root")
def test_quickstart_then_serve(world_dir, instance):
    q = instance
    tok = token()
    r = in_netns(q.ns, "/usr/bin/python3", "-c", RECEIVE, IP4, DOMAIN, tok)
    assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr + q.server.logs()
    r = in_netns(q.ns, "/usr/bin/python3", "-c", SUBMIT, IP4, DOMAIN, q.password,
                 f"postmaster@{DOMAIN}", tok)
    assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr + q.server.logs()
    got = q.server.inbox("alice", [f"in {tok}", f"out {tok}"], world_dir)
    assert str(got[f"in {tok}"][0]["To"]) == f"alice@{DOMAIN}"
    assert str(got[f"out {tok}"][0]["To"]) == f"postmaster@{DOMAIN}"
    # the same mail over IMAP (993 with TLS, 143 with STARTTLS), with the printed password
    r = in_netns(q.ns, "/usr/bin/python3", "-c", IMAP, IP4, f"alice@{DOMAIN}", q.password, tok)
    assert r.returncode == 0, r.stdout + r.stderr + q.server.logs()
    assert f"993 Subject: in {tok}\n143 OK True\n" == r.stdout, r.stdout
    # the keys of the configuration sign; the records served from the
    # printed zone verify both signatures
    signed = run_tern("-config", str(q.conf), "dkim", "sign", "-",
                      input=got[f"out {tok}"][1].decode(), check=0)
    assert signed.stdout.count("DKIM-Signature:") == 2, signed.stdout
    msgfile = world_dir / "signed.eml"
    msgfile.write_text(signed.stdout)
    v = verify_in(q.ns, q.conf, msgfile)
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.count("dkim=pass") == 2 and f"header.d={DOMAIN}" in v.stdout, v.stdout


OTHER_ZONE = textwrap.dedent(f"""\
    $ORIGIN {OTHER}.
    $TTL 300
    @ IN SOA ns.{OTHER}. hostmaster.{OTHER}. 1 3600 600 86400 60
    @ IN MX 10 mx.{OTHER}.
    mx IN A {OTHER_IP}
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and ports below 1024 need root")
def test_quickstart_then_serve_sends_to_another_domain(world_dir, netns_pair):
    """Mail submitted to another domain leaves through the outbound queue,
    DKIM-signed with the quickstart keys, to that domain's MX (another tern
    in the second namespace), which finds SPF, DKIM and DMARC passing with
    the printed records."""
    ns1, ns2 = netns_pair
    q = other = dns2 = None
    try:
        q = QuickstartInstance(world_dir / "a", ns1, extra_zones=[(OTHER, OTHER_ZONE)])
        dns2, dns2_addr = start_dns(ns2, q.zones)
        oroot = world_dir / "b"
        (oroot / "config").mkdir(parents=True)
        oconf = oroot / "config" / "tern.conf"
        oconf.write_text(f"DataDir: ../data\nHostname: mx.{OTHER}\nUser: tern\n"
                         f"Resolver:\n  Upstreams: [\"{dns2_addr}\"]\n  DNSSEC: false\n"
                         f"Listeners:\n  mx:\n    IPs: [{OTHER_IP}]\n"
                         "    SMTP: {Enabled: true, Port: 25}\n")
        (oroot / "config" / "domains.conf").write_text(
            f"Domains:\n  {OTHER}: {{}}\nAccounts:\n  bob:\n    Domain: {OTHER}\n"
            f"    Destinations:\n      bob@{OTHER}: {{}}\n")
        other = NsServer(ns2, oconf, world_dir / "other.log")
        # bob's store, made by the server's user before anything reads it
        run_tern("-config", str(oconf), "setaccountpassword", "bob", input="pw-of-bob\n",
                 check=0)
        tok = token()
        r = in_netns(ns1, "/usr/bin/python3", "-c", SUBMIT, IP4, DOMAIN, q.password,
                     f"bob@{OTHER}", tok)
        assert r.returncode == 0 and "client ok" in r.stdout, r.stdout + r.stderr
        msg, raw = other.inbox("bob", [f"out {tok}"], world_dir, timeout=30)[f"out {tok}"]
        sigs = msg.get_all("DKIM-Signature") or []
        assert sorted(re.search(r"\bs=([^;\s]+)", str(s)).group(1)[-1] for s in sigs) == \
            ["e", "r"], raw.decode(errors="replace")
        ar = " ".join(str(h) for h in msg.get_all("Authentication-Results") or [])
        assert "dmarc=pass" in ar and "dkim=pass" in ar, raw.decode(errors="replace")
        assert "spf=pass" in ar, ar
    finally:
        if other is not None:
            other.stop()
        if q is not None:
            q.close()
        if dns2 is not None:
            stop_dns(dns2)


@pytest.mark.skipif(os.geteuid() != 0, reason="a UTS namespace needs root")
def test_hostname_from_the_machine(world_dir):
    def in_uts(name, d):
        return subprocess.run(["unshare", "--uts", "sh", "-c",
                               f'hostname "$1" && exec "$2" quickstart -dir "$3" '
                               f'alice@{DOMAIN} {IP4}', "sh", name, tern_bin(), str(d)],
                              capture_output=True, text=True, timeout=60)
    p = in_uts("mailhost", world_dir / "a")
    assert p.returncode == 1, p.stdout + p.stderr
    assert ('the name of this machine, "mailhost", is not fully qualified (it has no dot): '
            f"give the mail server's name with -hostname, e.g. -hostname mail.{DOMAIN}"
            in p.stderr), p.stderr
    p = in_uts("MX.Quickstart.test", world_dir / "b")
    assert p.returncode == 0, p.stdout + p.stderr
    st = yaml.safe_load((world_dir / "b" / "config" / "tern.conf").read_text())
    assert st["Hostname"] == "mx.quickstart.test"


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")
def test_private_only_machine_refused(world_dir):
    tag = uuid.uuid4().hex[:8]
    ns = "tern-qs-" + tag
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", "qs" + tag, "type", "veth", "peer", "name", "lan0",
                        "netns", ns], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", "10.20.30.40/24", "dev", "lan0"],
                    ["ip", "link", "set", "lan0", "up"]):
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        p = in_netns(ns, tern_bin(), "quickstart", "-dir", str(world_dir / "q"), "-hostname",
                     HOST, f"alice@{DOMAIN}")
        assert p.returncode == 1, p.stdout + p.stderr
        assert "this machine has no public IP address (private: 10.20.30.40)" in p.stderr, \
            p.stderr
        assert not (world_dir / "q" / "config").exists()
        # given explicitly, a private IP is used, with a warning
        p = in_netns(ns, tern_bin(), "quickstart", "-dir", str(world_dir / "q"), "-hostname",
                     HOST, f"alice@{DOMAIN}", "10.20.30.40")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "warning: 10.20.30.40 is a private address" in p.stderr
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_not_root(world_dir):
    # as an ordinary user, the files stay the user's, and quickstart says what
    # the server's user needs
    d = world_dir / "q"
    d.mkdir()
    os.chmod(d, 0o777)
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        tern_bin(), "quickstart", "-dir", str(d), "-hostname", HOST,
                        f"alice@{DOMAIN}", IP4], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"user tern must read the DKIM keys: as root, run\n  chown -R tern: {d}/config/dkim\n" \
        in p.stderr, p.stderr
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
    assert os.stat(d / "config" / "dkim").st_uid == nobody
    assert os.stat(d / "data").st_uid == nobody
    conf = str(d / "config" / "tern.conf")
    # the data belongs to that user, who checks the password (as root, tern
    # would act as the configured server user, who cannot write here)
    ok = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                         tern_bin(), "-config", conf, "account", "checkpassword", "alice"],
                        input=password_of(p.stdout) + "\n", capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
