"""End-to-end tests of `tern config test` and `tern config describe-*`.

Runs the built binary (env TERN_BIN, default build/tern under the repository
root) on files in a temporary directory and checks exit codes and the exact
"FILE:LINE:COL: Field.Path: problem" lines on stderr.
"""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TERN = pathlib.Path(os.environ.get("TERN_BIN", REPO / "build" / "tern"))

GOOD_STATIC = "Hostname: mail.example.com\nListeners:\n  public:\n    IPs: [127.0.0.1]\n"
GOOD_DYNAMIC = (
    "Domains:\n"
    "  example.com:\n"
    "Accounts:\n"
    "  alice:\n"
    "    Domain: example.com\n"
    "    Destinations:\n"
    "      alice@example.com:\n"
)


def tern(*args, cwd=None):
    """Runs tern with args; returns the CompletedProcess (text output)."""
    if not TERN.exists():
        pytest.fail(f"tern binary not found at {TERN} (set TERN_BIN)")
    return subprocess.run([str(TERN), *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


def write_config(directory, static=GOOD_STATIC, dynamic=GOOD_DYNAMIC):
    """Writes tern.conf and domains.conf; returns the path of tern.conf."""
    (directory / "tern.conf").write_text(static)
    if dynamic is not None:
        (directory / "domains.conf").write_text(dynamic)
    return directory / "tern.conf"


def config_test(conf):
    return tern("-config", str(conf), "config", "test")


def test_good_config(tmp_path):
    r = config_test(write_config(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config OK: 1 domains, 1 accounts, 1 listeners\n"
    assert r.stderr == ""


def test_describe_output_is_a_valid_config(tmp_path):
    static = tern("config", "describe-static")
    dynamic = tern("config", "describe-dynamic")
    assert static.returncode == 0 and dynamic.returncode == 0
    assert "Hostname: mail.example.com" in static.stdout
    assert "# (integer 0..1000000; default 4096)" in static.stdout
    assert "Accounts:\n  alice:\n" in dynamic.stdout
    conf = write_config(tmp_path, static.stdout, dynamic.stdout)
    r = config_test(conf)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config OK: 1 domains, 1 accounts, 1 listeners\n"


def test_empty_domains_conf_is_valid(tmp_path):
    r = config_test(write_config(tmp_path, dynamic=""))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config OK: 0 domains, 0 accounts, 1 listeners\n"


# (file to break, its text, the message after "DIR/FILE:")
BROKEN = [
    pytest.param("domains.conf",
                 GOOD_DYNAMIC.replace("    Destinations:\n", "    Destnations:\n"),
                 '6:5: Accounts.alice: unknown key "Destnations" (did you mean "Destinations"?)',
                 id="unknown-key"),
    pytest.param("tern.conf", "Hostname: mail.example.com\nListeners: [\n",
                 "3:1: did not find expected node content (while parsing a flow node)",
                 id="yaml-syntax"),
    pytest.param("tern.conf", "User: tern\n",
                 "1:1: Hostname: required field missing", id="missing-required"),
    pytest.param("tern.conf",
                 GOOD_STATIC + "    MaxConnections: 100001\n",
                 "5:21: Listeners.public.MaxConnections: 100001 is out of range 1..100000",
                 id="out-of-range"),
    pytest.param("tern.conf", GOOD_STATIC + "LogLevel: loud\n",
                 '5:11: LogLevel: "loud" is not one of error, warn, info, debug, trace, '
                 'traceauth, tracedata', id="bad-enum"),
    pytest.param("tern.conf", GOOD_STATIC.replace("127.0.0.1", "127.0.0.256"),
                 '4:11: Listeners.public.IPs[0]: "127.0.0.256" is not a valid IP address',
                 id="bad-ip"),
    pytest.param("tern.conf", GOOD_STATIC + "Resolver:\n  CacheEntries: many\n",
                 '6:17: Resolver.CacheEntries: "many" is not an integer', id="not-an-integer"),
    pytest.param("domains.conf",
                 GOOD_DYNAMIC.replace("  example.com:\n",
                                      "  example.com:\n    LocalpartCaseSensitive: yes\n"),
                 '3:29: Domains.example.com.LocalpartCaseSensitive: "yes" is not a bool '
                 '(true or false)', id="not-a-bool"),
    pytest.param("domains.conf", GOOD_DYNAMIC.replace("Domain: example.com", "Domain: example.org"),
                 '5:13: Accounts.alice.Domain: unknown domain "example.org" (not in Domains)',
                 id="unknown-domain"),
    pytest.param("domains.conf",
                 GOOD_DYNAMIC + "  bob:\n    Domain: example.com\n    Destinations:\n"
                                "      Alice@example.com:\n",
                 '11:7: Accounts.bob.Destinations: "Alice@example.com" is already used at '
                 'Accounts.alice.Destinations (line 7)', id="duplicate-address"),
    pytest.param("domains.conf", "Domains:\n  example.com:\n  example.com:\n",
                 '3:3: Domains: duplicate key "example.com" (first at line 2)',
                 id="duplicate-key"),
    pytest.param("domains.conf",
                 GOOD_DYNAMIC.replace("  alice:\n", "  ../alice:\n"),
                 '4:3: Accounts: "../alice" is not a valid account name (1..64 of letters, '
                 "digits, '.', '-', '_'; no leading '.' or '-', no \"..\")",
                 id="bad-account-name"),
    pytest.param("tern.conf", GOOD_STATIC + "    Submission: {Enabled: true}\n",
                 " Listeners.public.Submission: needs TLS.KeyCerts (authentication is only "
                 "offered over TLS)", id="submission-without-tls"),
    pytest.param("tern.conf", GOOD_STATIC + "    SMTP: {Enabled: true, Port: 2525}\n"
                 "  other:\n    IPs: [127.0.0.1]\n    SMTP: {Enabled: true, Port: 2525}\n",
                 " Listeners.public and other: two services on 127.0.0.1 port 2525",
                 id="port-clash"),
    pytest.param("tern.conf", "- Hostname: x\n",
                 "1:1: expected a mapping at the top, got a list", id="top-not-mapping"),
]


@pytest.mark.parametrize("name,text,message", BROKEN)
def test_broken_config(tmp_path, name, text, message):
    conf = write_config(tmp_path)
    (tmp_path / name).write_text(text)
    r = config_test(conf)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == f"{tmp_path / name}:{message}\n"


def test_relative_config_path_in_messages(tmp_path):
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", dynamic="Accounts: [\n")
    r = tern("-config", "config/tern.conf", "config", "test", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("config/domains.conf:2:1: did not find expected node content "
                        "(while parsing a flow node)\n")


def test_missing_static_file(tmp_path):
    r = config_test(tmp_path / "nonexistent.conf")
    assert r.returncode == 1
    assert r.stderr == f"{tmp_path}/nonexistent.conf: cannot open: No such file or directory\n"


def test_missing_domains_conf(tmp_path):
    r = config_test(write_config(tmp_path, dynamic=None))
    assert r.returncode == 1
    assert r.stderr == f"{tmp_path}/domains.conf: cannot open: No such file or directory\n"


def test_unknown_flag_is_usage_error(tmp_path):
    r = tern("-config", str(write_config(tmp_path)), "config", "test", "-bogus")
    assert r.returncode == 2
    assert "-bogus" in r.stderr
    assert "usage: tern config test" in r.stderr


def test_extra_argument_is_usage_error(tmp_path):
    r = tern("-config", str(write_config(tmp_path)), "config", "test", "extra")
    assert r.returncode == 2
    assert "usage: tern config test" in r.stderr


@pytest.mark.parametrize("name", ["describe-static", "describe-dynamic"])
def test_describe_rejects_arguments(name):
    assert tern("config", name, "extra").returncode == 2
    assert tern("config", name, "-nope").returncode == 2
