#!/usr/bin/env python3
"""A stand-in Google for gpush's tests (issue 10; interface: tests/google/README.md).

HTTPS on 127.0.0.1 with a test CA it makes: the OAuth token endpoint, the web_hook
watch methods of Directory, Reports, Drive and Calendar, their channels.stop, their
batch endpoints, sync and notification deliveries, injected faults and test-only
inspection paths under /_standin/.  It checks requests the way Google's documents say
Google does (/work/shared/google-channels.md); it is driven by Google's own clients
(peer-auth.py, peer-node.js, peer-batch.py) so that it is not tuned to gpush.

Standard library plus python3-cryptography only.  Loopback only: a delivery goes out
only to an address rewritten by --deliver; any other address is recorded as
undeliverable, never contacted.
"""

import argparse
import base64
import datetime
import email.utils
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import secrets
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # a python3 without it (e.g. pyenv): Debian's has it
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

G = "https://www.googleapis.com/auth/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROJECT_NUMBER = "614522779305"
CHANNEL_ID_RE = re.compile(r"^[A-Za-z0-9\-_\+/=]+$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_\-]+={0,2}$")
HUGE_BYTES = 10 * 1024 * 1024
UA = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

# Scopes (google-channels.md §1): any one of them allows the call.
DIRECTORY_WATCH = {G + "admin.directory.user", G + "admin.directory.user.readonly",
                   "https://www.googleapis.com/auth/cloud-platform"}
DIRECTORY_ALIAS = DIRECTORY_WATCH | {G + "admin.directory.user.alias",
                                     G + "admin.directory.user.alias.readonly"}
DIRECTORY_STOP = DIRECTORY_ALIAS
REPORTS = {G + "admin.reports.audit.readonly"}
DRIVE = {G + s for s in ("drive", "drive.appdata", "drive.file", "drive.metadata",
                         "drive.metadata.readonly", "drive.photos.readonly",
                         "drive.readonly")}
CAL_EVENTS = {G + s for s in ("calendar", "calendar.readonly", "calendar.events",
                              "calendar.events.readonly", "calendar.events.owned",
                              "calendar.events.owned.readonly",
                              "calendar.events.public.readonly", "calendar.app.created",
                              "calendar.events.freebusy")}
CAL_LIST = {G + s for s in ("calendar", "calendar.readonly", "calendar.calendarlist",
                            "calendar.calendarlist.readonly")}
CAL_ACL = {G + "calendar"}
CAL_SETTINGS = {G + s for s in ("calendar", "calendar.readonly",
                                "calendar.settings.readonly")}
CAL_STOP = {G + s for s in ("calendar", "calendar.events", "calendar.events.readonly",
                            "calendar.readonly", "calendar.settings.readonly")}
# What the authorized_user refresh token was granted (its consent).
USER_GRANTED = DIRECTORY_ALIAS | REPORTS | DRIVE | CAL_EVENTS | CAL_LIST | CAL_SETTINGS

REPORTS_APPS = {"access_transparency", "admin", "calendar", "chat", "chrome",
                "context_aware_access", "data_studio", "drive", "gcp", "gplus", "groups",
                "groups_enterprise", "jamboard", "keep", "login", "meet", "mobile",
                "rules", "saml", "token", "user_accounts"}
DIRECTORY_EVENTS = {"add", "delete", "makeAdmin", "undelete", "update"}

HOUR, DAY = 3600, 86400
# Watch methods: (api, kind, path regex, scopes, default lifetime s, max lifetime s or
# None).  Lifetimes from google-channels.md §1: Directory params.ttl default 2 h max
# 2 d; Reports 6 h both; Drive files 1 d / changes 1 w, default 1 h; Calendar default
# 1 w, no published maximum (none applied).
WATCHES = [
    ("directory", "users", r"^/admin/directory/v1/users/watch$", DIRECTORY_WATCH,
     2 * HOUR, 2 * DAY),
    ("directory", "aliases", r"^/admin/directory/v1/users/([^/]+)/aliases/watch$",
     DIRECTORY_ALIAS, 2 * HOUR, 2 * DAY),
    ("reports", "activities",
     r"^/admin/reports/v1/activity/users/([^/]+)/applications/([^/]+)/watch$",
     REPORTS, 6 * HOUR, 6 * HOUR),
    ("drive", "changes", r"^/drive/v3/changes/watch$", DRIVE, HOUR, 7 * DAY),
    ("drive", "files", r"^/drive/v3/files/([^/]+)/watch$", DRIVE, HOUR, DAY),
    ("calendar", "events", r"^/calendar/v3/calendars/([^/]+)/events/watch$",
     CAL_EVENTS, 7 * DAY, None),
    ("calendar", "calendarList", r"^/calendar/v3/users/me/calendarList/watch$",
     CAL_LIST, 7 * DAY, None),
    ("calendar", "acl", r"^/calendar/v3/calendars/([^/]+)/acl/watch$", CAL_ACL,
     7 * DAY, None),
    ("calendar", "settings", r"^/calendar/v3/users/me/settings/watch$", CAL_SETTINGS,
     7 * DAY, None),
]
STOPS = {
    "/admin/directory_v1/channels/stop": ("directory", DIRECTORY_STOP),
    "/admin/reports_v1/channels/stop": ("reports", REPORTS),
    "/drive/v3/channels/stop": ("drive", DRIVE),
    "/calendar/v3/channels/stop": ("calendar", CAL_STOP),
}
# Batch endpoint -> (APIs its parts may address, max parts) (google-channels.md §3).
BATCHES = {
    "/batch/drive/v3": ({"drive"}, 100),
    "/batch/calendar/v3": ({"calendar"}, 1000),
    "/batch": ({"directory", "reports"}, 1000),
    "/batch/admin/directory_v1": ({"directory", "reports"}, 1000),
    "/batch/admin/reports_v1": ({"directory", "reports"}, 1000),
}
HOSTS = {"directory": "https://admin.googleapis.com", "reports": "https://admin.googleapis.com",
         "drive": "https://www.googleapis.com", "calendar": "https://www.googleapis.com"}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ABORTED", 413: "INVALID_ARGUMENT",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
