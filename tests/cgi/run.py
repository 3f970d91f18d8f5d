#!/usr/bin/env python3
"""Runs the CGI fixtures in tests/cgi/cases through the handler, in plain
CGI mode and in FastCGI mode (a minimal FastCGI client over a Unix socket,
the way mod_fcgid and lighttpd talk to it), and prints TAP.

A case file is data: sections that start with '--- ' lines.

  --- registry          channels.jsonl for the case (default: ../channels.jsonl)
  --- setup             shell commands run in the data directory, then
  --- request           CGI environment, KEY=VALUE per line; '@base' first
                        pulls in base.env; '-KEY' drops a key; values take
                        Python escapes (\\x01, \\xff).  CONTENT_LENGTH is the
                        body's length unless the case sets or drops it.
  --- body              the request body (its final newline is dropped)
  --- status N          the status expected for the request before it
  --- header H: V       a response header expected
  --- log               JSON lines expected in the log from that request,
                        compared as objects; received_at is checked for form
  --- fill CH N FROM    N accepted notifications on CH numbered FROM...
  --- nodir             run without GPUSH_DIR (the handler must say 500)
  --- fcgi-only         only in FastCGI mode (a process environment cannot
                        hold one name twice; FastCGI parameters can: a
                        request line '+KEY=VALUE' adds a second KEY)
  --- setup-db          SQL run on the database (as its superuser) with
                        --database; ignored on a data directory
  --- file-store-only REASON
                        skipped with --database: the case is about the
                        data directory's files (REASON says which)

--database runs every case against the PostgreSQL store instead (issue
14): a throw-away server (tests/lib/pg.py), the schema made by
`gpush db init`, the case's registry loaded into gpush.channels, the
handler given GPUSH_DATABASE instead of GPUSH_DIR (connecting as the role
gpush_web, a member of gpush_handler: the least the handler needs), and
the "log" the rows
of gpush.notifications (their line column, in id order), each row's record
jsonb checked to be its line.  Same expected statuses and records.

Anything not listed under --- log must not appear: every request's new
log lines are compared exactly, and the token never appears anywhere.
"""
import codecs, json, os, re, shutil, signal, subprocess
import sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from lib import handler, TOOL  # noqa: E402
# fcgi_request stays importable from here for bench/fcgi.py until it
# imports tests/lib itself.
from lib.fcgi import fcgi_request, response_status  # noqa: E402,F401
from lib.datadir import make_data, read_log  # noqa: E402
from lib.tap import Tap  # noqa: E402
RFC3339 = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
TOKENS = []  # every secret the registry holds, never to be seen in output


def parse_case(path):
    """Returns a dict: registry, setup, nodir, steps (list of requests)."""
    case = {'registry': None, 'setup': '', 'nodir': False, 'steps': [],
            'fcgi_only': False, 'file_only': None}
    cur, buf = None, []

    def flush():
        text = '\n'.join(buf)
        if cur is None:
            return
        kind = cur[0]
        if kind == 'registry':
            case['registry'] = text + '\n'
        elif kind == 'setup':
            case['steps'].append({'setup': text})
        elif kind == 'setup-db':
            case['steps'].append({'setup_db': text})
        elif kind == 'request':
            case['steps'].append({'env': text, 'body': b'', 'status': None,
                                  'headers': [], 'log': []})
        elif kind == 'body':
            case['steps'][-1]['body'] = text.encode('utf-8', 'surrogateescape')
        elif kind == 'log':
            case['steps'][-1]['log'] = [json.loads(l) for l in buf if l.strip()]
    for line in open(path, encoding='utf-8', errors='surrogateescape').read().split('\n'):
        if line.startswith('--- '):
            flush()
            words = line[4:].split()
            cur, buf = words, []
            if words[0] == 'status':
                case['steps'][-1]['status'] = int(words[1])
                cur = None
            elif words[0] == 'header':
                case['steps'][-1]['headers'].append(line[len('--- header '):])
                cur = None
            elif words[0] == 'fill':
                case['steps'].append({'fill': (words[1], int(words[2]),
                                               int(words[3]))})
                cur = None
            elif words[0] == 'nodir':
                case['nodir'] = True
                cur = None
            elif words[0] == 'fcgi-only':
                case['fcgi_only'] = True
                cur = None
            elif words[0] == 'file-store-only':
                case['file_only'] = ' '.join(words[1:]) or 'file store only'
                cur = None
        elif cur is not None:
            buf.append(line)
        elif line.strip() and not line.startswith('#'):
            raise ValueError('%s: text outside a section: %r' % (path, line))
    flush()
    return case


