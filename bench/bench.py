#!/usr/bin/python3
"""make bench -- gpush against its ceilings and the usual alternative.

Everything runs on 127.0.0.1, side by side and interleaved, in one run:
one lighttpd serves every FastCGI variant (and proxies the Flask one), one
wrk with bench/notify.lua drives each in turn, round after round, so a
noisy neighbour slows all variants alike and the ratios hold.  Read
bench/README.md for what the rows are and how to read them.

  bench.py            the full benchmark (about 10 s per variant)
  bench.py --tap      TAP, one test per variant (make check-bench)
  bench.py --deps     only install what is missing (root, Debian)

Environment (all optional):
  BENCH_QUICK=1       a few seconds per variant, fewer extras
  BENCH_ROUNDS, BENCH_SECONDS   rounds, and seconds per run in a round
  BENCH_PROCS="8 2"   FastCGI process counts (the first is the main one)
  BENCH_SIZES="10 1000 100000"  registry sizes; BENCH_MAIN_SIZE=1000
  BENCH_SCALE="d"     variants also run at every size (c, d)
  BENCH_CONNS=32 BENCH_THREADS=2   wrk connections and threads
  BENCH_ONLY="a,b,c"  run only these variants (a b b' c d e f)
  BENCH_PROFILE=0|1   the profile pass (perf, strace, massif); full: 1
  BENCH_CALLGRIND=0|1 instructions per request; default 1
  BENCH_KEEP=1        keep the data directories
  GPUSH_FCGI          the handler to measure (default cgi/gpush.fcgi)
  BENCH_OUT           output directory (default bench/out; check-bench: bench/out/check)
  BENCH_BIN           the reference responders (default bench/out/bin, built by make)
"""
import datetime
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import fcgi       # noqa: E402
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))
import stage      # noqa: E402  the rule for what runs as another user
import profiles   # noqa: E402
from profiles import proc_times, proc_status, proc_environ, proc_ppid  # noqa: E402

PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def envint(name, default):
    v = os.environ.get(name, '')
    try:
        return int(v) if v != '' else default
    except ValueError:
        return default


def envflag(name, default):
    v = os.environ.get(name, '')
    return default if v == '' else v not in ('0', 'no', 'false')


QUICK = envflag('BENCH_QUICK', False)
TAP = '--tap' in sys.argv
OUT = os.path.abspath(os.environ.get('BENCH_OUT') or os.path.join(HERE, 'out'))
ROUNDS = max(1, envint('BENCH_ROUNDS', 1 if QUICK else 4))
SECONDS = max(1, envint('BENCH_SECONDS', 2 if QUICK else 3))
PROCS = [int(x) for x in os.environ.get('BENCH_PROCS', '8' if QUICK else '8 2').split() if x.isdigit() and int(x) > 0] or [8]
SIZES = sorted({int(x) for x in os.environ.get('BENCH_SIZES', '10 1000 100000').split() if x.isdigit() and int(x) > 0}) or [1000]
MAIN_SIZE = envint('BENCH_MAIN_SIZE', 1000)
if MAIN_SIZE not in SIZES:
    SIZES = sorted(set(SIZES) | {MAIN_SIZE})
SCALE = [v for v in os.environ.get('BENCH_SCALE', 'd').replace(',', ' ').split() if v in ('c', 'd')]
CONNS = max(1, envint('BENCH_CONNS', 32))
THREADS = max(1, min(CONNS, envint('BENCH_THREADS', 2)))
ONLY = {v.strip() for v in os.environ.get('BENCH_ONLY', '').replace(',', ' ').split() if v.strip()}
PROFILE = envflag('BENCH_PROFILE', not QUICK)
CALLGRIND = envflag('BENCH_CALLGRIND', True)
KEEP = envflag('BENCH_KEEP', False)
GPUSH = os.path.abspath(os.environ.get('GPUSH_FCGI') or os.path.join(REPO, 'cgi', 'gpush.fcgi'))
BINDIR = os.path.abspath(os.environ.get('BENCH_BIN') or os.path.join(HERE, 'out', 'bin'))  # mk/bench.mk
LOGS = os.path.join(OUT, 'logs')           # server logs, wrk output, this run's
STAGE = [None]      # the run's directory outside the clone (main() makes it)
WARMUP_S = 1 if QUICK else 2
SETTLE_MAX_S = 30                           # after a run: wait for idle backends
RUN_ID = '%d-%d' % (os.getpid(), int(time.time()))
IS_ROOT = os.geteuid() == 0
HANDLER = [GPUSH]   # the run's copy of the handler (main() snapshots GPUSH)
T0 = time.time()

# The variants, in table order: key, label, description.
VARIANTS = [
    ('a', '(a)', 'libfcgi no-op, 204'),
    ('b', '(b)', 'one write(), no checks'),
    ("b'", "(b')", 'one write() + fdatasync'),
    ('c', '(c)', 'gpush, durable'),
    ('d', '(d)', 'gpush, GPUSH_SYNC=0'),
    ('e', '(e)', 'Flask+googleapiclient, gunicorn'),
    ('f', '(f)', 'gpush CGI, Apache mod_cgi'),
]
VLABEL = {k: l for k, l, _ in VARIANTS}
VDESC = {k: d for k, _, d in VARIANTS}

# What each part needs: probe (a command, a path or py:module) -> package.
NEEDS = {
    'wrk': [('wrk', 'wrk')],
    'lighttpd': [('lighttpd', 'lighttpd')],
    'apache': [('/usr/sbin/apache2', 'apache2')],
    'flask': [('py:flask', 'python3-flask'), ('/usr/bin/gunicorn', 'gunicorn'),
              ('py:googleapiclient.channel', 'python3-googleapi')],
    'gnuplot': [('gnuplot', 'gnuplot-nox')],
    'valgrind': [('valgrind', 'valgrind')],
    'perf': [('perf', 'linux-perf')],
    'strace': [('strace', 'strace')],
    'build': [('/usr/include/fcgiapp.h', 'libfcgi-dev')],
}


# ---- output -------------------------------------------------------------------

class Progress:
    """One progress line on stderr (rewritten in place on a terminal)."""
    tty = sys.stderr.isatty()
    last = 0

    @classmethod
    def show(cls, msg):
        line = '[bench %s] %s' % (fmt_elapsed(time.time() - T0), msg)
        if cls.tty:
            sys.stderr.write('\r' + line[:150].ljust(cls.last) + '\r')
            cls.last = min(len(line), 150)
        else:
            sys.stderr.write(line + '\n')
        sys.stderr.flush()

    @classmethod
    def done(cls):
        if cls.tty and cls.last:
            sys.stderr.write('\r' + ' ' * cls.last + '\r')
            sys.stderr.flush()
            cls.last = 0


def note(msg):
    Progress.done()
    sys.stderr.write('bench: %s\n' % msg)
    sys.stderr.flush()


def fmt_elapsed(s):
    return '%d:%02d' % (s // 60, s % 60)


def fmt_int(x):
    return '-' if x is None else '{:,}'.format(int(round(x)))


def fmt_rps(x):
    if x is None:
        return '-'
    return '{:,}'.format(int(round(x))) if x >= 100 else '%.1f' % x


def fmt_ms(us):
    if us is None:
        return '-'
    ms = us / 1000.0
    return '%.2f' % ms if ms < 10 else '%.1f' % ms if ms < 100 else '%.0f' % ms


def fmt_ratio(x):
    if x is None:
        return '-'
    return '%.2f' % x if x >= 0.01 else '%.0e' % x


def fmt_size(n):
    return '{:,}'.format(n)


def mib(kb):
    return None if kb is None else kb / 1024.0


# ---- cleanup ------------------------------------------------------------------

CLEANUPS = []


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted('signal %d' % signum)


def cleanup_all():
    while CLEANUPS:
        fn = CLEANUPS.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up
            note('cleanup: %s' % e)


def ours():
    """Pids of every process started for this run (they carry BENCH_RUN)."""
    tag = ('BENCH_RUN=' + RUN_ID).encode()
    me = os.getpid()
    return [p for p in profiles.all_pids() if p != me and tag in proc_environ(p)]


def kill_ours(grace=5.0):
    """TERM, then KILL, every leftover process of this run, by pid."""
    pids = ours()
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace
    while pids and time.time() < deadline:
        time.sleep(0.1)
        pids = [p for p in pids if os.path.exists('/proc/%d' % p) and
                proc_state(p) != 'Z']
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2]
    except (OSError, ValueError, IndexError):
        return 'Z'


def stop_proc(p, grace=10.0, sig=signal.SIGTERM):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
    except OSError:
        pass


# ---- packages -----------------------------------------------------------------

