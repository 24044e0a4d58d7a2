"""Receiving ends for tests of tern's SMTP client (test_outbound.py):

Sink(addr, port, ...)
    A small SMTP server on a loopback address, scripted per test: the
    greeting (None: silence), the EHLO keywords, STARTTLS with a given certificate, AUTH
    PLAIN, replies per recipient, the final reply. It records every session
    (commands in order, whether MAIL arrived together with the RCPTs, the
    message bytes after dot-unstuffing or from BDAT chunks, TLS).

Certs(dir)
    A test CA and certificates made with python3-cryptography:
    ca() the CA file, leaf(name, sans, signed=True) -> (cert, key) paths,
    spki_sha256(cert) for TLSA 3 1 1 and cert_sha256(cert) for 2 0 1.

PolicyServer(cert, key, body)
    An HTTPS server on 127.0.0.1 serving /.well-known/mta-sts.txt (RFC 8461
    §3.3) as text/plain; counts the requests.

SignedZone(tmpdir, zone, body, tamper=None)
    nsd serving one zone signed with ldns-signzone; .trust_anchors holds its
    DS, so a resolver with that anchor sees the zone as secure. tamper
    changes the signed file (records whose signatures then fail: bogus).
"""
import datetime
import hashlib
import http.server
import os
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dnsfixture import DNSSECZones

DEFAULT_EXTS = ["PIPELINING", "SIZE 1000000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"]


class Sink:
    def __init__(self, addr="127.0.0.1", port=0, exts=None, cert=None, greeting="220 sink ESMTP",
                 ehlo_code=250, rcpt_replies=None, mail_reply="250 2.1.0 ok",
                 data_reply="250 2.0.0 queued", auth=None, data_init_reply="354 go ahead"):
        self.exts = list(DEFAULT_EXTS if exts is None else exts)
        self.cert = cert
        self.greeting = greeting
        self.ehlo_code = ehlo_code
        self.rcpt_replies = rcpt_replies or {}
        self.mail_reply = mail_reply
        self.data_reply = data_reply if isinstance(data_reply, list) else [data_reply]
        self.auth = auth            # (user, password) for AUTH PLAIN
        self.data_init_reply = data_init_reply   # the reply to DATA itself
        self.sessions = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.addr, self.port = self.sock.getsockname()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the accept() below
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    @property
    def commands(self):
        return [c for s in self.sessions for c in s["commands"]]

    def _session(self, conn):
        s = {"commands": [], "data": None, "tls": False, "pipelined": False, "auth": None}
        self.sessions.append(s)
        io = _LineIO(conn)
        try:
            self._dialog(io, s)
        except (OSError, EOFError, ssl.SSLError):
            pass
        finally:
            io.close()

    def _ehlo_reply(self, io, s, verb):
        if self.ehlo_code != 250 and verb == "EHLO":
            io.send("%d 5.5.1 no EHLO here\r\n" % self.ehlo_code)
            return
        exts = [e for e in self.exts if not (s["tls"] and e == "STARTTLS")]
        if verb == "HELO" or not exts:
            io.send("250 sink\r\n")
            return
        lines = ["sink"] + exts
        io.send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                        for i, l in enumerate(lines)))

    def _dialog(self, io, s):
        if self.greeting is None:   # a server that never speaks
            io.line()
            return
        io.send(self.greeting + "\r\n")
        if not self.greeting.startswith("220"):
            while True:
                line = io.line()
                s["commands"].append(line)
                if line.upper() == "QUIT":
                    io.send("221 bye\r\n")
                    return
                io.send("503 5.5.1 go away\r\n")
        rcpts = 0
        while True:
            line = io.line()
            s["commands"].append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._ehlo_reply(io, s, verb)
            elif verb == "STARTTLS" and self.cert:
                io.send("220 2.0.0 go ahead\r\n")
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(*self.cert)
                io.starttls(ctx)
                s["tls"] = True
            elif verb == "AUTH" and self.auth:
                parts = line.split(" ")
                import base64
                resp = base64.b64decode(parts[2]) if len(parts) > 2 else b""
                ok = resp == b"\0" + self.auth[0].encode() + b"\0" + self.auth[1].encode()
                s["auth"] = parts[1]
                io.send("235 2.7.0 ok\r\n" if ok else "535 5.7.8 bad\r\n")
            elif verb == "MAIL":
                s["pipelined"] = io.pending()
                rcpts = 0
                io.send(self.mail_reply + "\r\n")
            elif verb == "RCPT":
                addr = line[line.index("<") + 1:line.index(">")]
                reply = self.rcpt_replies.get(addr, "250 2.1.5 ok")
                if reply.startswith("2"):
                    rcpts += 1
                io.send(reply + "\r\n")
            elif verb == "DATA":
                if rcpts == 0:
                    io.send("554 5.5.1 no valid recipients\r\n")
                    continue
                io.send(self.data_init_reply + "\r\n")
                if not self.data_init_reply.startswith("354"):
                    continue
                s["data"] = io.read_dot_data()
                io.send(self._final())
            elif verb == "BDAT":
                args = line.split()
                chunk = io.read_exact(int(args[1]))
                s["data"] = (s["data"] or b"") + chunk
                s.setdefault("bdat", []).append(line)
                if len(args) > 2 and args[2].upper() == "LAST":
                    io.send(self._final())
                else:
                    io.send("250 2.0.0 chunk ok\r\n")
            elif verb == "QUIT":
                io.send("221 2.0.0 bye\r\n")
                return
            elif verb in ("RSET", "NOOP"):
                io.send("250 2.0.0 ok\r\n")
            else:
                io.send("502 5.5.1 unknown\r\n")

    def _final(self):
        lines = self.data_reply
        code = lines[0][:3]
        return "".join("%s%s%s\r\n" % (code, "-" if i < len(lines) - 1 else " ", l[4:])
                       for i, l in enumerate(lines))


