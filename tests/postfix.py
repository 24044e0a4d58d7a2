"""A private Postfix instance for end-to-end tests: an SMTP relay on a loopback
port that forwards everything to one loopback SMTP server (tern).

    relay = PostfixRelay(root_dir, listen_port, relay_port)
    relay.start()
    try:
        relay.send("x@example.net", "alice@example.test", msg_bytes)
        relay.wait_queue_empty(30)
    finally:
        relay.stop()

The instance has its own configuration directory (`postfix -c DIR`), queue and
data directories, and log file (root_dir/maillog, via postlogd), all under
root_dir; it touches neither the system Postfix's queue nor its configuration.
It must run as root (postfix(1) is reserved for the super-user) and root_dir's
parents must be searchable by the `postfix` user (conftest's world_dir is).

Postfix's rules for `-c DIR`: postfix(1) and postqueue(1)/postsuper(1) accept a
non-default configuration directory when invoked by the super-user; only
unprivileged invocations of the set-gid programs (postqueue, postdrop) need
it listed in the default main.cf's alternate_config_directories. The daemons
run by master(8) get the directory via MAIL_CONFIG. So the fixture leaves the
system configuration alone (on Debian with "No configuration" there is not
even an /etc/postfix/main.cf) and runs every command as root with -c.
"""
import json
import os
import pathlib
import pwd
import shutil
import smtplib
import subprocess
import time

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
POSTSUPER = shutil.which("postsuper") or "/usr/sbin/postsuper"


# Only the services a relay needs; no chroot (the queue directory has no
# chroot environment), no local/virtual delivery, no pipe transports.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen} inet n     -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
maillog_file = {maillog}
# maillog_file must start with one of these (default: /var, /dev/stdout).
maillog_file_prefixes = {root}
# The instance's name in its log lines and its master.pid lock.
syslog_name = postfix-test
multi_instance_enable = no

myhostname = {myhostname}
mydomain = example.net
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mynetworks_style = host

# Relay everything for anyone on mynetworks to one server; deliver nothing here.
mydestination =
relay_domains =
relayhost = [127.0.0.1]:{relay_port}
local_transport = error:local delivery is disabled
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject
biff = no
append_dot_mydomain = no

# No DNS: a numeric relayhost in brackets needs no MX lookup; do not look up
# the client's name either.
smtpd_peername_lookup = no
smtp_host_lookup = native
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtpd_tls_security_level = none
smtp_helo_name = $myhostname

# Tests want failures quickly, not the production retry schedule.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
delay_warning_time = 0h
bounce_queue_lifetime = 0
"""


class PostfixRelay:
    def __init__(self, root_dir, listen_port, relay_port, myhostname="relay.example.net",
                 extra_main_cf=None):
        """extra_main_cf: {parameter: value} appended to main.cf (later
        settings win), e.g. {"smtp_tls_security_level": "encrypt"}."""
        self.root = pathlib.Path(root_dir).resolve()
        self.listen_port = listen_port
        self.relay_port = relay_port
        self.myhostname = myhostname
        self.conf = self.root / "conf"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.maillog = self.root / "maillog"
        self.extra_main_cf = dict(extra_main_cf or {})
        self.started = False

    def _run(self, *args, check=True, timeout=60):
        p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}\n"
                                 f"maillog:\n{self.log()}")
        return p

    def postfix(self, *args, **kw):
        return self._run(POSTFIX, "-c", str(self.conf), *args, **kw)

    def write_config(self):
        pw = pwd.getpwnam("postfix")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.conf.mkdir(exist_ok=True)
        # queue_directory: root-owned; post-install creates its postfix-owned
        # subdirectories (and the postdrop-group maildrop/public) on start.
        self.queue.mkdir(exist_ok=True)
        os.chmod(self.queue, 0o755)
        self.data.mkdir(exist_ok=True)
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.chmod(self.data, 0o700)
        (self.conf / "main.cf").write_text(MAIN_CF.format(
            conf=self.conf, queue=self.queue, data=self.data, maillog=self.maillog,
            root=self.root, myhostname=self.myhostname, relay_port=self.relay_port) +
            "".join(f"{k} = {v}\n" for k, v in self.extra_main_cf.items()))
        (self.conf / "master.cf").write_text(MASTER_CF.format(
            listen=f"127.0.0.1:{self.listen_port}"))

    def start(self, timeout=20):
        if not os.path.exists(POSTFIX):
            raise RuntimeError("postfix missing: scripts/install-deps.sh installs it")
        self.write_config()
        self.postfix("check")
        self.postfix("start")
        self.started = True
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.listen_port, timeout=5) as s:
                    s.noop()
                return
            except (OSError, smtplib.SMTPException) as e:
                last = e
                time.sleep(0.1)
        raise AssertionError(f"postfix not answering on 127.0.0.1:{self.listen_port} "
                             f"after {timeout}s: {last}\nmaillog:\n{self.log()}")

    def stop(self):
        """Stops the instance (safe to call when it did not start) and waits
        for master(8) to be gone."""
        if not self.started:
            return
        self.started = False
        pid = self._master_pid()
        self.postfix("stop", check=False)
        if pid:
            deadline = time.time() + 15
            while time.time() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                self.postfix("abort", check=False)

    def _master_pid(self):
        try:
            return int((self.data / "master.lock").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def send(self, mail_from, rcpt_to, msg_bytes, helo="client.example.net"):
        """Submits one message over SMTP to the relay; returns smtplib's
        refused-recipients dict (empty when all were accepted)."""
        with smtplib.SMTP("127.0.0.1", self.listen_port, local_hostname=helo, timeout=30) as s:
            return s.sendmail(mail_from, rcpt_to, msg_bytes)

    def queue_entries(self):
        """The queue as postqueue -j reports it: one dict per message."""
        p = self._run(POSTQUEUE, "-c", str(self.conf), "-j")
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def flush(self):
        self._run(POSTQUEUE, "-c", str(self.conf), "-f", check=False)

    def wait_queue_empty(self, timeout=30):
        """Waits until Postfix has no message left (delivered, or bounced and
        the bounce dropped); raises with the queue and the log otherwise."""
        deadline = time.time() + timeout
        entries = []
        while time.time() < deadline:
            entries = self.queue_entries()
            if not entries and not self._maildrop_pending():
                return
            time.sleep(0.2)
        raise AssertionError(f"postfix queue not empty after {timeout}s:\n"
                             f"{json.dumps(entries, indent=1)}\nmaillog:\n{self.log()}")

    def _maildrop_pending(self):
        # showq also lists maildrop, but a file written there an instant ago
        # may not be readable yet; this is cheap and exact.
        d = self.queue / "maildrop"
        try:
            return any(d.iterdir())
        except OSError:
            return False

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
