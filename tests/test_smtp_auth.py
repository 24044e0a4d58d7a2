"""Message submission (RFC 6409 on the submission port with STARTTLS, RFC
8314 on the submissions port with implicit TLS) end to end: AUTH with every
mechanism (PLAIN, LOGIN, CRAM-MD5 through smtplib; SCRAM-SHA-1/256 through
a small RFC 5802 client; the -PLUS variants through
tests/helpers/sasl_smtp_client, which has the tls-exporter channel binding
that Python's ssl cannot give), sender rules, added headers, and login
throttling.

Wrong passwords count against 127.0.0.1 (10 failures in 5 minutes and the
address is refused), so the shared server sees only a few; the throttling
test has its own server.
"""
import base64
import os
import pathlib
import re
import smtplib
import subprocess
import threading

import pytest

from smtpfixture import (HOSTNAME, RawSMTP, SmtpServer, auth_plain, mbox_headers, message,
                         scram_auth, serve, token, unverified_context, with_token)

PASSWORD = "correct horse 1"
BOB_PASSWORD = "b0b-pass"

DOMAINS = """\
Domains:
  example.test: {}
  other.test: {}
Accounts:
  alice:
    Domain: example.test
    Destinations:
      alice@example.test: {}
      alias@other.test: {}
  bob:
    Domain: example.test
    Destinations:
      bob@example.test: {}
"""

AUTH_LINE = "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"


@pytest.fixture(scope="module")
def srv():
    yield from serve(domains=DOMAINS, passwords={"alice": PASSWORD, "bob": BOB_PASSWORD})


def sub(srv):
    """smtplib on the submission port after STARTTLS."""
    s = smtplib.SMTP("127.0.0.1", srv.sub_port, local_hostname="laptop.example.org", timeout=15)
    s.starttls(context=unverified_context())
    s.ehlo()
    return s


def subs(srv):
    """smtplib on the submissions port (implicit TLS)."""
    s = smtplib.SMTP_SSL("127.0.0.1", srv.subs_port, local_hostname="laptop.example.org",
                         context=unverified_context(), timeout=15)
    s.ehlo()
    return s


def raw_subs(srv):
    c = RawSMTP(srv.subs_port, tls=True)
    c.ehlo()
    return c


# --- EHLO and what comes before AUTH ---

def test_ehlo_submission_before_and_after_starttls(srv):
    with RawSMTP(srv.sub_port) as c:
        r = c.ehlo()
        assert "STARTTLS" in r.lines and not any(l.startswith("AUTH") for l in r.lines), r
        assert "REQUIRETLS" not in r.lines
        c.expect(auth_plain("alice", PASSWORD), 538, "5.7.11")
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.starttls()
        r = c.ehlo()
        assert AUTH_LINE in r.lines, r
        assert "STARTTLS" not in r.lines and "REQUIRETLS" in r.lines, r


def test_ehlo_submissions(srv):
    with RawSMTP(srv.subs_port, tls=True) as c:
        assert c.greeting.code == 220
        r = c.ehlo()
        assert AUTH_LINE in r.lines, r
        assert "STARTTLS" not in r.lines, r
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        assert scram_auth(c, "SCRAM-SHA-256", "alice", PASSWORD).code == 235
        r = c.ehlo()
        assert not any(l.startswith("AUTH") for l in r.lines), r  # already authenticated
        c.expect(auth_plain("alice", PASSWORD), 503)


def test_no_auth_on_port_25(srv):
    with RawSMTP(srv.smtp_port) as c:
        c.ehlo()
        c.starttls()
        r = c.ehlo()
        assert not any(l.startswith("AUTH") for l in r.lines)
        c.expect(auth_plain("alice", PASSWORD), 503)


# --- mechanisms ---

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
@pytest.mark.parametrize("port", ["submission", "submissions"])
def test_smtplib_mechanisms(srv, mech, port):
    s = sub(srv) if port == "submission" else subs(srv)
    try:
        s.user, s.password = "alice", PASSWORD
        obj = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
        code, resp = s.auth(mech, obj, initial_response_ok=(mech != "LOGIN"))
        assert code == 235 and resp.startswith(b"2.7.0"), (code, resp)
        tok = token()
        s.sendmail("alice@example.test", ["bob@example.test"],
                   message(frm="alice@example.test", to="bob@example.test", subject=tok))
    finally:
        s.quit()
    [(box, m)] = with_token(srv, "bob", tok)
    h = mbox_headers(m)
    assert re.search(r"with ESMTPSA id", h), h
    assert "Authentication-Results" not in h  # not added on submission


def test_plain_without_initial_response(srv):
    with raw_subs(srv) as c:
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334 and r.lines == [""], r
        c.expect(base64.b64encode(f"\0alice\0{PASSWORD}".encode()).decode(), 235)


