#!/usr/bin/env bash
# A route can turn an operation off ("refuse"): it is answered 501 with a
# one-line reason before any authentication (no challenge, no credential
# checked, nothing upstream), on the access line and in the request
# metric like the other refusals of a path. "open" lets anyone in. The
# same operation on another route is untouched.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P_LABELS='"nokeys": { "upstream": "ca", "auth": { "simpleenroll": "refuse",
    "serverkeygen": "refuse", "csrattrs": "open" } }' \
    P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' \
    proxy_config "$WORK/proxy.json"
start_estrad refuse "$WORK/proxy.json"
admin_port "$XLOG"
make_csr dev "/CN=dev1" "DNS:dev1.example.com"
before=$(ca_access_lines)

# With good credentials: refused all the same.
req enroll POST "$XURL/nokeys/simpleenroll" "${DIGEST_AUTH[@]}" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64"
check_error 501
check_body "simpleenroll is not offered here (turned off by the configuration)"
check_access "op=simpleenroll" "$XLOG"
check_access "status=501" "$XLOG"

# Without credentials: no challenge, for no credential would help.
req keygen POST "$XURL/nokeys/serverkeygen" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64"
check_error 501
check_body "serverkeygen is not offered here (turned off by the configuration)"
[ -z "$(header WWW-Authenticate)" ] ||
    fail "a refused operation sent a challenge: $(header WWW-Authenticate)"
check_ca_unchanged "$before" "a refused operation"

# The route's other operations, and the same operation elsewhere, work.
req cacerts GET "$XURL/nokeys/cacerts"
check_status 200
post_csr ok "$XURL/simpleenroll" "$WORK/dev.b64"
check_status 200

scrape metrics
check_metric 'estrad_requests_total{op="simpleenroll",label="nokeys",status="501"}' 1
check_metric 'estrad_requests_total{op="serverkeygen",label="nokeys",status="501"}' 1
pass
