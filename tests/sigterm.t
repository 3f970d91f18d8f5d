#!/usr/bin/env python3
"""A server restart (SIGTERM) must not drop requests already queued on the
handler's socket, nor cut one in half: three requests wait in the backlog
of a stopped FastCGI process, SIGTERM arrives, and all three are answered
and logged before the process exits by itself."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'cgi'))
from run import fcgi_request, response_status  # noqa: E402

handler = os.path.abspath(os.environ.get('GPUSH_FCGI', 'cgi/gpush.fcgi'))
work = tempfile.mkdtemp(prefix='gpush-term-')
data = os.path.join(work, 'data')
os.makedirs(data)
with open(os.path.join(data, 'channels.jsonl'), 'w') as f:
    f.write(json.dumps({'id': 'c', 'token': 'term-secret-1'}) + '\n')
sock = os.path.join(work, 'sock')
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(sock)
ls.listen(16)
p = subprocess.Popen([handler], stdin=ls.fileno(), env={'GPUSH_DIR': data},
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ls.close()
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
    log = open(os.path.join(data, 'notifications.ndjson')).read().splitlines()
    nums = sorted(json.loads(l)['message_number'] for l in log)
    # An idle process (blocked in accept, or about to be) exits at once.
    ls2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls2.bind(sock + '2')
    ls2.listen(4)
    idle = subprocess.Popen([handler], stdin=ls2.fileno(), env={'GPUSH_DIR': data},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ls2.close()
    time.sleep(0.3)
    t0 = time.time()
    idle.send_signal(signal.SIGTERM)
    try:
        idle_rc = idle.wait(timeout=5)
    except subprocess.TimeoutExpired:
        idle.kill()
        idle_rc = 'hung'
    idle_secs = time.time() - t0
    print('1..4')
    print('%sok 1 - queued requests answered 200: %s' % (
        '' if all(results.get(n) == 200 for n in (10, 11, 12)) else 'not ', results))
    print('%sok 2 - and logged: %s' % ('' if nums == [10, 11, 12] else 'not ', nums))
    print('%sok 3 - then the process exits 0 by itself (%s)' % ('' if exited == 0 else 'not ', exited))
    print('%sok 4 - an idle process exits on SIGTERM within 2 s (%s, %.2f s)' % (
        '' if idle_rc == 0 and idle_secs < 2 else 'not ', idle_rc, idle_secs))
    rc = 0 if idle_rc == 0 and idle_secs < 2 and all(results.get(n) == 200 for n in (10, 11, 12)) and nums == [10, 11, 12] and exited == 0 else 1
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    shutil.rmtree(work, ignore_errors=True)
sys.exit(rc)
