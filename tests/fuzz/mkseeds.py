#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ from the CGI
fixtures (tests/cgi/cases/*.case, tests/cgi/channels.jsonl) and a few
hand-made inputs.  Run it from anywhere; it replaces only files named
seed-* and leaves what fuzzing merged in (hash-named files) alone.

    python3 tests/fuzz/mkseeds.py
"""
import glob, hashlib, json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
CGI = os.path.join(HERE, '..', 'cgi')
sys.dont_write_bytecode = True
sys.path.insert(0, CGI)
import run  # noqa: E402  (tests/cgi/run.py: the fixtures' own parser)

CORPUS = os.path.join(HERE, 'corpus')


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


def clean(target):
    for p in glob.glob(os.path.join(CORPUS, target, 'seed-*')):
        os.unlink(p)


def cases():
    for path in sorted(glob.glob(os.path.join(CGI, 'cases', '*.case'))):
        yield os.path.basename(path)[:-5], run.parse_case(path)


def uniq(items):
    seen = set()
    for name, data in items:
        h = hashlib.sha1(data).digest()
        if h not in seen:
            seen.add(h)
            yield name, data


# ---- fuzz_headers: NUL-separated CGI environment entries

def headers():
    out = []
    for name, case in cases():
        for i, step in enumerate(s for s in case['steps'] if 'env' in s):
            env = run.build_env(step['env'], step['body'])
            data = b'\0'.join(k + b'=' + v for k, v in env.items()
                              if k.startswith(b'HTTP_'))
            out.append(('%s-%d' % (name, i) if i else name, data))
    # Header names spelled the ways a getter might see them.
    out.append(('lower-case-key', b'HTTP_x_goog_channel_id=a\0'
                b'HTTP_X_GOOG_CHANNEL_ID=b\0HTTP_X_GOOG_MESSAGE_NUMBER=7\0'
                b'HTTP_X_GOOG_RESOURCE_STATE=exists\0HTTP_X_GOOG_RESOURCE_ID=r\0'
                b'HTTP_X_GOOG_RESOURCE_URI=u\0HTTP_X_GOOG_CHANGED=,,\0'))
    out.append(('no-equals', b'HTTP_X_GOOG_CHANNEL_ID\0HTTP_X_GOOG_CHANNEL_ID==x'))
    return out


# ---- fuzz_rfc1123: date texts

def dates():
    out, seen = [], set()
    for name, case in cases():
        for step in case['steps']:
            if 'env' not in step:
                continue
            env = run.build_env(step['env'], step['body'])
            v = env.get(b'HTTP_X_GOOG_CHANNEL_EXPIRATION')
            if v is not None and v not in seen:
                seen.add(v)
                out.append((name, v))
    for i, d in enumerate([
            'Thu, 01 Jan 1970 00:00:00 GMT', 'Wed, 31 Dec 1969 23:59:59 GMT',
            'Sat, 01 Jan 0000 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT',
            'Tue, 29 Feb 2000 12:00:00 GMT', 'Thu, 29 Feb 1900 12:00:00 GMT',
            'Thu, 29 Feb 2024 23:59:60 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT',
            'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994',
            'Fri, 01 Jan 2038 03:14:08 GMT', 'Sat, 31 Dec 2100 24:00:00 GMT']):
        out.append(('hand-%02d' % i, d.encode()))
    return out


# ---- fuzz_channel: a registry line, optionally '\n' and an update

def channels():
    lines = [l for l in open(os.path.join(CGI, 'channels.jsonl'), 'rb').read()
             .split(b'\n') if l.strip()]
    out = [('line-%02d' % i, l) for i, l in enumerate(lines)]
    for name, case in cases():
        if case['registry']:
            for i, l in enumerate(case['registry'].encode().split(b'\n')):
                if l.strip():
                    out.append(('%s-%d' % (name, i), l))
    watch = json.dumps({
        'kind': 'api#channel', 'id': 'dir-users',
        'resourceId': 'ret08u3rv24htgh289g',
        'resourceUri': 'https://admin.googleapis.com/admin/directory/v1/users'
                       '?domain=mydomain.com&event=add',
        'token': 'new-token', 'expiration': '1384823632000'},
        separators=(',', ':')).encode()
    out.append(('update-watch', lines[0] + b'\n' + watch))
    out.append(('update-nulls', lines[1] + b'\n{"token":null,"expiration":null,'
                b'"params":null,"resourceUri":"https://x/y"}'))
    out.append(('update-params', lines[3] + b'\n{"params":{"ttl":"3600",'
                b'"n":[1,{"k":"\\u00e9"}]},"expiration":1384823632000}'))
    out.append(('update-bad-type', lines[0] + b'\n{"id":17}'))
    out.append(('update-empty', b'{"id":"a"}\n{}'))
    out.append(('params-empty', b'{"id":"a","params":{},"resourceId":"",'
                b'"type":"","kind":"api#x"}'))
    out.append(('expiration-max', b'{"id":"a","expiration":"9223372036854775807"}'))
    out.append(('expiration-big', b'{"id":"a","expiration":9223372036854775808}'))
    out.append(('escapes', b'{"id":"\\u00e9\\ud83c\\udf89","token":"a\\/b\\"c"}'))
    return out


# ---- fuzz_body: request bodies, and records as bodies

def bodies():
    out = []
    for name, case in cases():
        for step in case['steps']:
            if step.get('body'):
                out.append(('body-' + name, step['body']))
            for rec in step.get('log') or []:
                out.append(('log-' + name, json.dumps(
                    rec, ensure_ascii=False, separators=(',', ':')).encode()))
    out += [('deep-64', b'[' * 64 + b']' * 64), ('deep-65', b'[' * 65 + b']' * 65),
            ('numbers', b'[0,-0,1.5e-7,-12E+3,123456789012345678901234567890,1e999]'),
            ('literals', b' {"t":true,"f":false,"n":null} \r\n'),
            ('escapes', b'"\\u0000\\b\\f\\n\\r\\t\\/\\\\\\"\\uD83D\\uDE00\\udfff"'),
            ('bare-number', b'42'), ('empty', b'')]
    return out


# ---- fuzz_seen: flag byte + raw journal, or flag|1 + program

def rec(kind, number, seq=0, at=0):
    return struct.pack('<qQIIq', number, seq, 0x47505300 | kind, 1234, at)


P, C, B = 1, 2, 4


def journals():
    raw = [
        ('empty', b''),
        ('one-pending', rec(P, 5, 100)),
        ('pending-commit', rec(P, 5, 100) + rec(C, 5, 0, 1700000000000)),
        ('commit-twice', rec(P, 5, 100) + rec(C, 5) + rec(C, 5)),
        ('base', rec(B, 4096) + rec(C, 7, 0, 99) + rec(P, 8, 101)),
        ('repending', rec(P, 9, 100) + rec(P, 9, 200) + rec(P, 10, 300)),
        ('torn', rec(P, 5, 100) + rec(C, 5)[:17]),
        ('foreign', rec(C, 3) + b'x' * 32 + rec(9, 4)),
        ('negative', rec(C, -1) + rec(C, -(1 << 63)) + rec(C, (1 << 63) - 1)),
        ('pending-zero-seq', rec(P, 6, 0) + rec(P, 6, 0)),
    ]
    out = [(n, b'\x00' + d) for n, d in raw]

    def op(o, a=0, b=0, c=0):
        return bytes([o, a & 255, b & 255, c & 255])
    progs = [
        ('prog-window', 0x01, op(3, 0xff, 0x03, 1) + op(1, -3) + op(0, 5, 1)),
        ('prog-replay', 0x01, op(5, 3) + op(3, 0x00, 0x04, 1) + op(1, -2000 % 256)),
        ('prog-compact', 0x01, op(3, 0x40, 0x08, 1) + op(4, 3, 9, 2) + op(2, 1, 0, 2)),
        ('prog-force', 0x03, op(3, 40, 0, 1) + op(4, 4, 2, 1) + op(6, 3, 0, 1)),
        ('prog-floor', 0x01 | (3 << 2), op(4, 20, 0, 1) + op(4, 5, 30, 1)),
        ('prog-down', 0x01, op(5, 6) + op(3, 0xff, 0x04, -1 % 256) + op(1, 1)),
        ('prog-extremes', 0x03, op(5, 7) + op(3, 10, 0, 100) + op(5, 8) +
         op(3, 10, 0, -100 % 256) + op(7, 5, 0, 0x41)),
        ('prog-old-retry', 0x01, op(5, 4, 0, 0) + op(1, 0) + op(5, 0, 1, 0) +
         op(3, 0xff, 0x03, 1) + op(3, 0x10, 0, 1)),
    ]
    out += [(n, bytes([f]) + p) for n, f, p in progs]
    return out


def main():
    for target, items in (('fuzz_headers', headers()), ('fuzz_rfc1123', dates()),
                          ('fuzz_channel', channels()), ('fuzz_body', bodies()),
                          ('fuzz_seen', journals())):
        clean(target)
        n, used = 0, set()
        for name, data in uniq(items):
            base, k = name, 1
            while name in used:
                k += 1
                name = '%s-%d' % (base, k)
            used.add(name)
            write(target, name, data)
            n += 1
        print('%s: %d seeds' % (target, n))


if __name__ == '__main__':
    main()
