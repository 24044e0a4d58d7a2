"""An interpreter for Dovecot imaptest's scripted tests.

The scripts (../shared/external-tests/imaptest/tests, format described in
scripted_test.md beside them) each hold a header (capabilities:, connections:,
state:, messages:, ignore_extra_untagged:, user N:), an empty line, then
commands with the tagged and untagged replies they expect. This module runs one
script against an IMAP server the way imaptest does:

    target = Target("127.0.0.1", 1143, "alice@example.test", "s3cret")
    result = run_script(path, target)      # Result: status, reason, failures, log
    result.status in ("passed", "failed", "skipped")

The matching rules follow imaptest's own: replies are parsed into IMAP
arguments (atoms, strings, literals, NIL, lists) and compared case-insensitively;
`$name` takes its value from the first reply it meets and must match that value
afterwards, `$` matches any one argument, `$N` is message N's current sequence
number, `${case:X}` compares case-sensitively, `$modseqN` must grow with N;
lists may carry `$!unordered[=n]`, `$!ordered`, `$!noextra`, `$!extra`,
`$!ignore=e` and `$!ban=e`, with imaptest's defaults for FETCH, FLAGS, LIST,
LSUB and STATUS; `*` lines must appear, `!` lines must not, `?` lines may;
`!ordered` asks the untagged replies in order. Literals are written as `{{{`
... `}}}` (`~{{{` for binary). Before the commands the runner brings the
session into the script's state: logged in, the test mailboxes (`$mailbox*`)
deleted, the mailbox created, the messages of NAME.mbox (or default.mbox)
appended, and the mailbox selected on every connection.
"""
import os
import re
import socket
import ssl
import time

# ---------------------------------------------------------------------------
# IMAP arguments

ATOM, STRING, LITERAL, NIL, LIST = "atom", "string", "literal", "nil", "list"

_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def aupper(s):
    """ASCII-only upper case (imaptest compares with i_toupper)."""
    return s.translate(_UPPER)


def aeq(a, b):
    return aupper(a) == aupper(b)


class ParseError(Exception):
    pass


class Arg:
    __slots__ = ("type", "value")

    def __init__(self, type_, value):
        self.type = type_
        self.value = value

    def astring(self):
        """The string of an atom, quoted string or literal; None otherwise."""
        return self.value if self.type in (ATOM, STRING, LITERAL) else None

    def __repr__(self):
        return args_to_str([self])


def args_to_str(args):
    out = []
    for a in args:
        if a.type == NIL:
            out.append("NIL")
        elif a.type == LIST:
            out.append("(" + args_to_str(a.value) + ")")
        elif a.type == ATOM:
            out.append(a.value)
        elif a.type == LITERAL and ("\n" in a.value or "\r" in a.value or len(a.value) > 200):
            out.append("{%d}" % len(a.value))
        else:
            out.append('"' + a.value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out)


def parse_args(text, lenient=False):
    """Parses IMAP arguments from text (a str holding bytes as latin-1) the way
    Dovecot's parser does with ATOM_ALLCHARS and multi-line strings: an atom runs
    to a space, CR, LF, or a ')' that closes an open list; "NIL" is NIL;
    {N}/{N+}/~{N} CRLF begin literals. With lenient, text that does not parse
    (free text after a status) is kept as atoms split at spaces."""
    pos = 0
    n = len(text)
    stack = [[]]
    while pos < n:
        c = text[pos]
        if c == " ":
            pos += 1
            continue
        if c in "\r\n":
            pos += 1
            continue
        cur = stack[-1]
        if c == "(":
            stack.append([])
            pos += 1
        elif c == ")":
            if len(stack) == 1:
                if not lenient:
                    raise ParseError("unexpected ')'")
                end = _atom_end(text, pos, False)
                cur.append(Arg(ATOM, text[pos:end]))
                pos = end
                continue
            lst = stack.pop()
            stack[-1].append(Arg(LIST, lst))
            pos += 1
        elif c == '"':
            pos += 1
            buf = []
            while True:
                if pos >= n:
                    raise ParseError("missing '\"'")
                ch = text[pos]
                if ch == "\\" and pos + 1 < n:
                    buf.append(text[pos + 1])
                    pos += 2
                    continue
                if ch == '"':
                    pos += 1
                    break
                buf.append(ch)
                pos += 1
            cur.append(Arg(STRING, "".join(buf)))
        elif c == "{" or (c == "~" and pos + 1 < n and text[pos + 1] == "{"):
            m = re.compile(r"~?\{(\d+)\+?\}\r?\n").match(text, pos)
            if not m:
                if c == "~" or lenient:
                    end = _atom_end(text, pos, len(stack) > 1)
                    cur.append(Arg(ATOM, text[pos:end]))
                    pos = end
                    continue
                raise ParseError("broken literal")
            size = int(m.group(1))
            start = m.end()
            if start + size > n:
                raise ParseError("literal longer than the data")
            cur.append(Arg(LITERAL, text[start:start + size]))
            pos = start + size
        else:
            end = _atom_end(text, pos, len(stack) > 1)
            atom = text[pos:end]
            cur.append(Arg(NIL, None) if aupper(atom) == "NIL" else Arg(ATOM, atom))
            pos = end
    if len(stack) != 1:
        if not lenient:
            raise ParseError("missing ')'")
        while len(stack) > 1:
            lst = stack.pop()
            stack[-1].append(Arg(LIST, lst))
    return stack[0]


def _atom_end(text, pos, in_list):
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch in " \r\n" or (ch == ")" and in_list):
            break
        pos += 1
    return pos


def parse_reply(text):
    """Arguments of one server response; free text that is not valid IMAP
    syntax (in OK/NO/BAD/BYE text) is kept word by word."""
    try:
        return parse_args(text)
    except ParseError:
        return parse_args(text, lenient=True)


# ---------------------------------------------------------------------------
# Scripts

MUST, MUST_NOT, MAY = "*", "!", "?"
STATES = ["nonauth", "auth", "created", "appended", "selected"]


class Untagged:
    def __init__(self, args, existence, line):
        self.args = args
        self.existence = existence
        self.line = line


class Command:
    def __init__(self, linenum, text, reply, tag):
        self.linenum = linenum
        self.text = text          # the command line (may hold literals)
        self.reply = reply        # expected reply args, None until seen
        self.tag = tag            # script tag number (tagN), 0 if none
        self.sent_tag = None      # tag on the wire


