"""Where the time goes: perf trace and perf record under the table's load,
callgrind instructions per request over a fixed fixture set, strace -c
and massif (their output is read by parsers.py)."""
import os
import signal
import subprocess
import time

from . import fcgi, parsers
from .data import cgi_params, sync_disk
from .measure import Bases, cgiloop_once, settle, wrk
from .output import Progress, fmt_rps, fmt_size, note
from .parsers import proc_ppid
from .procs import CLEANUPS, stop_proc


def profile_pass(servers, cfgs, regs, unavailable, pdir):
    """Per-request syscalls and their wall time (perf trace -s) and a CPU
    profile (perf record -g) of the handler processes, each under the same
    wrk load as in the table (a run of its own, after the table's runs)."""
    if 'perf' in unavailable:
        return
    opts = servers.opts
    m = opts.procs[0]
    key = lambda v, size=opts.main_size: '%s-%dp-%d' % (v.replace("'", 's'), m, size)  # noqa: E731
    others = [sz for sz in opts.sizes if sz != opts.main_size]
    trace = [key('b'), key("b'"), key('c'), key('d')] + [key('d', sz) for sz in others]
    record = [key('b'), key('c'), key('d')] + [key('d', sz) for sz in others]
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
        conns = max(c.procs, opts.threads) if c.slow else None
        Progress.show('profile: perf %s %s (%d/%d)' % (what, c.short(), i + 1, len(jobs)))
        if what == 'trace':
            out = os.path.join(pdir, 'perf-trace-%s.txt' % c.key)
            argv = ['perf', 'trace', '-s', '-o', out]
        else:
            out = os.path.join(pdir, 'perf-%s.data' % c.key)
            argv = ['perf', 'record', '-q', '-F', '999', '-g', '-o', out]
        prof = subprocess.Popen(argv + ['-p', ','.join(map(str, hp)), '--', 'sleep', str(secs + 1)],
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(opts.logs, 'perf.log'), 'a'))
        CLEANUPS.append(lambda p=prof: stop_proc(p, 5, signal.SIGINT))
        time.sleep(0.5)
        res = wrk(servers, c, regs[c.size], secs, conns=conns, tag='perf ' + what)
        try:
            prof.wait(secs + 60)
        except subprocess.TimeoutExpired:
            stop_proc(prof, 5, signal.SIGINT)
        settle(servers, c, limit=120 if c.slow else None)
        sync_disk()
        if not res.get('ok'):
            continue
        if what == 'trace':
            # The trace spans the run and half a second either side, when
            # the handlers sit in accept(): per request = over wrk's count.
            summ = parsers.perf_trace_summary(out)
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


# ---- callgrind: instructions per request ---------------------------------------------------

FIXTURE_CHANNELS = 10
FIXTURE_REQUESTS = 40


