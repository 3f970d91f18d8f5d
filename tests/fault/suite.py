#!/usr/bin/env python3
"""The fault suite: tries to break "a notification that got a 2xx is in the
log, once, as one whole line" the way disks, kernels, servers and senders
do.  `suite.py` prints TAP (the short run of make check); `suite.py --long`
runs each test for about a minute and prints the summary table of
make torture.  Tests can be picked by name: suite.py crash-fcgi disk-full."""
import json, os, pwd, random, re, shutil, signal, subprocess, sys, tempfile, threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (DataDir, Pool, Sender, Row, check, messages, cgi_env,  # noqa: E402
                      HANDLER, TOOL, HERE, read_records)
from lib.tap import Tap  # noqa: E402  (faultlib put tests/ on sys.path)

LONG = '--long' in sys.argv
SCALE = 1 if not LONG else 1


def build(src, out, shared=False):
    """Compiles a helper of the suite into the temp dir; returns its path."""
    cmd = ['cc', '-O2', '-o', out, os.path.join(HERE, src)]
    if shared:
        cmd[1:1] = ['-shared', '-fPIC']
        cmd.append('-ldl')
    subprocess.run(cmd, check=True)
    return out


def killer(pool, stop, counter, lo=0.002, hi=0.03):
    """SIGKILLs a random live handler process at random moments."""
    while not stop.is_set():
        time.sleep(random.uniform(lo, hi))
        procs = pool.pids()
        if procs:
            try:
                random.choice(procs).kill()
                counter[0] += 1
            except OSError:
                pass


def wrongly_refused(data, tried, late):
    """Redelivered messages that were not accepted, except true replays:
    older than every one of the channel's last 1024 accepted numbers."""
    recs, _, _ = read_records(data.log_files())
    per = {}
    for c, n in recs:
        per.setdefault(c, []).append(n)
    wrong = 0
    for m in tried:
        if m in late.acked:
            continue
        win = per.get(m[0], [])[-1024:]
        if not (late.final.get(m) == 409 and len(win) >= 1024 and m[1] < min(win)):
            wrong += 1
    return wrong


def crash(mode, seconds, handler=None, per_channel=None):
    """1. Crash loop: kill -9 at random moments under a retrying sender."""
    data = DataDir(8)
    pool = Pool(data, mode=mode, procs=3, handler=handler)
    kills, stop = [0], threading.Event()
    per = per_channel or 100000          # more than fits: the deadline ends it
    msgs = messages(8, per)
    sender = Sender(pool, threads=6, deadline=seconds, attempts=200)
    k = threading.Thread(target=killer, args=(pool, stop, kills))
    try:
        k.start()
        sender.deliver(msgs)
        stop.set()
        k.join()
        # What was never acknowledged must still be accepted, once.
        tried = [m for m in sender.attempted if m not in sender.acked]
        late = Sender(pool, threads=4, deadline=60)
        late.deliver(tried)
        res = check(data, sender.acked | late.acked)
        unaccepted = wrongly_refused(data, tried, late)
        if os.environ.get('FAULT_DEBUG'):
            print('# crash: %d missing from the log, %d wrongly refused; final statuses %s' % (
                res['missing'], unaccepted, dict(list(late.final.items())[:5])))
        return Row('crash-' + mode + ('' if handler is None else '-naive'),
                   sender.requests + late.requests, kills[0],
                   len(sender.acked) + len(late.acked), res['missing'] + unaccepted,
                   res['duplicated'], res['bad'],
                   '%d redelivered after the kills' % len(tried))
    finally:
        stop.set()
        pool.stop()
        data.cleanup()