DEFAULT_REASONS = {400: ("badRequest", "Bad Request"),
                   401: ("authError", "Invalid Credentials"),
                   403: ("forbidden", "Forbidden"),
                   404: ("notFound", "Not Found"),
                   429: ("rateLimitExceeded", "Rate Limit Exceeded"),
                   500: ("backendError", "Backend Error"),
                   502: ("backendError", "Bad Gateway"),
                   503: ("backendError", "Service Unavailable"),
                   504: ("backendError", "Deadline Exceeded")}
KNOWN_MESSAGES = {"push.webhookUrlUnauthorized": "Unauthorized WebHook callback channel: {address}",
                  "userRateLimitExceeded": "User Rate Limit Exceeded",
                  "rateLimitExceeded": "Rate Limit Exceeded",
                  "authError": "Invalid Credentials",
                  "backendError": "Backend Error"}


def now():
    return time.time()


def b64url_decode(seg):
    """Decodes one JWT segment: base64url, padding optional (google-auth 1.5 pads),
    no whitespace or other characters.  Returns bytes; raises ValueError."""
    if not B64URL_RE.match(seg):
        raise ValueError("bad base64url")
    seg = seg.rstrip("=")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def google_error(code, message, reason=None, extra=None):
    """Google's JSON error body (google-channels.md §5)."""
    if reason is None:
        reason = DEFAULT_REASONS.get(code, ("unknown", message))[0]
    item = {"message": message, "domain": "global", "reason": reason}
    if extra:
        item.update(extra)
    return {"error": {"code": code, "message": message, "errors": [item],
                      "status": STATUS_NAMES.get(code, "UNKNOWN")}}


class Resp:
    """One HTTP answer: status, headers (list), body bytes, and actions to run after
    it is sent (deliveries)."""

    def __init__(self, status, body=b"", ctype=None, headers=None, after=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=2).encode() + b"\n"
            ctype = ctype or "application/json; charset=UTF-8"
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.headers = list(headers or [])
        if ctype and body:
            self.headers.append(("Content-Type", ctype))
        self.after = list(after or [])
        self.action = None  # "hang", "close", "huge": whole-connection faults


def gerr(code, message, reason=None, extra=None):
    return Resp(code, google_error(code, message, reason, extra))


def oauth_err(code, error, description):
    return Resp(code, {"error": error, "error_description": description})


