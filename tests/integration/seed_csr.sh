#!/usr/bin/env bash
# The RFC 7030 example CSR (RSA, SHA-1 signature, from seed-exchange.txt,
# in tests/data/seed-csr.b64, wrapped at 64 columns) enrolls through the
# proxy: a certificate for its RSA key.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

seed=${TEST_DATA:?}/seed-csr.b64
[ -s "$seed" ] || fail "$seed is missing (it is made from /work/shared/seed-exchange.txt)"
tr -d '\r \t' <"$seed" | base64 -d >"$WORK/seed.der" 2>/dev/null ||
    fail "$seed is not base64"
openssl req -inform DER -in "$WORK/seed.der" -pubkey -noout >"$WORK/seed.pub" ||
    fail "$seed is not a CSR"
openssl req -inform DER -in "$WORK/seed.der" -noout -text | grep -q 'sha1WithRSAEncryption' ||
    note "warning: the seed CSR is not signed with sha1WithRSAEncryption"

enroll_ok seed "$EST_URL/simpleenroll" "$seed" seed "$ISSUING_CERT"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
subj=$(openssl x509 -in "$WORK/seed.cert.pem" -noout -subject -nameopt RFC2253)
want=$(openssl req -inform DER -in "$WORK/seed.der" -noout -subject -nameopt RFC2253)
[ "$subj" = "$want" ] || fail "certificate $subj; CSR $want"
pass
