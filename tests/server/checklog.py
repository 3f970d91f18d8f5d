#!/usr/bin/env python3
"""checklog -- compares gsender's report with gpush's log.

    checklog.py --report report.json --log DIR/notifications.ndjson \\
                --registry DIR/channels.jsonl

Prints one line per check, "PASS: what" or "FAIL: what", and "# ..."
diagnostics; tests/server/lib.sh turns them into TAP.  Exits 0.
"""

import argparse
import json
import sys

REQUIRED = ("received_at", "channel_id", "message_number", "resource_state",
            "resource_id", "resource_uri")


def out(ok, what, diags=()):
    print("%s: %s" % ("PASS" if ok else "FAIL", what))
    for d in list(diags)[:10]:
        print("# " + str(d).replace("\n", " "))
    sys.stdout.flush()


def as_number(v):
    try:
        return int(str(v))
    except ValueError:
        return None


def body_of(rec):
    """The body as logged, parsed; None when there is none."""
    if "body" not in rec:
        return None
    b = rec["body"]
    if isinstance(b, str):
        if b == "":
            return None
        try:
            return json.loads(b)
        except ValueError:
            return b
    return b


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--report", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--label", default="")
    a = p.parse_args()
    lab = (a.label + ": ") if a.label else ""

    rep = json.load(open(a.report))
    chans = {}
    with open(a.registry) as f:
        for line in f:
            if line.strip():
                c = json.loads(line)
                chans[c["id"]] = c
    try:
        raw = open(a.log, "rb").read()
    except FileNotFoundError:
        raw = b""

    # 1. every line is valid JSON, the file ends in a newline
    bad, recs = [], []
    lines = raw.split(b"\n")
    tail = lines.pop()          # after the last newline: must be empty
    for i, line in enumerate(lines, 1):
        try:
            r = json.loads(line.decode("utf-8"))
            if not isinstance(r, dict):
                raise ValueError("not an object")
            recs.append(r)
        except (ValueError, UnicodeDecodeError) as e:
            bad.append("line %d: %s: %r" % (i, e, line[:200]))
    if tail:
        bad.append("no newline after the last line: %r" % tail[:200])
    out(not bad and bool(lines),
        lab + "every log line (%d) is a valid JSON object" % len(lines), bad)

    # 2. the keys of the contract
    missing = ["line %d lacks %s" % (i, k) for i, r in enumerate(recs, 1)
               for k in REQUIRED if k not in r]
    out(not missing, lab + "every line has " + ", ".join(REQUIRED), missing)

    # 3. no token anywhere in the log, no "token" key
    leaks = ["token of %s" % cid for cid, c in chans.items()
             if c.get("token") and c["token"].encode() in raw]
    leaks += ["line %d has a token key" % i for i, r in enumerate(recs, 1)
              if any("token" in k.lower() for k in r)]
    out(not leaks, lab + "no channel token appears in the log", leaks)

    # 4. no (channel, number) twice
    seen, dups = {}, []
    for i, r in enumerate(recs, 1):
        k = (r.get("channel_id"), as_number(r.get("message_number")))
        if k in seen:
            dups.append("%s #%s on lines %d and %d" % (k[0], k[1],
                                                        seen[k], i))
        else:
            seen[k] = i
    out(not dups, lab + "no notification is logged twice", dups)

    # 5. every acknowledged notification is in the log exactly once
    acked = rep.get("acked", [])
    lost = ["%s #%d (acked %s)" % (x["channel"], x["number"], x.get("status"))
            for x in acked if (x["channel"], x["number"]) not in seen]
    out(acked and not lost,
        lab + "every acknowledged notification (%d) is in the log"
        % len(acked), lost)

    # 6. the sender got every planned notification acknowledged
    planned = rep.get("planned", 0)
    notacked = ["%s #%d: %s" % (x["channel"], x["number"],
                                ",".join(x.get("statuses", [])))
                for x in rep.get("failed", [])]
    notacked += ["%s #%d never sent" % (x["channel"], x["number"])
                 for x in rep.get("unsent", [])]
    out(planned and rep.get("acked_count") == planned,
        lab + "every planned notification (%d) was acknowledged" % planned,
        notacked)

    # 7. what was logged is what was sent
    wrong = []
    byk = {(r.get("channel_id"), as_number(r.get("message_number"))): r
           for r in recs}
    for x in acked:
        r = byk.get((x["channel"], x["number"]))
        if r is None:
            continue
        c = chans.get(x["channel"], {})
        where = "%s #%d" % (x["channel"], x["number"])
        if r.get("resource_state") != x["state"]:
            wrong.append("%s: state %r, sent %r" % (
                where, r.get("resource_state"), x["state"]))
        if r.get("resource_id") != c.get("resourceId"):
            wrong.append("%s: resource_id %r" % (where, r.get("resource_id")))
        if r.get("resource_uri") != c.get("resourceUri"):
            wrong.append("%s: resource_uri %r, sent %r" % (
                where, r.get("resource_uri"), c.get("resourceUri")))
        if x.get("changed") and r.get("changed") not in (
                x["changed"], x["changed"].split(",")):
            wrong.append("%s: changed %r, sent %r" % (
                where, r.get("changed"), x["changed"]))
        if body_of(r) != x.get("body"):
            wrong.append("%s: body %r, sent %r" % (
                where, str(r.get("body"))[:80], str(x.get("body"))[:80]))
    out(not wrong, lab + "logged state, resource, changed and body are "
        "those sent", wrong)

    # 8. each channel's sync (number 1) is its first line
    first, badsync = {}, []
    for r in recs:
        first.setdefault(r.get("channel_id"), r)
    for cid, r in first.items():
        if as_number(r.get("message_number")) != 1 or \
                r.get("resource_state") != "sync":
            badsync.append("%s starts with #%s %s" % (
                cid, r.get("message_number"), r.get("resource_state")))
    out(not badsync, lab + "each channel's first logged line is its sync "
        "message", badsync)

    logged = len(recs)
    extra = logged - len([x for x in acked
                          if (x["channel"], x["number"]) in seen])
    print("# figures %s sent=%d acked=%d logged=%d retried=%d "
          "duplicates_sent=%d concurrent_duplicates=%d "
          "logged_not_acked=%d statuses=%s elapsed=%ss" % (
              a.label or "-", rep.get("sent", 0), len(acked), logged,
              rep.get("retried", 0), rep.get("duplicates_sent", 0),
              rep.get("concurrent_duplicates", 0), extra,
              json.dumps(rep.get("status_counts", {}), sort_keys=True),
              rep.get("elapsed_s")))
    for st, text in sorted(rep.get("answers", {}).items()):
        print("# first %s answer: %s" % (st, text.replace("\n", " ")[:200]))
    if rep.get("at_half"):
        h = rep["at_half"]
        print("# restart at %ss after %s acks, rc=%s" % (
            h.get("at_s"), h.get("acked_then"), h.get("rc")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
