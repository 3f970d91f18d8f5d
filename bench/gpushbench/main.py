"""make bench, in order: packages, the run's stage and registries, the
servers and the interleaved rounds, the profile pass, CGI handler time,
callgrind, strace and massif, then the report."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import stage

from . import REPO, report
from .config import Settings
from .data import Registry, copy_logs, count_lines, fs_type
from .measure import cgi_phase, measure, summarize
from .output import Progress, fmt_size, note
from .packages import ensure, missing_of
from .procs import CLEANUPS, Interrupted, cleanup_all, kill_ours, on_signal
from .profiles import callgrind_phase, massif_phase, profile_pass, strace_phase
from .servers import Servers
from .variants import build_rows


def main(argv):
    """make bench: returns the exit status."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    opts = Settings(os.environ, argv)
    Progress.t0 = time.time()
    os.makedirs(opts.out, exist_ok=True)
    if opts.deps_only:
        ensure(opts, ['build', 'wrk', 'lighttpd', 'apache', 'flask', 'gnuplot', 'valgrind'] +
               ([] if opts.quick else ['perf', 'strace', 'php', 'postgresql', 'haproxy']))
        return 0
    parts = ['wrk', 'lighttpd', 'apache', 'flask', 'gnuplot', 'valgrind'] + \
        ([] if opts.quick and not {'p', 'q'} & opts.only else ['postgresql', 'haproxy']) + \
        ([] if opts.quick else ['perf', 'strace', 'php'])
    unavailable = ensure(opts, parts)
    if opts.quick and missing_of(['php']):
        # the quick form (make check) runs the PHP rows only when php-fpm
        # is there already: installing it is the full form's part
        unavailable.add('php')
    for name in ('noop.fcgi', 'append.fcgi', 'cgiloop'):
        if not os.access(os.path.join(opts.bindir, name), os.X_OK):
            print('bench: %s is missing: run it through make (make bench)' %
                  os.path.join(opts.bindir, name), file=sys.stderr)
            return 2
    if not os.access(opts.gpush, os.X_OK):
        print('bench: no handler at %s (run make)' % opts.gpush, file=sys.stderr)
        return 2
    if opts.baseline and not os.access(opts.baseline, os.X_OK):
        print('bench: BENCH_BASELINE=%s is not an executable handler' % opts.baseline,
              file=sys.stderr)
        return 2
    shutil.rmtree(opts.logs, ignore_errors=True)
    os.makedirs(opts.logs, exist_ok=True)
    # The run's directory: outside the clone, reachable by the user the
    # servers run as, on disk (tests/lib/stage.py).
    try:
        opts.stage = stage.Stage('gpush-bench', stage.run_user())
    except (stage.StageError, OSError) as e:
        print('bench: %s' % e, file=sys.stderr)
        return 2
    run = opts.run
    # Every phase measures the same build, even if the tree is rebuilt
    # meanwhile: a copy of the handler taken now.
    opts.handler = opts.stage.copy(opts.gpush, 'bin', 'gpush.fcgi')
    with open(opts.handler, 'rb') as f:
        handler_id = hashlib.sha256(f.read()).hexdigest()[:12]
    handler_built = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(opts.gpush)))
    try:
        head = subprocess.run(['git', '-C', REPO, 'log', '-1', '--format=%h %s'], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain', '--', 'lib', 'cgi'],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head, dirty = '?', ''
    if opts.keep:
        CLEANUPS.append(lambda: note('kept %s' % run))
    else:
        CLEANUPS.append(opts.stage.remove)
    CLEANUPS.append(lambda: copy_logs(os.path.join(run, 'logs'), opts.logs))
    pdir = os.path.join(opts.out, 'profile')
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir, exist_ok=True)
    fstype = fs_type(run)
    if fstype.split()[0] in ('tmpfs', 'ramfs'):
        note('WARNING: %s is on %s: fdatasync costs nothing there' % (run, fstype))
    Progress.show('writing registries: %s channels' % ', '.join(fmt_size(s) for s in opts.sizes))
    regs = {s: Registry(s, run) for s in opts.sizes}
    cfgs = build_rows(opts, unavailable)
    servers = Servers(opts, cfgs, regs)
    CLEANUPS.append(lambda: kill_ours(opts.run_id))
    # the stage's directories (sockets among them), also for the phases
    # that run without any row (BENCH_ONLY naming none: callgrind, strace)
    servers.prepare()
    results, cgi, cg, stracex, massif = {}, {}, None, {}, None
    fatal = None
    try:
        try:
            if any(c.skip is None for c in cfgs):
                servers.start()
                measure(servers, cfgs, regs)
                if opts.profile:
                    profile_pass(servers, cfgs, regs, unavailable, pdir)
        except RuntimeError as e:
            fatal = str(e)
            note(fatal)
        finally:
            servers.stop(keep_db=True)
        for c in cfgs:
            if c.skip is None and c.error is None and fatal is None:
                s = summarize(c)
                if s is None:
                    c.error = '; '.join(sorted({r.get('why', '?') for r in c.runs})) or 'no run'
                else:
                    results[c.key] = s
            elif fatal and c.skip is None and c.error is None:
                c.error = fatal
            if c.variant in ('p', 'q'):
                c.lines = servers.db_rows(c)
            elif c.datadir and c.variant != 'a':
                c.lines = count_lines(os.path.join(c.datadir, 'notifications.ndjson'))
        cgi = cgi_phase(opts, regs)
        if opts.callgrind and 'valgrind' not in unavailable:
            cg = callgrind_phase(opts, regs, pdir)
        if opts.profile:
            stracex = strace_phase(opts, regs, pdir, unavailable)
            massif = massif_phase(opts, regs, pdir, unavailable)
    finally:
        Progress.done()
        cleanup_all()

    servers.stop_db()
    baseline_id = None
    if opts.baseline:
        with open(opts.baseline, 'rb') as f:
            baseline_id = hashlib.sha256(f.read()).hexdigest()[:12]
    build = {'id': handler_id, 'built': handler_built, 'head': head, 'dirty': dirty,
             'baseline_id': baseline_id,
             'fs': fstype, 'pg': servers.pg_settings}
    return report.write(opts, build, cfgs, results, regs, cgi, cg, stracex, massif,
                        unavailable, fatal)


def entry(argv):
    """bench/bench.py's main: main(), and a clean stop on a signal."""
    try:
        return main(argv)
    except Interrupted as e:
        Progress.done()
        cleanup_all()
        print('bench: interrupted (%s); servers stopped' % e, file=sys.stderr)
        return 130
