#!/usr/bin/env bash
# Enrollment codes in the CSR's challengePassword (issue 15 §5): many
# devices put a one-time code there for the CA to check (EJBCA's EST,
# NDES-style provisioning). A CSR made by `openssl req -config` with
# challengePassword "ENROLL-1234":
#  - on a route whose policy says "channel_binding": "off", to a
#    recording CA: 200, and the CA received the CSR byte for byte, the
#    challengePassword in it;
#  - the same on a route to the lab CA: 200, a certificate for the key;
#  - on the default route ("optional"): 403 `policy binding.mismatch: the
#    challengePassword is not this TLS session's channel binding`, as
#    before, and nothing reaches the CA;
#  - the code appears in no log.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

code=ENROLL-1234
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$WORK/dev.key" 2>/dev/null || fail "genpkey"
cat >"$WORK/req.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = code-device
[attrs]
challengePassword = $code
EOF
openssl req -new -key "$WORK/dev.key" -config "$WORK/req.cnf" -sha256 \
    -outform DER -out "$WORK/dev.der" || fail "openssl req"
openssl req -inform DER -in "$WORK/dev.der" -noout -text |
    grep -q "challengePassword *:$code" || fail "the CSR has no challengePassword $code"
openssl req -inform DER -in "$WORK/dev.der" -pubkey -noout >"$WORK/dev.pub"
base64 -w64 "$WORK/dev.der" >"$WORK/dev.body"
last_line=$(tail -n 1 "$WORK/dev.body")

# The recording CA answers a certs-only 200.
seed_pkcs7 "$WORK/canned.b64"
http_answer "$WORK/ok.answer" '200 OK' "$WORK/canned.b64" \
    'Content-Type: application/pkcs7-mime; smime-type=certs-only'
start_recorder rec "$WORK/ok.answer" "$last_line"
P_URL=$REC_URL \
    P_TOP_EXTRA='"policies": { "codes": { "channel_binding": "off" } }' \
    P_LABELS='"codes": { "upstream": "ca", "policy": "codes" },
              "labcodes": { "upstream": "lab", "policy": "codes" }' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
proxy_log=$XLOG

# ---- "off", recording CA: the CSR goes as it came.
post_csr codes "$XURL/codes/simpleenroll" "$WORK/dev.body" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
recorder_done rec
check_status 200
cmp -s "$WORK/canned.b64" "$BODY" || fail "body '$(head -c 200 "$BODY")' is not the recording CA's"
recorded_request rec
reqline=$(head -n 1 "$WORK/rec.up.hdr" | tr -d '\r')
[ "$reqline" = "POST /.well-known/est/simpleenroll HTTP/1.1" ] ||
    fail "request line upstream: '$reqline'"
cmp "$WORK/dev.body" "$WORK/rec.up.body" ||
    fail "the CSR went upstream changed (see $WORK/dev.body and $WORK/rec.up.body)"
base64 -d <"$WORK/rec.up.body" | openssl req -inform DER -noout -text |
    grep -q "challengePassword *:$code" || fail "the CA's CSR lacks challengePassword $code"

# ---- "off", the lab CA: issued.
post_csr labcodes "$XURL/labcodes/simpleenroll" "$WORK/dev.body" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 200
check_issued labcodes dev "$ISSUING_CERT"

# ---- the default route ("optional"), to the lab CA: refused as before.
before=$(ca_access_lines)
post_csr default "$XURL/real/simpleenroll" "$WORK/dev.body" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_error 403
check_body "policy binding.mismatch: the challengePassword is not this TLS session's channel binding"
check_access "status=403 upstream=-" "$proxy_log"
check_ca_unchanged "$before" "a CSR refused by the default policy"

stop_pid "$XPID"
for log in "$proxy_log" "$PROXY_LOG" "$CA_LOG"; do
	grep -qF -- "$code" "$log" && fail "the enrollment code is in $log: $(grep -F -- "$code" "$log" | head -n 2)"
done
pass