def naive_caught(seconds):
    """The crash test must catch a naive writer that tears lines."""
    tmp = tempfile.mkdtemp()
    try:
        naive = build('naive.c', os.path.join(tmp, 'naive'))
        row = crash('cgi', min(seconds, 10), handler=naive, per_channel=60)
        caught = row['bad'] > 0 or row['duplicated'] > 0
        row['name'] = 'naive-writer-caught'
        row['note'] = 'the checker found %d bad, %d duplicated: %s' % (
            row['bad'], row['duplicated'], 'caught' if caught else 'NOT CAUGHT')
        # This row is "good" when the defects were found.
        row['missing'], row['duplicated'], row['bad'] = 0, 0, 0 if caught else 1
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def strace_ack(mode, seconds):
    """2. Ack after durability: under strace, every 200 for a new line
    follows an fdatasync of the log that began after that line's write()
    and returned 0, in the same or another process."""
    data = DataDir(4)
    out = os.path.join(data.tmp, 'trace')
    # -ff: one file per traced process, so several tracers never share one;
    # and a prefix of its own per process, or a reused pid (thousands of
    # CGI processes wrap pid_max) would overwrite an earlier trace.
    count = iter(range(10 ** 9))

    def prefix():
        return ['strace', '-ff', '-qq', '-ttt', '-y', '-s', '160', '-o',
                '%s-%d' % (out, next(count)),
                '-e', 'trace=write,fdatasync,fsync', '-e', 'signal=none']
    pool = Pool(data, mode=mode, procs=3, prefix=prefix)
    msgs = messages(4, 100000)
    sender = Sender(pool, threads=6, deadline=seconds)
    try:
        sender.deliver(msgs)
    finally:
        pool.stop()
    events = []  # (time, pid, kind, detail)
    whole_syncs = []  # fdatasync calls strace printed whole: (start, start)
    pat = re.compile(r'^(?:(\d+) +)?(\d+\.\d+) (\w+)\((\d+)<([^>]*)>(.*)$')
    for fn in os.listdir(data.tmp):
        if not fn.startswith('trace'):
            continue
        fpid = fn                       # one file, one process
        for line in open(os.path.join(data.tmp, fn), errors='replace'):
            m = pat.match(line)
            if not m:
                if 'resumed>' in line:
                    mm = re.match(r'^(?:(\d+) +)?(\d+\.\d+) <\.\.\. (\w+) resumed>.*= (-?\d+)', line)
                    if mm:
                        events.append((float(mm.group(2)), mm.group(1) or fpid, mm.group(3) + '-done',
                                       mm.group(4)))
                continue
            pid, t, call, fd, path, rest = m.groups()
            pid = pid or fpid
            t = float(t)
            if call in ('fdatasync', 'fsync') and path.endswith('notifications.ndjson'):
                if '<unfinished' in rest:
                    events.append((t, pid, 'sync-start', ''))
                else:
                    rv = re.search(r'= (-?\d+)', rest)
                    if rv and rv.group(1) == '0':
                        whole_syncs.append((t, t))
            elif call == 'write' and path.endswith('notifications.ndjson'):
                events.append((t, pid, 'line', ''))
            elif call == 'write' and ('Status: 200' in rest):
                events.append((t, pid, 'ack', ''))
    events.sort()
    # Pair each pid's sync-start with its sync-done.
    starts, syncs = {}, whole_syncs
    for t, pid, kind, d in events:
        if kind == 'sync-start':
            starts[pid] = t
        elif kind in ('sync-done', 'fdatasync-done', 'fsync-done') and pid in starts:
            if d == '0':
                syncs.append((starts[pid], t))
            del starts[pid]
    last_line, bad, acks = {}, 0, 0
    for t, pid, kind, d in events:
        if kind == 'line':
            last_line[pid] = t
        elif kind == 'ack' and pid in last_line:
            acks += 1
            tw = last_line.pop(pid)
            if not any(s >= tw and e <= t for s, e in syncs):
                bad += 1
                if os.environ.get('FAULT_DEBUG'):
                    near = sorted(syncs, key=lambda se: abs(se[0] - tw))[:3]
                    print('# uncovered ack pid %s line %.6f ack %.6f near syncs %s' % (
                        pid, tw, t, ['%.6f-%.6f' % se for se in near]))
    res = check(data, sender.acked)
    data.cleanup()
    return Row('ack-after-fdatasync-' + mode, sender.requests, 0, len(sender.acked),
               res['missing'], res['duplicated'], res['bad'] + bad + (acks == 0),
               '%d new-line acks traced, %d without a covering fdatasync, %d syncs' %
               (acks, bad, len(syncs)))


