#!/usr/bin/env bash
# A client that leaves (its connection reset) while the CA works (issue 2,
# "Upstream"; issue 14 item 7), in front of a CA that never answers
# (silent_server), upstream timeout 3 s:
#  - a cacerts: its upstream transfer is cancelled, the proxy's
#    connection to the CA closes well before the timeout; access line 499;
#  - a simpleenroll: the CA has the CSR and may issue, so the transfer is
#    NOT cancelled: it runs to the upstream timeout, and the audit log gets
#    the decision as "abandoned" with the outcome (issue 4, "Audit");
#    access line 499.
# A client that only half-closes is answered (client_leaves).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

LEAVE=$(dirname "$0")/../tools/leave_client.py
command -v python3 >/dev/null || skip "no python3 (tools/install-deps)"
start_silent
P_URL=$SILENT_URL P_TIMEOUT=3 \
    P_TOP_EXTRA="\"audit\": { \"file\": \"$WORK/audit.jsonl\" }" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

# ---- cacerts: cancelled
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/cacerts 2>&1) || fail "reset client: $out"
t0=$(now_ms)
grep -q '^accepted 1' "$SILENT_LOG" || wait_grep 2 "$SILENT_LOG" '^accepted 1' ||
    fail "the proxy never connected to the silent CA"
wait_grep 2 "$SILENT_LOG" '^closed 1' ||
    fail "upstream connection still open 2 s after the client left (not cancelled); silent_server log: $(tr '\n' ' ' <"$SILENT_LOG")"
took=$(($(now_ms) - t0))
wait_grep 2 "$XLOG" 'access .*op=cacerts .*status=499 ' ||
    fail "no access line 499 for the cacerts: $(grep access "$XLOG" | tail -n 2)"
note "cacerts: upstream connection closed ${took} ms after the client's reset"

# ---- simpleenroll: seen through to the CA's outcome
make_csr dev "/CN=cancel-device"
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/simpleenroll "$WORK/dev.b64" 2>&1) || fail "reset client: $out"
t0=$(now_ms)
wait_grep 3 "$SILENT_LOG" '^accepted 2' || fail "the enrollment never reached the silent CA"
wait_grep 3 "$XLOG" 'the client left while the CA has its simpleenroll' ||
    fail "the proxy did not notice the reset: $(grep -v 'listening\|started' "$XLOG" | tail -n 3)"
sleep 1
grep -q '^closed 2' "$SILENT_LOG" &&
    fail "the enrollment's transfer was cancelled although the CA may issue"
wait_grep 5 "$WORK/audit.jsonl" '"decision":"abandoned"' ||
    fail "no abandoned record in the audit log: $(cat "$WORK/audit.jsonl")"
took=$(($(now_ms) - t0))
grep -q '"op":"simpleenroll".*"auth":"cert"\|"auth":"cert".*"op":"simpleenroll"' "$WORK/audit.jsonl" ||
    fail "the abandoned record lacks the operation or identity: $(cat "$WORK/audit.jsonl")"
grep '"decision":"abandoned"' "$WORK/audit.jsonl" | grep -q 'timed out' ||
    fail "the abandoned record does not say the CA timed out: $(cat "$WORK/audit.jsonl")"
wait_grep 2 "$XLOG" 'access .*op=simpleenroll .*status=499 ' ||
    fail "no access line 499 for the simpleenroll: $(grep access "$XLOG" | tail -n 2)"
note "simpleenroll: kept until the CA's timeout (${took} ms after the reset), audited 'abandoned'"
check_alive "$XPID" "the proxy"
pass
