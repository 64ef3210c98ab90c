#!/usr/bin/env bash
# HTTP Basic at the lab proxy, where only the label "basic" enables it (for
# simpleenroll, "auth": { "simpleenroll": ["basic"] }; the users file is
# bcrypt, htpasswd -B):
#  - /basic/simpleenroll with BASIC_USER:BASIC_PASS enrolls: auth=basic
#    user=basicuser;
#  - there, no credentials, a wrong password, an unknown user, a malformed
#    credential and a Digest header each get 401 with exactly one challenge,
#    WWW-Authenticate: Basic realm="estrealm", charset="UTF-8";
#  - Basic on the default route (Digest or certificate there) gets 401
#    "authentication scheme not accepted here" with the two Digest
#    challenges and no Basic one;
#  - the label's other operations keep their defaults (simplereenroll wants
#    the certificate; cacerts is open).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=basic-auth-device"

# basic_refused NAME REASON [curl args]: POST to /basic/simpleenroll, 401
# with REASON and the Basic challenge alone.
basic_refused() {
	local name=$1 reason=$2
	shift 2
	T_AUTH=none post_csr "$name" "$EST_URL/basic/simpleenroll" "$WORK/dev.b64" "$@"
	check_error 401
	check_phrase "$reason"
	check_challenges Basic
	check_access "label=basic op=simpleenroll auth=- user=- status=401 upstream=-"
}

# ---- the right password.
T_AUTH=basic enroll_ok basic "$EST_URL/basic/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
has_header WWW-Authenticate && fail "a 200 with a challenge"
check_access "label=basic op=simpleenroll auth=basic user=$BASIC_USER status=200 upstream=200"
# The same credentials in a header written by hand: base64(user:password).
T_AUTH=none enroll_ok basic_hdr "$EST_URL/basic/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: Basic $(printf '%s:%s' "$BASIC_USER" "$BASIC_PASS" | base64 -w0)"

# ---- refusals on the label.
basic_refused none "authentication required"
basic_refused wrong "wrong user name or password" -u "$BASIC_USER:wrong-$BASIC_PASS"
basic_refused unknown "wrong user name or password" -u "nosuchuser:$BASIC_PASS"
basic_refused malformed "malformed Basic credentials" -H 'Authorization: Basic bm9jb2xvbg=='	# "nocolon"
basic_refused digest "authentication scheme not accepted here" \
    -H "Authorization: Digest username=\"$EST_USER\", realm=\"$AUTH_REALM\", nonce=\"x\", uri=\"/.well-known/est/basic/simpleenroll\", qop=auth, nc=00000001, cnonce=\"c\", response=\"00000000000000000000000000000000\""
# The Digest user's password is no Basic password.
basic_refused digest_user "wrong user name or password" -u "$EST_USER:$EST_PASS"

# ---- Basic where it is not enabled: the default route.
T_AUTH=basic post_csr default "$EST_URL/simpleenroll" "$WORK/dev.b64"
check_error 401
check_phrase "authentication scheme not accepted here"
check_challenges "MD5 SHA-256"
check_access "label=- op=simpleenroll auth=- user=- status=401 upstream=-"
T_AUTH=basic post_csr east "$EST_URL/east/simpleenroll" "$WORK/dev.b64"
check_error 401
check_challenges "MD5 SHA-256"

# ---- the label's other operations keep the defaults.
T_AUTH=basic post_csr re "$EST_URL/basic/simplereenroll" "$WORK/dev.b64"
check_error 403 "a TLS client certificate is required"
T_AUTH=none req cacerts GET "$EST_URL/basic/cacerts"
check_status 200
check_proxy_healthy
pass
