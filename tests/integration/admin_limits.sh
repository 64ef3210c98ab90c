#!/usr/bin/env bash
# The admin listener's connection cap and deadline (issue 14), on proxies
# of this case's own:
#  - admin.max_connections, 32 by default: of 40 idle TCP connections to
#    the admin port, the first 32 are held and the other 8 closed at once
#    (before the cap, all 40 were accepted and held); while the 32 are
#    held a /healthz gets no answer but the EST port serves; once they
#    close, /healthz answers 200 again;
#  - each refusal counts in estrad_connections_dropped_total
#    {reason="admin_total"}, and is logged at most once a second;
#  - admin.timeout 1.5 s: a request trickled a byte every 0.2 s (never
#    silent for long) and a connection that sends nothing are both cut
#    off after ~1.5 s, counted as reason="admin_timeout"; with
#    admin.max_connections 2, two such connections do not lock the
#    listener for longer than that.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CONNS="python3 $(dirname "$0")/../tools/tls_conns.py"

# healthz_ok: /healthz answers 200 "ok" within 5 s (the closed
# connections are freed on the loop's next turn).
healthz_ok() {
	local i
	for ((i = 0; i < 50; i++)); do
		req healthz GET "http://127.0.0.1:$APORT/healthz"
		[ "$STATUS" = 200 ] && break
		sleep 0.1
	done
	check_status 200
	check_body ok
}

# ------------------------------------------------------------ the cap
P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' proxy_config "$WORK/cap.json"
start_estrad cap "$WORK/cap.json"
admin_port "$XLOG"

t0=$(now_ms)
$CONNS idle "$APORT" 40 1 </dev/null >"$WORK/idle.out" 2>&1 &
IDLE=$!
T_PIDS+=("$IDLE")
wait_grep 10 "$WORK/idle.out" '^ready' || fail "tls_conns.py idle: $(cat "$WORK/idle.out")"
got=$(head -n 1 "$WORK/idle.out")
[ "$got" = "open 32 closed 8" ] ||
    fail "40 idle admin connections: '$got', expected 'open 32 closed 8' (admin.max_connections 32)"
note "40 idle admin connections: $got"

# Full: a health check is closed unanswered; EST clients are not affected.
req full GET "http://127.0.0.1:$APORT/healthz"
[ "$STATUS" = 000 ] || fail "/healthz with 32 admin connections held: $STATUS, expected no answer"
req est_full GET "$XURL/cacerts"
check_status 200

wait_grep 5 "$XLOG" 'admin connection from 127\.0\.0\.1:[0-9]* closed: 32 admin connections open (admin\.max_connections)' ||
    fail "no log line for the admin connection cap"
lines=$(grep -c 'admin connection from .* closed: ' "$XLOG")
secs=$((($(now_ms) - t0) / 1000))
[ "$lines" -le $((secs + 1)) ] ||
    fail "9 refusals in ${secs} s made $lines log lines"
note "9 refusals: $lines log line(s)"

stop_pid "$IDLE"
healthz_ok
scrape m1
check_metric 'estrad_connections_dropped_total{reason="admin_total"}' 9
check_alive "$XPID" "the proxy"

# ------------------------------------------------------- the deadline
P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0", "max_connections": 2, "timeout": 1.5 }' \
    proxy_config "$WORK/deadline.json"
start_estrad deadline "$WORK/deadline.json"
admin_port "$XLOG"

# Two tricklers fill the cap: both cut after ~1.5 s.
$CONNS trickle_http "$APORT" 0.2 >"$WORK/trickle2.out" 2>&1 &
T_PIDS+=("$!")
out=$($CONNS trickle_http "$APORT" 0.2)
ms=${out#closed after }
[ "$ms" != "$out" ] || fail "trickled request: $out (want closed after ~1500 ms)"
[ "$ms" -ge 1300 ] && [ "$ms" -le 4000 ] ||
    fail "trickled request: closed after $ms ms (want 1300..4000)"
note "a request trickled a byte every 0.2 s: closed after $ms ms"

XPORT=$APORT	# for silent_tcp_ms
el=$(silent_tcp_ms 10)
[ "$el" -ge 1300 ] && [ "$el" -le 4000 ] ||
    fail "silent admin connection: closed after ${el} ms (want 1300..4000)"
note "silent admin connection: closed after ${el} ms"

wait_grep 5 "$XLOG" 'admin connection from .* closed: no whole request in 1500 ms (admin\.timeout)' ||
    fail "no log line for the admin timeout"
healthz_ok
scrape m2
check_metric 'estrad_connections_dropped_total{reason="admin_timeout"}' 3
check_alive "$XPID" "the proxy"
check_proxy_healthy
pass