def probe(what):
    if what.startswith('py:'):
        return subprocess.run([PYTHON, '-c', 'import ' + what[3:]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    if what.startswith('/'):
        return os.path.exists(what)
    return shutil.which(what) is not None


def missing_of(parts):
    miss = []
    for part in parts:
        for what, pkg in NEEDS[part]:
            if not probe(what) and pkg not in miss:
                miss.append(pkg)
    return miss


def ensure(parts):
    """Installs the Debian packages the parts need, when root; returns the
    set of parts still unavailable."""
    miss = missing_of(parts)
    if miss and IS_ROOT and shutil.which('apt-get'):
        note('installing ' + ' '.join(miss) + ' (apt-get)')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        rc_d = '/usr/sbin/policy-rc.d'
        made = False
        if not os.path.exists(rc_d):
            with open(rc_d, 'w') as f:
                f.write('#!/bin/sh\n# bench.py: no service starts during install\nexit 101\n')
            os.chmod(rc_d, 0o755)
            made = True
        logf = os.path.join(LOGS, 'apt.log')
        os.makedirs(os.path.dirname(logf), exist_ok=True)
        try:
            with open(logf, 'a') as log:
                cmd = ['apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + miss
                try:
                    rc = subprocess.run(cmd, stdout=log, stderr=log, env=env, timeout=900).returncode
                    if rc != 0:
                        subprocess.run(['apt-get', 'update', '-qq'], stdout=log, stderr=log,
                                       env=env, timeout=900)
                        subprocess.run(cmd, stdout=log, stderr=log, env=env, timeout=900)
                except subprocess.TimeoutExpired:
                    note('apt-get timed out')
        finally:
            if made:
                os.unlink(rc_d)
    unavailable = set()
    for part in parts:
        if missing_of([part]):
            unavailable.add(part)
    return unavailable


# ---- helpers ------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def run_user():
    """(uid, gid, name) the servers run as: www-data under root
    (tests/lib/stage.py decides, for every harness)."""
    u = stage.run_user()
    return u.uid, u.gid, u.name


def chown_tree(path, uid, gid):
    if not IS_ROOT:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)


def copy_logs(src, dst):
    """The servers' logs, written in the stage, into LOGS."""
    try:
        names = os.listdir(src)
    except OSError:
        return
    for n in names:
        try:
            shutil.copyfile(os.path.join(src, n), os.path.join(dst, n))
        except OSError:
            pass


def fs_type(path):
    """The type of the file system path is on (longest mount point)."""
    best, kind = '', '?'
    path = os.path.realpath(path)
    try:
        with open('/proc/mounts') as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace('\\040', ' ')
                if (path == mnt or path.startswith(mnt.rstrip('/') + '/')) and len(mnt) >= len(best):
                    best, kind = mnt, '%s (%s on %s)' % (parts[2], parts[0], mnt)
    except OSError:
        pass
    return kind


def sync_disk():
    try:
        subprocess.run(['sync'], timeout=60)
    except subprocess.TimeoutExpired:
        pass


def count_lines(path):
    n = 0
    try:
        with open(path, 'rb') as f:
            for _ in range(1 << 20):
                b = f.read(1 << 20)
                if not b:
                    break
                n += b.count(b'\n')
    except OSError:
        return 0
    return n


# ---- registries -----------------------------------------------------------------

class Registry:
    """A registry of n Directory channels (channels.jsonl) and the same
    channels as TSV for notify.lua and cgiloop."""

    def __init__(self, n, where):
        self.n = n
        self.jsonl = os.path.join(where, 'channels-%d.jsonl' % n)
        self.tsv = os.path.join(where, 'channels-%d.tsv' % n)
        exp_ms = (int(time.time()) + 6 * 86400) * 1000
        exp_hdr = time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(exp_ms // 1000))
        self.rows = []
        with open(self.jsonl, 'w') as j, open(self.tsv, 'w') as t:
            for i in range(n):
                h = (i * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9) & (2 ** 64 - 1)
                cid = '%08x-%04x-4%03x-8%03x-%012x' % (i, n % 0xffff, (h >> 52) & 0xfff,
                                                       (h >> 40) & 0xfff, h & 0xffffffffffff)
                token = 'gpush-bench-%016x%016x' % (h, (h * 0xD6E8FEB86659FD93) & (2 ** 64 - 1))
                rid = 'r%022x' % ((h * 0x94D049BB133111EB) & (2 ** 88 - 1))
                uri = ('https://admin.googleapis.com/admin/directory/v1/users'
                       '?domain=example%d.com&event=update&alt=json' % (i % 97))
                j.write(json.dumps({'kind': 'api#channel', 'id': cid, 'resourceId': rid,
                                    'resourceUri': uri, 'token': token,
                                    'expiration': str(exp_ms)},
                                   separators=(',', ':')) + '\n')
                row = (cid, token, rid, uri, exp_hdr)
                t.write('\t'.join(row) + '\n')
                if i < 8 or i % max(1, n // 64) == 0 or i == n - 1:
                    self.rows.append((i, row))
        self.bytes = os.path.getsize(self.jsonl)

    def spread(self, k):
        """k channels spread over the whole file (first, ..., last)."""
        if self.n <= k:
            want = list(range(self.n))
        elif k == 1:
            want = [0]
        else:
            want = sorted({round(j * (self.n - 1) / (k - 1)) for j in range(k)})
        byidx = dict(self.rows)
        missing = [i for i in want if i not in byidx]
        if missing:
            with open(self.tsv) as f:
                for i, line in enumerate(f):
                    if i in missing:
                        byidx[i] = tuple(line.rstrip('\n').split('\t'))
        return [byidx[i] for i in want if i in byidx]

    def fixtures(self, path, k):
        with open(path, 'w') as f:
            for row in self.spread(k):
                f.write('\t'.join(row) + '\n')
        return path

    def install(self, datadir, uid, gid):
        os.makedirs(datadir, exist_ok=True)
        dst = os.path.join(datadir, 'channels.jsonl')
        shutil.copyfile(self.jsonl, dst)
        os.chmod(datadir, 0o700)
        os.chmod(dst, 0o600)
        chown_tree(datadir, uid, gid)


def body_for(num):
    return ('{"kind":"admin#directory#user","id":"1%020d","etag":"\\"Mf8RAmnABsVfQ47MMT_18MHAdRE/%d\\"",'
            '"primaryEmail":"user%d@example.com"}' % (num, num, num))


def cgi_params(row, num, datadir, sync=True):
    cid, token, rid, uri, exp = row
    body = body_for(num)
    p = {'GATEWAY_INTERFACE': 'CGI/1.1', 'SERVER_PROTOCOL': 'HTTP/1.1',
         'REQUEST_METHOD': 'POST', 'CONTENT_TYPE': 'application/json; utf-8',
         'CONTENT_LENGTH': str(len(body)), 'SCRIPT_NAME': '/notifications',
         'HTTP_X_GOOG_CHANNEL_ID': cid, 'HTTP_X_GOOG_CHANNEL_TOKEN': token,
         'HTTP_X_GOOG_CHANNEL_EXPIRATION': exp, 'HTTP_X_GOOG_RESOURCE_ID': rid,
         'HTTP_X_GOOG_RESOURCE_URI': uri, 'HTTP_X_GOOG_RESOURCE_STATE': 'update',
         'HTTP_X_GOOG_MESSAGE_NUMBER': str(num), 'GPUSH_DIR': datadir,
         'GPUSH_SYNC': '1' if sync else '0'}
    return p, body.encode()


# ---- configurations -----------------------------------------------------------------

class Config:
    """One row: a variant at a process count and a registry size."""

    def __init__(self, variant, procs, size):
        self.variant = variant
        self.procs = procs
        self.size = size
        self.key = '%s-%dp-%d' % (variant.replace("'", 's'), procs or 0, size)
        self.path = '/%s/notifications' % self.key
        self.kind = {'e': 'proxy', 'f': 'apache'}.get(variant, 'fcgi')
        self.port = None
        self.datadir = None
        self.runs = []            # one dict per measured run
        self.warm = None
        self.skip = None          # why it did not run
        self.error = None         # why it failed
        self.rss = None
        self.lines = None
        self.prof = {}
        self.slow = False         # over a second a request: round 1 only
        # The quick form runs the scaling rows with one connection per
        # process, so that a slow handler leaves little queued work.
        self.conns = procs if (QUICK and size != MAIN_SIZE and procs) else CONNS

    @property
    def label(self):
        return VLABEL[self.variant]

    def describe(self):
        return '%s %s' % (self.label, VDESC[self.variant])

    def short(self):
        p = '%dp' % self.procs if self.procs else 'cgi'
        return '%s %s %s ch' % (self.label, p, fmt_size(self.size))


def build_configs(unavailable):
    main = PROCS[0]
    cfgs = []
    for procs in PROCS:
        for v in ('a', 'b', "b'", 'c', 'd', 'e'):
            cfgs.append(Config(v, procs, MAIN_SIZE))
        if procs == main:
            cfgs.append(Config('f', 0, MAIN_SIZE))
            for v in SCALE:
                for size in SIZES:
                    if size != MAIN_SIZE:
                        cfgs.append(Config(v, procs, size))
    for c in cfgs:
        if ONLY and c.variant not in ONLY:
            c.skip = 'not in BENCH_ONLY'
        elif 'wrk' in unavailable:
            c.skip = 'wrk unavailable'
        elif c.kind in ('fcgi', 'proxy') and 'lighttpd' in unavailable:
            c.skip = 'lighttpd unavailable'
        elif c.kind == 'proxy' and 'flask' in unavailable:
            c.skip = 'python3-flask, gunicorn or python3-googleapi unavailable'
        elif c.kind == 'apache' and 'apache' in unavailable:
            c.skip = 'apache2 unavailable'
    return cfgs


# ---- servers --------------------------------------------------------------------

class Servers:
    """lighttpd (every FastCGI variant, proxy to gunicorn), gunicorn per
    process count, Apache prefork + mod_cgi; all on 127.0.0.1."""

    def __init__(self, cfgs, regs, run):
        self.cfgs = [c for c in cfgs if c.skip is None]
        self.regs = regs
        self.run = run
        self.uid, self.gid, self.user = run_user()
        self.lighttpd = None
        self.gunicorn = {}
        self.apache = None
        self.lport = None
        self.aport = None

    def env(self, extra=None):
        e = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
             'BENCH_RUN': RUN_ID}
        e.update(extra or {})
        return e

    def prepare(self):
        # Everything the servers read or write is in the stage, outside
        # the clone (which may sit below a directory they cannot enter);
        # their logs are copied to LOGS at the end.
        st, run = STAGE[0], self.run
        for d in ('htdocs', 'data'):
            st.mkdir(d)
        for d in ('sock', 'apache', 'logs'):
            st.mkdir(d, owned=True)
        for name in ('noop.fcgi', 'append.fcgi'):
            st.copy(os.path.join(BINDIR, name), 'bin')
        st.copy(os.path.join(HERE, 'flask', 'app.py'), 'flask')
        for c in self.cfgs:
            c.datadir = os.path.join(run, 'data', c.key)
            self.regs[c.size].install(c.datadir, self.uid, self.gid)

    def start(self):
        self.prepare()
        if any(c.kind == 'proxy' for c in self.cfgs):
            self.start_gunicorn()
        if any(c.kind in ('fcgi', 'proxy') for c in self.cfgs):
            self.start_lighttpd()
        if any(c.kind == 'apache' for c in self.cfgs):
            self.start_apache()

    # lighttpd
    def start_lighttpd(self):
        run = self.run
        self.lport = free_port()
        bins = {'a': 'noop.fcgi', 'b': 'append.fcgi', "b'": 'append.fcgi',
                'c': 'gpush.fcgi', 'd': 'gpush.fcgi'}
        fc, px = [], []
        for c in self.cfgs:
            if c.kind == 'fcgi':
                env = {'BENCH_RUN': RUN_ID, 'BENCH_CONFIG': c.key}
                if c.variant in ('b', "b'"):
                    env['BENCH_LOG'] = os.path.join(c.datadir, 'notifications.ndjson')
                    env['BENCH_SYNC'] = '1' if c.variant == "b'" else '0'
                else:
                    env['GPUSH_DIR'] = c.datadir
                    if c.variant == 'd':
                        env['GPUSH_SYNC'] = '0'
                envs = ', '.join('"%s" => "%s"' % kv for kv in sorted(env.items()))
                # min-procs = max-procs and a long idle-timeout: lighttpd
                # otherwise kills the processes above min-procs (default
                # 4) after 60 s idle and respawns them on demand, and a
                # respawned gpush loads its registry inside a measured run.
                fc.append('  "/%s/" => (( "bin-path" => "%s", "socket" => "%s",\n'
                          '     "max-procs" => %d, "min-procs" => %d, "idle-timeout" => 86400,\n'
                          '     "check-local" => "disable",\n'
                          '     "bin-environment" => ( %s ),\n'
                          '     "bin-copy-environment" => ( "PATH", "LANG" ) ))'
                          % (c.key, os.path.join(run, 'bin', bins[c.variant]),
                             os.path.join(run, 'sock', c.key + '.sock'), c.procs, c.procs, envs))
            elif c.kind == 'proxy':
                px.append('  "/%s/" => (( "host" => "127.0.0.1", "port" => %d ))'
                          % (c.key, self.gunicorn[c.key][1]))
            c.port = self.lport if c.kind in ('fcgi', 'proxy') else c.port
        conf = os.path.join(run, 'lighttpd.conf')
        with open(conf, 'w') as f:
            f.write('# written by bench/bench.py\n')
            f.write('server.modules = ( "mod_fastcgi", "mod_proxy" )\n')
            f.write('server.document-root = "%s"\n' % os.path.join(run, 'htdocs'))
            f.write('server.bind = "127.0.0.1"\nserver.port = %d\n' % self.lport)
            f.write('server.pid-file = "%s"\n' % os.path.join(run, 'logs', 'lighttpd.pid'))
            f.write('server.errorlog = "%s"\n' % os.path.join(run, 'logs', 'lighttpd.error.log'))
            if IS_ROOT:
                f.write('server.username = "%s"\nserver.groupname = "%s"\n'
                        % (self.user, self.user))
            f.write('server.max-connections = 2048\nserver.max-fds = 8192\n')
            f.write('server.max-keep-alive-requests = 65535\n'
                    'server.max-keep-alive-idle = 60\nserver.max-read-idle = 60\n'
                    'server.max-write-idle = 120\n')
            if fc:
                f.write('fastcgi.server = (\n%s\n)\n' % ',\n'.join(fc))
            if px:
                f.write('proxy.server = (\n%s\n)\n' % ',\n'.join(px))
        t = subprocess.run(['lighttpd', '-tt', '-f', conf], capture_output=True, text=True,
                           timeout=30)
        if t.returncode != 0:
            raise RuntimeError('lighttpd rejects %s: %s' % (conf, t.stderr.strip()))
        out = open(os.path.join(LOGS, 'lighttpd.out'), 'w')
        self.lighttpd = subprocess.Popen(['lighttpd', '-D', '-f', conf], stdout=out,
                                         stderr=out, env=self.env(), start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(self.lighttpd, 15))
        if not wait_port(self.lport, 30):
            raise RuntimeError('lighttpd did not listen on %d' % self.lport)

    # gunicorn
    def start_gunicorn(self):
        for c in self.cfgs:
            if c.kind != 'proxy':
                continue
            port = free_port()
            argv = ['/usr/bin/gunicorn', '--workers', str(c.procs), '--worker-class', 'sync',
                    '--bind', '127.0.0.1:%d' % port, '--backlog', '2048',
                    '--chdir', os.path.join(self.run, 'flask'), '--log-level', 'warning',
                    '--error-logfile', os.path.join(self.run, 'logs', 'gunicorn-%s.log' % c.key),
                    '--pid', os.path.join(self.run, 'logs', 'gunicorn-%s.pid' % c.key)]
            if IS_ROOT:
                argv += ['--user', self.user, '--group', self.user]
            argv.append('app:app')
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(LOGS, 'gunicorn-%s.out' % c.key), 'w'),
                                 env=self.env({'BENCH_DATA': c.datadir, 'BENCH_CONFIG': c.key}),
                                 start_new_session=True, cwd=os.path.join(self.run, 'flask'))
            self.gunicorn[c.key] = (p, port)
            CLEANUPS.append(lambda p=p: stop_proc(p, 15))
        for key, (p, port) in self.gunicorn.items():
            if not wait_port(port, 60):
                raise RuntimeError('gunicorn (%s) did not listen on %d' % (key, port))

    # Apache
    def start_apache(self):
        run = self.run
        root = os.path.join(run, 'apache')
        mods = '/usr/lib/apache2/modules'
        self.aport = free_port()
        c = [x for x in self.cfgs if x.kind == 'apache'][0]
        c.port = self.aport
        n = max(CONNS + 8, 40)
        conf = os.path.join(root, 'httpd.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join([
                '# written by bench/bench.py: prefork + mod_cgi, one process per request',
                'ServerRoot "%s"' % root, 'ServerName 127.0.0.1',
                'Listen 127.0.0.1:%d' % self.aport,
                'PidFile "%s/httpd.pid"' % root, 'DefaultRuntimeDir "%s"' % root,
                'Mutex file:%s default' % root,
                'ErrorLog "%s"' % os.path.join(run, 'logs', 'apache.error.log'),
                'LogLevel warn',
                'LoadModule mpm_prefork_module %s/mod_mpm_prefork.so' % mods,
                'LoadModule authz_core_module %s/mod_authz_core.so' % mods,
                'LoadModule alias_module %s/mod_alias.so' % mods,
                'LoadModule env_module %s/mod_env.so' % mods,
                'LoadModule cgi_module %s/mod_cgi.so' % mods,
                ('User %s\nGroup %s' % (self.user, self.user)) if IS_ROOT else '',
                'StartServers %d' % n, 'MinSpareServers %d' % n,
                'MaxSpareServers %d' % (2 * n), 'ServerLimit %d' % (2 * n),
                'MaxRequestWorkers %d' % (2 * n), 'MaxConnectionsPerChild 0',
                'KeepAlive On', 'MaxKeepAliveRequests 0', 'KeepAliveTimeout 60',
                'Timeout 60',
                'DocumentRoot "%s"' % os.path.join(run, 'htdocs'),
                '<Directory />', '  Require all denied', '</Directory>',
                'ScriptAlias %s "%s"' % (c.path, os.path.join(run, 'bin', 'gpush.fcgi')),
                '<Location %s>' % c.path, '  Require all granted',
                '  SetEnv GPUSH_DIR "%s"' % c.datadir, '</Location>', '']))
        t = subprocess.run(['/usr/sbin/apache2', '-t', '-f', conf], capture_output=True,
                           text=True, timeout=30, env=self.env())
        if t.returncode != 0:
            raise RuntimeError('apache2 rejects %s: %s' % (conf, t.stderr.strip()))
        out = open(os.path.join(LOGS, 'apache.out'), 'w')
        self.apache = subprocess.Popen(['/usr/sbin/apache2', '-f', conf, '-DFOREGROUND'],
                                       stdout=out, stderr=out,
                                       env=self.env({'BENCH_CONFIG': c.key}),
                                       start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(self.apache, 15))
        if not wait_port(self.aport, 30):
            raise RuntimeError('apache2 did not listen on %d' % self.aport)

    def stop(self):
        stop_proc(self.apache, 15)
        for p, _ in self.gunicorn.values():
            stop_proc(p, 15)
        stop_proc(self.lighttpd, 15)
        kill_ours()

    # which processes do a config's work
    def pids(self, c):
        """(handler pids, server pids) of config c."""
        tag = ('BENCH_CONFIG=' + c.key).encode()
        if c.kind == 'fcgi':
            top = self.lighttpd.pid if self.lighttpd else None
            kids = [p for p in profiles.all_pids() if proc_ppid(p) == top]
            return [p for p in kids if tag in proc_environ(p)], [top] if top else []
        if c.kind == 'proxy':
            p = self.gunicorn[c.key][0].pid
            kids = [k for k in profiles.all_pids() if proc_ppid(k) == p]
            return [p] + kids, [self.lighttpd.pid] if self.lighttpd else []
        top = self.apache.pid if self.apache else None
        kids = [k for k in profiles.all_pids() if proc_ppid(k) == top]
        return kids, [top] if top else []


