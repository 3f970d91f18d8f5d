"""A data directory for the handler (its registry of channels) and the
reading of the log it writes there (notifications.ndjson and the files
rotated beside it)."""
import json
import os
import shutil
import tempfile

LOG = 'notifications.ndjson'


def channel(c, token):
    """Test channel number c: id chC, token token(c), resource rC."""
    return {'kind': 'api#channel', 'id': 'ch%d' % c, 'token': token(c),
            'resourceId': 'r%d' % c, 'resourceUri': 'https://u/%d' % c}


def make_data(path, registry):
    """Creates the directory path with channels.jsonl: registry is the
    file's text, or a list of channel objects (one JSON line each)."""
    os.makedirs(path, exist_ok=True)
    if not isinstance(registry, str):
        registry = ''.join(json.dumps(ch) + '\n' for ch in registry)
    with open(os.path.join(path, 'channels.jsonl'), 'w') as f:
        f.write(registry)


class DataDir:
    """A fresh temporary directory: .tmp holds the data directory .path
    (with the given registry) and whatever else a test puts beside it,
    such as the handler's socket.  cleanup() removes it all."""
    def __init__(self, registry, base=None, prefix='gpush-test-'):
        self.tmp = tempfile.mkdtemp(prefix=prefix, dir=base)
        self.path = os.path.join(self.tmp, 'data')
        make_data(self.path, registry)

    def log(self):
        return read_log(self.path)

    def log_files(self):
        return log_files(self.path)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_log(d):
    """The bytes of d's log, b'' when there is none."""
    p = os.path.join(d, LOG)
    return open(p, 'rb').read() if os.path.isfile(p) else b''


def log_files(d):
    """The log and every rotated or logrotated file beside it, sorted."""
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(LOG))


def split_log(raw):
    """(complete lines, torn tail): the tail is what follows the last
    newline, b'' when the log ends with one."""
    lines = raw.split(b'\n')
    return lines[:-1], lines[-1]


def records(lines):
    """(the lines as JSON objects, how many were not UTF-8 JSON objects)."""
    objs, bad = [], 0
    for line in lines:
        try:
            line.decode('utf-8')
            o = json.loads(line)
        except ValueError:                   # UnicodeDecodeError too
            bad += 1
            continue
        if isinstance(o, dict):
            objs.append(o)
        else:
            bad += 1
    return objs, bad