def callgrind_phase(opts, regs, pdir):
    """Instructions per request inside handle(), over a fixed fixture set:
    FIXTURE_REQUESTS accepted notifications, round robin over
    FIXTURE_CHANNELS channels spread across the registry, after one
    warm-up request (the registry load, reported apart).  FastCGI: one
    process under callgrind, a dump before each FCGX_Accept_r (so each
    dump is one request's loop).  CGI: one callgrind run per request."""
    run = opts.run
    res = {'fcgi': {}, 'cgi': {}}
    budget = 120 if opts.quick else 400    # seconds for the whole phase
    t_start = time.time()
    for s in opts.sizes:
        d = os.path.join(run, 'data', 'cg-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        rows = regs[s].spread(FIXTURE_CHANNELS)
        # FastCGI (the quick form: the first 10 of the set, and not at
        # 100,000 channels, where loading the registry under callgrind
        # takes most of a minute)
        nreq = 10 if opts.quick else FIXTURE_REQUESTS
        limit = 60 if s >= 100000 else 120
        if opts.quick and s >= 100000:
            res['fcgi'][s] = {'requests': 0, 'skipped': 'not in the quick form'}
            nreq = -1
        Progress.show('callgrind: FastCGI, %s channels' % fmt_size(s))
        prefix = os.path.join(pdir, 'cg-fcgi-%d.out' % s)
        for old in parsers.callgrind_dumps(prefix):
            os.unlink(old)
        sock = os.path.join(run, 'sock', 'cg-%d.sock' % s)
        env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': opts.run_id}
        if nreq >= 0:
            res['fcgi'][s] = callgrind_fcgi(opts, s, d, rows, nreq, limit, budget, t_start, prefix,
                                            sock, env)
        # CGI: whole process per request, after one request outside
        # callgrind (what a first request after a registry change builds)
        ncgi = 2 if opts.quick else 4
        cgi = []
        cgiloop_once(opts, d, regs[s].fixtures(os.path.join(run, 'cg-fixtures-%d.tsv' % s), 4))
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
                                    '--compress-pos=no', '--callgrind-out-file=' + out, opts.handler],
                                   input=body, env=prm, capture_output=True, timeout=300)
                ok = q.stdout.startswith(b'Status: 200')
            except subprocess.TimeoutExpired:
                ok = False
            if os.path.exists(out):
                cg = parsers.Callgrind(out)
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
    s = opts.main_size
    rows = regs[s].spread(FIXTURE_CHANNELS)
    for key, name in (('a', 'noop.fcgi'), ('b', 'append.fcgi')):
        if time.time() - t_start > budget + 60:
            break
        Progress.show('callgrind: FastCGI %s' % name)
        d = os.path.join(run, 'data', 'cg-%s' % key)
        os.makedirs(d, exist_ok=True)
        env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': opts.run_id,
               'BENCH_LOG': os.path.join(d, 'notifications.ndjson'), 'BENCH_SYNC': '0'}
        prefix = os.path.join(pdir, 'cg-fcgi-%s.out' % name.split('.')[0])
        res['ref'][key] = callgrind_fcgi(opts, s, d, rows, 10 if opts.quick else FIXTURE_REQUESTS, 60, budget + 60,
                                         t_start, prefix, os.path.join(run, 'sock', 'cg-%s.sock' % key),
                                         env, binary=os.path.join(opts.bindir, name))
    return res


def callgrind_fcgi(opts, s, d, rows, nreq, limit, budget, t_start, prefix, sock, env, binary=None):
    """One FastCGI process under callgrind, nreq + 1 requests."""
    p = fcgi.spawn(['valgrind', '--tool=callgrind', '--compress-strings=no',
                    '--compress-pos=no', '--dump-before=FCGX_Accept_r',
                    '--callgrind-out-file=' + prefix, binary or opts.handler], env, sock,
                   stderr=open(os.path.join(opts.logs, 'callgrind-%d.log' % s), 'w'))
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
        if len(parsers.callgrind_dumps(prefix)) > len(statuses) or p.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    fcgi.stop(p, 120)
    dumps = parsers.callgrind_dumps(prefix)
    # dump 1 = start-up; dump k+1 = request k (dumped when the loop
    # comes back to FCGX_Accept_r); the final one is written at exit.
    per = []
    for path in dumps[1:len(statuses) + 1]:
        cg = parsers.Callgrind(path)
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

