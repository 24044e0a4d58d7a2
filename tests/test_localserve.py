"""`tern localserve` end to end: the fixed ports 1025 (SMTP), 1587
(submission, STARTTLS) and 1465 (submissions), everything landing in
account tern, temperror/permerror recipients, the first-run output, a
restart in the same directory, -pedantic, and SIGTERM.

localserve's ports are fixed: only one may run at a time on this host (the
module runs them one after the other and waits for port 1025 to be free).
"""
import os
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import export_mbox, make_world_dir, tern_bin
from smtpfixture import RawSMTP, auth_plain, mbox_headers, message, token, unverified_context

PORTS = (1025, 1587, 1465)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


class Localserve:
    def __init__(self, d, *flags):
        self.dir = d
        self.conf = d / "config" / "tern.conf"
        self.out_path = d.parent / f"localserve-{secrets.token_hex(4)}.out"
        deadline = time.time() + 10
        while port_open(1025):
            assert time.time() < deadline, "port 1025 is busy: another localserve running?"
            time.sleep(0.1)
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen([tern_bin(), "localserve", "-dir", str(d), *flags],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while not all(port_open(p) for p in PORTS):
            assert self.proc.poll() is None, f"localserve exited:\n{self.output()}"
            assert time.time() < deadline, f"localserve not listening:\n{self.output()}"
            time.sleep(0.05)

    def output(self):
        return self.out_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"localserve ignored SIGTERM:\n{self.output()}")
        self.out.close()
        return self.proc.returncode

    def export(self):
        return export_mbox(self.conf, self.dir.parent / f"export-{secrets.token_hex(4)}", "tern")

    def with_token(self, tok):
        return [m for msgs in self.export().values() for m in msgs if tok in mbox_headers(m)]


@pytest.fixture(scope="module")
def root():
    d = make_world_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ls(root):
    s = Localserve(root / "ls")
    yield s
    s.stop()


def test_first_run_output(ls):
    out = ls.output()
    assert "wrote a new configuration" in out, out
    assert "password terntern" in out, out
    assert "127.0.0.1:1025" in out and "1587" in out and "1465" in out, out
    assert ls.conf.exists() and (ls.dir / "config" / "domains.conf").exists()
    with RawSMTP(1025) as c:
        assert c.greeting.code == 220 and "localhost" in c.greeting.text


def test_any_recipient_on_1025(ls):
    tok = token()
    with RawSMTP(1025) as c:
        c.ehlo()
        c.expect("MAIL FROM:<app@example.org>", 250)
        for rcpt in ("customer@example.com", "someone@nowhere.invalid", "tern@localhost"):
            r = c.cmd(f"RCPT TO:<{rcpt}>")
            assert r.code == 250, (rcpt, r)
        r = c.data(message(frm="app@example.org", to="customer@example.com", subject=tok))
        assert r.code == 250, r
    assert len(ls.with_token(tok)) == 1


def test_smtplib_on_1025(ls):
    tok = token()
    with smtplib.SMTP("127.0.0.1", 1025, timeout=10) as s:
        s.sendmail("app@example.org", ["a@b.example", "c@d.example"], message(subject=tok))
    assert len(ls.with_token(tok)) == 1


@pytest.mark.parametrize("user", ["tern@localhost", "tern"])
def test_submission_1587_starttls(ls, user):
    tok = token()
    with smtplib.SMTP("127.0.0.1", 1587, timeout=10) as s:
        s.starttls(context=unverified_context())
        s.login(user, "terntern")
        # any From and any recipient: localserve does not check senders
        s.sendmail("anyone@example.org", ["x@example.net"],
                   message(frm="anyone@example.org", to="x@example.net", subject=tok))
    [m] = ls.with_token(tok)
    assert re.search(r"with ESMTPSA id", mbox_headers(m))


def test_submissions_1465(ls):
    tok = token()
    with smtplib.SMTP_SSL("127.0.0.1", 1465, context=unverified_context(), timeout=10) as s:
        s.login("tern@localhost", "terntern")
        s.sendmail("other@example.org", ["y@example.net"],
                   message(frm="other@example.org", to="y@example.net", subject=tok))
    assert len(ls.with_token(tok)) == 1


def test_wrong_password(ls):
    with smtplib.SMTP_SSL("127.0.0.1", 1465, context=unverified_context(), timeout=10) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            s.login("tern", "wrong")
        assert ei.value.smtp_code == 535


@pytest.mark.parametrize("port", [1025, 1465])
def test_temperror_permerror(ls, port):
    with RawSMTP(port, tls=port == 1465) as c:
        c.ehlo()
        if port == 1465:
            c.expect(auth_plain("tern", "terntern"), 235)
        c.expect("MAIL FROM:<app@example.org>", 250)
        c.expect("RCPT TO:<temperror@x.example>", 451)
        c.expect("RCPT TO:<permerror-bounce@x.example>", 550)
        c.expect("RCPT TO:<fine@x.example>", 250)


def test_default_accepts_space_after_colon(ls):
    with RawSMTP(1025) as c:
        c.ehlo()
        c.expect("MAIL FROM: <a@b.example>", 250)
        c.expect("RCPT TO: <c@d.example>", 250)


def test_restart_reuses_config_and_pedantic(ls, root):
    tok = token()
    with smtplib.SMTP("127.0.0.1", 1025, timeout=10) as s:
        s.sendmail("app@example.org", ["keep@example.net"], message(subject=tok))
    conf_before = ls.conf.read_bytes()
    crt_before = (ls.dir / "config" / "localhost.crt").read_bytes()
    assert ls.stop() == 0
    assert not port_open(1025)

    again = Localserve(ls.dir, "-pedantic")
    try:
        out = again.output()
        assert "wrote a new configuration" not in out, out
        assert "password terntern" in out, out
        assert ls.conf.read_bytes() == conf_before
        assert (ls.dir / "config" / "localhost.crt").read_bytes() == crt_before
        assert len(again.with_token(tok)) == 1  # the data is still there
        with RawSMTP(1025) as c:
            c.ehlo()
            c.expect("MAIL FROM: <a@b.example>", 501)
            c.expect("MAIL FROM:<a@b.example>", 250)
            c.send("RCPT TO:<c@d.example>\n")  # bare LF ends no command when pedantic
            r = c.read_reply()
            assert r.code == 500, r
        # the same password still works after the restart
        with smtplib.SMTP_SSL("127.0.0.1", 1465, context=unverified_context(), timeout=10) as s:
            s.login("tern", "terntern")
    finally:
        assert again.stop() == 0
    assert not port_open(1025)