def disk_full(seconds):
    """3. ENOSPC on a small tmpfs: 503, nothing partial, the retry is
    accepted once space returns."""
    mnt = tempfile.mkdtemp(prefix='gpush-full-')
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).returncode:
        return Row('disk-full', note='SKIP: cannot mount tmpfs')
    try:
        data = DataDir(4, base=mnt)
        pool = Pool(data, mode='fcgi', procs=2)
        rounds, faults, total_req, acked_all, statuses = 0, 0, 0, set(), {}
        deadline = time.time() + seconds
        # In order per channel: shuffled numbers would turn into true
        # replays (409) once a window is full, which is not this test.
        msgs = sorted(messages(4, 100000), key=lambda m: (m[1], m[0]))
        it = iter(msgs)
        try:
            while time.time() < deadline and rounds < (3 if not LONG else 1000):
                rounds += 1
                filler = os.path.join(mnt, 'filler')
                # Fill the disk, leaving a little room.
                fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                try:
                    while True:
                        os.write(fd, b'\0' * 4096)
                except OSError:
                    pass
                os.close(fd)
                os.truncate(filler, max(0, os.path.getsize(filler) - random.randint(0, 6000)))
                batch = [next(it) for _ in range(60)]
                for m in batch:
                    st = pool.send(cgi_env(*m))
                    total_req += 1
                    statuses[st] = statuses.get(st, 0) + 1
                    if st == 200:
                        acked_all.add(m)
                    else:
                        faults += 1
                recs, bad, torn = read_records(data.log_files())
                if bad or torn:
                    break
                os.unlink(filler)       # space returns: Google's retries
                s = Sender(pool, threads=2, deadline=30)
                s.deliver([m for m in batch if m not in acked_all])
                total_req += s.requests
                acked_all |= s.acked
            res = check(data, acked_all)
            other = sum(v for k, v in statuses.items() if k not in (200, 503))
            return Row('disk-full', total_req, faults, len(acked_all), res['missing'],
                       res['duplicated'], res['bad'] + other,
                       '%d rounds; statuses while full %s' % (rounds, dict(sorted(
                           (str(k), v) for k, v in statuses.items()))))
        finally:
            pool.stop()
            data.cleanup()
    finally:
        subprocess.run(['umount', mnt])
        os.rmdir(mnt)


def efbig(seconds):
    """3b. EFBIG under ulimit -f: a write past the limit is cut back, 503."""
    import resource
    data = DataDir(2)
    limit = [0]

    def lim():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit[0], resource.RLIM_INFINITY))
    pool = Pool(data, mode='cgi', preexec=lim)
    acked, faults, req = set(), 0, 0
    msgs = iter(messages(2, 100000))
    deadline = time.time() + seconds
    try:
        for r in range(20 if not LONG else 100000):
            if time.time() > deadline:
                break
            logf = os.path.join(data.path, 'notifications.ndjson')
            size = os.path.getsize(logf) if os.path.exists(logf) else 0
            limit[0] = size + random.randint(1, 300)   # a line does not fit
            m = next(msgs)
            st = pool.send(cgi_env(*m))
            req += 1
            if st == 200:
                acked.add(m)
            else:
                faults += st == 503
            limit[0] = resource.RLIM_INFINITY if False else 1 << 40
            st = pool.send(cgi_env(*m))                   # the retry, room again
            req += 1
            if st == 200:
                acked.add(m)
        res = check(data, acked)
        return Row('efbig', req, faults, len(acked), res['missing'], res['duplicated'],
                   res['bad'], 'ulimit -f just past the log')
    finally:
        pool.stop()
        data.cleanup()


