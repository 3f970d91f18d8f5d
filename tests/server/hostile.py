#!/usr/bin/env python3
"""hostile -- hostile and malformed HTTP at a gpush endpoint, over raw sockets.

curl and http.client normalise what they send (header names, lengths,
chunking), so every request here is written byte by byte.

    hostile.py cases --url http://127.0.0.1:PORT/PATH --registry REG \
                     --log LOG --label NAME [--prompt 5] [--table FILE]
        sends every case once, on its own connection, and prints
        "PASS: what", "FAIL: what", "TODO: what -- why" (a known failure;
        "TODO-PASS:" when it passes after all) and "# ..." lines, which
        tests/server/hostile.t turns into TAP.  A case passes when its
        status is one it allows, the answer starts within --prompt seconds
        (also when the declared body never arrives), and nothing of it is
        logged.  Three controls (a clean notification, one whose body comes
        late, the longest id and token) must be accepted and logged once.
        --table appends "label<TAB>case<TAB>status<TAB>seconds" rows.

    hostile.py legit --url ... --registry REG --log LOG --label NAME \
                     --duration 3 --number-base 1000 [--timeout 5]
        sends genuine notifications, each once and never retried, for
        --duration seconds (while something else attacks the server), then
        checks that every one got 2xx within --timeout seconds and that
        every acknowledged one is in the log once and none twice.

    hostile.py table FILE
        the --table rows as one table: a line per case, a column per label.

Only loopback targets are accepted.  Python 3 standard library only.
"""

import argparse
import ipaddress
import json
import socket
import sys
import threading
import time
import urllib.parse

# The X-Goog-* headers Google sends (tests/sender/gsender.py, the guides).
GOOG = ("X-Goog-Channel-ID", "X-Goog-Channel-Token",
        "X-Goog-Channel-Expiration", "X-Goog-Resource-ID",
        "X-Goog-Resource-URI", "X-Goog-Resource-State",
        "X-Goog-Message-Number", "X-Goog-Changed")
REQUIRED = ("X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-URI",
            "X-Goog-Resource-State", "X-Goog-Message-Number")


def out(kind, what, diags=()):
    print("%s: %s" % (kind, what))
    for d in list(diags)[:12]:
        print("# " + str(d).replace("\n", " "))
    sys.stdout.flush()


def target(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        sys.exit("hostile: not an http URL: %s" % url)
    if not ipaddress.ip_address(socket.gethostbyname(u.hostname)).is_loopback:
        sys.exit("hostile: only loopback targets: %s" % url)
    return u.hostname, u.port or 80, u.path or "/"


def read_registry(path):
    chans = []
    for line in open(path):
        line = line.strip()
        if line:
            chans.append(json.loads(line))
    return chans


def read_log(path):
    recs = []
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        return recs, b""
    for line in raw.split(b"\n"):
        if line.strip():
            try:
                recs.append(json.loads(line.decode("utf-8")))
            except ValueError:
                recs.append({"unparsable": line[:200].decode("latin-1")})
    return recs, raw


def exchange(host, port, raw, wait, hold=0.0):
    """Sends raw on a new connection, returns (status or None, seconds to
    the status line, first bytes of the answer).  The connection stays
    open (the rest of a declared body never comes) until the status line
    arrives or wait runs out."""
    t0 = time.monotonic()
    data = b""
    try:
        s = socket.create_connection((host, port), timeout=wait)
    except OSError as e:
        return None, 0.0, ("connect: %s" % e).encode()
    try:
        try:
            s.sendall(raw)
        except OSError:
            pass                    # answered and closed while we sent
        if hold:
            time.sleep(hold)
        t0 = time.monotonic()
        while b"\r\n" not in data:
            left = wait - (time.monotonic() - t0)
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(4096)
            except socket.timeout:
                break
            except OSError as e:
                data += ("<%s>" % e.__class__.__name__).encode()
                break
            if not d:
                break
            data += d
    finally:
        s.close()
    took = time.monotonic() - t0
    parts = data.split(b" ", 2)
    if data.startswith(b"HTTP/") and len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1]), took, data
    return None, took, data


