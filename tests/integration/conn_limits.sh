#!/usr/bin/env bash
# Connection limits (issue 8), on proxies of this case's own:
#  - limits.max_connections_per_address 3: a fourth TLS connection from
#    127.0.0.1 is refused at its ClientHello with an alert while
#    127.0.0.2 still connects; closing one lets 127.0.0.1 in again;
#  - limits.max_connections 5: with five held (3 + 2), a sixth from
#    127.0.0.3 is refused;
#  - a burst of refusals is counted one by one in
#    estrad_connections_dropped_total but logged at most once a second;
#  - connections that never send a ClientHello cannot be refused at it:
#    with max_connections 2, at 18 open (2 + a reserve of 16) accepting
#    pauses (a new client gets no TLS answer, the daemon no EMFILE) and
#    resumes when they close;
#  - limits.handshake_timeout 1.5 s: a client that trickles its
#    ClientHello a byte every 0.2 s (never silent for read_timeout, 30 s)
#    and one that sends nothing are both cut off after ~1.5 s;
#  - the daemon serves normally afterwards.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CONNS="python3 $(dirname "$0")/../tools/tls_conns.py"
ADMIN_EXTRA='"admin": { "listen": "127.0.0.1:0" }'

# hold NAME SOURCE COUNT [TIMEOUT]: COUNT connections from SOURCE, kept
# open by a tls_conns.py in the background until release NAME; waits for
# "ready". Outcomes in $WORK/NAME.out. SOURCE "silent": TCP connections
# from 127.0.0.1 that never send a byte.
declare -A HOLD_PID
hold() {
	local name=$1 src=$2 n=$3 i
	if [ "$src" = silent ]; then
		$CONNS silent "$XPORT" "$n" </dev/null >"$WORK/$name.out" 2>&1 &
	else
		$CONNS hold "$XPORT" "$TRUST" "$src" "$n" ${4:-} </dev/null \
		    >"$WORK/$name.out" 2>&1 &
	fi
	HOLD_PID[$name]=$!
	T_PIDS+=("$!")
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready' "$WORK/$name.out" && return 0
		sleep 0.1
	done
	fail "$name: tls_conns.py hold did not get ready: $(cat "$WORK/$name.out")"
}

# release NAME: close the held connections (the holder is killed).
release() {
	stop_pid "${HOLD_PID[$1]}"
}

# outcomes NAME: "ok ok refused" from $WORK/NAME.out
outcomes() {
	grep -v '^ready' "$WORK/$1.out" | awk '{ sub(":", "", $1); print $1 }' | xargs
}

# probe NAME SOURCE WANT [TIMEOUT]: one connection from SOURCE; WANT ok
# or refused.
probe() {
	local got
	hold "$1" "$2" 1 ${4:-}
	release "$1"
	got=$(outcomes "$1")
	[ "$got" = "$3" ] || fail "$1: a connection from $2 was '$got', expected $3: $(cat "$WORK/$1.out")"
}

# ---------------------------------------------------------------- counts
P_LIMITS_EXTRA='"max_connections": 5, "max_connections_per_address": 3' \
    P_TOP_EXTRA=$ADMIN_EXTRA proxy_config "$WORK/counts.json"
start_estrad counts "$WORK/counts.json"
admin_port "$XLOG"

hold a 127.0.0.1 3
[ "$(outcomes a)" = "ok ok ok" ] || fail "three from 127.0.0.1: $(cat "$WORK/a.out")"
probe a4 127.0.0.1 refused
grep -q 'refused:.*INTERNAL_ERROR\|refused:.*internal error' "$WORK/a4.out" ||
    fail "the refused connection did not end in an internal_error alert: $(cat "$WORK/a4.out")"
wait_grep 5 "$XLOG" 'connection from 127\.0\.0\.1:[0-9]* closed: 3 connections from this address (limits\.max_connections_per_address)' ||
    fail "no log line for the per-address refusal"
# A burst of ten per-address refusals: ten counted, at most one line a
# second (plus one).
before=$(grep -c 'closed: .*limits\.max_connections' "$XLOG")
burst_t0=$(now_ms)
hold burst 127.0.0.1 10
[ "$(outcomes burst)" = "$(printf 'refused %.0s' {1..10} | xargs)" ] ||
    fail "the burst from 127.0.0.1: $(cat "$WORK/burst.out")"
release burst
after=$(grep -c 'closed: .*limits\.max_connections' "$XLOG")
burst_s=$((($(now_ms) - burst_t0) / 1000))
[ $((after - before)) -le $((burst_s + 1)) ] ||
    fail "a burst of 10 refusals in ${burst_s} s made $((after - before)) log lines"
