"""Measuring: one wrk run, the interleaved rounds over every variant,
merging the rounds, and the CGI handler time (bench/c/cgiloop)."""
import http.client
import json
import os
import resource
import subprocess
import time

from . import BENCH, fcgi, parsers
from .data import body_for, cgi_params, disk_flushes, sync_disk
from .output import Progress, fmt_elapsed, fmt_ms, fmt_rps, fmt_size
from .parsers import proc_status, proc_times


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
            prm, body = cgi_params(row, nums[path], c.datadir, sync=(c.variant not in ('d', 'd0')))
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
    opts = servers.opts
    conns = conns or c.conns
    threads = threads or opts.threads
    base = Bases.take()
    url = 'http://127.0.0.1:%d%s' % (c.port, c.path)
    argv = ['wrk', '-t', str(threads), '-c', str(conns), '-d', '%ds' % seconds,
            '--timeout', '30s', '-s', os.path.join(BENCH, 'notify.lua'), url, '--',
            reg.tsv, str(base), str(threads)]
    hp, sp = servers.pids(c)
    dp = servers.db_pids(c)          # PostgreSQL's processes, for (p), (q)
    d0 = cpu_of(dp)
    h0 = cpu_of(hp, children=(c.kind == 'apache'))
    hu0 = cpu_of(hp, children=(c.kind == 'apache'), part='user')
    s0 = cpu_of(sp) + (cpu_of(hp) if c.kind == 'apache' else 0)
    b0 = parsers.cpu_busy()
    f0 = disk_flushes(servers.run)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b'').decode() if isinstance(e.stdout, bytes) else (e.stdout or ''), -1
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    f1 = disk_flushes(servers.run)
    b1 = parsers.cpu_busy()
    h1 = cpu_of(hp, children=(c.kind == 'apache'))
    hu1 = cpu_of(hp, children=(c.kind == 'apache'), part='user')
    s1 = cpu_of(sp) + (cpu_of(hp) if c.kind == 'apache' else 0)
    d1 = cpu_of(servers.db_pids(c)) if dp else 0.0
    with open(os.path.join(opts.logs, 'wrk-%s.log' % c.key), 'a') as f:
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
                'cpu_db': max(0.0, d1 - d0),
                'flushes': f1 - f0 if f0 is not None and f1 is not None else None,
                'cpu_other': max(0.0, (b1 - b0) - handler - server - client - max(0.0, d1 - d0)),
                'cpu_total': b1 - b0})
    return res


def settle(servers, c, limit=None):
    """Waits until c's processes stop using CPU (requests a closed client
    left queued are still handled), at most limit seconds (default the
    settings' settle_max_s)."""
    limit = limit or servers.opts.settle_max_s
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
              'cpu_total', 'cpu_db'):
        s[k + '_us'] = sum(r.get(k, 0.0) for r in runs) / req * 1e6 if req else None
    fl = [r.get('flushes') for r in runs]
    s['flushes_per_req'] = sum(fl) / req if req and None not in fl else None
    wall = sum(r['wall'] for r in runs)
    s['other_pct'] = sum(r['cpu_other'] for r in runs) / wall * 100 if wall else None
    return s


# ---- the interleaved runs ------------------------------------------------------------

