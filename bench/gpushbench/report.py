"""The report: the table, the targets, scaling, instructions per request,
the profile lines, details, the chart, results.txt and results.json, TAP."""
import datetime
import json
import os
import shutil
import subprocess
import sys

from . import REPO
from .output import fmt_int, fmt_ms, fmt_ratio, fmt_rps, fmt_size, mib, note
from .profiles import FIXTURE_CHANNELS, FIXTURE_REQUESTS
from .variants import VARIANTS, VDESC

# The callgrind breakdown's rows: the handler (handle, its steps), libgpush
# (gpush_, gpush__), and the libraries' entry points it spends in.
CALLGRIND_PREFIXES = ('handle', 'step_', 'gpush_', 'gpush__', 'json_', 'FCGX_',
                      'malloc', 'calloc', 'free')


def table(opts, cfgs, results):
    """The main table as lines."""
    base_a = {c.procs: results.get(c.key) for c in cfgs if c.variant == 'a' and c.size == opts.main_size}
    base_e = {c.procs: results.get(c.key) for c in cfgs if c.variant == 'e' and c.size == opts.main_size}
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
        p = c.procs or opts.procs[0]
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
    head = ('%-20s %9s %6s %13s %7s %7s %7s %7s %9s %6s %7s %8s %9s' %
            ('config', 'requests', 'rounds', 'hdl usr+sys', 'srv µs', 'db µs', 'wrk µs', 'other%',
             'flush/req', 'non2xx', 'errors', 'timeouts', 'log lines'))
    lines = [head, '-' * len(head)]
    for c in cfgs:
        s = results.get(c.key)
        if s is None:
            continue
        hu = s.get('cpu_handler_user_us')
        hs = s['cpu_handler_us'] - hu if hu is not None and s['cpu_handler_us'] is not None else None
        fl = s.get('flushes_per_req')
        lines.append('%-20s %9s %6d %13s %7s %7s %7s %7s %9s %6d %7d %8d %9s' % (
            c.key, fmt_int(s['requests']), s['rounds'],
            '%s+%s' % (fmt_int(hu), fmt_int(hs)) if hu is not None else '-',
            fmt_int(s['cpu_server_us']),
            fmt_int(s.get('cpu_db_us')) if c.variant in ('p', 'q') else '-',
            fmt_int(s['cpu_client_us']),
            '%.0f' % s['other_pct'] if s['other_pct'] is not None else '-',
            '%.3f' % fl if fl is not None else '-',
            s['non2xx'], s['errors'] - s['timeouts'], s['timeouts'],
            fmt_int(c.lines) if c.lines is not None else '-'))
    return lines


def rss_limit_kb(size_bytes):
    return 2 * 1024 + 1.5 * size_bytes / 1024


def syscalls_per_request(stracex, key, steady=True):
    """(total, [(syscall, per request)]) of one strace -c row, or None.
    steady: less the cold process (start-up, each channel's first
    request), over the requests beyond it."""
    v = (stracex or {}).get(key)
    if not v or not v.get('requests'):
        return None
    n = v['requests']
    calls = {k: x[0] for k, x in v['calls'].items()}
    cold = v.get('cold')
    if steady and cold and cold.get('requests') and n > cold['requests']:
        n -= cold['requests']
        for k, x in cold['calls'].items():
            calls[k] = calls.get(k, 0) - x[0]
    rows = sorted(((k, c / n) for k, c in calls.items()), key=lambda kv: -kv[1])
    return sum(x for _, x in rows), rows