def test_auth_cancel_and_bad_base64(srv):
    with raw_subs(srv) as c:
        c.expect("AUTH LOGIN", 334)
        c.expect("*", 501)
        c.expect("AUTH PLAIN !!!notbase64", 501)
        c.expect("AUTH NOSUCHMECH", 504, "5.5.4")
        assert scram_auth(c, "SCRAM-SHA-1", "alice", PASSWORD).code == 235


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram(srv, mech):
    with raw_subs(srv) as c:
        r = scram_auth(c, mech, "alice", PASSWORD)
        assert r.code == 235 and r.lines[0].startswith("2.7.0"), r
    with RawSMTP(srv.sub_port) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        r = scram_auth(c, mech, "alice@example.test", PASSWORD)
        assert r.code == 235, r


def test_scram_downgrade_detected(srv):
    # gs2 flag "y": the client could bind but thinks the server cannot; the
    # server advertised -PLUS, so someone removed it (RFC 5802 §6).
    with raw_subs(srv) as c:
        r = scram_auth(c, "SCRAM-SHA-256", "alice", PASSWORD, gs2="y,,")
        assert r.code == 535, r


def test_wrong_password(srv):
    with raw_subs(srv) as c:
        c.expect(auth_plain("alice", "wrong"), 535, "5.7.8")
        # the session goes on
        c.expect(auth_plain("alice", PASSWORD), 235)


def test_wrong_password_scram(srv):
    with raw_subs(srv) as c:
        r = scram_auth(c, "SCRAM-SHA-256", "alice", "wrong")
        assert r.code == 535 and r.lines[0].startswith("5.7.8"), r


def test_login_by_account_name_and_address(srv):
    for user in ("bob", "bob@example.test", "BOB@EXAMPLE.TEST"):
        with raw_subs(srv) as c:
            r = c.cmd(auth_plain(user, BOB_PASSWORD))
            assert r.code == 235, (user, r)
            r = c.cmd("MAIL FROM:<bob@example.test>")
            assert r.code == 250, (user, r)


# --- sender rules and added headers ---

def authed(srv, user="alice", password=PASSWORD):
    c = raw_subs(srv)
    r = scram_auth(c, "SCRAM-SHA-256", user, password)
    assert r.code == 235, r
    return c


def test_mail_from_not_users(srv):
    with authed(srv) as c:
        c.expect("MAIL FROM:<bob@example.test>", 550, "5.7.1")
        c.expect("MAIL FROM:<someone@elsewhere.example>", 550, "5.7.1")
        # another address of the same account is fine
        c.expect("MAIL FROM:<alias@other.test>", 250)
        c.cmd("RSET")
        c.expect("MAIL FROM:<>", 250)


def test_from_header_not_users(srv):
    tok, tok2 = token(), token()
    with authed(srv) as c:
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        r = c.data(message(frm="bob@example.test", to="bob@example.test", subject=tok))
        assert r.code == 550 and r.lines[0].startswith("5.7.1"), r
        # the session goes on
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        r = c.data(message(frm="alias@other.test", to="bob@example.test", subject=tok2))
        assert r.code == 250, r
    assert with_token(srv, "bob", tok) == []
    assert len(with_token(srv, "bob", tok2)) == 1


def test_message_id_and_date_added(srv):
    tok = token()
    msg = (f"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: {tok}\r\n"
           "\r\nno id, no date\r\n").encode()
    with authed(srv) as c:
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        r = c.data(msg)
        assert r.code == 250, r
    [(box, m)] = with_token(srv, "bob", tok)
    h = mbox_headers(m)
    assert re.search(r"^Message-ID: <[0-9a-f]{24}@mail\.example\.test>$", h, re.M), h
    assert re.search(r"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} "
                     r"\d\d:\d\d:\d\d [+-]\d{4}$", h, re.M), h
    assert len(re.findall(r"^Message-ID:", h, re.M | re.I)) == 1
    assert len(re.findall(r"^Date:", h, re.M)) == 1


def test_existing_message_id_and_date_kept(srv):
    tok = token()
    with authed(srv) as c:
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        assert c.data(message(frm="alice@example.test", subject=tok)).code == 250
    [(box, m)] = with_token(srv, "bob", tok)
    h = mbox_headers(m)
    assert len(re.findall(r"^Message-ID:", h, re.M | re.I)) == 1
    assert re.search(r"^Date: Mon, 2 Feb 2026 10:00:00 \+0000$", h, re.M), h


def test_foreign_recipient_for_the_queue(srv):
    # submission relays to other domains through the outbound queue
    # (test_queue.py follows such messages out)
    with authed(srv) as c:
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<friend@elsewhere.example>", 250, "2.1.5")
        # a local one in the same transaction too
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.expect("RSET", 250)


