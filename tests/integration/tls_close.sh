#!/usr/bin/env bash
# Every TLS connection estrad closes ends with its close_notify (RFC 8446
# §6.1, RFC 5246 §7.2.1), seen by a Python ssl client that takes a bare TCP
# end for what it is (tests/tools/tls_close.py), on TLS 1.2 and 1.3:
#  - after an answer to "Connection: close", and to an HTTP/1.0 request;
#  - in reply to the client's own close_notify (unwrap);
#  - when the connection idles past limits.idle_timeout, and when no
#    request comes within limits.read_timeout;
#  - on the admin listener with TLS, after "Connection: close" and after
#    admin.timeout;
#  - on an idle keep-alive connection when estrad stops (SIGTERM);
#  - openssl s_client reads the answer to "Connection: close" without
#    "unexpected eof while reading".
# A client that reads its answer and closes without close_notify, as
# Python's http.client always does, is no handshake failure, nor is a TCP
# health check that closes before its ClientHello: no "handshake failed"
# line, estrad_tls_handshake_failures_total stays 0; a suite mismatch still
# counts. Such a client's session resumes on its next connection (TLS 1.2
# and 1.3; tls_resume covers the rest).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

TOOL=$(dirname "$0")/../tools/tls_close.py

P_READ_TIMEOUT=1 P_IDLE_TIMEOUT=1 \
    P_TOP_EXTRA="\"admin\": { \"listen\": \"127.0.0.1:0\", \"timeout\": 1,
    \"certificate\": \"$PROXY_SERVER_CERT\", \"key\": \"$PROXY_SERVER_KEY\" }" \
    proxy_config "$WORK/close.json"
start_estrad close "$WORK/close.json"
admin_port "$XLOG"

# ending NAME MODE PORT [PATH] [EXPECTED]: tls_close.py's verdict is
# "STATUS\nclose_notify" (EXPECTED, default 200).
ending() {
	local name=$1 mode=$2 port=$3 path=${4:-/.well-known/est/cacerts}
	local want=${5:-200} got
	got=$(timeout 40 python3 "$TOOL" "$mode" "$port" "$TRUST" "$path" 2>"$WORK/$name.err" |
	    tr '\n' ' ')
	[ "$got" = "$want close_notify " ] ||
	    fail "$name ($mode): '$got', expected '$want close_notify' ($(tail -n 1 "$WORK/$name.err"))"
}

for mode in close http10 notify idle; do
	ending "est-$mode" "$mode" "$XPORT"
done
ending est-silent silent "$XPORT" "" -
note "EST: close_notify after Connection: close, HTTP/1.0, the client's close_notify, the idle and the read timeout"

ending admin-close close "$APORT" /healthz
ending admin-silent silent "$APORT" "" -
note "admin over TLS: close_notify after Connection: close and after admin.timeout"

# TLS 1.2 and 1.3 alike, with openssl s_client.
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
    >"$WORK/close.req"
for v in 1.2 1.3; do
	timeout 10 openssl s_client -connect "127.0.0.1:$XPORT" -servername localhost \
	    -CAfile "$TRUST" -verify_return_error -ign_eof -quiet "-tls${v/./_}" \
	    <"$WORK/close.req" >"$WORK/s$v.out" 2>"$WORK/s$v.err"
	grep -aq '^HTTP/1.1 200 OK' "$WORK/s$v.out" ||
	    fail "s_client TLS $v: no 200: $(head -n 1 "$WORK/s$v.out")"
	grep -q 'unexpected eof' "$WORK/s$v.err" &&
	    fail "s_client TLS $v: $(grep 'unexpected eof' "$WORK/s$v.err")"
done
note "openssl s_client, TLS 1.2 and 1.3: the answer, then close_notify"

# http.client's way: the answer read, then a bare TCP close, twice.
for i in 1 2; do
	out=$(timeout 40 python3 "$TOOL" drop "$XPORT" "$TRUST" 2>"$WORK/drop$i.err" | tr '\n' ' ')
	[ "$out" = "200 sent " ] || fail "drop $i: '$out' ($(tail -n 1 "$WORK/drop$i.err"))"
done
# Its session is kept: the next connection resumes it.
for v in 12 13; do
	out=$(timeout 40 python3 "$TOOL" "resume$v" "$XPORT" "$TRUST" 2>"$WORK/resume$v.err" | tr '\n' ' ')
	[ "$out" = "200 reused " ] ||
	    fail "TLS ${v:0:1}.${v:1}, closed without close_notify: the next connection got '$out', expected '200 reused' ($(tail -n 1 "$WORK/resume$v.err"))"
done
# A TCP health check: connect, close, no ClientHello.
timeout 5 bash -c "exec 4<>/dev/tcp/127.0.0.1/$XPORT; exec 4>&-" ||
    fail "cannot connect to $XPORT"
sleep 0.3
grep -q 'handshake failed' "$XLOG" &&
    fail "a close without close_notify logged as: $(grep 'handshake failed' "$XLOG" | head -n 1)"
req metrics GET "https://127.0.0.1:$APORT/metrics"
check_status 200
SCRAPE=$BODY
check_metric estrad_tls_handshake_failures_total 0
note "closes without close_notify, a TCP check: no handshake failure logged or counted; the session resumes"

# A real handshake failure still counts: no suite in common.
timeout 10 openssl s_client -connect "127.0.0.1:$XPORT" -servername localhost \
    -tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256 -quiet </dev/null >"$WORK/old.out" 2>&1
sleep 0.3
req metrics2 GET "https://127.0.0.1:$APORT/metrics"
SCRAPE=$BODY
check_metric estrad_tls_handshake_failures_total 1
grep -q 'tls peer=127\.0\.0\.1:[0-9]* handshake failed: alert handshake failure' "$XLOG" ||
    fail "no 'handshake failed: alert handshake failure' line for a suite refused"
check_alive "$XPID" "the proxy"

# Stopping: an idle keep-alive connection is closed with close_notify.
proxy_config "$WORK/stop.json"
start_estrad stop "$WORK/stop.json"
timeout 40 python3 "$TOOL" idle "$XPORT" "$TRUST" >"$WORK/stop.out" 2>"$WORK/stop.err" &
tpid=$!
T_PIDS+=("$tpid")
wait_grep 5 "$XLOG" ' access ' || fail "stop: no access line"
kill -TERM "$XPID"
wait "$tpid"
[ "$(tr '\n' ' ' <"$WORK/stop.out")" = "200 close_notify " ] ||
    fail "stop: '$(tr '\n' ' ' <"$WORK/stop.out")', expected '200 close_notify' ($(tail -n 1 "$WORK/stop.err"))"
note "stopping: the idle connection gets close_notify"
pass