def io_errors(mode, seconds):
    """4. write() and fdatasync() fail with EIO (LD_PRELOAD shim): 503,
    fdatasync never retried on the failed descriptor, recovery after."""
    tmp = tempfile.mkdtemp()
    data = DataDir(4)
    try:
        shim = build('failshim.c', os.path.join(tmp, 'failshim.so'), shared=True)
        report, off = os.path.join(tmp, 'report'), os.path.join(tmp, 'off')
        env = {'LD_PRELOAD': shim, 'FAILSHIM_WRITE': '0.05', 'FAILSHIM_SYNC': '0.1',
               'FAILSHIM_REPORT': report, 'FAILSHIM_OFF': off}
        pool = Pool(data, mode=mode, procs=3, env=env)
        msgs = messages(4, 100000)
        s = Sender(pool, threads=6, deadline=seconds, attempts=40)
        try:
            s.deliver(msgs)
            open(off, 'w').close()        # the disk is healthy again
            rest = [m for m in s.attempted if m not in s.acked]
            late = Sender(pool, threads=4, deadline=60)
            late.deliver(rest)
        finally:
            pool.stop()
        faults = open(report).read().split('\n') if os.path.exists(report) else []
        resync = sum(1 for l in faults if l.startswith('RESYNC'))
        injected = sum(1 for l in faults if l.startswith(('WRITE', 'SYNC')))
        res = check(data, s.acked | late.acked)
        unaccepted = wrongly_refused(data, rest, late)
        return Row('io-errors-' + mode, s.requests + late.requests, injected,
                   len(s.acked | late.acked), res['missing'] + unaccepted,
                   res['duplicated'], res['bad'] + resync,
                   '%d fdatasync retried on a failed fd; %d recovered after' % (
                       resync, len(late.acked)))
    finally:
        data.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def many_writers(seconds):
    """5. 64 concurrent writers, records from 100 B to the 64 KiB limit."""
    data = DataDir(8)
    pool = Pool(data, mode='fcgi', procs=4)
    per = 100000

    def body(c, n):
        size = random.choice([100, 1000, 8000, 30000, 65536 - 64])
        pad = 'x' * max(0, size - 40)
        return json.dumps({'n': n, 'c': c, 'pad': pad}).encode()[:65536]
    msgs = messages(8, per)
    s = Sender(pool, threads=64, deadline=seconds)
    try:
        s.deliver(msgs, body=body)
        res = check(data, s.acked)
        # Each line's body must be the one sent for its number.
        wrong = 0
        for f in data.log_files():
            for line in open(f, 'rb').read().split(b'\n')[:-1]:
                o = json.loads(line)
                if o.get('body', {}).get('n') != o['message_number']:
                    wrong += 1
        return Row('many-writers-64', s.requests, 0, len(s.acked), res['missing'],
                   res['duplicated'], res['bad'] + wrong, 'bodies 100 B..64 KiB')
    finally:
        pool.stop()
        data.cleanup()


def consumer_tail_f(data, out):
    return subprocess.Popen([TOOL, '-d', data.path, 'tail', '-f', '--cursor',
                             os.path.join(data.tmp, 'cursor')], stdout=out,
                            stderr=subprocess.DEVNULL)


