#!/usr/bin/env bash
# limits.read_timeout and limits.idle_timeout close stalled connections:
# a client silent after the TCP connect, one stalled in its headers, and a
# keep-alive connection idle after an answer. They also bound the whole
# reading of a request, however steadily it trickles: a client that sends
# its headers a byte every 0.3 s (never silent for 1 s) is cut off
# read_timeout after its handshake, and one that trickles its second
# request idle_timeout + read_timeout after the first answer. Timeouts are
# fractions here.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P_READ_TIMEOUT=1 P_IDLE_TIMEOUT=2 proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

# closed_after NAME LO HI: wait for the s_client reading fifo NAME to end;
# fail unless the server closed it between LO and HI ms after $t0.
closed_after() {
	local name=$1 lo=$2 hi=$3 el i
	for ((i = 0; i < 150; i++)); do
		running "$cpid" || break
		sleep 0.05
	done
	el=$(($(now_ms) - t0))
	exec 3>&-
	running "$cpid" && fail "$name: connection still open after ${el} ms (want ${lo}..${hi})"
	[ "$el" -ge "$lo" ] && [ "$el" -le "$hi" ] ||
	    fail "$name: closed after ${el} ms (want ${lo}..${hi})"
	note "$name: closed after ${el} ms"
}

# Stalled in the request headers: read_timeout (1 s).
sclient stalled
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n' >&3
closed_after stalled 700 3000

# Idle after an answer on a keep-alive connection: idle_timeout (2 s).
sclient idle
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3
closed_after idle 1700 4000
grep -q '^HTTP/1.1 200' "$WORK/idle.out" || fail "idle: no 200 answer before the close"

# dribble: a byte every 0.3 s to the s_client fifo, for 9 s at most (or
# until the connection is gone).
dribble() {
	(for ((i = 0; i < 30; i++)); do
		printf 'X' >&3 || exit 0
		sleep 0.3
	done) 2>/dev/null &
	T_PIDS+=("$!")
}

# A request trickled a byte every 0.3 s: cut off read_timeout (1 s) after
# the handshake, though never silent for 1 s.
sclient drip
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n' >&3
dribble
closed_after drip 700 3000
wait_grep 5 "$XLOG" 'closed: request not read in 1000 ms (limits\.read_timeout)' ||
    fail "no log line for the trickled request"

# The second request on a keep-alive connection trickled: cut off
# idle_timeout + read_timeout (3 s) after the first answer.
sleep 1.1	# such log lines are once a second at most
sclient drip2
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3
# t0 (sclient's) is within ms of the answer; the cut comes 3 s after it.
wait_grep 5 "$WORK/drip2.out" '^HTTP/1.1 200'
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\n' >&3
dribble
closed_after drip2 2800 7000
grep -q '^HTTP/1.1 200' "$WORK/drip2.out" || fail "drip2: no answer to the first request"
wait_grep 5 "$XLOG" 'closed: next request not read in 3000 ms (limits\.idle_timeout + limits\.read_timeout)' ||
    fail "no log line for the trickled second request"

# Nothing at all after the TCP connect (no TLS handshake): read_timeout.
el=$(silent_tcp_ms 6)
[ "$el" -ge 700 ] && [ "$el" -le 3000 ] || fail "silent TCP client: closed after ${el} ms (want 700..3000)"
note "silent TCP client: closed after ${el} ms"

check_alive "$XPID" "the proxy"
req after GET "$XURL/cacerts"
check_status 200
pass
