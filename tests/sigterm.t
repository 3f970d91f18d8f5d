#!/usr/bin/env python3
"""A server restart (SIGTERM) must not drop requests already queued on the
handler's socket, nor cut one in half: three requests wait in the backlog
of a stopped FastCGI process, SIGTERM arrives, and all three are answered
and logged before the process exits by itself."""
import os, signal, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import HANDLER, datadir, handler  # noqa: E402
from lib.fcgi import fcgi_request, response_status  # noqa: E402
from lib.tap import Tap  # noqa: E402

data = datadir.DataDir([{'id': 'c', 'token': 'term-secret-1'}], prefix='gpush-term-')
sock = os.path.join(data.tmp, 'sock')
env = {'GPUSH_DIR': data.path}
p, = handler.serve([HANDLER], sock, env, backlog=16)
results = {}


def req(n):
    env = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': b'0',
           b'HTTP_X_GOOG_CHANNEL_ID': b'c', b'HTTP_X_GOOG_CHANNEL_TOKEN': b'term-secret-1',
           b'HTTP_X_GOOG_RESOURCE_ID': b'r', b'HTTP_X_GOOG_RESOURCE_URI': b'https://u',
           b'HTTP_X_GOOG_RESOURCE_STATE': b'update', b'HTTP_X_GOOG_MESSAGE_NUMBER': b'%d' % n}
    try:
        results[n] = response_status(fcgi_request(sock, env, b'', timeout=15))[0]
    except OSError as e:
        results[n] = repr(e)


rc = 1
try:
    time.sleep(0.3)                      # let it reach accept()
    p.send_signal(signal.SIGSTOP)
    ts = [threading.Thread(target=req, args=(n,)) for n in (10, 11, 12)]
    for t in ts:
        t.start()
    time.sleep(0.5)                      # all three are in the backlog now
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGCONT)
    for t in ts:
        t.join(20)
    exited = p.wait(timeout=10)
    objs, _ = datadir.records(datadir.split_log(data.log())[0])
    nums = sorted(o['message_number'] for o in objs)
    # An idle process (blocked in accept, or about to be) exits at once.
    idle, = handler.serve([HANDLER], sock + '2', env, backlog=4)
    time.sleep(0.3)
    t0 = time.time()
    idle.send_signal(signal.SIGTERM)
    try:
        idle_rc = idle.wait(timeout=5)
    except subprocess.TimeoutExpired:
        idle.kill()
        idle_rc = 'hung'
    idle_secs = time.time() - t0
    t = Tap(4)
    t.ok(all(results.get(n) == 200 for n in (10, 11, 12)),
         'queued requests answered 200: %s' % results)
    t.ok(nums == [10, 11, 12], 'and logged: %s' % nums)
    t.ok(exited == 0, 'then the process exits 0 by itself (%s)' % exited)
    t.ok(idle_rc == 0 and idle_secs < 2,
         'an idle process exits on SIGTERM within 2 s (%s, %.2f s)' % (idle_rc, idle_secs))
    rc = t.done()
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    data.cleanup()
sys.exit(rc)
