"""A private Dovecot IMAP server for comparisons (imaptest scripts, IMAP
clients, benchmarks):

    dc = DovecotServer(root, users={"user@example.test": "pass"}).start()
    dc.imap_port, dc.imaps_port          # loopback, plain IMAP and IMAP over TLS
    dc.cert_path                         # its self-signed certificate (PEM)
    dc.maildir("user@example.test")      # the user's Maildir
    dc.stop()

Dovecot runs in the foreground from a config file in root: base_dir,
state_dir and the log file live there, passwords come from a passwd-file,
mail is in Maildirs under root, SSL has a self-signed certificate made for
localhost, and plaintext LOGIN is allowed (the tests talk over loopback).
"""
import os
import pathlib
import pwd
import grp
import shutil
import socket
import subprocess
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def have_dovecot():
    return os.path.exists(DOVECOT)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_self_signed_cert(directory, names=("localhost",)):
    """A self-signed certificate for names (and 127.0.0.1), the first one its
    CN: (cert, key) paths, cert.pem and key.pem in directory."""
    directory = pathlib.Path(directory)
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    san = ",".join("DNS:" + n for n in names) + ",IP:127.0.0.1"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + names[0], "-addext", "subjectAltName=" + san,
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def install_cert(cert_file, key_file, names):
    """Replaces a server's certificate and key (as cert_file, key_file) by a
    fresh self-signed pair for names, the first its CN, and 127.0.0.1: clients
    can then check it against the name they connect to."""
    cert_file = pathlib.Path(cert_file)
    cert, key = make_self_signed_cert(cert_file.parent, names=names)
    os.replace(cert, cert_file)
    os.replace(key, key_file)
    os.chmod(key_file, 0o644)


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = dovecot-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
imap_urlauth_host = 127.0.0.1
imap_urlauth_port = 143
mail_attribute_dict = file:%h/dovecot-attributes

"""


class DovecotServer:
    def __init__(self, root, users=None):
        self.root = pathlib.Path(root)
        self.users = users or {"user@example.test": "pass"}
        self.proc = None
        self.imap_port = None
        self.imaps_port = None
        self.cert_path = self.root / "cert.pem"

    def _accounts(self):
        """(mail uid, gid, internal user, group, login user) for this process:
        as root, mail belongs to nobody and the daemons use Dovecot's users;
        otherwise everything runs as the current user."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            return (nobody.pw_uid, nobody.pw_gid, "dovecot", "dovecot", "dovenull")
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid()).gr_name
        return (me.pw_uid, me.pw_gid, me.pw_name, group, me.pw_name)

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for d in ("run", "state", "home"):
            (self.root / d).mkdir(exist_ok=True)
        make_self_signed_cert(self.root)
        uid, gid, internal, internal_group, login = self._accounts()
        for name in self.users:
            home = self.root / "home" / name
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, uid, gid)
        (self.root / "passwd").write_text("".join(
            "%s:{PLAIN}%s::::::\n" % (u, p) for u, p in self.users.items()))
        self.imap_port = free_port()
        self.imaps_port = free_port()
        conf = self.root / "dovecot.conf"
        conf.write_text(CONFIG.format(root=self.root, port=self.imap_port, ssl_port=self.imaps_port,
                                      mail_uid=uid, mail_gid=gid, internal_user=internal,
                                      internal_group=internal_group, login_user=login))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace")
                raise RuntimeError("dovecot exited: %s\n%s" % (out, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("dovecot did not answer on port %d\n%s" % (self.imap_port, self.log()))

    def maildir(self, user):
        return self.root / "home" / user / "Maildir"

    def log(self):
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
