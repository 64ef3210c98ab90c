#!/usr/bin/env bash
# EST over CoAP (RFC 9148) when the CA is down, with Debian's
# coap-client-openssl, behind a private CA that stops and comes back at
# the same URL (fixed_prepare; the lab's own CA never stops):
#  - a proxy without a queue: /sen answers 5.02 (Bad Gateway), as the
#    HTTPS side's 502; behind a CA that accepts and never answers
#    (timeout 2 s), 5.04 in a separate response after the empty ACK;
#  - a proxy with a queue (docs/offline.md, retry_after 5): /sen answers
#    5.03 with Max-Age 5 (RFC 9148 §5: the delayed response) and the
#    queue's reason as diagnostic, "queued as ID (pending): ...", the entry
#    pending; the same CSR again is matched to the same entry (5.03 naming
#    the same ID, no second entry);
#  - the CA back: the entry is issued, and the next retry gets 2.04 with
#    the certificate for the CSR's key; the CA issued exactly once, and the
#    audit says pending, issued, delivered.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
command -v python3 >/dev/null || fail "python3 is needed to read the audit file"
CERT=(-c "$CLIENT_CERT" -j "$CLIENT_KEY")
fixed_prepare ca
make_csr dev "/CN=coap-offline"

# ---- no queue: 5.02
P_URL=$FIXED_URL coap_proxy plain
coap_post plain "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
check_code 5.02
stop_pid "$XPID"

# ---- a CA that accepts and never answers: 5.04 at the upstream timeout
start_silent
P_URL=$SILENT_URL P_TIMEOUT=2 coap_proxy silent
coap_post silent "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
check_code 5.04
grep -qE '^v:1 t:CON c:5\.04 ' "$WORK/silent.out" ||
    fail "the 5.04 was not a separate response: $(grep -m 1 'c:5' "$WORK/silent.out")"
stop_pid "$XPID"

# ---- a queue: 5.03 with Max-Age, the retry matched
audit=$WORK/audit.jsonl
P_URL=$FIXED_URL \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5, "poll_interval": 1' "$audit") \
    coap_proxy queued
plog=$XLOG
coap_post q1 "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
coap_diag 5.03 "queued as "
check_option "Max-Age:5"
id=$(sed -n 's/^queued as \([0-9][0-9]*\) (pending).*/\1/p' <<<"$DIAG")
[ -n "$id" ] || fail "the 5.03's diagnostic '$DIAG' is not 'queued as ID (pending): ...'"
wait_queue_state 5 "$plog" "$id" pending
note "queued as entry $id"
coap_post q2 "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
coap_diag 5.03 "queued as $id (pending)"
check_option "Max-Age:5"
sleep 0.3
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 1 ] || fail "the retry made another entry: $(grep 'queue: entry' "$plog")"

# ---- the CA back: issued, delivered to the next retry
fixed_start ca
wait_queue_state 15 "$plog" "$id" issued
coap_post q3 "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
coap_issued q3 dev "$ISSUING_CERT"
wait_queue_state 5 "$plog" "$id" delivered
[ "$(enroll_lines ca)" = 1 ] ||
    fail "the CA issued $(enroll_lines ca) certificates, expected 1"
check_audit_states "$audit" "$id" "pending issued delivered"
pass
