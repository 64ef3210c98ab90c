#!/usr/bin/env bash
# SIGTERM stops gracefully (src/main.c, on_signal_stop): the daemon stops
# accepting, lets the requests in flight finish for up to shutdown_timeout,
# then exits 0 and logs "stopped". On proxies of this case's own, in front
# of a CA that never answers (silent_server):
#  - shutdown_timeout 5, upstream timeout 2: an enrollment waits on the CA;
#    SIGTERM logs "signal 15: stopping; 1 request in flight, waiting up to
#    5.0 s"; a new connection is refused at once (curl exit 7) while that
#    request still waits; it then gets its answer, the 504 of the upstream
#    timeout (not a reset); the daemon exits 0 and logs "stopped";
#  - shutdown_timeout 0.5, upstream timeout 30: SIGTERM; within about a
#    second "shutdown_timeout: 1 request still in flight; stopping anyway",
#    exit 0, and the client's connection closes without an answer, long
#    before the 30 s;
#  - an idle proxy: SIGTERM -> exit 0 within a second;
#  - as in the first, with a SIGHUP after the SIGTERM while the request
#    waits: "SIGHUP while stopping: ignored", no reload, the client still
#    gets its 504, exit 0 and "stopped";
#  - in (b) the request cut off is logged 503 "not answered: estrad
#    stopped", never 499 (the client did not close it);
#  - eight kept-alive connections each send an enrollment just after
#    SIGTERM: all eight are answered 200 with Connection: close, none is
#    logged 499, and the daemon exits 0 by itself;
#  - four kept-alive connections that stay idle: closed after the drain's
#    1 s grace, exit 0 (the grace, not shutdown_timeout, bounds them).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
make_csr dev "/CN=stop-device"

# forget_pid PID: PID was reaped here; t_cleanup must not signal it again.
forget_pid() {
	local keep=() p
	for p in "${T_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	T_PIDS=("${keep[@]}")
}

# reap WHAT PID SECONDS: PID (a child of this shell) exits within SECONDS;
# sets RC (its exit status).
reap() {
	local what=$1 pid=$2 i
	for ((i = 0; i < $3 * 20; i++)); do
		running "$pid" || break
		sleep 0.05
	done
	running "$pid" && fail "$what (pid $pid) still runs after $3 s"
	wait "$pid"
	RC=$?
	forget_pid "$pid"
}

# inflight NAME: start an enrollment at $XURL in the background (curl
# --digest as the lab user, as post_csr does); when it ends, curl's exit
# status lands in $WORK/NAME.rc and the last HTTP status it saw in
# $WORK/NAME.status (with --digest, a connection closed before the answer
# leaves the 401 of the challenge there: the rc tells). Returns once the
# silent CA has accepted one more connection (the proxy's upstream
# transfer); sets BG_PID.
inflight() {
	local name=$1 n i
	n=$(grep -c '^accepted' "$SILENT_LOG")
	(
		curl -sS -g --max-time "$T_CURL_TIMEOUT" --cacert "$TRUST" \
		    -D "$WORK/$name.hdr" -o "$WORK/$name.body" -w '%{http_code}' \
		    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64" \
		    "${DIGEST_AUTH[@]}" "$XURL/simpleenroll" \
		    >"$WORK/$name.status" 2>"$WORK/$name.err"
		echo $? >"$WORK/$name.rc"
	) &
	BG_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c '^accepted' "$SILENT_LOG")" -gt "$n" ] && return 0
		sleep 0.05
	done
	fail "$name: the silent CA accepted no connection within 5 s"
}

# stop_inflight CONF REQ SHUTDOWN_TIMEOUT UPSTREAM_TIMEOUT LINE: the
# proxy CONF to the silent CA, with those timeouts, gets SIGTERM (at
# T_TERM, in ms) while request REQ (see inflight) waits; within 2 s its
# log has LINE, literal text. Sets P, LOG and PORT.
stop_inflight() {
	local conf=$1 req=$2 line=$5
	P_TOP_EXTRA="\"shutdown_timeout\": $3" P_URL=$SILENT_URL P_TIMEOUT=$4 \
	    proxy_config "$WORK/$conf.json"
	start_estrad "$conf" "$WORK/$conf.json"
	P=$XPID LOG=$XLOG PORT=$XPORT
	inflight "$req"
	T_TERM=$(now_ms)
	kill -TERM "$P"
	wait_grep 2 "$LOG" "${line//./\\.}" ||
	    fail "no '$line' line: $(grep 'signal' "$LOG")"
}

# inflight_answered REQ WHO: the request REQ in flight (see inflight)
# ended with an answer, not a reset; STATUS, BODY and HDR are its last
# response's (curl --digest writes the 401's headers too).
inflight_answered() {
	reap "$2" "$BG_PID" 10
	[ "$(cat "$WORK/$1.rc" 2>/dev/null)" = 0 ] ||
	    fail "$2: curl exit $(cat "$WORK/$1.rc" 2>/dev/null), expected 0 (an answer, not a reset): $(head -c 300 "$WORK/$1.err")"
	STATUS=$(cat "$WORK/$1.status")
	BODY=$WORK/$1.body
	awk '/^HTTP\// { n = 0 } { h[n++] = $0 } END { for (i = 0; i < n; i++) print h[i] }' \
	    "$WORK/$1.hdr" >"$WORK/$1.last.hdr"
	HDR=$WORK/$1.last.hdr
}

