"""Variant (e): the usual alternative to gpush, a Flask webhook.

The pattern of Google's Python client docs and the seed doc's Flask
example, made to do the same work as gpush so the comparison is fair:

  * registry lookup: channels.jsonl parsed into googleapiclient.channel
    Channel objects, kept per worker and reloaded when the file's inode,
    size or mtime changes (the way a gpush FastCGI process caches it);
  * token: compared in constant time (hmac.compare_digest), 401;
  * expiry: the registry's expiration, 410;
  * googleapiclient.channel.notification_from_headers(): id match, number,
    state, resource id and URI (400 when it raises);
  * body: parsed as JSON (400 when it is not);
  * dedup across all workers: under one flock, a per-channel journal of
    accepted numbers in state/ (the last 1024 remembered, compacted), then
    the log line with one os.write() on an O_APPEND descriptor.

It writes the same line as gpush (same keys and order, compact JSON).  No
fdatasync unless BENCH_FLASK_SYNC=1 (the benchmark runs it without, as the
issue's orientation figure is without).  Run under gunicorn:

    BENCH_DATA=/path/to/data gunicorn -w 8 -b 127.0.0.1:8000 app:app
"""
import email.utils
import fcntl
import hmac
import json
import os
import time

from flask import Flask, request
from googleapiclient import channel as gchannel
from googleapiclient import errors as gerrors

DATA = os.environ.get('BENCH_DATA', '.')
SYNC = os.environ.get('BENCH_FLASK_SYNC') == '1'
REGISTRY = os.path.join(DATA, 'channels.jsonl')
STATE = os.path.join(DATA, 'state')
WINDOW = 1024

app = Flask(__name__)
os.makedirs(STATE, mode=0o700, exist_ok=True)
_lock_fd = os.open(os.path.join(STATE, 'flask.lock'),
                   os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
_log_fd = os.open(os.path.join(DATA, 'notifications.ndjson'),
                  os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
_registry = {'key': None, 'channels': {}}


def registry():
    """The registry as {id: Channel}, reloaded when the file changes."""
    st = os.stat(REGISTRY)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    if key != _registry['key']:
        channels = {}
        with open(REGISTRY, encoding='utf-8') as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    ch = gchannel.Channel(
                        'web_hook', d['id'], d.get('token'), d.get('address'),
                        expiration=int(d['expiration']) if d.get('expiration') else None,
                        resource_id=d.get('resourceId', ''),
                        resource_uri=d.get('resourceUri', ''))
                except (ValueError, KeyError, TypeError):
                    continue
                channels.setdefault(ch.id, ch)
        _registry['key'], _registry['channels'] = key, channels
    return _registry['channels']


def answer(text, status):
    return text + '\n', status, {'Content-Type': 'text/plain; charset=utf-8',
                                 'Cache-Control': 'no-store'}


def received_at(now):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now)) + \
        '.%03dZ' % (int(now * 1000) % 1000)


def remembered(path):
    """The numbers accepted on the channel, oldest first (its journal)."""
    try:
        with open(path, 'rb') as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def remember(path, numbers, number):
    """Appends number to the journal; keeps the last WINDOW when it has
    grown to twice that (rewritten and renamed, like gpush's compaction)."""
    if len(numbers) + 1 >= 2 * WINDOW:
        tmp = path + '.tmp'
        with open(tmp, 'wb') as f:
            f.write(b'\n'.join(numbers[-WINDOW + 1:] + [b'%d' % number]) + b'\n')
        os.rename(tmp, path)
    else:
        with open(path, 'ab') as f:
            f.write(b'%d\n' % number)


@app.route('/<path:_endpoint>', methods=['POST'])
def notification(_endpoint):
    now = time.time()
    cid = request.headers.get('X-Goog-Channel-ID', '')
    if not cid:
        return answer('missing X-Goog-Channel-ID', 400)
    ch = registry().get(cid)
    if ch is None:
        return answer('unknown channel', 404)
    token = request.headers.get('X-Goog-Channel-Token', '')
    if ch.token and not hmac.compare_digest(token.encode(), ch.token.encode()):
        return answer('bad token', 401)
    if ch.expiration and int(ch.expiration) <= now * 1000:
        return answer('channel expired', 410)
    try:
        n = gchannel.notification_from_headers(ch, request.headers)
    except (gerrors.InvalidNotificationError, ValueError, KeyError):
        return answer('bad notification headers', 400)
    if n.message_number < 1:
        return answer('bad message number', 400)
    record = {'received_at': received_at(now), 'channel_id': cid,
              'message_number': n.message_number,
              'resource_state': n.state, 'resource_id': n.resource_id,
              'resource_uri': n.resource_uri}
    exp = request.headers.get('X-Goog-Channel-Expiration')
    if exp:
        try:
            record['channel_expiration'] = int(
                email.utils.parsedate_to_datetime(exp).timestamp() * 1000)
        except (TypeError, ValueError):
            return answer('bad X-Goog-Channel-Expiration', 400)
    body = request.get_data()
    if body:
        try:
            record['body'] = json.loads(body)
        except ValueError:
            return answer('body is not JSON', 400)
    line = (json.dumps(record, separators=(',', ':'), ensure_ascii=False)
            + '\n').encode('utf-8')
    journal = os.path.join(STATE, 'ch-' + cid.encode('utf-8').hex())
    fcntl.flock(_lock_fd, fcntl.LOCK_EX)
    try:
        numbers = remembered(journal)
        if b'%d' % n.message_number in numbers[-WINDOW:]:
            return answer('duplicate', 200)
        os.write(_log_fd, line)
        if SYNC:
            os.fdatasync(_log_fd)
        remember(journal, numbers, n.message_number)
    except OSError:
        return answer('storage failed', 503)
    finally:
        fcntl.flock(_lock_fd, fcntl.LOCK_UN)
    return answer('ok', 200)
