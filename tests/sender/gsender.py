#!/usr/bin/env python3
"""gsender -- a Google-like sender of push notifications, for tests.

Plays Google's part against a gpush endpoint on this machine: for every
channel it sends the sync message first (resource state "sync", message
number 1), then events whose message numbers increase but are not
consecutive, over many channels at once (threads).  Like Google it retries
a delivery answered 500, 502, 503 or 504 (or not answered at all: refused,
reset, timed out) with exponential backoff, and counts anything 2xx as
delivered.  It also re-sends some deliveries that were already acknowledged
(one after the other, and some from two threads at the same time), and
sends header names in mixed case.

Every loop is bounded in count and time, and only loopback addresses are
accepted as targets.

    gsender.py registry --out DIR/channels.jsonl --channels 20
        writes a registry of test channels (one JSON channel a line)
    gsender.py send --url http://127.0.0.1:PORT/notifications \\
                    --registry DIR/channels.jsonl --events 30 \\
                    --threads 8 --report report.json [--at-half CMD]
        sends, then writes a JSON report: every (channel, number)
        acknowledged with 2xx, and counts of requests sent, acknowledged,
        retried, re-sent as duplicates, by status.

Python 3 standard library only.
"""

import argparse
import email.utils
import http.client
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

RETRY_STATUSES = (500, 502, 503, 504)
HEADERS = (
    "X-Goog-Channel-ID",
    "X-Goog-Channel-Token",
    "X-Goog-Channel-Expiration",
    "X-Goog-Resource-ID",
    "X-Goog-Resource-URI",
    "X-Goog-Resource-State",
    "X-Goog-Message-Number",
    "X-Goog-Changed",
)
STATES = ("exists", "not_exists", "add", "remove", "update", "trash",
          "untrash", "change", "delete", "makeAdmin", "undelete")
CHANGED = ("content", "properties", "parents", "children", "permissions",
           "content,properties", "properties,permissions")


def die(msg):
    sys.stderr.write("gsender: %s\n" % msg)
    sys.exit(2)


# ---- registry -----------------------------------------------------------

def make_registry(args):
    rnd = random.Random(args.seed)
    now_ms = int(time.time() * 1000)
    lines = []
    for i in range(args.channels):
        ch = {
            "kind": "api#channel",
            "id": "%s%03d-%06x" % (args.prefix, i, rnd.getrandbits(24)),
            "resourceId": "res-%016x" % rnd.getrandbits(64),
            "resourceUri": "https://www.googleapis.com/drive/v3/files/"
                           "f%d?alt=json&x=%d" % (i, rnd.randrange(1000)),
            "token": "tok-%032x" % rnd.getrandbits(128),
        }
        # Expiration: a digit string, a number, or none at all.
        exp = now_ms + 86400 * 1000 + rnd.randrange(3600 * 1000)
        kind = i % 3
        if kind == 0:
            ch["expiration"] = str(exp)
        elif kind == 1:
            ch["expiration"] = exp
        lines.append(json.dumps(ch, separators=(",", ":")))
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    return 0


def read_registry(path):
    chans = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ch = json.loads(line)
            if "id" in ch and "token" in ch:
                chans.append(ch)
    return chans


# ---- sending ------------------------------------------------------------

def mixed_case(name, rnd):
    style = rnd.randrange(4)
    if style == 0:
        return name
    if style == 1:
        return name.lower()
    if style == 2:
        return name.upper()
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower()
                   for c in name)


def rfc1123(ms):
    return email.utils.formatdate(ms / 1000.0, usegmt=True)


class Delivery:
    """One notification (channel, number) and what happened to it."""

    def __init__(self, ch, number, state, changed, body):
        self.ch = ch
        self.number = number
        self.state = state
        self.changed = changed
        self.body = body            # a JSON value or None
        self.acked = 0              # 2xx responses received
        self.first_ack_status = None
        self.statuses = []          # every answer, in order
        self.lock = threading.Lock()

    def headers(self, rnd):
        ch = self.ch
        h = [
            ("X-Goog-Channel-ID", ch["id"]),
            ("X-Goog-Channel-Token", ch["token"]),
            ("X-Goog-Resource-ID", ch.get("resourceId", "")),
            ("X-Goog-Resource-URI", ch.get("resourceUri", "")),
            ("X-Goog-Resource-State", self.state),
            ("X-Goog-Message-Number", str(self.number)),
        ]
        if ch.get("expiration") not in (None, ""):
            h.append(("X-Goog-Channel-Expiration",
                      rfc1123(int(ch["expiration"]))))
        if self.changed:
            h.append(("X-Goog-Changed", self.changed))
        rnd.shuffle(h)
        return [(mixed_case(k, rnd), v) for k, v in h]