# ---- (a) the request in flight is answered, then the daemon exits
stop_inflight drain waiting 5 2 \
    'signal 15: stopping; 1 request in flight, 1 connection open, waiting up to 5.0 s'
t0=$(now_ms)
curl -sS --max-time 3 --cacert "$TRUST" -o /dev/null \
    "https://127.0.0.1:$PORT/.well-known/est/cacerts" 2>"$WORK/refused.err"
crc=$?
[ "$crc" = 7 ] ||
    fail "a new connection while stopping: curl exit $crc, expected 7 (refused): $(head -c 300 "$WORK/refused.err")"
[ $(($(now_ms) - t0)) -lt 1000 ] ||
    fail "the refused connection took $(($(now_ms) - t0)) ms"
[ ! -e "$WORK/waiting.rc" ] ||
    fail "the request in flight ended before the refusal check (curl exit $(cat "$WORK/waiting.rc"), HTTP $(cat "$WORK/waiting.status"))"
check_alive "$P" "the stopping proxy, with a request in flight"
inflight_answered waiting "the client in flight"
check_error 504 "timed out"
reap "the drained proxy" "$P" 5
[ "$RC" = 0 ] || fail "the drained proxy exited $RC, expected 0"
wait_grep 1 "$LOG" ' info stopped$' || fail "the drained proxy did not log 'stopped'"
note "drained: 504 to the client in flight, exit 0"

# ---- (b) shutdown_timeout runs out: stop anyway
stop_inflight cut cut 0.5 30 \
    'signal 15: stopping; 1 request in flight, 1 connection open, waiting up to 0.5 s'
t0=$T_TERM
reap "the proxy past its shutdown_timeout" "$P" 3
[ "$RC" = 0 ] || fail "the proxy past its shutdown_timeout exited $RC, expected 0"
ms=$(($(now_ms) - t0))
note "cut: exit 0 ${ms} ms after SIGTERM"
[ "$ms" -ge 400 ] || fail "the proxy exited ${ms} ms after SIGTERM, before its shutdown_timeout (0.5 s)"
[ "$ms" -le 1500 ] || fail "the proxy exited ${ms} ms after SIGTERM; shutdown_timeout is 0.5 s"
grep -q 'shutdown_timeout: 1 request still in flight; stopping anyway$' "$LOG" ||
    fail "no 'shutdown_timeout: 1 request still in flight; stopping anyway' line"
grep -q ' info stopped$' "$LOG" || fail "the proxy did not log 'stopped'"
# estrad closed it: the access line must not blame the client.
grep -q 'access .*op=simpleenroll .*status=503 .*reason="not answered: estrad stopped (shutdown_timeout)' "$LOG" ||
    fail "no 503 'not answered: estrad stopped' access line for the cut request: $(grep access "$LOG" | tail -n 2)"
grep -q 'status=499' "$LOG" && fail "the cut request was logged as the client's doing (499)"
reap "the client cut off" "$BG_PID" 3
crc=$(cat "$WORK/cut.rc" 2>/dev/null)
case $crc in
'' | 0 | 28) fail "the client cut off: curl exit '$crc' (HTTP $(cat "$WORK/cut.status" 2>/dev/null)), expected a closed connection: $(head -c 300 "$WORK/cut.err")" ;;
esac
# Only the challenge's 401 came back, no answer to the enrollment. (curl
# sent the enrollment on the connection of the 401; a reused connection
# that closes without an answer makes curl try once more on a fresh one,
# which the stopped proxy refuses: exit 7 rather than 52.)
! grep '^HTTP/' "$WORK/cut.hdr" | grep -qv '^HTTP/[0-9.]* 401 ' ||
    fail "the client cut off got an answer: $(grep '^HTTP/' "$WORK/cut.hdr")"
ms=$(($(now_ms) - t0))
[ "$ms" -le 3000 ] || fail "the client's connection closed ${ms} ms after SIGTERM"
note "cut: the client's connection closed (curl exit $crc: $(tr '\n' ' ' <"$WORK/cut.err" | head -c 200))"

# ---- (c) an idle proxy stops at once
P_TOP_EXTRA='"shutdown_timeout": 5' proxy_config "$WORK/idle.json"
start_estrad idle "$WORK/idle.json"
P=$XPID
LOG=$XLOG
t0=$(now_ms)
kill -TERM "$P"
reap "the idle proxy" "$P" 1
[ "$RC" = 0 ] || fail "the idle proxy exited $RC, expected 0"
ms=$(($(now_ms) - t0))
grep -q 'signal 15: stopping; 0 requests in flight, 0 connections open, waiting up to 5\.0 s' "$LOG" ||
    fail "no 'signal 15: stopping; 0 requests in flight' line: $(grep 'signal' "$LOG")"
