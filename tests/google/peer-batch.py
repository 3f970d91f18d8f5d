#!/usr/bin/python3
"""Google's own Python API client (Debian python3-googleapi) batches against the stand-in.

Usage: peer-batch.py DIR    (DIR of a running standin.py)   Prints TAP.

Debian's googleapiclient is 1.7.12: it has no static_discovery / client_options and ships
no discovery documents (build() would fetch them from www.googleapis.com).  So the
service is made with build_from_document() from the part of Drive v3's discovery
document that the calls need (paths, parameters, httpMethod, Channel schema, batchPath
"batch/drive/v3"), with rootUrl pointed at the stand-in.  googleapiclient then builds
and serialises the batch itself (BatchHttpRequest), and parses the stand-in's
multipart answer into per-part callbacks, which is what is checked.
"""

import json
import os
import sys
import uuid

import google_auth_httplib2
import httplib2
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError

DIR = sys.argv[1]
BASE = open(os.path.join(DIR, "base")).read().strip()
CA = os.path.join(DIR, "ca.pem")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib.tap import Tap  # noqa: E402  (the tests' one TAP writer)

T = Tap()


def ok(cond, name, diag=None):
    """T.ok(), with diag printed when cond is false."""
    if not T.ok(cond, name) and diag:
        T.diag(diag, indent="# ")


CHANNEL = {"id": "Channel", "type": "object", "properties": {
    "address": {"type": "string"}, "expiration": {"type": "string", "format": "int64"},
    "id": {"type": "string"}, "kind": {"type": "string", "default": "api#channel"},
    "params": {"type": "object", "additionalProperties": {"type": "string"}},
    "payload": {"type": "boolean"}, "resourceId": {"type": "string"},
    "resourceUri": {"type": "string"}, "token": {"type": "string"},
    "type": {"type": "string"}}}
SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
# An excerpt of Drive v3's discovery document (rev. of googleapis/google-api-python-
# client's discovery_cache/documents/drive.v3.json): only what these calls use.
DRIVE_V3 = {
    "kind": "discovery#restDescription", "discoveryVersion": "v1", "id": "drive:v3",
    "name": "drive", "version": "v3", "protocol": "rest",
    "rootUrl": BASE + "/", "servicePath": "drive/v3/", "batchPath": "batch/drive/v3",
    "baseUrl": BASE + "/drive/v3/",
    "parameters": {"alt": {"type": "string", "default": "json", "enum": ["json"],
                           "location": "query"}},
    "auth": {"oauth2": {"scopes": {SCOPES[0]: {"description": "read"}}}},
    "schemas": {"Channel": CHANNEL},
    "resources": {
        "changes": {"methods": {"watch": {
            "id": "drive.changes.watch", "path": "changes/watch", "httpMethod": "POST",
            "parameters": {"pageToken": {"type": "string", "required": True,
                                         "location": "query"},
                           "supportsAllDrives": {"type": "boolean", "location": "query"}},
            "parameterOrder": ["pageToken"], "request": {"$ref": "Channel",
                                                          "parameterName": "resource"},
            "response": {"$ref": "Channel"}, "scopes": SCOPES,
            "supportsSubscription": True}}},
        "files": {"methods": {"watch": {
            "id": "drive.files.watch", "path": "files/{fileId}/watch", "httpMethod": "POST",
            "parameters": {"fileId": {"type": "string", "required": True,
                                      "location": "path"}},
            "parameterOrder": ["fileId"], "request": {"$ref": "Channel",
                                                       "parameterName": "resource"},
            "response": {"$ref": "Channel"}, "scopes": SCOPES,
            "supportsSubscription": True}}},
        "channels": {"methods": {"stop": {
            "id": "drive.channels.stop", "path": "channels/stop", "httpMethod": "POST",
            "request": {"$ref": "Channel", "parameterName": "resource"},
            "scopes": SCOPES}}},
    },
}

