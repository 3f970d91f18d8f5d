#!/usr/bin/env python3
"""Two FastCGI pools (two "hosts") on one PostgreSQL database, every
message sent twice at the same moment, once to each pool (a barrier
releases both sends together): each must be stored exactly once, one of
the two answers "ok" and the other "duplicate", and no acknowledged
message is missing (issue 14)."""
import os, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from lib import pg, datadir, tap  # noqa: E402
from lib.handler import Pool  # noqa: E402
from lib.fcgi import fcgi_request, response_status  # noqa: E402

CHANNELS, PER_CHANNEL, PAIRS, PROCS = 8, 30, 4, 3
t = tap.Tap()
why = pg.available()
if why:
    t.ok(True, 'two pools on one database', skip=why)
    sys.exit(t.done())
srv = pg.Server()
ci = srv.init_gpush()
chans = [{'kind': 'api#channel', 'id': 'ch%d' % c, 'token': 'secret-token-%d' % c,
          'resourceId': 'r%d' % c, 'resourceUri': 'https://u/%d' % c} for c in range(CHANNELS)]
srv.load_channels(''.join('%s\n' % __import__('json').dumps(c) for c in chans))
hosts = []
for h in range(2):
    d = datadir.DataDir([], prefix='gpush-pgconc-')
    hosts.append((d, Pool(d, mode='fcgi', procs=PROCS, respawn=False,
                          env={'GPUSH_DIR': '', 'GPUSH_DATABASE': ci})))
deadline = time.time() + 180
messages = [(c, 1 if k == 0 else 100 + 3 * k) for c in range(CHANNELS) for k in range(PER_CHANNEL)]
answers, lock = {}, threading.Lock()


def send(host, c, n):
    """Sends until a final answer (503 retried, as Google does); the body."""
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': b'0',
         b'HTTP_X_GOOG_CHANNEL_ID': b'ch%d' % c,
         b'HTTP_X_GOOG_CHANNEL_TOKEN': b'secret-token-%d' % c,
         b'HTTP_X_GOOG_RESOURCE_ID': b'r%d' % c, b'HTTP_X_GOOG_RESOURCE_URI': b'https://u/%d' % c,
         b'HTTP_X_GOOG_RESOURCE_STATE': b'sync' if n == 1 else b'update',
         b'HTTP_X_GOOG_MESSAGE_NUMBER': str(n).encode()}
    for attempt in range(40):
        if time.time() > deadline:
            return 'deadline'
        try:
            raw = fcgi_request(hosts[host][1].sock, e, b'', 20)
        except OSError as ex:
            return 'error %r' % ex
        st, _ = response_status(raw)
        if st != 503:
            return '%s %s' % (st, raw.rsplit(b'\r\n\r\n', 1)[-1].decode(errors='replace').strip())
        time.sleep(0.01 * (attempt + 1))
    return '503 forever'


def worker(host, part, barrier):
    for i in range(part, len(messages), PAIRS):
        c, n = messages[i]
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            pass
        a = send(host, c, n)
        with lock:
            answers.setdefault((c, n), []).append(a)


threads = []
for p in range(PAIRS):
    b = threading.Barrier(2)
    for h in range(2):
        threads.append(threading.Thread(target=worker, args=(h, p, b)))
for th in threads:
    th.start()
for th in threads:
    th.join(200)

bad = {k: v for k, v in answers.items() if sorted(v) != ['200 duplicate', '200 ok']}
t.ok(len(answers) == len(messages) and not bad,
     '%d messages sent twice at once to two pools: one "ok" and one "duplicate" each'
     % len(messages))
for k, v in list(bad.items())[:5]:
    t.diag('%s: %s' % (k, v))
pairs = srv.psql("SELECT channel_id || ':' || message_number FROM gpush.notifications",
                 dbname='gpush').split('\n')
pairs = [p for p in pairs if p]
want = sorted('ch%d:%d' % m for m in messages)
t.ok(len(pairs) == len(set(pairs)), 'each stored once (%d rows, %d distinct)'
     % (len(pairs), len(set(pairs))))
t.ok(sorted(pairs) == want, 'no acknowledged message missing, nothing extra')
for d, pool in hosts:
    pool.stop()
    d.cleanup()
srv.stop()
sys.exit(t.done())