# ---- the cases -------------------------------------------------------------

class Req:
    """A notification as a list of header lines, to be spoiled."""

    def __init__(self, ctx, ch, number, body=b"{}"):
        self.ctx = ctx
        self.method, self.version = b"POST", b"HTTP/1.1"
        self.h = [
            [b"Host", b"127.0.0.1"],
            [b"User-Agent", b"APIs-Google"],
            [b"Content-Type", b"application/json; charset=UTF-8"],
            [b"X-Goog-Channel-ID", ch["id"].encode()],
            [b"X-Goog-Channel-Token", ch["token"].encode()],
            [b"X-Goog-Resource-ID", ch["resourceId"].encode()],
            [b"X-Goog-Resource-URI", ch["resourceUri"].encode()],
            [b"X-Goog-Resource-State", b"exists"],
            [b"X-Goog-Message-Number", str(number).encode()],
            [b"X-Goog-Channel-Expiration",
             b"Tue, 01 Dec 2099 00:00:00 GMT"],
            [b"X-Goog-Changed", b"content"],
        ]
        self.body = body
        self.cl = b"auto"           # b"auto", None (no header) or bytes
        self.send = None            # bytes of the body actually sent

    def get(self, name):
        for k, v in self.h:
            if k.lower() == name.lower().encode():
                return v
        return None

    def set(self, name, value):
        for kv in self.h:
            if kv[0].lower() == name.lower().encode():
                kv[1] = value
                return self
        self.h.append([name.encode(), value])
        return self

    def drop(self, name):
        self.h = [kv for kv in self.h if kv[0].lower() != name.lower().encode()]
        return self

    def add(self, name, value, before=None):
        line = [name if isinstance(name, bytes) else name.encode(), value]
        if before is None:
            self.h.append(line)
        else:
            i = [k.lower() for k, _ in self.h].index(before.lower().encode())
            self.h.insert(i, line)
        return self

    def bytes(self):
        h = list(self.h)
        if self.cl == b"auto":
            h.append([b"Content-Length", str(len(self.body)).encode()])
        elif self.cl is not None:
            h.append([b"Content-Length", self.cl])
        h.append([b"Connection", b"close"])
        head = b"%s %s %s\r\n" % (self.method, self.ctx.path.encode(),
                                  self.version)
        head += b"".join(k + b": " + v + b"\r\n" for k, v in h) + b"\r\n"
        return head + (self.body if self.send is None else self.send)


class Case:
    def __init__(self, name, req, allow, withheld=False, todo=None, wait=None):
        self.name, self.req, self.allow = name, req, allow
        self.withheld, self.todo, self.wait = withheld, todo or {}, wait
        self.number = None


def s4xx(*codes, also=()):
    """A status check: one of codes (any 4xx when none are given) or of
    also."""
    def ok(st):
        return st is not None and (st in also or (
            st in codes if codes else 400 <= st < 500))
    ok.text = "/".join(map(str, codes)) if codes else "4xx"
    ok.text += "".join("/%d" % c for c in also)
    return ok


class Ctx:
    def __init__(self, a):
        self.host, self.port, self.path = target(a.url)
        chans = read_registry(a.registry)
        live = [c for c in chans if c.get("token") and c["id"] != "old"]
        self.ch = live[0]               # every case aims at this channel
        self.long = [c for c in chans if len(c["id"]) == 64]
        self.number = int(time.time() * 1000)   # unused by other tests
        self.cases = []
        self.lighttpd = a.label.startswith("lighttpd")

    def chunked(self, other=411):
        """A chunked body: what README and the templates document.  Apache
        (its <If> in both templates) and the handler answer 411; behind
        conf/lighttpd.conf it is 403, because lighttpd de-chunks the body
        before the handler sees it and url.access-deny, the only refusal
        its configuration has without mod_magnet, answers 403.  With both
        Transfer-Encoding and Content-Length lighttpd itself answers 400
        (other)."""
        return s4xx(other if self.lighttpd and other != 411 else
                    403 if self.lighttpd else 411)

    def req(self, ch=None, body=b"{}"):
        self.number += 1
        r = Req(self, ch or self.ch, self.number, body)
        r.number = self.number
        return r

    def case(self, name, r, allow, **kw):
        c = Case(name, r, allow, **kw)
        c.number = r.number
        self.cases.append(c)
        return c


