"""The run's settings: one object, built from the environment once, by
main(), and passed to whatever needs it (nothing is read at import).

Environment (all optional):
  BENCH_QUICK=1       a few seconds per variant, fewer extras
  BENCH_ROUNDS, BENCH_SECONDS   rounds, and seconds per run in a round
  BENCH_PROCS="8 2"   FastCGI process counts (the first is the main one)
  BENCH_SIZES="10 1000 100000"  registry sizes; BENCH_MAIN_SIZE=1000
  BENCH_SCALE="d"     variants also run at every size (c, d)
  BENCH_CONNS=32 BENCH_THREADS=2   wrk connections and threads
  BENCH_WIDE=32       (b') and (c) once more at this many processes, with two
                      connections each (full form; 0: not): durable where
                      the CPU, not the journal commit, sets the pace
  BENCH_ONLY="a,b,c"  run only these variants (a b b' c d e f)
  BENCH_PROFILE=0|1   the profile pass (perf, strace, massif); full: 1
  BENCH_CALLGRIND=0|1 instructions per request; default 1
  BENCH_STRACE_N=10000  sequential FastCGI requests counted by strace -c
  BENCH_KEEP=1        keep the run's directory (data, configurations)
  GPUSH_FCGI          the handler to measure (default cgi/gpush.fcgi)
  BENCH_BASELINE      another build of the handler, measured as rows (c0), (d0)
                      in the same run (before/after a change)
  BENCH_OUT           output directory (default bench/out; check-bench: bench/out/check)
  BENCH_BIN           the reference responders (default bench/out/bin, built by make)
  GPUSH_STAGE_DIR     where the run's directory is made (tests/lib/stage.py; /var/tmp)
"""
import os
import sys
import time

from . import BENCH, REPO

PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def _int(env, name, default):
    v = env.get(name, '')
    try:
        return int(v) if v != '' else default
    except ValueError:
        return default


def _flag(env, name, default):
    v = env.get(name, '')
    return default if v == '' else v not in ('0', 'no', 'false')


def _words(env, name, default):
    return env.get(name, default).replace(',', ' ').split()


class Settings:
    """What one run measures and where its files go."""

    def __init__(self, env=None, argv=()):
        env = os.environ if env is None else env
        q = self.quick = _flag(env, 'BENCH_QUICK', False)
        self.tap = '--tap' in argv
        self.deps_only = '--deps' in argv
        self.out = os.path.abspath(env.get('BENCH_OUT') or os.path.join(BENCH, 'out'))
        self.logs = os.path.join(self.out, 'logs')   # wrk output, the servers' logs (copied)
        self.rounds = max(1, _int(env, 'BENCH_ROUNDS', 1 if q else 4))
        self.seconds = max(1, _int(env, 'BENCH_SECONDS', 2 if q else 3))
        self.procs = [int(x) for x in _words(env, 'BENCH_PROCS', '8' if q else '8 2')
                      if x.isdigit() and int(x) > 0] or [8]
        sizes = {int(x) for x in _words(env, 'BENCH_SIZES', '10 1000 100000')
                 if x.isdigit() and int(x) > 0} or {1000}
        self.main_size = _int(env, 'BENCH_MAIN_SIZE', 1000)
        self.sizes = sorted(sizes | {self.main_size})
        self.scale = [v for v in _words(env, 'BENCH_SCALE', 'd') if v in ('c', 'd')]
        self.conns = max(1, _int(env, 'BENCH_CONNS', 32))
        self.wide = max(0, _int(env, 'BENCH_WIDE', 0 if q else 32))
        if self.wide in self.procs:
            self.wide = 0
        self.threads = max(1, min(self.conns, _int(env, 'BENCH_THREADS', 2)))
        self.only = {v.strip() for v in _words(env, 'BENCH_ONLY', '') if v.strip()}
        self.profile = _flag(env, 'BENCH_PROFILE', not q)
        self.callgrind = _flag(env, 'BENCH_CALLGRIND', True)
        self.strace_n = max(1, _int(env, 'BENCH_STRACE_N', 10000))
        self.keep = _flag(env, 'BENCH_KEEP', False)
        self.gpush = os.path.abspath(env.get('GPUSH_FCGI') or os.path.join(REPO, 'cgi', 'gpush.fcgi'))
        self.baseline = os.path.abspath(env['BENCH_BASELINE']) if env.get('BENCH_BASELINE') else None
        self.bindir = os.path.abspath(env.get('BENCH_BIN') or os.path.join(BENCH, 'out', 'bin'))
        self.warmup_s = 1 if q else 2
        self.settle_max_s = 30          # after a run: wait for idle backends
        self.run_id = '%d-%d' % (os.getpid(), int(time.time()))
        self.is_root = os.geteuid() == 0
        # set by main(): the run's directory outside the clone
        # (tests/lib/stage.py) and the copy of the handler in it
        self.stage = None
        self.handler = self.gpush

    @property
    def run(self):
        """The run's directory (data, sockets, configurations)."""
        return self.stage.path
