#!/usr/bin/env bash
# When the client disconnects, its upstream transfer is cancelled (issue 2,
# "Upstream"): the proxy's connection to the (silent) CA closes well before
# the 20 s upstream timeout. The enrollment was decided and forwarded, so
# the audit log still gets its record, as "abandoned" (issue 4, "Audit").
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=20 \
    P_TOP_EXTRA="\"audit\": { \"file\": \"$WORK/audit.jsonl\" }" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

make_csr dev "/CN=cancel-device"
# One request (a certificate, not the two of a Digest exchange), so the
# client gives up with no answer at all.
T_CURL_TIMEOUT=1 post_csr gaveup "$XURL/simpleenroll" "$WORK/dev.b64" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
[ "$STATUS" = 000 ] || fail "expected the client to give up, got HTTP $STATUS"
grep -q '^accepted 1' "$SILENT_LOG" || fail "the proxy never connected to the silent CA"
wait_grep 3 "$SILENT_LOG" '^closed 1' ||
    fail "upstream connection still open 3 s after the client left (not cancelled); silent_server log: $(tr '\n' ' ' <"$SILENT_LOG")"
note "upstream connection closed after the client left"
wait_grep 3 "$WORK/audit.jsonl" '"decision":"abandoned"' ||
    fail "no abandoned record in the audit log: $(cat "$WORK/audit.jsonl")"
grep -q '"op":"simpleenroll".*"auth":"cert"\|"auth":"cert".*"op":"simpleenroll"' "$WORK/audit.jsonl" ||
    fail "the abandoned record lacks the operation or identity: $(cat "$WORK/audit.jsonl")"
check_alive "$XPID" "the proxy"
pass
