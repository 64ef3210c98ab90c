#!/usr/bin/env bash
# HTTP Digest (RFC 7616) that succeeds, at the lab proxy:
#  - a POST without credentials gets 401 with two challenges, MD5 then
#    SHA-256 (no Basic on the default route);
#  - an Authorization header computed here (not by curl, which picks the
#    algorithm itself) for MD5 and SHA-256 enrolls (the -sess variants are
#    never offered, and refused: digest_refused);
#    the access line says auth=digest user=estuser;
#  - a nonce may be used again with a higher nc (and on another label: the
#    nonce is not bound to a path, the uri is);
#  - curl --digest enrolls (the lab's own recipe).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

U=/.well-known/est/simpleenroll

# ---- the challenge.
make_csr c "/CN=digest-challenge"
T_AUTH=none post_csr none "$EST_URL/simpleenroll" "$WORK/c.b64"
check_error 401
check_phrase "authentication required"
check_challenges "MD5 SHA-256"
check_access "auth=- user=- status=401"
digest_challenge SHA-256
sha_nonce=$CH_NONCE opaque=$CH_OPAQUE
digest_challenge MD5
md5_nonce=$CH_NONCE
[ "$sha_nonce" != "$md5_nonce" ] || fail "both challenges carry the nonce $sha_nonce"

# ---- each algorithm, with a header computed here.
n=0
for alg in MD5 SHA-256; do
	n=$((n + 1))
	case $alg in
	MD5) nonce=$md5_nonce ;;
	*) nonce=$sha_nonce ;;
	esac
	nc=00000001
	make_csr "d$n" "/CN=digest-$alg"
	digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" "$alg" POST "$U" \
	    "$nonce" "$nc" "" "$opaque"
	T_AUTH=none enroll_ok "enroll_$n" "$EST_URL/simpleenroll" "$WORK/d$n.b64" \
	    "d$n" "$ISSUING_CERT" -H "Authorization: $DIGEST_AUTHZ"
	check_framing
	has_header WWW-Authenticate && fail "$alg: a 200 with a WWW-Authenticate header"
	check_access "auth=digest user=$EST_USER status=200 upstream=200"
	note "$alg: enrolled"
done

# ---- the MD5 nonce once more, nc 3, lower-case algorithm name, on the
# label east (uri = that target, CA label included).
make_csr e "/CN=digest-east"
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST \
    /.well-known/est/east/simpleenroll "$md5_nonce" 00000003
T_AUTH=none enroll_ok east "$EST_URL/east/simpleenroll" "$WORK/e.b64" e \
    "$BRANCH_CERT" -H "Authorization: ${DIGEST_AUTHZ/algorithm=MD5/algorithm=md5}"
check_access "label=east op=simpleenroll auth=digest user=$EST_USER status=200"

# ---- no algorithm parameter means MD5 (RFC 7616 §3.4).
make_csr m "/CN=digest-noalg"
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$md5_nonce" 00000004
T_AUTH=none enroll_ok noalg "$EST_URL/simpleenroll" "$WORK/m.b64" m \
    "$ISSUING_CERT" -H "Authorization: ${DIGEST_AUTHZ/algorithm=MD5, /}"

# ---- curl --digest, as a client would do it.
make_csr k "/CN=digest-curl"
enroll_ok curl "$EST_URL/simpleenroll" "$WORK/k.b64" k "$ISSUING_CERT"
check_access "auth=digest user=$EST_USER status=200"
pass