def withhold(r, declared=b"100", sent=b""):
    """The body is declared but never (fully) sent."""
    r.cl, r.send = declared, sent
    return r


def build_cases(x):
    ch = x.ch
    tok = ch["token"].encode()
    # ---- decided from the headers: the body never arrives --------------
    x.case("Proxy: header (httpoxy), body withheld",
           withhold(x.req().add("Proxy", b"http://127.0.0.1:9/")),
           s4xx(400, 403), withheld=True)
    x.case("Proxy: header, whole body",
           x.req().add("Proxy", b"http://127.0.0.1:9/"), s4xx(400, 403))
    for cl, allow in ((b"65537", s4xx(413)), (b"70000", s4xx(413)),
                      (b"0000065537", s4xx(413, 400)),
                      (b"1048576", s4xx(413)),
                      (b"1000000000000", s4xx(413)),
                      (b"99999999999999999999999999", s4xx(413, 400))):
        x.case("Content-Length %s, body withheld" % cl.decode(),
               withhold(x.req(), cl), allow, withheld=True)
    for cl in (b"-1", b"+2", b"2x", b"0x10", b"1e3", b"2, 2"):
        x.case("Content-Length %r" % cl.decode(), withhold(x.req(), cl, b"{}"),
               s4xx(400), withheld=True)
    # Blank once the servers strip the white space: as good as missing.
    x.case("Content-Length ' '", withhold(x.req(), b" ", b"{}"),
           s4xx(400, 411), withheld=True)
    r = x.req()
    r.cl = None
    r.h += [[b"Content-Length", b"2"], [b"Content-Length", b"3"]]
    r.send = b"{} "
    x.case("two different Content-Length headers", r, s4xx(400))
    r = x.req()
    r.cl = None
    r.h += [[b"Content-Length", b"2"], [b"Content-Length", b"2"]]
    x.case("Content-Length twice (the same)", r, s4xx(400))
    r = x.req()
    r.cl, r.send = None, b""
    x.case("POST without Content-Length, no body", r, s4xx(411))
    r = x.req()
    r.cl, r.version = None, b"HTTP/1.0"
    x.case("HTTP/1.0 POST without Content-Length, body until close", r,
           s4xx(411))
    r = x.req()
    r.cl = None
    r.add("Transfer-Encoding", b"chunked")
    r.send = b"2\r\n{}\r\n0\r\n\r\n"
    x.case("chunked body, whole", r, x.chunked())
    r = x.req()
    r.cl = None
    r.add("Transfer-Encoding", b"chunked")
    r.send = b"10\r\n{\"a\":"
    x.case("chunked body, never finished", r, x.chunked(),
           withheld=True)
    r = x.req()
    r.cl = b"2"
    r.add("Transfer-Encoding", b"chunked")
    r.send = b"2\r\n{}\r\n0\r\n\r\n"
    x.case("chunked body with Content-Length (smuggling)", r,
           x.chunked(other=400))
    for te in (b"gzip, chunked", b"identity", b"chunked, chunked"):
        r = x.req()
        r.cl = None
        r.add("Transfer-Encoding", te)
        r.send = b"2\r\n{}\r\n0\r\n\r\n"
        # 501 is what RFC 9112 6.1 prescribes for a coding not understood.
        x.case("Transfer-Encoding: %s" % te.decode(), r, s4xx(also=(501,)))
    # Control bytes: refused by the servers' header parsers before anything.
    for name in GOOG:
        for b, what in ((b"\x01", "\\x01"), (b"\x7f", "DEL"),
                        (b"\x00", "NUL"), (b"\r", "bare CR")):
            r = withhold(x.req())
            r.set(name, (r.get(name) or b"x") + b + b"x")
            x.case("%s in %s, body withheld" % (what, name), r, s4xx(400),
                   withheld=True)
    r = withhold(x.req())
    r.set("User-Agent", b"a\x1bb")
    x.case("ESC in User-Agent, body withheld", r, s4xx(400), withheld=True)
    for nm, what in ((b"X-Goog-Channel-Token\x01", "\\x01"),
                     (b"X-Goog-Channel-\xffToken", "\\xff"),
                     (b"X-Goog-Channel-Token ", "a space")):
        r = withhold(x.req()).drop("X-Goog-Channel-Token")
        r.add(nm, tok)
        x.case("%s in a header name, body withheld" % what, r, s4xx(400),
               withheld=True)
    r = withhold(x.req())
    r.set("X-Goog-Channel-Token", b"t" * 9000)
    x.case("token of 9000 bytes (over the servers' field limit), body "
           "withheld", r, s4xx(400, 413, 431), withheld=True)

    # ---- header names with "_" (or other punctuation) -----------------
    spell = {"_": lambda n: n.replace("-", "_"),
             "mixed": lambda n: n.replace("-", "_", 2).lower(),
             "one": lambda n: n[::-1].replace("-", "_", 1)[::-1]}
    for how, f in sorted(spell.items()):
        r = x.req().drop("X-Goog-Channel-Token")
        r.add(f("X-Goog-Channel-Token"), tok)
        x.case("only %s with the right token (never authenticates)"
               % f("X-Goog-Channel-Token"), r, s4xx(401, 403))
    r = x.req().set("X-Goog-Channel-Token", b"wrong")
    r.add("X_Goog_Channel_Token", tok)
    x.case("X-Goog-Channel-Token: wrong, then X_Goog_Channel_Token: right",
           r, s4xx(401, 403))
    r = x.req().set("X-Goog-Channel-Token", b"wrong")
    r.add("X_Goog_Channel_Token", tok, before="X-Goog-Channel-Token")
    x.case("X_Goog_Channel_Token: right, then X-Goog-Channel-Token: wrong",
           r, s4xx(401, 403))
    for name in REQUIRED:
        r = x.req()
        v = r.get(name)
        r.drop(name).add(name.replace("-", "_"), v)
        x.case("only %s (the required header misspelt)"
               % name.replace("-", "_"), r, s4xx(400, 403))
    gap = {"lighttpd": "lighttpd maps every byte that is not a letter or "
           "digit in a header name to '_' (http_cgi_encode_varname); the "
           "template refuses only the '_' spellings"}
    for alias in ("X.Goog.Channel.Token", "X-Goog-Channel~Token"):
        r = x.req().drop("X-Goog-Channel-Token")
        r.add(alias, tok)
        x.case("only %s with the right token (never authenticates)" % alias,
               r, s4xx(401, 403), todo=gap)
    # Both spellings reach the handler as one parameter twice: refused.
    r = x.req().set("X-Goog-Channel-Token", b"wrong")
    r.add("X.Goog.Channel.Token", tok, before="X-Goog-Channel-Token")
    x.case("X.Goog.Channel.Token: right, then X-Goog-Channel-Token: wrong",
           r, s4xx(400, 401, 403))

    # ---- merged headers (a proxy joins repeated fields with ", ") -------
    r = x.req()
    r.add("X-Goog-Channel-Token", tok)
    x.case("token sent twice (merged to \"t, t\")", r, s4xx(401))
    r = x.req()
    r.add("X-Goog-Channel-Token", b"wrong", before="X-Goog-Channel-Token")
    x.case("token sent twice, wrong then right", r, s4xx(401))
    r = x.req()
    r.add("X-Goog-Message-Number", str(r.number + 1).encode())
    x.case("message number sent twice (merged to \"n, n+1\")", r, s4xx(400))
    r = x.req()
    r.set("X-Goog-Message-Number", b"%d, %d" % (r.number, r.number + 1))
    x.case("message number \"n, n+1\" in one header", r, s4xx(400))
    r = x.req()
    r.add("X-Goog-Channel-ID", ch["id"].encode())
    x.case("channel id sent twice", r, s4xx(400, 404))
    r = x.req()
    r.add("X-Goog-Channel-Expiration", b"Tue, 01 Dec 2099 00:00:00 GMT")
    x.case("channel expiration sent twice", r, s4xx(400))

    # ---- bytes the servers pass and the handler must refuse -------------
    # (Inside the value: the servers strip white space at its ends.)
    bad = ((b"\xff", "\\xff"), (b"\xc0\xaf", "overlong '/'"),
           (b"\xed\xa0\x80", "a surrogate"), (b"\xe2\x82", "a cut sequence"),
           (b"\xf4\x90\x80\x80", "beyond U+10FFFF"), (b"\t", "TAB"))
    for name in GOOG:
        for b, what in bad:
            r = x.req()
            r.set(name, (r.get(name) or b"x") + b + b"x")
            x.case("%s in %s" % (what, name), r, s4xx(400))
    # U+0085 (NEL) is valid UTF-8 without a control byte, but a C1 control:
    # Python's str.splitlines() (and other readers of Unicode line breaks)
    # would split a log line there, so the handler refuses C1 controls.
    for name in ("X-Goog-Resource-State", "X-Goog-Resource-URI"):
        r = x.req()
        r.set(name, r.get(name) + b"\xc2\x85x")
        x.case("U+0085 (C1 control) in %s" % name, r, s4xx(400))

    # ---- decided from the headers, the body withheld --------------------
    # Apache reads the whole declared body before the handler starts
    # (mod_fcgid) or before it reads the handler's answer (mod_cgi), so the
    # templates refuse these from the headers in Apache itself; lighttpd
    # streams the body (conf/lighttpd.conf) and the handler answers.
    r = withhold(x.req())
    r.add("X-Goog-Message-Number", str(r.number + 1).encode())
    x.case("message number sent twice, body withheld", r, s4xx(400),
           withheld=True, wait=1.0)
    r = withhold(x.req()).set("X-Goog-Channel-Token", b"t" * 257)
    x.case("token of 257 characters, body withheld", r, s4xx(400),
           withheld=True, wait=1.0)

    # ---- lengths --------------------------------------------------------
    r = x.req().set("X-Goog-Channel-ID", b"i" * 65)
    x.case("channel id of 65 characters", r, s4xx(400))
    r = x.req().set("X-Goog-Channel-Token", b"t" * 257)
    x.case("token of 257 characters", r, s4xx(400))
    r = x.req().set("X-Goog-Channel-ID", b"i" * 64)
    x.case("channel id of 64 characters, not registered", r, s4xx(404))
    r = x.req().set("X-Goog-Channel-Token", b"t" * 256)
    x.case("token of 256 characters, wrong", r, s4xx(401))
    if x.long:
        lc = x.long[0]
        r = x.req(lc).set("X-Goog-Channel-ID", lc["id"].encode() + b"x")
        x.case("channel id of 65 characters, a registered one plus one", r,
               s4xx(400))
        r = x.req(lc).set("X-Goog-Channel-Token", lc["token"].encode() + b"x")
        x.case("token of 257 characters, the registered one plus one", r,
               s4xx(400))