class Group:
    def __init__(self):
        self.commands = []
        self.untagged = []
        self.conn = 0
        self.ordered = False
        self.have_bye = False
        self.sleep = 0.0
        self.output = []
        self.replies_pending = 0


class Script:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.capabilities = []
        self.connections = 1
        self.message_count = ALL
        self.state = "selected"
        self.ignore_extra_untagged = True
        self.usernames = {}
        self.require_user2 = False
        self.groups = []
        self.have_banner_check = False
        mbox = path + ".mbox"
        self.mbox_path = mbox if os.path.exists(mbox) else os.path.join(
            os.path.dirname(path), "default.mbox")


class ScriptError(Exception):
    pass


REPLY_WORDS = {"ok": "ok", "no": "no", "bad": "bad", '""': ""}
ALL = float("inf")


def load_script(path, environ=None):
    """Parses the script at path into a Script (raises ScriptError)."""
    environ = os.environ if environ is None else environ
    with open(path, "rb") as f:
        data = f.read().decode("latin-1")
    s = Script(path)
    p = _Parser(s, environ)
    p.parse(data)
    _add_logout(s)
    return s


class _Parser:
    def __init__(self, script, environ):
        self.s = script
        self.env = environ
        self.group = None
        self.ifenv = []
        self.skip = False

    def fail(self, linenum, msg):
        raise ScriptError("%s line %d: %s" % (self.s.path, linenum, msg))

    def parse(self, data):
        lines = data.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        elif lines:
            raise ScriptError("%s: last line doesn't end with LF" % self.s.path)
        header = True
        i = 0
        while i < len(lines):
            linenum = i + 1
            line = lines[i]
            i += 1
            if line == "":
                header = False
                continue
            if line.startswith("#"):
                continue
            if line.endswith("{{{"):
                line, i = self.join_multiline(lines, i, line, linenum)
            if header:
                self.header_line(line, linenum)
            else:
                self.command_line(line, linenum)
        if self.group is None:
            raise ScriptError("%s: no commands in file" % self.s.path)
        if self.group.replies_pending:
            raise ScriptError("%s: missing reply for the last command" % self.s.path)
        if self.ifenv:
            raise ScriptError("%s: !ifenv not closed with !endif" % self.s.path)

    def join_multiline(self, lines, i, first, linenum):
        """Collects `{{{` ... `}}}` into a literal {N}CRLF<data> (~{N} for
        binary); lines are joined with CRLF, binary ones keep their own line
        ends, and the last line's end is not part of the literal."""
        out = ""
        line = first
        while True:
            binary = line.endswith("~{{{")
            out += line[:-4] if binary else line[:-3]
            body = []
            while True:
                if i >= len(lines):
                    self.fail(linenum, "multiline reply not ended")
                cur = lines[i]
                i += 1
                if cur.startswith("}}}"):
                    break
                body.append(cur + ("\n" if binary else "\r\n"))
            lit = "".join(body)
            if lit.endswith("\r\n") and not binary:
                lit = lit[:-2]
            elif lit.endswith("\n"):
                lit = lit[:-1]
            out += "%s{%d}\r\n%s" % ("~" if binary else "", len(lit.encode("latin-1")), lit)
            rest = cur[3:]
            if rest.endswith("{{{"):
                line = rest
                continue
            out += rest
            return out, i

    def header_line(self, line, linenum):
        if ":" not in line:
            self.fail(linenum, "missing ':'")
        key, value = line.split(":", 1)
        key = key.rstrip(" ").lower()
        value = value.lstrip(" ")
        s = self.s
        if key == "capabilities":
            s.capabilities = value.split()
        elif key == "connections":
            n = int(re.match(r"\d*", value).group() or 0)
            if n == 0 or n > 100:
                self.fail(linenum, "too many connections")
            s.connections = n
        elif key == "ignore_extra_untagged":
            s.ignore_extra_untagged = value.startswith("y")
        elif key.startswith("user ") and key[5:].isdigit() and int(key[5:]) > 0:
            if value in ("$user2", "${user2}"):
                s.require_user2 = True
            s.usernames[int(key[5:]) - 1] = value
        elif key == "messages":
            s.message_count = ALL if value == "all" else int(re.match(r"\d*", value).group() or 0)
        elif key == "state":
            v = value.lower()
            if v not in STATES:
                self.fail(linenum, "unknown state value")
            s.state = v
        else:
            self.fail(linenum, "unknown setting")

    @staticmethod
    def get_reply(line):
        """Optional "tagN" and ok/no/bad/"" at the start of line:
        (reply args or None, tag number, rest of line)."""
        tag = 0
        first = line.split(" ", 1)[0]
        if first[:3].lower() == "tag" and first[3:].isdigit() and int(first[3:]) > 0 and " " in line:
            tag = int(first[3:])
            line = line.split(" ", 1)[1]
            first = line.split(" ", 1)[0]
        word = first.lower()
        if word in REPLY_WORDS:
            rest = line[len(first):]
            if rest.startswith(" "):
                rest = rest[1:]
            return [Arg(ATOM, REPLY_WORDS[word])], tag, rest
        return None, tag, line

    def command_line(self, line, linenum):
        s = self.s
        m = re.match(r"!(ifenv|ifnenv) (.*)$", line)
        if m:
            have = m.group(2) in self.env
            if m.group(1) == "ifnenv":
                have = not have
            self.ifenv.append([linenum, False, self.skip])
            if not have:
                self.skip = True
            return
        if line == "!else":
            if not self.ifenv:
                self.fail(linenum, "!else without !ifenv")
            if self.ifenv[-1][1]:
                self.fail(linenum, "!else already seen")
            self.ifenv[-1][1] = True
            if not self.ifenv[-1][2]:
                self.skip = not self.skip
            return
        if line == "!endif":
            if not self.ifenv:
                self.fail(linenum, "!endif without !ifenv")
            self.skip = self.ifenv.pop()[2]
            return
        if self.skip:
            return
        group = self.group
        if group is not None:
            if line.startswith("!sleep "):
                group.sleep = _parse_interval(line[7:])
                return
            if line.startswith("!output "):
                group.output.append(line[8:])
                return
            if line == "!ordered":
                group.ordered = True
                return
            if line[:2] in ("* ", "! ", "? "):
                self.untagged(line[2:], line[0], linenum)
                return
            if group.replies_pending > 0:
                rest = line
                conn = 0
                first = line.split(" ", 1)[0]
                if s.connections > 1 and first.isdigit() and int(first) > 0:
                    conn = int(first)
                    rest = line.split(" ", 1)[1] if " " in line else ""
                reply, tag, _ = self.get_reply(rest)
                if reply is not None:
                    if s.connections > 1:
                        if conn == 0:
                            self.fail(linenum, "missing client index")
                        if conn - 1 != group.conn:
                            self.fail(linenum, "reply for wrong connection")
                    self.finish_command(tag, rest, linenum)
                    return
        if group is None or group.replies_pending == 0:
            group = Group()
            self.group = group
            s.groups.append(group)
        if s.connections > 1:
            first = line.split(" ", 1)[0]
            if not first.isdigit() or int(first) == 0:
                self.fail(linenum, "missing client index")
            idx = int(first)
            if idx > 100:
                self.fail(linenum, "too many connections")
            if group.commands and group.conn != idx - 1:
                self.fail(linenum, "all pipelined commands must use the same connection")
            group.conn = idx - 1
            s.connections = max(s.connections, idx)
            line = line.split(" ", 1)[1] if " " in line else ""
        reply, tag, line = self.get_reply(line)
        if tag == 0:
            if group.replies_pending > 0:
                self.fail(linenum, "missing reply from previous command group")
        elif any(c.tag == tag for c in group.commands):
            self.fail(linenum, "tag reused within command group")
        if not group.commands and line[:2] in ("* ", "! ", "? "):
            s.have_banner_check = True
            self.untagged(line[2:], line[0], linenum)
            return
        if reply is None:
            group.replies_pending += 1
        group.commands.append(Command(linenum, line, reply, tag))

    def finish_command(self, tag, line, linenum):
        group = self.group
        cmd = next((c for c in group.commands if c.tag == tag), None)
        if cmd is None:
            self.fail(linenum, "reply for unknown tag")
        if cmd.reply is not None:
            self.fail(linenum, "command already has a reply")
        try:
            args = parse_args(line)
        except ParseError as e:
            self.fail(linenum, str(e))
        cmd.reply = args[1:] if tag else args
        group.replies_pending -= 1

    def untagged(self, text, existence, linenum):
        try:
            args = parse_args(text)
        except ParseError as e:
            self.fail(linenum, str(e))
        name = ""
        if args and args[0].type == ATOM:
            name = args[0].value
            if name[:1] == "$" or name[:1].isdigit():
                name = args[1].value if len(args) > 1 and args[1].type == ATOM else ""
        try:
            _directives(args, _DirCtx(name, None, 0, None))
        except ScriptError as e:
            self.fail(linenum, str(e))
        if aupper(name).startswith("BYE"):
            if existence == MUST:
                self.group.have_bye = True
            elif existence == MAY:
                self.fail(linenum, "? BYE not currently supported")
        self.group.untagged.append(Untagged(args, existence, text))


