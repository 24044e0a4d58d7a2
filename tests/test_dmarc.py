"""End-to-end tests of `tern dmarc lookup` against a DNS server on 127.0.0.1.

dnsfixture.DNSServer serves the zones; tern asks it through -server with a
trust anchor that covers none of the names (answers are insecure, not
bogus). The binary is $TERN_BIN, default build/tern under the repository
root. example.co.uk needs the Public Suffix List (Debian's publicsuffix) to
be found as the Organizational Domain of mail.sub.example.co.uk.
"""

import os
import subprocess

import pytest

import dnsfixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERN = os.environ.get("TERN_BIN", os.path.join(ROOT, "build", "tern"))

ZONES = {
    # the tree walk goes up to the top-level domain: it must answer too
    # (NXDOMAIN for _dmarc.test), or the walk ends in temperror
    "test.": {"@": ["NS ns.test."]},
    "example.co.uk.": {
        "_dmarc": ['TXT "v=DMARC1; p=reject; sp=quarantine; " '
                   '"rua=mailto:dmarc@example.co.uk,mailto:agg@reports.example.net!10m; pct=50"'],
        "mail.sub": ["A 192.0.2.1"],
    },
    "example.test.": {
        # the record at the domain itself, beside other TXT records
        "_dmarc": ['TXT "v=spf1 -all"', 'TXT "v=DMARC1; p=none; adkim=s"'],
        "_dmarc.multi": ['TXT "v=DMARC1; p=reject"', 'TXT "v=DMARC1; p=none"'],
        # a bad record is ignored; the walk goes on to example.test
        "_dmarc.bad": ['TXT "v=DMARC1; p=reject; pct=150"'],
        "www": ["A 192.0.2.2"],
    },
    # a bad record with no valid one above it
    "isolated.test.": {"@": ["A 192.0.2.3"], "_dmarc.broken": ['TXT "v=DMARC1; p=nonsense"']},
    "nodmarc.test.": {"@": ["A 192.0.2.4"]},
    "fail.test.": {"@": ["A 192.0.2.5"]},
    "slow.test.": {"@": ["A 192.0.2.6"]},
}


@pytest.fixture(scope="session")
def tern_bin():
    if not os.access(TERN, os.X_OK):
        pytest.fail("tern binary not found at %s (set TERN_BIN)" % TERN)
    return TERN


@pytest.fixture(scope="module")
def dns():
    with dnsfixture.DNSServer(ZONES) as s:
        s.servfail("_dmarc.fail.test")
        s.timeout("_dmarc.slow.test")
        yield s


@pytest.fixture
def anchor(tmp_path):
    return dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")


def lookup(tern_bin, dns, anchor, tmp_path, *args, timeout=3):
    # -config at a missing file: resolver settings come from the flags only
    return subprocess.run(
        [tern_bin, "-config", str(tmp_path / "none.conf"), "dmarc", "lookup",
         "-server", dns.addr, "-trust-anchor", anchor, "-timeout", str(timeout), *args],
        capture_output=True, text=True, timeout=60)


def fields(out):
    """The "key: value" and "tag=value" lines of the output as a dict."""
    d = {}
    for line in out.splitlines():
        if ": " in line and "=" not in line.split(": ", 1)[0]:
            k, v = line.split(": ", 1)
            d.setdefault(k, v)
        elif "=" in line:
            k, v = line.split("=", 1)
            d.setdefault(k, v)
    return d


def test_record_at_domain(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "example.test")
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["record"] == "_dmarc.example.test (the domain itself)"
    assert f["text"] == "v=DMARC1; p=none; adkim=s"
    assert f["organizational domain"].startswith("example.test ")
    assert f["p"] == "none"
    assert f["adkim"] == "s"
    assert f["aspf"] == "r (default)"
    assert f["sp"] == "none (default)"
    assert f["pct"] == "100 (default)"
    assert f["ri"] == "86400 (default)"
    assert f["fo"] == "0 (default)"


def test_fallback_to_org_domain(tern_bin, dns, anchor, tmp_path):
    for mode in ([], ["-rfc7489"]):
        r = lookup(tern_bin, dns, anchor, tmp_path, *mode, "Mail.Sub.Example.co.uk.")
        assert r.returncode == 0, r.stderr
        f = fields(r.stdout)
        assert f["domain"] == "mail.sub.example.co.uk"
        assert f["organizational domain"].startswith("example.co.uk ")
        assert f["record"] == "_dmarc.example.co.uk (from the organizational domain)"
        assert f["p"] == "reject"
        assert f["sp"] == "quarantine"
        assert f["pct"] == "50"
        assert "rua=mailto:dmarc@example.co.uk\n" in r.stdout
        assert "rua=mailto:agg@reports.example.net (at most 10485760 bytes)" in r.stdout
    # RFC 7489 asks two names, the tree walk three
    names = [q[0] for q in dns.queries if q[1] == "TXT"]
    assert "_dmarc.sub.example.co.uk." in names


def test_no_record(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "www.nodmarc.test")
    assert r.returncode == 1
    assert "record: none" in r.stdout
    assert "no DMARC policy" in r.stderr


def test_multiple_records(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "multi.example.test")
    assert r.returncode == 1
    assert "record: none" in r.stdout
    assert "2 DMARC records" in r.stderr


def test_bad_record_ignored(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "bad.example.test")
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert "_dmarc.bad.example.test" not in f["record"]
    assert f["record"].startswith("_dmarc.example.test ")
    assert "record ignored: bad value for pct" in r.stdout
    # nothing valid above it: no policy
    r = lookup(tern_bin, dns, anchor, tmp_path, "broken.isolated.test")
    assert r.returncode == 1
    assert "record ignored" in r.stdout


def test_servfail_is_temperror(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "fail.test")
    assert r.returncode == 1
    assert "record: temperror" in r.stdout
    assert "temporary failure" in r.stderr


def test_timeout_is_temperror(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "slow.test", timeout=1)
    assert r.returncode == 1
    assert "record: temperror" in r.stdout


def test_bad_domain_and_usage(tern_bin, dns, anchor, tmp_path):
    r = lookup(tern_bin, dns, anchor, tmp_path, "a..b")
    assert r.returncode == 1
    assert "record: permerror" in r.stdout
    r = subprocess.run([tern_bin, "dmarc", "lookup"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "usage" in r.stderr