def run_cases(a):
    x = Ctx(a)
    build_cases(x)
    before, _ = read_log(a.log)
    rows = []

    # Controls: the request the cases spoil is accepted, also when its body
    # comes late, and so is the longest id and token.
    controls = [("a clean notification", x.req(), 0)]
    r = x.req()
    r.body = b'{"late":true}'
    controls.append(("a clean notification whose body comes 1 s late", r, 1))
    if x.long:
        controls.append(("a channel with a 64-character id and 256-character "
                         "token", x.req(x.long[0]), 0))
    for name, r, late in controls:
        raw = r.bytes()
        if late:
            head = raw[:len(raw) - len(r.body)]
            st, took, ans = late_body(x, head, r.body, late, a.prompt)
        else:
            st, took, ans = exchange(x.host, x.port, raw, a.prompt)
        rows.append((name, st, took))
        out("PASS" if st == 200 else "FAIL",
            "%s: control %s: 200 (got %s)" % (a.label, name, st),
            [] if st == 200 else [ans[:200]])

    for c in x.cases:
        st, took, ans = exchange(x.host, x.port, c.req.bytes(),
                                 c.wait or a.prompt)
        rows.append((c.name, st, took))
        ok = c.allow(st) and took < (c.wait or a.prompt)
        what = "%s: %s: %s%s (got %s in %.2fs)" % (
            a.label, c.name, c.allow.text,
            " within %gs" % (c.wait or a.prompt) if c.withheld else "",
            st, took)
        diags = [] if ok else ["answer: %r" % ans[:160],
                               "request: %r" % c.req.bytes()[:300]]
        if c.todo.get(a.label):
            out("TODO" if not ok else "TODO-PASS",
                what + " -- " + c.todo[a.label], diags)
        else:
            out("PASS" if ok else "FAIL", what, diags)
        c.status = st

    time.sleep(0.3)
    after, raw = read_log(a.log)
    new = after[len(before):]
    case_numbers = {c.number: c for c in x.cases}
    todo = {c.number for c in x.cases if c.todo.get(a.label)}
    logged = [r for r in new if r.get("message_number") in case_numbers
              and r["message_number"] not in todo]
    for r in new:
        if r.get("message_number") in todo:
            print("# logged (a TODO case): %s" %
                  case_numbers[r["message_number"]].name)
    out("PASS" if not logged else "FAIL",
        "%s: no hostile case is logged (%d new lines, %d controls)" % (
            a.label, len(new), len(controls)),
        ["logged: %s (%s)" % (case_numbers[r["message_number"]].name,
                              json.dumps(r)[:200]) for r in logged])
    counts = {}
    for r in new:
        counts[r.get("message_number")] = counts.get(r.get("message_number"),
                                                     0) + 1
    want = [r.number for _, r, _ in controls]
    wrong = ["#%d logged %d times" % (n, counts.get(n, 0)) for n in want
             if counts.get(n, 0) != 1]
    out("PASS" if not wrong else "FAIL",
        "%s: each control is logged exactly once" % a.label, wrong)
    leaks = [c["id"] for c in read_registry(a.registry)
             if c.get("token") and c["token"].encode() in raw]
    out("PASS" if not leaks else "FAIL",
        "%s: no token appears in the log" % a.label, leaks)
    if a.table:
        with open(a.table, "a") as f:
            for name, st, took in rows:
                f.write("%s\t%s\t%s\t%.2f\n" % (a.label, name, st, took))
    return 0


