#!/usr/bin/env python3
"""Many handler processes on one data directory: three FastCGI processes
sharing a socket and plain-CGI processes at the same time, 8 senders, every
message sent twice from two senders at once.  Every line must be valid
JSON and every (channel, number) in the log exactly once."""
import json, os, random, shutil, signal, socket, subprocess, sys, tempfile
import threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'cgi'))
from run import fcgi_request, response_status  # noqa: E402

HANDLER = os.path.abspath(os.environ.get('GPUSH_FCGI', 'cgi/gpush.fcgi'))
CHANNELS, PER_CHANNEL, SENDERS, FCGI_PROCS = 10, 40, 8, 3
DEADLINE = time.time() + 120

work = tempfile.mkdtemp(prefix='gpush-conc-')
data = os.path.join(work, 'data')
os.makedirs(data)
with open(os.path.join(data, 'channels.jsonl'), 'w') as f:
    for c in range(CHANNELS):
        f.write(json.dumps({'id': 'ch%d' % c, 'token': 'secret-token-%d' % c,
                            'resourceId': 'r%d' % c, 'resourceUri': 'https://u/%d' % c}) + '\n')
env = {'PATH': '/usr/bin:/bin', 'GPUSH_DIR': data}
sock = os.path.join(work, 'sock')
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(sock)
ls.listen(64)
procs = [subprocess.Popen([HANDLER], stdin=ls.fileno(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env) for _ in range(FCGI_PROCS)]
ls.close()

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
        return response_status(fcgi_request(sock, e, b''))[0]
    full = {k.encode(): v.encode() for k, v in env.items()}
    full.update(e)
    p = subprocess.run([HANDLER], env=full, input=b'', capture_output=True, timeout=30)
    return response_status(p.stdout)[0]


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


try:
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    raw = open(os.path.join(data, 'notifications.ndjson'), 'rb').read()
    lines = raw.split(b'\n')
    tail_ok = raw.endswith(b'\n')
    bad, seen = 0, {}
    for l in lines[:-1]:
        try:
            o = json.loads(l)
            key = (o['channel_id'], o['message_number'])
            seen[key] = seen.get(key, 0) + 1
        except ValueError:
            bad += 1
    want = {('ch%d' % c, n) for c, n in messages}
    print('1..5')
    print('%sok 1 - %d requests answered 200 in the end%s' % (
        '' if not failures else 'not ', 2 * len(messages),
        '' if not failures else ' # ' + '; '.join(failures[:5])))
    print('%sok 2 - every line is valid JSON (%d bad)' % ('' if bad == 0 and tail_ok else 'not ', bad))
    missing = want - set(seen)
    print('%sok 3 - none lost (%d missing)' % ('' if not missing else 'not ', len(missing)))
    dups = [k for k, v in seen.items() if v > 1]
    print('%sok 4 - none duplicated (%d twice)' % ('' if not dups else 'not ', len(dups)))
    extra = set(seen) - want
    print('%sok 5 - nothing else (%d unexpected)' % ('' if not extra else 'not ', len(extra)))
    rc = 1 if failures or bad or missing or dups or extra or not tail_ok else 0
finally:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(work, ignore_errors=True)
sys.exit(rc)
