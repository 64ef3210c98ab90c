#!/usr/bin/env bash
# A CA that accepts the connection and never answers (silent_server) gives
# 504 with a text/plain reason once the upstream timeout (2 s) runs out.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=2 P_CONNECT_TIMEOUT=5 proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

req slow GET "$XURL/cacerts"
check_error 504
note "cacerts: 504 after ${ELAPSED_MS} ms"
[ "$ELAPSED_MS" -ge 1500 ] && [ "$ELAPSED_MS" -le 4000 ] ||
    fail "504 after ${ELAPSED_MS} ms; expected 1500..4000 (timeout 2 s)"
grep -q '^accepted' "$SILENT_LOG" || fail "the proxy never connected to the silent CA"

make_csr dev "/CN=slow-device"
post_csr slow_enroll "$XURL/simpleenroll" "$WORK/dev.b64"
check_error 504
note "simpleenroll: 504 after ${ELAPSED_MS} ms"
[ "$ELAPSED_MS" -ge 1500 ] && [ "$ELAPSED_MS" -le 4000 ] ||
    fail "504 after ${ELAPSED_MS} ms; expected 1500..4000 (timeout 2 s)"

check_alive "$XPID" "the proxy"
req real GET "$XURL/real/cacerts"
check_status 200
pass
