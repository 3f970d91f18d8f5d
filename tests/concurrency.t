#!/usr/bin/env python3
"""Many handler processes on one data directory: three FastCGI processes
sharing a socket and plain-CGI processes at the same time, 8 senders, every
message sent twice from two senders at once.  Every line must be valid
JSON and every (channel, number) in the log exactly once."""
import os, random, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import datadir  # noqa: E402
from lib.handler import Pool  # noqa: E402
from lib.tap import Tap  # noqa: E402

CHANNELS, PER_CHANNEL, SENDERS, FCGI_PROCS = 10, 40, 8, 3
DEADLINE = time.time() + 120

data = datadir.DataDir([{'id': 'ch%d' % c, 'token': 'secret-token-%d' % c,
                         'resourceId': 'r%d' % c, 'resourceUri': 'https://u/%d' % c}
                        for c in range(CHANNELS)], prefix='gpush-conc-')
# A crashed process is not replaced: the test would not see it.
pool = Pool(data, mode='fcgi', procs=FCGI_PROCS, respawn=False, backlog=64)

messages = [(c, 1 if k == 0 else 1000 + k * 7 + random.randrange(7))
            for c in range(CHANNELS) for k in range(PER_CHANNEL)]
work_lists = [[] for _ in range(SENDERS)]
for i, m in enumerate(messages):         # each message goes to two senders
    work_lists[i % SENDERS].append(m)
    work_lists[(i + 3) % SENDERS].append(m)
for wl in work_lists:
    random.shuffle(wl)
failures, lock = [], threading.Lock()


def send(c, n, use_fcgi):
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': b'0'}
    for k, v in (('ID', 'ch%d' % c), ('TOKEN', 'secret-token-%d' % c)):
        e[('HTTP_X_GOOG_CHANNEL_' + k).encode()] = v.encode()
    e[b'HTTP_X_GOOG_RESOURCE_ID'] = b'r%d' % c
    e[b'HTTP_X_GOOG_RESOURCE_URI'] = b'https://u/%d' % c
    e[b'HTTP_X_GOOG_RESOURCE_STATE'] = b'sync' if n == 1 else b'update'
    e[b'HTTP_X_GOOG_MESSAGE_NUMBER'] = str(n).encode()
    if use_fcgi:
        return pool.send(e, b'')
    return pool.send(e, b'', timeout=30, mode='cgi')


def sender(i):
    for (c, n) in work_lists[i]:
        for attempt in range(50):            # Google retries 503 with backoff
            if time.time() > DEADLINE:
                with lock:
                    failures.append('deadline')
                return
            st = send(c, n, (i + attempt) % 2 == 0)
            if st == 200:
                break
            if st != 503:
                with lock:
                    failures.append('ch%d %d: status %s' % (c, n, st))
                break
            time.sleep(0.005 * (attempt + 1))
        else:
            with lock:
                failures.append('ch%d %d: never accepted' % (c, n))


rc = 1
try:
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    raw = data.log()
    lines, _ = datadir.split_log(raw)
    tail_ok = raw.endswith(b'\n')
    objs, bad = datadir.records(lines)
    seen = {}
    for o in objs:
        key = (o['channel_id'], o['message_number'])
        seen[key] = seen.get(key, 0) + 1
    want = {('ch%d' % c, n) for c, n in messages}
    t = Tap(5)
    t.ok(not failures, '%d requests answered 200 in the end%s' % (
        2 * len(messages), '' if not failures else ' # ' + '; '.join(failures[:5])))
    t.ok(bad == 0 and tail_ok, 'every line is valid JSON (%d bad)' % bad)
    missing = want - set(seen)
    t.ok(not missing, 'none lost (%d missing)' % len(missing))
    dups = [k for k, v in seen.items() if v > 1]
    t.ok(not dups, 'none duplicated (%d twice)' % len(dups))
    extra = set(seen) - want
    t.ok(not extra, 'nothing else (%d unexpected)' % len(extra))
    rc = t.done()
finally:
    pool.stop()
    data.cleanup()
sys.exit(rc)
