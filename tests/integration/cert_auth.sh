#!/usr/bin/env bash
# TLS client certificates as authentication (RFC 7030 §3.3.2), at the lab
# proxy (tls.client_ca = the lab root, tls.client_crl = the lab CRLs):
#  - simpleenroll with the lab client certificate and no HTTP credentials
#    enrolls: auth=cert user=CN=lab-client (the subject, RFC 2253), and so
#    does simplereenroll of a CSR with the certificate's subject (the
#    policy's reenroll.same_subject; policy_reenroll has the refusals);
#  - simplereenroll without a certificate: 403 "a TLS client certificate is
#    required for this operation", with no WWW-Authenticate challenge, and
#    Digest credentials do not change that;
#  - the revoked client certificate (in the issuing CA's CRL) fails the TLS
#    handshake, with or without HTTP credentials: curl gets no HTTP answer
#    and the proxy writes no access line;
#  - a certificate is not needed where the operation is open (cacerts).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CERT=(--cert "$CLIENT_CERT" --key "$CLIENT_KEY")
REVOKED=(--cert "$REVOKED_CERT" --key "$REVOKED_KEY")
REASON="a TLS client certificate is required for this operation"

# The lab's PKI is what this case assumes.
openssl verify -CAfile "$ROOT_CERT" -untrusted "$ISSUING_CERT" -crl_check \
    -CRLfile "$CRL" "$REVOKED_CERT" >"$WORK/verify.out" 2>&1 &&
    fail "the revoked certificate verifies against the lab CRL"
grep -q 'certificate revoked' "$WORK/verify.out" ||
    fail "openssl verify of the revoked certificate: $(cat "$WORK/verify.out")"

# ---- simpleenroll with the certificate alone.
make_csr dev "/CN=cert-auth-device"
T_AUTH=none enroll_ok cert_enroll "$EST_URL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" "${CERT[@]}"
has_header WWW-Authenticate && fail "a 200 with a challenge"
check_access "op=simpleenroll auth=cert user=CN=lab-client status=200 upstream=200"
# ... and simplereenroll, the operation that needs it; through a label too.
# The CSR renews the client certificate: the policy (reenroll.same_subject)
# wants its subject and SANs (CN=lab-client, no SAN; a new key is a rekey).
subj=$(openssl x509 -in "$CLIENT_CERT" -noout -subject -nameopt RFC2253)
[ "$subj" = "subject=CN=lab-client" ] || fail "the lab client certificate is $subj"
openssl x509 -in "$CLIENT_CERT" -noout -ext subjectAltName 2>/dev/null |
    grep -q 'Subject Alternative Name' && fail "the lab client certificate has SANs"
make_csr renew "/CN=lab-client"
T_AUTH=none enroll_ok cert_reenroll "$EST_URL/simplereenroll" "$WORK/renew.b64" renew \
    "$ISSUING_CERT" "${CERT[@]}"
check_access "op=simplereenroll auth=cert user=CN=lab-client status=200 upstream=200"
T_AUTH=none enroll_ok cert_reenroll_east "$EST_URL/east/simplereenroll" \
    "$WORK/renew.b64" renew "$BRANCH_CERT" "${CERT[@]}"
check_access "label=east op=simplereenroll auth=cert user=CN=lab-client status=200"

# ---- simplereenroll without a certificate: 403, whatever else is sent.
T_AUTH=none post_csr no_cert "$EST_URL/simplereenroll" "$WORK/dev.b64"
check_error 403
check_body "$REASON"
has_header WWW-Authenticate && fail "403 with a challenge: $(header WWW-Authenticate)"
check_access "op=simplereenroll auth=- user=- status=403 upstream=-"
T_AUTH=digest post_csr no_cert_digest "$EST_URL/simplereenroll" "$WORK/dev.b64"
check_error 403
check_body "$REASON"
T_AUTH=basic post_csr no_cert_basic "$EST_URL/basic/simplereenroll" "$WORK/dev.b64"
check_error 403
check_body "$REASON"

# ---- the revoked certificate: the handshake fails, nothing is logged as
# a request (the lab proxy serves this case alone: the resource lock).
lines=$(grep -c ' access ' "$PROXY_LOG")
for op in simplereenroll simpleenroll; do
	for mode in none digest; do
		T_AUTH=$mode post_csr "revoked_${op}_$mode" "$EST_URL/$op" \
		    "$WORK/dev.b64" "${REVOKED[@]}"
		[ "$STATUS" = 000 ] ||
		    fail "$op with the revoked certificate ($mode): HTTP $STATUS, expected no answer"
		[ -s "$WORK/revoked_${op}_$mode.err" ] ||
		    fail "$op with the revoked certificate: curl reported no error"
	done
done
T_AUTH=none req revoked_get GET "$EST_URL/cacerts" "${REVOKED[@]}"
[ "$STATUS" = 000 ] || fail "cacerts with the revoked certificate: HTTP $STATUS"
# The same through openssl: the server's alert names the revocation.
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 5 openssl s_client -connect "127.0.0.1:$PROXY_PORT" -CAfile "$TRUST" \
    -cert "$REVOKED_CERT" -cert_chain "$ISSUING_CERT" -key "$REVOKED_KEY" -quiet >"$WORK/s_client.out" 2>"$WORK/s_client.err"
grep -q 'HTTP/1.1' "$WORK/s_client.out" &&
    fail "the revoked certificate got an HTTP answer: $(head -n 1 "$WORK/s_client.out")"
grep -qi 'certificate revoked' "$WORK/s_client.err" ||
    fail "s_client with the revoked certificate: no 'certificate revoked' alert: $(tail -n 3 "$WORK/s_client.err")"
sleep 0.2
[ "$(grep -c ' access ' "$PROXY_LOG")" = "$lines" ] ||
    fail "requests with the revoked certificate were logged: $(grep ' access ' "$PROXY_LOG" | tail -n +$((lines + 1)))"
# ... but each refused handshake is, with the reason.
grep -q 'tls peer=127\.0\.0\.1:[0-9]* handshake failed: alert certificate revoked; client certificate: certificate revoked; subject CN=revoked-client$' "$PROXY_LOG" ||
    fail "no 'handshake failed ... certificate revoked' line in $PROXY_LOG"

# ---- the good certificate still works after those handshakes.
T_AUTH=none req open GET "$EST_URL/cacerts" "${CERT[@]}"
check_status 200
check_access "op=cacerts auth=- user=- status=200"
check_proxy_healthy
pass
