#!/usr/bin/env bash
# EST over CoAP (RFC 9148) when the CA is down, with Debian's
# coap-client-openssl, behind a private CA that stops and comes back at
# the same URL (fixed_prepare; the lab's own CA never stops):
#  - a proxy without a queue: /sen answers 5.02 (Bad Gateway), as the
#    HTTPS side's 502;
#  - a proxy with a queue (docs/offline.md): /sen answers 5.03 with
#    Max-Age (RFC 9148 §5: the delayed response), the entry is pending; the
#    same CSR again is matched to the same entry (5.03, no second entry);
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

# ---- a queue: 5.03 with Max-Age, the retry matched
audit=$WORK/audit.jsonl
P_URL=$FIXED_URL \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5, "poll_interval": 1' "$audit") \
    coap_proxy queued
plog=$XLOG
coap_post q1 "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
check_code 5.03
check_option "Max-Age:"
wait_grep 5 "$plog" 'queue: entry [0-9]* .*is pending' ||
    fail "no 'queue: entry ID ... is pending' line"
id=$(sed -n 's/.*queue: entry \([0-9][0-9]*\) .*is pending.*/\1/p' "$plog" | head -n 1)
note "queued as entry $id (diagnostic: $DIAG)"
coap_post q2 "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
check_code 5.03
check_option "Max-Age:"
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
