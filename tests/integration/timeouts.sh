#!/usr/bin/env bash
# limits.read_timeout and limits.idle_timeout close stalled connections:
# a client silent after the TCP connect, one stalled in its headers, and a
# keep-alive connection idle after an answer. Timeouts are fractions here.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P_READ_TIMEOUT=1 P_IDLE_TIMEOUT=2 proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

# closed_after NAME LO HI: wait for the s_client reading fifo NAME to end;
# fail unless the server closed it between LO and HI ms after $t0.
closed_after() {
	local name=$1 lo=$2 hi=$3 el i
	for ((i = 0; i < 100; i++)); do
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

# sclient NAME: s_client to the proxy reading the fifo $WORK/NAME.in.
sclient() {
	mkfifo "$WORK/$1.in"
	openssl s_client -connect "127.0.0.1:$XPORT" -servername localhost -CAfile "$TRUST" \
	    -quiet <"$WORK/$1.in" >"$WORK/$1.out" 2>&1 &
	cpid=$!
	T_PIDS+=("$cpid")
	exec 3>"$WORK/$1.in"
	t0=$(now_ms)
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

# Nothing at all after the TCP connect (no TLS handshake): read_timeout.
t0=$(now_ms)
timeout 6 bash -c "exec 4<>/dev/tcp/127.0.0.1/$XPORT; cat <&4 >/dev/null" 2>/dev/null
el=$(($(now_ms) - t0))
[ "$el" -ge 700 ] && [ "$el" -le 3000 ] || fail "silent TCP client: closed after ${el} ms (want 700..3000)"
note "silent TCP client: closed after ${el} ms"

check_alive "$XPID" "the proxy"
req after GET "$XURL/cacerts"
check_status 200
pass
