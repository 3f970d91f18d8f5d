#!/usr/bin/python3
"""The stand-in Google checked against Google's own clients and against its interface
(tests/google/README.md): peer-auth.py (python3-google-auth), peer-node.js (@googleapis
clients), peer-batch.py (googleapiclient BatchHttpRequest), compare.py, deliveries to a
local receiver, every fault kind, and a wrong-name certificate refused by curl.
Starts its servers in a temp dir and always stops them; every wait is bounded."""

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import http.server
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
tmp = tempfile.mkdtemp(prefix="standin-t.")
procs = []
n = 0
failed = 0


def ok(cond, name, diag=None):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)
    if not cond:
        failed += 1
        for line in str(diag if diag is not None else "").splitlines()[:40]:
            print("# " + line)
    return cond


def skip(name, why):
    global n
    n += 1
    print("ok %d - %s # SKIP %s" % (n, name, why), flush=True)


# ---- a tiny receiver for deliveries (plain HTTP on loopback) ------------------------
received = []


class Recv(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        received.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                          self.headers.items()},
                         "body": body.decode("utf-8", "replace")})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


recv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recv)
threading.Thread(target=recv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
RPORT = recv.server_address[1]


def start(d, *extra):
    p = subprocess.Popen([PY, os.path.join(HERE, "standin.py"), "--dir", d, "--max-seconds",
                          "300"] + list(extra), stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, os.path.basename(d) + ".err"), "w"))
    procs.append(p)
    for _ in range(150):  # <= 30 s
        if os.path.exists(os.path.join(d, "base")) or p.poll() is not None:
            break
        time.sleep(0.2)
    if not os.path.exists(os.path.join(d, "base")):
        return None
    return open(os.path.join(d, "base")).read().strip()


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    recv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    D = os.path.join(tmp, "g")
    base = start(D, "--deliver", "https://hooks.example.com=http://127.0.0.1:%d/hook" % RPORT)
    if not ok(base is not None, "stand-in starts and writes DIR/base",
              open(os.path.join(tmp, "g.err")).read() if os.path.exists(os.path.join(tmp, "g.err")) else ""):
        return
    ca = os.path.join(D, "ca.pem")
    ctx = ssl.create_default_context(cafile=ca)
    env = dict(os.environ, REQUESTS_CA_BUNDLE=ca, NODE_EXTRA_CA_CERTS=ca)
    env.pop("CURL_CA_BUNDLE", None)

    def req(method, path, body=None, headers=None, raw=False, timeout=20):
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        r = urllib.request.Request(base + path, data=data, method=method, headers=h)
        try:
            resp = urllib.request.urlopen(r, context=ctx, timeout=timeout)
            status, hdrs, content = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, content = e.code, e.headers, e.read()
        if raw:
            return status, hdrs, content
        try:
            return status, json.loads(content) if content.strip() else None
        except ValueError:
            return status, content.decode("utf-8", "replace")

    # Files as the spec says.
    for f, mode in (("sa.json", 0o600), ("authorized_user.json", 0o600), ("server.key", 0o600)):
        ok(os.stat(os.path.join(D, f)).st_mode & 0o777 == mode, "%s is mode %o" % (f, mode))
    sa = json.load(open(os.path.join(D, "sa.json")))
    ok(sa["token_uri"] == base + "/token" and sa["type"] == "service_account"
       and all(sa.get(k) for k in ("private_key_id", "client_email", "client_id")),
       "sa.json has the fields and token_uri", json.dumps({k: v for k, v in sa.items()
                                                           if k != "private_key"}))

    def run(name, argv, timeout=180):
        try:
            p = subprocess.run(argv, env=env, cwd=HERE, capture_output=True, text=True,
                               timeout=timeout)
            return ok(p.returncode == 0, name, p.stdout + p.stderr)
        except subprocess.TimeoutExpired as e:
            return ok(False, name + " (timed out)", e)

    # ---- Google's own clients --------------------------------------------------------
    run("peer-auth.py: google-auth service_account and authorized_user, tampered key refused",
        [PY, "peer-auth.py", D])
    node_log = os.path.join(tmp, "node.jsonl")
    have_modules = os.path.isdir(os.path.join(HERE, "node_modules", "@googleapis", "admin"))
    if not have_modules and shutil.which("npm"):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, env=env,
                       capture_output=True, timeout=300)
        have_modules = os.path.isdir(os.path.join(HERE, "node_modules", "@googleapis", "admin"))
    if not have_modules or not shutil.which("node"):
        skip("peer-node.js", "npm ci could not install @googleapis/* (offline?)")
    else:
        if run("peer-node.js: five watches and four stops by @googleapis clients",
               ["node", "peer-node.js", D, node_log]):
            lines = [json.loads(l) for l in open(node_log)]
            stops = [l["path"] for l in lines if l["path"].endswith("/stop")]
            ok(stops == ["/admin/directory_v1/channels/stop", "/admin/reports_v1/channels/stop",
                         "/drive/v3/channels/stop", "/calendar/v3/channels/stop"],
               "Node clients' stop URLs", stops)
            # What the stand-in recorded for the Node client equals what it sent.
            st, seen = req("GET", "/_standin/requests")
            mine = [r for r in seen if "google-api-nodejs-client" in
                    r["headers"].get("x-goog-api-client", "") + r["headers"].get("user-agent", "")
                    and r["path"] != "/token"]
            rec = os.path.join(tmp, "recorded.json")
            json.dump(mine, open(rec, "w"))
            p = subprocess.run([PY, os.path.join(HERE, "compare.py"), node_log, rec],
                               capture_output=True, text=True, timeout=30)
            ok(p.returncode == 0 and len(mine) == 9,
               "compare.py: the stand-in's record of the Node requests matches the client's",
               p.stdout + p.stderr + " (%d recorded)" % len(mine))
            # compare.py finds a difference: a missing query key and a changed body value.
            alt = [json.loads(l) for l in open(node_log)]
            del alt[0]["query"]["event"]
            alt[1]["body"]["type"] = "webhook"
            altf = os.path.join(tmp, "alt.jsonl")
            open(altf, "w").write("".join(json.dumps(x) + "\n" for x in alt))
            p = subprocess.run([PY, os.path.join(HERE, "compare.py"), node_log, altf],
                               capture_output=True, text=True, timeout=30)
            ok(p.returncode == 1 and "event" in p.stdout and "type" in p.stdout
               and len(p.stdout.splitlines()) == 2, "compare.py reports exactly the two "
               "differences and exits 1", p.stdout)
    run("peer-batch.py: googleapiclient BatchHttpRequest (watches, stops, one failing part)",
        [PY, "peer-batch.py", D])

    # ---- deliveries --------------------------------------------------------------------
    st, tok = req("POST", "/token", ("grant_type=refresh_token&client_id=%s&client_secret=%s"
                                     "&refresh_token=%s" % tuple(
                                         json.load(open(os.path.join(D, "authorized_user.json")))[k]
                                         for k in ("client_id", "client_secret",
                                                   "refresh_token"))).encode(),
                  {"Content-Type": "application/x-www-form-urlencoded"})
    ok(st == 200 and tok.get("token_type") == "Bearer" and tok.get("expires_in") == 3600,
       "refresh-token grant by hand", tok)
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    before = len(received)
    st, ch = req("POST", "/calendar/v3/calendars/primary/events/watch",
                 {"id": "t-deliv-1", "type": "web_hook", "token": "tok-1",
                  "address": "https://hooks.example.com/gpush/notify"}, auth)
    ok(st == 200 and ch["id"] == "t-deliv-1" and ch["token"] == "tok-1"
       and isinstance(ch["expiration"], str), "calendar watch answered", ch)
    for _ in range(100):  # <= 10 s
        if len(received) > before:
            break
        time.sleep(0.1)
    sync = received[before] if len(received) > before else {}
    h = sync.get("headers", {})
    ok(sync.get("path") == "/hook/gpush/notify" and h.get("x-goog-resource-state") == "sync"
       and h.get("x-goog-message-number") == "1" and h.get("x-goog-channel-id") == "t-deliv-1"
       and h.get("x-goog-channel-token") == "tok-1"
       and h.get("x-goog-resource-id") == ch.get("resourceId")
       and h.get("x-goog-channel-expiration", "").endswith("GMT") and sync.get("body") == "",
       "the sync arrived at the receiver through --deliver", sync)
    st, r = req("POST", "/_standin/notify", {"id": "t-deliv-1", "state": "exists"})
    ok(st == 200 and r["status"] == 200 and r["number"] > 1, "a notification is delivered", r)
    st, r2 = req("POST", "/_standin/notify", {"id": "t-deliv-1", "state": "exists",
                                              "body": {"kind": "x"}})
    ok(st == 200 and r2["number"] > r["number"], "message numbers increase", (r, r2))
    st, dl = req("GET", "/_standin/deliveries")
    mine = [d for d in dl if d["id"] == "t-deliv-1"]
    ok([d["state"] for d in mine] == ["sync", "exists", "exists"]
       and all(d["status"] == 200 for d in mine), "/_standin/deliveries lists them", mine)
    st, _ = req("POST", "/calendar/v3/channels/stop", {"id": "t-deliv-1", "resourceId": "no"},
                auth)
    ok(st == 404, "stop with a wrong resourceId: 404")
    st, _ = req("POST", "/drive/v3/channels/stop", {"id": "t-deliv-1",
                                                    "resourceId": ch["resourceId"]}, auth)
    ok(st == 404, "stop through another API's endpoint: 404")
    st, body = req("POST", "/calendar/v3/channels/stop", {"id": "t-deliv-1",
                                                          "resourceId": ch["resourceId"]}, auth)
    ok(st == 204 and body is None, "stop: 204, empty body")
    n_recv = len(received)
    st, r = req("POST", "/_standin/notify", {"id": "t-deliv-1", "state": "exists"})
    ok(st == 409 and len(received) == n_recv, "a stopped channel gets no more deliveries", r)
    st, body = req("POST", "/calendar/v3/channels/stop", {"id": "t-deliv-1",
                                                          "resourceId": ch["resourceId"]}, auth)
    ok(st == 404 and "Channel 't-deliv-1' not found for project" in body["error"]["message"],
       "a second stop: 404 Channel 'ID' not found for project", body)

    # ---- Google's checks on a watch ----------------------------------------------------
    W = "/admin/directory/v1/users/watch?domain=example.com&event=add"
    chk = {"id": "t-w", "type": "web_hook", "address": "https://hooks.example.com/w"}

    def reason(b):
        try:
            return b["error"]["errors"][0]["reason"]
        except (TypeError, KeyError, IndexError):
            return None
    st, b = req("POST", W, dict(chk, address="http://hooks.example.com/w"), auth)
    ok(st == 400 and reason(b) == "push.webhookUrlNotHttps", "http address refused", b)
    st, b = req("POST", W, dict(chk, id="bad id!"), auth)
    ok(st == 400 and reason(b) == "push.channelIdInvalid", "bad channel id refused", b)
    st, b = req("POST", W, dict(chk, id="x" * 65), auth)
    ok(st == 400 and reason(b) == "push.channelIdInvalid", "65-char channel id refused", b)
    st, b = req("POST", W, dict(chk, token="t" * 257), auth)
    ok(st == 400, "257-char channel token refused", b)
    st, b = req("POST", W, dict(chk, expiration=int(time.time())), auth)
    ok(st == 400 and "Invalid ttl value for channel" in b["error"]["message"],
       "expiration in seconds (in the past as ms) refused: Invalid ttl value", b)
    t0 = int(time.time() * 1000)
    st, b = req("POST", W, dict(chk, params={"ttl": "999999"}), auth)
    ok(st == 200 and 0 <= int(b["expiration"]) - t0 - 172800000 <= 60000,
       "Directory params.ttl capped at 2 days", b)
    st, b = req("POST", W, dict(chk, params={"ttl": "60"}), auth)
    ok(st == 400 and reason(b) == "push.channelIdNotUnique", "reused id: channelIdNotUnique", b)
    st, b = req("POST", W.replace("&event=add", "&event=add").replace("domain=example.com&", ""),
                dict(chk, id="t-w2"), auth)
    ok(st == 400, "users.watch without domain or customer refused", b)
    st, b = req("POST", "/drive/v3/changes/watch", dict(chk, id="t-w3"), auth)
    ok(st == 400 and reason(b) == "required", "changes.watch without pageToken refused", b)
    t0 = int(time.time() * 1000)
    st, b = req("POST", "/drive/v3/files/F/watch", dict(chk, id="t-w4",
                                                         expiration=str(t0 + 30 * 86400000)),
                auth)
    ok(st == 200 and 0 <= int(b["expiration"]) - t0 - 86400000 <= 60000,
       "Drive files.watch capped at 1 day", b)
    st, b = req("POST", "/admin/reports/v1/activity/users/all/applications/login/watch",
                dict(chk, id="t-w5"), auth)
    ok(st == 200 and 0 <= int(b["expiration"]) - t0 - 21600000 <= 60000,
       "Reports default 6 h", b)
    st, b = req("POST", W, dict(chk, id="t-w6"))
    ok(st == 401 and reason(b) == "required", "no Authorization: 401 required", b)
    st, _, b = req("GET", "/nope", None, auth, raw=True)
    ok(st == 404 and b"<html" in b.lower(),
       "unknown path: Google's HTML 404", b)

    # ---- faults --------------------------------------------------------------------
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    rbody = ("grant_type=refresh_token&client_id=%s&client_secret=%s&refresh_token=%s" % tuple(
        json.load(open(os.path.join(D, "authorized_user.json")))[k]
        for k in ("client_id", "client_secret", "refresh_token"))).encode()
    req("POST", "/_standin/faults", [{"path": "^/token$", "status": 500, "times": 1}])
    s1, b1 = req("POST", "/token", rbody, form)
    s2, b2 = req("POST", "/token", rbody, form)
    ok(s1 == 500 and b1.get("error") == "internal_failure" and s2 == 200,
       "fault: token endpoint 500 then 200", (s1, b1, s2))
    req("POST", "/_standin/faults", [{"path": "/watch$", "status": 429, "times": 1,
                                      "headers": {"Retry-After": "1"}}])
    s1, h1, c1 = req("POST", W, dict(chk, id="t-f1"), auth, raw=True)
    s2, b2 = req("POST", W, dict(chk, id="t-f1"), auth)
    ok(s1 == 429 and reason(json.loads(c1)) == "rateLimitExceeded" and h1["Retry-After"] == "1"
       and s2 == 200, "fault: watch 429 (rateLimitExceeded) then 200", (s1, c1, s2, b2))
    req("POST", "/_standin/faults", [{"path": "/watch$", "status": 403,
                                      "reason": "push.webhookUrlUnauthorized"}])
    s1, b1 = req("POST", W, dict(chk, id="t-f2"), auth)
    ok(s1 == 403 and reason(b1) == "push.webhookUrlUnauthorized" and b1["error"]["message"]
       == "Unauthorized WebHook callback channel: https://hooks.example.com/w",
       "fault: push.webhookUrlUnauthorized", b1)
    req("POST", "/_standin/faults", [{"path": "/watch$", "action": "hang", "seconds": 4}])
    c = subprocess.run(["curl", "-sS", "--cacert", ca, "--max-time", "1", "-X", "POST",
                        base + "/drive/v3/files/F/watch"], capture_output=True, timeout=30)
    ok(c.returncode == 28, "fault: hang (curl times out, exit 28)", c.stderr)
    req("POST", "/_standin/faults", [{"path": "/watch$", "action": "close"}])
    c = subprocess.run(["curl", "-sS", "--cacert", ca, "--max-time", "20", "-X", "POST",
                        base + "/drive/v3/files/F/watch"], capture_output=True, timeout=30)
    ok(c.returncode == 52, "fault: close (curl: empty reply, exit 52)", c.stderr)
    req("POST", "/_standin/faults", [{"path": "/watch$", "action": "huge"}])
    s1, h1, c1 = req("POST", W, dict(chk, id="t-f3"), auth, raw=True, timeout=60)
    ok(s1 == 200 and len(c1) == 10 * 1024 * 1024, "fault: huge (10 MiB answer)", len(c1))
    req("POST", "/_standin/faults", [{"path": "/watch$", "action": "notjson"}])
    s1, h1, c1 = req("POST", W, dict(chk, id="t-f4"), auth, raw=True)
    ok(s1 == 200 and h1["Content-Type"].startswith("text/html") and c1.startswith(b"<!DOCTYPE"),
       "fault: notjson", c1[:100])
    st, fl = req("GET", "/_standin/faults")
    ok(all(f["times"] == 0 for f in fl), "every fault was used up", fl)
    st, e = req("POST", "/_standin/expire-tokens")
    s1, b1 = req("POST", W, dict(chk, id="t-f5"), auth)
    ok(s1 == 401 and reason(b1) == "authError" and b1["error"]["message"] == "Invalid Credentials",
       "expire-tokens: the next use gets 401 authError", b1)
    st, tok = req("POST", "/token", rbody, form)
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    st, _ = req("DELETE", "/_standin/faults")
    ok(st == 204, "DELETE /_standin/faults")

    # ---- a hand-written batch (google-channels.md §3), one part failing ----------------
    req("POST", "/_standin/faults", [{"path": "^/drive/v3/files/BAD/watch$", "status": 500}])
    parts = []
    for i, fid in enumerate(("GOOD", "BAD")):
        body = json.dumps({"id": "t-b%d" % i, "type": "web_hook",
                           "address": "https://hooks.example.com/b"})
        parts.append("--XyZ\r\nContent-Type: application/http\r\nContent-ID: <item%d>\r\n\r\n"
                     "POST https://www.googleapis.com/drive/v3/files/%s/watch HTTP/1.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s\r\n"
                     % (i + 1, fid, len(body), body))
    mp = ("".join(parts) + "--XyZ--\r\n").encode()
    s1, h1, c1 = req("POST", "/batch/drive/v3", mp,
                     dict(auth, **{"Content-Type": "multipart/mixed; boundary=XyZ"}), raw=True)
    text = c1.decode()
    ok(s1 == 200 and h1["Content-Type"].startswith("multipart/mixed; boundary=")
       and "Content-ID: <response-item1>" in text and "Content-ID: <response-item2>" in text
       and text.index("response-item1") < text.index("response-item2")
       and "HTTP/1.1 200 OK" in text and "HTTP/1.1 500 Internal Server Error" in text
       and '"t-b0"' in text and "backendError" in text,
       "batch: part 1 200, part 2 fails alone with 500, response-ids in order", text[:3000])
    s1, h1, c1 = req("POST", "/batch/drive/v3", ("".join(parts[:1]) * 101 + "--XyZ--\r\n")
                     .encode(), dict(auth, **{"Content-Type": "multipart/mixed; boundary=XyZ"}),
                     raw=True)
    ok(s1 == 400, "batch: 101 Drive parts refused", c1[:300])

    # ---- inspection shapes ---------------------------------------------------------
    st, chans = req("GET", "/_standin/channels")
    ok(st == 200 and any(c["id"] == "t-deliv-1" and c["stopped"] for c in chans)
       and all(set(c) >= {"id", "resourceId", "api", "address", "token", "expiration",
                          "stopped"} for c in chans), "/_standin/channels shape")
    st, reqs = req("GET", "/_standin/requests")
    secret = tok["access_token"]
    dump = json.dumps(reqs) + open(os.path.join(D, "requests.jsonl")).read()
    ok(secret not in dump and json.load(open(os.path.join(D, "authorized_user.json")))
       ["refresh_token"] not in dump and "<redacted:valid>" in dump
       and "<redacted:invalid>" in dump, "requests log redacts tokens and secrets")

    # ---- a certificate for the wrong name is refused ---------------------------------
    D2 = os.path.join(tmp, "wrong")
    base2 = start(D2, "--cert-name", "wrong.example")
    if ok(base2 is not None, "second stand-in with --cert-name wrong.example starts"):
        port2 = open(os.path.join(D2, "port")).read().strip()
        c = subprocess.run(["curl", "-sS", "--cacert", os.path.join(D2, "ca.pem"), "--max-time",
                            "20", base2 + "/_standin/channels"], capture_output=True,
                           timeout=30, env=env)
        ok(c.returncode == 60, "curl --cacert refuses the wrong-name certificate (exit 60)",
           c.stderr)
        c = subprocess.run(["curl", "-sS", "--cacert", os.path.join(D2, "ca.pem"), "--max-time",
                            "20", "--resolve", "wrong.example:%s:127.0.0.1" % port2,
                            "https://wrong.example:%s/_standin/channels" % port2],
                           capture_output=True, timeout=30, env=env)
        ok(c.returncode == 0, "the same certificate is accepted for its own name", c.stderr)
    # SIGTERM stops it.
    p = procs[0]
    p.terminate()
    try:
        p.wait(15)
        ok(p.returncode == 0, "stand-in stops on SIGTERM (exit 0)", p.returncode)
    except subprocess.TimeoutExpired:
        ok(False, "stand-in stops on SIGTERM")


try:
    main()
except Exception:
    import traceback
    ok(False, "the test itself raised", traceback.format_exc())
finally:
    cleanup()
print("1..%d" % n)
sys.exit(1 if failed else 0)
