"""The outbound queue end to end: mail submitted to other domains goes into
DATA/queue and out over SMTP to the domain's MX, here a scripted sink
(outboundfixture.Sink) listening on port 25 of its own loopback address,
named by an MX record in the test DNS server.

Cases: delivery (DKIM-signed at enqueue), local and remote recipients in one
submission, a 550 turning into a failure DSN in the sender's Inbox, a 451
retried until delivered (Queue.FirstRetrySeconds made short), `tern queue
list/hold/release/kick/drop/dump`, and a SIGKILL of the server while a
message waits: after the restart it is delivered.
"""
import email
import email.policy
import random
import re
import smtplib
import subprocess
import time

import pytest

import dnsfixture
from conftest import run_tern, tern_bin
from outboundfixture import Sink
from smtpfixture import SmtpServer, shared_dns, token, unverified_context

PASSWORD = "queue-pass-1"
REMOTE = "remote.test"

# Retries every second or two, so that tests need not wait minutes.
QUEUE_CONF = "Queue:\n  FirstRetrySeconds: 1\n  MaxRetrySeconds: 2\n"


def domains_conf():
    return ("Domains:\n  example.test:\n    DKIM:\n      Selectors:\n        q1:\n"
            "          PrivateKeyFile: dkim.pem\n      Sign: [q1]\n"
            "Accounts:\n"
            "  alice:\n    Domain: example.test\n    Destinations:\n      alice@example.test: {}\n"
            "  bob:\n    Domain: example.test\n    Destinations:\n      bob@example.test: {}\n")


def new_server(root=None):
    srv = SmtpServer(root=root, domains=domains_conf())
    with open(srv.config, "a") as f:
        f.write(QUEUE_CONF)
    p = subprocess.run([tern_bin(), "dkim", "gened25519"], capture_output=True, text=True,
                       check=True)
    (srv.confdir / "dkim.pem").write_text(p.stdout)
    record = [l for l in p.stderr.splitlines() if l.startswith("v=DKIM1;")][0]
    shared_dns().add_zone("example.test.", {"q1._domainkey": [f'TXT "{record}"']})
    return srv