# ---- one wrk run ------------------------------------------------------------------

class Bases:
    """Message numbers above everything sent before: each run gets its own
    range of 10^9."""
    nxt = 10 ** 9

    @classmethod
    def take(cls):
        b = cls.nxt
        cls.nxt += 10 ** 9
        return b


def cpu_of(pids, children=False, part=None):
    """CPU seconds of pids (of their reaped children with children=True);
    part='user' or 'sys' for one half."""
    tot = 0.0
    idx = {None: 0, 'user': 2, 'sys': 3}[part] + (0 if part is None else 0)
    for p in pids:
        t = proc_times(p)
        if t:
            if children:
                tot += t[1] if part is None else t[4 if part == 'user' else 5]
            else:
                tot += t[idx]
    return tot


def probe_url(c, reg, timeout=120):
    """One notification through the server, as a readiness check."""
    row = reg.spread(1)[0]
    num = Bases.take()
    body = body_for(num)
    cid, token, rid, uri, exp = row
    h = {'Content-Type': 'application/json; utf-8', 'X-Goog-Channel-ID': cid,
         'X-Goog-Channel-Token': token, 'X-Goog-Channel-Expiration': exp,
         'X-Goog-Resource-ID': rid, 'X-Goog-Resource-URI': uri,
         'X-Goog-Resource-State': 'update', 'X-Goog-Message-Number': str(num)}
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection('127.0.0.1', c.port, timeout=max(1, deadline - time.time()))
            conn.request('POST', c.path, body=body, headers=h)
            r = conn.getresponse()
            r.read()
            conn.close()
            if r.status in (200, 204):
                return None
            last = 'status %d' % r.status
            if r.status < 500:
                return last
        except OSError as e:
            last = str(e)
        time.sleep(0.3)
    return last or 'timeout'


def warm_sockets(servers, c, reg):
    """One FastCGI request to every process of c, on the sockets lighttpd
    made for them (SOCKET-0, SOCKET-1, ...), all at once: each process has
    loaded its registry before it is measured."""
    import threading
    sock = os.path.join(servers.run, 'sock', c.key + '.sock')
    paths = sorted(p for p in (os.path.join(os.path.dirname(sock), n) for n in
                               os.listdir(os.path.dirname(sock)))
                   if p.startswith(sock + '-'))
    errors = []
    row = reg.spread(1)[0]

    nums = {p: Bases.take() for p in paths}

    def one(path):
        try:
            prm, body = cgi_params(row, nums[path], c.datadir, sync=(c.variant != 'd'))
            del prm['GPUSH_DIR'], prm['GPUSH_SYNC']
            st, _ = fcgi.request(path, prm, body, timeout=120)
            if st != 200:
                errors.append('%s: status %d' % (os.path.basename(path), st))
        except OSError as e:
            errors.append('%s: %s' % (os.path.basename(path), e))
    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    if not paths:
        return 'no sockets %s-N' % sock
    return '; '.join(errors) if errors else None


def wrk(servers, c, reg, seconds, conns=None, threads=None, tag='run'):
    """Runs wrk against c for seconds; returns a result dict."""
    conns = conns or c.conns
    threads = threads or THREADS
    base = Bases.take()
    url = 'http://127.0.0.1:%d%s' % (c.port, c.path)
    argv = ['wrk', '-t', str(threads), '-c', str(conns), '-d', '%ds' % seconds,
            '--timeout', '30s', '-s', os.path.join(HERE, 'notify.lua'), url, '--',
            reg.tsv, str(base), str(threads)]
    hp, sp = servers.pids(c)
    h0 = cpu_of(hp, children=(c.kind == 'apache'))
    hu0 = cpu_of(hp, children=(c.kind == 'apache'), part='user')
    s0 = cpu_of(sp) + (cpu_of(hp) if c.kind == 'apache' else 0)
    b0 = profiles.cpu_busy()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b'').decode() if isinstance(e.stdout, bytes) else (e.stdout or ''), -1
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b1 = profiles.cpu_busy()
    h1 = cpu_of(hp, children=(c.kind == 'apache'))
    hu1 = cpu_of(hp, children=(c.kind == 'apache'), part='user')
    s1 = cpu_of(sp) + (cpu_of(hp) if c.kind == 'apache' else 0)
    with open(os.path.join(LOGS, 'wrk-%s.log' % c.key), 'a') as f:
        f.write('### %s base=%d %s\n%s\n' % (tag, base, ' '.join(argv), out))
    res = None
    non2xx = 0
    for line in out.splitlines():
        if line.startswith('BENCHJSON '):
            try:
                res = json.loads(line[10:])
            except ValueError:
                res = None
        elif 'Non-2xx or 3xx responses:' in line:
            try:
                non2xx = int(line.rsplit(':', 1)[1])
            except ValueError:
                pass
    if res is None:
        return {'ok': False, 'why': 'wrk exit %d, no result (%s)' % (rc, out.strip()[-200:])}
    dur = res['duration_us'] / 1e6 if res['duration_us'] else seconds
    client = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    handler = h1 - h0
    server = s1 - s0
    res.update({'ok': True, 'non2xx': non2xx, 'rps': res['requests'] / dur if dur else 0,
                'dur': dur, 'wall': wall, 'base': base, 'cpu_handler': handler,
                'cpu_handler_user': hu1 - hu0,
                'cpu_server': server, 'cpu_client': client,
                'cpu_other': max(0.0, (b1 - b0) - handler - server - client),
                'cpu_total': b1 - b0})
    return res


def settle(servers, c, limit=SETTLE_MAX_S):
    """Waits until c's processes stop using CPU (requests a closed client
    left queued are still handled), at most limit seconds."""
    hp, _ = servers.pids(c)
    if not hp:
        return 0.0
    t0 = time.time()
    last = cpu_of(hp, children=(c.kind == 'apache')) + cpu_of(hp)
    quiet = 0
    while time.time() - t0 < limit:
        time.sleep(0.15)
        now = cpu_of(hp, children=(c.kind == 'apache')) + cpu_of(hp)
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
        if quiet >= 2:
            break
    return time.time() - t0


# ---- merging rounds -------------------------------------------------------------

GRID_P = [float(i) for i in range(1, 100)] + [99.5, 99.9]


def merged_quantile(runs, p):
    """The p-th percentile of the union of runs, from each run's grid,
    weighted by its request count (a mixture of piecewise-linear CDFs)."""
    runs = [r for r in runs if r.get('grid') and r['requests'] > 0]
    if not runs:
        return None
    if len(runs) == 1:
        return runs[0]['p50_us'] if p == 50 else runs[0]['p99_us'] if p == 99 else None
    w = sum(r['requests'] for r in runs)

    def cdf(r, x):
        g = r['grid']
        if x <= g[0]:
            return GRID_P[0] / 100 * (x / g[0] if g[0] > 0 else 1)
        for i in range(1, len(g)):
            if x <= g[i]:
                span = g[i] - g[i - 1]
                f = (x - g[i - 1]) / span if span > 0 else 1
                return (GRID_P[i - 1] + f * (GRID_P[i] - GRID_P[i - 1])) / 100
        return 1.0 if x >= r['max_us'] else 0.999 + 0.001 * (x - g[-1]) / max(1, r['max_us'] - g[-1])

    lo, hi = 0.0, float(max(r['max_us'] for r in runs))
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(r['requests'] * cdf(r, mid) for r in runs) / w < p / 100:
            lo = mid
        else:
            hi = mid
    return hi


