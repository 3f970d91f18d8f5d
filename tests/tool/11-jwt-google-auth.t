#!/bin/bash
# The JWT of the jwt-bearer grant against Google's own client library
# (Debian's python3-google-auth): its RSASigner makes the very same
# signature over our signing input (RS256 PKCS#1 v1.5 is deterministic),
# its jwt.decode() verifies ours, and its jwt.encode() of the same claims
# has the same header and claims.  Also openssl dgst -verify.
. "$(dirname "$0")/lib.sh"
T_AUTH=$REPO/tests/unit/t_auth
[ -x "$T_AUTH" ] || { echo "1..0 # SKIP tests/unit/t_auth not built"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP no openssl"; exit 0; }
/usr/bin/python3 -c 'import google.auth.crypt, google.auth.jwt' 2>/dev/null ||
	{ echo "1..0 # SKIP python3-google-auth missing"; exit 0; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem" 2>/dev/null
IAT=$(date +%s)
AUD=https://oauth2.googleapis.com/token
SCOPE="https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/drive.readonly"
for SUB in admin@example.com -; do
	JWT=$("$T_AUTH" jwt "$T/key.pem" key-id-1 sa@p.iam.gserviceaccount.com "$SUB" \
	    "$SCOPE" "$AUD" "$IAT")
	is "$?" 0 "t_auth made a JWT (sub $SUB)"
	# openssl: the signature over header.claims verifies.
	printf '%s' "${JWT%.*}" >"$T/input"
	/usr/bin/python3 -c 'import base64,sys; s=sys.argv[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))' \
	    "${JWT##*.}" >"$T/sig"
	openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/input" >/dev/null 2>&1
	ok $? "openssl dgst -verify accepts the signature (sub $SUB)"
	printf 'x' >>"$T/input"
	openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/input" >/dev/null 2>&1
	[ $? -ne 0 ]; ok $? "... and refuses it over other bytes"
	OUT=$(/usr/bin/python3 - "$JWT" "$T/key.pem" "$T/pub.pem" "$SUB" "$SCOPE" "$AUD" "$IAT" <<'PY'
import base64, json, sys
from google.auth import crypt, jwt
tok, keyf, pubf, sub, scope, aud, iat = sys.argv[1:]
iat = int(iat)
def d(s): return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
def b(x): return base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h, c, s = tok.split(".")
signer = crypt.RSASigner.from_string(open(keyf).read(), "key-id-1")
print("same-signature" if b(signer.sign((h + "." + c).encode())) == s else "other-signature")
claims = {"iss": "sa@p.iam.gserviceaccount.com", "scope": scope, "aud": aud,
          "iat": iat, "exp": iat + 3600}
if sub != "-": claims["sub"] = sub
got = jwt.decode(tok, certs=open(pubf).read(), audience=aud)
print("decode-ok" if got == claims else "decode-differs %r" % got)
print("header-ok" if d(h) == {"alg": "RS256", "typ": "JWT", "kid": "key-id-1"} else "header %r" % d(h))
theirs = jwt.encode(signer, claims).decode()
th, tc, _ = theirs.split(".")
print("same-as-google" if d(th) == d(h) and d(tc) == d(c) else "differs %r %r" % (d(th), d(tc)))
print("unpadded" if "=" not in tok else "padded")
PY
)
	like "$OUT" "same-signature" "google-auth's RSASigner makes the same signature (sub $SUB)"
	like "$OUT" "decode-ok" "google-auth's jwt.decode verifies it, claims as expected"
	like "$OUT" "header-ok" "header {alg RS256, typ JWT, kid}"
	like "$OUT" "same-as-google" "google-auth's jwt.encode of the claims: same header and claims"
	like "$OUT" "unpadded" "base64url unpadded"
done
done_testing
