#!/usr/bin/env bash
# What goes upstream and what comes back, on the wire. A recording CA
# (openssl s_server, demanding a client certificate) captures the proxy's
# request and answers a canned 202 with Retry-After:
#  - the proxy authenticates as the RA (RFC 7030 §3.7);
#  - the path carries the upstream label;
#  - the CSR body goes upstream exactly as the client sent it, with a
#    Content-Length;
#  - the CA's status, Content-Type, Content-Transfer-Encoding (which clients
#    may depend on, docs/interop.md), Retry-After and body come back
#    unchanged (RFC 7030 §4.2.3 pending answer), framed by Content-Length.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=recorded-device"
# An unusual but valid body: 60 columns, CRLF line ends.
base64 -w60 "$WORK/dev.der" | sed 's/$/\r/' >"$WORK/body"
last_line=$(tail -n 1 "$WORK/body" | tr -d '\r')
printf 'HTTP/1.1 202 Accepted\r\nRetry-After: 17\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\nContent-Length: 24\r\n\r\nrequest 4711 is pending\n' >"$WORK/canned"

start_recorder rec "$WORK/canned" "$last_line"
P_URL=$REC_URL \
    P_LABELS='"rec": { "upstream": "ca", "upstream_label": "lbl" }' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

post_csr pending "$XURL/rec/simpleenroll" "$WORK/body" -H 'Content-Transfer-Encoding: base64'
recorder_done rec
check_status 202
check_header Retry-After 17
check_header Content-Type 'text/plain; charset=us-ascii'
check_header Content-Transfer-Encoding 7bit
printf 'request 4711 is pending\n' | cmp -s - "$BODY" ||
    fail "body '$(cat "$BODY")' is not the CA's 'request 4711 is pending'"
check_framing

# The RA certificate was presented and verified.
grep -q 'depth=0 CN *= *estrad lab RA' "$WORK/rec.err" ||
    fail "the proxy did not present the RA certificate: $(head -c 400 "$WORK/rec.err")"
grep -qi 'error' "$WORK/rec.err" && fail "recording CA: $(grep -i error "$WORK/rec.err")"

# The request, byte for byte.
recorded_request rec
tr -d '\r' <"$WORK/rec.up.hdr" | head -n 1 >"$WORK/reqline"
[ "$(cat "$WORK/reqline")" = "POST /.well-known/est/lbl/simpleenroll HTTP/1.1" ] ||
    fail "request line upstream: '$(cat "$WORK/reqline")'"
ct=$(header Content-Type "$WORK/rec.up.hdr")
[ "$(echo "$ct" | tr A-Z a-z)" = application/pkcs10 ] || fail "Content-Type upstream: '$ct'"
has_header Transfer-Encoding "$WORK/rec.up.hdr" &&
    fail "the CSR went upstream chunked; a CA may need Content-Length"
cl=$(header Content-Length "$WORK/rec.up.hdr")
[ "$cl" = "$(stat -c %s "$WORK/body")" ] ||
    fail "Content-Length upstream $cl, the client sent $(stat -c %s "$WORK/body") bytes"
cmp "$WORK/body" "$WORK/rec.up.body" ||
    fail "the CSR went upstream changed (see $WORK/body and $WORK/rec.up.body)"
has_header Authorization "$WORK/rec.up.hdr" && fail "an Authorization header went upstream"
pass