def summarize(c):
    runs = [r for r in c.runs if r.get('ok')]
    if not runs:
        return None
    req = sum(r['requests'] for r in runs)
    dur = sum(r['dur'] for r in runs)
    per = [r['rps'] for r in runs]
    mean = sum(per) / len(per)
    s = {'requests': req, 'seconds': dur, 'rps': req / dur if dur else 0,
         'rounds': len(runs), 'per_round': per,
         'spread': (max(per) - min(per)) / 2 / mean * 100 if len(per) > 1 and mean else None,
         'p50_us': merged_quantile(runs, 50), 'p99_us': merged_quantile(runs, 99),
         'errors': sum(r['connect'] + r['read'] + r['write'] + r['timeout'] for r in runs),
         'timeouts': sum(r['timeout'] for r in runs),
         'non2xx': sum(r['non2xx'] for r in runs),
         'status_errors': sum(r['status'] for r in runs)}
    for k in ('cpu_handler', 'cpu_handler_user', 'cpu_server', 'cpu_client', 'cpu_other',
              'cpu_total'):
        s[k + '_us'] = sum(r[k] for r in runs) / req * 1e6 if req else None
    wall = sum(r['wall'] for r in runs)
    s['other_pct'] = sum(r['cpu_other'] for r in runs) / wall * 100 if wall else None
    return s


# ---- the interleaved runs ------------------------------------------------------------

def measure(servers, cfgs, regs):
    live = [c for c in cfgs if c.skip is None]
    # readiness: one notification through each
    for i, c in enumerate(live):
        Progress.show('starting %s (%d/%d)' % (c.short(), i + 1, len(live)))
        why = probe_url(c, regs[c.size])
        if why:
            c.error = 'no answer through the server: %s' % why
    live = [c for c in live if c.error is None]
    # warm-up: every process of every variant spawned, registries loaded
    # (one request straight to each gpush process's own socket, then wrk)
    for i, c in enumerate(live):
        Progress.show('warm-up %s (%d/%d)' % (c.short(), i + 1, len(live)))
        if c.variant in ('c', 'd'):
            why = warm_sockets(servers, c, regs[c.size])
            if why:
                c.error = 'warm-up failed: %s' % why
                continue
        c.warm = wrk(servers, c, regs[c.size], WARMUP_S, conns=max(c.procs or 1, THREADS),
                     tag='warmup')
        settle(servers, c, limit=120)
        sync_disk()
        if not c.warm.get('ok'):
            c.error = 'warm-up failed: %s' % c.warm.get('why')
    live = [c for c in live if c.error is None]
    total = ROUNDS * len(live)
    k = 0
    for r in range(ROUNDS):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for c in order:
            k += 1
            if c.slow:
                continue
            left = (total - k + 1) * (SECONDS + 1.0)
            Progress.show('round %d/%d  run %d/%d  %-34s ~%s left' %
                          (r + 1, ROUNDS, k, total, c.short(), fmt_elapsed(left)))
            res = wrk(servers, c, regs[c.size], SECONDS, tag='round %d' % (r + 1))
            res['round'] = r + 1
            c.runs.append(res)
            if res.get('ok'):
                Progress.show('round %d/%d  run %d/%d  %-34s %s req/s  p99 %s ms' %
                              (r + 1, ROUNDS, k, total, c.short(), fmt_rps(res['rps']),
                               fmt_ms(res['p99_us'])))
            if res.get('ok') and (res['requests'] < 10 * SECONDS or res['p50_us'] > 1e6):
                # Over a second a request: the requests still queued when
                # wrk stops take long to drain, so this row is measured
                # in this round only (it is marked in the table).
                c.slow = True
            res['settle_s'] = settle(servers, c, limit=120 if c.slow else SETTLE_MAX_S)
            sync_disk()
            time.sleep(0.1)
    # peak RSS of every handler process, while they are alive
    for c in live:
        hp, _ = servers.pids(c)
        if c.kind == 'apache':
            continue
        st = [proc_status(p) for p in hp]
        st = [s for s in st if s]
        if st and c.variant in ('a', 'c', 'd'):
            # where the resident pages of the biggest process are
            big = max(hp, key=lambda p: proc_status(p).get('VmHWM', 0))
            smaps_report(big, os.path.join(OUT, 'profile', 'rss-%s.txt' % c.key), c)
        if st:
            c.rss = {'hwm_kb': max(s.get('VmHWM', 0) for s in st),
                     'rss_kb': max(s.get('VmRSS', 0) for s in st),
                     'anon_kb': max(s.get('RssAnon', 0) for s in st),
                     'file_kb': max(s.get('RssFile', 0) for s in st),
                     'procs': len(st)}


def smaps_report(pid, path, c):
    """Resident kB per mapping of pid (/proc/pid/smaps), biggest first."""
    maps, cur = {}, None
    try:
        with open('/proc/%d/smaps' % pid) as f:
            for line in f:
                parts = line.split()
                if parts and '-' in parts[0] and len(parts) >= 5 and ':' not in parts[0]:
                    cur = parts[5] if len(parts) > 5 else '[anon]'
                elif parts and parts[0] == 'Rss:' and cur is not None:
                    maps[cur] = maps.get(cur, 0) + int(parts[1])
        st = proc_status(pid)
    except OSError:
        return
    with open(path, 'w') as f:
        f.write('# %s, pid %d: VmHWM %d kB, VmRSS %d kB (RssAnon %d, RssFile %d, RssShmem %d)\n'
                % (c.short(), pid, st.get('VmHWM', 0), st.get('VmRSS', 0), st.get('RssAnon', 0),
                   st.get('RssFile', 0), st.get('RssShmem', 0)))
        f.write('# resident kB by mapping, now (after the runs)\n')
        for name, kb in sorted(maps.items(), key=lambda kv: -kv[1]):
            f.write('%8d  %s\n' % (kb, name))


# ---- the profile pass (full run) --------------------------------------------------------

def profile_pass(servers, cfgs, regs, unavailable, pdir):
    """Per-request syscalls and their wall time (perf trace -s) and a CPU
    profile (perf record -g) of the handler processes, each under the same
    wrk load as in the table (a run of its own, after the table's runs)."""
    if 'perf' in unavailable:
        return
    m = PROCS[0]
    key = lambda v, size=MAIN_SIZE: '%s-%dp-%d' % (v.replace("'", 's'), m, size)
    trace = [key('b'), key("b'"), key('c'), key('d')] + [key('d', sz) for sz in SIZES if sz != MAIN_SIZE]
    record = [key('c'), key('d')] + [key('d', sz) for sz in SIZES if sz != MAIN_SIZE]
    by = {c.key: c for c in cfgs if c.skip is None and c.error is None and c.runs}
    jobs = [(k, 'trace') for k in trace if k in by and not by[k].slow] + \
        [(k, 'record') for k in record if k in by]
    secs = 3
    retried = set()
    for i, (k, what) in enumerate(jobs):
        c = by[k]
        hp, _ = servers.pids(c)
        if not hp:
            continue
        conns = max(c.procs, THREADS) if c.slow else None
        Progress.show('profile: perf %s %s (%d/%d)' % (what, c.short(), i + 1, len(jobs)))
        if what == 'trace':
            out = os.path.join(pdir, 'perf-trace-%s.txt' % c.key)
            argv = ['perf', 'trace', '-s', '-o', out]
        else:
            out = os.path.join(pdir, 'perf-%s.data' % c.key)
            argv = ['perf', 'record', '-q', '-F', '999', '-g', '-o', out]
        prof = subprocess.Popen(argv + ['-p', ','.join(map(str, hp)), '--', 'sleep', str(secs + 1)],
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(LOGS, 'perf.log'), 'a'))
        CLEANUPS.append(lambda p=prof: stop_proc(p, 5, signal.SIGINT))
        time.sleep(0.5)
        res = wrk(servers, c, regs[c.size], secs, conns=conns, tag='perf ' + what)
        try:
            prof.wait(secs + 60)
        except subprocess.TimeoutExpired:
            stop_proc(prof, 5, signal.SIGINT)
        settle(servers, c, limit=120 if c.slow else SETTLE_MAX_S)
        sync_disk()
        if not res.get('ok'):
            continue
        if what == 'trace':
            # The trace spans the run and half a second either side, when
            # the handlers sit in accept(): per request = over wrk's count.
            summ = profiles.perf_trace_summary(out)
            if not summ and k not in retried:
                # perf trace sometimes writes nothing ("Problems
                # initializing symbol libraries!"): once more
                retried.add(k)
                jobs.append((k, 'trace'))
                continue
            # Per request: over the handlers' accept() count (one per
            # FastCGI request) when there is one, else wrk's count.
            acc = summ.get('accept', [0])[0] + summ.get('accept4', [0])[0]
            c.prof['trace'] = {'requests': acc or res['requests'], 'wrk_requests': res['requests'],
                               'by': 'accept' if acc else 'wrk', 'rps': res['rps'],
                               'syscalls': summ}
        else:
            rep = os.path.join(pdir, 'perf-%s.txt' % c.key)
            with open(rep, 'w') as f:
                f.write('# perf record -F 999 -g, the %s handler processes under wrk -c%d '
                        '(%s req/s while recorded)\n' % (c.short(), conns or c.conns,
                                                        fmt_rps(res.get('rps'))))
                f.flush()
                subprocess.run(['perf', 'report', '-i', out, '--stdio', '--no-children',
                                '--sort', 'dso,sym', '-g', 'none', '--percent-limit', '0.5'],
                               stdout=f, stderr=subprocess.DEVNULL, timeout=300)
                f.write('\n# the same by object (kernel, gpush, libc, json-c, libfcgi)\n')
                f.flush()
                subprocess.run(['perf', 'report', '-i', out, '--stdio', '--no-children',
                                '--sort', 'dso', '-g', 'none'],
                               stdout=f, stderr=subprocess.DEVNULL, timeout=300)
                f.write('\n# the same, callers of the top symbols (caller graph)\n')
                f.flush()
                subprocess.run(['perf', 'report', '-i', out, '--stdio', '--no-children',
                                '--sort', 'sym', '-g', 'caller,0.5,callee,function,percent',
                                '--percent-limit', '3'],
                               stdout=f, stderr=subprocess.DEVNULL, timeout=300)
            c.prof['perf'] = top_perf(rep)
            c.prof['perf_dso'] = dso_perf(rep)
            try:
                os.unlink(out)
            except OSError:
                pass


def dso_perf(path):
    """[(percent, object)] from the '--sort dso' section of a report."""
    rows, on = [], False
    try:
        with open(path, errors='replace') as f:
            for line in f:
                s = line.strip()
                if s.startswith('# the same by object'):
                    on = True
                    continue
                if s.startswith('# the same, callers'):
                    break
                if on and s and not s.startswith('#'):
                    parts = s.split(None, 1)
                    if len(parts) == 2 and parts[0].endswith('%'):
                        try:
                            rows.append((float(parts[0][:-1]), parts[1]))
                        except ValueError:
                            pass
    except OSError:
        pass
    return rows


def top_perf(path, n=12):
    rows = []
    try:
        with open(path, errors='replace') as f:
            for line in f:
                s = line.strip()
                if s.startswith('# the same'):
                    break
                if s.endswith('%') or not s or s.startswith('#'):
                    continue
                parts = s.split(None, 2)
                if len(parts) == 3 and parts[0].endswith('%'):
                    try:
                        pct = float(parts[0][:-1])
                    except ValueError:
                        continue
                    rows.append((pct, parts[1], parts[2].replace('[k] ', '').replace('[.] ', '')))
    except OSError:
        pass
    return rows[:n]


# ---- CGI handler time ------------------------------------------------------------------

