#!/usr/bin/env bash
# 400 with the reason for bodies that are not a good CSR (issue 2, "Request
# bodies"): checked before anything goes upstream, on every backend.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Not base64 at all.
printf 'this is *not* base64 %%$#!\n' >"$WORK/notb64"
post_csr notb64 "$EST_URL/simpleenroll" "$WORK/notb64"
check_error 400 "body is not base64"

# Base64, but of junk.
printf 'hello, I am not a certification request at all\n' | base64 >"$WORK/junk"
post_csr junk "$EST_URL/simpleenroll" "$WORK/junk"
check_error 400 "not a PKCS#10 request"

# A real CSR with one signature byte flipped (the last byte of the DER is
# inside the signature BIT STRING): it parses, its signature fails.
make_csr dev "/CN=tampered"
size=$(stat -c %s "$WORK/dev.der")
last=$(tail -c 1 "$WORK/dev.der" | od -An -tu1 | tr -d ' ')
{ head -c $((size - 1)) "$WORK/dev.der"; printf "\\$(printf %03o $((last ^ 0x01)))"; } >"$WORK/flipped.der"
[ "$(stat -c %s "$WORK/flipped.der")" = "$size" ] || fail "flipping the byte changed the size"
cmp -s "$WORK/dev.der" "$WORK/flipped.der" && fail "flipping the byte changed nothing"
openssl req -inform DER -in "$WORK/flipped.der" -noout 2>/dev/null ||
    fail "the flipped CSR no longer parses (want a parseable CSR with a bad signature)"
openssl req -inform DER -in "$WORK/flipped.der" -noout -verify 2>&1 | grep -q "verify OK" &&
    fail "openssl still verifies the flipped CSR"
base64 "$WORK/flipped.der" >"$WORK/flipped.b64"
post_csr flipped "$EST_URL/simpleenroll" "$WORK/flipped.b64"
check_error 400 "CSR signature does not verify"

# The same checks before an upstream label, a local CA and re-enroll.
post_csr flipped_east "$EST_URL/east/simpleenroll" "$WORK/flipped.b64"
check_error 400 "CSR signature does not verify"
post_csr flipped_local "$EST_URL/local/simpleenroll" "$WORK/flipped.b64"
check_error 400 "CSR signature does not verify"
post_csr junk_re "$EST_URL/simplereenroll" "$WORK/junk" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_error 400 "not a PKCS#10 request"
check_proxy_healthy
pass