def late_body(x, head, body, late, wait):
    try:
        s = socket.create_connection((x.host, x.port), timeout=wait)
    except OSError as e:
        return None, 0.0, str(e).encode()
    try:
        s.sendall(head)
        time.sleep(late)
        s.sendall(body)
        t0 = time.monotonic()
        data = b""
        while b"\r\n" not in data and time.monotonic() - t0 < wait:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except OSError as e:
        return None, 0.0, str(e).encode()
    finally:
        s.close()
    parts = data.split(b" ", 2)
    st = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return st, time.monotonic() - t0, data


# ---- genuine notifications under attack -------------------------------------

def run_legit(a):
    host, port, path = target(a.url)
    chans = [c for c in read_registry(a.registry)
             if c.get("token") and c["id"] != "old" and len(c["id"]) < 64]
    chans = chans[1:1 + a.channels]         # the first is the cases' own
    before, _ = read_log(a.log)
    lock = threading.Lock()
    sent = []                               # (channel, number, status, s)
    stop = time.monotonic() + a.duration

    where = argparse.Namespace(path=path)       # what Req needs of a Ctx

    def worker(k):
        mine = chans[k::a.threads]
        numbers = {c["id"]: a.number_base for c in mine}
        i = 0
        while time.monotonic() < stop:
            ch = mine[i % len(mine)]
            i += 1
            numbers[ch["id"]] += 1
            n = numbers[ch["id"]]
            r = Req(where, ch, n, json.dumps({"n": n}).encode())
            st, took, ans = exchange(host, port, r.bytes(), a.timeout)
            if st is None and took >= a.timeout:
                st = "timeout"
            with lock:
                sent.append((ch["id"], n, st, round(took, 3)))
            time.sleep(a.pace)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(0.3)
    after, _ = read_log(a.log)
    new = after[len(before):]
    acked = [s for s in sent if isinstance(s[2], int) and 200 <= s[2] < 300]
    bad = [s for s in sent if s not in acked]
    lat = sorted(s[3] for s in sent)
    ok = bool(sent) and not bad
    what = ("%s: every genuine notification got 2xx within %gs (%d of %d)"
            % (a.label, a.timeout, len(acked), len(sent)))
    if a.todo:
        out("TODO-PASS" if ok else "TODO", what + " -- " + a.todo,
            ["%s #%d: %s after %.2fs" % s for s in bad])
    else:
        out("PASS" if ok else "FAIL", what,
            ["%s #%d: %s after %.2fs" % s for s in bad])
    counts = {}
    for r in new:
        k = (r.get("channel_id"), r.get("message_number"))
        counts[k] = counts.get(k, 0) + 1
    wrong = ["%s #%d logged %d times" % (c, n, counts.get((c, n), 0))
             for c, n, _, _ in acked if counts.get((c, n), 0) != 1]
    wrong += ["%s #%s logged %d times" % (k[0], k[1], v)
              for k, v in counts.items() if v > 1]
    out("PASS" if not wrong else "FAIL",
        "%s: every acknowledged one is logged once, none twice (%d lines)"
        % (a.label, len(new)), wrong)
    late = [k for k in counts if k not in {(c, n) for c, n, _, _ in acked}]
    if late:
        print("# %s: %d logged that got no answer in time (earlier ones, "
              "served after the client gave up: Google would retry them, "
              "and the retry is a duplicate)" % (a.label, len(late)))
    if lat:
        print("# %s: %d sent, latency median %.3fs, max %.3fs" % (
            a.label, len(sent), lat[len(lat) // 2], lat[-1]))
    return 0


def run_table(a):
    """The statuses per case and set-up, from the --table rows."""
    order, by = [], {}
    labels = []
    for line in open(a.file):
        label, name, st, took = line.rstrip("\n").split("\t")
        if label not in labels:
            labels.append(label)
        if name not in by:
            order.append(name)
            by[name] = {}
        by[name][label] = st if st != "None" else "-"
    w = max(len(n) for n in order) if order else 10
    print("%-*s  %s" % (w, "case", "  ".join("%-8s" % l for l in labels)))
    for n in order:
        print("%-*s  %s" % (w, n, "  ".join("%-8s" % by[n].get(l, "")
                                             for l in labels)))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("cases", "legit"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True)
        s.add_argument("--registry", required=True)
        s.add_argument("--log", required=True)
        s.add_argument("--label", default="-")
    c = sub.choices["cases"]
    c.add_argument("--prompt", type=float, default=5.0)
    c.add_argument("--table", default=None)
    g = sub.choices["legit"]
    g.add_argument("--duration", type=float, default=10.0)
    g.add_argument("--timeout", type=float, default=5.0)
    g.add_argument("--number-base", type=int, default=1000)
    g.add_argument("--threads", type=int, default=3)
    g.add_argument("--channels", type=int, default=6)
    g.add_argument("--pace", type=float, default=0.1)
    g.add_argument("--todo", default="",
                   help="a known failure: report the 2xx check as TODO")
    t = sub.add_parser("table")
    t.add_argument("file")
    a = p.parse_args(argv)
    return {"cases": run_cases, "legit": run_legit,
            "table": run_table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
