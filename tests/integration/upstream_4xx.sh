#!/usr/bin/env bash
# The CA's own error comes back unchanged: a label the CA does not know
# gives the CA's 404, its Content-Type and body byte for byte.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P_LABELS='"ghost": { "upstream": "ca", "upstream_label": "ghost" }' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

req ca GET "$CA_URL/ghost/cacerts"
check_error 404
ca_ct=$(header Content-Type)
req relayed GET "$XURL/ghost/cacerts"
check_status 404
[ "$(header Content-Type)" = "$ca_ct" ] ||
    fail "Content-Type '$(header Content-Type)', the CA sent '$ca_ct'"
cmp -s "$WORK/ca.body" "$WORK/relayed.body" ||
    fail "body '$(head -c 200 "$WORK/relayed.body")' differs from the CA's '$(head -c 200 "$WORK/ca.body")'"
check_framing
pass