# --- SCRAM-*-PLUS through the C client ---

def client_bin():
    build = pathlib.Path(os.environ.get("TERN_BUILD_DIR", pathlib.Path(__file__).parent.parent / "build"))
    p = build / "tests" / "helpers" / "sasl_smtp_client"
    assert p.exists(), f"{p} is missing: build with -Dtests=true (tests/helpers/meson.build)"
    return str(p)


def run_client(*args):
    p = subprocess.run([client_bin(), *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout.strip(), p.stderr


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_scram_plus_submissions(srv, mech):
    rc, out, err = run_client("127.0.0.1", str(srv.subs_port), mech, "alice", PASSWORD)
    assert rc == 0 and out.startswith("235 2.7.0"), (rc, out, err)


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_scram_plus_submission_starttls(srv, mech):
    rc, out, err = run_client("-starttls", "127.0.0.1", str(srv.sub_port), mech,
                              "alice@example.test", PASSWORD)
    assert rc == 0 and out.startswith("235 2.7.0"), (rc, out, err)


def test_scram_plus_wrong_password(srv):
    rc, out, err = run_client("127.0.0.1", str(srv.subs_port), "SCRAM-SHA-256-PLUS", "alice", "nope")
    assert rc == 1 and out.startswith("535 5.7.8"), (rc, out, err)


def test_scram_without_plus_through_c_client(srv):
    rc, out, err = run_client("127.0.0.1", str(srv.subs_port), "SCRAM-SHA-256", "alice", PASSWORD)
    assert rc == 0 and out.startswith("235 2.7.0"), (rc, out, err)
    rc, out, err = run_client("-starttls", "127.0.0.1", str(srv.sub_port), "PLAIN", "bob", BOB_PASSWORD)
    assert rc == 0 and out.startswith("235 2.7.0"), (rc, out, err)


# --- throttling (own server: it blocks 127.0.0.1) ---

def test_login_throttling(world_dir):
    s = SmtpServer(world_dir, domains=DOMAINS).start()
    try:
        s.set_password("alice", PASSWORD)
        bad = auth_plain("alice", "wrong")
        good = auth_plain("alice", PASSWORD)
        codes = []

        def fail_once():
            with RawSMTP(s.subs_port, tls=True) as c:
                c.ehlo()
                codes.append(c.cmd(bad).code)

        # eighteen at once: each attempt counts from its start, so ten are
        # checked (and fail, each waiting ~1 s before its reply) and the
        # others, waiting for them, are refused once the budget is spent
        threads = [threading.Thread(target=fail_once) for _ in range(18)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [454] * 8 + [535] * 10, codes
        with RawSMTP(s.subs_port, tls=True) as c:
            c.ehlo()
            c.expect(good, 454, "4.7.0")
    finally:
        s.stop()


def test_from_header_twice_refused(srv):
    s = sub(srv)
    try:
        s.login("alice", PASSWORD)
        msg = (b"From: alice@example.test\r\nFrom: ceo@victim.example\r\n"
               b"To: bob@example.test\r\nSubject: two\r\n\r\nhi\r\n")
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@example.test", ["bob@example.test"], msg)
        assert e.value.smtp_code == 550 and b"more than one From" in e.value.smtp_error
    finally:
        s.close()


def test_failures_cannot_lock_out_a_user(world_dir):
    # 24 failed logins for alice from three addresses (each under its own
    # limit of 10) pass the account's limit of 20, and are counted whatever
    # name alice is spelt with. Her right password still works, from a
    # fourth address: the account is slowed down, never locked.
    s = SmtpServer(world_dir, domains=DOMAINS).start()
    try:
        s.set_password("alice", PASSWORD)
        names = ["alice", "alice@example.test", "ALICE@EXAMPLE.TEST", "alias@other.test"]
        codes = []

        def fail_once(source, name):
            with RawSMTP(s.subs_port, tls=True, source=source, timeout=30) as c:
                c.ehlo()
                codes.append(c.cmd(auth_plain(name, "wrong")).code)

        threads = [threading.Thread(target=fail_once, args=(f"127.0.0.{2 + i % 3}", names[i % 4]))
                   for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert codes == [535] * 24, codes
        with RawSMTP(s.subs_port, tls=True, source="127.0.0.9", timeout=30) as c:
            c.ehlo()
            c.expect(auth_plain("alice@example.test", PASSWORD), 235, "2.7.0")
        # the login was slowed: the failures counted for the account,
        # whatever name they used
        assert re.search(r"msg=authenticated .*user=alice@example.test account_slowed=true",
                         s.logs()), s.logs()
    finally:
        s.stop()