note "a burst of 10 refusals: $((after - before)) log line(s)"
hold b 127.0.0.2 2
[ "$(outcomes b)" = "ok ok" ] || fail "two from 127.0.0.2 (3 + 2 = 5 open): $(cat "$WORK/b.out")"

sleep 1.1	# the refusal log line is once a second at most
probe c 127.0.0.3 refused
wait_grep 5 "$XLOG" 'connection from 127\.0\.0\.3:[0-9]* closed: 6 connections open (limits\.max_connections 5)' ||
    fail "no log line for the refusal over the total"

scrape m1
check_metric 'estrad_connections_dropped_total{reason="per_address"}' 11
check_metric 'estrad_connections_dropped_total{reason="total"}' 1
check_metric estrad_open_connections 5

# Closing 127.0.0.1's connections lets it in again.
release a
for ((i = 0; i < 50; i++)); do
	scrape m2
	[ "$(awk '$1 == "estrad_open_connections" { print $2 }' "$SCRAPE")" = 2 ] && break
	sleep 0.1
done
check_metric estrad_open_connections 2
probe a5 127.0.0.1 ok
release b
XURL_COUNTS=$XURL
req after_counts GET "$XURL_COUNTS/cacerts"
check_status 200

# wait_open N: until estrad_open_connections is N (5 s).
wait_open() {
	local i
	for ((i = 0; i < 50; i++)); do
		scrape open
		[ "$(awk '$1 == "estrad_open_connections" { print $2 }' "$SCRAPE")" = "$1" ] && return 0
		sleep 0.1
	done
	check_metric estrad_open_connections "$1"
}

# ------------------------------------------------------------ accept pause
P_LIMITS_EXTRA='"max_connections": 2, "handshake_timeout": 30' \
    P_TOP_EXTRA=$ADMIN_EXTRA proxy_config "$WORK/pause.json"
start_estrad pause "$WORK/pause.json"
admin_port "$XLOG"
hold quiet silent 18
wait_open 18
wait_grep 5 "$XLOG" '18 connections open: not accepting until some close (limits\.max_connections 2, plus 16 for connections not yet refused)' ||
    fail "no log line for the accept pause"
probe waiting 127.0.0.1 refused 2
grep -q 'timed out' "$WORK/waiting.out" ||
    fail "a client while accepting is paused: $(cat "$WORK/waiting.out") (want a TLS timeout)"
release quiet
probe resumed 127.0.0.1 ok
req after_pause GET "$XURL/cacerts"
check_status 200

# ------------------------------------------------------- handshake timeout
P_READ_TIMEOUT=30 P_LIMITS_EXTRA='"handshake_timeout": 1.5' \
    P_TOP_EXTRA=$ADMIN_EXTRA proxy_config "$WORK/hs.json"
start_estrad hs "$WORK/hs.json"
admin_port "$XLOG"

out=$($CONNS trickle "$XPORT" "$TRUST" 0.2)
ms=${out#closed after }
[ "$ms" != "$out" ] || fail "trickled ClientHello: $out (want closed after ~1500 ms)"
[ "$ms" -ge 1400 ] && [ "$ms" -le 4000 ] || fail "trickled ClientHello: closed after $ms ms (want 1400..4000)"
note "a ClientHello trickled a byte every 0.2 s: closed after $ms ms"

el=$(silent_tcp_ms 10)
[ "$el" -ge 1400 ] && [ "$el" -le 4000 ] || fail "silent TCP client: closed after ${el} ms (want 1400..4000; read_timeout is 30 s)"
note "silent TCP client: closed after ${el} ms"

wait_grep 5 "$XLOG" 'closed: TLS handshake not finished in 1500 ms (limits\.handshake_timeout)' ||
    fail "no log line for the handshake timeout"
scrape m3
check_metric 'estrad_connections_dropped_total{reason="handshake_timeout"}' 2
# A handshake that finishes is not cut: a keep-alive connection outlives
# the handshake timeout (its request comes 2.5 s after the connect).
sclient ka
sleep 2.5
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
wait_grep 5 "$WORK/ka.out" '^HTTP/1.1 200'
exec 3>&-
grep -q '^HTTP/1.1 200' "$WORK/ka.out" || fail "a connection idle for 2.5 s after its handshake was cut: $(head -c 300 "$WORK/ka.out")"

check_alive "$XPID" "the proxy"
check_proxy_healthy
pass