def targets(opts, cfgs, results, regs, cgi, rss_by_size, rss_detail, stracex=None):
    """[(met: True/False/None, text)]"""
    by = {c.key: c for c in cfgs}
    main = opts.procs[0]

    def get(v, procs=main, size=opts.main_size):
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
    # issue 12: the request path at the cost of a plain append, and the
    # PHP peer
    ratio_target("(c) ≥ 1.2 × (b'), %d procs, durable" % main, get('c'), get("b'"), 1.2, '')
    ratio_target("(c) ≥ 1.2 × (g), %d procs" % main, get('c'), get('g'), 1.2, '')
    ratio_target("(c) ≥ 3 × (g'), %d procs" % main, get('c'), get("g'"), 3.0, '')
    nosync = syscalls_per_request(stracex, 'fcgi-%d-0' % opts.main_size)
    durable = syscalls_per_request(stracex, 'fcgi-%d-1' % opts.main_size)
    name = 'FastCGI syscalls per accepted notification, %s channels' % fmt_size(opts.main_size)
    if nosync is None:
        out.append((None, '%s: not measured (strace, full form)' % name))
    else:
        v = stracex['fcgi-%d-0' % opts.main_size]
        whole = syscalls_per_request(stracex, 'fcgi-%d-0' % opts.main_size, steady=False)
        out.append((nosync[0] <= 14.005, '%s, GPUSH_SYNC=0: %.2f in the steady state (%s '
                    'requests; %.2f with the start-up and each channel\'s first request; '
                    'wanted ≤ 14)' % (name, nosync[0], fmt_int(v['requests']), whole[0])))
    if nosync is not None and durable is not None:
        base = dict(nosync[1])
        more = ['%s %+.2f' % (k, x - base.get(k, 0)) for k, x in durable[1]
                if abs(x - base.get(k, 0)) >= 0.05]
        out.append((None, '%s, durable: %.2f (beyond GPUSH_SYNC=0: %s)' % (
            name, durable[0], ', '.join(more) or 'nothing')))
    lo, hi = opts.sizes[0], opts.sizes[-1]
    for v in opts.scale:
        ratio_target('(%s) FastCGI %s channels ≥ 0.9 × %s channels' % (v, fmt_size(hi), fmt_size(lo)),
                     get(v, size=hi), get(v, size=lo), 0.9, '')
    for key, label in (('%d-sync' % hi, 'durable'), ('%d-nosync' % hi, 'GPUSH_SYNC=0')):
        x = cgi.get(key) if cgi else None
        if x and x.get('runs'):
            out.append((x['mean_ms'] <= 1.2, 'CGI handler time, %s channels, %s: %.2f ms mean '
                        '(p50 %.2f, p99 %.2f; wanted ≤ 1.2 ms)' % (fmt_size(hi), label, x['mean_ms'],
                                                                 x['p50_ms'], x['p99_ms'])))
        else:
            out.append((None, 'CGI handler time, %s channels, %s: not measured' % (fmt_size(hi), label)))
    for s in opts.sizes:
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


def before_after(opts, cfgs, results):
    """BENCH_BASELINE: the goal ratios with the baseline build's rows (c0),
    (d0) in place of (c), (d), measured in the same run, side by side."""
    by = {c.key: c for c in cfgs}
    main = opts.procs[0]

    def get(v):
        c = by.get('%s-%dp-%d' % (v.replace("'", 's'), main, opts.main_size))
        return (results.get(c.key), c) if c else (None, None)

    def ratio(num, den):
        a, b = get(num)[0], get(den)[0]
        return '%.2f' % (a['rps'] / b['rps']) if a and b and b['rps'] else '-'

    lines = ['%-28s %10s %10s' % ('', 'before', 'after'), '-' * 50]
    for name, before, after in (
            ("(d) / (b)", ('d0', 'b'), ('d', 'b')),
            ("(c) / (b')", ('c0', "b'"), ('c', "b'")),
            ("(c) / (g)", ('c0', 'g'), ('c', 'g')),
            ("(c) / (g')", ('c0', "g'"), ('c', "g'"))):
        lines.append('%-28s %10s %10s' % (name, ratio(*before), ratio(*after)))
    for name, b, a in (('(c) durable, req/s', 'c0', 'c'), ('(d) GPUSH_SYNC=0, req/s', 'd0', 'd')):
        rb, ra = get(b)[0], get(a)[0]
        lines.append('%-28s %10s %10s' % (name, fmt_rps(rb['rps']) if rb else '-',
                                          fmt_rps(ra['rps']) if ra else '-'))
    for name, b, a in (('(c) handler cpu µs/req', 'c0', 'c'), ('(d) handler cpu µs/req', 'd0', 'd')):
        rb, ra = get(b)[0], get(a)[0]
        lines.append('%-28s %10s %10s' % (name, fmt_int(rb['cpu_handler_us']) if rb else '-',
                                          fmt_int(ra['cpu_handler_us']) if ra else '-'))
    for name, b, a in (('(d) peak RSS MiB', 'd0', 'd'),):
        cb, ca = get(b)[1], get(a)[1]
        lines.append('%-28s %10s %10s' % (
            name, '%.1f' % (cb.rss['hwm_kb'] / 1024) if cb and cb.rss else '-',
            '%.1f' % (ca.rss['hwm_kb'] / 1024) if ca and ca.rss else '-'))
    return lines


