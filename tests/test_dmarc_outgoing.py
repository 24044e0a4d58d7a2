"""`tern dmarc composereports` and `tern dmarc outgoing`: outgoing DMARC
aggregate reports (RFC 7489 §7.1, §7.2). The server records evaluations in
DATA/tern.db; here python's sqlite3 writes rows in the documented schema
(store/globaldb.h, table dmarc_eval), the command composes the reports, and
the stored message is taken apart with the email package: its gzip
attachment holds XML that `tern dmarc parsereportmsg` and ElementTree read
back with the same records and counts. dnsfixture.DNSServer serves the
external destination authorization (POLICY._report._dmarc.RUADOMAIN)."""
import email
import email.policy
import gzip
import sqlite3
import subprocess
import xml.etree.ElementTree as ET

import pytest

import dnsfixture
from conftest import run_tern, tern_bin

DAY = 86400
T0 = 1700006400  # 2023-11-15T00:00:00Z

ZONES = {
    "test.": {"@": ["NS ns.test."]},
    "thirdparty.test.": {"example.org._report._dmarc": ['TXT "v=DMARC1"']},
    "unauth.test.": {"@": ["A 192.0.2.1"],
                     "example.org._report._dmarc": ['TXT "v=spf1 -all"']},
}

COLUMNS = ("evaluated, policy_domain, p, sp, np, adkim, aspf, pct, fo, ri, rua, source_ip,"
           " header_from, envelope_from, envelope_to, disposition, dkim, spf, reasons, auth")


@pytest.fixture
def dns():
    with dnsfixture.DNSServer(ZONES) as s:
        yield s


@pytest.fixture
def world(tmp_path):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "tern.conf").write_text("DataDir: ../data\nHostname: mail.tern.test\nUser: nobody\n")
    (conf / "domains.conf").write_text("Domains:\n  tern.test:\n    Description: t\n")
    config = conf / "tern.conf"
    # Creates tern.db with its schema.
    p = run_tern("-config", str(config), "dmarc", "outgoing", check=0)
    assert p.stdout == ""
    return config, tmp_path / "data" / "tern.db"


def add_rows(db, rows):
    c = sqlite3.connect(db)
    c.executemany("INSERT INTO dmarc_eval (%s) VALUES (%s)" % (COLUMNS, ",".join("?" * 20)),
                  rows)
    c.commit()
    c.close()


def row(t, ip, disposition="none", rua="dmarc@example.org", auth=None, reasons=""):
    if auth is None:
        auth = "dkim example.org s1 pass\nspf example.org mfrom pass"
    return (t, "example.org", "reject", "reject", None, "r", "r", 100, "0", DAY, rua, ip,
            "example.org", "example.org", "tern.test", disposition,
            "pass" if disposition == "none" else "fail", "pass" if disposition == "none" else "fail",
            reasons, auth)


def compose(config, dns, anchor, now):
    return run_tern("-config", str(config), "dmarc", "composereports", "-now", str(now),
                    "-server", dns.addr, "-trust-anchor", anchor, "-timeout", "3", check=0)


def outgoing(config):
    """`tern dmarc outgoing` parsed: [{id, size, status, to, subject}]."""
    out = run_tern("-config", str(config), "dmarc", "outgoing", check=0).stdout
    items = []
    for line in out.splitlines():
        if line.startswith("id="):
            items.append(dict(kv.split("=", 1) for kv in line.split()))
        elif line.startswith("  to:"):
            items[-1]["to"] = line[len("  to:"):].split()
        elif line.startswith("  subject: "):
            items[-1]["subject"] = line[len("  subject: "):]
    return items


def stored(db, oid):
    c = sqlite3.connect(db)
    (msg,) = c.execute("SELECT message FROM outgoing WHERE id = ?", (oid,)).fetchone()
    c.close()
    return msg