class Env(dict):
    """Request parameters; extra holds repeats of a name (FastCGI only)."""
    def __init__(self):
        super().__init__()
        self.extra = []

    def pairs(self):
        return list(self.items()) + list(self.extra)


def build_env(text, body):
    """The request environment as a dict of bytes, per the case's rules."""
    env, lines = Env(), text.split('\n')
    if lines and lines[0].strip() == '@base':
        lines = open(os.path.join(HERE, 'base.env')).read().split('\n') + lines[1:]
    for line in lines:
        if not line.strip() or line.startswith('#'):
            continue
        if line.startswith('-'):
            env.pop(line[1:].strip().encode(), None)
            continue
        k, v = line.split('=', 1)
        if k.startswith('+'):
            env.extra.append((k[1:].encode(), codecs.escape_decode(v.encode())[0]))
            continue
        env[k.encode()] = codecs.escape_decode(v.encode())[0]
    if b'CONTENT_LENGTH' not in env and not re.search(r'^-CONTENT_LENGTH', text, re.M):
        env[b'CONTENT_LENGTH'] = str(len(body)).encode()
    return env


class FcgiServer:
    """The handler as a FastCGI application on a Unix socket (fd 0)."""
    def __init__(self, handler_path, sock_path, env, prefix):
        self.path = sock_path
        self.err = tempfile.TemporaryFile()
        self.proc, = handler.serve(prefix + [handler_path], sock_path, env,
                                   backlog=16, stderr=self.err)

    def stop(self):
        handler.stop(self.proc, 10)
        self.err.seek(0)
        return self.proc.returncode, self.err.read()


def check_lines(new, expect):
    """Compares new log bytes with the expected objects; returns a problem or None."""
    if new and not new.endswith(b'\n'):
        return 'log does not end with a newline'
    got = []
    for raw in new.split(b'\n')[:-1]:
        try:
            raw.decode('utf-8')
            o = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as e:
            return 'log line is not UTF-8 JSON (%s): %r' % (e, raw[:200])
        if not RFC3339.match(o.get('received_at', '')):
            return 'bad received_at in %r' % raw[:200]
        o.pop('received_at')
        got.append(o)
    for o in expect:
        o.pop('received_at', None)
    if got != expect:
        return 'log lines differ:\n  got    %s\n  expect %s' % (got, expect)
    return None


