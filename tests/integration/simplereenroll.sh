#!/usr/bin/env bash
# simplereenroll (RFC 7030 §4.2.2) with the lab client certificate over
# mutual TLS: a certificate for the new CSR's key, same subject.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

subj=$(openssl x509 -in "$CLIENT_CERT" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
[ "$subj" = CN=lab-client ] || fail "lab client certificate subject is '$subj'"
make_csr renew "/CN=lab-client"

enroll_ok reenroll "$EST_URL/simplereenroll" "$WORK/renew.b64" renew "$ISSUING_CERT" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
check_framing
got=$(openssl x509 -in "$WORK/reenroll.cert.pem" -noout -subject -nameopt RFC2253)
[ "$got" = "subject=CN=lab-client" ] || fail "renewed certificate has $got"
old_pub=$(openssl x509 -in "$CLIENT_CERT" -noout -pubkey)
[ "$old_pub" != "$(cat "$WORK/reenroll.cert.pub")" ] || fail "renewed certificate kept the old key"
pass