def _parse_interval(s):
    m = re.match(r"\s*(\d+)\s*(ms|msecs?|s|secs?|)?\s*$", s)
    if not m:
        raise ScriptError("invalid !sleep value %s" % s)
    n = int(m.group(1))
    return n / 1000.0 if (m.group(2) or "").startswith("m") else float(n)


class _DirCtx:
    def __init__(self, reply_name, parent, parent_chain_idx, prev_atom):
        self.reply_name = reply_name
        self.parent = parent
        self.parent_chain_idx = parent_chain_idx
        self.prev_atom = prev_atom
        self.chain_count = 1
        self.directives = False


def _directives(args, ctx):
    """Checks a list's $! directives and adds imaptest's defaults to lists that
    have none: "n FETCH ($!unordered=2)", its FLAGS ($!unordered $!noextra
    $!ignore=\\recent ...), "LIST ($!unordered)", "LSUB ($!unordered)",
    "STATUS mailbox ($!unordered=2)"."""
    for a in args:
        if a.type != ATOM or not a.value.startswith("$!"):
            break
        d = a.value[2:]
        if d.startswith("unordered"):
            if d[9:] == "":
                pass
            elif d[9:10] == "=" and d[10:].isdigit():
                ctx.chain_count = int(d[10:])
            else:
                raise ScriptError("broken $!unordered directive")
        elif not (d in ("ordered", "noextra", "extra") or d.startswith("ignore=")
                  or d.startswith("ban=")):
            raise ScriptError("unknown directive: %s" % d)
        ctx.directives = True
    if not ctx.directives and ctx.parent is not None:
        defaults = _default_directives(ctx)
        args[0:0] = [Arg(ATOM, d) for d in defaults]
    prev_atom = None
    for i, a in enumerate(args):
        if a.type == ATOM:
            prev_atom = a.value.lower()
        if a.type != LIST:
            continue
        sub = _DirCtx(ctx.reply_name.lower(), ctx, i if ctx.chain_count == 1 else i % ctx.chain_count,
                      prev_atom)
        _directives(a.value, sub)


def _default_directives(ctx):
    p = ctx.parent
    name = ctx.reply_name
    if name in ("list", "lsub"):
        if p.parent is None and p.parent_chain_idx == 0 and ctx.parent_chain_idx == 1:
            return ["$!unordered"]
    elif name == "status":
        if p.parent is None and p.parent_chain_idx == 0 and ctx.parent_chain_idx == 2:
            return ["$!unordered=2"]
    elif name == "fetch":
        if p.parent is None and p.parent_chain_idx == 0 and ctx.parent_chain_idx == 2:
            return ["$!unordered=2"]
        if (p.parent is not None and p.parent.parent is None and p.parent.parent_chain_idx == 0
                and p.parent_chain_idx == 2 and ctx.prev_atom == "flags"):
            return ["$!unordered", "$!noextra", "$!ignore=\\recent",
                    "$!ignore=$HasAttachment", "$!ignore=$HasNoAttachment"]
    return []


def _add_logout(s):
    for g in s.groups:
        if g.have_bye or any(c.text.lower() == "logout" for c in g.commands):
            return
    g = Group()
    g.commands.append(Command(0, "logout", [Arg(ATOM, "ok")], 0))
    s.groups.append(g)


# ---------------------------------------------------------------------------
# Messages to append

