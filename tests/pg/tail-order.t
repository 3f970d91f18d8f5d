#!/usr/bin/python3
"""tests/pg/tail-order.t -- `gpush tail --cursor` against the PostgreSQL
store never skips nor repeats a row, although transactions commit out of
id order (issue 14).

Two (and then eight) psql sessions insert notification rows in open
transactions and commit them in the reverse order, with tail run in
between; a reader that keeps "the last id read" is shown to skip a row in
the same scenario (so the test can fail), and gpush tail is shown not to.
Then the consumer (tail --exec) and a long-running transaction (which
holds tail back but loses nothing).  A private PostgreSQL
(tests/lib/pg.py) on loopback, always stopped."""
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from lib import tap, TOOL, ROOT  # noqa: E402
from lib import pg  # noqa: E402

T = tap.Tap()


def main():
    why = pg.available()
    if why:
        print('1..0 # SKIP %s' % why)
        return 0
    if not os.access(TOOL, os.X_OK):
        print('1..0 # SKIP no tool at %s (run make first)' % TOOL)
        return 0
    srv = pg.Server()
    try:
        return run(srv)
    finally:
        srv.stop()


class Session:
    """One psql session on stdin, kept open: statements go in one by one
    (a transaction stays open between them)."""
    def __init__(self, srv):
        self.p = subprocess.Popen(
            ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
             '-p', str(srv.port), '-U', 'postgres', '-d', 'gpush'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, sql):
        """Runs sql and waits until it is done (a marker comes back)."""
        mark = 'done-%d' % random.getrandbits(32)
        self.p.stdin.write(('%s\n\\echo %s\n' % (sql, mark)).encode())
        self.p.stdin.flush()
        out = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError('psql ended: %s' % ''.join(out))
            if line.strip() == mark:
                return ''.join(out)
            out.append(line)
        raise RuntimeError('psql: no answer in 30 s')

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except Exception:
            self.p.kill()


def insert_sql(tag):
    """An insert of one row whose line is tag; returns its id."""
    return ("INSERT INTO gpush.notifications (channel_id, channel_generation, "
            "message_number, received_at, resource_state, resource_id, resource_uri, "
            "record, line) VALUES ('ch', 1, nextval('seqno'), now(), 'exists', 'r', "
            "'https://x', '{}', '%s') RETURNING id;" % tag)


