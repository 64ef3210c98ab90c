#!/usr/bin/env bash
# The RFC 7030 example CSR (RSA-2048, SHA-1 signature, a challengePassword
# holding the channel binding of the RFC author's TLS session; from
# seed-exchange.txt, in tests/data/seed-csr.b64, wrapped at 64 columns):
#  - the default policy refuses it for its hash and, since a refusal names
#    every rule broken, for its binding, which is another session's:
#    403 "policy signature.hash: SHA1 is not allowed; binding.mismatch: ...";
#  - on the lab label "legacy" (SHA1 allowed) only the binding is left:
#    403 "policy binding.mismatch: ...";
#  - neither reaches the upstream CA; the audit log names both rules.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

seed=${TEST_DATA:?}/seed-csr.b64
[ -s "$seed" ] || fail "$seed is missing (it is made from /work/shared/seed-exchange.txt)"
tr -d '\r \t' <"$seed" | base64 -d >"$WORK/seed.der" 2>/dev/null ||
    fail "$seed is not base64"
openssl req -inform DER -in "$WORK/seed.der" -noout -text >"$WORK/seed.txt" ||
    fail "$seed is not a CSR"
# What the refusals below rely on.
grep -q 'Signature Algorithm: sha1WithRSAEncryption' "$WORK/seed.txt" ||
    fail "the seed CSR is not signed with sha1WithRSAEncryption"
grep -q 'Public-Key: (2048 bit)' "$WORK/seed.txt" ||
    fail "the seed CSR's key is not RSA-2048"
grep -q 'challengePassword' "$WORK/seed.txt" ||
    fail "the seed CSR has no challengePassword"
openssl req -inform DER -in "$WORK/seed.der" -noout -verify 2>&1 |
    grep -q 'verify OK' || fail "the seed CSR's signature does not verify"

ca_before=$(ca_access_lines)
post_csr seed "$EST_URL/simpleenroll" "$seed"
check_error 403
check_body "policy signature.hash: SHA1 is not allowed; binding.mismatch: the challengePassword is not this TLS session's channel binding"
check_access "op=simpleenroll auth=digest user=estuser status=403 upstream=-"
check_audit_line "$(header X-Request-Id)" refused signature.hash 403

post_csr seed_legacy "$EST_URL/legacy/simpleenroll" "$seed"
check_error 403
check_body "policy binding.mismatch: the challengePassword is not this TLS session's channel binding"
check_access "label=legacy op=simpleenroll auth=digest user=estuser status=403 upstream=-"
check_audit_line "$(header X-Request-Id)" refused binding.mismatch 403
check_ca_unchanged "$ca_before" "the refused seed CSR"

# The legacy label does enroll a SHA-1 CSR without a binding, so the
# refusal above is the binding's and the label's SHA1 switch works.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$WORK/sha1.key" 2>/dev/null || fail "genpkey RSA"
openssl req -new -key "$WORK/sha1.key" -subj "/CN=legacy-device" -sha1 \
    -config /dev/null -outform DER -out "$WORK/sha1.der" || fail "req -sha1"
base64 -w0 "$WORK/sha1.der" >"$WORK/sha1.b64"
openssl req -inform DER -in "$WORK/sha1.der" -pubkey -noout >"$WORK/sha1.pub"
enroll_ok sha1_legacy "$EST_URL/legacy/simpleenroll" "$WORK/sha1.b64" sha1 "$ISSUING_CERT"
post_csr sha1_default "$EST_URL/simpleenroll" "$WORK/sha1.b64"
check_error 403
check_body "policy signature.hash: SHA1 is not allowed"
pass
