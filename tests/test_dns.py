"""End-to-end tests of `tern dns lookup` against DNS servers on 127.0.0.1.

A python3-dnslib server (dnsfixture.DNSServer) serves plain zones; nsd
(dnsfixture.DNSSECZones) serves a signed tree for secure/insecure/bogus.
The binary is $TERN_BIN, default build/tern under the repository root.
"""

import os
import subprocess

import pytest

import dnsfixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERN = os.environ.get("TERN_BIN", os.path.join(ROOT, "build", "tern"))

DKIM_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 1400 + "IDAQAB"
# RFC 1035 §3.3: a character-string holds at most 255 octets
DKIM_STRINGS = [DKIM_KEY[i:i + 250] for i in range(0, len(DKIM_KEY), 250)]
DKIM_TXT = " ".join('"%s"' % s for s in DKIM_STRINGS)

PLAIN_ZONES = {
    "example.test.": {
        "@": ["MX 20 mx2", "MX 10 mx1", "MX 30 mx0", 'TXT "v=spf1 ip4:192.0.2.0/24" " -all"',
              "A 192.0.2.1"],
        "mx1": ["A 192.0.2.10", "AAAA 2001:db8::10"],
        "mx2": ["A 192.0.2.20"],
        "www": ["CNAME mx1"],
        "alias": ["CNAME www"],
        "_25._tcp.mx1": ["TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"],
        # one record of several strings, larger than the 1232 octets of EDNS
        # over UDP: it comes over TCP after a truncated answer
        "sel._domainkey": ["TXT " + DKIM_TXT],
        "opaque": ["TYPE65280 \\# 3 abcdef"],
    },
    "2.0.192.in-addr.arpa.": {"10": ["PTR mx1.example.test."]},
    "8.b.d.0.1.0.0.2.ip6.arpa.": {
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0": ["PTR mx1.example.test."],
    },
}


@pytest.fixture(scope="session")
def tern_bin():
    if not os.access(TERN, os.X_OK):
        pytest.fail("tern binary not found at %s (set TERN_BIN)" % TERN)
    return TERN


@pytest.fixture(scope="module")
def plain():
    with dnsfixture.DNSServer(PLAIN_ZONES) as s:
        s.servfail("fail.example.test")
        s.timeout("slow.example.test")
        yield s


@pytest.fixture(scope="module")
def dnssec(tmp_path_factory):
    with dnsfixture.DNSSECZones(tmp_path_factory.mktemp("dnssec")) as z:
        yield z


def write_config(d, upstream, anchor_file, extra=""):
    """A minimal tern.conf (and empty domains.conf) in d; returns its path."""
    conf = os.path.join(str(d), "tern.conf")
    with open(conf, "w") as f:
        f.write("Hostname: mail.example.test\n"
                "Resolver:\n"
                "  Upstreams: [\"%s\"]\n"
                "  TrustAnchorFile: %s\n%s" % (upstream, anchor_file, extra))
    open(os.path.join(str(d), "domains.conf"), "w").close()
    return conf


@pytest.fixture
def plain_conf(tmp_path, plain):
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    return write_config(tmp_path, plain.addr, anchor)


def lookup(tern_bin, conf, *args, timeout=30):
    return subprocess.run([tern_bin, "-config", str(conf), "dns", "lookup", *args],
                          capture_output=True, text=True, timeout=timeout)


def lines(p):
    return p.stdout.splitlines()


# ---- plain zones through the config file ----

