"""DKIM (RFC 6376, RFC 8463) end to end: `tern dkim` commands, and interop with
OpenDKIM from Debian (opendkim-tools) in both directions.

opendkim-testmsg has no resolver setting: libopendkim asks the libc resolver,
which reads /etc/resolv.conf and port 53. So it runs in a fresh network and
mount namespace (unshare), where /etc/resolv.conf is bind-mounted to
"nameserver 127.0.0.1" and a helper relays 127.0.0.1:53 to a DNSServer
(dnsfixture) serving the test keys; nothing outside the namespace changes.

opendkim-testmsg signs only with libopendkim's default algorithm, rsa-sha1,
which RFC 8301 makes tern refuse (dkim=policy). Signatures made with
rsa-sha256 and ed25519-sha256 come from libopendkim itself, called through
ctypes (dkim_sign / dkim_getsighdr of libopendkim.so.11, which
opendkim-tools installs).
"""
import ctypes
import ctypes.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import dnsfixture
from conftest import run_tern

HERE = pathlib.Path(__file__).resolve().parent

MESSAGE = (
    "From: Joe SixPack <joe@example.test>\n"
    "To: Suzie Q <suzie@shopping.example.net>\n"
    "Subject: Is dinner ready?\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\n"
    "Message-ID: <20030712040037.46341.5F8J@example.test>\n"
    "\n"
    "Hi.\n"
    "\n"
    "We lost the game.  Are you hungry yet?\n"
    "\n"
    "Joe.\n"
)

needs_opendkim = pytest.mark.skipif(shutil.which("opendkim-testmsg") is None,
                                    reason="opendkim-tools not installed (scripts/install-deps.sh)")

# Runs inside `unshare --net --mount`: brings up lo, points /etc/resolv.conf at
# 127.0.0.1, serves the zones with dnsfixture.DNSServer and relays UDP port 53
# to it, then runs opendkim-testmsg on the message; prints its exit code and
# output as JSON.
HELPER = textwrap.dedent("""\
    import json, socket, subprocess, sys, threading
    sys.path.insert(0, sys.argv[1])
    import dnsfixture
    zones, resolv, msgfile = json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    with dnsfixture.DNSServer(zones) as dns:
        relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        relay.bind(("127.0.0.1", 53))
        def serve():
            while True:
                q, peer = relay.recvfrom(65535)
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.settimeout(5)
                up.sendto(q, ("127.0.0.1", dns.port))
                try:
                    relay.sendto(up.recvfrom(65535)[0], peer)
                except OSError:
                    pass
                up.close()
        threading.Thread(target=serve, daemon=True).start()
        with open(msgfile, "rb") as f:
            p = subprocess.run(["opendkim-testmsg"], stdin=f, capture_output=True, timeout=30)
        print(json.dumps({"rc": p.returncode, "out": p.stdout.decode(errors="replace"),
                          "err": p.stderr.decode(errors="replace"),
                          "queries": [q[0] for q in dns.queries]}))
""")


