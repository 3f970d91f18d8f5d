#!/usr/bin/env python3
"""compare.py A B: compares two request logs (JSON lines, or a JSON array such as
GET /_standin/requests returns) request by request.

Each entry needs method, path, query (object) and body.  Compared: method, path, query
keys and values, JSON body keys (recursively) and their fixed values.  Normalised
before comparing: channel ids, channel tokens, resourceIds, addresses, expirations
(and params.ttl), page tokens and file ids in paths — values a caller picks each run.
Entries whose path starts /token or /_standin/ are left out.  Batch requests are
compared through their batch_parts.  Prints each difference; exit 1 if any, 0 if none,
2 on bad input.
"""

import json
import re
import sys

VARIABLE_BODY = {"id", "token", "resourceId", "address", "expiration"}
VARIABLE_QUERY = {"pageToken"}
VARIABLE_PARAMS = {"ttl"}


def load(fn):
    with open(fn) as f:
        text = f.read()
    if text.lstrip().startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(l) for l in text.splitlines() if l.strip()]
    out = []
    for it in items:
        if it.get("batch_parts"):
            out.extend(p for p in it["batch_parts"] if "path" in p)
            continue
        if it.get("path", "").startswith(("/token", "/_standin/")):
            continue
        out.append(it)
    return out


def norm_path(p):
    p = re.sub(r"^(/drive/v3/files/)[^/]+(/watch)$", r"\1<fileId>\2", p)
    p = re.sub(r"^(/calendar/v3/calendars/)[^/]+(/events/watch)$", r"\1<calendarId>\2", p)
    return p


def norm_body(b, top=True):
    if isinstance(b, dict):
        out = {}
        for k, v in b.items():
            if top and k in VARIABLE_BODY:
                out[k] = "<%s>" % k
            elif top and k == "params" and isinstance(v, dict):
                out[k] = {pk: ("<%s>" % pk if pk in VARIABLE_PARAMS else pv)
                          for pk, pv in v.items()}
            else:
                out[k] = norm_body(v, False)
        return out
    return b


def norm(r):
    q = {k: ("<%s>" % k if k in VARIABLE_QUERY else v) for k, v in (r.get("query") or {}).items()}
    return {"method": r.get("method"), "path": norm_path(r.get("path", "")), "query": q,
            "body": norm_body(r.get("body"))}


def diff(a, b, where, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append("%s.%s: only in B (%s)" % (where, k, json.dumps(b[k])))
            elif k not in b:
                out.append("%s.%s: only in A (%s)" % (where, k, json.dumps(a[k])))
            else:
                diff(a[k], b[k], "%s.%s" % (where, k), out)
    elif a != b:
        out.append("%s: A %s, B %s" % (where, json.dumps(a), json.dumps(b)))


def main():
    if len(sys.argv) != 3:
        print("usage: compare.py A B", file=sys.stderr)
        return 2
    try:
        a, b = load(sys.argv[1]), load(sys.argv[2])
    except (OSError, ValueError) as e:
        print("compare.py: %s" % e, file=sys.stderr)
        return 2
    out = []
    if len(a) != len(b):
        out.append("count: A has %d requests, B has %d" % (len(a), len(b)))
    for i, (x, y) in enumerate(zip(a, b)):
        nx, ny = norm(x), norm(y)
        diff(nx, ny, "#%d %s %s" % (i + 1, nx["method"], nx["path"]), out)
    for line in out:
        print(line)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
