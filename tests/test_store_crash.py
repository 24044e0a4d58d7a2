"""Crash test of the message store's durable delivery (DESIGN.md "Storage").

store_crashtest (built only for tests, under $TERN_BUILD_DIR, default
build/, relative to the repository root) delivers messages in a loop and
prints "ok SEQ UID" after each delivery returns. It is SIGKILLed at random
moments 50 times (every fifth time two of them run at once, contending for the
account's database); then its `verify` mode runs the store's verification (with
orphans moved aside) and reads every message back. Every acknowledged
delivery must be present and intact, UIDs unique and ascending per process,
and at most one unacknowledged message per killed process may exist (killed
after the commit, before the "ok" line).
"""

import os
import pathlib
import random
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import run_tern

REPO = pathlib.Path(__file__).resolve().parent.parent
RUNS = 50


def crashtest_bin():
    build = pathlib.Path(os.environ.get("TERN_BUILD_DIR", "build"))
    if not build.is_absolute():
        build = REPO / build
    return build / "src" / "store" / "store_crashtest"


def run_and_kill(binary, data, starts, delay):
    """Runs one deliverer per start (several: processes contend for the
    account's database), SIGKILLs them all after delay seconds."""
    procs = [subprocess.Popen([str(binary), "deliver", str(data), str(s)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in starts]
    time.sleep(delay)
    for p in procs:
        p.send_signal(signal.SIGKILL)
    acked = {}
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == -signal.SIGKILL, f"exited by itself: {p.returncode}\n{err}"
        for line in out.splitlines():
            if line.startswith("ok "):
                _, seq, uid = line.split()
                acked[int(seq)] = int(uid)
    return acked


def verify(binary, data):
    p = subprocess.run([str(binary), "verify", str(data)], capture_output=True, text=True,
                       timeout=120)
    have = {}
    for line in p.stdout.splitlines():
        if line.startswith("have "):
            _, seq, uid = line.split()
            have[int(seq)] = int(uid)
    return p, have


def test_store_survives_sigkill():
    binary = crashtest_bin()
    if not binary.exists():
        pytest.skip(f"{binary} not built (set TERN_BUILD_DIR)")
    data = pathlib.Path(tempfile.mkdtemp(prefix="tern-crash-"))
    rng = random.Random(os.environ.get("TERN_CRASH_SEED", "tern"))
    acked = {}
    moved = 0
    try:
        for run in range(RUNS):
            # every fifth run, two processes deliver to the account at once
            starts = [(run * 2 + k) * 1_000_000 + 1 for k in range(2 if run % 5 == 4 else 1)]
            got = run_and_kill(binary, data, starts, rng.uniform(0.01, 0.3))
            acked.update(got)
            if run % 10 == 9:  # verification between runs, with orphans moved
                p, _ = verify(binary, data)
                assert p.returncode == 0, p.stdout + p.stderr
                moved += int(p.stdout.split("moved=")[1].split()[0])
        p, have = verify(binary, data)
        assert p.returncode == 0, p.stdout + p.stderr
        moved += int(p.stdout.split("moved=")[1].split()[0])
        assert "bad " not in p.stdout
        assert len(acked) >= RUNS // 2, "too few deliveries to mean anything"
        missing = [s for s in acked if have.get(s) != acked[s]]
        assert not missing, f"acknowledged but lost or changed: {missing[:10]}"
        extra = set(have) - set(acked)
        assert len(extra) <= RUNS + RUNS // 5, f"unacknowledged: {sorted(extra)[:10]}"
        # RFC 9051 §2.3.1.1: UIDs unique, and ascending in each process's delivery order
        assert len(set(have.values())) == len(have)
        by_proc = {}
        for seq in sorted(have):
            by_proc.setdefault(seq // 1_000_000, []).append(have[seq])
        for uids in by_proc.values():
            assert uids == sorted(uids)
        # The same data directory passes `tern verifydata` as a whole.
        v = run_tern("verifydata", str(data))
        assert v.returncode == 0, v.stdout + v.stderr
        assert "account crash: ok:" in v.stdout
        print(f"{len(acked)} acknowledged, {len(extra)} committed but unacknowledged, "
              f"{moved} orphan files moved aside, {p.stdout.splitlines()[0]}")
    finally:
        shutil.rmtree(data, ignore_errors=True)
