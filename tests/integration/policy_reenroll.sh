#!/usr/bin/env bash
# Re-enrollment identity (RFC 7030 §4.2.2; the policy's reenroll rules, on
# by default): simplereenroll with the lab client certificate (CN=lab-client,
# no SAN) at the lab proxy:
#  - a CSR with another subject: 403 exactly
#    'policy reenroll.same_subject: the subject "CN=lab-client-2" is not
#    the certificate's "CN=lab-client"' (on the default route and "east");
#  - the same subject plus a SAN the certificate lacks: 403, the SAN named;
#  - none of those reaches the upstream CA;
#  - the certificate's subject and no SAN with a new key (rekey): 200, a
#    certificate with that subject, one request at the CA; the same
#    through the label "east" (the branch CA); with the certificate's own
#    key (renewal): 200.
# The upstream CA sees the proxy's RA certificate (id-kp-cmcRA), so it does
# not apply the identity rules a second time (else the 200s would be 403s).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CERT=(--cert "$CLIENT_CERT" --key "$CLIENT_KEY")
subj=$(openssl x509 -in "$CLIENT_CERT" -noout -subject -nameopt RFC2253)
[ "$subj" = "subject=CN=lab-client" ] || fail "the lab client certificate is $subj"
openssl x509 -in "$CLIENT_CERT" -noout -ext subjectAltName 2>/dev/null |
    grep -q 'Subject Alternative Name' && fail "the lab client certificate has SANs"

# ---- another subject: refused before the CA.
make_csr changed "/CN=lab-client-2"
want='policy reenroll.same_subject: the subject "CN=lab-client-2" is not the certificate'"'"'s "CN=lab-client"'
T_OP=simplereenroll refused changed "" "$WORK/changed.b64" 403 "$want" "${CERT[@]}"
check_access "op=simplereenroll auth=cert user=CN=lab-client status=403 upstream=-"
check_audit_line "$(header X-Request-Id)" refused reenroll.same_subject 403
T_OP=simplereenroll refused changed_east east "$WORK/changed.b64" 403 "$want" "${CERT[@]}"
# An added attribute is another subject too (RFC 2253 order: last RDN first).
make_csr more "/CN=lab-client/O=lab"
T_OP=simplereenroll refused more "" "$WORK/more.b64" 403 \
    'policy reenroll.same_subject: the subject "O=lab,CN=lab-client" is not the certificate'"'"'s "CN=lab-client"' \
    "${CERT[@]}"
# ---- the same subject, a SAN the certificate does not have.
make_csr san "/CN=lab-client" "DNS:x.example.com"
T_OP=simplereenroll refused san "" "$WORK/san.b64" 403 \
    'policy reenroll.same_subject: SAN DNS:"x.example.com" is not in the certificate' \
    "${CERT[@]}"
# ... while simpleenroll (a new identity) does not care about the
# certificate: the changed subject enrolls there.
T_AUTH=none enroll_ok changed_new "$EST_URL/simpleenroll" "$WORK/changed.b64" \
    changed "$ISSUING_CERT" "${CERT[@]}"

# ---- the same subject and SANs: rekey (a new key) and renewal.
make_csr same "/CN=lab-client"
before=$(ca_access_lines)
T_AUTH=none enroll_ok same "$EST_URL/simplereenroll" "$WORK/same.b64" same \
    "$ISSUING_CERT" "${CERT[@]}"
check_access "op=simplereenroll auth=cert user=CN=lab-client status=200 upstream=200"
check_ca_gained "$before" 1 "the re-enrollment"
[ "$(openssl x509 -in "$WORK/same.cert.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=lab-client" ] ||
    fail "the renewed certificate's subject: $(openssl x509 -in "$WORK/same.cert.pem" -noout -subject)"
T_AUTH=none enroll_ok same_east "$EST_URL/east/simplereenroll" "$WORK/same.b64" same \
    "$BRANCH_CERT" "${CERT[@]}"
openssl req -new -key "$CLIENT_KEY" -subj "/CN=lab-client" -config /dev/null \
    -sha256 -outform DER -out "$WORK/renew.der" || fail "req with the client key"
base64 -w0 "$WORK/renew.der" >"$WORK/renew.b64"
openssl pkey -in "$CLIENT_KEY" -pubout -out "$WORK/renew.pub"
T_AUTH=none enroll_ok renew "$EST_URL/simplereenroll" "$WORK/renew.b64" renew \
    "$ISSUING_CERT" "${CERT[@]}"
check_proxy_healthy
pass
