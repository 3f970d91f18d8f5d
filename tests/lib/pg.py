#!/usr/bin/python3
"""tests/lib/pg.py -- a throw-away PostgreSQL server for the tests of the
database store (issue 14), started and stopped by the test itself.

It runs Debian's server binaries (/usr/lib/postgresql/<newest>/bin, or
PG_BIN) as an unprivileged user: `postgres` under root (initdb refuses to
run as root), else the invoking user.  Its directory is a fresh mkdtemp
under /var/tmp (GPUSH_STAGE_DIR picks another base), mode 0755 and owned
by that user, so the server can reach it whoever runs the test; it holds
the cluster (data/), the Unix socket (sock/) and the server log
(server.log).  The server listens on 127.0.0.1 on a free port picked at
run time, and on the socket.  Authentication is `trust` for local and
127.0.0.1 connections only (the tests make roles without passwords;
role separation is tested by connecting as a role, not by passwords);
pass auth='scram-sha-256' to require passwords (the superuser 'postgres'
then gets password 'postgres').  fsync stays on: the store's 200 follows a
real WAL flush.

Python:
    from lib import pg
    srv = pg.Server()              # initdb + start; srv.stop() always (atexit too)
    srv.conninfo()                 # 'host=127.0.0.1 port=N dbname=postgres user=postgres'
    srv.conninfo(user='web', dbname='gpush')
    srv.psql('CREATE DATABASE x')  # as the superuser; returns stdout
    ci = srv.init_gpush()          # database gpush made by `gpush db init`
    srv.load_channels(text)        # gpush.channels := a registry file's lines
    srv.log()                      # the notifications' lines, as the file log
    srv.restart()                  # pg_ctl restart -m fast
    srv.stop_server(); srv.start_server()    # down for a while, then up
    srv.stop()                     # stop and remove the directory

Shell (tests/lib/pg.sh wraps it; see there):
    python3 tests/lib/pg.py start       -> prints DIR PORT, server running
    python3 tests/lib/pg.py stop DIR    -> stops it and removes DIR
    python3 tests/lib/pg.py restart DIR | down DIR | up DIR
"""
import atexit
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SUPERUSER = 'postgres'


def pg_bin():
    """Debian's newest server binaries (PG_BIN overrides); None if absent."""
    if os.environ.get('PG_BIN'):
        return os.environ['PG_BIN']
    cands = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                   key=lambda p: int(p.split('/')[-3]) if p.split('/')[-3].isdigit() else 0)
    return os.path.dirname(cands[-1]) if cands else None


