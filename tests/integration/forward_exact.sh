#!/usr/bin/env bash
# What goes upstream and what comes back, on the wire. A recording CA
# (openssl s_server, demanding a client certificate) captures the proxy's
# request and answers a canned 202 with Retry-After:
#  - the proxy authenticates as the RA (RFC 7030 §3.7);
#  - the path carries the upstream label;
#  - the CSR body goes upstream exactly as the client sent it, with a
#    Content-Length;
#  - the CA's status, Content-Type, Retry-After and body come back unchanged
#    (RFC 7030 §4.2.3 pending answer), framed by Content-Length.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=recorded-device"
# An unusual but valid body: 60 columns, CRLF line ends.
base64 -w60 "$WORK/dev.der" | sed 's/$/\r/' >"$WORK/body"
last_line=$(tail -n 1 "$WORK/body" | tr -d '\r')
printf 'HTTP/1.1 202 Accepted\r\nRetry-After: 17\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Length: 24\r\n\r\nrequest 4711 is pending\n' >"$WORK/canned"

rec=$WORK/recorded
: >"$rec"
# The canned answer goes out once the whole request was received.
{
	for ((i = 0; i < 100; i++)); do
		grep -qF -- "$last_line" "$rec" && break
		sleep 0.1
	done
	cat "$WORK/canned"
	# Hold stdin open (EOF would end s_server) until the case is done.
	for ((i = 0; i < 150; i++)); do
		[ -e "$WORK/done" ] && break
		sleep 0.1
	done
} 2>/dev/null | openssl s_server -accept 127.0.0.1:0 -naccept 1 -quiet \
    -cert "$PKI_DIR/ca-server.pem" -cert_chain "$ISSUING_CERT" \
    -key "$PKI_DIR/ca-server.key" -Verify 3 -CAfile "$ROOT_CERT" \
    >"$rec" 2>"$WORK/s_server.err" &
srv=$!
T_PIDS+=("$srv")
T_LOGS+=("$WORK/s_server.err")
for ((i = 0; i < 50; i++)); do
	rport=$(listen_port "$srv")
	[ -n "$rport" ] && break
	sleep 0.1
done
[ -n "$rport" ] || fail "cannot find the recording CA's port in /proc"

P_URL=https://127.0.0.1:$rport/.well-known/est \
    P_LABELS='"rec": { "upstream": "ca", "upstream_label": "lbl" }' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

post_csr pending "$XURL/rec/simpleenroll" "$WORK/body" -H 'Content-Transfer-Encoding: base64'
: >"$WORK/done"
check_status 202
check_header Retry-After 17
check_header Content-Type 'text/plain; charset=us-ascii'
printf 'request 4711 is pending\n' | cmp -s - "$BODY" ||
    fail "body '$(cat "$BODY")' is not the CA's 'request 4711 is pending'"
check_framing

# The RA certificate was presented and verified.
grep -q 'depth=0 CN *= *estrad lab RA' "$WORK/s_server.err" ||
    fail "the proxy did not present the RA certificate: $(head -c 400 "$WORK/s_server.err")"
grep -qi 'error' "$WORK/s_server.err" && fail "recording CA: $(grep -i error "$WORK/s_server.err")"

# The request, byte for byte.
tr -d '\r' <"$rec" | head -n 1 >"$WORK/reqline"
[ "$(cat "$WORK/reqline")" = "POST /.well-known/est/lbl/simpleenroll HTTP/1.1" ] ||
    fail "request line upstream: '$(cat "$WORK/reqline")'"
hdr_end=$(grep -n -m1 $'^\r$' "$rec" | cut -d: -f1)
[ -n "$hdr_end" ] || fail "no end of headers in the recorded request"
head -n "$hdr_end" "$rec" >"$WORK/up.hdr"
tail -n +"$((hdr_end + 1))" "$rec" >"$WORK/up.body"
ct=$(header Content-Type "$WORK/up.hdr")
[ "$(echo "$ct" | tr A-Z a-z)" = application/pkcs10 ] || fail "Content-Type upstream: '$ct'"
has_header Transfer-Encoding "$WORK/up.hdr" &&
    fail "the CSR went upstream chunked; a CA may need Content-Length"
cl=$(header Content-Length "$WORK/up.hdr")
[ "$cl" = "$(stat -c %s "$WORK/body")" ] ||
    fail "Content-Length upstream $cl, the client sent $(stat -c %s "$WORK/body") bytes"
cmp "$WORK/body" "$WORK/up.body" ||
    fail "the CSR went upstream changed (see $WORK/body and $WORK/up.body)"
has_header Authorization "$WORK/up.hdr" && fail "an Authorization header went upstream"
pass
