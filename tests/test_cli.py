"""The command line: help, version, usage errors and exit codes."""
import re

from conftest import run_tern


def test_help_lists_every_command():
    p = run_tern("help", check=0)
    for name in ["help", "version", "serve", "stop", "localserve", "config test",
                 "config describe-static", "config describe-dynamic", "config reload",
                 "dns lookup"]:
        assert re.search(rf"^  {re.escape(name)}\s+\S", p.stdout, re.M), name


def test_help_of_one_command():
    p = run_tern("help", "config", "reload", check=0)
    assert p.stdout.startswith("usage: tern config reload\n")
    assert "SIGHUP" in p.stdout


def test_help_flag_is_help():
    assert run_tern("-h", check=0).stdout == run_tern("help", check=0).stdout


def test_help_unknown_command():
    p = run_tern("help", "frobnicate", check=2)
    assert 'unknown command "frobnicate"' in p.stderr


def test_version():
    p = run_tern("version", check=0)
    assert re.match(r"tern \d+\.\d+\.\d+\n", p.stdout)
    assert "openssl 3." in p.stdout
    assert "libunbound 1." in p.stdout


def test_no_command_is_usage():
    p = run_tern(check=2)
    assert p.stderr.startswith("usage: tern [-config FILE] COMMAND")
    assert p.stdout == ""


def test_unknown_command_exits_2():
    p = run_tern("frobnicate", check=2)
    assert 'tern: unknown command "frobnicate"' in p.stderr
    assert "usage: tern" in p.stderr


def test_unknown_global_flag_exits_2():
    p = run_tern("-verbose", "version", check=2)
    assert "unknown flag -verbose" in p.stderr


def test_unknown_command_flag_exits_2():
    p = run_tern("version", "-bogus", check=2)
    assert "tern version: unknown flag -bogus" in p.stderr
    assert "usage: tern version" in p.stderr


def test_flag_missing_value_exits_2():
    p = run_tern("localserve", "-dir", check=2)
    assert "flag -dir needs a value" in p.stderr


def test_extra_argument_exits_2():
    p = run_tern("version", "extra", check=2)
    assert "usage: tern version" in p.stderr


def test_config_flag_after_command(tmp_path):
    # -config is accepted after the command name too.
    p = run_tern("stop", "-config", str(tmp_path / "missing.conf"), check=1)
    assert str(tmp_path / "missing.conf") in p.stderr