def rotation(kind, seconds):
    """6. Rotation under load by `gpush rotate`, logrotate (create) or
    logrotate (copytruncate), while `gpush tail -f` and `tail -F` follow."""
    if kind in ('tool', 'snippet') and not os.access(TOOL, os.X_OK):
        return Row('rotate-' + kind, note='SKIP: no tool')
    data = DataDir(4)
    pool = Pool(data, mode='fcgi', procs=3)
    msgs = messages(4, 100000)
    stop = threading.Event()
    rotations = [0]
    errors = []
    conf = os.path.join(data.tmp, 'logrotate.conf')
    if kind == 'snippet':
        # conf/logrotate.gpush as INSTALL installs it, its CHANGE items
        # changed: the stamp, the user, the tool, the data directory, and
        # --keep high enough for check() to find every line.
        text = open(os.path.join(HERE, '..', '..', 'conf', 'logrotate.gpush')).read()
        stamp = os.path.join(data.tmp, 'gpush.stamp')
        open(stamp, 'w').close()
        user = pwd.getpwuid(os.stat(data.path).st_uid).pw_name
        subs = ((r'^/var/lib/logrotate/gpush\.stamp(?= \{$)', stamp),
                (r'runuser -u www-data -- ', 'runuser -u %s -- ' % user
                 if os.getuid() == 0 else ''),
                (r'/usr/local/bin/gpush', TOOL),
                (r' -d /var/lib/gpush ', ' -d %s ' % data.path),
                (r'--keep [0-9]+', '--keep 1000'))
        for pat, rep in subs:
            text, n = re.subn(pat, lambda m: rep, text, flags=re.M)
            if n != 1:
                raise RuntimeError('conf/logrotate.gpush: %r found %d times' % (pat, n))
        directives = re.sub(r'(?m)^\s*#.*$', '', text)
        if 'copytruncate' in directives or 'notifications.ndjson' in directives:
            raise RuntimeError('conf/logrotate.gpush rotates the log itself')
    else:
        text = ('%s/notifications.ndjson {\n  rotate 100000\n  missingok\n  nocompress\n'
                '  %s\n}\n' % (data.path, 'copytruncate' if kind == 'copytruncate'
                               else 'create 0600'))
    with open(conf, 'w') as f:
        f.write(text)
    state = os.path.join(data.tmp, 'lr.state')

    def rotator():
        while not stop.is_set():
            time.sleep(random.uniform(0.05, 0.3))
            if kind == 'tool':
                r = subprocess.run([TOOL, '-d', data.path, 'rotate', '--keep', '1000'],
                                   capture_output=True)
            else:
                r = subprocess.run(['logrotate', '-f', '-s', state, conf], capture_output=True)
            rotations[0] += r.returncode == 0
            if r.returncode != 0 and kind == 'snippet':
                errors.append(r.stderr.decode(errors='replace')[-300:])
    tf_out = open(os.path.join(data.tmp, 'tailF.out'), 'wb')
    gt_out = open(os.path.join(data.tmp, 'gtail.out'), 'wb')
    open(os.path.join(data.path, 'notifications.ndjson'), 'a').close()
    os.chmod(os.path.join(data.path, 'notifications.ndjson'), 0o600)
    tailF = subprocess.Popen(['tail', '-n', '+1', '-F', '-s', '0.05',
                              os.path.join(data.path, 'notifications.ndjson')],
                             stdout=tf_out, stderr=subprocess.DEVNULL)
    gtail = consumer_tail_f(data, gt_out) if os.access(TOOL, os.X_OK) else None
    rt = threading.Thread(target=rotator)
    s = Sender(pool, threads=6, deadline=seconds)
    try:
        rt.start()
        s.deliver(msgs)
        stop.set()
        rt.join()
        time.sleep(1.0)     # let the followers catch up
    finally:
        stop.set()
        pool.stop()
        for p in (tailF, gtail):
            if p:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        tf_out.close()
        gt_out.close()
    res = check(data, s.acked)
    rotated = len([f for f in data.log_files() if not f.endswith('.ndjson')])
    seen = {}
    for name in ('tailF.out', 'gtail.out'):
        recs, bad, torn = read_records([os.path.join(data.tmp, name)])
        seen[name] = (len(set(recs) & s.acked), len(recs) - len(set(recs)), bad)
    data.cleanup()
    note = 'rotations %d; tail -F saw %d/%d (%d dup, %d bad); gpush tail -f saw %d/%d (%d dup, %d bad)' % (
        rotations[0], seen['tailF.out'][0], len(s.acked), seen['tailF.out'][1], seen['tailF.out'][2],
        seen['gtail.out'][0], len(s.acked), seen['gtail.out'][1], seen['gtail.out'][2])
    row = Row('rotate-' + kind, s.requests, rotations[0], len(s.acked), res['missing'],
              res['duplicated'], res['bad'], note)
    if kind == 'snippet':
        # logrotate ran gpush rotate: rotated logs exist, every run worked.
        row['note'] += '; %d rotated logs' % rotated
        if rotated == 0 or errors:
            row['bad'] += 1
            row['note'] += '; logrotate failed: %s' % (errors[:1] or 'no rotated log')
    if kind in ('tool', 'snippet') and gtail is not None:
        # gpush tail must see every acknowledged line once, whole.
        row['missing'] += len(s.acked) - seen['gtail.out'][0]
        row['duplicated'] += seen['gtail.out'][1]
        row['bad'] += seen['gtail.out'][2]
    if kind == 'copytruncate':
        row['note'] = 'MEASURED ONLY (expected to lose lines): ' + note
        row['measure_only'] = True
    return row