class _LineIO:
    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def send(self, text):
        self.conn.sendall(text.encode() if isinstance(text, str) else text)

    def _fill(self):
        d = self.conn.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def pending(self):
        return len(self.buf) > 0

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_dot_data(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line == b".":
                return b"".join(lines)
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line + b"\r\n")

    def starttls(self, ctx):
        assert not self.buf, "plain text after STARTTLS"
        self.conn = ctx.wrap_socket(self.conn, server_side=True)

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


class Certs:
    def __init__(self, directory):
        self.dir = str(directory)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tern test CA")])
        self.ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(self.ca_key.public_key())
                        .serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(hours=1))
                        .not_valid_after(now + datetime.timedelta(days=2))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                     False, False), True)
                        .sign(self.ca_key, hashes.SHA256()))
        self.ca_path = os.path.join(self.dir, "ca.crt")
        with open(self.ca_path, "wb") as f:
            f.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, name, sans=None, signed=True, expired=False):
        """(cert_path, key_path) for name with DNS SANs; CA-signed or self-signed."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = now - datetime.timedelta(days=10 if expired else 0, hours=1)
        end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=2)
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(self.ca_cert.subject if signed else subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.SubjectAlternativeName(
                 [x509.DNSName(n) for n in (sans or [name])]), False))
        cert = b.sign(self.ca_key if signed else key, hashes.SHA256())
        base = os.path.join(self.dir, "%s-%s" % (name, x509.random_serial_number() % 100000))
        with open(base + ".crt", "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            if signed:
                f.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        with open(base + ".key", "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return base + ".crt", base + ".key"

    @staticmethod
    def spki_sha256(cert_path):
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(spki).hexdigest()

    def ca_sha256(self):
        return hashlib.sha256(self.ca_cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class PolicyServer:
    def __init__(self, cert, key, body, content_type="text/plain"):
        self.body = body
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SignedZone(DNSSECZones):
    """nsd serving one signed zone; trust_anchors is its own DS."""

    def __init__(self, tmpdir, zone, body, tamper=None):
        self.ZONE = zone
        self._body = body
        self._tamper = tamper   # text -> text, applied to the signed zone file
        super().__init__(tmpdir)

    def _make_zones(self):
        text = ("$ORIGIN {z}\n$TTL 300\n@ IN SOA ns.{z} hostmaster.{z} 1 3600 600 86400 60\n"
                "@ IN NS ns.{z}\nns IN A 127.0.0.1\n").format(z=self.ZONE) + self._body
        signed, ksk = self._sign(self.ZONE, text)
        if self._tamper is not None:
            with open(signed) as f:
                data = f.read()
            with open(signed, "w") as f:
                f.write(self._tamper(data))
        self.files = {self.ZONE: signed}
        self.trust_anchors = [self._ds_line(ksk)]