grep -q ' info stopped$' "$LOG" || fail "the idle proxy did not log 'stopped'"
note "idle: exit 0 ${ms} ms after SIGTERM"

# ---- (d) SIGHUP while draining is ignored
stop_inflight hup hupwait 5 2 'signal 15: stopping; 1 request in flight'
kill -HUP "$P"
wait_grep 2 "$LOG" ' info SIGHUP while stopping: ignored$' ||
    fail "no 'SIGHUP while stopping: ignored' line after SIGHUP during the drain: $(grep -i 'sighup\|reload' "$LOG")"
grep -q 'SIGHUP: reloading\|reload: ' "$LOG" &&
    fail "a SIGHUP during the drain reloaded: $(grep 'reload' "$LOG")"
[ ! -e "$WORK/hupwait.rc" ] ||
    fail "the request in flight ended before its answer was due (curl exit $(cat "$WORK/hupwait.rc"))"
inflight_answered hupwait "the client in flight after SIGHUP"
check_error 504 "timed out"
reap "the proxy drained after SIGHUP" "$P" 5
[ "$RC" = 0 ] || fail "the proxy drained after SIGHUP exited $RC, expected 0"
grep -q ' info stopped$' "$LOG" || fail "the proxy drained after SIGHUP did not log 'stopped'"
note "SIGHUP during the drain: ignored, 504 to the client in flight, exit 0"

# ---- (e) requests on kept-alive connections, sent just after SIGTERM
# Eight clients hold connections alive after a cacerts; SIGTERM; at once
# each sends an enrollment on its connection. Every one is answered (200,
# Connection: close): none is cut off, none logged as the client's doing;
# then the daemon exits 0 on its own, well within shutdown_timeout.
LEAVE=$(dirname "$0")/../tools/leave_client.py

# keep_clients NAME COUNT: a proxy NAME (shutdown_timeout 10) with COUNT
# clients holding connections alive after a cacerts, each to send an
# enrollment when a line is written to descriptor 7; sets P, LOG and KP.
keep_clients() {
	P_TOP_EXTRA='"shutdown_timeout": 10' proxy_config "$WORK/$1.json"
	start_estrad "$1" "$WORK/$1.json"
	P=$XPID
	LOG=$XLOG
	mkfifo "$WORK/$1.go"
	python3 "$LEAVE" keepalive "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
	    /.well-known/est/simpleenroll "$WORK/dev.b64" "$2" <"$WORK/$1.go" \
	    >"$WORK/$1.out" 2>"$WORK/$1.err" &
	KP=$!
	T_PIDS+=("$KP")
	exec 7>"$WORK/$1.go"
	wait_grep 10 "$WORK/$1.out" '^ready$' ||
	    fail "the keep-alive clients of $1 are not ready: $(cat "$WORK/$1.err")"
}

keep_clients keep 8
t0=$(now_ms)
kill -TERM "$P"
wait_grep 2 "$LOG" 'signal 15: stopping; 0 requests in flight, 8 connections open' ||
    fail "no 'stopping; 0 requests in flight, 8 connections open' line: $(grep 'signal' "$LOG")"
echo go >&7
exec 7>&-
reap "the keep-alive clients" "$KP" 10
n=$(grep -c '^200 close$' "$WORK/keep.out")
[ "$n" = 8 ] || fail "$n of 8 requests sent after SIGTERM on kept-alive connections were answered 200 with Connection: close: $(grep -v '^ready$' "$WORK/keep.out" | sort | uniq -c | tr '\n' ' ')"
reap "the proxy drained of its kept-alive connections" "$P" 5
[ "$RC" = 0 ] || fail "the proxy exited $RC, expected 0"
ms=$(($(now_ms) - t0))
grep -q 'status=499' "$LOG" && fail "a request after SIGTERM was logged 499: $(grep 'status=499' "$LOG" | head -n 1)"
[ "$(grep -c 'access .*op=simpleenroll .*status=200 ' "$LOG")" = 8 ] ||
    fail "not 8 enrollments answered 200 in the log: $(grep -c 'op=simpleenroll' "$LOG")"
note "kept-alive connections at SIGTERM: 8 of 8 answered (200, Connection: close), exit 0 after ${ms} ms"

# ---- (f) idle kept-alive connections do not hold the drain
keep_clients idlekeep 4
t0=$(now_ms)
kill -TERM "$P"
reap "the proxy with idle kept-alive connections" "$P" 4
[ "$RC" = 0 ] || fail "the proxy exited $RC, expected 0"
ms=$(($(now_ms) - t0))
[ "$ms" -ge 800 ] || fail "the proxy exited ${ms} ms after SIGTERM, before the 1 s grace for requests on their way"
exec 7>&-
note "idle kept-alive connections: closed after the grace, exit 0 after ${ms} ms"
pass
