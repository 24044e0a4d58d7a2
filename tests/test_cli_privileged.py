"""Commands run as root (import, export, setaccountpassword, checkpassword)
beside a server that runs as its unprivileged User:
what they create in the data directory belongs to that user, so the server
still delivers to the accounts they touched. Files the commands write
outside the data directory (an export's DEST) stay the caller's."""
import os

import pytest

from smtpfixture import SmtpServer, message, send_raw, token, with_token

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="commands run as root hand the data to the server's User")


def root_owned(data):
    return sorted(str(p.relative_to(data)) for p in [data, *data.rglob("*")]
                  if p.stat().st_uid == 0)


def test_commands_as_root_leave_the_data_to_the_server_user(world_dir):
    s = SmtpServer(world_dir)
    mbox = world_dir / "in.mbox"
    mbox.write_text("From x Thu Jan  1 00:00:00 2026\nSubject: imported\n\nhi\n")
    os.chmod(mbox, 0o600)   # only root reads the input
    # before the server ever ran: the commands make the data directory
    s.tern("export", "mbox", str(world_dir / "out"), "bob", check=0)
    s.tern("import", "mbox", "alice", "Inbox", str(mbox), check=0)
    s.tern("account", "checkpassword", "bob", input="x\n", check=1)
    s.tern("setaccountpassword", "alice", input="pw-of-alice\n", check=0)
    assert root_owned(s.data) == []
    assert (world_dir / "out").stat().st_uid == 0
    s.start()
    try:
        tok = token()
        for rcpt in ("alice@example.test", "bob@example.test"):
            _, rr, d = send_raw(s.smtp_port, "x@example.org", [rcpt],
                                message(to=rcpt, subject=tok))
            assert rr[0].code == 250 and d is not None and d.code == 250, (rr, d, s.logs())
        assert len(with_token(s, "alice", tok)) == 1
        assert len(with_token(s, "bob", tok)) == 1
        # and while it runs: an export of an account it has not opened yet
        s.tern("export", "maildir", str(world_dir / "out2"), "bob", check=0)
        assert root_owned(s.data) == []
    finally:
        s.stop()
