"""What each part of the bench needs, and installing it (Debian, root)."""
import os
import shutil
import subprocess

from .config import PYTHON
from .output import note

# What each part needs: probe (a command, a path or py:module) -> package.
NEEDS = {
    'wrk': [('wrk', 'wrk')],
    'lighttpd': [('lighttpd', 'lighttpd')],
    'apache': [('/usr/sbin/apache2', 'apache2')],
    'flask': [('py:flask', 'python3-flask'), ('/usr/bin/gunicorn', 'gunicorn'),
              ('py:googleapiclient.channel', 'python3-googleapi')],
    'gnuplot': [('gnuplot', 'gnuplot-nox')],
    'valgrind': [('valgrind', 'valgrind')],
    'perf': [('perf', 'linux-perf')],
    'strace': [('strace', 'strace')],
    'php': [('/usr/sbin/php-fpm8.2', 'php8.2-fpm')],
    'build': [('/usr/include/fcgiapp.h', 'libfcgi-dev')],
    'postgresql': [('/usr/lib/postgresql', 'postgresql'), ('psql', 'postgresql-client')],
    'haproxy': [('haproxy', 'haproxy')],
}


def probe(what):
    if what.startswith('py:'):
        return subprocess.run([PYTHON, '-c', 'import ' + what[3:]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    if what.startswith('/'):
        return os.path.exists(what)
    return shutil.which(what) is not None


def missing_of(parts):
    miss = []
    for part in parts:
        for what, pkg in NEEDS[part]:
            if not probe(what) and pkg not in miss:
                miss.append(pkg)
    return miss


def ensure(opts, parts):
    """Installs the Debian packages the parts need, when root; returns the
    set of parts still unavailable."""
    miss = missing_of(parts)
    if miss and opts.is_root and shutil.which('apt-get'):
        note('installing ' + ' '.join(miss) + ' (apt-get)')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        rc_d = '/usr/sbin/policy-rc.d'
        made = False
        if not os.path.exists(rc_d):
            with open(rc_d, 'w') as f:
                f.write('#!/bin/sh\n# bench.py: no service starts during install\nexit 101\n')
            os.chmod(rc_d, 0o755)
            made = True
        logf = os.path.join(opts.logs, 'apt.log')
        os.makedirs(os.path.dirname(logf), exist_ok=True)
        try:
            with open(logf, 'a') as log:
                cmd = ['apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + miss
                try:
                    rc = subprocess.run(cmd, stdout=log, stderr=log, env=env, timeout=900).returncode
                    if rc != 0:
                        subprocess.run(['apt-get', 'update', '-qq'], stdout=log, stderr=log,
                                       env=env, timeout=900)
                        subprocess.run(cmd, stdout=log, stderr=log, env=env, timeout=900)
                except subprocess.TimeoutExpired:
                    note('apt-get timed out')
        finally:
            if made:
                os.unlink(rc_d)
    unavailable = set()
    for part in parts:
        if missing_of([part]):
            unavailable.add(part)
    return unavailable
