"""End-to-end tests of `tern spf check`: the openspf.org RFC 7208 test suite.

The suite lives beside the repository, in
../shared/external-tests/spf-rfc7208/rfc7208-tests.yml (a YAML stream of
scenarios: `tests` and the `zonedata` they run against). For each scenario a
dnsfixture.DNSServer serves its zonedata as one root zone (so every name is
answered authoritatively: NXDOMAIN when absent, NODATA when it has no
records of the type), and each case runs

    tern spf check -server 127.0.0.1@PORT -helo H -sender S DOMAIN IP

where DOMAIN is the domain of S, or H when S is empty (the null path,
RFC 7208 §2.4). The result must be one of those the suite allows, and the
explanation the one it gives ("DEFAULT": tern's default, printed as no
`explanation:` line).

Zone data as the suite's drivers build it (see the suite's header comment
and pyspf's test driver):
  - SPF records are served as type SPF and, when the name has no TXT entry
    of its own, as TXT too (RFC 7208 dropped type SPF; the "Selecting
    records" scenario relies on this).
  - "TXT: NONE" means the name has no TXT records (and stops that copying).
  - TIMEOUT: queries for that exact name never get an answer, unless the
    name has records of the type asked (the suite lists TIMEOUT after the
    records that do answer). tern is run with -timeout 1 so that a lost
    query costs one second.
  - Strings are bytes: "\\xEF" in the YAML is the byte 0xEF (so the
    non-ASCII cases carry non-ASCII octets), "\\0" a NUL.

Cases run in parallel within a scenario, one pytest test per scenario; the
last test prints "spf suite: N passed, M failed".
"""

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from dnslib import A, AAAA, CNAME, MX, PTR, QTYPE, RR, TXT, DNSLabel

import dnsfixture

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO.parent / "shared" / "external-tests" / "spf-rfc7208" / "rfc7208-tests.yml"
TERN = os.environ.get("TERN_BIN", str(REPO / "build" / "tern"))

# Cases that cannot run here, with the reason.
SKIP = {}

# Cases whose expected explanation differs from RFC 7208 only in letter case.
CASE_INSENSITIVE_EXPLANATION = {
    # RFC 7208 §7.3's own example expands %{ir} of an IPv6 address to
    # lowercase nibbles ("1.0.b.c.0.0..."); the suite, written from pyspf's
    # output, expects uppercase ("...E.B.A.B.E.F.A.C.ip6.arpa").
    "v-macro-ip6",
}

TOTALS = {"passed": 0, "failed": 0, "skipped": 0}
_totals_lock = threading.Lock()


def load_scenarios():
    with open(SUITE, encoding="utf-8") as f:
        return [s for s in yaml.safe_load_all(f) if s]


SCENARIOS = load_scenarios() if SUITE.exists() else []


def _bytes(s):
    """A YAML string as the octets it stands for ("\\xEF" -> 0xEF)."""
    s = str(s)
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _label(name):
    name = str(name).rstrip(".")
    return DNSLabel([_bytes(p) for p in name.split(".")] if name else [])


def _txt(value):
    """TXT rdata: a string is one record (cut into 255-octet strings), a list
    its strings."""
    if isinstance(value, list):
        # A TXT record of no strings (the suite's "null-text" case, "illegal,
        # but SPF should not crash") is malformed rdata that a validating
        # resolver refuses (SERVFAIL) before SPF sees it; the nearest legal
        # record, one empty string, is served instead.
        return TXT([_bytes(v) for v in value] or [b""])
    data = _bytes(value)
    return TXT([data[i:i + 255] for i in range(0, len(data), 255)] or [b""])


