#!/usr/bin/env bash
# Over max_in_flight transfers to one upstream: 503 with Retry-After
# (seconds, RFC 7030 §4.2.3 style) and a text/plain reason, at once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=20 P_MAX_IN_FLIGHT=1 P_RETRY_AFTER=7 proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

curl -sS --max-time 8 --cacert "$TRUST" -o /dev/null "$XURL/cacerts" 2>/dev/null &
bg=$!
T_PIDS+=("$bg")
wait_grep 5 "$SILENT_LOG" '^accepted' || fail "the first request never reached the CA"
req busy GET "$XURL/cacerts"
check_error 503
check_header Retry-After 7
[ "$ELAPSED_MS" -lt 1000 ] || fail "503 took ${ELAPSED_MS} ms"
# Another upstream of the same proxy is not affected.
req real GET "$XURL/real/cacerts"
check_status 200
pass