def durable_lines(opts, cfgs, results):
    """(c) against (b') at every process count measured (BENCH_PROCS and
    BENCH_WIDE): req/s and their ratio, device flushes, handler CPU and
    median latency per request; then, from perf trace (full form), what a
    durable request waits in: fdatasync, and (c)'s futex wait for another
    process's fdatasync.  Where (c)'s group commit saves flushes but not
    time, this shows it."""
    by = {c.key: c for c in cfgs}
    lines = ['%-6s %10s %10s %8s %9s %9s %8s %8s %8s %8s' % (
        'procs', "(b') req/s", '(c) req/s', "(c)/(b')", "(b') fl/r", '(c) fl/r',
        "(b') cpu", '(c) cpu', "(b') p50", '(c) p50'), '-' * 95]
    for p in sorted(set(opts.procs) | ({opts.wide} if opts.wide else set())):
        cb = by.get('bs-%dp-%d' % (p, opts.main_size))
        cc = by.get('c-%dp-%d' % (p, opts.main_size))
        rb = results.get(cb.key) if cb else None
        rc = results.get(cc.key) if cc else None
        if not rb or not rc or not rb['rps']:
            continue

        def fl(r):
            return '%.3f' % r['flushes_per_req'] if r.get('flushes_per_req') is not None else '-'

        lines.append('%-6s %10s %10s %8.2f %9s %9s %8s %8s %8s %8s' % (
            '%d/%d' % (p, cb.conns), fmt_rps(rb['rps']), fmt_rps(rc['rps']), rc['rps'] / rb['rps'],
            fl(rb), fl(rc), fmt_int(rb['cpu_handler_us']), fmt_int(rc['cpu_handler_us']),
            fmt_ms(rb['p50_us']), fmt_ms(rc['p50_us'])))
    if len(lines) == 2:
        return []
    lines.append('procs/conns: FastCGI processes / wrk connections; fl/r: device flushes per '
                 'request; cpu: handler µs per request; p50: ms')
    waits = []
    for v in ("b'", 'c'):
        c = by.get('%s-%dp-%d' % (v.replace("'", 's'), opts.procs[0], opts.main_size))
        t = c.prof.get('trace') if c else None
        if not t or not t['requests']:
            continue
        n = t['requests']
        fd = t['syscalls'].get('fdatasync')
        fx = t['syscalls'].get('futex')
        part = '(%s) fdatasync %.2f a request at %.2f ms a call' % (
            v, fd[0] / n, fd[2] / fd[0]) if fd and fd[0] else '(%s) no fdatasync' % v
        if v == 'c' and fx:
            part += ', futex (waiting for another process\'s fdatasync) %.2f ms a request' % (
                fx[2] / n)
        waits.append(part)
    if waits:
        lines.append('waits, %d procs (perf trace, wall, slowed by the trace): %s' % (
            opts.procs[0], '; '.join(waits)))
    return lines


