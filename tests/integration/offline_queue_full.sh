#!/usr/bin/env bash
# A full queue (docs/offline.md): "queue": {"max_entries": 1}, the private
# CA down. Client A (its own key) gets 202; client B (another key) gets
# 503 text/plain with Retry-After = queue.retry_after (4), and so does its
# retry; A's retry is still 202 with its entry's ID; only A is queued.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
P_URL=$FIXED_URL \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 4, "max_entries": 1') \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL

make_csr_key a ec:P-256 /CN=full-a
make_csr_key b ec:P-256 /CN=full-b
post_csr a1 "$purl/simpleenroll" "$WORK/a.b64"
check_queued pending
check_header Retry-After 4
ida=$QID

post_csr b1 "$purl/simpleenroll" "$WORK/b.b64"
check_error 503
check_header Retry-After 4

post_csr a2 "$purl/simpleenroll" "$WORK/a.b64"
check_queued pending
check_header Retry-After 4
[ "$QID" = "$ida" ] || fail "A's retry was queued as $QID, not $ida"

post_csr b2 "$purl/simpleenroll" "$WORK/b.b64"
check_error 503
check_header Retry-After 4
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 1 ] || fail "$n entries became pending, expected 1 (A's)"
check_alive "$XPID" "the proxy"
pass