def property_test(seconds):
    """7. Random (channel, number, retry, duplicate) sequences against a
    model of the exactly-once rule, through a FastCGI handler."""
    data = DataDir(3)
    pool = Pool(data, mode='fcgi', procs=2, env={'GPUSH_SYNC': '0'})
    model = {c: [] for c in range(3)}   # accepted numbers in order
    wrong, req = [], 0
    deadline = time.time() + seconds
    rng = random.Random(int(os.environ.get('SEED', '0')) or None)
    try:
        for step in range(3000 if not LONG else 10 ** 7):
            if time.time() > deadline:
                break
            c = rng.randrange(3)
            acc = model[c]
            r = rng.random()
            if acc and r < 0.25:
                n = rng.choice(acc[-1200:])                 # duplicate / retry
            elif acc and r < 0.4:
                n = max(1, acc[-1] - rng.randrange(3000))    # reordered, older
            else:
                n = (acc[-1] if acc else 1000) + rng.randrange(1, 5)
            window = acc[-1024:]
            if n in window:
                want = 200
            elif len(window) >= 1024 and n < min(window):
                want = 409
            else:
                want = 200
            e = cgi_env(c, n)
            if n == 1:
                e[b'HTTP_X_GOOG_RESOURCE_STATE'] = b'sync'
            got = pool.send(e)
            req += 1
            if got != want:
                wrong.append((c, n, got, want))
            if want == 200 and n not in window:
                acc.append(n)
        want_log = {(c, n) for c in model for n in model[c]}
        res = check(data, want_log)
        return Row('replay-model', req, 0, len(want_log), res['missing'],
                   res['duplicated'], res['bad'] + len(wrong),
                   'mismatches with the model: %s' % (wrong[:3] or 'none'))
    finally:
        pool.stop()
        data.cleanup()


def clock(seconds):
    """10. Expiry and clock, with faketime: at and after the registry
    expiration 410; a clock stepping backwards keeps the dedup window."""
    if not shutil.which('faketime'):
        return Row('expiry-clock', note='SKIP: no faketime')
    now = int(time.time())
    exp = (now + 3600) * 1000
    data = DataDir(2, extra=lambda c: {'expiration': str(exp)})
    problems, req = [], 0

    def at(ts, c, n):
        nonlocal req
        req += 1
        env = {k.decode(): v.decode() for k, v in cgi_env(c, n).items()}
        env.update({'PATH': '/usr/bin:/bin', 'GPUSH_DIR': data.path,
                    'FAKETIME_NO_CACHE': '1'})
        p = subprocess.run(['faketime', '-f', ts, HANDLER], env=env, input=b'',
                           capture_output=True, timeout=30)
        m = re.search(rb'Status: (\d+)', p.stdout)
        return int(m.group(1)) if m else None
    try:
        def iso(t):
            return '@' + time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))
        os.environ['TZ'] = 'UTC'
        for t, n, want in ((now + 3599, 1001, 200), (now + 3600, 1002, 410),
                           (now + 7200, 1003, 410), (now + 100, 1004, 200)):
            got = at(iso(t), 0, n)
            if got != want:
                problems.append('at %+ds: %s, want %s' % (t - now, got, want))
        # Fill the window at "now", then step the clock back a day.
        for k in range(1030):
            env = cgi_env(1, 5000 + k)
            st = None
            pool = None
        p = Pool(data, mode='fcgi', procs=1, env={'GPUSH_SYNC': '0'})
        try:
            for k in range(1030):
                if p.send(cgi_env(1, 5000 + k)) != 200:
                    problems.append('fill %d failed' % k)
                    break
                req += 1
        finally:
            p.stop()
        for n, want in ((5000 + 1029, 200), (5000 + 3, 409), (9000, 200), (9000, 200)):
            got = at(iso(now - 86400), 1, n)
            if got != want:
                problems.append('clock back, n=%d: %s, want %s' % (n, got, want))
        res = check(data, set())
        counts = res['counts']
        dup = sum(1 for v in counts.values() if v > 1)
        return Row('expiry-clock', req, 2, len(counts), 0, dup, len(problems),
                   '; '.join(problems) or 'expiry at/after: 410; clock back a day: window intact')
    finally:
        data.cleanup()


