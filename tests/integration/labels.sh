#!/usr/bin/env bash
# Label routing (RFC 7030 §3.2.2) to two backends: /east goes to the
# upstream's "branch" label, /local to the proxy's own local CA (the branch
# CA too); the bare path to the upstream's default (issuing) CA.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

req up_branch GET "$CA_URL/branch/cacerts"
check_status 200
req east GET "$EST_URL/east/cacerts"
check_status 200
check_framing
cmp -s "$WORK/up_branch.body" "$WORK/east.body" ||
    fail "/east/cacerts differs from the upstream's /branch/cacerts"

req local GET "$EST_URL/local/cacerts"
check_status 200
check_framing
p7_certs "$WORK/up_branch.body" "$WORK/branch.chain.pem" >/dev/null
p7_certs "$WORK/local.body" "$WORK/local.chain.pem" >/dev/null
cmp -s "$WORK/branch.chain.pem" "$WORK/local.chain.pem" ||
    fail "/local/cacerts does not hold the branch chain"
grep -q 'CN *= *estrad lab branch CA' "$WORK/local.chain.pem" ||
    fail "/local/cacerts lacks the branch CA"

req bare GET "$EST_URL/cacerts"
check_status 200
cmp -s "$WORK/bare.body" "$WORK/east.body" &&
    fail "the bare path and /east serve the same cacerts"

req nosuch GET "$EST_URL/nosuch/cacerts"
check_error 404

make_csr e "/CN=east-device"
enroll_ok east_enroll "$EST_URL/east/simpleenroll" "$WORK/e.b64" e "$BRANCH_CERT"
make_csr l "/CN=local-device"
enroll_ok local_enroll "$EST_URL/local/simpleenroll" "$WORK/l.b64" l "$BRANCH_CERT"
make_csr b "/CN=bare-device"
enroll_ok bare_enroll "$EST_URL/simpleenroll" "$WORK/b.b64" b "$ISSUING_CERT"
pass
