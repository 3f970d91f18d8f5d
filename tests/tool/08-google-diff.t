#!/usr/bin/env python3
"""Differential test against Google's own client, googleapiclient.channel.

For the same fields (address, token, expiration, params), the body that
`gpush new` prints must equal Channel.body() of new_webhook_channel(),
apart from the generated id (and token, when none is given); and `gpush
update` must leave the same channel as Channel.update() on the same watch
responses -- among them the Directory guide's example response, with the
expiration as a number and as a JSON string.

Normalizations, stated once and applied only where said:
  N1  expiration: Channel.update() stores the value as given, so a JSON
      string "1384823632000" stays a str; new_webhook_channel() computes a
      float (ms / 1000 arithmetic).  gpush always stores and prints an
      integer.  Python's value is compared as int(value).
  N2  the registry form: gpush's registry line has "kind" and leaves out a
      token that is not set; Channel.body() has no "kind" and puts
      "token": null.  The registry line is compared without "kind", the
      Python body without a null token.
  N3  after N1, an expiration of 0 is "none" on both sides (body() leaves
      out a falsy expiration; gpush stores 0 as none).
TAP on stdout; bounded in time (every command has a timeout); the data
directories are removed on exit.
"""
import atexit
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile


def find_google():
    """Re-executes under a python3 that has googleapiclient, or skips."""
    try:
        import googleapiclient.channel  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("GPUSH_DIFF_REEXEC") != "1":
        for cand in (os.environ.get("PYTHON"), "/usr/bin/python3"):
            if not cand or not os.path.exists(cand):
                continue
            if os.path.realpath(cand) == os.path.realpath(sys.executable):
                continue
            os.environ["GPUSH_DIFF_REEXEC"] = "1"
            os.execv(cand, [cand] + sys.argv)
    print("1..0 # SKIP no python3 with googleapiclient "
          "(apt-get install python3-googleapi)")
    sys.exit(0)


find_google()
from googleapiclient.channel import EPOCH, Channel, new_webhook_channel  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.environ.get("GPUSH_TOOL", "tool/gpush")
if not os.path.isabs(TOOL):
    TOOL = os.path.join(REPO, TOOL)
if not os.access(TOOL, os.X_OK):
    print("1..0 # SKIP no tool at %s (run make first)" % TOOL)
    sys.exit(0)

TMP = tempfile.mkdtemp(prefix="gpush-diff-test.")
atexit.register(shutil.rmtree, TMP, True)
# SIGTERM/SIGINT/SIGHUP: leave through atexit, so that TMP goes too.
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda s, f: sys.exit(128 + s))

sys.path.insert(0, os.path.join(REPO, "tests"))
from lib.tap import Tap  # noqa: E402
TAP = Tap()


def ok(cond, desc, detail=None):
    if not TAP.ok(cond, desc) and detail is not None:
        TAP.diag(detail, indent="# ")


def same(got, want, desc):
    ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))


_dirs = 0


def fresh_dir():
    global _dirs
    _dirs += 1
    d = os.path.join(TMP, "d%d" % _dirs)
    os.mkdir(d, 0o700)
    return d


def gpush(d, *args, stdin=None):
    """Runs the tool on data directory d; returns (rc, stdout, stderr)."""
    p = subprocess.run([TOOL, "-d", d] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if k != "GPUSH_DIR"})
    return p.returncode, p.stdout, p.stderr


def n1(v):
    """N1: the expiration as gpush stores it."""
    return int(v) if v is not None else None


def py_body(ch):
    """Channel.body() with N1, N2 (null token) and N3 applied."""
    b = ch.body()
    if "expiration" in b:
        b["expiration"] = n1(b["expiration"])
        if b["expiration"] == 0:
            del b["expiration"]
    if b.get("token") is None:
        b.pop("token", None)
    return b


def registry_entry(d, cid):
    """gpush's registry line of cid, without "kind" (N2)."""
    with open(os.path.join(d, "channels.jsonl")) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                if o.get("id") == cid:
                    o.pop("kind", None)
                    return o
    return None


def ms_to_datetime(ms):
    """What new_webhook_channel() takes: a naive UTC datetime."""
    return EPOCH + datetime.timedelta(milliseconds=ms)


# ---- new: gpush new's body against Channel.body() ------------------------

NEW_CASES = [
    ("address only", dict(url="https://example.com/hook")),
    ("address and token", dict(url="https://example.com/hook",
                               token="target=myApp-myFilesChannelDest")),
    ("with expiration", dict(url="https://mydomain.com/notifications",
                             token="tok", expiration=4102444800000)),
    ("with params", dict(url="https://example.com/h?x=1&y=2",
                         token="a/b+c=", params={"a": "b", "c": ""})),
    ("everything", dict(url="https://example.com/hook", token="t-1",
                        expiration=1384823632000, params={"k": "v"})),
    ("non-ASCII token and address", dict(url="https://exämple.com/høok",
                                         token="tøken ✓")),
]

for name, case in NEW_CASES:
    d = fresh_dir()
    args = ["new", "--address", case["url"]]
    if "token" in case:
        args += ["--token", case["token"]]
    if "expiration" in case:
        args += ["--expiration", str(case["expiration"])]
    for k, v in case.get("params", {}).items():
        args += ["--param", "%s=%s" % (k, v)]
    rc, out, err = gpush(d, *args)
    same(rc, 0, "new (%s): exit 0" % name)
    ours = json.loads(out)
    ch = new_webhook_channel(
        case["url"], token=case.get("token"),
        expiration=ms_to_datetime(case["expiration"]) if "expiration" in case else None,
        params=case.get("params"))
    # The generated id, and the generated token when none was given.
    ch.id = ours["id"]
    if "token" not in case:
        ok(ch.body()["token"] is None and "token" in ch.body(),
           "new (%s): Python's body has \"token\": null when none is given" % name)
        ch.token = ours["token"]
    want = ch.body()
    if "expiration" in want:
        ok(isinstance(want["expiration"], float),
           "new (%s): Python's expiration is a float (N1 applies)" % name)
        want["expiration"] = n1(want["expiration"])
    same(ours, want, "new (%s): body equals Channel.body()" % name)
    same(list(ours), list(want), "new (%s): same key order as Channel.body()" % name)
    same(out.rstrip("\n"), json.dumps(want, separators=(",", ":"), ensure_ascii=False),
         "new (%s): the same JSON text" % name)

