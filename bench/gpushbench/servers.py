"""The servers every variant runs behind, all on 127.0.0.1, started from
the run's stage (outside the clone) as the user tests/lib/stage.py names."""
import os
import subprocess
import time

import stage

from . import BENCH, REPO, parsers
from .parsers import proc_environ, proc_ppid
from .procs import CLEANUPS, free_port, kill_ours, stop_proc, wait_port


FPM = '/usr/sbin/php-fpm8.2'   # Debian 12's php8.2-fpm (packages.py)


def proc_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().rstrip(b'\0 ')
    except OSError:
        return b''


class Servers:
    """lighttpd (every FastCGI variant, proxy to gunicorn), gunicorn per
    process count, Apache prefork + mod_cgi; all on 127.0.0.1."""

    def __init__(self, opts, cfgs, regs):
        self.opts = opts
        self.cfgs = [c for c in cfgs if c.skip is None]
        self.regs = regs
        self.run = opts.run
        u = stage.run_user()      # www-data under root: tests/lib/stage.py
        self.uid, self.gid, self.user = u.uid, u.gid, u.name
        self.lighttpd = None
        self.gunicorn = {}
        self.apache = None
        self.fpm = None
        self.lport = None
        self.aport = None
        self.prepared = False
        # the PostgreSQL rows (g, h): tests/lib/pg.py's server, a database
        # per row, host 2's lighttpd and HAProxy (q)
        self.pg = None
        self.pg_settings = None
        self.dbs = {}
        self.lighttpd2 = None
        self.haproxy = None

    def env(self, extra=None):
        e = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
             'BENCH_RUN': self.opts.run_id}
        e.update(extra or {})
        return e

    def prepare(self):
        # Everything the servers read or write is in the stage, outside
        # the clone (which may sit below a directory they cannot enter);
        # their logs are copied to LOGS at the end.
        self.prepared = True
        st, run = self.opts.stage, self.run
        for d in ('htdocs', 'data'):
            st.mkdir(d)
        for d in ('sock', 'apache', 'logs'):
            st.mkdir(d, owned=True)
        for name in ('noop.fcgi', 'append.fcgi'):
            st.copy(os.path.join(self.opts.bindir, name), 'bin')
        if self.opts.baseline:
            st.copy(self.opts.baseline, 'bin', 'baseline.fcgi')
        st.copy(os.path.join(BENCH, 'flask', 'app.py'), 'flask')
        for c in self.cfgs:
            if c.kind == 'fpm':
                st.mkdir(os.path.join('htdocs', c.key))
                st.copy(os.path.join(BENCH, 'php', 'notify.php'), os.path.join('htdocs', c.key))
        for c in self.cfgs:
            c.datadir = os.path.join(run, 'data', c.key)
            self.regs[c.size].install(c.datadir, self.uid, self.gid)

    def start(self):
        if not self.prepared:
            self.prepare()
        if any(c.variant in ('p', 'q') for c in self.cfgs):
            self.start_pg()
        if any(c.kind == 'proxy' for c in self.cfgs):
            self.start_gunicorn()
        if any(c.kind == 'fpm' for c in self.cfgs):
            self.start_fpm()
        if any(c.kind in ('fcgi', 'proxy', 'fpm', 'pgmulti') for c in self.cfgs):
            self.start_lighttpd()
        if any(c.kind == 'pgmulti' for c in self.cfgs):
            self.start_host2()
        if any(c.kind == 'apache' for c in self.cfgs):
            self.start_apache()

    # lighttpd
    def start_lighttpd(self):
        run = self.run
        self.lport = free_port()
        fc, px = [], []
        for c in self.cfgs:
            if c.kind in ('fcgi', 'pgmulti'):
                fc.append(self.fcgi_block(c, c.key + '.sock'))
            elif c.kind == 'fpm':
                # php-fpm's own pool behind the socket; lighttpd only
                # connects (no bin-path)
                fc.append('  "/%s/" => (( "socket" => "%s", "check-local" => "disable" ))'
                          % (c.key, os.path.join(run, 'sock', c.key + '.sock')))
            elif c.kind == 'proxy':
                px.append('  "/%s/" => (( "host" => "127.0.0.1", "port" => %d ))'
                          % (c.key, self.gunicorn[c.key][1]))
            c.port = self.lport if c.kind in ('fcgi', 'proxy', 'fpm', 'pgmulti') else c.port
        conf = os.path.join(run, 'lighttpd.conf')
        with open(conf, 'w') as f:
            self.lighttpd_head(f, '', '"mod_fastcgi", "mod_proxy"', self.lport, 'lighttpd')
            f.write('server.max-keep-alive-idle = 60\nserver.max-read-idle = 60\n'
                    'server.max-write-idle = 120\n')
            if fc:
                f.write('fastcgi.server = (\n%s\n)\n' % ',\n'.join(fc))
            if px:
                f.write('proxy.server = (\n%s\n)\n' % ',\n'.join(px))
        self.lighttpd = self.run_lighttpd(conf, self.lport, 'lighttpd.out')

    def lighttpd_head(self, f, title, modules, port, name):
        """The lines every lighttpd of the bench starts with (host 1, and
        host 2 of (q)): its modules, port, pid file and error log NAME.pid
        and NAME.error.log, the user, and the connection limits."""
        run = self.run
        f.write('# written by bench/gpushbench/servers.py%s\n' % title)
        f.write('server.modules = ( %s )\n' % modules)
        f.write('server.document-root = "%s"\n' % os.path.join(run, 'htdocs'))
        f.write('server.bind = "127.0.0.1"\nserver.port = %d\n' % port)
        f.write('server.pid-file = "%s"\n' % os.path.join(run, 'logs', name + '.pid'))
        f.write('server.errorlog = "%s"\n' % os.path.join(run, 'logs', name + '.error.log'))
        if self.opts.is_root:
            f.write('server.username = "%s"\nserver.groupname = "%s"\n' % (self.user, self.user))
        f.write('server.max-connections = 2048\nserver.max-fds = 8192\n'
                'server.max-keep-alive-requests = 65535\n')

    def fcgi_block(self, c, sock):
        """lighttpd's fastcgi.server entry of FastCGI row c on socket sock."""
        bins = {'a': 'noop.fcgi', 'b': 'append.fcgi', "b'": 'append.fcgi',
                'c': 'gpush.fcgi', 'd': 'gpush.fcgi', 'p': 'gpush.fcgi', 'q': 'gpush.fcgi',
                'c0': 'baseline.fcgi', 'd0': 'baseline.fcgi'}
        env = {'BENCH_RUN': self.opts.run_id, 'BENCH_CONFIG': c.key}
        if c.variant in ('b', "b'"):
            env['BENCH_LOG'] = os.path.join(c.datadir, 'notifications.ndjson')
            env['BENCH_SYNC'] = '1' if c.variant == "b'" else '0'
        elif c.variant in ('p', 'q'):
            env['GPUSH_DATABASE'] = self.dbs[c.key]
        else:
            env['GPUSH_DIR'] = c.datadir
            if c.variant in ('d', 'd0'):
                env['GPUSH_SYNC'] = '0'
        envs = ', '.join('"%s" => "%s"' % kv for kv in sorted(env.items()))
        # min-procs = max-procs and a long idle-timeout: lighttpd
        # otherwise kills the processes above min-procs (default
        # 4) after 60 s idle and respawns them on demand, and a
        # respawned gpush loads its registry inside a measured run.
        return ('  "/%s/" => (( "bin-path" => "%s", "socket" => "%s",\n'
                '     "max-procs" => %d, "min-procs" => %d, "idle-timeout" => 86400,\n'
                '     "check-local" => "disable",\n'
                '     "bin-environment" => ( %s ),\n'
                '     "bin-copy-environment" => ( "PATH", "LANG" ) ))'
                % (c.key, os.path.join(self.run, 'bin', bins[c.variant]),
                   os.path.join(self.run, 'sock', sock), c.procs, c.procs, envs))

    def run_lighttpd(self, conf, port, outname):
        t = subprocess.run(['lighttpd', '-tt', '-f', conf], capture_output=True, text=True,
                           timeout=30)
        if t.returncode != 0:
            raise RuntimeError('lighttpd rejects %s: %s' % (conf, t.stderr.strip()))
        out = open(os.path.join(self.opts.logs, outname), 'w')
        p = subprocess.Popen(['lighttpd', '-D', '-f', conf], stdout=out,
                             stderr=out, env=self.env(), start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(p, 15))
        if not wait_port(port, 30):
            raise RuntimeError('lighttpd did not listen on %d' % port)
        return p

    # PostgreSQL (g, h): one server, a database per row, the registry
    # imported by the tool (gpush import)
    def start_pg(self):
        import pg as pgserver          # tests/lib/pg.py
        settings = {'max_connections': '200'}
        self.pg = pgserver.Server(settings=settings)
        CLEANUPS.append(self.pg.stop)
        tool = os.path.join(REPO, 'tool', 'gpush')
        show = ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method',
                'commit_delay', 'max_connections', 'wal_level', 'full_page_writes')
        vals = self.pg.psql('SELECT ' + ", ".join("current_setting('%s')" % k for k in show) +
                            ', version()').strip().split('|')
        self.pg_settings = 'PostgreSQL %s: %s; on %s' % (
            vals[-1].split(' on ')[0].replace('PostgreSQL ', ''),
            ', '.join('%s=%s' % kv for kv in zip(show, vals)),
            '127.0.0.1 TCP, the same machine')
        for c in self.cfgs:
            if c.variant not in ('p', 'q'):
                continue
            db = 'bench_' + c.variant
            self.pg.psql('CREATE DATABASE %s' % db)
            conn = self.pg.conninfo(dbname=db)
            for argv in ([tool, '--database', conn, 'db', 'init'],
                         [tool, '-d', c.datadir, '--database', conn, 'import']):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
                if r.returncode != 0:
                    raise RuntimeError('%s: %s' % (' '.join(argv[3:]), r.stderr.strip()))
            self.dbs[c.key] = conn

    def db_rows(self, c):
        if self.pg is None or c.key not in self.dbs:
            return None
        try:
            return int(self.pg.psql('SELECT count(*) FROM gpush.notifications',
                                    dbname='bench_' + c.variant))
        except (RuntimeError, ValueError):
            return None

    def db_pids(self, c):
        """The PostgreSQL processes (postmaster, backends, walwriter...)
        while a (p) or (q) row runs; [] otherwise."""
        if self.pg is None or c.variant not in ('p', 'q'):
            return []
        try:
            top = int(open(os.path.join(self.pg.data, 'postmaster.pid')).readline())
        except (OSError, ValueError):
            return []
        return [top] + [p for p in parsers.all_pids() if proc_ppid(p) == top]

    def stop_db(self):
        if self.pg is not None:
            self.pg.stop()

    # (q): host 2 (a second lighttpd with the same FastCGI row) and HAProxy
    # round-robin over both hosts
    def start_host2(self):
        run = self.run
        self.lport2 = free_port()
        blocks = [self.fcgi_block(c, c.key + '-host2.sock') for c in self.cfgs
                  if c.kind == 'pgmulti']
        conf = os.path.join(run, 'lighttpd-host2.conf')
        with open(conf, 'w') as f:
            self.lighttpd_head(f, ': host 2 of (q)', '"mod_fastcgi"', self.lport2, 'lighttpd2')
            f.write('fastcgi.server = (\n%s\n)\n' % ',\n'.join(blocks))
        self.lighttpd2 = self.run_lighttpd(conf, self.lport2, 'lighttpd2.out')
        hport = free_port()
        hconf = os.path.join(run, 'haproxy.cfg')
        with open(hconf, 'w') as f:
            f.write('# written by bench/gpushbench/servers.py: (q)\n'
                    'global\n\tmaxconn 4096\n'
                    'defaults\n\tmode http\n\ttimeout connect 2s\n\ttimeout client 60s\n'
                    '\ttimeout server 60s\n\toption http-keep-alive\n'
                    'frontend gpush\n\tbind 127.0.0.1:%d\n\tdefault_backend hosts\n'
                    'backend hosts\n\tbalance roundrobin\n'
                    '\tserver h1 127.0.0.1:%d\n\tserver h2 127.0.0.1:%d\n'
                    % (hport, self.lport, self.lport2))
        out = open(os.path.join(self.opts.logs, 'haproxy.out'), 'w')
        self.haproxy = subprocess.Popen(['haproxy', '-db', '-f', hconf], stdout=out, stderr=out,
                                        start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(self.haproxy, 15))
        if not wait_port(hport, 30):
            raise RuntimeError('haproxy did not listen on %d' % hport)
        for c in self.cfgs:
            if c.kind == 'pgmulti':
                c.port = hport

    # php-fpm
    def start_fpm(self):
        """One php-fpm master, a pool per PHP row: pm static with the
        row's process count (8), opcache on, the pool's environment
        cleared but for BENCH_DATA and BENCH_PHP_SYNC."""
        run = self.run
        conf = os.path.join(run, 'php-fpm.conf')
        lines = ['; written by bench/gpushbench/servers.py', '[global]',
                 'pid = %s' % os.path.join(run, 'logs', 'php-fpm.pid'),
                 'error_log = %s' % os.path.join(run, 'logs', 'php-fpm.log'),
                 'daemonize = no']
        for c in self.cfgs:
            if c.kind != 'fpm':
                continue
            lines += ['[%s]' % c.key,
                      'listen = %s' % os.path.join(run, 'sock', c.key + '.sock'),
                      'listen.mode = 0666', 'listen.backlog = 2048',
                      'pm = static', 'pm.max_children = %d' % c.procs,
                      'pm.max_requests = 0', 'clear_env = yes',
                      'env[BENCH_DATA] = %s' % c.datadir,
                      'env[BENCH_PHP_SYNC] = %s' % ('1' if c.variant == "g'" else '0'),
                      'env[BENCH_CONFIG] = %s' % c.key,
                      'php_admin_value[opcache.enable] = 1',
                      'php_admin_value[memory_limit] = 128M',
                      'catch_workers_output = yes']
            if self.opts.is_root:
                lines += ['user = %s' % self.user, 'group = %s' % self.user]
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        t = subprocess.run([FPM, '-t', '-y', conf], capture_output=True, text=True, timeout=30)
        if t.returncode != 0:
            raise RuntimeError('php-fpm rejects %s: %s' % (conf, (t.stderr + t.stdout).strip()))
        out = open(os.path.join(self.opts.logs, 'php-fpm.out'), 'w')
        self.fpm = subprocess.Popen([FPM, '-F', '-y', conf], stdout=out, stderr=out,
                                    env=self.env({'BENCH_CONFIG': 'php-fpm'}),
                                    start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(self.fpm, 15))
        deadline = time.time() + 30
        socks = [os.path.join(run, 'sock', c.key + '.sock') for c in self.cfgs if c.kind == 'fpm']
        while not all(os.path.exists(s) for s in socks):
            if time.time() > deadline or self.fpm.poll() is not None:
                raise RuntimeError('php-fpm did not listen (%s)' % os.path.join(run, 'logs',
                                                                               'php-fpm.log'))
            time.sleep(0.1)

    # gunicorn
    def start_gunicorn(self):
        for c in self.cfgs:
            if c.kind != 'proxy':
                continue
            port = free_port()
            argv = ['/usr/bin/gunicorn', '--workers', str(c.procs), '--worker-class', 'sync',
                    '--bind', '127.0.0.1:%d' % port, '--backlog', '2048',
                    '--chdir', os.path.join(self.run, 'flask'), '--log-level', 'warning',
                    '--error-logfile', os.path.join(self.run, 'logs', 'gunicorn-%s.log' % c.key),
                    '--pid', os.path.join(self.run, 'logs', 'gunicorn-%s.pid' % c.key)]
            if self.opts.is_root:
                argv += ['--user', self.user, '--group', self.user]
            argv.append('app:app')
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(self.opts.logs, 'gunicorn-%s.out' % c.key), 'w'),
                                 env=self.env({'BENCH_DATA': c.datadir, 'BENCH_CONFIG': c.key}),
                                 start_new_session=True, cwd=os.path.join(self.run, 'flask'))
            self.gunicorn[c.key] = (p, port)
            CLEANUPS.append(lambda p=p: stop_proc(p, 15))
        for key, (p, port) in self.gunicorn.items():
            if not wait_port(port, 60):
                raise RuntimeError('gunicorn (%s) did not listen on %d' % (key, port))

    # Apache
    def start_apache(self):
        run = self.run
        root = os.path.join(run, 'apache')
        mods = '/usr/lib/apache2/modules'
        self.aport = free_port()
        c = [x for x in self.cfgs if x.kind == 'apache'][0]
        c.port = self.aport
        n = max(self.opts.conns + 8, 40)
        conf = os.path.join(root, 'httpd.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join([
                '# written by bench/gpushbench/servers.py: prefork + mod_cgi, one process per request',
                'ServerRoot "%s"' % root, 'ServerName 127.0.0.1',
                'Listen 127.0.0.1:%d' % self.aport,
                'PidFile "%s/httpd.pid"' % root, 'DefaultRuntimeDir "%s"' % root,
                'Mutex file:%s default' % root,
                'ErrorLog "%s"' % os.path.join(run, 'logs', 'apache.error.log'),
                'LogLevel warn',
                'LoadModule mpm_prefork_module %s/mod_mpm_prefork.so' % mods,
                'LoadModule authz_core_module %s/mod_authz_core.so' % mods,
                'LoadModule alias_module %s/mod_alias.so' % mods,
                'LoadModule env_module %s/mod_env.so' % mods,
                'LoadModule cgi_module %s/mod_cgi.so' % mods,
                ('User %s\nGroup %s' % (self.user, self.user)) if self.opts.is_root else '',
                'StartServers %d' % n, 'MinSpareServers %d' % n,
                'MaxSpareServers %d' % (2 * n), 'ServerLimit %d' % (2 * n),
                'MaxRequestWorkers %d' % (2 * n), 'MaxConnectionsPerChild 0',
                'KeepAlive On', 'MaxKeepAliveRequests 0', 'KeepAliveTimeout 60',
                'Timeout 60',
                'DocumentRoot "%s"' % os.path.join(run, 'htdocs'),
                '<Directory />', '  Require all denied', '</Directory>',
                'ScriptAlias %s "%s"' % (c.path, os.path.join(run, 'bin', 'gpush.fcgi')),
                '<Location %s>' % c.path, '  Require all granted',
                '  SetEnv GPUSH_DIR "%s"' % c.datadir, '</Location>', '']))
        t = subprocess.run(['/usr/sbin/apache2', '-t', '-f', conf], capture_output=True,
                           text=True, timeout=30, env=self.env())
        if t.returncode != 0:
            raise RuntimeError('apache2 rejects %s: %s' % (conf, t.stderr.strip()))
        out = open(os.path.join(self.opts.logs, 'apache.out'), 'w')
        self.apache = subprocess.Popen(['/usr/sbin/apache2', '-f', conf, '-DFOREGROUND'],
                                       stdout=out, stderr=out,
                                       env=self.env({'BENCH_CONFIG': c.key}),
                                       start_new_session=True)
        CLEANUPS.append(lambda: stop_proc(self.apache, 15))
        if not wait_port(self.aport, 30):
            raise RuntimeError('apache2 did not listen on %d' % self.aport)

    def stop(self, keep_db=False):
        stop_proc(self.haproxy, 15)
        stop_proc(self.lighttpd2, 15)
        if not keep_db:
            self.stop_db()
        stop_proc(self.apache, 15)
        for p, _ in self.gunicorn.values():
            stop_proc(p, 15)
        stop_proc(self.lighttpd, 15)
        stop_proc(self.fpm, 15)
        kill_ours(self.opts.run_id)

    # which processes do a config's work
    def pids(self, c):
        """(handler pids, server pids) of config c."""
        tag = ('BENCH_CONFIG=' + c.key).encode()
        if c.kind in ('fcgi', 'pgmulti'):
            tops = [s.pid for s in (self.lighttpd, self.lighttpd2 if c.kind == 'pgmulti'
                                    else None) if s]
            kids = [p for p in parsers.all_pids() if proc_ppid(p) in tops]
            srv = tops + ([self.haproxy.pid] if c.kind == 'pgmulti' and self.haproxy else [])
            return [p for p in kids if tag in proc_environ(p)], srv
        if c.kind == 'fpm':
            top = self.fpm.pid if self.fpm else None
            kids = [p for p in parsers.all_pids() if proc_ppid(p) == top]
            # a worker's title is "php-fpm: pool KEY" (its environ file
            # still shows the master's)
            return ([p for p in kids if proc_cmdline(p).startswith(b'php-fpm: pool ' + c.key.encode())],
                    [self.lighttpd.pid] if self.lighttpd else [])
        if c.kind == 'proxy':
            p = self.gunicorn[c.key][0].pid
            kids = [k for k in parsers.all_pids() if proc_ppid(k) == p]
            return [p] + kids, [self.lighttpd.pid] if self.lighttpd else []
        top = self.apache.pid if self.apache else None
        kids = [k for k in parsers.all_pids() if proc_ppid(k) == top]
        return kids, [top] if top else []