class SuiteDNS(dnsfixture.DNSServer):
    """DNSServer with one root zone built from a scenario's zonedata."""

    def __init__(self, zonedata):
        self.timeout_names = set()
        super().__init__({".": {"@": ["SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}})
        for name, entries in (zonedata or {}).items():
            self._add_name(name, entries)

    def _add(self, name, rtype, rdata):
        rr = RR(_label(name), rtype, ttl=300, rdata=rdata)
        key = dnsfixture._fqdn(str(rr.rname))
        with self._lock:
            self.records.setdefault((key, rtype), []).append(rr)
            self.names.add(key)

    def _add_name(self, name, entries):
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        for e in entries:
            if e == "TIMEOUT":
                self.timeout_names.add(dnsfixture._fqdn(str(_label(name))))
                continue
            (rtype, value), = e.items()
            if rtype == "SPF":
                self._add(name, QTYPE.SPF, _txt(value))
                if not has_txt:
                    self._add(name, QTYPE.TXT, _txt(value))
            elif rtype == "TXT":
                if value != "NONE":
                    self._add(name, QTYPE.TXT, _txt(value))
            elif rtype == "A":
                self._add(name, QTYPE.A, A(value))
            elif rtype == "AAAA":
                self._add(name, QTYPE.AAAA, AAAA(value))
            elif rtype == "MX":
                pref, host = value
                self._add(name, QTYPE.MX, MX(_label(host) if host else DNSLabel([]), pref))
            elif rtype == "PTR":
                self._add(name, QTYPE.PTR, PTR(_label(value)))
            elif rtype == "CNAME":
                self._add(name, QTYPE.CNAME, CNAME(_label(value)))
            else:
                raise ValueError("zonedata type %s not handled" % rtype)

    def answer(self, request):
        qname = dnsfixture._fqdn(str(request.q.qname))
        if qname in self.timeout_names and not self.records.get((qname, request.q.qtype)):
            return None
        return super().answer(request)


@pytest.fixture(scope="module")
def tern_bin():
    if not os.access(TERN, os.X_OK):
        pytest.fail("tern binary not found at %s (set TERN_BIN)" % TERN)
    return TERN


@pytest.fixture(scope="module")
def anchor(tmp_path_factory):
    return dnsfixture.write_unrelated_trust_anchor(tmp_path_factory.mktemp("spf") / "anchor")


def run_check(tern, addr, anchor_file, case):
    mailfrom = str(case.get("mailfrom", ""))
    helo = str(case.get("helo", ""))
    domain = mailfrom.rsplit("@", 1)[1] if "@" in mailfrom else (mailfrom or helo)
    cmd = [tern, "spf", "check", "-server", addr, "-trust-anchor", anchor_file, "-timeout", "1",
           "-receiver", "receiver.example.org", "-helo=" + helo, "-sender=" + mailfrom,
           "--", domain, str(case["host"])]
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    out = {}
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in ("result", "mechanism", "problem", "explanation") and key not in out:
            out[key] = value
    return p.returncode, out, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


def check_case(name, case, got_rc, got, text):
    """A failure message, or None when the case passes."""
    want = case["result"]
    want = [str(w) for w in want] if isinstance(want, list) else [str(want)]
    if got_rc != 0:
        return "%s: exit %d\n%s" % (name, got_rc, text)
    if got.get("result") not in want:
        return "%s: result %s, want %s\n%s" % (name, got.get("result"), "/".join(want), text)
    if "explanation" in case and got.get("result") == "fail":
        exp = str(case["explanation"])
        have = got.get("explanation")
        if exp == "DEFAULT":
            if have is not None:
                return "%s: explanation %r, want the default\n%s" % (name, have, text)
        elif have != exp and not (name in CASE_INSENSITIVE_EXPLANATION and have is not None
                                  and have.lower() == exp.lower()):
            return "%s: explanation %r, want %r\n%s" % (name, have, exp, text)
    return None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["description"] for s in SCENARIOS])
def test_scenario(scenario, tern_bin, anchor):
    failures = []
    with SuiteDNS(scenario.get("zonedata")) as dns:
        cases = [(n, c) for n, c in scenario["tests"].items()]
        runnable = [(n, c) for n, c in cases if n not in SKIP]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda nc: (nc[0], nc[1]) + run_check(tern_bin, dns.addr, anchor, nc[1]),
                               runnable)
            for name, case, rc, got, text in results:
                msg = check_case(name, case, rc, got, text)
                if msg is not None:
                    failures.append(msg)
    with _totals_lock:
        TOTALS["failed"] += len(failures)
        TOTALS["passed"] += len(runnable) - len(failures)
        TOTALS["skipped"] += len(cases) - len(runnable)
    assert not failures, "\n\n".join(failures)


def test_zz_suite_summary():
    """Prints the count line; runs last (pytest keeps file order)."""
    if not SCENARIOS:
        pytest.fail("RFC 7208 test suite not found at %s" % SUITE)
    line = "spf suite: %d passed, %d failed" % (TOTALS["passed"], TOTALS["failed"])
    if TOTALS["skipped"]:
        line += ", %d skipped (%s)" % (TOTALS["skipped"], "; ".join(
            "%s: %s" % kv for kv in SKIP.items()))
    print("\n" + line, file=sys.stderr)
    assert TOTALS["failed"] == 0
    assert TOTALS["passed"] > 0
