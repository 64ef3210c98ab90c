#!/usr/bin/env bash
# A stopped CA gives 502 with a text/plain reason, within a second.
# Own upstream (the lab CA config on a new port) and own proxy, so the lab
# stays up.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_estrad ca2 "$CA_CONFIG"
ca2_pid=$XPID
ca2_url=$XURL
P_URL=$ca2_url P_TIMEOUT=10 proxy_config "$WORK/proxy.json"
start_estrad proxy2 "$WORK/proxy.json"

req before GET "$XURL/cacerts"
check_status 200
make_csr dev "/CN=down-device"
enroll_ok enroll_before "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"

stop_pid "$ca2_pid"
kill -0 "$ca2_pid" 2>/dev/null && fail "could not stop the second CA"
note "CA stopped"

req down GET "$XURL/cacerts"
check_error 502
[ "$ELAPSED_MS" -lt 1000 ] || fail "502 took ${ELAPSED_MS} ms (limit 1000)"
note "cacerts: 502 in ${ELAPSED_MS} ms"

post_csr down_enroll "$XURL/simpleenroll" "$WORK/dev.b64"
check_error 502
[ "$ELAPSED_MS" -lt 1000 ] || fail "502 on simpleenroll took ${ELAPSED_MS} ms (limit 1000)"
note "simpleenroll: 502 in ${ELAPSED_MS} ms"

check_alive "$XPID" "the proxy"
req real GET "$XURL/real/cacerts"
check_status 200
pass
