#!/usr/bin/python3
"""Google's own Python auth library (Debian python3-google-auth) against the stand-in.

Usage: peer-auth.py DIR    (DIR of a running standin.py)
Prints TAP.  Checks that service_account.Credentials (with subject and scopes) and
google.oauth2.credentials.Credentials (authorized_user) refresh against DIR/sa.json's
token_uri, that each token is accepted on a watch and a stop, and that a JWT signed
with another key is refused with invalid_grant.
"""

import json
import os
import sys
import uuid

import google.auth.exceptions
import google.auth.transport.requests
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

DIR = sys.argv[1]
BASE = open(os.path.join(DIR, "base")).read().strip()
CA = os.path.join(DIR, "ca.pem")
G = "https://www.googleapis.com/auth/"
# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's verify=;
# point them at the test CA too.
os.environ["REQUESTS_CA_BUNDLE"] = CA
os.environ.pop("CURL_CA_BUNDLE", None)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib.tap import Tap  # noqa: E402  (the tests' one TAP writer)

T = Tap()


def ok(cond, name, diag=None):
    """T.ok(), with diag printed when cond is false."""
    if not T.ok(cond, name) and diag:
        T.diag(diag, indent="# ")


def session():
    s = requests.Session()
    s.verify = CA
    return s


def request():
    return google.auth.transport.requests.Request(session=session())


def watch_and_stop(token, url, stop_url, label):
    """A watch with the token, then a stop; both must succeed."""
    cid = "peer-auth-" + uuid.uuid4().hex
    s = session()
    h = {"Authorization": "Bearer " + token}
    r = s.post(BASE + url, headers=h, json={"id": cid, "type": "web_hook",
                                            "address": "https://hooks.example.com/gpush"})
    ok(r.status_code == 200 and r.json().get("id") == cid,
       "%s: token accepted on a watch" % label, r.text)
    if r.status_code != 200:
        return
    r2 = s.post(BASE + stop_url, headers=h, json={"id": cid,
                                                  "resourceId": r.json()["resourceId"]})
    ok(r2.status_code in (200, 204) and not r2.content, "%s: stop accepted" % label, r2.text)


# 1. service account with subject (domain-wide delegation) and scopes.
sa = service_account.Credentials.from_service_account_file(
    os.path.join(DIR, "sa.json"),
    scopes=[G + "admin.directory.user.readonly"], subject="admin@example.com")
try:
    sa.refresh(request())
    ok(bool(sa.token) and sa.valid, "service_account (subject, scopes) refreshes")
except google.auth.exceptions.RefreshError as e:
    ok(False, "service_account (subject, scopes) refreshes", e)
if sa.token:
    watch_and_stop(sa.token, "/admin/directory/v1/users/watch?domain=example.com&event=add",
                   "/admin/directory_v1/channels/stop", "service_account")
    # Wrong scope for the API: 403 insufficientPermissions.
    r = session().post(BASE + "/drive/v3/files/abc/watch",
                       headers={"Authorization": "Bearer " + sa.token},
                       json={"id": "x" + uuid.uuid4().hex, "type": "web_hook",
                             "address": "https://hooks.example.com/x"})
    ok(r.status_code == 403 and r.json()["error"]["errors"][0]["reason"]
       == "insufficientPermissions", "a Directory-scoped token is refused on Drive (403)",
       r.text)

# 2. service account without subject on Drive: fine (its own Drive).
sa2 = service_account.Credentials.from_service_account_file(
    os.path.join(DIR, "sa.json"), scopes=[G + "drive.readonly"])
try:
    sa2.refresh(request())
    ok(sa2.valid, "service_account without subject refreshes")
    watch_and_stop(sa2.token, "/drive/v3/changes/watch?pageToken=1", "/drive/v3/channels/stop",
                   "service_account drive")
except google.auth.exceptions.RefreshError as e:
    ok(False, "service_account without subject refreshes", e)

# 3. authorized_user: the refresh-token grant.
info = json.load(open(os.path.join(DIR, "authorized_user.json")))
uc = user_credentials.Credentials(
    token=None, refresh_token=info["refresh_token"], token_uri=info["token_uri"],
    client_id=info["client_id"], client_secret=info["client_secret"])
try:
    uc.refresh(request())
    ok(bool(uc.token), "authorized_user refreshes")
    watch_and_stop(uc.token, "/calendar/v3/calendars/primary/events/watch",
                   "/calendar/v3/channels/stop", "authorized_user")
except google.auth.exceptions.RefreshError as e:
    ok(False, "authorized_user refreshes", e)

# 4. a wrong client secret is refused.
bad = user_credentials.Credentials(
    token=None, refresh_token=info["refresh_token"], token_uri=info["token_uri"],
    client_id=info["client_id"], client_secret="wrong")
try:
    bad.refresh(request())
    ok(False, "a wrong client secret is refused")
except google.auth.exceptions.RefreshError as e:
    ok("invalid_client" in str(e), "a wrong client secret is refused (invalid_client)", e)

# 5. a JWT signed with another key (same private_key_id, same claims) is refused.
other = json.load(open(os.path.join(DIR, "sa.json")))
key = rsa.generate_private_key(65537, 2048)
other["private_key"] = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
tampered = service_account.Credentials.from_service_account_info(
    other, scopes=[G + "drive.readonly"])
try:
    tampered.refresh(request())
    ok(False, "a JWT signed with another key is refused")
except google.auth.exceptions.RefreshError as e:
    ok("invalid_grant" in str(e) and "Invalid JWT Signature" in str(e),
       "a JWT signed with another key is refused (invalid_grant, Invalid JWT Signature.)", e)

# 6. a token the stand-in did not issue is refused with 401 authError.
r = session().post(BASE + "/drive/v3/changes/watch?pageToken=1",
                   headers={"Authorization": "Bearer ya29.forged"},
                   json={"id": "f" + uuid.uuid4().hex, "type": "web_hook",
                         "address": "https://hooks.example.com/x"})
ok(r.status_code == 401 and r.json()["error"]["errors"][0]["reason"] == "authError",
   "a forged bearer token gets 401 authError", r.text)

sys.exit(T.done())