def measure(servers, cfgs, regs):
    """Readiness, warm-up, then the interleaved rounds; peak RSS at the end."""
    opts = servers.opts
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
        if c.variant in ('c', 'd', 'c0', 'd0'):
            why = warm_sockets(servers, c, regs[c.size])
            if why:
                c.error = 'warm-up failed: %s' % why
                continue
        c.warm = wrk(servers, c, regs[c.size], opts.warmup_s, conns=max(c.procs or 1, opts.threads),
                     tag='warmup')
        settle(servers, c, limit=120)
        sync_disk()
        if not c.warm.get('ok'):
            c.error = 'warm-up failed: %s' % c.warm.get('why')
    live = [c for c in live if c.error is None]
    total = opts.rounds * len(live)
    k = 0
    for r in range(opts.rounds):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for c in order:
            k += 1
            if c.slow:
                continue
            left = (total - k + 1) * (opts.seconds + 1.0)
            Progress.show('round %d/%d  run %d/%d  %-34s ~%s left' %
                          (r + 1, opts.rounds, k, total, c.short(), fmt_elapsed(left)))
            res = wrk(servers, c, regs[c.size], opts.seconds, tag='round %d' % (r + 1))
            res['round'] = r + 1
            c.runs.append(res)
            if res.get('ok'):
                Progress.show('round %d/%d  run %d/%d  %-34s %s req/s  p99 %s ms' %
                              (r + 1, opts.rounds, k, total, c.short(), fmt_rps(res['rps']),
                               fmt_ms(res['p99_us'])))
            if res.get('ok') and (res['requests'] < 10 * opts.seconds or res['p50_us'] > 1e6):
                # Over a second a request: the requests still queued when
                # wrk stops take long to drain, so this row is measured
                # in this round only (it is marked in the table).
                c.slow = True
            res['settle_s'] = settle(servers, c, limit=120 if c.slow else None)
            sync_disk()
            time.sleep(0.1)
    # peak RSS of every handler process, while they are alive
    for c in live:
        hp, _ = servers.pids(c)
        if c.kind == 'apache':
            continue
        st = [proc_status(p) for p in hp]
        st = [s for s in st if s]
        if st and c.variant in ('a', 'c', 'd', 'c0', 'd0'):
            # where the resident pages of the biggest process are
            big = max(hp, key=lambda p: proc_status(p).get('VmHWM', 0))
            smaps_report(big, os.path.join(opts.out, 'profile', 'rss-%s.txt' % c.key), c)
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


# ---- CGI handler time ------------------------------------------------------------------

def cgi_phase(opts, regs):
    """Runs gpush.fcgi directly in plain-CGI mode, one process per request
    (bench/c/cgiloop), at every registry size, durable and GPUSH_SYNC=0,
    interleaved; the no-op binary gives the floor (fork+exec+exit)."""
    run = opts.run
    loop = os.path.join(opts.bindir, 'cgiloop')
    out = {}
    rounds = 1 if opts.quick else 4
    count = 60 if opts.quick else 150
    datadirs = {}
    for s in opts.sizes:
        d = os.path.join(run, 'data', 'cgi-%d' % s)
        regs[s].install(d, os.getuid(), os.getgid())
        datadirs[s] = d
    fx = {s: regs[s].fixtures(os.path.join(run, 'cgi-fixtures-%d.tsv' % s), 64) for s in opts.sizes}
    # The first request after a registry change may build what later ones
    # reuse (an index in state/): timed apart, not in the mean.
    first = {}
    for s in opts.sizes:
        Progress.show('CGI handler time: first request, %s channels' % fmt_size(s))
        first[s] = cgiloop_once(opts, datadirs[s], fx[s])
    jobs = [('noop', opts.sizes[0], 1)] + [('gpush', s, sync) for s in opts.sizes for sync in (1, 0)]
    for r in range(rounds):
        for j, (what, s, sync) in enumerate(jobs):
            Progress.show('CGI handler time: round %d/%d, %s %s channels%s' %
                          (r + 1, rounds, what, fmt_size(s),
                           '' if what == 'noop' else (' durable' if sync else ' GPUSH_SYNC=0')))
            binary = os.path.join(opts.bindir, 'noop.fcgi') if what == 'noop' else opts.handler
            argv = [loop, '-x', binary, '-d', datadirs[s], '-f', fx[s], '-n', str(count),
                    '-b', str(Bases.take()), '-s', str(sync), '-t', '30',
                    '-E', os.path.join(opts.logs, 'cgi-stderr.log')]
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


def cgiloop_once(opts, datadir, fixtures, sync=1):
    """One CGI request through cgiloop: its result (ms, ok)."""
    argv = [os.path.join(opts.bindir, 'cgiloop'), '-x', opts.handler, '-d', datadir, '-f', fixtures,
            '-n', '1', '-b', str(Bases.take()), '-s', str(sync), '-t', '120',
            '-E', os.path.join(opts.logs, 'cgi-stderr.log')]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        x = json.loads(p.stdout.strip().splitlines()[-1])
        return {'ms': x['mean_us'] / 1000, 'ok': x['bad'] == 0 and x['runs'] == 1}
    except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError) as e:
        return {'ms': None, 'ok': False, 'why': str(e)}
