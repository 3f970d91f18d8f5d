"""Registries of channels, the requests sent to them, data directories,
and the files of a run."""
import json
import os
import shutil
import subprocess
import time


class Registry:
    """A registry of n Directory channels (channels.jsonl) and the same
    channels as TSV for notify.lua and cgiloop."""

    def __init__(self, n, where):
        self.n = n
        self.jsonl = os.path.join(where, 'channels-%d.jsonl' % n)
        self.tsv = os.path.join(where, 'channels-%d.tsv' % n)
        exp_ms = (int(time.time()) + 6 * 86400) * 1000
        exp_hdr = time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(exp_ms // 1000))
        self.rows = []
        with open(self.jsonl, 'w') as j, open(self.tsv, 'w') as t:
            for i in range(n):
                h = (i * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9) & (2 ** 64 - 1)
                cid = '%08x-%04x-4%03x-8%03x-%012x' % (i, n % 0xffff, (h >> 52) & 0xfff,
                                                       (h >> 40) & 0xfff, h & 0xffffffffffff)
                token = 'gpush-bench-%016x%016x' % (h, (h * 0xD6E8FEB86659FD93) & (2 ** 64 - 1))
                rid = 'r%022x' % ((h * 0x94D049BB133111EB) & (2 ** 88 - 1))
                uri = ('https://admin.googleapis.com/admin/directory/v1/users'
                       '?domain=example%d.com&event=update&alt=json' % (i % 97))
                j.write(json.dumps({'kind': 'api#channel', 'id': cid, 'resourceId': rid,
                                    'resourceUri': uri, 'token': token,
                                    'expiration': str(exp_ms)},
                                   separators=(',', ':')) + '\n')
                row = (cid, token, rid, uri, exp_hdr)
                t.write('\t'.join(row) + '\n')
                if i < 8 or i % max(1, n // 64) == 0 or i == n - 1:
                    self.rows.append((i, row))
        self.bytes = os.path.getsize(self.jsonl)

    def spread(self, k):
        """k channels spread over the whole file (first, ..., last)."""
        if self.n <= k:
            want = list(range(self.n))
        elif k == 1:
            want = [0]
        else:
            want = sorted({round(j * (self.n - 1) / (k - 1)) for j in range(k)})
        byidx = dict(self.rows)
        missing = [i for i in want if i not in byidx]
        if missing:
            with open(self.tsv) as f:
                for i, line in enumerate(f):
                    if i in missing:
                        byidx[i] = tuple(line.rstrip('\n').split('\t'))
        return [byidx[i] for i in want if i in byidx]

    def fixtures(self, path, k):
        with open(path, 'w') as f:
            for row in self.spread(k):
                f.write('\t'.join(row) + '\n')
        return path

    def install(self, datadir, uid, gid):
        os.makedirs(datadir, exist_ok=True)
        dst = os.path.join(datadir, 'channels.jsonl')
        shutil.copyfile(self.jsonl, dst)
        os.chmod(datadir, 0o700)
        os.chmod(dst, 0o600)
        chown_tree(datadir, uid, gid)


def body_for(num):
    return ('{"kind":"admin#directory#user","id":"1%020d","etag":"\\"Mf8RAmnABsVfQ47MMT_18MHAdRE/%d\\"",'
            '"primaryEmail":"user%d@example.com"}' % (num, num, num))


def cgi_params(row, num, datadir, sync=True):
    cid, token, rid, uri, exp = row
    body = body_for(num)
    p = {'GATEWAY_INTERFACE': 'CGI/1.1', 'SERVER_PROTOCOL': 'HTTP/1.1',
         'REQUEST_METHOD': 'POST', 'CONTENT_TYPE': 'application/json; utf-8',
         'CONTENT_LENGTH': str(len(body)), 'SCRIPT_NAME': '/notifications',
         'HTTP_X_GOOG_CHANNEL_ID': cid, 'HTTP_X_GOOG_CHANNEL_TOKEN': token,
         'HTTP_X_GOOG_CHANNEL_EXPIRATION': exp, 'HTTP_X_GOOG_RESOURCE_ID': rid,
         'HTTP_X_GOOG_RESOURCE_URI': uri, 'HTTP_X_GOOG_RESOURCE_STATE': 'update',
         'HTTP_X_GOOG_MESSAGE_NUMBER': str(num), 'GPUSH_DIR': datadir,
         'GPUSH_SYNC': '1' if sync else '0'}
    return p, body.encode()


def chown_tree(path, uid, gid):
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)


def copy_logs(src, dst):
    """The servers' logs, written in the stage, into LOGS."""
    try:
        names = os.listdir(src)
    except OSError:
        return
    for n in names:
        try:
            shutil.copyfile(os.path.join(src, n), os.path.join(dst, n))
        except OSError:
            pass


def fs_type(path):
    """The type of the file system path is on (longest mount point)."""
    best, kind = '', '?'
    path = os.path.realpath(path)
    try:
        with open('/proc/mounts') as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace('\\040', ' ')
                if (path == mnt or path.startswith(mnt.rstrip('/') + '/')) and len(mnt) >= len(best):
                    best, kind = mnt, '%s (%s on %s)' % (parts[2], parts[0], mnt)
    except OSError:
        pass
    return kind


def disk_flushes(path):
    """Cache flushes the block device holding path has completed
    (/sys/dev/block/M:m/stat, field 16; a partition's count is its
    disk's), or None where the kernel does not count them.  A durable
    row's throughput is its requests per flush times the flushes the disk
    completes a second."""
    try:
        dev = os.stat(path).st_dev
        base = '/sys/dev/block/%d:%d' % (os.major(dev), os.minor(dev))
        if os.path.exists(os.path.join(base, 'partition')):
            base = os.path.join(base, '..')
        with open(os.path.join(base, 'stat')) as f:
            fields = f.read().split()
        return int(fields[15]) if len(fields) > 15 else None
    except (OSError, ValueError):
        return None


def sync_disk():
    try:
        subprocess.run(['sync'], timeout=60)
    except subprocess.TimeoutExpired:
        pass


def count_lines(path):
    n = 0
    try:
        with open(path, 'rb') as f:
            for _ in range(1 << 20):
                b = f.read(1 << 20)
                if not b:
                    break
                n += b.count(b'\n')
    except OSError:
        return 0
    return n