creds = service_account.Credentials.from_service_account_file(
    os.path.join(DIR, "sa.json"), scopes=SCOPES)
http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(ca_certs=CA, timeout=30))
print("# googleapiclient %s" % getattr(__import__("googleapiclient"), "__version__", "?"))
svc = discovery.build_from_document(DRIVE_V3, http=http)

hook = "https://hooks.example.com/batch"
ids = ["peer-batch-a-" + uuid.uuid4().hex, "peer-batch-b-" + uuid.uuid4().hex]
# A channel to stop inside the batch: made first with a single call.
first = svc.files().watch(fileId="STOPME", body={
    "id": "peer-batch-s-" + uuid.uuid4().hex, "type": "web_hook", "address": hook}).execute()
ok(first.get("kind") == "api#channel", "single files.watch through googleapiclient",
   json.dumps(first))

results = {}


def cb(request_id, response, exception):
    results[request_id] = (response, exception)


batch = svc.new_batch_http_request(callback=cb)
batch.add(svc.changes().watch(pageToken="42", body={
    "id": ids[0], "type": "web_hook", "address": hook, "token": "t-a"}), request_id="w1")
batch.add(svc.files().watch(fileId="FILE1", body={
    "id": ids[1], "type": "web_hook", "address": hook, "token": "t-b"}), request_id="w2")
batch.add(svc.channels().stop(body={"id": first["id"], "resourceId": first["resourceId"]}),
          request_id="s1")
# A part that must fail on its own: stop of a channel that does not exist.
batch.add(svc.channels().stop(body={"id": "no-such-channel", "resourceId": "x"}),
          request_id="s2")
batch.execute()
ok(set(results) == {"w1", "w2", "s1", "s2"}, "every part got its callback", results)
r, e = results.get("w1", (None, "missing"))
ok(e is None and r and r.get("id") == ids[0] and r.get("token") == "t-a",
   "part w1 (changes.watch) answered with its own channel", (r, e))
r, e = results.get("w2", (None, "missing"))
ok(e is None and r and r.get("id") == ids[1] and r.get("resourceUri", "").find("FILE1") > 0,
   "part w2 (files.watch) answered with its own channel", (r, e))
r, e = results.get("s1", (None, "missing"))
ok(e is None, "part s1 (channels.stop) succeeded (204 -> empty)", (r, e))
r, e = results.get("s2", (None, "missing"))
ok(isinstance(e, HttpError) and e.resp.status == 404 and b"not found" in e.content,
   "part s2 (stop of an unknown channel) failed alone with 404", (r, e))

# What the stand-in saw: one batch request with the parts googleapiclient serialised.
h = httplib2.Http(ca_certs=CA, timeout=30)
resp, content = h.request(BASE + "/_standin/requests")
reqs = json.loads(content)
batches = [q for q in reqs if q["path"] == "/batch/drive/v3"]
ok(batches and len(batches[-1].get("batch_parts", [])) == 4,
   "the stand-in parsed one batch of 4 parts", json.dumps(batches[-1:])[:2000])
if batches:
    parts = batches[-1]["batch_parts"]
    paths = sorted(p.get("path") for p in parts)
    ok(paths == sorted(["/drive/v3/changes/watch", "/drive/v3/files/FILE1/watch",
                        "/drive/v3/channels/stop", "/drive/v3/channels/stop"]),
       "part paths as googleapiclient wrote them", paths)
    ok(all(p["headers"].get("authorization") == "Bearer <redacted:valid>" for p in parts),
       "each part carried googleapiclient's Authorization", [p["headers"] for p in parts])
resp, content = h.request(BASE + "/_standin/channels")
chans = {c["id"]: c for c in json.loads(content)}
ok(chans.get(first["id"], {}).get("stopped") is True and ids[0] in chans and ids[1] in chans,
   "stand-in state: the two batch channels exist, the stopped one is stopped")
sys.exit(T.done())
