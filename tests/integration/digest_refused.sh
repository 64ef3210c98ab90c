#!/usr/bin/env bash
# HTTP Digest (RFC 7616) that fails. Each refusal is a 401 with the reason
# as a one-line text/plain body and both challenges (WWW-Authenticate,
# MD5 then SHA-256), and nothing is enrolled:
#  - no credentials; a wrong password (curl --digest and a computed header);
#    an unknown user; a wrong realm; a uri that is not the request target
#    (computed for /simpleenroll, sent to /east/simpleenroll); the same
#    Authorization header twice (the second is a replay); an nc lower than
#    one already used; a nonce estrad never made;
#  - what was never offered, with the right password (RFC 7616 §3.4):
#    algorithm MD5-sess or SHA-256-sess, nc=00000000, an empty cnonce,
#    qop=AUTH; the same nonce then enrolls with a proper answer;
#  - an expired nonce with the right response: 401 "nonce expired" and
#    stale=true on both challenges; with a wrong password it is an ordinary
#    401 (no stale). The expired nonce is minted here, as src/digest.c
#    makes them, under the nonce_secret_file of a proxy of this case's own;
#    a fresh nonce minted the same way is accepted there (so the minting is
#    right, and the 401s are about age and password alone);
#  - none of these requests reached the CA (upstream=- in their access
#    lines).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

U=/.well-known/est/simpleenroll
make_csr dev "/CN=digest-refused"

# refused NAME REASON URL [curl args]: POST the CSR without post_csr's
# credentials; expect 401, REASON, both challenges, upstream=-.
refused() {
	local name=$1 reason=$2 url=$3
	shift 3
	T_AUTH=none post_csr "$name" "$url" "$WORK/dev.b64" "$@"
	check_error 401
	check_phrase "$reason"
	check_challenges "MD5 SHA-256"
	check_access "status=401 upstream=-" "${LOG:-$PROXY_LOG}"
}

# fresh_nonce ALG [URL]: a nonce of the lab proxy (from a 401), in NONCE.
fresh_nonce() {
	T_AUTH=none post_csr "nonce_$1" "${2:-$EST_URL/simpleenroll}" "$WORK/dev.b64"
	check_status 401
	digest_challenge "$1"
	NONCE=$CH_NONCE
}

refused none "authentication required" "$EST_URL/simpleenroll"

# ---- wrong password: curl's own exchange, then a computed header.
refused curl_wrong "wrong user name or password" "$EST_URL/simpleenroll" \
    --digest -u "$EST_USER:not-$EST_PASS"
check_access "auth=- user=- status=401"
fresh_nonce SHA-256
digest_authz "$EST_USER" "$AUTH_REALM" "wrong-$EST_PASS" SHA-256 POST "$U" "$NONCE" 00000001
refused wrong_pw "wrong user name or password" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"

# ---- unknown user (the same answer as a wrong password).
fresh_nonce MD5
digest_authz "nosuchuser" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$NONCE" 00000001
refused unknown_user "wrong user name or password" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"

# ---- wrong realm (the response is right for that realm).
fresh_nonce MD5
digest_authz "$EST_USER" "otherrealm" "$EST_PASS" MD5 POST "$U" "$NONCE" 00000001
refused wrong_realm "wrong realm" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"

# ---- a uri that is not the request target: right for /legacy/simpleenroll,
# sent to /east/simpleenroll. (The label-less /simpleenroll passes there,
# as libest sends it: auth.digest_uri_without_label, libest_client.)
fresh_nonce SHA-256
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST \
    /.well-known/est/legacy/simpleenroll "$NONCE" 00000001
refused other_uri "Digest uri is not the request target" \
    "$EST_URL/east/simpleenroll" -H "Authorization: $DIGEST_AUTHZ"
# ... and the method is part of the response: computed for GET.
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 GET "$U" "$NONCE" 00000001
refused other_method "wrong user name or password" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"

# ---- replay: the same header twice; the first enrolls.
fresh_nonce SHA-256
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$NONCE" 00000005
T_AUTH=none enroll_ok first "$EST_URL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"
refused replay "Digest nonce count replayed" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"
# A lower nc on that nonce is a replay too; a higher one is fine.
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$NONCE" 00000004
refused lower_nc "Digest nonce count replayed" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$NONCE" 00000006
T_AUTH=none enroll_ok higher_nc "$EST_URL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"

# ---- a nonce estrad never made (one character changed).
fresh_nonce MD5
c=${NONCE:20:1}
[ "$c" = A ] && r=B || r=A
forged=${NONCE:0:20}$r${NONCE:21}
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$forged" 00000001
refused forged "unknown nonce" "$EST_URL/simpleenroll" -H "Authorization: $DIGEST_AUTHZ"