@pytest.fixture(scope="module")
def sink():
    # a loopback address of its own: port 25 there is ours alone
    addr = "127.0.%d.%d" % (random.randint(100, 250), random.randint(2, 250))
    s = Sink(addr=addr, port=25, exts=["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                                       "SIZE 1000000"])
    shared_dns().add_zone(REMOTE + ".", {"@": [f"MX 10 mx.{REMOTE}."], "mx": [f"A {addr}"]})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(sink):
    s = new_server().start()
    s.set_password("alice", PASSWORD)
    yield s
    s.cleanup()


def submit(srv, rcpts, subject, body="Hello from the queue test.\r\n", mail_options=(),
           rcpt_options=()):
    msg = (f"From: Alice <alice@example.test>\r\nTo: {', '.join(rcpts)}\r\n"
           f"Subject: {subject}\r\n\r\n{body}")
    with smtplib.SMTP("127.0.0.1", srv.sub_port, local_hostname="laptop.example.org",
                      timeout=15) as s:
        s.starttls(context=unverified_context())
        s.ehlo()
        s.login("alice@example.test", PASSWORD)
        refused = s.sendmail("alice@example.test", rcpts, msg.encode(),
                             mail_options=list(mail_options), rcpt_options=list(rcpt_options))
        assert refused == {}
    return msg


def sink_messages(sink, tok):
    return [s["data"] for s in sink.sessions if s["data"] is not None and tok.encode() in s["data"]]


def wait_sink(sink, tok, timeout=30, srv=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = sink_messages(sink, tok)
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"the sink got no message with {tok}" +
                         (f"\nqueue:\n{queue(srv, 'list').stdout}\nlog:\n{srv.logs()}" if srv else ""))


def rcpt_attempts(sink, address):
    return sum(1 for c in sink.commands if c.upper().startswith("RCPT TO:") and f"<{address}>" in c)


def queue(srv, *args, check=0):
    return srv.tern("queue", *args, check=check)


def queue_id(srv, address):
    out = queue(srv, "list").stdout
    msg_id = None
    for line in out.splitlines():
        if not line.startswith(" "):
            msg_id = line.split()[0]
        elif f"<{address}>" in line:
            return msg_id, line
    return None, out


def wait_list(srv, address, pattern, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg_id, line = queue_id(srv, address)
        if msg_id is not None and re.search(pattern, line):
            return msg_id, line
        time.sleep(0.1)
    raise AssertionError(f"queue list has no {address} matching {pattern!r}:\n"
                         f"{queue(srv, 'list').stdout}\n{srv.logs()}")


def wait_empty(srv, address, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if queue_id(srv, address)[0] is None:
            return
        time.sleep(0.1)
    raise AssertionError(f"{address} still queued:\n{queue(srv, 'list').stdout}")


def test_delivered_and_signed(srv, sink):
    tok = token()
    rcpt = f"carol-{tok}@{REMOTE}"
    submit(srv, [rcpt], f"remote {tok}")
    (data,) = wait_sink(sink, tok, srv=srv)
    session = [s for s in sink.sessions if s["data"] == data][0]
    assert "MAIL FROM:<alice@example.test>" in session["commands"][1] or any(
        c.startswith("MAIL FROM:<alice@example.test>") for c in session["commands"])
    assert f"RCPT TO:<{rcpt}>" in " ".join(session["commands"])
    head = data.split(b"\r\n\r\n")[0]
    # DKIM-signed once, at enqueue, over the header fields submission added
    assert head.startswith(b"DKIM-Signature:")
    assert b"d=example.test" in head and b"s=q1" in head
    assert b"\r\nReceived: " in head and b"\r\nMessage-ID: " in head and b"\r\nDate: " in head
    eml = srv.root / f"sent-{tok}.eml"
    eml.write_bytes(data)
    anchor = dnsfixture.write_unrelated_trust_anchor(srv.root / "anchor")
    v = run_tern("dkim", "verify", "-server", shared_dns().addr, "-trust-anchor", anchor, str(eml),
                 check=0)
    assert "dkim=pass" in v.stdout and "header.d=example.test" in v.stdout, v.stdout + v.stderr
    wait_empty(srv, rcpt)
    # nothing goes back to the sender for a plain delivery
    assert not [m for m in srv.messages("alice") if tok in str(m.get("Subject", ""))]


def test_local_and_remote_recipients(srv, sink):
    tok = token()
    submit(srv, ["bob@example.test", f"dave-{tok}@{REMOTE}"], f"mixed {tok}")
    wait_sink(sink, tok, srv=srv)
    m = srv.wait_message(f"mixed {tok}", account="bob")
    assert m["From"] == "Alice <alice@example.test>"
    # bob's copy did not travel through the sink
    sent = b"".join(sink_messages(sink, tok))
    assert sent.count(b"Subject: mixed") == 1
    assert b"RCPT TO:<bob@example.test>" not in " ".join(sink.commands).encode()


def parse_dsn(msg):
    """(delivery-status text, original part) of a DSN."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    status = "".join(str(p) for p in parts[1].get_payload())
    return status, parts[2] if len(parts) > 2 else None


def test_refused_recipient_gets_failure_dsn(srv, sink):
    tok = token()
    bad = f"nobody-{tok}@{REMOTE}"
    good = f"erin-{tok}@{REMOTE}"
    sink.rcpt_replies[bad] = "550 5.1.1 no such user here"
    submit(srv, [bad, good], f"bounce {tok}", mail_options=["ENVID=env-" + tok],
           rcpt_options=[])
    wait_sink(sink, tok, srv=srv)
    dsn = srv.wait_message("Delivery Status Notification (Failure)", account="alice", timeout=30)
    status, original = parse_dsn(dsn)
    assert f"Final-Recipient: rfc822; {bad}" in status
    assert "Action: failed" in status
    assert "Status: 5.1.1" in status
    assert "Diagnostic-Code: smtp; 550 5.1.1 no such user here" in status
    assert "Reporting-MTA: dns; mail.example.test" in status
    assert f"Original-Envelope-Id: env-{tok}" in status
    assert f"Remote-MTA: dns; mx.{REMOTE}" in status
    assert good not in status           # delivered, NOTIFY not given: no word of it
    assert original is not None and original.get_content_type() == "message/rfc822"
    assert f"bounce {tok}" in str(original)
    assert dsn["Auto-Submitted"] == "auto-replied"
    wait_empty(srv, bad)


def test_temporary_failure_retried(srv, sink):
    tok = token()
    rcpt = f"frank-{tok}@{REMOTE}"
    sink.rcpt_replies[rcpt] = "451 4.3.0 come back later"
    submit(srv, [rcpt], f"retry {tok}")
    _, line = wait_list(srv, rcpt, r"queued attempts [1-9].* last 451 4\.3\.0 come back later")
    assert f"from mx.{REMOTE}" in line
    del sink.rcpt_replies[rcpt]
    wait_sink(sink, tok, srv=srv)
    assert rcpt_attempts(sink, rcpt) >= 2
    wait_empty(srv, rcpt)
    assert not [m for m in srv.messages("alice") if "Delivery Status" in str(m.get("Subject"))
                and tok in m.as_string()]


def hold(srv, msg_id, timeout=15):
    """Holds msg_id; an attempt under way makes hold change nothing (0), so
    it is asked again until the recipient is held."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = queue(srv, "hold", msg_id).stdout.strip()
        if out == "1 recipients held":
            return
        assert out == "0 recipients held", out
        time.sleep(0.1)
    raise AssertionError(f"message {msg_id} could not be held:\n{queue(srv, 'list').stdout}")


def test_queue_commands(srv, sink):
    tok = token()
    rcpt = f"gina-{tok}@{REMOTE}"
    sink.rcpt_replies[rcpt] = "451 4.3.0 not now"
    submit(srv, [rcpt], f"commands {tok}")
    msg_id, _ = wait_list(srv, rcpt, r"attempts [1-9]")
    hold(srv, msg_id)
    wait_list(srv, rcpt, r"> held attempts")
    n = rcpt_attempts(sink, rcpt)
    time.sleep(3)
    assert rcpt_attempts(sink, rcpt) == n, "a held recipient was tried"
    dump = queue(srv, "dump", msg_id).stdout
    assert f"Subject: commands {tok}" in dump and dump.startswith("DKIM-Signature:")
    assert queue(srv, "release", msg_id).stdout.strip() == "1 recipients released"
    deadline = time.time() + 15
    while rcpt_attempts(sink, rcpt) == n and time.time() < deadline:
        time.sleep(0.1)
    assert rcpt_attempts(sink, rcpt) > n
    assert "to be tried now" in queue(srv, "kick", msg_id).stdout
    bad = queue(srv, "hold", "nonsense", check=1)
    assert "bad message id" in bad.stderr
    assert "no message 999999" in queue(srv, "drop", "999999", check=1).stderr
    hold(srv, msg_id)
    wait_list(srv, rcpt, r"> held")
    assert queue(srv, "drop", msg_id).stdout.strip() == "1 recipients dropped"
    wait_empty(srv, rcpt)
    assert not [m for m in srv.messages("alice") if tok in m.as_string()]   # no DSN on drop


def test_kill_while_queued_then_delivered(sink, tmp_path):
    srv = new_server()
    try:
        srv.start()
        srv.set_password("alice", PASSWORD)
        tok = token()
        rcpt = f"henry-{tok}@{REMOTE}"
        sink.rcpt_replies[rcpt] = "451 4.3.0 wait"
        submit(srv, [rcpt], f"survive {tok}")
        msg_id, _ = wait_list(srv, rcpt, r"attempts [1-9]")
        srv.proc.kill()
        srv.proc.wait()
        # no server: the command reads queue.db itself
        msg_id2, line = queue_id(srv, rcpt)
        assert msg_id2 == msg_id, line
        del sink.rcpt_replies[rcpt]
        srv.start()
        wait_sink(sink, tok, srv=srv)
        wait_empty(srv, rcpt)
        assert not list((srv.data / "queue" / "msg").iterdir())
    finally:
        srv.cleanup()


def test_success_notice_when_asked(srv, sink):
    tok = token()
    rcpt = f"ivan-{tok}@{REMOTE}"
    submit(srv, [rcpt], f"notify {tok}", rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    wait_sink(sink, tok, srv=srv)
    dsn = srv.wait_message("Delivery Status Notification (Success)", account="alice", timeout=30)
    status, original = parse_dsn(dsn)
    # RFC 3461 §6.2.3.1: handed on; the notice carries the header only
    assert f"Final-Recipient: rfc822; {rcpt}" in status and "Action: relayed" in status
    assert "Status: 2.0.0" in status
    assert original.get_content_type() == "text/rfc822-headers"
    assert f"notify {tok}" in str(original)


def test_dmarc_report_from_tern_db_is_sent(srv, sink):
    """A DMARC aggregate report waiting in tern.db's outgoing table (as the
    report composer leaves it) is taken into the queue, sent, and marked."""
    import sqlite3
    tok = token()
    rcpt = f"dmarc-reports-{tok}@{REMOTE}"
    msg = (f"From: postmaster@mail.example.test\r\nTo: {rcpt}\r\n"
           f"Subject: Report Domain: example.test {tok}\r\n\r\nreport\r\n").encode()
    db = sqlite3.connect(str(srv.data / "tern.db"), timeout=10)
    with db:
        cur = db.execute("INSERT INTO outgoing (kind, created, mail_from, subject, size, message)"
                         " VALUES ('dmarc', strftime('%s','now'), 'postmaster@mail.example.test',"
                         " ?, ?, ?)", (f"Report {tok}", len(msg), msg))
        oid = cur.lastrowid
        db.execute("INSERT INTO outgoing_rcpt (outgoing, address) VALUES (?, ?)", (oid, rcpt))
    queue(srv, "kick")   # wakes the workers, which look at tern.db then
    (data,) = wait_sink(sink, tok, srv=srv)
    assert data.endswith(b"report\r\n")
    session = [s for s in sink.sessions if s["data"] == data][0]
    assert any(c.startswith("MAIL FROM:<postmaster@mail.example.test>") for c in session["commands"])
    deadline = time.time() + 10
    while time.time() < deadline:
        (status,) = db.execute("SELECT status FROM outgoing WHERE id = ?", (oid,)).fetchone()
        if status == "queued":
            break
        time.sleep(0.1)
    assert status == "queued"
    db.close()
    wait_empty(srv, rcpt)