# --ttl is params {"ttl": "N"}: the body of params={"ttl": "3600"}.
d = fresh_dir()
rc, out, err = gpush(d, "new", "--address", "https://example.com/hook",
                     "--token", "tok", "--ttl", "3600")
ours = json.loads(out)
ch = new_webhook_channel("https://example.com/hook", token="tok",
                         params={"ttl": "3600"})
ch.id = ours["id"]
same(ours, ch.body(), "new --ttl 3600: body equals Channel.body() with params ttl \"3600\"")

# ---- update: gpush update against Channel.update() -------------------------

GUIDE = {
    "kind": "api#channel",
    "id": None,  # the channel's own id, filled in
    "resourceId": "B4ibMJiIhTjAQd7Ff2K2bexk8G4",
    "resourceUri": "https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event",
    "token": "target=myApp-myFilesChannelDest",
    "expiration": 1384823632000,
}


def start_channel(d, cid, params=None):
    """The same channel on both sides: gpush new, and new_webhook_channel."""
    args = ["new", "--address", "https://mydomain.com/notifications",
            "--id", cid, "--token", "target=myApp-myFilesChannelDest"]
    for k, v in (params or {}).items():
        args += ["--param", "%s=%s" % (k, v)]
    rc, out, err = gpush(d, *args)
    if rc != 0:
        raise SystemExit("Bail out! gpush new: " + err)
    ch = new_webhook_channel("https://mydomain.com/notifications",
                             token="target=myApp-myFilesChannelDest",
                             params=params)
    ch.id = cid
    same(registry_entry(d, cid), py_body(ch), "update %s: the same channel to start with" % cid)
    return ch


def both_update(d, ch, resp, desc):
    text = json.dumps(resp)
    rc, out, err = gpush(d, "update", stdin=text)
    same((rc, err), (0, ""), "update (%s): exit 0" % desc)
    ch.update(resp)
    same(registry_entry(d, ch.id), py_body(ch),
         "update (%s): the channel equals Channel.update()'s" % desc)


# The guide's example, expiration a number.
d = fresh_dir()
ch = start_channel(d, "01234567-89ab-cdef-0123456789ab")
resp = dict(GUIDE, id=ch.id)
both_update(d, ch, resp, "the guide's example response")
same(ch.expiration, 1384823632000, "Channel.update() keeps a number as a number")

# The guide's example, expiration a JSON string.
d = fresh_dir()
ch = start_channel(d, "4ba78bf0-6a47-11e2-bcfd-0800200c9a66")
resp = dict(GUIDE, id=ch.id, expiration="1384823632000")
both_update(d, ch, resp, "the guide's example with expiration \"1384823632000\"")
same(ch.expiration, "1384823632000",
     "Channel.update() keeps the string (N1: compared as int)")
same(registry_entry(d, ch.id)["expiration"], 1384823632000,
     "gpush stores the string expiration as the integer 1384823632000")

# A sequence of responses on one channel, each merged into the last.
d = fresh_dir()
ch = start_channel(d, "seq-channel", params={"ttl": "3600"})
SEQ = [
    ("the guide's example", dict(GUIDE, id="seq-channel")),
    ("nulls overwrite nothing", {"id": "seq-channel", "resourceId": None,
                                 "token": None, "expiration": None,
                                 "params": None, "address": None}),
    ("a new expiration as a string", {"id": "seq-channel", "expiration": "1384823699000"}),
    ("params replaced", {"id": "seq-channel", "params": {"x": "y", "z": "w"}}),
    ("address and type", {"id": "seq-channel", "address": "https://mydomain.com/other",
                          "type": "web_hook"}),
    ("a new token", {"id": "seq-channel", "token": "another-token"}),
    ("keys the channel has not", {"id": "seq-channel", "etag": "\"x\"",
                                  "payload": True, "kind": "api#channel"}),
    ("an empty resourceUri", {"id": "seq-channel", "resourceUri": ""}),
    ("empty params", {"id": "seq-channel", "params": {}}),
    ("expiration 0 (N3)", {"id": "seq-channel", "expiration": 0}),
    ("a watch response as Google sends it", {
        "kind": "api#channel", "id": "seq-channel",
        "resourceId": "ret08u3rv24htgh289g",
        "resourceUri": "https://admin.googleapis.com/admin/directory/v1/users?domain=mydomain.com&event=delete&alt=json",
        "token": "245t1234tt83trrt333", "expiration": "1386627863000"}),
]
for desc, resp in SEQ:
    both_update(d, ch, resp, desc)

# Unknown id: Channel.update() has no registry; gpush must refuse and
# change nothing.
before = open(os.path.join(d, "channels.jsonl")).read()
rc, out, err = gpush(d, "update", stdin=json.dumps(dict(GUIDE, id="not-there")))
same(rc, 1, "update of an unknown id: exit 1")
same(open(os.path.join(d, "channels.jsonl")).read(), before,
     "update of an unknown id: registry unchanged")

sys.exit(TAP.done())