def test_mx_sorted_by_preference(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "MX", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == [
        "example.test. 300 IN MX 10 mx1.example.test.",
        "example.test. 300 IN MX 20 mx2.example.test.",
        "example.test. 300 IN MX 30 mx0.example.test.",
        "dnssec: insecure",
    ]


def test_a_and_aaaa(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "A", "mx1.example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "mx1.example.test. 300 IN A 192.0.2.10"
    p = lookup(tern_bin, plain_conf, "aaaa", "MX1.Example.Test.")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0].lower() == "mx1.example.test. 300 in aaaa 2001:db8::10"


def test_txt_keeps_strings(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "TXT", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == 'example.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24" " -all"'


def test_long_txt_over_tcp(tern_bin, plain_conf, plain):
    p = lookup(tern_bin, plain_conf, "TXT", "sel._domainkey.example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "sel._domainkey.example.test. 300 IN TXT " + DKIM_TXT
    assert ("sel._domainkey.example.test.", "TXT", "tcp") in plain.queries


def test_ptr_from_addresses(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "PTR", "192.0.2.10")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "10.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.test."
    p = lookup(tern_bin, plain_conf, "PTR", "2001:db8::10")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0].startswith("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                                  ".ip6.arpa. 300 IN PTR mx1.example.test.")


def test_tlsa(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "TLSA", "_25._tcp.mx1.example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == ("_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 "
                           "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")


def test_cname_chain(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "A", "alias.example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == [
        "alias.example.test. 300 IN CNAME www.example.test.",
        "www.example.test. 300 IN CNAME mx1.example.test.",
        "mx1.example.test. 300 IN A 192.0.2.10",
        "dnssec: insecure",
    ]
    p = lookup(tern_bin, plain_conf, "CNAME", "alias.example.test")
    assert lines(p)[0] == "alias.example.test. 300 IN CNAME www.example.test."


def test_type_by_number(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "15", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "example.test. 300 IN MX 10 mx1.example.test."
    p = lookup(tern_bin, plain_conf, "65280", "opaque.example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "opaque.example.test. 300 IN TYPE65280 \\# 3 ABCDEF"


def test_soa_and_ns(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "SOA", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == ("example.test. 300 IN SOA ns.example.test. hostmaster.example.test. "
                           "1 3600 600 86400 60")


# ---- failures ----

def test_nxdomain(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "A", "nope.example.test")
    assert p.returncode == 1
    assert "nope.example.test.: no such domain (NXDOMAIN)" in p.stderr
    assert lines(p) == ["dnssec: insecure"]


def test_nodata(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "AAAA", "mx2.example.test")
    assert p.returncode == 1
    assert "mx2.example.test.: no AAAA records (NODATA)" in p.stderr


def test_servfail_is_tempfail(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "A", "fail.example.test")
    assert p.returncode == 1
    assert "temporary failure (TEMPFAIL)" in p.stderr
    assert "SERVFAIL" in p.stderr
    assert "NXDOMAIN" not in p.stderr


def test_timeout_is_tempfail(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "-timeout", "2", "A", "slow.example.test")
    assert p.returncode == 1
    assert "temporary failure (TEMPFAIL): timeout" in p.stderr


def test_usage_errors(tern_bin, plain_conf):
    p = lookup(tern_bin, plain_conf, "BOGUSTYPE", "example.test")
    assert p.returncode == 2
    assert "unknown record type BOGUSTYPE" in p.stderr
    assert "usage: tern dns lookup" in p.stderr
    assert lookup(tern_bin, plain_conf, "MX").returncode == 2
    assert lookup(tern_bin, plain_conf, "0", "example.test").returncode == 2
    p = lookup(tern_bin, plain_conf, "A", "a..example.test")
    assert p.returncode == 2
    assert "empty label" in p.stderr


def test_flags_override_config(tern_bin, tmp_path, plain):
    # the config points at a port where nothing answers; -server wins
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    conf = write_config(tmp_path, "127.0.0.1@9", anchor)
    p = lookup(tern_bin, conf, "-server", plain.addr, "MX", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[0] == "example.test. 300 IN MX 10 mx1.example.test."


def test_without_config_file_uses_flags(tern_bin, tmp_path, plain):
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    p = lookup(tern_bin, tmp_path / "absent.conf", "-server", plain.addr, "-trust-anchor", anchor,
               "A", "example.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == ["example.test. 300 IN A 192.0.2.1", "dnssec: insecure"]


# ---- DNSSEC ----

@pytest.fixture
def dnssec_conf(tmp_path, dnssec):
    anchor = dnssec.write_trust_anchor_file(tmp_path / "anchor")
    return write_config(tmp_path, dnssec.addr, anchor)


def test_dnssec_secure(tern_bin, dnssec_conf):
    p = lookup(tern_bin, dnssec_conf, "MX", "secure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == ["secure.dnssec.test. 300 IN MX 10 mx.secure.dnssec.test.",
                        "dnssec: secure"]
    p = lookup(tern_bin, dnssec_conf, "TLSA", "_25._tcp.mx.secure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[-1] == "dnssec: secure"


def test_dnssec_secure_denial(tern_bin, dnssec_conf):
    p = lookup(tern_bin, dnssec_conf, "A", "nope.secure.dnssec.test")
    assert p.returncode == 1
    assert "NXDOMAIN" in p.stderr
    assert lines(p) == ["dnssec: secure"]
    p = lookup(tern_bin, dnssec_conf, "AAAA", "secure.dnssec.test")
    assert p.returncode == 1
    assert "NODATA" in p.stderr
    assert lines(p) == ["dnssec: secure"]


def test_dnssec_insecure(tern_bin, dnssec_conf):
    p = lookup(tern_bin, dnssec_conf, "MX", "insecure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == ["insecure.dnssec.test. 300 IN MX 10 mx.insecure.dnssec.test.",
                        "dnssec: insecure"]


def test_dnssec_bogus_wrong_ds(tern_bin, dnssec_conf):
    p = lookup(tern_bin, dnssec_conf, "MX", "bogus.dnssec.test")
    assert p.returncode == 1
    assert lines(p)[-1].startswith("dnssec: bogus (validation failure <bogus.dnssec.test. MX IN>")
    assert "DNSSEC validation failed (BOGUS)" in p.stderr


def test_dnssec_bogus_broken_signature(tern_bin, dnssec_conf):
    p = lookup(tern_bin, dnssec_conf, "A", "tampered.secure.dnssec.test")
    assert p.returncode == 1
    assert lines(p)[-1].startswith("dnssec: bogus (")
    assert "signature" in lines(p)[-1]


def test_dnssec_with_flags(tern_bin, tmp_path, dnssec):
    anchor = dnssec.write_trust_anchor_file(tmp_path / "ta")
    p = lookup(tern_bin, tmp_path / "absent.conf", "-server", dnssec.addr, "-trust-anchor", anchor,
               "MX", "secure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[-1] == "dnssec: secure"


def test_dnssec_off_makes_every_answer_insecure(tern_bin, tmp_path, dnssec):
    # Resolver.DNSSEC: false is for upstreams that strip DNSSEC records: no
    # validation, so even the signed zone and the broken one answer insecure.
    anchor = dnssec.write_trust_anchor_file(tmp_path / "anchor")
    conf = write_config(tmp_path, dnssec.addr, anchor, "  DNSSEC: false\n")
    p = lookup(tern_bin, conf, "MX", "secure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p) == ["secure.dnssec.test. 300 IN MX 10 mx.secure.dnssec.test.",
                        "dnssec: insecure"]
    p = lookup(tern_bin, conf, "A", "tampered.secure.dnssec.test")
    assert p.returncode == 0, p.stderr
    assert lines(p)[-1] == "dnssec: insecure"
