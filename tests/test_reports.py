"""`tern dmarc parsereportmsg` and `tern tlsrpt parsereportmsg`: report
messages built here with the email package (gzip and zip attachments, RFC
8460's example), Stalwart's real report messages, and what is not a report."""
import email.message
import email.policy
import gzip
import io
import json
import pathlib
import zipfile

import pytest

from conftest import REPO, run_tern

STALWART = REPO.parent / "shared" / "external-tests" / "mail-auth-stalwart" / "resources"

DMARC_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>4711</report_id>
    <date_range><begin>1700006400</begin><end>1700092799</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.org</domain><adkim>r</adkim><aspf>r</aspf>
    <p>reject</p><sp>reject</sp><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>203.0.113.25</source_ip>
      <count>42</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.org</domain><result>pass</result><selector>s1</selector></dkim>
      <spf><domain>example.org</domain><result>pass</result></spf>
    </auth_results>
  </record>
</feedback>
"""

# RFC 8460 section 4.4's example (its wrapped string joined).
TLSRPT_JSON = {
    "organization-name": "Company-X",
    "date-range": {"start-datetime": "2016-04-01T00:00:00Z",
                   "end-datetime": "2016-04-01T23:59:59Z"},
    "contact-info": "sts-reporting@company-x.example",
    "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "policies": [{
        "policy": {"policy-type": "sts",
                   "policy-string": ["version: STSv1", "mode: testing",
                                     "mx: *.mail.company-y.example", "max_age: 86400"],
                   "policy-domain": "company-y.example",
                   "mx-host": ["*.mail.company-y.example"]},
        "summary": {"total-successful-session-count": 5326,
                    "total-failure-session-count": 303},
        "failure-details": [
            {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
             "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100},
            {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
             "receiving-mx-hostname": "mx2.mail.company-y.example",
             "receiving-ip": "203.0.113.56", "failed-session-count": 200,
             "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarTLS"},
            {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
             "receiving-ip": "203.0.113.58",
             "receiving-mx-hostname": "mx-backup.mail.company-y.example",
             "failed-session-count": 3,
             "failure-error-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}]}],
}


def report_message(tmp_path, payload, maintype, subtype, filename, report_type=None,
                   name="msg.eml"):
    """A message with a text part and the report attached (base64); its path."""
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = "noreply-dmarc-support@google.com"
    m["To"] = "dmarc-reports@example.org"
    m["Subject"] = "Report domain: example.org Submitter: google.com Report-ID: 4711"
    m.set_content("This is an aggregate report.\n")
    m.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    if report_type:
        m.replace_header("Content-Type", f'multipart/report; report-type="{report_type}"; '
                         f'boundary="{m.get_boundary()}"')
    p = tmp_path / name
    p.write_bytes(m.as_bytes())
    return str(p)


def zipped(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return b.getvalue()


def test_dmarc_gzip(tmp_path):
    f = report_message(tmp_path, gzip.compress(DMARC_XML.encode()), "application", "gzip",
                       "google.com!example.org!1700006400!1700092799.xml.gz")
    p = run_tern("dmarc", "parsereportmsg", f, check=0)
    assert "organization:  google.com\n" in p.stdout
    assert "report id:     4711\n" in p.stdout
    assert "period:        2023-11-15 00:00:00 UTC - 2023-11-15 23:59:59 UTC\n" in p.stdout
    assert "policy:        domain=example.org p=reject sp=reject adkim=r aspf=r pct=100\n" in p.stdout
    assert "source 203.0.113.25: 42 messages, disposition none, dkim pass, spf pass\n" in p.stdout
    assert "dkim pass: d=example.org s=s1\n" in p.stdout


def test_dmarc_zip_json(tmp_path):
    f = report_message(tmp_path, zipped("google.com!example.org!1!2.xml", DMARC_XML),
                       "application", "zip", "google.com!example.org!1!2.zip")
    p = run_tern("dmarc", "parsereportmsg", "-json", f, check=0)
    j = json.loads(p.stdout)
    assert j["kind"] == "dmarc"
    assert j["filename"] == "google.com!example.org!1!2.zip"
    r = j["report"]
    assert r["report_metadata"]["org_name"] == "google.com"
    assert r["report_metadata"]["date_range"] == {"begin": 1700006400, "end": 1700092799}
    assert r["policy_published"]["p"] == "reject"
    assert r["policy_published"]["pct"] == 100
    rec = r["record"][0]
    assert rec["row"]["count"] == 42
    assert rec["row"]["policy_evaluated"] == {"disposition": "none", "dkim": "pass", "spf": "pass"}
    assert rec["identifiers"]["header_from"] == "example.org"
    assert rec["auth_results"]["dkim"][0]["selector"] == "s1"


def test_dmarc_octet_stream_by_name(tmp_path):
    f = report_message(tmp_path, gzip.compress(DMARC_XML.encode()), "application",
                       "octet-stream", "amazonses.com!example.org!1!2.xml.gz")
    run_tern("dmarc", "parsereportmsg", f, check=0)


def test_tlsrpt_gzip(tmp_path):
    data = gzip.compress(json.dumps(TLSRPT_JSON).encode())
    f = report_message(tmp_path, data, "application", "tlsrpt+gzip",
                       "company-x.example!company-y.example!1459468800!1459555199.json.gz",
                       report_type="tlsrpt")
    p = run_tern("tlsrpt", "parsereportmsg", f, check=0)
    assert "organization:  Company-X\n" in p.stdout
    assert "policy sts for company-y.example: 5326 successful, 303 failed sessions\n" in p.stdout
    assert "failure validation-failure: 3 sessions" in p.stdout
    assert "code X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED" in p.stdout
    p = run_tern("tlsrpt", "parsereportmsg", "-json", f, check=0)
    j = json.loads(p.stdout)
    assert j["kind"] == "tlsrpt"
    pol = j["report"]["policies"][0]
    assert pol["summary"] == {"total-successful-session-count": 5326,
                              "total-failure-session-count": 303}
    assert len(pol["failure-details"]) == 3
    assert pol["failure-details"][2]["failure-reason-code"] == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"


def test_tlsrpt_json_attachment(tmp_path):
    f = report_message(tmp_path, json.dumps(TLSRPT_JSON).encode(), "application",
                       "tlsrpt+json", "r.json", report_type="tlsrpt")
    p = run_tern("tlsrpt", "parsereportmsg", "-json", f, check=0)
    assert json.loads(p.stdout)["report"]["report-id"] == TLSRPT_JSON["report-id"]


def test_wrong_kind(tmp_path):
    f = report_message(tmp_path, gzip.compress(DMARC_XML.encode()), "application", "gzip",
                       "r.xml.gz")
    p = run_tern("tlsrpt", "parsereportmsg", f, check=1)
    assert "not an SMTP TLS report message: it holds a DMARC aggregate report" in p.stderr
    assert p.stdout == ""
    g = report_message(tmp_path, json.dumps(TLSRPT_JSON).encode(), "application",
                       "tlsrpt+json", "r.json", name="t.eml")
    p = run_tern("dmarc", "parsereportmsg", g, check=1)
    assert "not a DMARC aggregate report message: it holds an SMTP TLS report" in p.stderr


def test_not_a_report(tmp_path):
    m = email.message.EmailMessage()
    m["From"] = "a@example.org"
    m["Subject"] = "hello"
    m.set_content("just mail\n")
    f = tmp_path / "plain.eml"
    f.write_bytes(m.as_bytes())
    p = run_tern("dmarc", "parsereportmsg", str(f), check=1)
    assert "not a DMARC aggregate report message: no report attachment" in p.stderr
    run_tern("tlsrpt", "parsereportmsg", str(f), check=1)


def test_malformed_reports(tmp_path):
    # a truncated XML document, a wrong root, a count too large, an entity bomb
    cases = [
        (DMARC_XML[:len(DMARC_XML) // 2], "not well-formed XML"),
        ("<html><body/></html>", "root element is <html>, not <feedback>"),
        (DMARC_XML.replace("<count>42</count>", "<count>99999999999999999999</count>"),
         "record 1: row/count"),
        (DMARC_XML.replace("<email>noreply-dmarc-support@google.com</email>", ""),
         "report_metadata/email missing"),
        ('<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "aaaaaaaaaa">'
         '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><feedback>&b;</feedback>',
         "DOCTYPE is not allowed"),
    ]
    for i, (xml, what) in enumerate(cases):
        f = report_message(tmp_path, gzip.compress(xml.encode()), "application", "gzip",
                           "r.xml.gz", name=f"bad{i}.eml")
        p = run_tern("dmarc", "parsereportmsg", f, check=1)
        assert what in p.stderr, (what, p.stderr)
    # a gzip bomb: 40 MiB of zeros stops at the 20 MiB bound
    f = report_message(tmp_path, gzip.compress(b"<" + bytes(40 << 20)), "application", "gzip",
                       "bomb.xml.gz", name="bomb.eml")
    p = run_tern("dmarc", "parsereportmsg", f, check=1)
    assert "more than 20971520 bytes uncompressed" in p.stderr
    # a TLS report with a wrong type
    bad = dict(TLSRPT_JSON, policies={})
    f = report_message(tmp_path, json.dumps(bad).encode(), "application", "tlsrpt+json",
                       "r.json", name="badtls.eml")
    p = run_tern("tlsrpt", "parsereportmsg", f, check=1)
    assert "policies: not an array" in p.stderr


def test_usage():
    p = run_tern("dmarc", "parsereportmsg", check=2)
    assert "usage: tern dmarc parsereportmsg [-json] FILE" in p.stderr
    p = run_tern("tlsrpt", "parsereportmsg", "/nonexistent/x.eml", check=1)
    assert "No such file" in p.stderr


@pytest.mark.parametrize("name,org", [
    ("dmarc-feedback/100.eml", "google.com"),
    ("dmarc-feedback/101.eml", None),
    ("dmarc-feedback/102.eml", "Mail.Ru"),
    ("dmarc-feedback/103.eml", "Outlook.com"),
    ("dmarc-feedback/104.eml", "AMAZON-SES"),
])
def test_stalwart_dmarc(name, org):
    p = run_tern("dmarc", "parsereportmsg", "-json", str(STALWART / name), check=0)
    j = json.loads(p.stdout)
    assert j["kind"] == "dmarc"
    if org:
        assert j["report"]["report_metadata"]["org_name"] == org
    assert len(j["report"]["record"]) >= 1


@pytest.mark.parametrize("name", ["tlsrpt/rpt01.eml", "tlsrpt/rpt02.eml"])
def test_stalwart_tlsrpt(name):
    p = run_tern("tlsrpt", "parsereportmsg", "-json", str(STALWART / name), check=0)
    j = json.loads(p.stdout)
    expected = json.loads((STALWART / name.replace(".eml", ".json")).read_text())
    got = j["report"]
    for k in ["organization-name", "report-id", "contact-info", "date-range"]:
        assert got[k] == expected[k], k
    assert len(got["policies"]) == len(expected["policies"])
    for g, e in zip(got["policies"], expected["policies"]):
        assert g["policy"]["policy-type"] == e["policy"]["policy-type"]
        assert g["summary"] == e["summary"]
        assert len(g.get("failure-details", [])) == len(e.get("failure-details", []))
