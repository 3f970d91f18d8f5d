"""The progress line on stderr, notes, and number formats."""
import sys
import time


class Progress:
    """One progress line on stderr (rewritten in place on a terminal)."""
    tty = sys.stderr.isatty()
    last = 0
    t0 = time.time()      # main() sets it to the run's start

    @classmethod
    def show(cls, msg):
        line = '[bench %s] %s' % (fmt_elapsed(time.time() - cls.t0), msg)
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
