#!/usr/bin/env bash
# Clients that go away mid-request leave the daemon healthy: half a body
# then close, a bare TLS handshake, plain text on the TLS port, and a
# client that gives up while the upstream call is still pending.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

port=${EST_URL#https://127.0.0.1:}
port=${port%%/*}

make_csr dev "/CN=gone-device"
len=$(stat -c %s "$WORK/dev.b64")
{
	printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\n'
	printf 'Host: 127.0.0.1:%s\r\n' "$port"
	printf 'Content-Type: application/pkcs10\r\n'
	printf 'Content-Length: %s\r\n\r\n' "$((len + 1000))"
	head -c $((len / 2)) "$WORK/dev.b64"
} >"$WORK/half.req"
# s_client sends stdin and, at its end, closes the connection.
timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
    -CAfile "$TRUST" <"$WORK/half.req" >"$WORK/half.out" 2>&1
note "half a body sent, connection closed"
check_proxy_healthy

# Half of the request headers.
printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: 127.' |
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$TRUST" >"$WORK/halfhdr.out" 2>&1
check_proxy_healthy

# A handshake and nothing else, then plain HTTP on the TLS port.
timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$TRUST" </dev/null >"$WORK/bare.out" 2>&1
printf 'GET /.well-known/est/cacerts HTTP/1.0\r\n\r\n' |
    timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
check_proxy_healthy

# A client that gives up while its request waits on a silent CA.
start_silent
P_URL=$SILENT_URL P_TIMEOUT=20 proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
# One request (a certificate, not the two of a Digest exchange), so the
# client gives up with no answer at all.
T_CURL_TIMEOUT=1 post_csr gaveup "$XURL/simpleenroll" "$WORK/dev.b64" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
[ "$STATUS" = 000 ] || fail "expected the client to give up, got HTTP $STATUS"
T_CURL_TIMEOUT=1 req gaveup_get GET "$XURL/cacerts"
[ "$STATUS" = 000 ] || fail "expected the client to give up, got HTTP $STATUS"
sleep 0.3
check_alive "$XPID" "the silent-upstream proxy"
req real GET "$XURL/real/cacerts"
check_status 200
make_csr dev2 "/CN=after-gone"
enroll_ok after "$XURL/real/simpleenroll" "$WORK/dev2.b64" dev2 "$ISSUING_CERT"
pass