def scaling_lines(opts, cfgs, results, regs, cgi, rss_by_size, cg):
    lines = []
    hdr = '%-10s %10s' % ('channels', 'registry')
    for v in opts.scale:
        hdr += ' %12s' % ('(%s) req/s' % v)
    hdr += ' %11s %11s %11s %11s %9s %13s %13s' % ('CGI ms', 'CGI ms', 'CGI ms', 'noop CGI',
                                                   'RSS MiB', 'Ir/req fcgi', 'Ir/req CGI')
    lines.append(hdr)
    lines.append('%-10s %10s' % ('', '') + ' %12s' % '' * len(opts.scale) +
                 ' %11s %11s %11s %11s %9s %13s %13s' % ('durable', 'SYNC=0', '1st request',
                                                         'floor', 'peak', 'handle()', 'process'))
    lines.append('-' * len(hdr))
    by = {c.key: c for c in cfgs}
    noop = cgi.get('noop') if cgi else None
    for s in opts.sizes:
        row = '%-10s %10s' % (fmt_size(s), '%.1f MiB' % (regs[s].bytes / 2 ** 20) if regs[s].bytes > 2 ** 20 else '%.0f KiB' % (regs[s].bytes / 1024))
        for v in opts.scale:
            c = by.get('%s-%dp-%d' % (v, opts.procs[0], s))
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


def callgrind_lines(opts, cg):
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
        main = cg.get('fcgi', {}).get(opts.main_size, {})
        lines.append('FastCGI loop per request, same fixtures: %s' % ', '.join(
            '%s %s Ir' % (label, fmt_int(e.get('steady_loop'))) for label, e in
            (('(a) no-op', ref.get('a', {})), ('(b) one write()', ref.get('b', {})),
             ('gpush', main)) if e.get('steady_loop')))
    for s, e in sorted(cg.get('cgi', {}).items()):
        lines.append('CGI,     %s channels: %s Ir per process (start-up to exit), %s Ir in '
                     'handle() (mean of %d)' % (fmt_size(s), fmt_int(e['total']),
                                                fmt_int(e['handle']), e['requests']))
    # the breakdown: gpush's own functions and the libraries' entry
    # points, by name prefix (CALLGRIND_PREFIXES), largest first
    for s, e in sorted(cg.get('fcgi', {}).items()):
        if not e.get('top'):
            continue
        h = (e.get('steady_handle') if e.get('steady_n') else e.get('cold_handle')) or 1
        parts = ['%s %s (%.0f%%)' % (fn, fmt_int(ir), ir / h * 100)
                 for ir, fn in e['top'] if fn != 'handle' and ir >= 0.02 * h and
                 fn.startswith(CALLGRIND_PREFIXES)]
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
        sc = syscalls_per_request(stracex, key)
        if sc is None:
            continue
        # every syscall at 0.01 a request or more: the count is the target
        lines.append('strace -c %-16s %6.2f syscalls/request over %s requests%s: %s' % (
            key, sc[0], fmt_int(v['requests']),
            ' (steady: less a cold process of %d)' % v['cold']['requests'] if v.get('cold') else '',
            ', '.join('%s %.2f' % (k, x) for k, x in sc[1] if abs(x) >= 0.01)))
    if massif and massif.get('peak'):
        pk = massif['peak']
        lines.append('massif, FastCGI, %s channels: heap peak %.1f MiB + %.1f MiB malloc overhead '
                     'for a %.1f MiB registry (%s)' % (
                         fmt_size(massif['size']), pk['heap_B'] / 2 ** 20, pk['extra_B'] / 2 ** 20,
                         massif['registry_B'] / 2 ** 20, os.path.relpath(massif['report'], REPO)))
    return lines


