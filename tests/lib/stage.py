#!/usr/bin/python3
"""tests/lib/stage.py -- a place outside the clone for what runs as
another user (project issue 15).

Under root the harnesses start web servers that drop to www-data (lighttpd
server.username, Apache User, gunicorn --user).  A clone may sit below a
directory www-data cannot enter (root's home is 0700, so is what mktemp -d
gives), so nothing such a server reads or writes may live in the clone:
each harness stages it here instead.  A stage is a fresh directory made
by mkdtemp under a world-traversable base (GPUSH_STAGE_DIR, else /var/tmp,
which is on disk where /tmp may be a tmpfs: the bench's fdatasync must
cost what it costs), mode 0755, owned by the invoking user; the files it
is given are copied in readable by all; the directories the server must
write are handed to its user.  Before it returns, it checks that the run
user can reach the stage from / (every ancestor searchable), and fails
naming the first one that is not, instead of a server that "did not
listen".  Not root: the run user is the invoking user, and the stage is
the same directory, so the harnesses have one code path.

Python:
    import stage
    user = stage.run_user()                # www-data under root, else us
    st = stage.Stage('gpush-bench', user)  # the directory: st.path
    st.copy('cgi/gpush.fcgi', 'bin')       # -> st.path/bin/gpush.fcgi
    st.mkdir('sock', owned=True)           # writable by the run user
    st.remove()

Shell (prints the stage's path; the caller removes it):
    T=$(python3 tests/lib/stage.py --name gpushsrv-x [--base DIR]
        [--user USER] [--copy FILE]... [--own SUBDIR]...)
    read -r RUN_USER RUN_GROUP < <(python3 tests/lib/stage.py --print-user)
"""
import argparse
import grp
import os
import pwd
import shutil
import stat
import sys
import tempfile

# The user web servers run as under root (Debian's).
SERVER_USER = 'www-data'


class StageError(Exception):
    pass


class User:
    """Who a server runs as: name, uid, gid, group name, and its groups."""

    def __init__(self, pw):
        self.name = pw.pw_name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        try:
            self.group = grp.getgrgid(pw.pw_gid).gr_name
        except KeyError:
            self.group = str(pw.pw_gid)
        self.gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem}

    def is_me(self):
        return self.uid == os.geteuid()


def run_user(name=None):
    """The user servers drop to: name if given, else www-data under root
    (when it exists), else the invoking user."""
    if name:
        try:
            return User(pwd.getpwnam(name))
        except KeyError:
            raise StageError('no user %s' % name)
    if os.geteuid() == 0:
        try:
            return User(pwd.getpwnam(SERVER_USER))
        except KeyError:
            pass
    return User(pwd.getpwuid(os.geteuid()))


def default_base():
    """GPUSH_STAGE_DIR, else /var/tmp (on disk), else /tmp."""
    for d in (os.environ.get('GPUSH_STAGE_DIR'), '/var/tmp', '/tmp'):
        if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return os.path.abspath(d)
    raise StageError('no writable base directory (set GPUSH_STAGE_DIR)')


def blocker(path, user):
    """The first directory from / to path (inclusive) that user cannot
    search, or None when it can reach path."""
    if user.uid == 0:
        return None
    path = os.path.abspath(path)
    parts = path.split('/')
    for i in range(1, len(parts) + 1):
        d = '/'.join(parts[:i]) or '/'
        try:
            st = os.stat(d)
        except OSError:
            return d
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in user.gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return d
    return None


class Stage:
    """A fresh directory outside the clone that user can reach."""

    def __init__(self, name, user=None, base=None):
        self.user = user or run_user()
        base = os.path.abspath(base) if base else default_base()
        self.path = tempfile.mkdtemp(prefix=name + '.', dir=base)
        os.chmod(self.path, 0o755)
        b = blocker(self.path, self.user)
        if b:
            self.remove()
            raise StageError('%s cannot reach %s: %s is not searchable by it '
                             '(set GPUSH_STAGE_DIR to a world-searchable directory)'
                             % (self.user.name, self.path, b))

    def mkdir(self, sub, owned=False):
        """st.path/sub, made if missing; owned: handed to the run user (the
        server writes there).  Returns its path."""
        d = os.path.join(self.path, sub)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        if owned:
            self.chown(d)
        return d

    def copy(self, src, sub='', name=None):
        """Copies the file src into st.path/sub (as name), readable by all,
        executable by all when src is executable.  Returns its path."""
        d = self.mkdir(sub) if sub else self.path
        dst = os.path.join(d, name or os.path.basename(src))
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o755 if os.access(src, os.X_OK) else 0o644)
        return dst

    def chown(self, path):
        """Hands path (a tree) to the run user; a no-op when it is us."""
        if self.user.is_me() or os.geteuid() != 0:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, self.user.uid, self.user.gid)
            for n in dirs + files:
                os.chown(os.path.join(root, n), self.user.uid, self.user.gid,
                         follow_symlinks=False)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Make a directory outside the clone for what runs as another '
                    'user; print its path.')
    ap.add_argument('--name', default='gpush-stage', help='prefix of the directory name')
    ap.add_argument('--base', help='where to make it (default GPUSH_STAGE_DIR, /var/tmp, /tmp)')
    ap.add_argument('--user', help='the user it is for (default www-data under root, else us)')
    ap.add_argument('--copy', action='append', default=[], metavar='FILE',
                    help='copy FILE into it (repeatable)')
    ap.add_argument('--own', action='append', default=[], metavar='SUBDIR',
                    help='make SUBDIR in it, owned by the user (repeatable)')
    ap.add_argument('--print-user', action='store_true',
                    help='only print "USER GROUP" of the run user')
    a = ap.parse_args(argv)
    try:
        user = run_user(a.user)
        if a.print_user:
            print(user.name, user.group)
            return 0
        st = Stage(a.name, user, a.base)
        try:
            for f in a.copy:
                st.copy(f)
            for d in a.own:
                st.mkdir(d, owned=True)
        except OSError as e:
            st.remove()
            raise StageError(str(e))
    except StageError as e:
        print('stage: %s' % e, file=sys.stderr)
        return 1
    print(st.path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
