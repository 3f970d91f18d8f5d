"""Shared pieces of the fault suite: a data directory of the suite's
channels, the pool of handler processes (FastCGI on one socket, or plain
CGI per request: tests/lib/handler.py), a Google-like sender that retries 5xx and lost answers with backoff, and the checker that
compares the log with what was acknowledged.

Every loop here is bounded by a count and by a deadline."""
import os, random, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
from lib import HANDLER, TOOL  # noqa: E402,F401  (the suite's programs)
from lib import datadir  # noqa: E402
from lib.handler import Pool  # noqa: E402,F401  (the suite's handler pool)


def token(c):
    return 'fault-secret-%04d-xyzzy' % c


class DataDir(datadir.DataDir):
    """A fresh data directory with `channels` channels (ch0, ch1, ...)."""
    def __init__(self, channels=8, base=None, extra=None):
        reg = []
        for c in range(channels):
            ch = datadir.channel(c, token)
            if extra:
                ch.update(extra(c))
            reg.append(ch)
        super().__init__(reg, base=base, prefix='gpush-fault-')
        self.channels = channels


def cgi_env(c, n, body=b''):
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': str(len(body)).encode(),
         b'HTTP_X_GOOG_CHANNEL_ID': b'ch%d' % c,
         b'HTTP_X_GOOG_CHANNEL_TOKEN': token(c).encode(),
         b'HTTP_X_GOOG_RESOURCE_ID': b'r%d' % c,
         b'HTTP_X_GOOG_RESOURCE_URI': b'https://u/%d' % c,
         b'HTTP_X_GOOG_RESOURCE_STATE': b'sync' if n == 1 else b'update',
         b'HTTP_X_GOOG_MESSAGE_NUMBER': str(n).encode()}
    return e


class Sender:
    """Google-like delivery: each message is sent until it gets a 2xx; a
    500/502/503/504 or a lost answer is retried with exponential backoff
    (capped, bounded in attempts); any other status is final."""
    def __init__(self, pool, threads=8, attempts=60, deadline=60.0, base_delay=0.002):
        self.pool, self.threads, self.attempts = pool, threads, attempts
        self.deadline = time.time() + deadline
        self.base = base_delay
        self.acked, self.final, self.lock = set(), {}, threading.Lock()
        self.attempted = set()
        self.requests = self.retries = 0

    def deliver(self, msgs, body=lambda c, n: b''):
        queues = [msgs[i::self.threads] for i in range(self.threads)]

        def run(q):
            for (c, n) in q:
                delay = self.base
                for a in range(self.attempts):
                    if time.time() > self.deadline:
                        return
                    b = body(c, n)
                    with self.lock:
                        self.attempted.add((c, n))
                    st = self.pool.send(cgi_env(c, n, b), b)
                    with self.lock:
                        self.requests += 1
                        self.retries += a > 0
                    if st is not None and 200 <= st < 300:
                        with self.lock:
                            self.acked.add((c, n))
                        break
                    if st not in (None, 500, 502, 503, 504):
                        with self.lock:
                            self.final[(c, n)] = st
                        break
                    time.sleep(min(delay, 0.2) * (0.5 + random.random()))
                    delay *= 2
        ts = [threading.Thread(target=run, args=(q,)) for q in queues]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def read_records(files):
    """(records as (channel_index, number) list, bad lines, torn tail)."""
    recs, bad, torn = [], 0, 0
    for f in files:
        raw = open(f, 'rb').read()
        if not raw:
            continue
        lines, tail = datadir.split_log(raw)
        if tail:
            torn += 1
            lines.append(tail)           # a whole record without its newline?
        objs, b = datadir.records(lines)
        bad += b
        for o in objs:
            try:
                recs.append((int(o['channel_id'][2:]), o['message_number']))
            except (ValueError, KeyError, TypeError):
                bad += 1
    return recs, bad, torn


def check(data, acked, files=None):
    """Returns dict: logged, missing, duplicated, bad (not valid records)."""
    recs, bad, torn = read_records(files or data.log_files())
    counts = {}
    for r in recs:
        counts[r] = counts.get(r, 0) + 1
    missing = [m for m in acked if counts.get(m, 0) == 0]
    dups = [m for m, k in counts.items() if k > 1]
    tok_leak = any(token(c).encode() in open(f, 'rb').read()
                   for f in (files or data.log_files()) for c in range(data.channels))
    return {'logged': len(recs), 'missing': len(missing), 'duplicated': len(dups),
            'bad': bad + torn + (1 if tok_leak else 0), 'counts': counts}


def messages(channels, per_channel, start=1000):
    """Increasing, non-consecutive numbers per channel, sync first."""
    out = []
    for c in range(channels):
        n = start
        out.append((c, 1))
        for _ in range(per_channel - 1):
            n += random.randint(1, 9)
            out.append((c, n))
    random.shuffle(out)
    return out


class Row(dict):
    """One line of the torture summary."""
    def __init__(self, name, requests=0, faults=0, acked=0, missing=0,
                 duplicated=0, bad=0, note=''):
        super().__init__(name=name, requests=requests, faults=faults, acked=acked,
                         missing=missing, duplicated=duplicated, bad=bad, note=note)

    def good(self):
        return self['missing'] == 0 and self['duplicated'] == 0 and self['bad'] == 0
