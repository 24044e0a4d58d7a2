"""`tern backup` while deliveries run, and `tern verifydata` on the copy."""
import pathlib
import re
import signal
import subprocess
import time

from conftest import TernServer, run_tern
from test_store_crash import crashtest_bin, verify


def test_backup_during_deliveries(world_dir):
    s = TernServer(world_dir)
    data = s.data
    deliverer = subprocess.Popen([str(crashtest_bin()), "deliver", str(data), "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # some messages are in before the backup starts
        dest = world_dir / "backup"
        p = s.tern("backup", str(dest), check=0)
        m = re.match(r"backup in \S+: (\d+) databases, (\d+) files linked, (\d+) copied", p.stdout)
        assert m and int(m.group(1)) == 1 and int(m.group(2)) > 0, p.stdout
    finally:
        deliverer.send_signal(signal.SIGKILL)
        deliverer.communicate(timeout=30)
    # The copy is whole: database intact, every message it names has its file
    # with its size and content; files that arrived after the snapshot are
    # orphans, which -fix moves aside once they are old enough.
    v = run_tern("verifydata", str(dest))
    assert v.returncode == 0, v.stdout + v.stderr
    assert re.search(r"account crash: ok: (\d+) messages", v.stdout)
    count = int(re.search(r"account crash: ok: (\d+) messages", v.stdout).group(1))
    assert count > 0
    p, have = verify(crashtest_bin(), dest)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(have) == count
    assert "bad " not in p.stdout


def test_backup_refuses_existing_destination(world_dir):
    s = TernServer(world_dir)
    (world_dir / "exists").mkdir()
    p = s.tern("backup", str(world_dir / "exists"), check=1)
    assert "exists; give a new directory" in p.stderr


def test_verifydata_finds_damage(world_dir):
    s = TernServer(world_dir)
    deliverer = subprocess.Popen([str(crashtest_bin()), "deliver", str(s.data), "1"],
                                 stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    deliverer.send_signal(signal.SIGKILL)
    deliverer.communicate(timeout=30)
    run_tern("verifydata", "-fix", str(s.data), check=0)
    # Damage one message file: a size mismatch is found and reported.
    files = sorted(p for p in (s.data / "accounts" / "crash" / "msg").rglob("*") if p.is_file())
    victim = files[0]
    victim.write_bytes(victim.read_bytes() + b"extra")
    v = run_tern("verifydata", str(s.data), check=1)
    assert "PROBLEMS" in v.stdout and "1 bad sizes" in v.stdout
    victim.unlink()
    v = run_tern("verifydata", str(s.data), check=1)
    assert "1 missing" in v.stdout
    v = run_tern("verifydata", str(world_dir / "nothing"), check=1)
    assert "nothing/accounts" in v.stderr