def tail(env, cursor, extra=()):
    r = subprocess.run([TOOL, 'tail', '--cursor', cursor] + list(extra), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stdout.decode().split('\n')[:-1], r.stderr.decode()


def run(srv):
    srv.psql('CREATE DATABASE gpush')
    conn = srv.conninfo(dbname='gpush')
    env = dict(os.environ, GPUSH_DATABASE=conn)
    env.pop('GPUSH_DIR', None)
    r = subprocess.run([TOOL, '--database', conn, 'db', 'init'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if not T.ok(r.returncode == 0, 'gpush db init makes the schema'):
        T.diag(r.stdout.decode())
        return T.done()
    srv.psql('CREATE SEQUENCE seqno', dbname='gpush')
    tmp = srv.dir
    cur = os.path.join(tmp, 'cursor')
    naive_last = 0          # "last id read", the reader that skips

    def naive():
        nonlocal naive_last
        rows = srv.psql('SELECT id, line FROM gpush.notifications WHERE id > %d '
                        'ORDER BY id' % naive_last, dbname='gpush').split()
        got = [x.split('|')[1] for x in rows]
        if rows:
            naive_last = int(rows[-1].split('|')[0])
        return got

    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == [], 'empty table: tail prints nothing, exit 0')
    T.ok(os.path.exists(cur) and open(cur).read().startswith('gpush-db-cursor 1 '),
         'the cursor file is made (gpush-db-cursor)')

    # ---- A inserts first, B second, B commits first ----
    a, b = Session(srv), Session(srv)
    a.run('BEGIN;')
    ida = int(a.run(insert_sql('A1')).strip())
    b.run('BEGIN;')
    idb = int(b.run(insert_sql('B1')).strip())
    T.ok(ida < idb, 'A has the smaller id (%d < %d)' % (ida, idb))
    b.run('COMMIT;')
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == [], 'B committed, A still open: tail holds B back (%r)' % lines)
    T.ok(naive() == ['B1'], 'a reader on "id > last id" reads B now ...')
    a.run('COMMIT;')
    T.ok(naive() == [], '... and never A: the skip this test is about')
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == ['A1', 'B1'], 'A committed: tail gives A then B (%r)' % lines)
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == [], 'tail again: nothing repeated')

    # ---- B gets its transaction id first, A its smaller row id later ----
    a.run('BEGIN;')
    b.run('BEGIN;')
    b.run("SELECT pg_current_xact_id();")
    ida = int(a.run(insert_sql('A2')).strip())
    idb = int(b.run(insert_sql('B2')).strip())
    a.run('COMMIT;')
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == [], 'A committed, B (older transaction) open: nothing yet (%r)' % lines)
    b.run('COMMIT;')
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and sorted(lines) == ['A2', 'B2'] and len(lines) == 2,
         'B committed: both, once each (%r)' % lines)
    a.close()
    b.close()

    # ---- eight sessions, random commit order, tail between every step ----
    rnd = random.Random(int(os.environ.get('SEED', '0')) or None)
    sess = [Session(srv) for _ in range(8)]
    expected, seen, open_tx = [], [], {}
    bad = []
    for step in range(160):
        i = rnd.randrange(len(sess))
        s = sess[i]
        if i in open_tx and (rnd.random() < 0.4 or len(open_tx[i]) > 4):
            if rnd.random() < 0.15:
                s.run('ROLLBACK;')           # its rows never appear
            else:
                s.run('COMMIT;')
                expected += open_tx[i]
            del open_tx[i]
        else:
            if i not in open_tx:
                s.run('BEGIN;')
                open_tx[i] = []
            tag = 'S%d-%d' % (i, step)
            s.run(insert_sql(tag))
            open_tx[i].append(tag)
        if step % 3 == 0:
            rc, lines, err = tail(env, cur)
            if rc != 0:
                bad.append(err)
            seen += lines
    for i in list(open_tx):
        sess[i].run('COMMIT;')
        expected += open_tx.pop(i)
    rc, lines, err = tail(env, cur)
    seen += lines
    for s in sess:
        s.close()
    seen = [x for x in seen if x.startswith('S')]
    T.ok(not bad, 'tail succeeded every time (%d runs)' % (160 // 3 + 2))
    T.ok(len(seen) == len(set(seen)), 'no row given twice (%d rows)' % len(seen))
    missing = set(expected) - set(seen)
    T.ok(not missing, 'no committed row skipped (%d committed)' % len(expected))
    if missing:
        T.diag('missing: %s' % sorted(missing)[:10])
    T.ok(set(seen) <= set(expected), 'no rolled-back row given')

    # ---- real concurrency: pgbench's 8 clients insert (thousands of
    # transactions, whose ids cross 999 -> 1000 and so on) while tail runs
    # again and again ----
    pgbench = os.path.join(pg.pg_bin(), 'pgbench')
    script = os.path.join(tmp, 'ins.sql')
    with open(script, 'w') as f:
        f.write(insert_sql("P' || nextval('seqno') || '").replace(' RETURNING id', '') + '\n')
    pb = subprocess.Popen([pgbench, '-n', '-c', '8', '-j', '2', '-T', '4', '-f', script,
                           '-h', '127.0.0.1', '-p', str(srv.port), '-U', 'postgres', 'gpush'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, runs, fails = [], 0, 0
    while pb.poll() is None and runs < 2000:
        rc, lines, err = tail(env, cur)
        runs += 1
        fails += rc != 0
        seen += lines
    pb.wait(30)
    total = int(srv.psql("SELECT count(*) FROM gpush.notifications WHERE line LIKE 'P%'",
                         dbname='gpush'))
    # The last rows come once every older transaction has ended (an
    # autovacuum ANALYZE, say, holds them back for a moment): a few more
    # runs, 20 s at most.
    for _ in range(100):
        rc, lines, err = tail(env, cur)
        seen += lines
        if len({x for x in seen if x.startswith('P')}) >= total:
            break
        time.sleep(0.2)
    seen = [x for x in seen if x.startswith('P')]
    T.ok(pb.returncode == 0 and total > 500 and fails == 0,
         'pgbench inserted %d rows concurrently; tail ran %d times meanwhile' % (total, runs))
    T.ok(len(seen) == len(set(seen)), 'no row given twice (%d given)' % len(seen))
    T.ok(len(set(seen)) == total, 'every row given (%d of %d)' % (len(set(seen)), total))

    # ---- the consumer: tail --exec against the database ----
    out = os.path.join(tmp, 'consumed')
    ccur = os.path.join(tmp, 'ccursor')
    r = subprocess.run([TOOL, 'tail', '--cursor', ccur, '--exec', 'cat >>%s' % out,
                        '--batch', '7'], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    got = open(out).read().split('\n')[:-1] if os.path.exists(out) else []
    total = int(srv.psql('SELECT count(*) FROM gpush.notifications', dbname='gpush'))
    T.ok(r.returncode == 0 and len(got) == total and len(set(got)) == total,
         'tail --exec gives every row once in batches of 7 (%d of %d)' % (len(got), total))
    r = subprocess.run([TOOL, 'tail', '--cursor', ccur, '--exec', 'exit 3'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    T.ok(r.returncode == 0, 'tail --exec caught up: the command is not run (exit 0)')

    # ---- a long transaction holds tail back, loses nothing ----
    lg, w = Session(srv), Session(srv)
    lg.run('BEGIN;')
    lg.run('SELECT pg_current_xact_id();')
    w.run(insert_sql('late'))
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == [], 'an older transaction still open: the new row waits')
    lg.run('COMMIT;')
    rc, lines, err = tail(env, cur)
    T.ok(rc == 0 and lines == ['late'], 'it ended: the row comes (%r)' % lines)
    lg.close()
    w.close()

    # ---- tail -f through a restart of the server ----
    fcur = os.path.join(tmp, 'fcursor')
    subprocess.run([TOOL, 'tail', '--cursor', fcur], env=env, stdout=subprocess.DEVNULL,
                   timeout=60)
    fout = open(os.path.join(tmp, 'follow.out'), 'w')
    ferr = open(os.path.join(tmp, 'follow.err'), 'w')
    fp = subprocess.Popen([TOOL, 'tail', '-f', '--cursor', fcur], env=env, stdout=fout,
                          stderr=ferr)
    # and the consumer, from the same point
    ecur = os.path.join(tmp, 'ecursor')
    shutil.copyfile(fcur, ecur)
    eout = os.path.join(tmp, 'exec.out')
    eerr = open(os.path.join(tmp, 'exec.err'), 'w')
    ep = subprocess.Popen([TOOL, 'tail', '-f', '--cursor', ecur, '--exec', 'cat >>%s' % eout],
                          env=env, stdout=subprocess.DEVNULL, stderr=eerr)

    def followed(tag, secs=20):
        for _ in range(secs * 10):
            if tag in open(os.path.join(tmp, 'follow.out')).read().split():
                return True
            time.sleep(0.1)
        return False
    try:
        srv.psql(insert_sql('F1'), dbname='gpush')
        got1 = followed('F1')
        srv.restart()
        srv.psql(insert_sql('F2'), dbname='gpush')
        got2 = followed('F2')
        for _ in range(200):
            if os.path.exists(eout) and 'F2' in open(eout).read().split():
                break
            time.sleep(0.1)
    finally:
        rcs = []
        for p in (fp, ep):
            p.terminate()
            try:
                rcs.append(p.wait(10))
            except subprocess.TimeoutExpired:
                p.kill()
                rcs.append(p.wait(10))
        rc = rcs[0]
    eget = open(eout).read().split() if os.path.exists(eout) else []
    T.ok(eget == ['F1', 'F2'] and rcs[1] == 0,
         'tail -f --exec too: each row once through the restart, exit 0 (%r, %s)' % (eget, rcs[1]))
    out = open(os.path.join(tmp, 'follow.out')).read().split()
    err = open(os.path.join(tmp, 'follow.err')).read()
    T.ok(got1 and got2 and out == ['F1', 'F2'],
         'tail -f goes on through a restart of the server, each row once (%r)' % out)
    T.ok(rc == 0, 'tail -f ends on SIGTERM with exit 0 (%s)' % rc)
    T.diag('tail -f said: %s' % err.strip().replace('\n', ' | ')[:300])

    # ---- errors ----
    open(os.path.join(tmp, 'filecursor'), 'w').write('gpush-tail 1 1 2 3 0 0\n')
    rc, lines, err = tail(env, os.path.join(tmp, 'filecursor'))
    T.ok(rc == 1 and 'not a cursor of a database' in err,
         "a data directory's cursor is refused: %s" % err.strip())
    bad_env = dict(env, GPUSH_DATABASE='host=127.0.0.1 port=1 dbname=x user=u password=sekrit connect_timeout=2')
    rc, lines, err = tail(bad_env, cur)
    T.ok(rc == 1 and 'database' in err and 'sekrit' not in err,
         'no server: exit 1, the message names the database, no password: %s' % err.strip()[:120])
    return T.done()


if __name__ == '__main__':
    sys.exit(main())