TESTS = [
    ('naive-writer-caught', lambda s: naive_caught(s)),
    ('crash-cgi', lambda s: crash('cgi', s)),
    ('crash-fcgi', lambda s: crash('fcgi', s)),
    ('ack-after-fdatasync-cgi', lambda s: strace_ack('cgi', s)),
    ('ack-after-fdatasync-fcgi', lambda s: strace_ack('fcgi', s)),
    ('disk-full', lambda s: disk_full(s)),
    ('efbig', lambda s: efbig(s)),
    ('io-errors-cgi', lambda s: io_errors('cgi', s)),
    ('io-errors-fcgi', lambda s: io_errors('fcgi', s)),
    ('many-writers-64', lambda s: many_writers(s)),
    ('rotate-tool', lambda s: rotation('tool', s)),
    ('rotate-logrotate-create', lambda s: rotation('create', s)),
    ('rotate-logrotate-copytruncate', lambda s: rotation('copytruncate', s)),
    # conf/logrotate.gpush: logrotate keeps the schedule, gpush rotate rotates.
    ('rotate-logrotate-snippet', lambda s: rotation('snippet', s)),
    ('replay-model', lambda s: property_test(s)),
    ('expiry-clock', lambda s: clock(s)),
]


def main():
    names = [a for a in sys.argv[1:] if not a.startswith('--')]
    tests = [t for t in TESTS if not names or t[0] in names]
    seconds = 60 if LONG else 6
    rows, failed = [], 0
    tap = Tap(len(tests)) if not LONG else None
    for i, (name, fn) in enumerate(tests, 1):
        if LONG:
            print('torture: %s (%d/%d) ...' % (name, i, len(tests)), file=sys.stderr, flush=True)
        t0 = time.time()
        try:
            row = fn(seconds)
        except Exception as e:  # a crashed test is a failed test
            row = Row(name, bad=1, note='error: %r' % e)
        row['secs'] = time.time() - t0
        rows.append(row)
        skip = row['note'].startswith('SKIP')
        good = row.good() or row.get('measure_only')
        failed += not good and not skip
        if not LONG:
            tap.ok(good, '%s: %d requests, %d faults, %d acked, %d missing, %d dup, %d bad' % (
                row['name'], row['requests'], row['faults'], row['acked'], row['missing'],
                row['duplicated'], row['bad']), skip=row['note'] if skip else None)
            if row['note'] and not skip:
                tap.diag(row['note'])
    if LONG:
        print('%-30s %6s %8s %7s %7s %7s %5s %5s  %s' % ('test', 'secs', 'requests', 'faults',
              'acked', 'missing', 'dup', 'torn', 'note'))
        for r in rows:
            print('%-30s %6.0f %8d %7d %7d %7d %5d %5d  %s' % (
                r['name'], r['secs'], r['requests'], r['faults'], r['acked'], r['missing'],
                r['duplicated'], r['bad'], r['note']))
        print('%d passed, %d failed' % (len(rows) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