# ---- what the challenges never offered (RFC 7616 §3.4), each with the
# right password: a -sess algorithm, nc 00000000, an empty cnonce, qop
# other than "auth" exactly.
for alg in MD5-sess SHA-256-sess; do
	fresh_nonce "${alg%-sess}"
	digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" "$alg" POST "$U" "$NONCE" 00000001
	refused "sess_$alg" "Digest algorithm was not offered" "$EST_URL/simpleenroll" \
	    -H "Authorization: $DIGEST_AUTHZ"
done
fresh_nonce MD5
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$NONCE" 00000000
refused nc_zero "Digest nc must start at 00000001" "$EST_URL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"
# (digest_authz makes up a cnonce when given none: computed here.)
ha1=$(hash_hex MD5 "$EST_USER:$AUTH_REALM:$EST_PASS")
ha2=$(hash_hex MD5 "POST:$U")
# bad_answer NAME CNONCE QOP REASON: the right response for those, refused.
bad_answer() {
	local resp authz
	resp=$(hash_hex MD5 "$ha1:$NONCE:00000001:$2:$3:$ha2")
	authz="Digest username=\"$EST_USER\", realm=\"$AUTH_REALM\", nonce=\"$NONCE\", uri=\"$U\", algorithm=MD5, qop=$3, nc=00000001, cnonce=\"$2\", response=\"$resp\""
	refused "$1" "$4" "$EST_URL/simpleenroll" -H "Authorization: $authz"
}
bad_answer empty_cnonce "" auth "Digest cnonce must not be empty"
bad_answer qop_capitals 0a4f113b AUTH "unsupported Digest qop (only auth)"
# The nonce was not used up by those: the same answer, right, enrolls.
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$NONCE" 00000001
T_AUTH=none enroll_ok offered "$EST_URL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"

# ---- expired nonces, on a proxy with a known nonce secret.
(umask 077 && openssl rand 32 >"$WORK/nonce.secret")
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"nonce_secret_file\": \"$WORK/nonce.secret\", \"nonce_lifetime\": 300" \
    proxy_config "$WORK/proxy.json"
start_estrad nonces "$WORK/proxy.json"
LOG=$XLOG
now=$(date +%s)

# A fresh nonce minted here is good (the minting is right).
fresh=$(mint_nonce "$WORK/nonce.secret" "$now") || fail "cannot mint a nonce"
[ ${#fresh} = 43 ] || fail "minted nonce '$fresh' is not 43 characters"
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$fresh" 00000001
T_AUTH=none enroll_ok minted "$XURL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"
check_access "auth=digest user=$EST_USER status=200" "$LOG"

# Ten minutes old (lifetime 300 s), right password: stale=true.
old=$(mint_nonce "$WORK/nonce.secret" $((now - 600))) || fail "cannot mint a nonce"
for alg in SHA-256 MD5; do
	digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" "$alg" POST "$U" "$old" 00000001
	T_AUTH=none post_csr "stale_$alg" "$XURL/simpleenroll" "$WORK/dev.b64" \
	    -H "Authorization: $DIGEST_AUTHZ"
	check_error 401
	check_phrase "nonce expired"
	check_challenges "MD5 SHA-256" stale
	check_access "auth=- user=- status=401 upstream=-" "$LOG"
done
# The fresh nonce of a stale answer works.
digest_challenge MD5
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$CH_NONCE" 00000001
T_AUTH=none enroll_ok after_stale "$XURL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"

# Old nonce, wrong password: no stale (stale would confirm the password).
digest_authz "$EST_USER" "$AUTH_REALM" "x$EST_PASS" SHA-256 POST "$U" "$old" 00000001
refused stale_wrong "wrong user name or password" "$XURL/simpleenroll" \
    -H "Authorization: $DIGEST_AUTHZ"

# A nonce under another secret, and the lab proxy's nonces, are unknown here.
head -c 32 /dev/zero >"$WORK/other.secret"
other=$(mint_nonce "$WORK/other.secret" "$now")
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$other" 00000001
refused other_secret "unknown nonce" "$XURL/simpleenroll" -H "Authorization: $DIGEST_AUTHZ"
# A nonce from the future (beyond the clock skew allowed) is not accepted.
future=$(mint_nonce "$WORK/nonce.secret" $((now + 3600)))
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" "$future" 00000001
refused future "unknown nonce" "$XURL/simpleenroll" -H "Authorization: $DIGEST_AUTHZ"
LOG=

check_proxy_healthy
pass
