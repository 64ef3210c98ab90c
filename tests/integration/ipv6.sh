#!/usr/bin/env bash
# One daemon listening on 127.0.0.1 and [::1] answers on both.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

grep -qi '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null ||
    skip "::1 is not configured on this machine"

P_LISTEN='["127.0.0.1:0", "[::1]:0"]' proxy_config "$WORK/proxy.json"
start_estrad proxy6 "$WORK/proxy.json"
port6=$(wait_log_port "$XPID" "$XLOG" '\[\{0,1\}::1\]\{0,1\}') ||
    fail "no 'listening on [::1]:PORT' line in $XLOG"
note "listening on 127.0.0.1:$XPORT and [::1]:$port6"

req v4 GET "$XURL/cacerts"
check_status 200
req v6 GET "https://[::1]:$port6/.well-known/est/cacerts"
check_status 200
cmp -s "$WORK/v4.body" "$WORK/v6.body" || fail "cacerts differs between IPv4 and IPv6"
req v6_name GET "https://localhost:$port6/.well-known/est/cacerts" \
    --resolve "localhost:$port6:[::1]"
check_status 200

make_csr dev "/CN=v6-device"
enroll_ok v6_enroll "https://[::1]:$port6/.well-known/est/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
grep -q 'access .*peer=\[\{0,1\}::1' "$XLOG" || fail "no access line with an IPv6 peer in $XLOG"
pass
