#!/usr/bin/env bash
# What counts as "the CA is unreachable" for store and forward
# (docs/offline.md): besides a refused connection, the CA's own 502 and a
# time-out queue the enrollment; any other answer is relayed, never queued.
#  - the proxy's upstream is a "mid" estrad RA (no queue) whose CA (a
#    private one) is down, so the mid answers 502: the client gets 202
#    (pending); the CA back, the entry goes through the mid and is
#    issued; the client's retry gets 200;
#  - with the CA up, a SHA-1 CSR (allowed by the proxy's label "old",
#    refused by the mid's default policy): the mid's 403 and body are
#    relayed, nothing queued;
#  - an upstream that never answers (silent_server, timeout 2 s): 202
#    (pending) once the time-out has run.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
P_URL=$FIXED_URL P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    proxy_config "$WORK/mid.json"
start_estrad mid "$WORK/mid.json"
mlog=$XLOG mid_url=$XURL

P_URL=$mid_url P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_LABELS='"old": { "upstream": "ca", "policy": "sha1" }' \
    P_TOP_EXTRA="\"policies\": { \"sha1\": { \"signature_hashes\": [\"SHA1\", \"SHA256\"] } }, $(offline_top "$WORK/state" "" '"retry_after": 6')" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL

# ---- the CA's own 502
make_csr_key g ec:P-256 /CN=gateway-device
post_csr g1 "$purl/simpleenroll" "$WORK/g.b64"
check_queued pending
check_header Retry-After 6
id=$QID
grep -q ' access .*path=/\.well-known/est/simpleenroll .*status=502 ' "$mlog" ||
    fail "the mid RA did not answer the proxy 502"
fixed_start ca
wait_queue_state 15 "$plog" "$id" issued
post_csr g2 "$purl/simpleenroll" "$WORK/g.b64"
check_status 200
check_issued g2 g "$ISSUING_CERT"
wait_queue_state 5 "$plog" "$id" delivered
[ "$(enroll_lines ca)" = 1 ] || fail "the CA issued $(enroll_lines ca) certificates, expected 1"

# ---- a 4xx is relayed, not queued
make_csr_key s ec:P-256 /CN=sha1-device -sha1
post_csr s1 "$purl/old/simpleenroll" "$WORK/s.b64"
check_error 403
check_body "policy signature.hash: SHA1 is not allowed"
grep -q ' access .*path=/\.well-known/est/simpleenroll .*status=403 ' "$mlog" ||
    fail "the 403 did not come from the mid RA"
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 1 ] || fail "$n entries queued, expected 1 (a 403 is not queued)"

# ---- a time-out
start_silent
P_URL=$SILENT_URL P_TIMEOUT=2 P_CONNECT_TIMEOUT=5 \
    P_TOP_EXTRA=$(offline_top "$WORK/state2" "" '"retry_after": 6') \
    proxy_config "$WORK/proxy2.json"
start_estrad proxy2 "$WORK/proxy2.json"
make_csr_key t ec:P-256 /CN=timeout-device
post_csr t1 "$XURL/simpleenroll" "$WORK/t.b64"
check_queued pending
check_header Retry-After 6
note "time-out: 202 after $ELAPSED_MS ms"
if [ "$ELAPSED_MS" -lt 1500 ] || [ "$ELAPSED_MS" -gt 5000 ]; then
	fail "202 after $ELAPSED_MS ms; expected 1500..5000 (timeout 2 s)"
fi
grep -q '^accepted' "$SILENT_LOG" || fail "the proxy never connected to the silent CA"
wait_queue_state 2 "$XLOG" "$QID" pending
pass