def run_case(handler_path, mode, case, workdir, prefix, sanitized, db=None):
    d = os.path.join(workdir, 'data')
    registry = (case['registry'] if case['registry'] is not None else
                open(os.path.join(HERE, 'channels.jsonl')).read())
    make_data(d, registry)
    penv = {'PATH': '/usr/bin:/bin'}
    for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS'):
        if k in os.environ:
            penv[k] = os.environ[k]
    if db is not None:
        db.load_channels(registry)
        if not case['nodir']:
            penv['GPUSH_DATABASE'] = db.conninfo(user='gpush_web', dbname='gpush')

        def readlog(_d):
            return db.log()
    else:
        readlog = read_log
    if db is None and not case['nodir']:
        penv['GPUSH_DIR'] = d
    server, errs, problems = None, b'', []
    if mode == 'fcgi':
        server = FcgiServer(handler_path, os.path.join(workdir, 'sock'), penv, prefix)

    def send(env, body):
        nonlocal errs
        if server:
            return fcgi_request(server.path, env, body)
        p = handler.run_cgi(prefix + [handler_path], penv, env, body, timeout=60)
        errs += p.stderr
        if p.returncode != 0:
            problems.append('handler exited %d: %r' % (p.returncode, p.stderr[-400:]))
        return p.stdout

    try:
        for i, st in enumerate(case['steps']):
            if 'setup_db' in st:
                if db is not None:
                    db.psql(st['setup_db'], dbname='gpush')
                continue
            if 'setup' in st:
                subprocess.run(['sh', '-ec', st['setup']], cwd=d, check=True)
                continue
            if 'fill' in st:
                ch, n, start = st['fill']
                for k in range(n):
                    env = build_env('@base\nHTTP_X_GOOG_CHANNEL_ID=%s\nHTTP_X_GOOG_RESOURCE_STATE=update\nHTTP_X_GOOG_MESSAGE_NUMBER=%d' % (ch, start + k), b'')
                    st_, _ = response_status(send(env, b''))
                    if st_ != 200:
                        return ['fill request %d got %s' % (start + k, st_)]
                continue
            before = readlog(d)
            env = build_env(st['env'], st['body'])
            raw = send(env, st['body'])
            status, head = response_status(raw)
            if status != st['status']:
                problems.append('request %d: status %s, expected %s (%s)' % (
                    i + 1, status, st['status'], raw[-200:]))
            for h in st['headers']:
                if h not in head.split('\r\n'):
                    problems.append('request %d: header %r missing' % (i + 1, h))
            after = readlog(d)
            if before and not before.endswith(b'\n'):
                before = before[:before.rfind(b'\n') + 1]  # a torn tail is cut
            if not after.startswith(before):
                problems.append('request %d rewrote earlier log bytes' % (i + 1))
            else:
                p = check_lines(after[len(before):], st['log'])
                if p:
                    problems.append('request %d: %s' % (i + 1, p))
            for t in TOKENS:
                if t.encode() in raw:
                    problems.append('request %d: token in the response' % (i + 1))
    finally:
        if server:
            rc, e = server.stop()
            errs += e
            if rc not in (0, -signal.SIGTERM):
                problems.append('FastCGI process exited %s' % rc)
    log = readlog(d)
    if db is not None:
        # A body with \u0000, which jsonb cannot hold, leaves body NULL and
        # record without it (lib/pgstore.c); every other record is its line.
        bad = db.psql(r"""SELECT count(*) FROM gpush.notifications WHERE
            CASE WHEN strpos(line, '\u0000') > 0 THEN body IS NOT NULL OR record ? 'body'
            ELSE record IS DISTINCT FROM line::jsonb END""", dbname='gpush').strip()
        if bad != '0':
            problems.append('%s rows whose record jsonb is not their line' % bad)
    for t in TOKENS:
        if t.encode() in log or t.encode() in errs:
            problems.append('token %r... in the log or on stderr' % t[:6])
    if sanitized and re.search(rb'ERROR: AddressSanitizer|runtime error:|LeakSanitizer', errs):
        problems.append('sanitizer report: %r' % errs[-600:])
    return problems


def main():
    args = sys.argv[1:]
    handler_path = os.path.abspath(args.pop(0))
    modes, prefix, sanitized, db = ['cgi', 'fcgi'], [], False, None
    while args and args[0].startswith('--'):
        a = args.pop(0)
        if a == '--mode':
            modes = [args.pop(0)]
        elif a == '--valgrind':
            prefix = ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
                      '--errors-for-leak-kinds=definite']
        elif a == '--sanitized':
            sanitized = True
        elif a == '--database':
            db = True
        elif a == '--label':
            label = args.pop(0)
    label = locals().get('label', os.path.basename(handler_path))
    cases = args or sorted(os.path.join(HERE, 'cases', f) for f in
                           os.listdir(os.path.join(HERE, 'cases')) if f.endswith('.case'))
    for line in open(os.path.join(HERE, 'channels.jsonl')):
        m = re.search(r'"token"\s*:\s*"([^"]+)"', line)
        if m and len(m.group(1)) >= 6:
            TOKENS.append(m.group(1))
    if db:
        from lib import pg
        why = pg.available()
        if why is not None:
            Tap(0)
            print('# SKIP %s' % why)
            return 0
        db = pg.Server()
        db.init_gpush(roles=True)
        db.psql('CREATE ROLE gpush_web LOGIN IN ROLE gpush_handler')
    t = Tap(len(cases) * len(modes))
    for path in cases:
        case = parse_case(path)
        for r in re.finditer(r'"token"\s*:\s*"([^"]+)"', case['registry'] or ''):
            TOKENS.append(r.group(1))
        for mode in modes:
            name = '%s %s %s' % (label, mode, os.path.basename(path)[:-5])
            if case['fcgi_only'] and mode != 'fcgi':
                t.ok(True, name, skip='FastCGI only')
                continue
            if db is not None and case['file_only'] is not None:
                t.ok(True, name, skip=case['file_only'])
                continue
            work = tempfile.mkdtemp(prefix='gpush-case-')
            try:
                problems = run_case(handler_path, mode, case, work, prefix, sanitized, db)
            except Exception as e:  # a broken case is a failure, not a crash
                problems = ['runner error: %r' % e]
            finally:
                shutil.rmtree(work, ignore_errors=True)
            t.ok(not problems, name)
            for p in problems:
                t.diag(p)
    if db is not None:
        db.stop()
    return t.done()


if __name__ == '__main__':
    sys.exit(main())