def strace_fcgi(opts, reg, rows, n, sync, tfile, tag):
    """strace -c -f of one FastCGI gpush process that serves n accepted
    notifications, sequentially, to rows in turn; {'requests', 'calls'}."""
    run = opts.run
    d = os.path.join(run, 'data', tag)
    reg.install(d, os.getuid(), os.getgid())
    sock = os.path.join(run, 'sock', tag + '.sock')
    env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': opts.run_id}
    p = fcgi.spawn(['strace', '-c', '-f', '-o', tfile, opts.handler], env, sock)
    CLEANUPS.append(lambda p=p: fcgi.stop(p, 10))
    base = Bases.take()
    t0 = time.time()
    done = 0
    try:
        for i in range(n):
            if time.time() - t0 > 300:
                break
            prm, body = cgi_params(rows[i % len(rows)], base + i, d, sync=bool(sync))
            st, _ = fcgi.request(sock, prm, body, timeout=60)
            if st != 200:
                # counted per accepted notification: say so loudly
                note('strace %s: status %d, not an accepted notification' % (tag, st))
                break
            done += 1
    except OSError as e:
        note('strace %s: %s' % (tag, e))
    # stop the traced handler (strace's child); strace then exits and
    # writes its summary
    for _ in range(100):
        kids = [k for k in parsers.all_pids() if proc_ppid(k) == p.pid]
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
    return {'requests': done, 'calls': parsers.strace_summary(tfile)}


def strace_phase(opts, regs, pdir, unavailable):
    """Syscalls per request of one FastCGI gpush process (sequential
    requests, durable and GPUSH_SYNC=0), and per CGI request."""
    run = opts.run
    out = {}
    if 'strace' in unavailable:
        return out
    for s in sorted({opts.main_size, opts.sizes[-1]}):
        for sync in (1, 0):
            rows = regs[s].spread(FIXTURE_CHANNELS)
            Progress.show('strace -c: FastCGI, %s channels, %s' % (fmt_size(s), 'durable' if sync else 'GPUSH_SYNC=0'))
            name = 'fcgi-%d-%s' % (s, 'sync' if sync else 'nosync')
            # The steady state is the difference of two traced processes:
            # one serving strace_n requests, one serving a request to each
            # channel only (its start-up and the channels' first requests,
            # which open their journals); both start cold.
            cold = strace_fcgi(opts, regs[s], rows, len(rows), sync,
                               os.path.join(pdir, 'strace-%s-cold.txt' % name), 'st-%d-%d-cold' % (s, sync))
            full = strace_fcgi(opts, regs[s], rows, opts.strace_n, sync,
                               os.path.join(pdir, 'strace-%s.txt' % name), 'st-%d-%d' % (s, sync))
            full['cold'] = cold
            out['fcgi-%d-%d' % (s, sync)] = full
        # CGI (after a first request outside the trace)
        d = os.path.join(run, 'data', 'st-cgi-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        rows = regs[s].spread(FIXTURE_CHANNELS)
        cgiloop_once(opts, d, regs[s].fixtures(os.path.join(run, 'st-fixtures-%d.tsv' % s), 4))
        tfile = os.path.join(pdir, 'strace-cgi-%d.txt' % s)
        prm, body = cgi_params(rows[1 % len(rows)], Bases.take(), d)
        prm['PATH'] = '/usr/bin:/bin'
        try:
            subprocess.run(['strace', '-c', '-f', '-o', tfile, opts.handler], input=body, env=prm,
                           capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        out['cgi-%d' % s] = {'requests': 1, 'calls': parsers.strace_summary(tfile)}
    return out


def massif_phase(opts, regs, pdir, unavailable):
    """The heap of a FastCGI process after one request at the largest
    registry: what the registry costs in memory, by allocation site."""
    if 'valgrind' in unavailable:
        return None
    run = opts.run
    s = opts.sizes[-1]
    d = os.path.join(run, 'data', 'ms-%d' % s)
    regs[s].install(d, os.getuid(), os.getgid())
    row = regs[s].spread(2)[-1]
    Progress.show('massif: FastCGI heap, %s channels' % fmt_size(s))
    sock = os.path.join(run, 'sock', 'ms.sock')
    mfile = os.path.join(pdir, 'massif-fcgi-%d.out' % s)
    env = {'PATH': '/usr/bin:/bin', 'BENCH_RUN': opts.run_id}
    p = fcgi.spawn(['valgrind', '--tool=massif', '--massif-out-file=' + mfile,
                    '--threshold=2', opts.handler], env, sock)
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
