"""Shared pieces of the fault suite: a data directory, a pool of handler
processes (FastCGI on one socket, or plain CGI per request), a Google-like
sender that retries 5xx and lost answers with backoff, and the checker that
compares the log with what was acknowledged.

Every loop here is bounded by a count and by a deadline."""
import json, os, random, shutil, signal, socket, subprocess, sys, tempfile
import threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'cgi'))
from run import fcgi_request, response_status  # noqa: E402

HANDLER = os.path.abspath(os.environ.get('GPUSH_FCGI', os.path.join(ROOT, 'cgi', 'gpush.fcgi')))
TOOL = os.path.abspath(os.environ.get('GPUSH_TOOL', os.path.join(ROOT, 'tool', 'gpush')))


def token(c):
    return 'fault-secret-%04d-xyzzy' % c


class DataDir:
    """A fresh data directory with `channels` channels (ch0, ch1, ...)."""
    def __init__(self, channels=8, base=None, extra=None):
        self.tmp = tempfile.mkdtemp(prefix='gpush-fault-', dir=base)
        self.path = os.path.join(self.tmp, 'data')
        os.makedirs(self.path)
        self.channels = channels
        with open(os.path.join(self.path, 'channels.jsonl'), 'w') as f:
            for c in range(channels):
                ch = {'kind': 'api#channel', 'id': 'ch%d' % c, 'token': token(c),
                      'resourceId': 'r%d' % c, 'resourceUri': 'https://u/%d' % c}
                if extra:
                    ch.update(extra(c))
                f.write(json.dumps(ch) + '\n')

    def log_files(self):
        """The log and every rotated or logrotated file beside it."""
        return sorted(os.path.join(self.path, f) for f in os.listdir(self.path)
                      if f.startswith('notifications.ndjson'))

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def cgi_env(c, n, body=b''):
    e = {b'REQUEST_METHOD': b'POST', b'CONTENT_LENGTH': str(len(body)).encode(),
         b'HTTP_X_GOOG_CHANNEL_ID': b'ch%d' % c,
         b'HTTP_X_GOOG_CHANNEL_TOKEN': token(c).encode(),
         b'HTTP_X_GOOG_RESOURCE_ID': b'r%d' % c,
         b'HTTP_X_GOOG_RESOURCE_URI': b'https://u/%d' % c,
         b'HTTP_X_GOOG_RESOURCE_STATE': b'sync' if n == 1 else b'update',
         b'HTTP_X_GOOG_MESSAGE_NUMBER': str(n).encode()}
    return e


class Pool:
    """Handler processes.  mode 'fcgi': `procs` FastCGI processes on one
    Unix socket, respawned when they die; mode 'cgi': one process per
    request.  `prefix` wraps the command (strace, env LD_PRELOAD=...)."""
    def __init__(self, data, mode='fcgi', procs=3, env=None, prefix=None,
                 preexec=None, handler=None):
        self.data, self.mode, self.nprocs = data, mode, procs
        self.handler = handler or HANDLER
        self.env = {'PATH': '/usr/bin:/bin', 'GPUSH_DIR': data.path}
        self.env.update(env or {})
        self.prefix, self.preexec = prefix or [], preexec
        self.procs, self.cgi_live, self.lock = [], set(), threading.Lock()
        self.all_procs = []
        self.stopped = False
        if mode == 'fcgi':
            self.sock = os.path.join(data.tmp, 'sock')
            self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ls.bind(self.sock)
            self.ls.listen(128)
            for _ in range(procs):
                self.procs.append(self._spawn())
            self.keeper = threading.Thread(target=self._keep, daemon=True)
            self.keeper.start()

    def _spawn(self):
        # A session of its own, so stop() reaches a wrapper's children too
        # (strace detaches from its tracee when it gets SIGTERM).
        prefix = self.prefix() if callable(self.prefix) else self.prefix
        p = subprocess.Popen(prefix + [self.handler], stdin=self.ls.fileno(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=self.env, preexec_fn=self.preexec,
                             start_new_session=True)
        self.all_procs.append(p)
        return p

    def _keep(self):
        while not self.stopped:
            with self.lock:
                for i, p in enumerate(self.procs):
                    if self.stopped:
                        break
                    if p.poll() is not None and not self.stopped:
                        self.procs[i] = self._spawn()
            time.sleep(0.005)

    def send(self, env, body=b'', timeout=20):
        """Returns the status, or None when no answer came (killed)."""
        try:
            if self.mode == 'fcgi':
                return response_status(fcgi_request(self.sock, env, body, timeout))[0]
            full = {k.encode(): v.encode() for k, v in self.env.items()}
            full.update(env)
            prefix = self.prefix() if callable(self.prefix) else self.prefix
            p = subprocess.Popen(prefix + [self.handler], env=full,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, preexec_fn=self.preexec)
            with self.lock:
                self.cgi_live.add(p)
            try:
                out, _ = p.communicate(body, timeout=timeout)
            finally:
                with self.lock:
                    self.cgi_live.discard(p)
            return response_status(out)[0]
        except (OSError, socket.timeout, subprocess.TimeoutExpired):
            return None

    def pids(self):
        with self.lock:
            return [p for p in self.procs + list(self.cgi_live) if p.poll() is None]

    def stop(self):
        self.stopped = True
        if self.mode == 'fcgi':
            self.keeper.join()
        with self.lock:
            procs = self.all_procs + list(self.cgi_live)
        for p in procs:
            for sig in (signal.SIGTERM,):
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)   # whatever is left of its group
            except OSError:
                pass
            if p.poll() is None:
                p.wait()
        if self.mode == 'fcgi':
            self.ls.close()


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
        if not raw.endswith(b'\n'):
            torn += 1
        for line in raw.split(b'\n')[:-1] if raw.endswith(b'\n') else raw.split(b'\n'):
            try:
                line.decode('utf-8')
                o = json.loads(line)
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