def test_compose_and_roundtrip(world, dns, tmp_path):
    config, db = world
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    rua = ("dmarc@example.org reports@thirdparty.test nope@unauth.test"
           " tiny@example.org!50")
    rows = [row(T0 + 10 + i, "192.0.2.10", rua=rua) for i in range(4)]
    rows += [row(T0 + 100 + i, "198.51.100.7", "reject", rua=rua,
                 auth="spf evil.test mfrom fail", reasons="local_policy blocked by us")
             for i in range(2)]
    rows.append(row(T0 + DAY + 10, "192.0.2.10", rua=rua))   # next period
    add_rows(db, rows)

    # The period has not ended yet.
    p = compose(config, dns, anchor, T0 + DAY - 1)
    assert "composed 0 reports" in p.stdout
    assert outgoing(config) == []

    p = compose(config, dns, anchor, T0 + DAY + 60)
    assert "composed 1 reports" in p.stdout, p.stderr
    assert "nope@unauth.test dropped" in p.stderr
    assert "tiny@example.org dropped" in p.stderr
    items = outgoing(config)
    assert len(items) == 1
    it = items[0]
    assert it["status"] == "waiting-for-queue"
    assert it["to"] == ["dmarc@example.org", "reports@thirdparty.test"]
    assert it["subject"].startswith(
        "Report Domain: example.org Submitter: mail.tern.test Report-ID: <")

    raw = stored(db, int(it["id"]))
    assert int(it["size"]) == len(raw)
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m["From"].addresses[0].addr_spec == "postmaster@mail.tern.test"
    assert m["Subject"] == it["subject"]
    assert m["Message-ID"] and m["Date"]
    att = [part for part in m.iter_attachments()]
    assert len(att) == 1
    assert att[0].get_content_type() == "application/gzip"
    assert att[0].get_filename() == "mail.tern.test!example.org!%d!%d.xml.gz" % (T0, T0 + DAY - 1)
    xml = gzip.decompress(att[0].get_content())
    root = ET.fromstring(xml)
    assert root.findtext("report_metadata/org_name") == "mail.tern.test"
    assert root.findtext("report_metadata/email") == "postmaster@mail.tern.test"
    assert root.findtext("report_metadata/date_range/begin") == str(T0)
    assert root.findtext("policy_published/domain") == "example.org"
    assert root.findtext("policy_published/p") == "reject"
    recs = [(r.findtext("row/source_ip"), int(r.findtext("row/count")),
             r.findtext("row/policy_evaluated/disposition")) for r in root.findall("record")]
    assert recs == [("192.0.2.10", 4, "none"), ("198.51.100.7", 2, "reject")]
    r2 = root.findall("record")[1]
    assert r2.findtext("row/policy_evaluated/reason/type") == "local_policy"
    assert r2.findtext("row/policy_evaluated/reason/comment") == "blocked by us"
    assert r2.findtext("auth_results/spf/domain") == "evil.test"
    assert r2.find("auth_results/dkim") is None
    assert root.findtext("record/auth_results/dkim/selector") == "s1"
    assert root.findtext("record/identifiers/envelope_to") == "tern.test"

    # tern's own parser reads the message back.
    f = tmp_path / "report.eml"
    f.write_bytes(raw)
    p = run_tern("dmarc", "parsereportmsg", "-json", str(f), check=0)
    assert '"count":4' in p.stdout.replace(" ", "")
    assert '"count":2' in p.stdout.replace(" ", "")

    # Idempotent; the reported evaluations are gone, the next day's wait.
    p = compose(config, dns, anchor, T0 + DAY + 120)
    assert "composed 0 reports" in p.stdout
    c = sqlite3.connect(db)
    assert c.execute("SELECT COUNT(*) FROM dmarc_eval").fetchone()[0] == 1
    note = c.execute("SELECT note FROM dmarc_report_out").fetchone()[0]
    c.close()
    assert "nope@unauth.test: external destination not authorized" in note
    assert "tiny@example.org: report of" in note
    p = compose(config, dns, anchor, T0 + 2 * DAY)
    assert "composed 1 reports" in p.stdout
    assert len(outgoing(config)) == 2


def test_outgoing_message_flag(world, dns, tmp_path):
    config, db = world
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    add_rows(db, [row(T0 + 5, "192.0.2.1")])
    compose(config, dns, anchor, T0 + DAY)
    (it,) = outgoing(config)
    p = subprocess.run([tern_bin(), "-config", str(config), "dmarc", "outgoing", "-message",
                        it["id"]], capture_output=True, check=True, timeout=60)
    assert p.stdout == stored(db, int(it["id"]))


def test_report_dkim_signed(world, dns, tmp_path):
    # RFC 7489 §7.2.1.1: with DKIM.Sign selectors for the reporting domain
    # (our Hostname's), reports are signed; the signature verifies.
    config, db = world
    p = subprocess.run([tern_bin(), "dkim", "gened25519"], capture_output=True, text=True,
                       check=True)
    key = config.parent / "dkim.pem"
    key.write_text(p.stdout)
    record = [l for l in p.stderr.splitlines() if l.startswith("v=DKIM1;")][0]
    (config.parent / "domains.conf").write_text(
        "Domains:\n  tern.test:\n    DKIM:\n      Selectors:\n        r1:\n"
        "          PrivateKeyFile: dkim.pem\n      Sign: [r1]\n")
    dns.add_zone("tern.test.", {"r1._domainkey.mail": [f'TXT "{record}"'],
                                "r1._domainkey": [f'TXT "{record}"']})
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    add_rows(db, [row(T0 + 5, "192.0.2.1")])
    compose(config, dns, anchor, T0 + DAY)
    (it,) = outgoing(config)
    msg = stored(db, int(it["id"]))
    assert msg.startswith(b"DKIM-Signature:") or b"\nDKIM-Signature:" in msg.split(b"\r\n\r\n")[0]
    f = tmp_path / "report.eml"
    f.write_bytes(msg)
    v = run_tern("dkim", "verify", "-server", dns.addr, "-trust-anchor", anchor, str(f), check=0)
    assert "dkim=pass" in v.stdout and "header.d=tern.test" in v.stdout, v.stdout + v.stderr