def cgi_phase(regs, run, uid, gid):
    """Runs gpush.fcgi directly in plain-CGI mode, one process per request
    (bench/c/cgiloop), at every registry size, durable and GPUSH_SYNC=0,
    interleaved; the no-op binary gives the floor (fork+exec+exit)."""
    loop = os.path.join(BINDIR, 'cgiloop')
    out = {}
    rounds = 1 if QUICK else 4
    count = 60 if QUICK else 150
    datadirs = {}
    for s in SIZES:
        d = os.path.join(run, 'data', 'cgi-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        datadirs[s] = d
    fx = {s: regs[s].fixtures(os.path.join(run, 'cgi-fixtures-%d.tsv' % s), 64) for s in SIZES}
    # The first request after a registry change may build what later ones
    # reuse (an index in state/): timed apart, not in the mean.
    first = {}
    for s in SIZES:
        Progress.show('CGI handler time: first request, %s channels' % fmt_size(s))
        first[s] = cgiloop_once(datadirs[s], fx[s])
    jobs = [('noop', SIZES[0], 1)] + [('gpush', s, sync) for s in SIZES for sync in (1, 0)]
    for r in range(rounds):
        for j, (what, s, sync) in enumerate(jobs):
            Progress.show('CGI handler time: round %d/%d, %s %s channels%s' %
                          (r + 1, rounds, what, fmt_size(s),
                           '' if what == 'noop' else (' durable' if sync else ' GPUSH_SYNC=0')))
            binary = os.path.join(BINDIR, 'noop.fcgi') if what == 'noop' else HANDLER[0]
            argv = [loop, '-x', binary, '-d', datadirs[s], '-f', fx[s], '-n', str(count),
                    '-b', str(Bases.take()), '-s', str(sync), '-t', '30',
                    '-E', os.path.join(LOGS, 'cgi-stderr.log')]
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
                res = json.loads(p.stdout.strip().splitlines()[-1])
            except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
                res = {'runs': 0, 'ok': 0, 'bad': 0, 'why': str(e)}
            key = 'noop' if what == 'noop' else '%d-%s' % (s, 'sync' if sync else 'nosync')
            out.setdefault(key, []).append(res)
            sync_disk()
    summary = {}
    for key, rs in out.items():
        good = [x for x in rs if x.get('runs')]
        if not good:
            summary[key] = {'ok': False, 'why': rs[-1].get('why', 'no runs')}
            continue
        n = sum(x['runs'] for x in good)
        summary[key] = {
            'ok': all(x['bad'] == 0 for x in good), 'runs': n,
            'bad': sum(x['bad'] for x in good),
            'mean_ms': sum(x['mean_us'] * x['runs'] for x in good) / n / 1000,
            'p50_ms': sorted(x['p50_us'] for x in good)[len(good) // 2] / 1000,
            'p99_ms': max(x['p99_us'] for x in good) / 1000,
            'maxrss_kb': max(x['maxrss_kb'] for x in good)}
    for s, x in first.items():
        summary['first-%d' % s] = x
    return summary


def cgiloop_once(datadir, fixtures, sync=1):
    """One CGI request through cgiloop: its result (ms, ok)."""
    argv = [os.path.join(BINDIR, 'cgiloop'), '-x', HANDLER[0], '-d', datadir, '-f', fixtures,
            '-n', '1', '-b', str(Bases.take()), '-s', str(sync), '-t', '120',
            '-E', os.path.join(LOGS, 'cgi-stderr.log')]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        x = json.loads(p.stdout.strip().splitlines()[-1])
        return {'ms': x['mean_us'] / 1000, 'ok': x['bad'] == 0 and x['runs'] == 1}
    except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError) as e:
        return {'ms': None, 'ok': False, 'why': str(e)}


# ---- callgrind: instructions per request ---------------------------------------------------

FIXTURE_CHANNELS = 10
FIXTURE_REQUESTS = 40


def callgrind_phase(regs, run, pdir):
    """Instructions per request inside handle(), over a fixed fixture set:
    FIXTURE_REQUESTS accepted notifications, round robin over
    FIXTURE_CHANNELS channels spread across the registry, after one
    warm-up request (the registry load, reported apart).  FastCGI: one
    process under callgrind, a dump before each FCGX_Accept_r (so each
    dump is one request's loop).  CGI: one callgrind run per request."""
    res = {'fcgi': {}, 'cgi': {}}
    budget = 120 if QUICK else 400    # seconds for the whole phase
    t_start = time.time()
    for s in SIZES:
        d = os.path.join(run, 'data', 'cg-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        rows = regs[s].spread(FIXTURE_CHANNELS)
        # FastCGI (the quick form: the first 10 of the set, and not at
        # 100,000 channels, where loading the registry under callgrind
        # takes most of a minute)
        nreq = 10 if QUICK else FIXTURE_REQUESTS
        limit = 60 if s >= 100000 else 120
        if QUICK and s >= 100000:
            res['fcgi'][s] = {'requests': 0, 'skipped': 'not in the quick form'}
            nreq = -1
        Progress.show('callgrind: FastCGI, %s channels' % fmt_size(s))
        prefix = os.path.join(pdir, 'cg-fcgi-%d.out' % s)
        for old in profiles.callgrind_dumps(prefix):
            os.unlink(old)
        sock = os.path.join(run, 'sock', 'cg-%d.sock' % s)
        env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': RUN_ID}
        if nreq >= 0:
            res['fcgi'][s] = callgrind_fcgi(s, d, rows, nreq, limit, budget, t_start, prefix,
                                            sock, env)
        # CGI: whole process per request, after one request outside
        # callgrind (what a first request after a registry change builds)
        ncgi = 2 if QUICK else 4
        cgi = []
        cgiloop_once(d, regs[s].fixtures(os.path.join(run, 'cg-fixtures-%d.tsv' % s), 4))
        for i in range(ncgi):
            if time.time() - t_start > budget + 60:
                break
            Progress.show('callgrind: CGI, %s channels, request %d/%d' % (fmt_size(s), i + 1, ncgi))
            out = os.path.join(pdir, 'cg-cgi-%d.out' % s)
            row = rows[(i * 3 + 1) % len(rows)]
            prm, body = cgi_params(row, Bases.take(), d)
            prm['PATH'] = '/usr/bin:/bin'
            try:
                q = subprocess.run(['valgrind', '--tool=callgrind', '--compress-strings=no',
                                    '--compress-pos=no', '--callgrind-out-file=' + out, HANDLER[0]],
                                   input=body, env=prm, capture_output=True, timeout=300)
                ok = q.stdout.startswith(b'Status: 200')
            except subprocess.TimeoutExpired:
                ok = False
            if os.path.exists(out):
                cg = profiles.Callgrind(out)
                cgi.append({'ok': ok, 'total': cg.total, 'handle': cg.called('handle'),
                            'incl': cg.all_inclusive()})
        if cgi:
            n = len(cgi)
            agg = {}
            for x in cgi:
                for fn, ir in x['incl'].items():
                    agg[fn] = agg.get(fn, 0) + ir
            res['cgi'][s] = {'requests': n, 'ok': all(x['ok'] for x in cgi),
                             'total': sum(x['total'] for x in cgi) / n,
                             'handle': sum(x['handle'] for x in cgi) / n,
                             'top': sorted(((ir / n, fn) for fn, ir in agg.items()),
                                           reverse=True)[:30]}
    # the reference responders, the same fixture set, per loop iteration
    res['ref'] = {}
    s = MAIN_SIZE
    rows = regs[s].spread(FIXTURE_CHANNELS)
    for key, name in (('a', 'noop.fcgi'), ('b', 'append.fcgi')):
        if time.time() - t_start > budget + 60:
            break
        Progress.show('callgrind: FastCGI %s' % name)
        d = os.path.join(run, 'data', 'cg-%s' % key)
        os.makedirs(d, exist_ok=True)
        env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': RUN_ID,
               'BENCH_LOG': os.path.join(d, 'notifications.ndjson'), 'BENCH_SYNC': '0'}
        prefix = os.path.join(pdir, 'cg-fcgi-%s.out' % name.split('.')[0])
        res['ref'][key] = callgrind_fcgi(s, d, rows, 10 if QUICK else FIXTURE_REQUESTS, 60, budget + 60,
                                         t_start, prefix, os.path.join(run, 'sock', 'cg-%s.sock' % key),
                                         env, binary=os.path.join(BINDIR, name))
    return res


def callgrind_fcgi(s, d, rows, nreq, limit, budget, t_start, prefix, sock, env, binary=None):
    """One FastCGI process under callgrind, nreq + 1 requests."""
    p = fcgi.spawn(['valgrind', '--tool=callgrind', '--compress-strings=no',
                    '--compress-pos=no', '--dump-before=FCGX_Accept_r',
                    '--callgrind-out-file=' + prefix, binary or HANDLER[0]], env, sock,
                   stderr=open(os.path.join(LOGS, 'callgrind-%d.log' % s), 'w'))
    CLEANUPS.append(lambda p=p: fcgi.stop(p, 10))
    statuses = []
    t0 = time.time()
    base = Bases.take()
    try:
        for i in range(nreq + 1):
            if time.time() - t0 > limit or time.time() - t_start > budget:
                break
            row = rows[i % len(rows)]
            prm, body = cgi_params(row, base + i, d)
            st, _ = fcgi.request(sock, prm, body, timeout=max(5, limit - (time.time() - t0) + 5))
            statuses.append(st)
            Progress.show('callgrind: FastCGI, %s channels, request %d/%d' %
                          (fmt_size(s), i + 1, nreq + 1))
    except OSError as e:
        note('callgrind FastCGI %d: %s' % (s, e))
    # the last request's dump is written when the loop is back in
    # FCGX_Accept_r: wait for it before stopping the process
    for _ in range(300):
        if len(profiles.callgrind_dumps(prefix)) > len(statuses) or p.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    fcgi.stop(p, 120)
    dumps = profiles.callgrind_dumps(prefix)
    # dump 1 = start-up; dump k+1 = request k (dumped when the loop
    # comes back to FCGX_Accept_r); the final one is written at exit.
    per = []
    for path in dumps[1:len(statuses) + 1]:
        cg = profiles.Callgrind(path)
        per.append({'total': cg.total, 'handle': cg.called('handle'), 'cg': cg})
    entry = {'requests': len(per), 'statuses': statuses}
    if per:
        entry['cold_handle'] = per[0]['handle']
        entry['cold_loop'] = per[0]['total']
        steady = per[1:]
        # the breakdown: over the steady requests, or the first one alone
        # when nothing else was measured in time
        over = steady or per[:1]
        if steady:
            entry['steady_handle'] = sum(x['handle'] for x in steady) / len(steady)
            entry['steady_loop'] = sum(x['total'] for x in steady) / len(steady)
            entry['steady_n'] = len(steady)
        agg, aggs = {}, {}
        for x in over:
            for fn, ir in x['cg'].all_inclusive().items():
                agg[fn] = agg.get(fn, 0) + ir
            for fn, ir in x['cg'].all_self().items():
                aggs[fn] = aggs.get(fn, 0) + ir
        entry['top'] = sorted(((ir / len(over), fn) for fn, ir in agg.items()), reverse=True)[:120]
        entry['top_self'] = sorted(((ir / len(over), fn) for fn, ir in aggs.items()),
                                   reverse=True)[:25]
        entry['top_of'] = 'steady' if steady else 'first'
        # keep one representative dump, the rest is summarized
        keep = dumps[2] if len(dumps) > 2 else dumps[1] if len(dumps) > 1 else None
        for path in dumps:
            if path != keep:
                os.unlink(path)
        if keep:
            os.rename(keep, prefix + ('.steady' if steady else '.first'))
            entry['dump'] = prefix + ('.steady' if steady else '.first')
    return entry


# ---- strace -c and massif (full run) -------------------------------------------------------

def strace_phase(regs, run, pdir, unavailable):
    """Syscalls per request of one FastCGI gpush process (sequential
    requests, durable and GPUSH_SYNC=0), and per CGI request."""
    out = {}
    if 'strace' in unavailable:
        return out
    for s in sorted({MAIN_SIZE, SIZES[-1]}):
        for sync in (1, 0):
            d = os.path.join(run, 'data', 'st-%d-%d' % (s, sync))
            regs[s].install(d, os.getuid(), os.getgid())
            rows = regs[s].spread(FIXTURE_CHANNELS)
            n = 200
            Progress.show('strace -c: FastCGI, %s channels, %s' % (fmt_size(s), 'durable' if sync else 'GPUSH_SYNC=0'))
            sock = os.path.join(run, 'sock', 'st-%d-%d.sock' % (s, sync))
            tfile = os.path.join(pdir, 'strace-fcgi-%d-%s.txt' % (s, 'sync' if sync else 'nosync'))
            env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': RUN_ID}
            # warm request outside the trace, so the count is per steady request
            p = fcgi.spawn(['strace', '-c', '-f', '-o', tfile, HANDLER[0]], env, sock)
            CLEANUPS.append(lambda p=p: fcgi.stop(p, 10))
            base = Bases.take()
            t0 = time.time()
            done = 0
            try:
                for i in range(n):
                    if time.time() - t0 > 15:
                        break
                    prm, body = cgi_params(rows[i % len(rows)], base + i, d, sync=bool(sync))
                    fcgi.request(sock, prm, body, timeout=60)
                    done += 1
            except OSError as e:
                note('strace %d: %s' % (s, e))
            # stop the traced handler (strace's child); strace then exits
            # and writes its summary
            for _ in range(100):
                kids = [k for k in profiles.all_pids() if proc_ppid(k) == p.pid]
                if not kids or p.poll() is not None:
                    break
                for k in kids:
                    try:
                        os.kill(k, signal.SIGTERM)
                    except OSError:
                        pass
                try:
                    p.wait(0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
            fcgi.stop(p, 10)
            out['fcgi-%d-%d' % (s, sync)] = {'requests': done, 'calls': profiles.strace_summary(tfile)}
        # CGI (after a first request outside the trace)
        d = os.path.join(run, 'data', 'st-cgi-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        rows = regs[s].spread(FIXTURE_CHANNELS)
        cgiloop_once(d, regs[s].fixtures(os.path.join(run, 'st-fixtures-%d.tsv' % s), 4))
        tfile = os.path.join(pdir, 'strace-cgi-%d.txt' % s)
        prm, body = cgi_params(rows[1 % len(rows)], Bases.take(), d)
        prm['PATH'] = '/usr/bin:/bin'
        try:
            subprocess.run(['strace', '-c', '-f', '-o', tfile, HANDLER[0]], input=body, env=prm,
                           capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        out['cgi-%d' % s] = {'requests': 1, 'calls': profiles.strace_summary(tfile)}
    return out


def massif_phase(regs, run, pdir, unavailable):
    """The heap of a FastCGI process after one request at the largest
    registry: what the registry costs in memory, by allocation site."""
    if 'valgrind' in unavailable:
        return None
    s = SIZES[-1]
    d = os.path.join(run, 'data', 'ms-%d' % s)
    regs[s].install(d, os.getuid(), os.getgid())
    row = regs[s].spread(2)[-1]
    Progress.show('massif: FastCGI heap, %s channels' % fmt_size(s))
    sock = os.path.join(run, 'sock', 'ms.sock')
    mfile = os.path.join(pdir, 'massif-fcgi-%d.out' % s)
    env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': RUN_ID}
    p = fcgi.spawn(['valgrind', '--tool=massif', '--massif-out-file=' + mfile,
                    '--threshold=2', HANDLER[0]], env, sock)
    CLEANUPS.append(lambda: fcgi.stop(p, 10))
    try:
        prm, body = cgi_params(row, Bases.take(), d)
        fcgi.request(sock, prm, body, timeout=300)
    except OSError as e:
        note('massif: %s' % e)
    fcgi.stop(p, 120)
    txt = os.path.join(pdir, 'massif-fcgi-%d.txt' % s)
    if not os.path.exists(mfile):
        return None
    with open(txt, 'w') as f:
        subprocess.run(['ms_print', mfile], stdout=f, stderr=subprocess.DEVNULL, timeout=120)
    peak = None
    try:
        with open(mfile) as f:
            snaps, cur = [], {}
            for line in f:
                if line.startswith('snapshot='):
                    cur = {}
                    snaps.append(cur)
                elif '=' in line and snaps:
                    k, v = line.strip().split('=', 1)
                    if k in ('mem_heap_B', 'mem_heap_extra_B', 'mem_stacks_B'):
                        cur[k] = int(v)
        if snaps:
            best = max(snaps, key=lambda x: x.get('mem_heap_B', 0) + x.get('mem_heap_extra_B', 0))
            peak = {'heap_B': best.get('mem_heap_B', 0), 'extra_B': best.get('mem_heap_extra_B', 0)}
    except OSError:
        pass
    return {'size': s, 'peak': peak, 'report': txt, 'registry_B': regs[s].bytes}


# ---- report ------------------------------------------------------------------------------

def table(cfgs, results):
    """The main table as lines."""
    base_a = {c.procs: results.get(c.key) for c in cfgs if c.variant == 'a' and c.size == MAIN_SIZE}
    base_e = {c.procs: results.get(c.key) for c in cfgs if c.variant == 'e' and c.size == MAIN_SIZE}
    head = ('%-44s %5s %9s %9s %5s %8s %8s %7s %7s %8s %7s' %
            ('variant', 'procs', 'channels', 'req/s', '±%', 'p50 ms', 'p99 ms', '×(a)', '×(e)',
             'cpu µs', 'rss MiB'))
    lines = [head, '-' * len(head)]
    for c in cfgs:
        s = results.get(c.key)
        name = '%-4s %s' % (c.label, VDESC[c.variant])
        procs = str(c.procs) if c.procs else 'cgi'
        if s is None:
            why = c.skip or c.error or 'no result'
            lines.append('%-44s %5s %9s   %s' % (name, procs, fmt_size(c.size),
                                                 ('skipped: ' if c.skip else 'FAILED: ') + why))
            continue
        p = c.procs or PROCS[0]
        a = base_a.get(p)
        e = base_e.get(p)
        ra = s['rps'] / a['rps'] if a and a['rps'] else None
        re_ = s['rps'] / e['rps'] if e and e['rps'] else None
        rss = mib(c.rss['hwm_kb']) if c.rss else None
        lines.append('%-44s %5s %9s %9s %5s %8s %8s %7s %7s %8s %7s' % (
            name, procs, fmt_size(c.size), fmt_rps(s['rps']) + ('*' if c.slow else ''),
            '%.0f' % s['spread'] if s['spread'] is not None else '-',
            fmt_ms(s['p50_us']), fmt_ms(s['p99_us']), fmt_ratio(ra), fmt_ratio(re_),
            fmt_int(s['cpu_handler_us']), '%.1f' % rss if rss is not None else '-'))
    return lines


def details(cfgs, results):
    head = ('%-20s %9s %6s %13s %7s %7s %7s %6s %7s %8s %9s' %
            ('config', 'requests', 'rounds', 'hdl usr+sys', 'srv µs', 'wrk µs', 'other%',
             'non2xx', 'errors', 'timeouts', 'log lines'))
    lines = [head, '-' * len(head)]
    for c in cfgs:
        s = results.get(c.key)
        if s is None:
            continue
        hu = s.get('cpu_handler_user_us')
        hs = s['cpu_handler_us'] - hu if hu is not None and s['cpu_handler_us'] is not None else None
        lines.append('%-20s %9s %6d %13s %7s %7s %7s %6d %7d %8d %9s' % (
            c.key, fmt_int(s['requests']), s['rounds'],
            '%s+%s' % (fmt_int(hu), fmt_int(hs)) if hu is not None else '-',
            fmt_int(s['cpu_server_us']),
            fmt_int(s['cpu_client_us']),
            '%.0f' % s['other_pct'] if s['other_pct'] is not None else '-',
            s['non2xx'], s['errors'] - s['timeouts'], s['timeouts'],
            fmt_int(c.lines) if c.lines is not None else '-'))
    return lines


def rss_limit_kb(size_bytes):
    return 2 * 1024 + 1.5 * size_bytes / 1024


def targets(cfgs, results, regs, cgi, rss_by_size, rss_detail):
    """[(met: True/False/None, text)]"""
    by = {c.key: c for c in cfgs}
    main = PROCS[0]

    def get(v, procs=main, size=MAIN_SIZE):
        c = by.get('%s-%dp-%d' % (v.replace("'", 's'), procs, size))
        return results.get(c.key) if c else None

    out = []

    def ratio_target(name, num, den, want, what):
        if num is None or den is None or not den['rps']:
            out.append((None, '%s: not measured' % name))
            return
        r = num['rps'] / den['rps']
        out.append((r >= want, '%s: %.2f × (%s vs %s req/s; wanted ≥ %.2f)' %
                    (name, r, fmt_rps(num['rps']), fmt_rps(den['rps']), want) + what))

    ratio_target("(d) ≥ 0.85 × (b), %d procs" % main, get('d'), get('b'), 0.85, '')
    ratio_target("(c) ≥ 2 × (b'), %d procs, durable" % main, get('c'), get("b'"), 2.0, '')
    ratio_target("(c) ≥ 3 × (e), %d procs" % main, get('c'), get('e'), 3.0, '')
    lo, hi = SIZES[0], SIZES[-1]
    for v in SCALE:
        ratio_target('(%s) FastCGI %s channels ≥ 0.9 × %s channels' % (v, fmt_size(hi), fmt_size(lo)),
                     get(v, size=hi), get(v, size=lo), 0.9, '')
    for key, label in (('%d-sync' % hi, 'durable'), ('%d-nosync' % hi, 'GPUSH_SYNC=0')):
        x = cgi.get(key) if cgi else None
        if x and x.get('runs'):
            out.append((x['mean_ms'] <= 2.0, 'CGI handler time, %s channels, %s: %.2f ms mean '
                        '(p50 %.2f, p99 %.2f; wanted ≤ 2 ms)' % (fmt_size(hi), label, x['mean_ms'],
                                                                 x['p50_ms'], x['p99_ms'])))
        else:
            out.append((None, 'CGI handler time, %s channels, %s: not measured' % (fmt_size(hi), label)))
    for s in SIZES:
        r = rss_by_size.get(s)
        lim = rss_limit_kb(regs[s].bytes)
        if r is None:
            out.append((None, 'RSS, %s channels: not measured' % fmt_size(s)))
            continue
        d = rss_detail.get(s, {})
        out.append((r <= lim, 'RSS of a FastCGI process, %s channels: peak %.1f MiB (limit 2 MiB + '
                    '1.5 × %.1f MiB registry = %.1f MiB); after the run: %.1f MiB anon + %.1f MiB '
                    'file-backed' % (fmt_size(s), r / 1024, regs[s].bytes / 2 ** 20, lim / 1024,
                                     d.get('anon_kb', 0) / 1024, d.get('file_kb', 0) / 1024)))
    return out


def scaling_lines(cfgs, results, regs, cgi, rss_by_size, cg):
    lines = []
    hdr = '%-10s %10s' % ('channels', 'registry')
    for v in SCALE:
        hdr += ' %12s' % ('(%s) req/s' % v)
    hdr += ' %11s %11s %11s %11s %9s %13s %13s' % ('CGI ms', 'CGI ms', 'CGI ms', 'noop CGI',
                                                   'RSS MiB', 'Ir/req fcgi', 'Ir/req CGI')
    lines.append(hdr)
    lines.append('%-10s %10s' % ('', '') + ' %12s' % '' * len(SCALE) +
                 ' %11s %11s %11s %11s %9s %13s %13s' % ('durable', 'SYNC=0', '1st request',
                                                         'floor', 'peak', 'handle()', 'process'))
    lines.append('-' * len(hdr))
    by = {c.key: c for c in cfgs}
    noop = cgi.get('noop') if cgi else None
    for s in SIZES:
        row = '%-10s %10s' % (fmt_size(s), '%.1f MiB' % (regs[s].bytes / 2 ** 20) if regs[s].bytes > 2 ** 20 else '%.0f KiB' % (regs[s].bytes / 1024))
        for v in SCALE:
            c = by.get('%s-%dp-%d' % (v, PROCS[0], s))
            r = results.get(c.key) if c else None
            row += ' %12s' % (fmt_rps(r['rps']) if r else '-')
        cs = cgi.get('%d-sync' % s) if cgi else None
        cn = cgi.get('%d-nosync' % s) if cgi else None
        c1 = cgi.get('first-%d' % s) if cgi else None
        row += ' %11s %11s %11s %11s' % ('%.2f' % cs['mean_ms'] if cs and cs.get('runs') else '-',
                                         '%.2f' % cn['mean_ms'] if cn and cn.get('runs') else '-',
                                         '%.2f' % c1['ms'] if c1 and c1.get('ms') is not None else '-',
                                         '%.2f' % noop['mean_ms'] if noop and noop.get('runs') else '-')
        rs = rss_by_size.get(s)
        row += ' %9s' % ('%.1f' % (rs / 1024) if rs else '-')
        f = (cg or {}).get('fcgi', {}).get(s, {})
        g = (cg or {}).get('cgi', {}).get(s, {})
        row += ' %13s %13s' % (fmt_int(f.get('steady_handle')) if f.get('steady_n') else
                               (fmt_int(f.get('cold_handle')) + '†' if f.get('cold_handle') else '-'),
                               fmt_int(g.get('total')))
        lines.append(row)
    return lines


def callgrind_lines(cg):
    lines = []
    if not cg:
        return lines
    for s, e in sorted(cg.get('fcgi', {}).items()):
        if not e.get('requests'):
            lines.append('FastCGI, %s channels: no request measured%s' % (
                fmt_size(s), ' (%s)' % e['skipped'] if e.get('skipped') else ''))
            continue
        if e.get('steady_n'):
            lines.append('FastCGI, %s channels: %s Ir in handle() per request (mean of %d '
                         'requests after the first; whole loop incl. libfcgi %s); first request %s Ir'
                         % (fmt_size(s), fmt_int(e.get('steady_handle')), e['steady_n'],
                            fmt_int(e.get('steady_loop')), fmt_int(e.get('cold_handle'))))
        else:
            lines.append('FastCGI, %s channels: first request %s Ir in handle() (whole loop %s); '
                         'no later request measured in the time allowed' % (
                             fmt_size(s), fmt_int(e.get('cold_handle')), fmt_int(e.get('cold_loop'))))
    ref = cg.get('ref', {})
    if ref:
        main = cg.get('fcgi', {}).get(MAIN_SIZE, {})
        lines.append('FastCGI loop per request, same fixtures: %s' % ', '.join(
            '%s %s Ir' % (label, fmt_int(e.get('steady_loop'))) for label, e in
            (('(a) no-op', ref.get('a', {})), ('(b) one write()', ref.get('b', {})),
             ('gpush', main)) if e.get('steady_loop')))
    for s, e in sorted(cg.get('cgi', {}).items()):
        lines.append('CGI,     %s channels: %s Ir per process (start-up to exit), %s Ir in '
                     'handle() (mean of %d)' % (fmt_size(s), fmt_int(e['total']),
                                                fmt_int(e['handle']), e['requests']))
    # the breakdown where it matters most: the main and the largest size
    interesting = ('handle', 'step_channel', 'gpush_store_channel', 'gpush__registry_find',
                   'load_all', 'scan_for', 'parse_line', 'gpush_channel_parse', 'gpush__json_parse',
                   'gpush__json_valid', 'json_tokener_parse_ex', 'step_headers',
                   'gpush_notification_parse', 'step_body', 'gpush_notification_set_body',
                   'step_store', 'gpush_store_accept', 'gpush_notification_record', 'log_ready',
                   'seen_open', 'gpush__seen_load', 'append', 'durable', 'commit',
                   'gpush__seen_compact', 'step_verify', 'answer', 'open_store',
                   'gpush_store_set_cache', 'registry_clear', 'gpush_channel_free', 'malloc',
                   'free', 'calloc', '__memmem_avx2', 'memmem', 'newlocale', 'freelocale',
                   'strftime_l', 'snprintf', 'json_object_to_json_string_ext', 'gpush__utf8_ok',
                   'gpush__text_ok', 'json_object_put', 'lead_sync', 'gpush__lock',
                   'FCGX_GetParam', 'gpush_header_cgi', 'header')
    for s, e in sorted(cg.get('fcgi', {}).items()):
        if not e.get('top'):
            continue
        top = {fn: ir for ir, fn in e['top']}
        h = (e.get('steady_handle') if e.get('steady_n') else e.get('cold_handle')) or 1
        parts = ['%s %s (%.0f%%)' % (fn, fmt_int(top[fn]), top[fn] / h * 100)
                 for fn in interesting if fn in top and fn != 'handle' and top[fn] >= 0.02 * h]
        lines.append('  FastCGI %s (%s): inclusive Ir per request: %s' % (
            fmt_size(s), 'requests after the first' if e.get('top_of') == 'steady' else 'first request',
            '; '.join(parts)))
        if e.get('top_self'):
            lines.append('  FastCGI %s: self Ir per request, top 10: %s' % (
                fmt_size(s), '; '.join('%s %s' % (fn, fmt_int(ir)) for ir, fn in e['top_self'][:10])))
    return lines


def profile_lines(cfgs, stracex, massif):
    lines = []
    for c in cfgs:
        t = c.prof.get('trace')
        if t and t['requests']:
            n = t['requests']
            rows = sorted(t['syscalls'].items(), key=lambda kv: -kv[1][2])
            tot_calls = sum(v[0] for v in t['syscalls'].values())
            tot_ms = sum(v[2] for v in t['syscalls'].values())
            parts = ['%s %.2f×/%.0fµs' % (k, v[0] / n, v[2] * 1000 / n) for k, v in rows[:9]]
            fd = t['syscalls'].get('fdatasync')
            extra = (' [fdatasync: %.2f per request, %.2f ms per call]' % (fd[0] / n, fd[2] / fd[0])
                     if fd and fd[0] else '')
            lines.append('%-22s %5.1f syscalls/req, %6.0f µs/req in syscalls (wall, summed over '
                         'procs): %s%s' % (c.key, tot_calls / n, tot_ms * 1000 / n, ', '.join(parts),
                                           extra))
    for c in cfgs:
        p = c.prof.get('perf')
        if p:
            dso = c.prof.get('perf_dso') or []
            lines.append('%-22s perf record (self %%, handler processes): by object: %s; top: %s' % (
                c.key, ', '.join('%.0f%% %s' % (pct, o.replace('[kernel.kallsyms]', 'kernel'))
                                 for pct, o in dso[:5]),
                '; '.join('%.1f%% %s' % (pct, sym[:50]) for pct, _, sym in p[:8])))
    for key, v in sorted((stracex or {}).items()):
        n = v['requests'] or 1
        calls = v['calls']
        tot = sum(x[0] for x in calls.values())
        top = sorted(calls.items(), key=lambda kv: -kv[1][0])[:12]
        lines.append('strace -c %-16s %6.1f syscalls/request: %s' % (
            key, tot / n, ', '.join('%s %.1f' % (k, x[0] / n) for k, x in top)))
    if massif and massif.get('peak'):
        pk = massif['peak']
        lines.append('massif, FastCGI, %s channels: heap peak %.1f MiB + %.1f MiB malloc overhead '
                     'for a %.1f MiB registry (%s)' % (
                         fmt_size(massif['size']), pk['heap_B'] / 2 ** 20, pk['extra_B'] / 2 ** 20,
                         massif['registry_B'] / 2 ** 20, os.path.relpath(massif['report'], REPO)))
    return lines


def chart(cfgs, results, regs, cgi, pdir):
    """bench/out/bench.png: req/s by variant (each process count), and
    scaling by registry size (FastCGI req/s, CGI ms)."""
    gp = shutil.which('gnuplot')
    if not gp:
        return None
    data = os.path.join(OUT, 'plot')
    os.makedirs(data, exist_ok=True)
    by = {c.key: c for c in cfgs}
    with open(os.path.join(data, 'variants.dat'), 'w') as f:
        f.write('# variant ' + ' '.join('%dp' % p for p in PROCS) + '\n')
        for v, label, desc in VARIANTS:
            vals = []
            for i, p in enumerate(PROCS):
                key = '%s-%dp-%d' % (v.replace("'", 's'), 0 if v == 'f' else p, MAIN_SIZE)
                r = results.get(key) if (v != 'f' or i == 0) else None
                vals.append('%.1f' % r['rps'] if r else 'NaN')
            if all(x == 'NaN' for x in vals):
                continue
            f.write('"%s %s" %s\n' % (label, desc.replace('"', ''), ' '.join(vals)))
    with open(os.path.join(data, 'scaling.dat'), 'w') as f:
        f.write('# channels ' + ' '.join('%s_rps' % v for v in SCALE) + ' cgi_ms_sync cgi_ms_nosync\n')
        for s in SIZES:
            vals = []
            for v in SCALE:
                c = by.get('%s-%dp-%d' % (v, PROCS[0], s))
                r = results.get(c.key) if c else None
                vals.append('%.2f' % r['rps'] if r else 'NaN')
            for k in ('%d-sync' % s, '%d-nosync' % s):
                x = cgi.get(k) if cgi else None
                vals.append('%.3f' % x['mean_ms'] if x and x.get('runs') else 'NaN')
            f.write('%d %s\n' % (s, ' '.join(vals)))
    png = os.path.join(OUT, 'bench.png')
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    cols = ' , '.join('"variants.dat" using %d:xtic(1) title "%d FastCGI procs"' % (i + 2, p)
                      for i, p in enumerate(PROCS))
    scal = []
    for i, v in enumerate(SCALE):
        scal.append('"scaling.dat" using 1:%d with linespoints lw 2 pt 7 title "(%s) FastCGI req/s"'
                    % (i + 2, v))
    n = len(SCALE)
    scal.append('"scaling.dat" using 1:%d axes x1y2 with linespoints lw 2 pt 5 dt 2 '
                'title "CGI ms/request, durable"' % (n + 2))
    scal.append('"scaling.dat" using 1:%d axes x1y2 with linespoints lw 2 pt 4 dt 3 '
                'title "CGI ms/request, SYNC=0"' % (n + 3))
    terms = subprocess.run([gp, '-e', 'set terminal'], capture_output=True, text=True, timeout=30)
    cairo = 'pngcairo' in terms.stdout + terms.stderr
    script = '\n'.join([
        ('set terminal pngcairo noenhanced size 1500,640 font "sans,10"' if cairo
         else 'set terminal png noenhanced size 1500,640'),
        'set output "%s"' % png,
        'set multiplot layout 1,2 title "gpush bench, %s, %d CPUs, wrk -t%d -c%d, %d round(s) x %d s, interleaved"'
        % (stamp, os.cpu_count() or 0, THREADS, CONNS, ROUNDS, SECONDS),
        'set title "req/s by variant (%s channels)"' % fmt_size(MAIN_SIZE),
        'set style data histograms', 'set style histogram clustered gap 1',
        'set style fill solid 0.8 border -1', 'set boxwidth 0.9',
        'set xtics rotate by -30 left font ",9"', 'set ylabel "requests per second"',
        'set grid ytics', 'set yrange [0:*]', 'set key top right',
        'set bmargin 9',
        'plot ' + cols,
        'set style data linespoints',
        'set xtics norotate center nooffset autofreq font ",10"', 'set bmargin 9',
        'set title "scaling by registry size"', 'set logscale x', 'set logscale y',
        'set logscale y2', 'set xlabel "channels in the registry"',
        'set ylabel "FastCGI requests per second"', 'set y2label "CGI handler ms per request"',
        'set y2tics', 'set ytics nomirror', 'set yrange [*:*]', 'set y2range [*:*]',
        'set key top left',
        'set xrange [%g:%g]' % (SIZES[0] / 2.0, SIZES[-1] * 2.0),
        'plot ' + ', '.join(scal),
        'unset multiplot', ''])
    with open(os.path.join(data, 'bench.gp'), 'w') as f:
        f.write(script)
    p = subprocess.run([gp, 'bench.gp'], cwd=data, capture_output=True, text=True, timeout=120)
    if p.returncode != 0 or not os.path.exists(png):
        note('gnuplot: %s' % p.stderr.strip()[-300:])
        return None
    return png


# ---- main ---------------------------------------------------------------------------------

def main():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    os.makedirs(OUT, exist_ok=True)
    if '--deps' in sys.argv:
        ensure(['build', 'wrk', 'lighttpd', 'apache', 'flask', 'gnuplot', 'valgrind'] +
               ([] if QUICK else ['perf', 'strace']))
        return 0
    tap = []   # (ok, description, directive)
    parts = ['wrk', 'lighttpd', 'apache', 'flask', 'gnuplot', 'valgrind'] + \
        ([] if QUICK else ['perf', 'strace'])
    unavailable = ensure(parts)
    for name in ('noop.fcgi', 'append.fcgi', 'cgiloop'):
        if not os.access(os.path.join(BINDIR, name), os.X_OK):
            print('bench: %s is missing: run it through make (make bench)' %
                  os.path.join(BINDIR, name), file=sys.stderr)
            return 2
    if not os.access(GPUSH, os.X_OK):
        print('bench: no handler at %s (run make)' % GPUSH, file=sys.stderr)
        return 2
    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(LOGS, exist_ok=True)
    # The run's directory: outside the clone, reachable by the user the
    # servers run as, on disk (tests/lib/stage.py).
    try:
        STAGE[0] = stage.Stage('gpush-bench', stage.run_user())
    except (stage.StageError, OSError) as e:
        print('bench: %s' % e, file=sys.stderr)
        return 2
    run = STAGE[0].path
    # Every phase measures the same build, even if the tree is rebuilt
    # meanwhile: a copy of the handler taken now.
    HANDLER[0] = STAGE[0].copy(GPUSH, 'bin', 'gpush.fcgi')
    with open(HANDLER[0], 'rb') as f:
        handler_id = hashlib.sha256(f.read()).hexdigest()[:12]
    handler_built = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(GPUSH)))
    try:
        head = subprocess.run(['git', '-C', REPO, 'log', '-1', '--format=%h %s'], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain', '--', 'lib', 'cgi'],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head, dirty = '?', 
    if KEEP:
        CLEANUPS.append(lambda: note('kept %s' % run))
    else:
        CLEANUPS.append(STAGE[0].remove)
    CLEANUPS.append(lambda: copy_logs(os.path.join(run, 'logs'), LOGS))
    pdir = os.path.join(OUT, 'profile')
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir, exist_ok=True)
    fstype = fs_type(run)
    if fstype.split()[0] in ('tmpfs', 'ramfs'):
        note('WARNING: %s is on %s: fdatasync costs nothing there' % (run, fstype))
    Progress.show('writing registries: %s channels' % ', '.join(fmt_size(s) for s in SIZES))
    regs = {s: Registry(s, run) for s in SIZES}
    cfgs = build_configs(unavailable)
    servers = Servers(cfgs, regs, run)
    CLEANUPS.append(kill_ours)
    results, cgi, cg, stracex, massif = {}, {}, None, {}, None
    fatal = None
    try:
        try:
            if any(c.skip is None for c in cfgs):
                servers.start()
                measure(servers, cfgs, regs)
                if PROFILE:
                    profile_pass(servers, cfgs, regs, unavailable, pdir)
        except RuntimeError as e:
            fatal = str(e)
            note(fatal)
        finally:
            servers.stop()
        for c in cfgs:
            if c.skip is None and c.error is None and fatal is None:
                s = summarize(c)
                if s is None:
                    c.error = '; '.join(sorted({r.get('why', '?') for r in c.runs})) or 'no run'
                else:
                    results[c.key] = s
            elif fatal and c.skip is None and c.error is None:
                c.error = fatal
            if c.datadir and c.variant != 'a':
                c.lines = count_lines(os.path.join(c.datadir, 'notifications.ndjson'))
        cgi = cgi_phase(regs, run, *run_user()[:2])
        if CALLGRIND and 'valgrind' not in unavailable:
            cg = callgrind_phase(regs, run, pdir)
        if PROFILE:
            stracex = strace_phase(regs, run, pdir, unavailable)
            massif = massif_phase(regs, run, pdir, unavailable)
    finally:
        Progress.done()
        cleanup_all()

    # RSS by registry size: the largest peak of any gpush FastCGI process
    rss_by_size, rss_detail = {}, {}
    for c in cfgs:
        if c.variant in ('c', 'd') and c.rss and c.rss['hwm_kb'] > rss_by_size.get(c.size, 0):
            rss_by_size[c.size] = c.rss['hwm_kb']
            rss_detail[c.size] = c.rss

    # the report
    rep = []
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')
    rep.append('gpush bench, %s: %d CPUs, wrk -t%d -c%d with bench/notify.lua, %d round(s) x %d s '
               'per variant, interleaved; lighttpd %s; data on %s%s' % (
                   now, os.cpu_count() or 0, THREADS, CONNS, ROUNDS, SECONDS,
                   'mod_fastcgi (e: mod_proxy to gunicorn)', fstype, ' (quick)' if QUICK else ''))
    rep.append('handler: %s (sha256 %s, built %s; tree at %s%s)' % (
        os.path.relpath(GPUSH, REPO) if GPUSH.startswith(REPO + '/') else GPUSH, handler_id,
        handler_built,
        head, ', lib/ or cgi/ modified' if dirty else ''))
    rep.append('')
    rep += table(cfgs, results)
    rep.append('')
    rep.append('req/s: completed requests / seconds over all rounds; ±%: half the range of the '
               'per-round req/s; p50/p99: latency seen by wrk, merged over rounds; ×(a), ×(e): '
               'req/s over the same-process-count (a) and (e) rows; cpu µs: handler-process CPU '
               'per request (for (f): the CGI processes); rss: peak RSS (VmHWM) of one handler '
               'process.  See bench/README.md.')
    if any(c.slow for c in cfgs):
        rep.append('* over a second per request: measured in round 1 only (the requests still '
                   'queued when wrk stops take that long each to drain)')
    rep.append('')
    rep.append('targets')
    tg = targets(cfgs, results, regs, cgi, rss_by_size, rss_detail)
    for met, text in tg:
        rep.append('  %-5s %s' % ('MET' if met else 'MISS' if met is False else '-', text))
    rep.append('')
    rep.append('scaling (%d procs; CGI: handler time, bench/c/cgiloop, one process per request, no '
               'web server)' % PROCS[0])
    rep += ['  ' + x for x in scaling_lines(cfgs, results, regs, cgi, rss_by_size, cg)]
    cl = callgrind_lines(cg)
    if cl:
        rep.append('')
        rep.append('instructions per request (callgrind, fixed fixture set: %d Directory '
                   'notifications over %d channels spread across the registry, after one first '
                   'request; † = first request only)' %
                   (10 if QUICK else FIXTURE_REQUESTS, FIXTURE_CHANNELS))
        rep += ['  ' + x for x in cl]
    pl = profile_lines(cfgs, stracex, massif)
    if pl:
        rep.append('')
        rep.append('profile (files in bench/out/profile/).  perf trace -s slows the handlers '
                   'several times over: its counts per request are exact, its times are those of a '
                   'slowed system, for comparing rows with each other')
        rep += ['  ' + x for x in pl]
    rep.append('')
    rep.append('details')
    rep += ['  ' + x for x in details(cfgs, results)]
    try:
        with open(os.path.join(LOGS, 'lighttpd.error.log'), errors='replace') as f:
            gw = [l for l in f if 'gw_backend' in l or 'fastcgi' in l.lower()]
        if gw:
            rep.append('  lighttpd reported %d backend problem(s) (a backend respawned or refused a '
                       'connection): see bench/out/logs/lighttpd.error.log' % len(gw))
    except OSError:
        pass
    png = chart(cfgs, results, regs, cgi, pdir) if 'gnuplot' not in unavailable else None
    rep.append('')
    rel = os.path.relpath(OUT, REPO) if OUT.startswith(REPO + '/') else OUT
    rep.append('files: %s/results.txt, %s/results.json%s, %s/profile/, %s/logs/' % (
        rel, rel, ', ' + (os.path.relpath(png, REPO) if png.startswith(REPO + '/') else png) if png else '',
        rel, rel))
    text = '\n'.join(rep) + '\n'
    with open(os.path.join(OUT, 'results.txt'), 'w') as f:
        f.write(text)
    dump = {'when': now, 'quick': QUICK, 'rounds': ROUNDS, 'seconds': SECONDS, 'conns': CONNS,
            'threads': THREADS, 'procs': PROCS, 'fs': fstype, 'sizes': SIZES, 'main_size': MAIN_SIZE,
            'registry_bytes': {s: regs[s].bytes for s in SIZES},
            'configs': [{'key': c.key, 'variant': c.variant, 'procs': c.procs, 'size': c.size,
                         'skip': c.skip, 'error': c.error, 'summary': results.get(c.key),
                         'runs': [{k: v for k, v in r.items() if k != 'grid'} for r in c.runs],
                         'rss': c.rss, 'log_lines': c.lines,
                         'profile': {k: v for k, v in c.prof.items()}} for c in cfgs],
            'cgi': cgi, 'targets': [{'met': m, 'text': t} for m, t in tg],
            'callgrind': {kind: {str(s): {k: v for k, v in e.items()} for s, e in d.items()}
                          for kind, d in (cg or {}).items()},
            'strace': stracex, 'massif': massif}
    with open(os.path.join(OUT, 'results.json'), 'w') as f:
        json.dump(dump, f, indent=1, default=str)

    if not TAP:
        sys.stdout.write(text)
        return 1 if fatal else 0

    # TAP: one test per variant that ran (ok when it produced numbers and
    # every answer was a success), skips for what could not run.
    for line in text.splitlines():
        print('# ' + line if line else '#')
    for c in cfgs:
        desc = '%s %s, %s, %s channels' % (c.label, VDESC[c.variant],
                                           '%d procs' % c.procs if c.procs else 'CGI',
                                           fmt_size(c.size))
        s = results.get(c.key)
        if c.skip:
            tap.append((True, desc, 'SKIP ' + c.skip))
        elif s is None:
            tap.append((False, desc + ': ' + (c.error or 'no result'), ''))
        else:
            bad = s['non2xx'] or s['status_errors']
            lines_ok = True
            if c.variant != 'a' and c.lines is not None and c.lines < s['requests']:
                lines_ok = False
            why = ''
            if bad:
                why = ' (%d answers were not 2xx)' % s['non2xx']
            elif not lines_ok:
                why = ' (%d log lines for %d accepted requests)' % (c.lines, s['requests'])
            tap.append((not bad and lines_ok and s['requests'] > 0,
                        '%s: %s req/s, p99 %s ms%s' % (desc, fmt_rps(s['rps']), fmt_ms(s['p99_us']), why), ''))
    for s in SIZES:
        x = cgi.get('%d-sync' % s) if cgi else None
        if x and x.get('runs'):
            tap.append((x['ok'], 'CGI handler time, %s channels: %.2f ms/request' % (fmt_size(s), x['mean_ms']), ''))
        else:
            tap.append((False, 'CGI handler time, %s channels: not measured' % fmt_size(s), ''))
    if not CALLGRIND:
        tap.append((True, 'callgrind instructions per request', 'SKIP BENCH_CALLGRIND=0'))
    elif 'valgrind' in unavailable:
        tap.append((True, 'callgrind instructions per request', 'SKIP valgrind unavailable'))
    else:
        for s in SIZES:
            e = (cg or {}).get('fcgi', {}).get(s, {})
            g = (cg or {}).get('cgi', {}).get(s, {})
            fc = e.get('steady_handle') or e.get('cold_handle')
            ok = bool(fc or e.get('skipped')) and bool(g.get('total'))
            tap.append((ok, 'callgrind, %s channels: %s in handle() (FastCGI), %s Ir per '
                        'CGI process' % (fmt_size(s), '%s Ir/request' % fmt_int(fc) if fc else
                                         e.get('skipped', 'nothing measured'),
                                         fmt_int(g.get('total'))), ''))
    if 'gnuplot' in unavailable:
        tap.append((True, 'chart', 'SKIP gnuplot unavailable'))
    else:
        tap.append((png is not None, 'chart %s' % (os.path.relpath(png, REPO) if png else 'not written'), ''))
    for i, (ok, desc, directive) in enumerate(tap, 1):
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', i, desc.replace('#', ''),
                                ' # ' + directive if directive else ''))
    print('1..%d' % len(tap))
    return 0 if all(ok for ok, _, _ in tap) else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Interrupted as e:
        Progress.done()
        cleanup_all()
        print('bench: interrupted (%s); servers stopped' % e, file=sys.stderr)
        sys.exit(130)