_FROM_RE = re.compile(
    r"From \S+\s+(?:\w{3}\s+)?(\w{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s+([+-]\d{4}|[A-Z]{3,4}))?\s+(\d{4})(?:\s+([+-]\d{4}))?\s*$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _from_line_date(line):
    """INTERNALDATE (IMAP date-time) from an mbox From line, None if it is not
    one. A From line without a zone is in UTC."""
    m = _FROM_RE.match(line)
    if not m or m.group(1).title() not in _MONTHS:
        return None
    mon, day, hh, mm, ss, tz1, year, tz2 = m.groups()
    tz = tz2 or (tz1 if tz1 and tz1[0] in "+-" else "+0000")
    return "%02d-%s-%s %02d:%s:%s %s" % (int(day), mon.title(), year, int(hh), mm,
                                          ss or "00", tz)


class MboxSource:
    """The messages of an mbox file, handed out in order and from the start
    again after the last one (as imaptest's mbox source does). A message is
    the lines after its From line up to the next From line, with CRLF line
    ends (the blank separator line belongs to the message)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            lines = f.read().decode("latin-1").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.messages = []
        cur = None
        for line in lines:
            date = _from_line_date(line) if line.startswith("From ") else None
            if date is not None and (cur is None or cur[1]):
                cur = [date, []]
                self.messages.append(cur)
                continue
            if cur is None:
                raise ScriptError("not a valid mbox file: %s" % path)
            cur[1].append(line[:-1] if line.endswith("\r") else line)
        if not self.messages:
            raise ScriptError("empty mbox file: %s" % path)
        self.pos = 0

    def eof(self):
        return self.pos >= len(self.messages)

    def next(self):
        """(message text with CRLF line ends, INTERNALDATE)."""
        if self.pos >= len(self.messages):
            self.pos = 0
        date, lines = self.messages[self.pos]
        self.pos += 1
        return "".join(line + "\r\n" for line in lines), date


# ---------------------------------------------------------------------------
# Running


class Target:
    """Where and as whom the scripts run. user2/password2: a second account for
    scripts with `user 2: $user2` (they are skipped without one)."""

    def __init__(self, host, port, user, password, user2=None, password2=None,
                 ssl_context=None, mailbox="imaptest", timeout=10.0, literal_plus=True):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.user2 = user2
        self.password2 = password2
        self.ssl_context = ssl_context
        self.mailbox = mailbox
        self.timeout = timeout
        self.literal_plus = literal_plus   # False: synchronizing literals only


class Result:
    def __init__(self, name):
        self.name = name
        self.status = "passed"
        self.reason = ""
        self.failures = []
        self.log = []

    def report(self):
        out = ["%s: %s %s" % (self.name, self.status, self.reason)]
        out += self.failures
        out.append("--- protocol log (last lines) ---")
        out += self.log[-150:]
        return "\n".join(out)


class Disconnected(Exception):
    pass


class Abort(Exception):
    """Ends a test run early (after a failure that leaves nothing to check)."""


class Client:
    _next_id = 1

    def __init__(self, target, idx, result):
        Client._next_id += 1
        self.global_id = Client._next_id
        self.idx = idx
        self.result = result
        self.timeout = target.timeout
        sock = socket.create_connection((target.host, target.port), timeout=target.timeout)
        if target.ssl_context is not None:
            sock = target.ssl_context.wrap_socket(sock, server_hostname=target.host)
        self.sock = sock
        self.buf = b""
        self.tag_counter = 1
        self.caps = []
        self.postlogin_caps = False
        self.count = 0
        self.seen_bye = False
        self.closed = False
        self.mailbox = target.mailbox

    def log(self, direction, data):
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        for line in text.split("\r\n"):
            if line:
                self.result.log.append("%d%s %s" % (self.idx + 1, direction, line[:300]))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.log(">", data)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Disconnected(str(e))

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Disconnected("timed out after %.0f s waiting for the server" % self.timeout)
        except OSError as e:
            raise Disconnected(str(e))
        if not chunk:
            self.closed = True
            raise Disconnected("connection closed by the server")
        self.buf += chunk

    def read_line(self):
        while b"\r\n" not in self.buf:
            if b"\n" in self.buf:
                break
            self._fill()
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return line

    def read_response(self):
        """One whole response (with its literals) as latin-1 text, without the
        final CRLF."""
        data = b""
        while True:
            line = self.read_line()
            data += line
            m = re.search(rb"~?\{(\d+)\+?\}\r?\n$", line)
            if not m:
                break
            size = int(m.group(1))
            while len(self.buf) < size:
                self._fill()
            data += self.buf[:size]
            self.buf = self.buf[size:]
        self.log("<", data if len(data) < 2000 else data[:2000])
        text = data.decode("latin-1")
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        return text

    def new_tag(self):
        tag = "%d.%d" % (self.global_id, self.tag_counter)
        self.tag_counter += 1
        return tag

    def has_cap(self, name):
        return any(aeq(c, name) for c in self.caps)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def _imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mutf7_to_utf8(name):
    out = []
    i = 0
    while i < len(name):
        if name[i] == "&":
            j = name.index("-", i)
            if j == i + 1:
                out.append("&")
            else:
                b64 = name[i + 1:j].replace(",", "/")
                b64 += "=" * (-len(b64) % 4)
                import base64
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            i = j + 1
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _url_path(s):
    from urllib.parse import quote
    return quote(s.encode("utf-8"), safe="/;:@&=+$,-_.!~*'()")


_VAR_CHAR = re.compile(r"[A-Za-z0-9_]*")


class Runner:
    def __init__(self, script, target):
        self.s = script
        self.t = target
        self.r = Result(script.name)
        self.vars = {}
        self.added = []
        self.seqmap = []
        self.modseq_idx = 0
        self.modseq_value = 0
        self.clients = []
        self.source = MboxSource(script.mbox_path)
        self.init_finished = False
        self.group_idx = 0
        self.recent_owner = {}

    # -- failures
    def fail(self, msg, group=None):
        if group is not None and group.commands:
            c = group.commands[0]
            msg = "command %d/%d (line %d) %s: %s" % (
                self.group_idx + 1, len(self.s.groups), c.linenum, c.text[:200], msg)
        elif not self.init_finished:
            msg = "initialization failed: " + msg
        self.r.failures.append(msg)
        self.r.status = "failed"

    # -- variables
    def relative_seq(self, seq):
        if seq == 0:
            return "<zero seq>"
        if seq > len(self.seqmap):
            return "<out of range>"
        if self.seqmap[seq - 1] == 0:
            return "<expunged>"
        return str(self.seqmap[seq - 1])

    def expand_all(self, line, skip_uninitialized=False):
        """Expands $variables in a command line; an unset one fails the test
        (or stays "$" with skip_uninitialized)."""
        out = []
        i = 0
        n = len(line)
        while i < n:
            c = line[i]
            if c != "$" or i == n - 1:
                out.append(c)
                i += 1
                continue
            i += 1
            if line[i] == "$":
                out.append("$")
                i += 1
                continue
            if line[i] == "!":
                while i + 1 < n and line[i + 1] != " ":
                    i += 1
                i += 1
                continue
            if line[i] == "{":
                j = line.find("}", i)
                if j < 0:
                    raise ScriptError("missing '}'")
                name = line[i + 1:j]
                i = j + 1
            else:
                name = _VAR_CHAR.match(line, i).group()
                i += len(name)
            if name.isdigit():
                value = self.relative_seq(int(name))
            else:
                value = self.vars.get(name)
                if value is None:
                    if not skip_uninitialized:
                        raise ScriptError("uninitialized variable: %s" % name)
                    value = "$"
            out.append(value)
        return "".join(out)

    def new_modseq(self, idx, value_str):
        if not value_str.isdigit():
            return "$modseq-not-number"
        value = int(value_str)
        if self.modseq_idx > idx:
            return "$modseq-order-mismatch"
        at_least = self.modseq_value + (idx - self.modseq_idx)
        result = value_str
        if value < at_least:
            result = "$modseq-at-least-%d" % at_least
            value = at_least
        self.modseq_idx = idx
        self.modseq_value = value
        return result

    def expand_input(self, pat, inp):
        """Expands pat against the server's string inp, setting unknown
        variables from it. Returns (expanded, case_insensitive) or None when
        the literal parts already differ."""
        icase = True
        out = []
        i = 0
        k = 0
        n = len(pat)
        while i < n:
            if pat[i] != "$" or pat[i + 1:i + 2] == "$":
                if pat[i] == "$":
                    i += 1
                ch = pat[i]
                if k >= len(inp) or aupper(ch) != aupper(inp[k]):
                    return None
                k += 1
                out.append(ch)
                i += 1
                continue
            i += 1
            if i < n and pat[i] == "{":
                j = pat.find("}", i + 1)
                if j < 0:
                    return "", icase
                name = pat[i + 1:j]
                i = j + 1
            else:
                name = _VAR_CHAR.match(pat, i).group()
                i += len(name)
            if name.isdigit():
                value = self.relative_seq(int(name))
            elif name.startswith("case:"):
                value = name[5:]
                icase = False
            else:
                value = self.vars.get(name) if name else None
                if value is None:
                    rest = pat[i:]
                    if rest.startswith("$"):
                        sub = self.expand_input(rest, inp[k:])
                        stop, sub_icase = (sub if sub is not None else ("", True))
                    else:
                        stop, sub_icase = rest, True
                    p = k
                    if stop:
                        first = stop[0]
                        while p < len(inp) and (aupper(inp[p]) != aupper(first) if sub_icase
                                                else inp[p] != first):
                            p += 1
                    else:
                        p = len(inp)
                    captured = inp[k:p]
                    if name == "":
                        value = captured
                    elif name.startswith("modseq") and name[6:].isdigit():
                        value = self.new_modseq(int(name[6:]), captured)
                        self.vars[name] = value
                    else:
                        value = captured
                        self.vars[name] = value
                        self.added.append(name)
            out.append(value)
            for ch in value:
                if k >= len(inp) or inp[k] != ch:
                    return None
                k += 1
        return "".join(out), icase

    # -- matching (imaptest's test_imap_match_args / test_imap_match_list)
    def match_args(self, match, args, max_=None, prefix=False):
        """Returns True on a full match, else the count of arguments that
        matched (for the "best match" in failure messages)."""
        ret = 0
        mi = 0
        ai = 0
        limit = len(match) if max_ is None else min(len(match), max_)
        while mi < limit:
            m = match[mi]
            a = args[ai] if ai < len(args) else None
            if m.type == NIL:
                if a is None or a.type != NIL:
                    return ret
            elif m.type in (ATOM, STRING, LITERAL):
                if m.value == "$" and a is not None and a.type == LIST:
                    pass
                elif m.value == "$]":
                    while ai < len(args) and args[ai].type == ATOM and "]" not in args[ai].value:
                        ai += 1
                else:
                    astr = a.astring() if a is not None else None
                    if astr is None:
                        return ret
                    res = self.expand_input(m.value, astr)
                    if res is None:
                        return ret
                    mstr, icase = res
                    last = mi == len(match) - 1
                    if prefix and last:
                        head = astr[:len(mstr)]
                        if (aupper(head) != aupper(mstr)) if icase else head != mstr:
                            return ret
                    elif (aupper(astr) != aupper(mstr)) if icase else astr != mstr:
                        return ret
            elif m.type == LIST:
                if a is None or a.type != LIST:
                    return ret
                sub = self.match_list(m.value, a.value)
                if sub is not True:
                    return ret + sub
            ret += 1
            mi += 1
            ai += 1
        if prefix or ai >= len(args) or (max_ is not None and mi >= max_):
            return True
        return ret

    def match_list(self, match, args):
        unordered = False
        chain = 1
        noextra = None
        ignores = []
        bans = []
        i = 0
        while i < len(match) and match[i].type == ATOM and match[i].value.startswith("$!"):
            d = match[i].value[2:]
            if d.startswith("unordered"):
                unordered = True
                if noextra is None:
                    noextra = False
                if d[9:10] == "=":
                    chain = int(d[10:])
            elif d == "ordered":
                unordered = False
            elif d == "extra":
                noextra = False
            elif d == "noextra":
                noextra = True
            elif d.startswith("ignore="):
                ignores.append(d[7:])
            elif d.startswith("ban="):
                bans.append(d[4:])
            i += 1
        match = match[i:]
        if noextra is None:
            noextra = True
        if not unordered:
            return self.match_args(match, args)
        if len(args) % chain != 0:
            return 0
        matched = [False] * len(args)
        ret = 0
        for mi in range(0, len(match), chain):
            for ai in range(0, len(args), chain):
                if self.match_args(match[mi:mi + chain], args[ai:ai + chain], chain) is True:
                    matched[ai] = True
                    break
            else:
                return ret
            ret += 1
        for ai in range(0, len(args), chain):
            if matched[ai]:
                continue
            s = args[ai].astring()
            if s is None:
                continue
            if noextra:
                if not any(aeq(x, s) for x in ignores):
                    return ret
            elif bans and any(aeq(x, s) for x in bans):
                return ret
        return True

    # -- session
    def connect_all(self):
        for i in range(self.s.connections):
            c = Client(self.t, i, self.r)
            self.clients.append(c)
            banner = c.read_response()
            args = parse_reply(banner)
            if not banner.upper().startswith("* OK ") and not banner.upper().startswith("* PREAUTH "):
                self.fail("malformed banner %r" % banner)
                raise Abort()
            m = re.search(r"\[CAPABILITY ([^\]]*)\]", banner, re.I)
            if m:
                c.caps = m.group(1).split()
            else:
                self.simple(c, "CAPABILITY")
            c.banner_args = args[1:]

    def simple(self, c, cmdline, allow_no=False):
        """Sends a setup command and waits for its tagged reply; untagged
        replies update the client's state. Returns (status, reply args)."""
        tag = c.new_tag()
        res = self.send_command_line(c, tag, cmdline)
        while not isinstance(res, tuple):
            res = self.handle_response(c, c.read_response(), {tag: None}, None)
        st, args = res
        if st != "OK" and not (allow_no and st == "NO"):
            self.fail("%s (tag %s) failed: %s" % (cmdline.split("\r\n")[0][:100], tag,
                                                  args_to_str(args)))
            raise Abort()
        return st, args

    def handle_untagged_state(self, c, args):
        """What imaptest's client tracks from untagged replies, and the
        protocol rules it checks with them: the message count (EXISTS never
        shrinks without EXPUNGE, RFC 3501 7.3.1; EXPUNGE names an existing
        message, 7.4.1), \\Recent given to one session only (2.3.2),
        capabilities, BYE."""
        if not args or args[0].type != ATOM:
            return
        first = aupper(args[0].value)
        if first.isdigit() and len(args) > 1 and args[1].type == ATOM:
            num = int(first)
            what = aupper(args[1].value)
            if what == "EXISTS":
                if num < c.count:
                    self.protocol_error("message count dropped %d -> %d without EXPUNGE"
                                        % (c.count, num))
                c.count = num
            elif what == "EXPUNGE":
                if num == 0 or num > c.count:
                    self.protocol_error("tried to expunge sequence %d with only %d messages"
                                        % (num, c.count))
                else:
                    c.count -= 1
            elif what == "FETCH" and len(args) > 2 and args[2].type == LIST:
                self.check_recent(c, args[2].value)
        elif first == "BYE":
            c.seen_bye = True
        elif first == "CAPABILITY":
            c.caps = [a.value for a in args[1:] if a.type == ATOM]
            c.postlogin_caps = True
        elif first == "VANISHED":
            rest = args[1:]
            if rest and rest[0].type == LIST:
                return
            if rest and rest[0].type == ATOM:
                c.count -= _seqset_count(rest[0].value)

    def check_recent(self, c, items):
        uid = flags = None
        for i in range(0, len(items) - 1, 2):
            key = aupper(items[i].value) if items[i].type == ATOM else ""
            if key == "UID":
                uid = items[i + 1].value
            elif key == "FLAGS" and items[i + 1].type == LIST:
                flags = [aupper(f.value) for f in items[i + 1].value if f.type == ATOM]
        if uid is None or flags is None or "\\RECENT" not in flags:
            return
        owner = self.recent_owner.setdefault((c.mailbox, uid), c.idx)
        if owner != c.idx:
            self.protocol_error("UID %s of %s is \\Recent in sessions %d and %d"
                                % (uid, c.mailbox, owner + 1, c.idx + 1))

    def protocol_error(self, msg):
        group = self.s.groups[self.group_idx] if self.init_finished else None
        self.fail(msg, group)

    def handle_response(self, c, text, pending, group):
        """Processes one server response on c. Returns (status, args) when it
        is the tagged reply to one of pending's tags, "+" for a continuation,
        else None."""
        if text.startswith("+"):
            return "+"
        tag, _, rest = text.partition(" ")
        if tag == "*":
            args = parse_reply(rest)
            self.handle_untagged_state(c, args)
            if group is not None:
                self.match_untagged(c, args, group)
                if (len(args) > 1 and args[0].type == ATOM and args[0].value.isdigit()
                        and args[1].type == ATOM and aeq(args[1].value, "EXPUNGE")):
                    self.seqmap_expunge(int(args[0].value))
            elif self.listing is not None and len(args) >= 4 and args[1].type == LIST:
                name = args[3].astring()
                kind = aupper(args[0].value) if args[0].type == ATOM else ""
                if name is not None and kind in ("LIST", "LSUB"):
                    self.listing[kind].append(name)
            return None
        if tag not in pending:
            self.fail("unexpected tagged reply: %s" % text[:200], group)
            return None
        args = parse_reply(rest)
        st = aupper(args[0].value) if args and args[0].type == ATOM else ""
        if st == "OK" and len(args) > 1 and args[1].type == ATOM and aeq(args[1].value, "[CAPABILITY"):
            caps = []
            for a in args[2:]:
                if a.type != ATOM:
                    break
                caps.append(a.value.rstrip("]"))
                if a.value.endswith("]"):
                    break
            c.caps = [x for x in caps if x]
            c.postlogin_caps = True
        return st, args

    def seqmap_expunge(self, seq):
        if seq > len(self.seqmap):
            return
        for i in range(seq - 1, len(self.seqmap)):
            if self.seqmap[i] >= seq:
                if self.seqmap[i] == seq:
                    self.seqmap[i] = 0
                else:
                    self.seqmap[i] -= 1

    def send_command_line(self, c, tag, cmdline, wait=None):
        """Sends "tag cmdline" CRLF. Literals in cmdline ({N} CRLF data) go
        as LITERAL+ when the server has it, else after its "+" continuation.
        wait(c) reads responses until a continuation: it returns True then,
        and something else when the command ended instead, which is what this
        returns (True once the whole command is sent)."""
        parts = _split_literals(cmdline)
        plus = self.t.literal_plus and c.has_cap("LITERAL+")
        data = tag + " "
        for text, lit in parts:
            if lit is None:
                data += text
                break
            size, binary, data_lit = lit
            head = "%s{%d%s}\r\n" % ("~" if binary else "", size, "+" if plus else "")
            if plus:
                data += text + head + data_lit
                continue
            c.send(data + text + head)
            cont = wait(c) if wait else self.wait_continuation(c, tag)
            if cont is not True:
                return cont
            data = data_lit
        c.send(data + "\r\n")
        return True

    def wait_continuation(self, c, tag):
        """Reads setup responses until "+" (True) or tag's tagged reply
        (returned as (status, args))."""
        while True:
            res = self.handle_response(c, c.read_response(), {tag: None}, None)
            if res == "+":
                return True
            if res is not None:
                return res

    # -- startup
    def startup(self):
        s = self.s
        self.listing = None
        self.connect_all()
        c0 = self.clients[0]
        users = []
        for i in range(s.connections):
            name = s.usernames.get(i)
            if name in ("$user2", "${user2}"):
                users.append((self.t.user2, self.t.password2))
            elif name is not None:
                users.append((name, self.t.password))
            else:
                users.append((self.t.user, self.t.password))
        for i, (user, password) in enumerate(users):
            key = "" if i == 0 else str(i + 1)
            if user is None:
                continue
            self.vars["user" + key] = user
            self.vars["username" + key] = user.split("@")[0]
            self.vars["domain" + key] = user.split("@", 1)[1] if "@" in user else self.t.host
            self.vars["password" + key] = password
        self.vars["mailbox"] = self.t.mailbox
        self.vars["mailbox_url"] = _url_path(_mutf7_to_utf8(self.t.mailbox))
        if s.require_user2 and self.t.user2 is None:
            return "no second user configured for `user 2: $user2`"
        if s.state == "nonauth":
            missing = [cap for cap in s.capabilities if not c0.has_cap(cap)]
            if missing:
                return "server lacks capability " + " ".join(missing)
            return None
        for c, (user, password) in zip(self.clients, users):
            self.simple(c, "LOGIN %s %s" % (_imap_quote(user), _imap_quote(password)))
        if not c0.postlogin_caps:
            self.simple(c0, "CAPABILITY")
        missing = [cap for cap in s.capabilities if not c0.has_cap(cap)]
        if missing:
            return "server lacks capability " + " ".join(missing)
        mask = _imap_quote(self.t.mailbox + "*")
        self.listing = {"LIST": [], "LSUB": []}
        self.simple(c0, 'LIST "" %s' % mask)
        self.simple(c0, 'LSUB "" %s' % mask)
        listing, self.listing = self.listing, None
        for name in sorted(set(listing["LIST"]), key=aupper, reverse=True):
            self.simple(c0, "DELETE %s" % _imap_quote(name), allow_no=True)
        for name in sorted(set(listing["LSUB"]), key=aupper, reverse=True):
            self.simple(c0, "UNSUBSCRIBE %s" % _imap_quote(name), allow_no=True)
        if STATES.index(s.state) >= STATES.index("created"):
            if not aeq(self.t.mailbox, "INBOX"):
                self.simple(c0, "CREATE %s" % _imap_quote(self.t.mailbox))
        if STATES.index(s.state) >= STATES.index("appended"):
            left = s.message_count
            while left > 0 and (not self.source.eof() or s.message_count != ALL):
                self.append_from_source(c0, _imap_quote(self.t.mailbox), True, None)
                left -= 1
        if s.state == "selected":
            for c, (user, _) in zip(self.clients, users):
                if user != users[0][0] and not aeq(self.t.mailbox, "INBOX"):
                    # another account (`user N:`) needs the mailbox too
                    self.simple(c, "CREATE %s" % _imap_quote(self.t.mailbox), allow_no=True)
            for c in self.clients:
                self.simple(c, "SELECT %s" % _imap_quote(self.t.mailbox))
        return None

    def append_from_source(self, c, args, add_date, group, tag=None):
        """APPEND args [date] {size} with the next message of the mbox. Without
        a group it waits for the reply (setup); in a group it returns the tag."""
        msg, date = self.source.next()
        cmdline = "APPEND " + args
        if add_date:
            cmdline += ' "%s"' % date
        size = len(msg.encode("latin-1"))
        cmdline += " {%d}\r\n%s" % (size, msg)
        if group is None:
            return self.simple(c, cmdline)
        self.send_command_line(c, tag, cmdline, wait=lambda cl: self.wait_in_group(cl, group))
        return tag

    # -- command groups
    def run(self):
        try:
            reason = self.startup()
            if reason is not None:
                self.r.status = "skipped"
                self.r.reason = reason
                for c in self.clients:
                    try:
                        c.send("%s LOGOUT\r\n" % c.new_tag())
                    except Disconnected:
                        pass
                return self.r
            self.init_finished = True
            for self.group_idx, group in enumerate(self.s.groups):
                self.run_group(group)
        except Abort:
            pass
        except Disconnected as e:
            self.fail("unexpected disconnection: %s" % e,
                      self.s.groups[self.group_idx] if self.init_finished else None)
        except ScriptError as e:
            self.fail(str(e))
        finally:
            for c in self.clients:
                c.close()
        if self.r.failures:
            self.r.status = "failed"
            self.r.reason = self.r.failures[0].split("\n")[0]
        return self.r

    def run_group(self, group):
        c = self.clients[group.conn]
        self.found = [False] * len(group.untagged)
        self.maybes = [(0, None)] * len(group.untagged)
        self.mismatches = 0
        self.first_extra = None
        self.seqmap = list(range(1, c.count + 1))
        self.pending = {}
        if not group.commands:
            # banner check
            self.match_untagged(c, c.banner_args, group)
            self.group_finished(group)
            return
        try:
            for cmd in group.commands:
                cmd.sent_tag = c.new_tag()
                self.pending[cmd.sent_tag] = cmd
                self.send_test_command(c, group, cmd)
            while self.pending:
                text = c.read_response()
                self.take_response(c, group, text)
        except Disconnected as e:
            if group.have_bye and c.seen_bye:
                for cmd in group.commands:
                    if cmd.sent_tag in self.pending and not (
                            len(cmd.reply) == 1 and cmd.reply[0].value == ""):
                        self.fail("command expected '%s' as tagged reply - only \"\" allowed "
                                  "when BYE happens" % args_to_str(cmd.reply), group)
                self.group_finished(group)
                return
            self.fail("unexpected disconnection: %s" % e, group)
            raise Abort()
        self.group_finished(group)

    def take_response(self, c, group, text):
        res = self.handle_response(c, text, self.pending, group)
        if res is None or res == "+":
            return
        st, args = res
        tag = text.split(" ", 1)[0]
        cmd = self.pending.pop(tag)
        self.vars["tag"] = tag
        ok = self.match_args(cmd.reply, args, prefix=True)
        self.vars.pop("tag", None)
        if ok is not True:
            self.fail("expected tagged reply '%s', got '%s'" % (
                args_to_str(cmd.reply), text[len(tag) + 1:][:300]), group)
        if aupper(cmd.text.split(" ", 1)[0]) in ("SELECT", "EXAMINE") and st != "OK":
            c.count = 0
        if aupper(cmd.text.split(" ", 1)[0]) in ("CLOSE", "UNSELECT") and st == "OK":
            c.count = 0

    def wait_in_group(self, c, group):
        """Reads responses of the running group until a continuation; False if
        the command waiting for it got its tagged reply instead."""
        while True:
            text = c.read_response()
            if text.startswith("+"):
                return True
            tag = text.split(" ", 1)[0]
            self.take_response(c, group, text)
            if tag == self.current_send_tag:
                return False

    def send_test_command(self, c, group, cmd):
        line = self.expand_all(cmd.text)
        self.current_send_tag = cmd.sent_tag
        low = line.lower()
        if low == "append":
            self.append_from_source(c, _imap_quote(self.t.mailbox), True, group, cmd.sent_tag)
            return
        if low.startswith("append ") and not _append_has_body(line[7:]):
            self.append_from_source(c, line[7:], False, group, cmd.sent_tag)
            return
        if aupper(line.split(" ", 1)[0]) in ("SELECT", "EXAMINE"):
            try:
                name = parse_args(line.split(" ", 1)[1])[0].astring()
            except (ParseError, IndexError):
                name = None
            if name is not None:
                c.mailbox = name
            c.count = 0
        self.send_command_line(c, cmd.sent_tag, line, wait=lambda cl: self.wait_in_group(cl, group))

    def match_untagged(self, c, args, group):
        if not group.untagged:
            if self.s.ignore_extra_untagged or (group.commands and group.commands[0].text.lower() == "logout"):
                return
        prefix = bool(args and args[0].type == ATOM and aupper(args[0].value) in ("OK", "NO", "BAD", "BYE"))
        tag = group.commands[0].sent_tag if group.commands else None
        self.added = []
        found_some = False
        for i, ut in enumerate(group.untagged):
            if self.found[i]:
                continue
            if tag is not None:
                self.vars["tag"] = tag
            res = self.match_args(ut.args, args, prefix=prefix)
            if tag is not None:
                self.vars.pop("tag", None)
            if res is True:
                if ut.existence == MUST_NOT:
                    self.fail("unexpected untagged match:\n - match: %s\n - reply: %s" % (
                        args_to_str(ut.args), args_to_str(args)[:3000]), group)
                    return
                self.found[i] = True
                found_some = True
                self.added = []
                if group.ordered:
                    break
                continue
            if self.maybes[i][0] < res:
                self.maybes[i] = (res, args_to_str(args)[:3000])
            for name in self.added:
                self.vars.pop(name, None)
            self.added = []
            if group.ordered and ut.existence == MUST:
                break
        if not found_some:
            self.mismatches += 1
            if not self.s.ignore_extra_untagged and self.first_extra is None:
                self.first_extra = args_to_str(args)[:3000]

    def group_finished(self, group):
        missing = [i for i, ut in enumerate(group.untagged)
                   if ut.existence == MUST and not self.found[i]]
        if missing:
            ut = group.untagged[missing[0]]
            try:
                expanded = self.expand_all(args_to_str(ut.args), skip_uninitialized=True)
            except ScriptError:
                expanded = ""
            self.fail("missing %d untagged replies (%d mismatches)\n - first unexpanded: %s\n"
                      " - first expanded: %s\n - best match: %s" % (
                          len(missing), self.mismatches, ut.line[:3000], expanded[:3000],
                          self.maybes[missing[0]][1] or ""), group)
        if self.first_extra is not None:
            self.fail("%d unexpected untagged replies received, first: %s" % (
                self.mismatches, self.first_extra), group)
        for out in group.output:
            self.r.log.append("output: " + self.expand_all(out, skip_uninitialized=True))
        if group.sleep:
            time.sleep(group.sleep)


def _seqset_count(s):
    n = 0
    for part in s.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
            if a.isdigit() and b.isdigit():
                n += abs(int(b) - int(a)) + 1
        elif part.isdigit():
            n += 1
    return n


def _split_literals(cmdline):
    """Splits a command line at its literals: [(text before, (size, binary,
    data)), ..., (rest, None)]. A literal is "{N}" (or "{N+}", "~{N}") at a
    line end, after a space, followed by N bytes."""
    parts = []
    pos = 0
    rx = re.compile(r" (~?)\{(\d+)\+?\}\r?\n")
    while True:
        m = rx.search(cmdline, pos)
        if not m:
            parts.append((cmdline[pos:], None))
            return parts
        size = int(m.group(2))
        start = m.end()
        data = cmdline[start:start + size]
        parts.append((cmdline[pos:m.start() + 1], (size, m.group(1) == "~", data)))
        pos = start + size


def _append_has_body(args_text):
    """Whether "APPEND <args_text>" carries its own message (a literal or
    CATENATE) rather than asking for the next one from the mbox."""
    try:
        args = parse_args(args_text)
    except ParseError:
        return False
    if not args:
        return False
    i = 0
    if i + 1 < len(args) and args[i + 1].type == LIST:
        i += 1
    if i + 1 < len(args) and args[i + 1].type == STRING:
        i += 1
    if i + 1 >= len(args):
        return False
    a = args[i + 1]
    return a.type == LITERAL or (a.type == ATOM and aeq(a.value, "catenate"))


def list_scripts(directory):
    """The script paths in directory, sorted (NAME.mbox files and
    subdirectories are not scripts)."""
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or name.endswith(".mbox") or os.path.isdir(path):
            continue
        out.append(path)
    return out


def run_script(path, target, environ=None):
    """Runs the script at path against target; returns a Result."""
    try:
        script = load_script(path, environ)
    except ScriptError as e:
        r = Result(os.path.basename(path))
        r.status = "failed"
        r.reason = "script error: %s" % e
        r.failures.append(r.reason)
        return r
    try:
        return Runner(script, target).run()
    except (OSError, ssl.SSLError) as e:
        r = Result(script.name)
        r.status = "failed"
        r.reason = "cannot talk to the server: %s" % e
        r.failures.append(r.reason)
        return r
