"""The variants and the rows of the table (a variant at a process count
and a registry size)."""
from .output import fmt_size

# The variants, in table order: key, label, description.
VARIANTS = [
    ('a', '(a)', 'libfcgi no-op, 204'),
    ('b', '(b)', 'one write(), no checks'),
    ("b'", "(b')", 'one write() + fdatasync'),
    ('c', '(c)', 'gpush, durable'),
    ('d', '(d)', 'gpush, GPUSH_SYNC=0'),
    # BENCH_BASELINE=/path/gpush.fcgi: another build (the one before a
    # change) as (c) and (d), side by side in the same run
    ('c0', '(c0)', 'baseline build, durable'),
    ('d0', '(d0)', 'baseline build, GPUSH_SYNC=0'),
    ('e', '(e)', 'Flask+googleapiclient, gunicorn'),
    ('f', '(f)', 'gpush CGI, Apache mod_cgi'),
    ('g', '(g)', 'PHP script, php-fpm, LOCK_EX append'),
    ("g'", "(g')", 'PHP script + fdatasync, php-fpm'),
    # issue 14: the PostgreSQL store (full bench only; BENCH_ONLY=p,q runs
    # them in the quick form too)
    ('p', '(p)', 'gpush, PostgreSQL store'),
    ('q', '(q)', 'gpush, PostgreSQL, 2 hosts+HAProxy'),
]
VLABEL = {k: l for k, l, _ in VARIANTS}
VDESC = {k: d for k, _, d in VARIANTS}


class Row:
    """One row: a variant at a process count and a registry size."""

    def __init__(self, opts, variant, procs, size):
        self.variant = variant
        self.procs = procs
        self.size = size
        self.key = '%s-%dp-%d' % (variant.replace("'", 's'), procs or 0, size)
        # pgmulti: two lighttpd hosts behind HAProxy (servers.py)
        self.kind = {'e': 'proxy', 'f': 'apache', 'g': 'fpm', "g'": 'fpm',
                     'q': 'pgmulti'}.get(variant, 'fcgi')
        # php-fpm runs the file lighttpd names in SCRIPT_FILENAME, and only
        # a .php one (security.limit_extensions)
        self.path = '/%s/%s' % (self.key, 'notify.php' if self.kind == 'fpm' else 'notifications')
        self.port = None
        self.datadir = None
        self.runs = []            # one dict per measured run
        self.warm = None
        self.skip = None          # why it did not run
        self.error = None         # why it failed
        self.rss = None
        self.lines = None
        self.prof = {}
        self.slow = False         # over a second a request: round 1 only
        # The quick form runs the scaling rows with one connection per
        # process, so that a slow handler leaves little queued work.
        self.conns = procs if (opts.quick and size != opts.main_size and procs) else opts.conns

    @property
    def label(self):
        return VLABEL[self.variant]

    def describe(self):
        return '%s %s' % (self.label, VDESC[self.variant])

    def short(self):
        p = '%dp' % self.procs if self.procs else 'cgi'
        return '%s %s %s ch' % (self.label, p, fmt_size(self.size))


def build_rows(opts, unavailable):
    """The table's rows, in order; each marked skipped when it cannot run."""
    main = opts.procs[0]
    cfgs = []
    for procs in opts.procs:
        for v in ('a', 'b', "b'", 'c', 'd', 'e'):
            cfgs.append(Row(opts, v, procs, opts.main_size))
        if opts.baseline and procs == main:
            for v in ('c0', 'd0'):
                cfgs.append(Row(opts, v, procs, opts.main_size))
        if procs == main:
            # the PHP peer: php-fpm with 8 static children, as the issue
            # measured it, at the main process count only
            for v in ('g', "g'"):
                cfgs.append(Row(opts, v, procs, opts.main_size))
            cfgs.append(Row(opts, 'f', 0, opts.main_size))
            for v in ('p', 'q'):
                cfgs.append(Row(opts, v, procs, opts.main_size))
            for v in opts.scale:
                for size in opts.sizes:
                    if size != opts.main_size:
                        cfgs.append(Row(opts, v, procs, size))
    if opts.wide:
        # durable at many processes: the two rows of the (c)/(b') ratio,
        # two connections a process so that none waits for work
        for v in ("b'", 'c'):
            r = Row(opts, v, opts.wide, opts.main_size)
            r.conns = 2 * opts.wide
            cfgs.append(r)
    for c in cfgs:
        if opts.only and c.variant not in opts.only:
            c.skip = 'not in BENCH_ONLY'
        elif 'wrk' in unavailable:
            c.skip = 'wrk unavailable'
        elif c.kind in ('fcgi', 'proxy') and 'lighttpd' in unavailable:
            c.skip = 'lighttpd unavailable'
        elif c.kind == 'proxy' and 'flask' in unavailable:
            c.skip = 'python3-flask, gunicorn or python3-googleapi unavailable'
        elif c.kind == 'apache' and 'apache' in unavailable:
            c.skip = 'apache2 unavailable'
        elif c.variant in ('p', 'q') and opts.quick and c.variant not in opts.only:
            c.skip = 'full bench only (BENCH_ONLY=p,q for the quick form)'
        elif c.variant in ('p', 'q') and 'postgresql' in unavailable:
            c.skip = 'postgresql unavailable'
        elif c.kind == 'pgmulti' and 'haproxy' in unavailable:
            c.skip = 'haproxy unavailable'
        elif c.kind == 'fpm' and 'php' in unavailable:
            c.skip = 'php-fpm unavailable' + (' (installed by make bench, not by the quick form)'
                                              if opts.quick else '')
    return cfgs