def loopback_target(url):
    """(host, port, path) of url; dies unless it is http on loopback."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        die("--url must be http://127.0.0.1:PORT/PATH")
    host = "127.0.0.1" if u.hostname == "localhost" else u.hostname
    try:
        addr = ipaddress.ip_address(host)   # no name lookups at all
    except ValueError:
        die("--url must name a loopback address (127.0.0.1, [::1], "
            "localhost), not %s" % u.hostname)
    if not addr.is_loopback:
        die("refusing to send to %s: loopback addresses only" % addr)
    return (str(addr), u.port or 80,
            (u.path or "/") + ("?" + u.query if u.query else ""))


class Sender:
    def __init__(self, args, chans):
        self.args = args
        self.host, self.port, self.path = loopback_target(args.url)
        self.chans = chans
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.max_time
        self.lock = threading.Lock()
        self.sent = 0
        self.retried = 0
        self.backoffs = []      # each delivery's retry delays, in order
        self.dups_sent = 0
        self.concurrent_dups = 0
        self.status_counts = {}
        self.examples = {}          # status -> the first answer's text
        self.deliveries = []
        self.acked_total = 0
        self.planned = 0
        self.half_done = threading.Event()
        self.at_half = None
        # --answers FILE: one line per answer, "EPOCH STATUS CHANNEL NUMBER",
        # so that a test can count what came while it broke something.
        self.answers = open(args.answers, "a") if args.answers else None

    # One HTTP request; returns an int status or a string for no answer.
    def post(self, d, rnd):
        body = b""
        if d.body is not None:
            body = json.dumps(d.body, ensure_ascii=False).encode("utf-8")
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.args.timeout)
        try:
            conn.putrequest("POST", self.path, skip_accept_encoding=True)
            conn.putheader("User-Agent", "APIs-Google; (+https://developers"
                           ".google.com/webmasters/APIs-Google.html)")
            conn.putheader("Content-Type", "application/json; charset=UTF-8")
            conn.putheader("Content-Length", str(len(body)))
            for k, v in d.headers(rnd):
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            answer = resp.read(65536)
            status = resp.status
            if not 200 <= status < 300:
                with self.lock:
                    self.examples.setdefault(str(status), "%s #%d: %s" % (
                        d.ch["id"], d.number,
                        answer[:300].decode("utf-8", "replace").strip()))
        except socket.timeout:
            status = "timeout"
        except ConnectionRefusedError:
            status = "refused"
        except (ConnectionError, http.client.HTTPException, OSError):
            status = "reset"
        finally:
            conn.close()
        with self.lock:
            self.sent += 1
            k = str(status)
            self.status_counts[k] = self.status_counts.get(k, 0) + 1
            if self.answers:
                self.answers.write("%.3f %s %s %d\n" % (
                    time.time(), k, d.ch["id"], d.number))
                self.answers.flush()
        with d.lock:
            d.statuses.append(status)
        return status

    # Sends d until it is acknowledged, like Google: retries with
    # exponential backoff, bounded in attempts and time.
    def deliver(self, d, rnd):
        a = self.args
        start = time.monotonic()
        delays = []
        for attempt in range(a.attempts):
            if attempt:
                with self.lock:
                    self.retried += 1
            status = self.post(d, rnd)
            if isinstance(status, int) and 200 <= status < 300:
                with d.lock:
                    first = d.acked == 0
                    d.acked += 1
                    if first:
                        d.first_ack_status = status
                if first:
                    with self.lock:
                        self.acked_total += 1
                        if (self.acked_total * 2 >= self.planned
                                and not self.half_done.is_set()):
                            self.half_done.set()
                return True
            if isinstance(status, int) and status not in RETRY_STATUSES:
                return False        # Google does not retry these
            delay = min(a.backoff_cap, a.backoff * (2 ** attempt))
            delay *= 0.5 + rnd.random() / 2
            now = time.monotonic()
            if (now + delay > start + a.delivery_time
                    or now + delay > self.deadline + a.delivery_time):
                return False
            delays.append(delay)
            if len(delays) == 1:
                with self.lock:
                    self.backoffs.append((d.ch["id"], d.number, delays))
            time.sleep(delay)
        return False

    def plan(self, rnd):
        per_channel = []
        for ch in self.chans:
            ds = [Delivery(ch, 1, "sync", None, None)]
            n = 1
            for _ in range(self.args.events):
                n += rnd.randrange(2, 9)         # never consecutive
                state = rnd.choice(STATES)
                changed = rnd.choice(CHANGED) if rnd.random() < 0.3 else None
                body = None
                if rnd.random() < 0.5:
                    body = {
                        "kind": "admin#directory#user",
                        "id": "%d" % rnd.getrandbits(40),
                        "etag": "\"%x\"" % rnd.getrandbits(48),
                        "primaryEmail": "user%d@example.com" % n,
                        "name": {"fullName": "Zoë Ünïcode ✓ \"%d\"" % n},
                        "n": n,
                    }
                ds.append(Delivery(ch, n, state, changed, body))
            per_channel.append(ds)
            self.deliveries.extend(ds)
        self.planned = len(self.deliveries)
        return per_channel

    def resend(self, d, rnd):
        with self.lock:
            self.dups_sent += 1
        self.deliver(d, rnd)

    def worker(self, queues, seed):
        rnd = random.Random(seed)
        a = self.args
        # Round-robin over this worker's channels, one delivery at a time,
        # so that many channels are in flight at once.
        pos = [0] * len(queues)
        active = list(range(len(queues)))
        while active and time.monotonic() < self.deadline:
            for qi in list(active):
                if time.monotonic() >= self.deadline:
                    break
                q = queues[qi]
                d = q[pos[qi]]
                pos[qi] += 1
                if pos[qi] >= len(q):
                    active.remove(qi)
                r = rnd.random()
                if d.number > 1 and r < a.concurrent_dup_rate:
                    # The same message from two threads at once.
                    with self.lock:
                        self.concurrent_dups += 1
                    t = threading.Thread(target=self.resend,
                                         args=(d, random.Random(rnd.random())))
                    t.start()
                    ok = self.deliver(d, rnd)
                    t.join(a.delivery_time + a.timeout + 5)
                else:
                    ok = self.deliver(d, rnd)
                if ok and rnd.random() < a.dup_rate:
                    self.resend(d, rnd)
                if a.pace:
                    time.sleep(a.pace * (0.5 + rnd.random()))

    def run_at_half(self):
        if not self.half_done.wait(self.args.max_time):
            return
        t = time.monotonic() - self.t0
        acked_then = self.acked_total
        try:
            p = subprocess.run(self.args.at_half, shell=True, timeout=60,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            rc, out = p.returncode, p.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, out = "timeout", ""
        self.at_half = {"cmd": self.args.at_half, "at_s": round(t, 3),
                        "acked_then": acked_then, "rc": rc,
                        "output": out[-2000:]}

    def run(self):
        a = self.args
        rnd = random.Random(a.seed)
        per_channel = self.plan(rnd)
        nthreads = max(1, min(a.threads, len(per_channel)))
        groups = [per_channel[i::nthreads] for i in range(nthreads)]
        hook = None
        if a.at_half:
            hook = threading.Thread(target=self.run_at_half, daemon=True)
            hook.start()
        threads = [threading.Thread(target=self.worker,
                                    args=(g, rnd.random()), daemon=True)
                   for g in groups]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic())
                   + a.delivery_time + a.timeout + 10)
        self.half_done.set()
        if hook:
            hook.join(70)
        return self.report()

    def report(self):
        acked, failed, unsent = [], [], []
        for d in self.deliveries:
            item = {"channel": d.ch["id"], "number": d.number,
                    "state": d.state}
            if d.changed:
                item["changed"] = d.changed
            if d.body is not None:
                item["body"] = d.body
            if d.acked:
                item["acks"] = d.acked
                item["status"] = d.first_ack_status
                acked.append(item)
            elif d.statuses:
                item["statuses"] = [str(s) for s in d.statuses]
                failed.append(item)
            else:
                unsent.append(item)
        return {
            "url": self.args.url,
            "elapsed_s": round(time.monotonic() - self.t0, 3),
            "channels": len(self.chans),
            "planned": self.planned,
            "sent": self.sent,
            "acked_count": len(acked),
            "retried": self.retried,
            "backoffs": [{"channel": c, "number": n, "delays": [round(x, 4) for x in ds]}
                         for c, n, ds in self.backoffs],
            "duplicates_sent": self.dups_sent,
            "concurrent_duplicates": self.concurrent_dups,
            "status_counts": self.status_counts,
            "answers": self.examples,
            "failed_count": len(failed),
            "unsent_count": len(unsent),
            "at_half": self.at_half,
            "acked": acked,
            "failed": failed,
            "unsent": unsent,
        }


def send(args):
    loopback_target(args.url)
    chans = read_registry(args.registry)
    if not chans:
        die("no channels in %s" % args.registry)
    if args.max_channels:
        chans = chans[:args.max_channels]
    rep = Sender(args, chans).run()
    out = json.dumps(rep, indent=1, ensure_ascii=False)
    if args.report == "-":
        print(out)
    else:
        tmp = args.report + ".tmp"
        with open(tmp, "w") as f:
            f.write(out + "\n")
        os.replace(tmp, args.report)
    sys.stderr.write(
        "gsender: planned %d sent %d acked %d retried %d duplicates %d "
        "failed %d unsent %d in %.1fs statuses %s\n" % (
            rep["planned"], rep["sent"], rep["acked_count"], rep["retried"],
            rep["duplicates_sent"], rep["failed_count"], rep["unsent_count"],
            rep["elapsed_s"], json.dumps(rep["status_counts"],
                                         sort_keys=True)))
    return 0 if rep["acked_count"] == rep["planned"] else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("registry", help="write a registry of test channels")
    r.add_argument("--out", required=True)
    r.add_argument("--channels", type=int, default=20)
    r.add_argument("--prefix", default="ch")
    r.add_argument("--seed", type=int, default=None)
    s = sub.add_parser("send", help="send notifications, write a report")
    s.add_argument("--url", required=True)
    s.add_argument("--registry", required=True)
    s.add_argument("--report", default="-")
    s.add_argument("--events", type=int, default=20,
                   help="events per channel after the sync (default 20)")
    s.add_argument("--max-channels", type=int, default=0)
    s.add_argument("--threads", type=int, default=8)
    s.add_argument("--dup-rate", type=float, default=0.1,
                   help="share of acked deliveries sent again")
    s.add_argument("--concurrent-dup-rate", type=float, default=0.03,
                   help="share of deliveries sent from two threads at once")
    s.add_argument("--attempts", type=int, default=10,
                   help="attempts per delivery (default 10)")
    s.add_argument("--backoff", type=float, default=0.05,
                   help="first retry delay in seconds (doubles each time)")
    s.add_argument("--backoff-cap", type=float, default=2.0)
    s.add_argument("--delivery-time", type=float, default=20.0,
                   help="give up a delivery after this many seconds")
    s.add_argument("--timeout", type=float, default=15.0,
                   help="seconds to wait for one answer")
    s.add_argument("--max-time", type=float, default=40.0,
                   help="start no delivery after this many seconds")
    s.add_argument("--pace", type=float, default=0.0,
                   help="mean pause in seconds between a thread's deliveries")
    s.add_argument("--at-half", default=None,
                   help="shell command run once when half are acked")
    s.add_argument("--answers", default=None,
                   help="append 'EPOCH STATUS CHANNEL NUMBER' per answer")
    s.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    limits = (("events", 0, 100000), ("threads", 1, 256),
              ("attempts", 1, 50), ("max_time", 0, 3600),
              ("delivery_time", 0, 600), ("timeout", 0.1, 120), ("pace", 0, 10))
    for name, lo, hi in limits:
        v = getattr(a, name, None)
        if v is not None and not lo <= v <= hi:
            die("--%s must be within %s..%s" % (name.replace("_", "-"),
                                                lo, hi))
    return make_registry(a) if a.cmd == "registry" else send(a)


if __name__ == "__main__":
    sys.exit(main())
