#!/usr/bin/env bash
# A client collecting its queued enrollment is not counted against the
# policy's rate (docs/policy.md, "rate"; docs/offline.md): the proxy's
# default route allows 2 enrollments per identity per 60 s, and its
# private CA is down (failure_threshold 1):
#  - the same Digest user sends the same CSR 5 times: 202 every time,
#    "queued as ID" with the same ID, one entry (only the first, a new
#    request, counts; the others are answered before the rate);
#  - the CA back, the entry is issued; the retry gets 200 and the
#    certificate, and the entry is delivered;
#  - new requests still count: the next enrollment (the entry delivered,
#    a new one) reaches the CA and gets 200; the one after is refused,
#    429 "policy rate: at most 2 enrollments per 60 s ...".
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
P_URL=$FIXED_URL \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1' \
    P_DEFAULT_EXTRA='"policy": "rated"' \
    P_TOP_EXTRA="\"policies\": { \"rated\": { \"rate\": { \"max\": 2, \"window\": 60 } } }, $(offline_top "$WORK/state" "" '"retry_after": 5')" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID

# ---- CA down: one entry, polled four times
make_csr_key r ec:P-256 /CN=rated-queue-device
id=
for i in 1 2 3 4 5; do
	post_csr "r$i" "$purl/simpleenroll" "$WORK/r.b64"
	check_queued pending
	[ -n "$id" ] || id=$QID
	[ "$QID" = "$id" ] || fail "request $i was queued as $QID, not as $id"
done
note "5 requests, all 202 queued as $id"
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 1 ] || fail "$n entries pending, expected 1"

# ---- CA back: issued, collected without counting
fixed_start ca
wait_queue_state 15 "$plog" "$id" issued
enroll_ok r6 "$purl/simpleenroll" "$WORK/r.b64" r "$ISSUING_CERT"
wait_queue_state 5 "$plog" "$id" delivered

# ---- the rate still holds for new requests: the second, then no more
enroll_ok r7 "$purl/simpleenroll" "$WORK/r.b64" r "$ISSUING_CERT"
post_csr r8 "$purl/simpleenroll" "$WORK/r.b64"
check_error 429
check_body "policy rate: at most 2 enrollments per 60 s for this identity; retry later"
[ "$(enroll_lines ca)" = 2 ] ||
    fail "the CA issued $(enroll_lines ca) certificates, expected 2 (the queued one, then r7)"
check_alive "$ppid" "the proxy"
pass
