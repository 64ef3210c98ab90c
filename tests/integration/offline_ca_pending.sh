#!/usr/bin/env bash
# A CA that answers 202 itself (RFC 7030 §4.2.3; docs/offline.md, state
# "polling"), built from real parts: the proxy under test forwards to a
# "mid" estrad RA whose own upstream (a private CA) is down and which has a
# queue, so the mid answers the proxy's forwarded request 202 with
# Retry-After 1 (its queue.retry_after). The mid admits the proxy by its
# RA certificate and keeps the entry under "cert:CN=estrad lab RA".
#  - the client's Digest simpleenroll at the proxy: 202 "queued as ID
#    (polling)", logged "... is polling";
#  - the private CA comes back: the mid forwards its entry ("... is
#    issued" at the mid); the proxy, polling (the CA's Retry-After 1,
#    poll_interval 1), re-POSTs the stored CSR, which the mid matches to
#    its entry: 200 ("... is delivered" at the mid, "... is issued" at the
#    proxy);
#  - the client's retry: 200, a certificate for its key; one certificate
#    issued by the CA.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
ca_url=$FIXED_URL

# The mid RA: the lab's users and its RA-certificate clients, a queue.
P_URL=$ca_url P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/mid-state" "" '"retry_after": 1, "poll_interval": 1') \
    proxy_config "$WORK/mid.json"
start_estrad mid "$WORK/mid.json"
mlog=$XLOG mid_url=$XURL

# The proxy under test, in front of the mid.
P_URL=$mid_url P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 3, "poll_interval": 1') \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID

make_csr_key k ec:P-256 /CN=polling-device
post_csr q1 "$purl/simpleenroll" "$WORK/k.b64"
check_queued polling
id=$QID
wait_queue_state 5 "$plog" "$id" polling
wait_grep 2 "$mlog" 'queue: entry [0-9]* .*is pending' ||
    fail "the mid RA queued nothing"
mid_line=$(grep -m1 'queue: entry [0-9]* .*is pending' "$mlog")
mid_id=$(printf '%s\n' "$mid_line" | sed -n 's/.*queue: entry \([0-9]*\) .*/\1/p')
case $mid_line in
*"cert:CN=estrad lab RA"*) ;;
*) fail "the mid's entry is not the proxy's RA identity cert:CN=estrad lab RA: $mid_line" ;;
esac
grep -q 'queue: entry [0-9]* .*is pending' "$plog" &&
    fail "the proxy's entry was pending, not polling: $(grep 'queue: entry' "$plog")"

post_csr q2 "$purl/simpleenroll" "$WORK/k.b64"
check_queued polling
[ "$QID" = "$id" ] || fail "the retry was queued as $QID, not $id"

fixed_start ca
wait_queue_state 15 "$mlog" "$mid_id" issued
wait_queue_state 15 "$plog" "$id" issued
wait_queue_state 5 "$mlog" "$mid_id" delivered
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$mlog")
[ "$n" = 1 ] || fail "the proxy's polls made $n entries at the mid, expected 1"

post_csr q3 "$purl/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued q3 k "$ISSUING_CERT"
wait_queue_state 5 "$plog" "$id" delivered
sleep 0.2
[ "$(enroll_lines ca)" = 1 ] || fail "the CA issued $(enroll_lines ca) certificates, expected 1"
check_alive "$ppid" "the proxy"
pass
