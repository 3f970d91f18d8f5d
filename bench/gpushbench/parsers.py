"""Parsers for the profilers bench.py runs: callgrind dumps (uncompressed
names and positions), perf trace -s summaries, perf stat CSV, strace -c,
/proc CPU and memory counters."""
import os
import re


# ---- callgrind ------------------------------------------------------------

class Callgrind:
    """One callgrind dump written with --compress-strings=no
    --compress-pos=no: total Ir, self Ir per function, and inclusive Ir
    per function (self + the inclusive cost of every call it makes; exact
    for functions that are not recursive)."""

    def __init__(self, path):
        self.path = path
        self.total = 0
        self.self_ir = {}
        self.calls_out = {}
        self.ncalls = {}
        fn = None
        cfn = None
        in_call = False
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                if not line or line[0] == '\n':
                    continue
                c = line[0]
                if c.isdigit() or c in '+-*':
                    parts = line.split()
                    ir = int(parts[1]) if len(parts) > 1 else 0
                    if in_call:
                        key = (fn, cfn)
                        self.calls_out[key] = self.calls_out.get(key, 0) + ir
                        in_call = False
                    elif fn is not None:
                        self.self_ir[fn] = self.self_ir.get(fn, 0) + ir
                    continue
                if line.startswith('fn='):
                    fn = line[3:].strip()
                    in_call = False
                elif line.startswith('cfn='):
                    cfn = line[4:].strip()
                elif line.startswith('calls='):
                    in_call = True
                    try:
                        n = int(line[6:].split()[0])
                    except (ValueError, IndexError):
                        n = 0
                    self.ncalls[cfn] = self.ncalls.get(cfn, 0) + n
                elif line.startswith('summary:') or line.startswith('totals:'):
                    try:
                        self.total = max(self.total, int(line.split(':', 1)[1].split()[0]))
                    except (ValueError, IndexError):
                        pass

    def inclusive(self, name):
        """Inclusive Ir of every function called name (any object)."""
        tot = 0
        for fn, ir in self.self_ir.items():
            if _base(fn) == name:
                tot += ir
        for (fn, _), ir in self.calls_out.items():
            if _base(fn) == name:
                tot += ir
        return tot

    def called(self, name):
        """Inclusive Ir of the calls to name, seen from its callers."""
        tot = 0
        for (fn, cfn), ir in self.calls_out.items():
            if _base(cfn) == name and _base(fn) != name:
                tot += ir
        return tot

    def all_inclusive(self):
        out = {}
        for fn, ir in self.self_ir.items():
            out[_base(fn)] = out.get(_base(fn), 0) + ir
        for (fn, cfn), ir in self.calls_out.items():
            if _base(fn) != _base(cfn):
                out[_base(fn)] = out.get(_base(fn), 0) + ir
        return out

    def all_self(self):
        out = {}
        for fn, ir in self.self_ir.items():
            out[_base(fn)] = out.get(_base(fn), 0) + ir
        return out


def _base(fn):
    """'jvalue'2' (callgrind's recursion suffix) -> 'jvalue'."""
    return fn.split("'", 1)[0]


def callgrind_dumps(prefix):
    """The dump files prefix.1, prefix.2, ... in order."""
    d, b = os.path.split(prefix)
    found = []
    for name in os.listdir(d or '.'):
        m = re.match(re.escape(b) + r'\.(\d+)$', name)
        if m:
            found.append((int(m.group(1)), os.path.join(d, name)))
    return [p for _, p in sorted(found)]


# ---- perf trace -s ----------------------------------------------------------

def perf_trace_summary(path):
    """Sums perf trace -s per-thread tables: {syscall: [calls, errors,
    total_ms]} over every thread."""
    out = {}
    row = re.compile(r'^\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+')
    try:
        with open(path, errors='replace') as f:
            for line in f:
                m = row.match(line)
                if m:
                    s = out.setdefault(m.group(1), [0, 0, 0.0])
                    s[0] += int(m.group(2))
                    s[1] += int(m.group(3))
                    s[2] += float(m.group(4))
    except OSError:
        pass
    return out


# ---- strace -c --------------------------------------------------------------

def strace_summary(path):
    """{syscall: [calls, errors, seconds]} from strace -c -f output."""
    out = {}
    row = re.compile(r'^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)?\s*([a-z_0-9]+)\s*$')
    try:
        with open(path, errors='replace') as f:
            for line in f:
                m = row.match(line)
                if m and m.group(6) != 'total':
                    out[m.group(6)] = [int(m.group(4)), int(m.group(5) or 0),
                                       float(m.group(2))]
    except OSError:
        pass
    return out


# ---- /proc ------------------------------------------------------------------

CLK = os.sysconf('SC_CLK_TCK')


def proc_times(pid):
    """(utime+stime, cutime+cstime, utime, stime, cutime, cstime) of pid
    in seconds; None if gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
    except OSError:
        return None
    parts = s[s.rindex(')') + 2:].split()
    u, st, cu, cs = (int(x) / CLK for x in parts[11:15])
    return (u + st, cu + cs, u, st, cu, cs)


def proc_ppid(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return int(s[s.rindex(')') + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def proc_environ(pid):
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return []


def proc_status(pid):
    """{key: kB} of the memory lines in /proc/pid/status."""
    out = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                k, _, v = line.partition(':')
                v = v.split()
                if len(v) == 2 and v[1] == 'kB':
                    out[k] = int(v[0])
    except OSError:
        pass
    return out


def cpu_busy():
    """Busy seconds of all CPUs since boot (user+nice+system+irq+softirq+steal)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK


def all_pids():
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            out.append(int(name))
    return out
