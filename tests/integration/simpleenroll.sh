#!/usr/bin/env bash
# simpleenroll (RFC 7030 §4.2.1) through the proxy to the upstream's
# issuing CA: exact Content-Type, Content-Length framing, one certificate
# for the CSR's key, subject and SAN from the CSR, chain verifies.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=lab-device-1" "DNS:device1.lab.example"
before=$(grep -c 'access .*path=/.well-known/est/simpleenroll .*status=200' "$PROXY_LOG")

enroll_ok enroll "$EST_URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
check_framing

cert=$WORK/enroll.cert.pem
subj=$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253)
[ "$subj" = "subject=CN=lab-device-1" ] || fail "certificate $subj, CSR had CN=lab-device-1"
san=$(openssl x509 -in "$cert" -noout -ext subjectAltName | tail -n +2 | tr -d ' ')
[ "$san" = "DNS:device1.lab.example" ] || fail "certificate SAN '$san', CSR had DNS:device1.lab.example"
out=$(openssl verify -CAfile "$ROOT_CERT" -untrusted "$ISSUING_CERT" -purpose sslclient "$cert" 2>&1) ||
    fail "issued certificate is not good for clientAuth: $out"

# One access line for it.
wait_grep 2 "$PROXY_LOG" 'access ' || fail "no access line in $PROXY_LOG"
sleep 0.2
after=$(grep -c 'access .*path=/.well-known/est/simpleenroll .*status=200' "$PROXY_LOG")
[ "$after" = $((before + 1)) ] ||
    fail "expected one more 'access ... path=/.well-known/est/simpleenroll ... status=200' line, had $before, now $after"
pass