def chart(opts, cfgs, results, regs, cgi):
    """bench/out/bench.png: req/s by variant (each process count), and
    scaling by registry size (FastCGI req/s, CGI ms)."""
    gp = shutil.which('gnuplot')
    if not gp:
        return None
    data = os.path.join(opts.out, 'plot')
    os.makedirs(data, exist_ok=True)
    by = {c.key: c for c in cfgs}
    with open(os.path.join(data, 'variants.dat'), 'w') as f:
        f.write('# variant ' + ' '.join('%dp' % p for p in opts.procs) + '\n')
        for v, label, desc in VARIANTS:
            vals = []
            for i, p in enumerate(opts.procs):
                key = '%s-%dp-%d' % (v.replace("'", 's'), 0 if v == 'f' else p, opts.main_size)
                r = results.get(key) if (v != 'f' or i == 0) else None
                vals.append('%.1f' % r['rps'] if r else 'NaN')
            if all(x == 'NaN' for x in vals):
                continue
            f.write('"%s %s" %s\n' % (label, desc.replace('"', ''), ' '.join(vals)))
    with open(os.path.join(data, 'scaling.dat'), 'w') as f:
        f.write('# channels ' + ' '.join('%s_rps' % v for v in opts.scale) + ' cgi_ms_sync cgi_ms_nosync\n')
        for s in opts.sizes:
            vals = []
            for v in opts.scale:
                c = by.get('%s-%dp-%d' % (v, opts.procs[0], s))
                r = results.get(c.key) if c else None
                vals.append('%.2f' % r['rps'] if r else 'NaN')
            for k in ('%d-sync' % s, '%d-nosync' % s):
                x = cgi.get(k) if cgi else None
                vals.append('%.3f' % x['mean_ms'] if x and x.get('runs') else 'NaN')
            f.write('%d %s\n' % (s, ' '.join(vals)))
    png = os.path.join(opts.out, 'bench.png')
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    cols = ' , '.join('"variants.dat" using %d:xtic(1) title "%d FastCGI procs"' % (i + 2, p)
                      for i, p in enumerate(opts.procs))
    scal = []
    for i, v in enumerate(opts.scale):
        scal.append('"scaling.dat" using 1:%d with linespoints lw 2 pt 7 title "(%s) FastCGI req/s"'
                    % (i + 2, v))
    n = len(opts.scale)
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
        % (stamp, os.cpu_count() or 0, opts.threads, opts.conns, opts.rounds, opts.seconds),
        'set title "req/s by variant (%s channels)"' % fmt_size(opts.main_size),
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
        'set xrange [%g:%g]' % (opts.sizes[0] / 2.0, opts.sizes[-1] * 2.0),
        'plot ' + ', '.join(scal),
        'unset multiplot', ''])
    with open(os.path.join(data, 'bench.gp'), 'w') as f:
        f.write(script)
    p = subprocess.run([gp, 'bench.gp'], cwd=data, capture_output=True, text=True, timeout=120)
    if p.returncode != 0 or not os.path.exists(png):
        note('gnuplot: %s' % p.stderr.strip()[-300:])
        return None
    return png