def opendkim_verify(tmp_path, zones, signed):
    """opendkim-testmsg's verdict on the message `signed` with DNS from zones."""
    helper = tmp_path / "helper.py"
    helper.write_text(HELPER)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
    msg = tmp_path / "verify.eml"
    msg.write_text(signed)
    p = subprocess.run(["unshare", "--net", "--mount", sys.executable, str(helper), str(HERE),
                        json.dumps(zones), str(resolv), str(msg)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def genkey(tmp_path, kind):
    """A key from `tern dkim gen...`: (path, TXT record)."""
    path = tmp_path / f"{kind}.pem"
    with open(path, "w") as f:
        p = subprocess.run([os.environ.get("TERN_BIN", str(HERE.parent / "build" / "tern")),
                            "dkim", "gen" + kind], stdout=f, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    assert p.returncode == 0, p.stderr
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    record = p.stderr.strip().splitlines()[-1]
    assert record.startswith("v=DKIM1; k=%s; p=" % ("rsa" if kind == "rsa" else kind))
    # `tern dkim txt` gives the same record for the file
    assert run_tern("dkim", "txt", input=path.read_text(), check=0).stdout.strip() == record
    return path, record


def txt_rdata(record):
    """The record as TXT rdata: quoted strings of at most 255 characters."""
    return "TXT " + " ".join('"%s"' % record[i:i + 255] for i in range(0, len(record), 255))


def zones_for(selector, record):
    return {"example.test.": {f"{selector}._domainkey": [txt_rdata(record)]}}


def test_generate_and_txt(tmp_path):
    genkey(tmp_path, "ed25519")
    genkey(tmp_path, "rsa")
    # not onto a terminal, and refuses bad input
    assert run_tern("dkim", "txt", input="not a key").returncode == 1
    assert run_tern("dkim", "genrsa", "-bits", "512").returncode == 2


@needs_opendkim
@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_tern_signs_opendkim_verifies(tmp_path, kind):
    key, record = genkey(tmp_path, kind)
    msg = tmp_path / "msg.eml"
    msg.write_text(MESSAGE)
    p = run_tern("dkim", "sign", "-domain", "example.test", "-selector", "sel", "-key", str(key),
                 str(msg), check=0)
    signed = p.stdout
    assert signed.startswith("DKIM-Signature: v=1; a=%s-sha256; c=relaxed/relaxed;"
                             % ("rsa" if kind == "rsa" else "ed25519"))
    assert "\r" not in signed          # an LF message gets LF fields
    assert all(len(line) <= 78 for line in signed.split("\n"))
    r = opendkim_verify(tmp_path, zones_for("sel", record), signed)
    assert "sel._domainkey.example.test." in [q.lower() for q in r["queries"]]
    assert r["rc"] == 0 and r["err"] == "", r
    # and a changed body fails there too
    r = opendkim_verify(tmp_path, zones_for("sel", record),
                        signed.replace("hungry", "thirsty"))
    assert r["rc"] != 0, r


def tern_verify(server, signed, tmp_path, name="signed.eml"):
    path = tmp_path / name
    path.write_text(signed)
    anchor = dnsfixture.write_unrelated_trust_anchor(tmp_path / "anchor")
    return run_tern("-config", str(tmp_path / "none.conf"), "dkim", "verify", "-server",
                    server.addr, "-trust-anchor", anchor, str(path))


@needs_opendkim
def test_opendkim_testmsg_signs_tern_verifies(tmp_path):
    key, record = genkey(tmp_path, "rsa")
    p = subprocess.run(["opendkim-testmsg", "-d", "example.test", "-s", "sel", "-k", str(key)],
                       input=MESSAGE, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    signed = p.stdout
    assert "a=rsa-sha1" in signed       # opendkim-testmsg's only algorithm
    with dnsfixture.DNSServer(zones_for("sel", record)) as dns:
        r = tern_verify(dns, signed, tmp_path)
    # RFC 8301 §3.1: rsa-sha1 is refused. opendkim-testmsg 2.11.0~beta2 also
    # writes the end of b= twice ("...lQ==4SZZlQ=="), which is no base64:
    # tern says so when that happens, else refuses the algorithm.
    assert r.returncode == 1
    assert (r.stdout.startswith("dkim=policy reason=\"rsa-sha1 is not accepted (RFC 8301)\" "
                                "header.d=example.test header.s=sel header.a=rsa-sha1 ") or
            r.stdout.startswith("dkim=permerror reason=\"bad signature field: b= is not "
                                "base64\" header.d=example.test header.s=sel header.a=rsa-sha1")
            ), r.stdout


def libopendkim_sign(keyfile, message, alg, hdr_canon, body_canon):
    """The DKIM-Signature libopendkim makes for message (LF text)."""
    lib = ctypes.CDLL(ctypes.util.find_library("opendkim") or "libopendkim.so.11")
    lib.dkim_init.restype = ctypes.c_void_p
    lib.dkim_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.dkim_sign.restype = ctypes.c_void_p
    lib.dkim_sign.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                              ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                              ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ssize_t,
                              ctypes.POINTER(ctypes.c_int)]
    for fn in ("dkim_header", "dkim_body"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    for fn in ("dkim_eoh", "dkim_free"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.dkim_eom.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.dkim_getsighdr.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                   ctypes.c_size_t]
    lib.dkim_close.argtypes = [ctypes.c_void_p]
    # dkim.h: DKIM_CANON_SIMPLE 0, RELAXED 1; DKIM_SIGN_RSASHA256 1, ED25519SHA256 2
    canon = {"simple": 0, "relaxed": 1}
    algs = {"rsa-sha256": 1, "ed25519-sha256": 2}
    libh = lib.dkim_init(None, None)
    assert libh
    status = ctypes.c_int(0)
    d = lib.dkim_sign(libh, b"test", None, pathlib.Path(keyfile).read_bytes(), b"sel",
                      b"example.test", canon[hdr_canon], canon[body_canon], algs[alg], -1,
                      ctypes.byref(status))
    assert d and status.value == 0, status.value
    head, body = message.split("\n\n", 1)
    for field in head.split("\n"):
        assert lib.dkim_header(d, field.encode(), len(field)) == 0
    assert lib.dkim_eoh(d) == 0
    b = body.replace("\n", "\r\n").encode()
    assert lib.dkim_body(d, b, len(b)) == 0
    assert lib.dkim_eom(d, None) == 0
    buf = ctypes.create_string_buffer(8192)
    assert lib.dkim_getsighdr(d, buf, len(buf), len("DKIM-Signature: ")) == 0
    lib.dkim_free(d)
    lib.dkim_close(libh)
    return "DKIM-Signature: " + buf.value.decode().replace("\r\n", "\n") + "\n"


@needs_opendkim
@pytest.mark.parametrize("kind,alg,canon", [
    ("rsa", "rsa-sha256", ("relaxed", "relaxed")),
    ("rsa", "rsa-sha256", ("simple", "simple")),
    ("ed25519", "ed25519-sha256", ("relaxed", "simple")),
])
def test_libopendkim_signs_tern_verifies(tmp_path, kind, alg, canon):
    key, record = genkey(tmp_path, kind)
    signed = libopendkim_sign(key, MESSAGE, alg, *canon) + MESSAGE
    assert "a=%s" % alg in signed
    with dnsfixture.DNSServer(zones_for("sel", record)) as dns:
        r = tern_verify(dns, signed, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("dkim=pass header.d=example.test header.s=sel "
                                   "header.a=%s header.b=" % alg), r.stdout
        r = tern_verify(dns, signed.replace("hungry", "thirsty"), tmp_path, "bad.eml")
        assert r.returncode == 1
        assert r.stdout.startswith("dkim=fail reason=\"body hash does not match (bh=)\"")


def test_verify_results(tmp_path):
    """tern dkim verify against a DNS server: pass, missing key, revoked key."""
    key, record = genkey(tmp_path, "ed25519")
    msg = tmp_path / "msg.eml"
    msg.write_text(MESSAGE)
    signed = run_tern("dkim", "sign", "-domain", "example.test", "-selector", "sel", "-key",
                      str(key), str(msg), check=0).stdout
    zones = {"example.test.": {"sel._domainkey": [txt_rdata(record)],
                               "old._domainkey": ['TXT "v=DKIM1; p="']}}
    with dnsfixture.DNSServer(zones) as dns:
        r = tern_verify(dns, signed, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("dkim=pass header.d=example.test header.s=sel "
                                   "header.a=ed25519-sha256 header.b=")
        r = tern_verify(dns, signed.replace("s=sel;", "s=nokey;"), tmp_path, "nokey.eml")
        assert r.returncode == 1 and r.stdout.startswith("dkim=permerror reason=\"no key record")
        r = tern_verify(dns, signed.replace("s=sel;", "s=old;"), tmp_path, "old.eml")
        assert "key revoked" in r.stdout
        dns.servfail("sel._domainkey.example.test.")
        r = tern_verify(dns, signed, tmp_path, "temp.eml")
        assert r.stdout.startswith("dkim=temperror"), r.stdout
    r = tern_verify(dns, MESSAGE, tmp_path, "plain.eml")
    assert r.returncode == 1 and r.stdout.startswith("dkim=none")


def test_sign_with_config(tmp_path):
    """tern dkim sign without -key: the config's DKIM.Sign selectors of the From domain."""
    cfgdir = tmp_path / "config"
    (cfgdir / "dkim").mkdir(parents=True)
    ed, ed_record = genkey(tmp_path, "ed25519")
    rsa, rsa_record = genkey(tmp_path, "rsa")
    shutil.copy(ed, cfgdir / "dkim" / "ed.pem")
    shutil.copy(rsa, cfgdir / "dkim" / "rsa.pem")
    (cfgdir / "tern.conf").write_text(
        "DataDir: ../data\nHostname: mail.example.test\nUser: %s\n"
        "Listeners:\n  public:\n    IPs: [127.0.0.1]\n    SMTP:\n      Enabled: true\n"
        "      Port: 1025\n" % ("tern" if os.geteuid() == 0 else os.environ.get("USER", "nobody")))
    domains = (
        "Domains:\n  example.test:\n    DKIM:\n      Selectors:\n"
        "        e1:\n          PrivateKeyFile: dkim/ed.pem\n"
        "        r1:\n          PrivateKeyFile: dkim/rsa.pem\n          Algorithm: rsa-sha256\n"
        "      Sign: [e1, r1]\n"
        "Accounts:\n  joe:\n    Domain: example.test\n    Destinations:\n"
        "      joe@example.test: {}\n")
    (cfgdir / "domains.conf").write_text(domains)
    conf = str(cfgdir / "tern.conf")
    run_tern("-config", conf, "config", "test", check=0)
    msg = tmp_path / "msg.eml"
    msg.write_text(MESSAGE)
    signed = run_tern("-config", conf, "dkim", "sign", str(msg), check=0).stdout
    assert signed.count("DKIM-Signature:") == 2
    zones = {"example.test.": {"e1._domainkey": [txt_rdata(ed_record)],
                               "r1._domainkey": [txt_rdata(rsa_record)]}}
    with dnsfixture.DNSServer(zones) as dns:
        r = tern_verify(dns, signed, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("dkim=pass") == 2

    # config test: a missing key file, an unknown Sign selector
    (cfgdir / "domains.conf").write_text(domains.replace("dkim/ed.pem", "dkim/missing.pem"))
    r = run_tern("-config", conf, "config", "test")
    assert r.returncode != 0 and "PrivateKeyFile" in r.stderr and "No such file" in r.stderr
    (cfgdir / "domains.conf").write_text(domains.replace("[e1, r1]", "[e1, x9]"))
    r = run_tern("-config", conf, "config", "test")
    assert r.returncode != 0 and "unknown selector" in r.stderr, r.stderr
    # Algorithm that does not fit the key
    (cfgdir / "domains.conf").write_text(domains.replace("Algorithm: rsa-sha256",
                                                         "Algorithm: ed25519-sha256"))
    run_tern("-config", conf, "config", "test", check=0)
    r = run_tern("-config", conf, "dkim", "sign", str(msg))
    assert r.returncode == 1 and "does not fit" in r.stderr