def available():
    """None when a server can be started here, else the reason (a skip)."""
    if pg_bin() is None:
        return 'PostgreSQL server not installed (apt-get install postgresql)'
    if os.geteuid() == 0:
        try:
            pwd.getpwnam('postgres')
        except KeyError:
            return 'no user postgres to run the server as'
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One cluster: initdb'ed and started by __init__ (unless start=False
    with an existing dir), stopped by stop() or at exit."""

    def __init__(self, auth='trust', base=None, settings=None, dir=None, port=None):
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError(available())
        self.user = pwd.getpwnam('postgres') if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self.attached = dir is not None
        if dir is not None:     # an existing one (the shell's later calls)
            self.dir = dir
            self.port = port if port is not None else int(open(os.path.join(dir, 'port')).read())
            return
        base = base or os.environ.get('GPUSH_STAGE_DIR') or '/var/tmp'
        self.dir = tempfile.mkdtemp(prefix='gpush-pg-', dir=base)
        os.chmod(self.dir, 0o755)
        atexit.register(self.stop)
        for sub in ('data', 'sock'):
            os.mkdir(os.path.join(self.dir, sub), 0o700)
        if os.geteuid() == 0:
            for sub in ('', 'data', 'sock'):
                os.chown(os.path.join(self.dir, sub), self.user.pw_uid, self.user.pw_gid)
        self.port = free_port()
        with open(os.path.join(self.dir, 'port'), 'w') as f:
            f.write('%d\n' % self.port)
        pwfile = None
        args = [os.path.join(self.bin, 'initdb'), '-D', self.data, '-U', SUPERUSER,
                '-A', auth, '--no-instructions', '-E', 'UTF8', '--locale', 'C']
        if auth != 'trust':
            pwfile = os.path.join(self.dir, 'pw')
            with open(pwfile, 'w') as f:
                f.write('postgres\n')
            if os.geteuid() == 0:
                os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
            args += ['--pwfile', pwfile]
        self._run(args)
        conf = {
            'listen_addresses': "'127.0.0.1'",
            'port': str(self.port),
            'unix_socket_directories': "'%s'" % self.sock,
            'max_connections': '100',
            'fsync': 'on',
            'synchronous_commit': 'on',
            'log_min_messages': 'warning',
        }
        conf.update(settings or {})
        with open(os.path.join(self.data, 'postgresql.auto.conf'), 'a') as f:
            for k, v in conf.items():
                f.write('%s = %s\n' % (k, v))
        self.start_server()

    # ---- paths and connection strings ----
    @property
    def data(self):
        return os.path.join(self.dir, 'data')

    @property
    def sock(self):
        return os.path.join(self.dir, 'sock')

    def conninfo(self, user=SUPERUSER, dbname='postgres', socket=False, **kw):
        host = self.sock if socket else '127.0.0.1'
        parts = ['host=%s' % host, 'port=%d' % self.port, 'dbname=%s' % dbname,
                 'user=%s' % user]
        parts += ['%s=%s' % kv for kv in kw.items()]
        return ' '.join(parts)

    # ---- running things as the server's user ----
    def _as_user(self, args):
        if os.geteuid() == 0:
            return ['runuser', '-u', self.user.pw_name, '--'] + args
        return args

    def _run(self, args, check=True, timeout=120):
        r = subprocess.run(self._as_user(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, cwd='/')
        if check and r.returncode != 0:
            raise RuntimeError('%s: %s' % (' '.join(args), r.stdout.decode(errors='replace')))
        return r

    def _ctl(self, *args, check=True):
        return self._run([os.path.join(self.bin, 'pg_ctl'), '-D', self.data, '-w', '-t', '60',
                          '-l', os.path.join(self.dir, 'server.log')] + list(args), check=check)

    def start_server(self):
        self._ctl('start')

    def stop_server(self, mode='fast'):
        self._ctl('stop', '-m', mode, check=False)

    def restart(self, mode='fast'):
        self._ctl('restart', '-m', mode)

    def running(self):
        return os.path.exists(os.path.join(self.data, 'postmaster.pid'))

    def psql(self, sql, user=SUPERUSER, dbname='postgres', check=True):
        """Runs sql (ON_ERROR_STOP) through psql; stdout (unaligned, tuples
        only).  On failure with check, RuntimeError with the output."""
        args = [os.path.join(self.bin, 'psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                '-h', '127.0.0.1', '-p', str(self.port), '-U', user, '-d', dbname]
        env = dict(os.environ, PGCLIENTENCODING='UTF8')
        if user == SUPERUSER:
            env['PGPASSWORD'] = 'postgres'
        r = subprocess.run(args, input=sql.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, env=env)
        if check and r.returncode != 0:
            raise RuntimeError('psql: %s' % r.stderr.decode(errors='replace'))
        return r.stdout.decode() if check else r

    def init_gpush(self, dbname='gpush', roles=False):
        """Creates database dbname and gpush's schema in it with
        `gpush db init` (the tool under test); roles: lib/roles.sql first
        (gpush_handler, gpush_tool).  Returns the superuser's conninfo."""
        from . import TOOL
        self.psql('CREATE DATABASE %s' % dbname)
        if roles:
            r = subprocess.run([TOOL, 'db', 'roles'], stdout=subprocess.PIPE, check=True)
            self.psql(r.stdout.decode(), dbname=dbname)
        ci = self.conninfo(dbname=dbname)
        r = subprocess.run([TOOL, '--database', ci, 'db', 'init'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise RuntimeError('gpush db init: %s' % r.stdout.decode(errors='replace'))
        return ci

    def load_channels(self, registry, dbname='gpush', truncate=True):
        """Makes gpush.channels hold the channels of a registry file's
        text (what channels.jsonl would hold), as `gpush new` would store
        them: one row per line that is a JSON object with a string id;
        other lines are skipped, as the file store skips them.  truncate
        empties notifications and channels first (a fresh store)."""
        sql = ['BEGIN;']
        if truncate:
            sql.append('TRUNCATE gpush.notifications, gpush.channels RESTART IDENTITY;')
        for line in registry.split('\n'):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if not isinstance(o, dict) or not isinstance(o.get('id'), str):
                continue
            exp = o.get('expiration')
            try:
                exp = int(exp) if exp is not None else 0
            except (TypeError, ValueError):
                exp = 0
            cols = [o['id'], o.get('token'), o.get('resourceId'), o.get('resourceUri')]
            sql.append('INSERT INTO gpush.channels (id, token, resource_id, resource_uri,'
                       ' expiration, record, line) VALUES (%s, %s, %s, %s, %d, %s::jsonb, %s);'
                       % tuple([literal(c) for c in cols] + [exp, literal(line), literal(line)]))
        sql.append('COMMIT;')
        self.psql('\n'.join(sql), dbname=dbname)

    def log(self, dbname='gpush', user=SUPERUSER):
        """The notifications rows as the file log would hold them: each
        row's line and a newline, in id order (bytes)."""
        out = self.psql('SELECT line FROM gpush.notifications ORDER BY id', dbname=dbname,
                        user=user)
        return out.encode('utf-8')

    def stop(self):
        """Stops the server (fast, then immediate) and removes its directory."""
        if self.dir is None or not os.path.isdir(self.dir):
            return
        if self.running():
            self._ctl('stop', '-m', 'fast', check=False)
        if self.running():
            self._ctl('stop', '-m', 'immediate', check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def literal(v):
    """v as an SQL literal (NULL for None); standard_conforming_strings."""
    if v is None:
        return 'NULL'
    if not isinstance(v, str):
        v = str(v)
    return "'" + v.replace("'", "''") + "'"


def main(argv):
    if len(argv) >= 1 and argv[0] == 'available':
        why = available()
        print(why or 'yes')
        return 0 if why is None else 1
    if len(argv) >= 1 and argv[0] == 'start':
        srv = Server()
        atexit.unregister(srv.stop)   # the shell caller stops it
        print(srv.dir, srv.port)
        return 0
    if len(argv) == 2 and argv[0] in ('stop', 'restart', 'down', 'up'):
        if argv[0] == 'stop' and not os.path.isdir(argv[1]):
            return 0        # stopped already
        srv = Server(dir=argv[1])
        {'stop': srv.stop, 'restart': srv.restart, 'down': srv.stop_server,
         'up': srv.start_server}[argv[0]]()
        return 0
    print('usage: pg.py available | start | stop|restart|down|up DIR', file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