def write(opts, build, cfgs, results, regs, cgi, cg, stracex, massif, unavailable, fatal):
    """Writes results.txt and results.json, prints the report (or opts.tap);
    returns the exit status."""
    fstype = build['fs']
    tap = []   # (ok, description, directive)
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
                   now, os.cpu_count() or 0, opts.threads, opts.conns, opts.rounds, opts.seconds,
                   'mod_fastcgi (e: mod_proxy to gunicorn)', fstype, ' (quick)' if opts.quick else ''))
    rep.append('handler: %s (sha256 %s, built %s; tree at %s%s)' % (
        os.path.relpath(opts.gpush, REPO) if opts.gpush.startswith(REPO + '/') else opts.gpush, build['id'],
        build['built'],
        build['head'], ', lib/ or cgi/ modified' if build['dirty'] else ''))
    if build.get('pg'):
        rep.append('(p), (q): %s; the handler as role postgres over TCP, one connection per '
                   'FastCGI process; (q): two lighttpd on this machine, HAProxy 2.6 round-robin '
                   'in front (keep-alive)' % build['pg'])
    rep.append('')
    rep += table(opts, cfgs, results)
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
    tg = targets(opts, cfgs, results, regs, cgi, rss_by_size, rss_detail, stracex)
    for met, text in tg:
        rep.append('  %-5s %s' % ('MET' if met else 'MISS' if met is False else '-', text))
    if opts.baseline:
        rep.append('')
        rep.append('before/after in this run: (c0), (d0) are BENCH_BASELINE=%s (sha256 %s)' %
                   (opts.baseline, build.get('baseline_id', '?')))
        rep += ['  ' + x for x in before_after(opts, cfgs, results)]
    dl = durable_lines(opts, cfgs, results)
    if dl:
        rep.append('')
        rep.append("durable: (c) against (b') at each process count")
        rep += ['  ' + x for x in dl]
    rep.append('')
    rep.append('scaling (%d procs; CGI: handler time, bench/c/cgiloop, one process per request, no '
               'web server)' % opts.procs[0])
    rep += ['  ' + x for x in scaling_lines(opts, cfgs, results, regs, cgi, rss_by_size, cg)]
    cl = callgrind_lines(opts, cg)
    if cl:
        rep.append('')
        rep.append('instructions per request (callgrind, fixed fixture set: %d Directory '
                   'notifications over %d channels spread across the registry, after one first '
                   'request; † = first request only)' %
                   (10 if opts.quick else FIXTURE_REQUESTS, FIXTURE_CHANNELS))
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
        with open(os.path.join(opts.logs, 'lighttpd.error.log'), errors='replace') as f:
            gw = [l for l in f if 'gw_backend' in l or 'fastcgi' in l.lower()]
        if gw:
            rep.append('  lighttpd reported %d backend problem(s) (a backend respawned or refused a '
                       'connection): see bench/out/logs/lighttpd.error.log' % len(gw))
    except OSError:
        pass
    png = chart(opts, cfgs, results, regs, cgi) if 'gnuplot' not in unavailable else None
    rep.append('')
    rel = os.path.relpath(opts.out, REPO) if opts.out.startswith(REPO + '/') else opts.out
    rep.append('files: %s/results.txt, %s/results.json%s, %s/profile/, %s/logs/' % (
        rel, rel, ', ' + (os.path.relpath(png, REPO) if png.startswith(REPO + '/') else png) if png else '',
        rel, rel))
    text = '\n'.join(rep) + '\n'
    with open(os.path.join(opts.out, 'results.txt'), 'w') as f:
        f.write(text)
    dump = {'when': now, 'quick': opts.quick, 'rounds': opts.rounds, 'seconds': opts.seconds, 'conns': opts.conns,
            'threads': opts.threads, 'procs': opts.procs, 'fs': fstype, 'sizes': opts.sizes, 'main_size': opts.main_size,
            'registry_bytes': {s: regs[s].bytes for s in opts.sizes},
            'configs': [{'key': c.key, 'variant': c.variant, 'procs': c.procs, 'size': c.size,
                         'skip': c.skip, 'error': c.error, 'summary': results.get(c.key),
                         'runs': [{k: v for k, v in r.items() if k != 'grid'} for r in c.runs],
                         'rss': c.rss, 'log_lines': c.lines,
                         'profile': {k: v for k, v in c.prof.items()}} for c in cfgs],
            'cgi': cgi, 'targets': [{'met': m, 'text': t} for m, t in tg],
            'callgrind': {kind: {str(s): {k: v for k, v in e.items()} for s, e in d.items()}
                          for kind, d in (cg or {}).items()},
            'strace': stracex, 'massif': massif}
    with open(os.path.join(opts.out, 'results.json'), 'w') as f:
        json.dump(dump, f, indent=1, default=str)

    if not opts.tap:
        sys.stdout.write(text)
        return 1 if fatal else 0

    # opts.tap: one test per variant that ran (ok when it produced numbers and
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
    for s in opts.sizes:
        x = cgi.get('%d-sync' % s) if cgi else None
        if x and x.get('runs'):
            tap.append((x['ok'], 'CGI handler time, %s channels: %.2f ms/request' % (fmt_size(s), x['mean_ms']), ''))
        else:
            tap.append((False, 'CGI handler time, %s channels: not measured' % fmt_size(s), ''))
    if not opts.callgrind:
        tap.append((True, 'callgrind instructions per request', 'SKIP BENCH_CALLGRIND=0'))
    elif 'valgrind' in unavailable:
        tap.append((True, 'callgrind instructions per request', 'SKIP valgrind unavailable'))
    else:
        for s in opts.sizes:
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

