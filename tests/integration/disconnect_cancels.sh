#!/usr/bin/env bash
# A client that leaves while the CA works (issue 2, "Upstream"; issue 14
# item 7), in front of a CA that never answers (silent_server), upstream
# timeout 3 s:
#  - a cacerts whose client gives up (curl --max-time: it closes, a FIN):
#    its upstream transfer is cancelled, the connection to the CA closes
#    well before the timeout; access line 499;
#  - a cacerts whose client resets the connection: the same;
#  - a cacerts whose client sends a next request on the same connection
#    (bytes estrad must leave to evhttp) and then resets: the reset is
#    still seen (by the TCP state, each second) and the transfer
#    cancelled, and the proxy does not spin meanwhile (its CPU time over
#    those seconds stays small);
#  - a simpleenroll whose client resets: the CA has the CSR and may issue,
#    so the transfer is NOT cancelled: it runs to the upstream timeout, and
#    the audit log gets the decision as "abandoned" with the outcome (issue
#    4, "Audit"); access line 499;
#  - the same, but the proxy is stopped (shutdown_timeout 1 s) before the
#    CA answers: the record is still written ("abandoned", "estrad stopped
#    before the CA answered"), and the access line says 499.
# A client that half-closes after an enrollment is answered (client_leaves).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

LEAVE=$(dirname "$0")/../tools/leave_client.py
command -v python3 >/dev/null || skip "no python3 (tools/install-deps)"
start_silent
P_URL=$SILENT_URL P_TIMEOUT=3 \
    P_TOP_EXTRA="\"audit\": { \"file\": \"$WORK/audit.jsonl\" }" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
PP=$XPID

# cancelled N WHAT: the silent CA's Nth connection closes within 2 s.
cancelled() {
	local t0
	t0=$(now_ms)
	wait_grep 3 "$SILENT_LOG" "^accepted $1\$" || fail "$2: the proxy never connected to the silent CA"
	wait_grep 2 "$SILENT_LOG" "^closed $1\$" ||
	    fail "$2: upstream connection still open 2 s after the client left (not cancelled); silent_server log: $(tr '\n' ' ' <"$SILENT_LOG")"
	CANCEL_MS=$(($(now_ms) - t0))
}

# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ---- cacerts, the client gives up (FIN): cancelled
T_CURL_TIMEOUT=1 req gaveup GET "$XURL/cacerts"
[ "$STATUS" = 000 ] || fail "expected the client to give up, got HTTP $STATUS"
cancelled 1 "cacerts, FIN"
wait_grep 2 "$XLOG" 'access .*op=cacerts .*status=499 ' ||
    fail "no access line 499 for the cacerts: $(grep access "$XLOG" | tail -n 2)"
note "cacerts, client gave up (FIN): upstream connection closed within ${CANCEL_MS} ms"

# ---- cacerts, the client resets: cancelled
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/cacerts 2>&1) || fail "reset client: $out"
cancelled 2 "cacerts, reset"
note "cacerts, reset: upstream connection closed within ${CANCEL_MS} ms"

# ---- cacerts, a pipelined request then a reset: seen, no spin
t0=$(cpu_ticks "$PP")
out=$(timeout 20 python3 "$LEAVE" pipereset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/cacerts 2>&1) || fail "pipereset client: $out"
cancelled 3 "cacerts, pipelined then reset"
sleep 1
ticks=$(($(cpu_ticks "$PP") - t0))
[ "$ticks" -lt 50 ] ||
    fail "the proxy used $ticks clock ticks of CPU while a reset client's bytes waited (it spins)"
note "cacerts, pipelined then reset: cancelled within ${CANCEL_MS} ms, ${ticks} CPU ticks meanwhile"

# ---- simpleenroll: seen through to the CA's outcome
make_csr dev "/CN=cancel-device"
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/simpleenroll "$WORK/dev.b64" 2>&1) || fail "reset client: $out"
t0=$(now_ms)
wait_grep 3 "$SILENT_LOG" '^accepted 4$' || fail "the enrollment never reached the silent CA"
wait_grep 3 "$XLOG" 'the client left while the CA has its simpleenroll' ||
    fail "the proxy did not notice the reset: $(grep -v 'listening\|started' "$XLOG" | tail -n 3)"
sleep 1
grep -q '^closed 4$' "$SILENT_LOG" &&
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

# ---- simpleenroll, the proxy stops before the CA answers: still recorded
P_URL=$SILENT_URL P_TIMEOUT=20 \
    P_TOP_EXTRA="\"shutdown_timeout\": 1, \"audit\": { \"file\": \"$WORK/stop.audit\" }" \
    proxy_config "$WORK/stop.json"
start_estrad stop "$WORK/stop.json"
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/simpleenroll "$WORK/dev.b64" 2>&1) || fail "reset client: $out"
wait_grep 3 "$XLOG" 'the client left while the CA has its simpleenroll' ||
    fail "the stopping proxy did not notice the reset"
stop_pid "$XPID"
wait_grep 2 "$XLOG" ' info stopped$' || fail "the proxy did not stop"
grep -q '"decision":"abandoned"' "$WORK/stop.audit" 2>/dev/null ||
    fail "no abandoned record after the stop: $(cat "$WORK/stop.audit" 2>/dev/null)"
grep -q 'access .*op=simpleenroll .*status=499 .*estrad stopped before the CA answered' "$XLOG" ||
    fail "no access line for the enrollment cut by the stop: $(grep access "$XLOG" | tail -n 2)"
note "stopped before the CA answered: audited 'abandoned', access line 499"
pass