class Standin:
    """All state, guarded by one lock."""

    def __init__(self, args):
        self.args = args
        self.dir = args.dir
        self.lock = threading.Lock()
        self.tokens = {}  # access token -> info
        self.channels = {}  # id -> channel dict
        self.requests = []
        self.deliveries = []
        self.faults = []
        self.stopping = threading.Event()
        self.deliver = []
        for d in args.deliver or []:
            if "=" not in d:
                raise SystemExit("--deliver wants PREFIX=LOCALURL")
            prefix, url = d.split("=", 1)
            host = urllib.parse.urlsplit(url).hostname
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise SystemExit("--deliver: LOCALURL must be on loopback: " + url)
            self.deliver.append((prefix, url))

    # ---- files -----------------------------------------------------------------
    def write_file(self, name, data, mode=0o644):
        """Atomic write into DIR: temp file, fsync, rename, fsync of the directory."""
        if isinstance(data, str):
            data = data.encode()
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix="." + name + ".")
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.dir, name))
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def read_json(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def load_key(self, name):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return serialization.load_pem_private_key(f.read(), None)
        except (OSError, ValueError):
            return None

    def make_files(self, port):
        """CA, server certificate, sa.json and authorized_user.json.  The CA key, the
        service account key and the user's secrets are kept when DIR already has them
        (a restart on the same DIR keeps clients' files valid); token_uri always gets
        the new port."""
        os.makedirs(self.dir, exist_ok=True)
        self.base = "https://127.0.0.1:%d" % port
        self.token_uri = self.base + "/token"
        pem = lambda k: k.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        ca_key = self.load_key("ca.key")
        if ca_key is None:
            ca_key = rsa.generate_private_key(65537, 2048)
            self.write_file("ca.key", pem(ca_key), 0o600)
        t0 = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gpush stand-in test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(t0).not_valid_after(t0 + datetime.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                           False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        srv_key = rsa.generate_private_key(65537, 2048)
        if self.args.cert_name:
            names = [x509.DNSName(self.args.cert_name)]
            cn = self.args.cert_name
        else:
            import ipaddress
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                     x509.IPAddress(ipaddress.ip_address("::1"))]
            cn = "localhost"
        srv = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca_name).public_key(srv_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(t0).not_valid_after(t0 + datetime.timedelta(days=7))
               .add_extension(x509.SubjectAlternativeName(names), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
        cert_pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
        self.write_file("ca.pem", cert_pem(ca))
        self.write_file("server.pem", cert_pem(srv) + cert_pem(ca))
        self.write_file("server.key", pem(srv_key), 0o600)

        old = self.read_json("sa.json") or {}
        sa_key = None
        if old.get("private_key"):
            try:
                sa_key = serialization.load_pem_private_key(old["private_key"].encode(), None)
            except ValueError:
                sa_key = None
        if sa_key is None:
            sa_key = rsa.generate_private_key(65537, 2048)
            old = {}
        self.sa = {
            "type": "service_account",
            "project_id": "gpush-standin",
            "private_key_id": old.get("private_key_id") or secrets.token_hex(20),
            "private_key": pem(sa_key).decode(),
            "client_email": "gpush-test@gpush-standin.iam.gserviceaccount.com",
            "client_id": old.get("client_id") or str(10 ** 20 + secrets.randbelow(10 ** 20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                    "gpush-test%40gpush-standin.iam.gserviceaccount.com",
        }
        self.sa_public = sa_key.public_key()
        self.write_file("sa.json", json.dumps(self.sa, indent=2) + "\n", 0o600)
        old = self.read_json("authorized_user.json") or {}
        self.user = {
            "type": "authorized_user",
            "client_id": old.get("client_id") or
            "%d-standin.apps.googleusercontent.com" % (10 ** 11 + secrets.randbelow(10 ** 11)),
            "client_secret": old.get("client_secret") or "GOCSPX-" + secrets.token_urlsafe(21),
            "refresh_token": old.get("refresh_token") or "1//0" + secrets.token_urlsafe(60),
            "token_uri": self.token_uri,
        }
        self.write_file("authorized_user.json", json.dumps(self.user, indent=2) + "\n", 0o600)
        self.reqlog = open(os.path.join(self.dir, "requests.jsonl"), "a")

    # ---- recording ---------------------------------------------------------------
    def redact_headers(self, headers):
        out = {}
        for k, v in headers.items():
            if k == "authorization":
                tok = v[7:] if v.startswith("Bearer ") else None
                with self.lock:
                    ok = tok is not None and self.token_valid(tok)
                v = "Bearer <redacted:%s>" % ("valid" if ok else "invalid")
            out[k] = v
        return out

    def record(self, method, path, query, headers, body):
        """The logged shape of one request (secrets redacted)."""
        q = {}
        for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items():
            q[k] = v[0] if len(v) == 1 else v
        ctype = headers.get("content-type", "")
        text = body.decode("utf-8", "replace")
        parsed = text
        if path == "/token" or ctype.startswith("application/x-www-form-urlencoded"):
            parsed = {}
            for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items():
                parsed[k] = ("<redacted>" if k in ("assertion", "client_secret",
                                                    "refresh_token", "code") else v[0])
        elif text.strip()[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
        elif ctype.startswith("multipart/"):
            parsed = "<multipart %d bytes>" % len(body)
        return {"method": method, "path": path, "query": q,
                "headers": self.redact_headers(headers), "body": parsed}

    def log_request(self, rec):
        with self.lock:
            self.requests.append(rec)
            self.reqlog.write(json.dumps(rec) + "\n")
            self.reqlog.flush()

    # ---- faults ------------------------------------------------------------------
    def take_fault(self, method, path):
        """The first armed fault whose path regex matches (re.search on the path
        without query) and, if it names one, whose method matches; its count goes
        down by one.  None when no fault applies."""
        with self.lock:
            for f in self.faults:
                if f["times"] <= 0:
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                if re.search(f["path"], path):
                    f["times"] -= 1
                    f["used"] = f.get("used", 0) + 1
                    return dict(f)
        return None

    def take_delivery_fault(self, state):
        """A fault with "method": "DELIVER" whose path regex matches
        "/_deliver/STATE": that delivery is dropped (recorded, not sent), as
        when Google cannot reach the address.  Only such faults apply."""
        with self.lock:
            for f in self.faults:
                if f["times"] > 0 and (f.get("method") or "").upper() == "DELIVER" \
                        and re.search(f["path"], "/_deliver/" + state):
                    f["times"] -= 1
                    f["used"] = f.get("used", 0) + 1
                    return dict(f)
        return None

    def fault_resp(self, f, path, body_json):
        if f.get("action"):
            r = Resp(200)
            r.action = f["action"]
            r.fault = f
            if f["action"] == "notjson":
                return Resp(200, "<!DOCTYPE html><html><body>stand-in: not JSON</body></html>\n",
                            "text/html; charset=UTF-8")
            return r
        code = int(f.get("status", 500))
        hdrs = [(k, str(v)) for k, v in (f.get("headers") or {}).items()]
        if "body" in f:
            b = f["body"]
            return Resp(code, b if isinstance(b, (dict, list)) else str(b),
                        "text/plain; charset=UTF-8" if isinstance(b, str) else None, hdrs)
        if path == "/token":
            err = f.get("reason") or ("internal_failure" if code >= 500 else "invalid_request")
            return Resp(code, {"error": err, "error_description": f.get("message", "stand-in fault")},
                        headers=hdrs)
        reason = f.get("reason") or DEFAULT_REASONS.get(code, ("unknown", "Error"))[0]
        msg = f.get("message") or KNOWN_MESSAGES.get(reason) or \
            DEFAULT_REASONS.get(code, (None, "Error"))[1]
        addr = body_json.get("address", "") if isinstance(body_json, dict) else ""
        return Resp(code, google_error(code, msg.replace("{address}", str(addr)), reason),
                    headers=hdrs)

    # ---- tokens ------------------------------------------------------------------
    def token_valid(self, tok):
        t = self.tokens.get(tok)
        return bool(t) and not t["expired"] and t["exp"] > now()

    def issue(self, scopes, kind, client, sub):
        tok = "ya29.standin-" + secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[tok] = {"scopes": set(scopes), "kind": kind, "client": client,
                                "sub": sub, "exp": now() + self.args.token_seconds,
                                "expired": False}
        return Resp(200, {"access_token": tok, "expires_in": self.args.token_seconds,
                          "token_type": "Bearer"}, headers=[("Cache-Control", "no-store")])

    def token_endpoint(self, method, headers, body):
        if method != "POST":
            return oauth_err(405, "invalid_request", "Method not allowed")
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if any(len(v) != 1 for v in form.values()):
            return oauth_err(400, "invalid_request", "Duplicate parameter")
        form = {k: v[0] for k, v in form.items()}
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            return self.jwt_grant(form.get("assertion", ""))
        if grant == "refresh_token":
            return self.refresh_grant(form)
        if not grant:
            return oauth_err(400, "unsupported_grant_type", "Invalid grant_type: ")
        return oauth_err(400, "unsupported_grant_type", "Invalid grant_type: " + grant)

    def jwt_grant(self, assertion):
        """Verifies a service account's JWT as Google documents (google-channels.md §2,
        §5) and issues a token for its scopes."""
        parts = assertion.split(".")
        if len(parts) != 3:
            return oauth_err(400, "invalid_grant", "Invalid JWT: Malformed.")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            return oauth_err(400, "invalid_grant", "Invalid JWT Signature.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return oauth_err(400, "invalid_grant", "Invalid JWT: Malformed.")
        if header.get("alg") != "RS256":
            return oauth_err(400, "invalid_grant", "Invalid JWT: alg must be RS256.")
        if header.get("typ", "JWT") != "JWT":
            return oauth_err(400, "invalid_grant", "Invalid JWT: typ must be JWT.")
        if "kid" in header and header["kid"] != self.sa["private_key_id"]:
            return oauth_err(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            self.sa_public.verify(sig, (parts[0] + "." + parts[1]).encode(),
                                  padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return oauth_err(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.sa["client_email"]:
            return oauth_err(401, "invalid_client", "The OAuth client was not found.")
        if claims.get("aud") != self.token_uri:
            return oauth_err(400, "invalid_grant",
                             "Invalid JWT: Failed audience check. The right audience is "
                             + self.token_uri)
        iat, exp = claims.get("iat"), claims.get("exp")
        t = now()
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or \
                isinstance(iat, bool) or isinstance(exp, bool):
            return oauth_err(400, "invalid_grant", "Invalid JWT: iat and exp are required.")
        if iat > t + 60 or exp <= t - 60 or exp - iat > 3600 or exp <= iat:
            return oauth_err(400, "invalid_grant",
                             "Invalid JWT: Token must be a short-lived token (60 minutes) and "
                             "in a reasonable timeframe. Check your iat and exp values in the "
                             "JWT claim.")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip() or "," in scope:
            return oauth_err(400, "invalid_scope",
                             "Invalid OAuth scope or ID token audience provided.")
        sub = claims.get("sub")
        if sub is not None and (not isinstance(sub, str) or "@" not in sub):
            return oauth_err(400, "invalid_grant", "Invalid email or User ID")
        if sub is not None and sub.split("@", 1)[0] == "unknown":
            return oauth_err(400, "invalid_grant", "Invalid email or User ID")
        if sub is not None and sub.split("@", 1)[0] == "undelegated":
            return oauth_err(401, "unauthorized_client",
                             "Client is unauthorized to retrieve access tokens using this "
                             "method, or client not authorized for any of the scopes requested.")
        return self.issue(scope.split(), "service_account", self.sa["client_id"], sub)

    def refresh_grant(self, form):
        if form.get("client_id") != self.user["client_id"] or \
                not secrets.compare_digest(form.get("client_secret", ""),
                                           self.user["client_secret"]):
            return oauth_err(401, "invalid_client", "Unauthorized")
        if not secrets.compare_digest(form.get("refresh_token", ""),
                                      self.user["refresh_token"]):
            return oauth_err(400, "invalid_grant", "Bad Request")
        scopes = USER_GRANTED
        if form.get("scope"):
            asked = set(form["scope"].split())
            if not asked <= USER_GRANTED:
                return oauth_err(400, "invalid_scope",
                                 "Some requested scopes were invalid.")
            scopes = asked
        return self.issue(scopes, "authorized_user", self.user["client_id"], None)

    def authorize(self, headers, scopes, api):
        """Checks the bearer token for a call needing one of `scopes`.  Returns
        (token info, None) or (None, error Resp)."""
        auth = headers.get("authorization", "")
        if not auth:
            return None, gerr(401, "Request is missing required authentication credential. "
                              "Expected OAuth 2 access token, login cookie or other valid "
                              "authentication credential.", "required",
                              {"location": "Authorization", "locationType": "header"})
        tok = auth[7:] if auth[:7].lower() == "bearer " else ""
        with self.lock:
            info = self.tokens.get(tok) if self.token_valid(tok) else None
        if info is None:
            return None, gerr(401, "Invalid Credentials", "authError",
                              {"location": "Authorization", "locationType": "header"})
        if not (info["scopes"] & scopes):
            return None, gerr(403, "Request had insufficient authentication scopes.",
                              "insufficientPermissions")
        # The Admin SDK needs an impersonated admin for a service account (§2).
        if api in ("directory", "reports") and info["kind"] == "service_account" \
                and not info["sub"]:
            return None, gerr(403, "Not Authorized to access this resource/api", "forbidden")
        return info, None

    # ---- watch / stop ------------------------------------------------------------
    def watch(self, spec, m, query, headers, body):
        api, kind, _, scopes, default_ttl, max_ttl = spec
        info, err = self.authorize(headers, scopes, api)
        if err:
            return err
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        try:
            ch = json.loads(body.decode("utf-8")) if body.strip() else None
        except (ValueError, UnicodeDecodeError) as e:
            return gerr(400, "Invalid JSON payload received. %s" % e, "parseError")
        if not isinstance(ch, dict):
            return gerr(400, "Required", "required")
        resource = [urllib.parse.unquote(g) for g in m.groups()]
        if api == "directory" and kind == "users":
            if not (q.get("domain") or q.get("customer")):
                return gerr(400, "Bad Request", "badRequest")
            ev = q.get("event", [None])[0]
            if ev is not None and ev not in DIRECTORY_EVENTS:
                return gerr(400, "Invalid value for: event", "invalid")
        if api == "reports" and resource[1] not in REPORTS_APPS:
            return gerr(400, "Invalid value '%s'. Values must match the following regular "
                        "expression: '(%s)'" % (resource[1], "|".join(sorted(REPORTS_APPS))),
                        "invalidParameter", {"location": "applicationName",
                                             "locationType": "parameter"})
        if api == "drive" and kind == "changes" and not q.get("pageToken", [""])[0]:
            return gerr(400, "Required parameter: pageToken", "required",
                        {"location": "pageToken", "locationType": "parameter"})
        cid = ch.get("id")
        if not isinstance(cid, str) or not cid:
            return gerr(400, "Channel id must be set.", "required")
        if len(cid) > 64 or not CHANNEL_ID_RE.match(cid):
            return gerr(400, "Channel id %s is invalid. It must match [A-Za-z0-9\\-_\\+/=]+ "
                        "and be at most 64 characters." % cid[:80], "push.channelIdInvalid")
        ctype = ch.get("type")
        if ctype != "web_hook" and not (api == "calendar" and ctype == "webhook"):
            return gerr(400, "Invalid value for: type is not a supported channel type.",
                        "invalid")
        addr = ch.get("address")
        if not isinstance(addr, str) or not addr:
            return gerr(400, "WebHook callback must have a host or address.",
                        "push.webhookUrlNoHostOrAddress")
        sp = urllib.parse.urlsplit(addr)
        if sp.scheme.lower() != "https":
            return gerr(400, "WebHook callback must be HTTPS: " + addr, "push.webhookUrlNotHttps")
        if not sp.hostname:
            return gerr(400, "WebHook callback must have a host or address.",
                        "push.webhookUrlNoHostOrAddress")
        token = ch.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            return gerr(400, "Channel token must be a string of at most 256 characters.",
                        "invalid")
        t_ms = int(now() * 1000)
        lifetime = default_ttl
        requested = []
        params = ch.get("params")
        if params is not None and not isinstance(params, dict):
            return gerr(400, "Invalid value for: params", "invalid")
        if params and "ttl" in params:
            try:
                ttl = int(str(params["ttl"]))
            except ValueError:
                return gerr(400, "Invalid ttl value for channel %s" % params["ttl"], "invalid")
            if ttl <= 0:
                return gerr(400, "Invalid ttl value for channel %d" % ttl, "invalid")
            requested.append(t_ms + ttl * 1000)
        if "expiration" in ch and ch["expiration"] is not None:
            e = ch["expiration"]
            try:
                if isinstance(e, bool) or not isinstance(e, (int, str)):
                    raise ValueError
                e = int(e)
            except ValueError:
                return gerr(400, "Invalid value for: expiration", "invalid")
            if e <= t_ms:
                return gerr(400, "Invalid ttl value for channel %d" % ((e - t_ms) // 1000),
                            "invalid")
            requested.append(e)
        exp = min(requested) if requested else t_ms + lifetime * 1000
        if max_ttl is not None:
            exp = min(exp, t_ms + max_ttl * 1000)
        key = "%s:%s:%s:%s" % (api, kind, "/".join(resource),
                               "&".join("%s=%s" % (k, q[k][0]) for k in sorted(q)
                                        if k in ("domain", "customer", "event", "pageToken",
                                                 "driveId")))
        rid = base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:18]).decode()
        path = m.string[:-len("/watch")]
        ruri = HOSTS[api] + path + "?" + (query + "&" if query else "") + "alt=json"
        with self.lock:
            if cid in self.channels:
                return gerr(400, "Channel id %s not unique" % cid, "push.channelIdNotUnique")
            c = {"id": cid, "resourceId": rid, "api": api, "kind": kind, "address": addr,
                 "token": token, "expiration": exp, "resourceUri": ruri, "stopped": False,
                 "client": info["client"], "owner_kind": info["kind"], "number": 0,
                 "lock": threading.Lock()}
            self.channels[cid] = c
        out = {"kind": "api#channel", "id": cid, "resourceId": rid, "resourceUri": ruri,
               "expiration": str(exp)}
        if token is not None:
            out["token"] = token
        c["lock"].acquire()  # released by the sync delivery: it goes first
        return Resp(200, out, after=[lambda: self.send_sync(c)])

    def stop(self, api, scopes, headers, body):
        info, err = self.authorize(headers, scopes, api)
        if err:
            return err
        try:
            b = json.loads(body.decode("utf-8")) if body.strip() else None
        except (ValueError, UnicodeDecodeError) as e:
            return gerr(400, "Invalid JSON payload received. %s" % e, "parseError")
        if not isinstance(b, dict) or not isinstance(b.get("id"), str) or not b["id"]:
            return gerr(400, "Required", "required")
        cid = b["id"]
        with self.lock:
            c = self.channels.get(cid)
            if c is None or c["api"] != api or c["stopped"] or \
                    b.get("resourceId") != c["resourceId"]:
                return gerr(404, "Channel '%s' not found for project '%s'"
                            % (cid, PROJECT_NUMBER), "notFound")
            # Same-client rule (google-channels.md §0): a user's channel only by the same
            # client id; a service account's by anyone of the same client.
            if info["client"] != c["client"]:
                return gerr(403, "The caller is not the owner of channel '%s'." % cid,
                            "stopChannelCallerNotOwner")
            c["stopped"] = True
        return Resp(204)

    # ---- deliveries --------------------------------------------------------------
    def route(self, address):
        for prefix, url in self.deliver:
            if address.startswith(prefix):
                return url + address[len(prefix):]
        return None

    def post(self, c, state, number, body=None, extra=None):
        """One delivery to the channel's address (rewritten by --deliver); records
        it.  Returns the record."""
        exp = email.utils.formatdate(c["expiration"] / 1000, usegmt=True)
        hdrs = {"X-Goog-Channel-ID": c["id"], "X-Goog-Channel-Expiration": exp,
                "X-Goog-Resource-ID": c["resourceId"], "X-Goog-Resource-URI": c["resourceUri"],
                "X-Goog-Resource-State": state, "X-Goog-Message-Number": str(number),
                "User-Agent": UA, "Accept": "*/*"}
        if c["token"] is not None:
            hdrs["X-Goog-Channel-Token"] = c["token"]
        for k, v in (extra or {}).items():
            hdrs[k] = str(v)
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json; charset=UTF-8"
        hdrs["Content-Length"] = str(len(data))
        rec = {"id": c["id"], "state": state, "number": number, "status": None,
               "address": c["address"]}
        url = self.route(c["address"])
        drop = self.take_delivery_fault(state)
        if drop is not None:
            rec["error"] = "dropped by a DELIVER fault (not contacted)"
        elif url is None:
            rec["error"] = "no --deliver route for the address (not contacted)"
        else:
            rec["url"] = url
            sp = urllib.parse.urlsplit(url)
            try:
                if sp.scheme == "https":
                    ctx = ssl.create_default_context(cafile=self.args.deliver_cacert)
                    conn = http.client.HTTPSConnection(sp.hostname, sp.port, timeout=10,
                                                       context=ctx)
                else:
                    conn = http.client.HTTPConnection(sp.hostname, sp.port, timeout=10)
                target = (sp.path or "/") + ("?" + sp.query if sp.query else "")
                conn.request("POST", target, body=data, headers=hdrs)
                resp = conn.getresponse()
                resp.read(65536)
                rec["status"] = resp.status
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
        with self.lock:
            self.deliveries.append(rec)
        return rec

    def send_sync(self, c):
        try:
            c["number"] = 1
            self.post(c, "sync", 1)
        finally:
            c["lock"].release()

    def notify(self, req):
        if not isinstance(req, dict) or not isinstance(req.get("id"), str):
            return Resp(400, {"error": "want {\"id\":ID,\"state\":STATE,\"body\":{...}}"})
        with self.lock:
            c = self.channels.get(req["id"])
        if c is None:
            return Resp(404, {"error": "no such channel"})
        with c["lock"]:
            if c["stopped"] or c["expiration"] <= now() * 1000:
                return Resp(409, {"error": "channel is %s"
                                  % ("stopped" if c["stopped"] else "expired")})
            c["number"] += random.randint(1, 7)
            rec = self.post(c, str(req.get("state", "exists")), c["number"],
                            req.get("body"), req.get("headers"))
        return Resp(200, rec)

    # ---- control paths -----------------------------------------------------------
    def control(self, method, path, body):
        def js():
            return json.loads(body.decode("utf-8")) if body.strip() else None
        try:
            if method == "GET" and path == "/_standin/channels":
                with self.lock:
                    return Resp(200, [{k: (c[k] if k != "expiration" else str(c[k]))
                                       for k in ("id", "resourceId", "api", "kind", "address",
                                                 "token", "expiration", "stopped")}
                                      for c in self.channels.values()])
            if method == "GET" and path == "/_standin/requests":
                with self.lock:
                    return Resp(200, list(self.requests))
            if method == "GET" and path == "/_standin/deliveries":
                with self.lock:
                    return Resp(200, list(self.deliveries))
            if method == "POST" and path == "/_standin/notify":
                return self.notify(js())
            if method == "POST" and path == "/_standin/faults":
                fl = js()
                fl = fl if isinstance(fl, list) else [fl]
                add = []
                for f in fl:
                    if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                        return Resp(400, {"error": "each fault needs a \"path\" regex"})
                    re.compile(f["path"])
                    if (f.get("method") or "").upper() == "DELIVER" and \
                            f.get("action") != "drop":
                        return Resp(400, {"error": "a DELIVER fault's action is \"drop\""})
                    if f.get("action") not in (None, "hang", "close", "made-close",
                                               "huge", "notjson", "drop"):
                        return Resp(400, {"error": "unknown action %r" % f.get("action")})
                    if not f.get("action") and "status" not in f:
                        return Resp(400, {"error": "a fault needs \"status\" or \"action\""})
                    f = dict(f)
                    f["times"] = int(f.get("times", 1))
                    add.append(f)
                with self.lock:
                    self.faults.extend(add)
                return Resp(200, {"armed": len(add)})
            if method == "GET" and path == "/_standin/faults":
                with self.lock:
                    return Resp(200, list(self.faults))
            if method == "DELETE" and path == "/_standin/faults":
                with self.lock:
                    self.faults = []
                return Resp(204)
            if method == "POST" and path == "/_standin/expire-tokens":
                with self.lock:
                    for t in self.tokens.values():
                        t["expired"] = True
                    n = len(self.tokens)
                return Resp(200, {"expired": n})
        except (ValueError, re.error) as e:
            return Resp(400, {"error": str(e)})
        return Resp(404, {"error": "unknown control path"})

    # ---- dispatch ----------------------------------------------------------------
    def api_of(self, path):
        for spec in WATCHES:
            if re.match(spec[2], path):
                return spec[0]
        if path in STOPS:
            return STOPS[path][0]
        return None

    def dispatch(self, method, path, query, headers, body):
        """Answers one Google request (not a batch, not a control path)."""
        if path == "/token":
            return self.token_endpoint(method, headers, body)
        for spec in WATCHES:
            m = re.match(spec[2], path)
            if m:
                if method != "POST":
                    return gerr(405, "Method not allowed", "methodNotAllowed")
                return self.watch(spec, m, query, headers, body)
        if path in STOPS:
            if method != "POST":
                return gerr(405, "Method not allowed", "methodNotAllowed")
            return self.stop(STOPS[path][0], STOPS[path][1], headers, body)
        # Google answers an unknown path with an HTML 404, not JSON.
        return Resp(404, "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title>"
                    "<p><b>404.</b> <ins>That's an error.</ins><p>The requested URL <code>%s"
                    "</code> was not found on this server. <ins>That's all we know.</ins>\n"
                    % path.replace("<", "&lt;"), "text/html; charset=UTF-8")

    def one(self, method, path, query, headers, body):
        """A request with faults applied: the fault's answer, or dispatch's."""
        f = self.take_fault(method, path)
        if f and f.get("action") == "made-close":
            # Done as asked (channel made, sync sent), then the connection is
            # closed unanswered: what a retry after a lost answer meets.
            r = self.dispatch(method, path, query, headers, body)
            r.action = "close"
            return r
        if f:
            bj = None
            try:
                bj = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass
            return self.fault_resp(f, path, bj)
        return self.dispatch(method, path, query, headers, body)

    # ---- batch -------------------------------------------------------------------
    def batch(self, path, headers, body):
        """A multipart/mixed batch (google-channels.md §3).  Returns (Resp, part
        records)."""
        apis, limit = BATCHES[path]
        ctype = headers.get("content-type", "")
        m = re.match(r'^\s*multipart/mixed\s*;.*?boundary\s*=\s*("([^"]+)"|([^;\s]+))', ctype,
                     re.I)
        if not m:
            return gerr(400, "Invalid multipart request: Content-Type must be multipart/mixed "
                        "with a boundary.", "badRequest"), []
        boundary = (m.group(2) or m.group(3)).encode()
        chunks = re.split(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)",
                          body)
        # re.split with a group yields [pre, g, part, g, part, ..., g(--), epilogue]
        parts = []
        i = 1
        closed = False
        while i + 1 < len(chunks):
            if chunks[i] == b"--":
                closed = True
                break
            parts.append(chunks[i + 1])
            i += 2
        if not closed or not parts:
            return gerr(400, "Invalid multipart request with 0 mime parts.", "badRequest"), []
        if len(parts) > limit:
            return gerr(400, "A batch request cannot contain more than %d requests." % limit,
                        "batchSizeTooLarge"), []
        outer = {k: v for k, v in headers.items() if not k.startswith("content-")}
        inner = []
        for p in parts:
            inner.append(self.parse_part(p, outer))
        order = list(range(len(inner)))
        random.shuffle(order)  # Google may run the parts in any order (§3).
        results = [None] * len(inner)
        records = [None] * len(inner)
        after = []
        for n in order:
            it = inner[n]
            if isinstance(it, Resp):
                results[n] = it
                records[n] = {"error": "unparsable part"}
                continue
            method, ipath, iquery, ih, ib, _ = it
            records[n] = self.record(method, ipath, iquery, ih, ib)
            api = self.api_of(ipath)
            if api is None or api not in apis:
                r = gerr(400, "The batch endpoint %s does not serve %s." % (path, ipath),
                         "badRequest") if api else self.dispatch(method, ipath, iquery, ih, ib)
            else:
                r = self.one(method, ipath, iquery, ih, ib)
            if r.action in ("hang", "close", "huge"):
                r = gerr(503, "Service Unavailable", "backendError")
            results[n] = r
            after.extend(r.after)
        boundary_out = "batch_" + secrets.token_hex(12)
        out = []
        for n, r in enumerate(results):
            cid = inner[n][5] if not isinstance(inner[n], Resp) else None
            hdr = "Content-Type: application/http\r\n"
            if cid:
                rid = ("<response-" + cid[1:]) if cid.startswith("<") and cid.endswith(">") \
                    else "response-" + cid
                hdr += "Content-ID: " + rid + "\r\n"
            reason = http.client.responses.get(r.status, "Unknown")
            ih = "HTTP/1.1 %d %s\r\n" % (r.status, reason)
            for k, v in r.headers:
                ih += "%s: %s\r\n" % (k, v)
            ih += "Content-Length: %d\r\n\r\n" % len(r.body)
            out.append(("--%s\r\n%s\r\n" % (boundary_out, hdr)).encode() + ih.encode() + r.body
                       + b"\r\n")
        data = b"".join(out) + ("--%s--\r\n" % boundary_out).encode()
        return Resp(200, data, "multipart/mixed; boundary=" + boundary_out, after=after), records

    def parse_part(self, p, outer):
        """One part: MIME headers, blank line, an inner HTTP request.  Returns
        (method, path, query, headers, body, content_id) or an error Resp."""
        def split_head(b):
            m = re.search(rb"\r?\n\r?\n", b)
            if not m:
                return b, b""
            return b[:m.start()], b[m.end():]
        mh, rest = split_head(p)
        mime = {}
        for line in re.split(rb"\r?\n", mh):
            if b":" in line:
                k, v = line.split(b":", 1)
                mime[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        cid = mime.get("content-id")
        if not mime.get("content-type", "").lower().startswith("application/http"):
            return Resp(400, google_error(400, "Each part must be application/http.",
                                          "badRequest"))
        head, ibody = split_head(rest)
        lines = re.split(rb"\r?\n", head)
        try:
            method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        except ValueError:
            try:
                method, target = lines[0].decode("latin-1").split(" ", 1)
            except ValueError:
                return Resp(400, google_error(400, "Bad inner request line.", "badRequest"))
        sp = urllib.parse.urlsplit(target)
        ih = dict(outer)
        for line in lines[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                ih[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        if "content-length" in ih:
            try:
                ibody = ibody[:int(ih["content-length"])]
            except ValueError:
                pass
        ibody = ibody.rstrip(b"\r\n")
        return (method.upper(), sp.path, sp.query, ih, ibody, cid)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *a):
        if self.server.standin.args.verbose:
            sys.stderr.write("standin: " + (fmt % a) + "\n")

    def do_ANY(self):
        st = self.server.standin
        sp = urllib.parse.urlsplit(self.path)
        path, query = sp.path, sp.query
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            try:
                n = int(n or 0)
            except ValueError:
                n = -1
            if n < 0 or n > 64 * 1024 * 1024:
                self.reply(Resp(413, google_error(413, "Request too large", "badRequest")))
                return
            body = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_standin/"):
            self.reply(st.control(self.command, path, body))
            return
        rec = st.record(self.command, path, query, headers, body)
        if path in BATCHES and self.command == "POST":
            f = st.take_fault(self.command, path)
            if f and f.get("action") == "made-close":
                r, parts = st.batch(path, headers, body)
                rec["batch_parts"] = parts
                r.action = "close"
            elif f:
                r = st.fault_resp(f, path, None)
            else:
                r, parts = st.batch(path, headers, body)
                rec["batch_parts"] = parts
        else:
            r = st.one(self.command, path, query, headers, body)
        st.log_request(rec)
        self.reply(r)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_ANY

    def read_chunked(self):
        out = b""
        for _ in range(100000):
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                break
            out += self.rfile.read(size)
            self.rfile.readline()
            if len(out) > 64 * 1024 * 1024:
                break
        return out

    def reply(self, r):
        st = self.server.standin
        try:
            if r.action == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if r.action == "hang":
                # Bounded: the fault's "seconds" (default 30) or until the stand-in stops.
                st.stopping.wait(float(getattr(r, "fault", {}).get("seconds", 30)))
                self.close_connection = True
                return
            if r.action == "huge":
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                head = b'{"kind":"api#channel","padding":"'
                tail = b'"}'
                self.send_header("Content-Length", str(HUGE_BYTES))
                self.end_headers()
                self.wfile.write(head)
                left = HUGE_BYTES - len(head) - len(tail)
                chunk = b"x" * 65536
                while left > 0:
                    self.wfile.write(chunk[:left])
                    left -= min(left, len(chunk))
                self.wfile.write(tail)
                return
            self.send_response(r.status)
            for k, v in r.headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(r.body)))
            self.end_headers()
            if r.body and self.command != "HEAD":
                self.wfile.write(r.body)
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            for a in r.after:
                threading.Thread(target=a, daemon=True).start()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's own thread, so a client that
        # connects and stalls (or refuses our certificate) blocks nobody else.
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.standin.args.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="A stand-in Google on 127.0.0.1 for tests.")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--deliver", action="append", metavar="PREFIX=LOCALURL")
    ap.add_argument("--deliver-cacert", metavar="FILE",
                    help="CA file for https LOCALURLs (default: the system's)")
    ap.add_argument("--cert-name", metavar="NAME",
                    help="the server certificate names only NAME (to test a refusal)")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--token-seconds", type=int, default=3600,
                    help="lifetime of issued access tokens (expires_in)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    args.dir = os.path.abspath(args.dir)
    st = Standin(args)
    srv = Server(("127.0.0.1", 0), Handler, bind_and_activate=True)
    srv.standin = st
    port = srv.server_address[1]
    os.makedirs(args.dir, exist_ok=True)
    for f in ("port", "base"):
        try:
            os.unlink(os.path.join(args.dir, f))
        except FileNotFoundError:
            pass
    st.make_files(port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.dir, "server.pem"),
                        os.path.join(args.dir, "server.key"))
    srv.ctx = ctx

    def stop(*_):
        st.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = threading.Timer(args.max_seconds, stop)
    timer.daemon = True
    timer.start()
    st.write_file("port", "%d\n" % port)
    st.write_file("base", st.base + "\n")
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        st.stopping.set()
        srv.server_close()
        timer.cancel()


if __name__ == "__main__":
    main()
