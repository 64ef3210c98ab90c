#!/usr/bin/env bash
# sd_notify: estrad speaks systemd's readiness protocol over $NOTIFY_SOCKET
# (Type=notify in contrib/systemd/estrad.service), sent by the daemon's
# main process (NotifyAccess=main): "READY=1 MAINPID=<pid>" once it
# listens, "RELOADING=1 MONOTONIC_USEC=<n>" then "READY=1 ..." around a
# SIGHUP, "STOPPING=1" at SIGTERM; the same to an abstract socket
# ("@name"); a NOTIFY_SOCKET nobody listens on costs a warning, not the
# service. tests/tools/notify_listen plays systemd.
. "$(dirname "$0")/lib.sh"

[ -x "${NOTIFY_LISTEN:-}" ] || fail "no notify_listen binary (NOTIFY_LISTEN='${NOTIFY_LISTEN:-}')"

# listen NAME SOCKET: start notify_listen -p on SOCKET, its lines in
# $WORK/NAME.out; sets NL_PID and NL_OUT.
listen() {
	NL_OUT=$WORK/$1.out
	"$NOTIFY_LISTEN" -p "$2" 0 50 >"$NL_OUT" 2>"$WORK/$1.err" </dev/null &
	NL_PID=$!
	T_PIDS+=("$NL_PID")
	if [ "${2:0:1}" = / ]; then
		wait_for 5 test -S "$2" || fail "notify_listen did not bind $2: $(cat "$WORK/$1.err")"
	else
		wait_for 5 grep -qF "@${2:1}" /proc/net/unix ||
		    fail "notify_listen did not bind $2: $(cat "$WORK/$1.err")"
	fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local i n=$1
	shift
	for ((i = 0; i < n * 10; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# lines: the messages received so far, one per line.
lines() {
	cat "$NL_OUT"
}

# have N: at least N messages so far (called through wait_for).
# shellcheck disable=SC2317
have() {
	[ "$(wc -l <"$NL_OUT")" -ge "$1" ]
}

# expect_line N TEXT|/RE/: the Nth message (counting from 1) arrives
# within 10 s and is exactly TEXT (or matches the extended RE).
expect_line() {
	local n=$1 want=$2 got
	wait_for 10 have "$n" ||
	    fail "message $n ($want) never came; got: $(lines | tr '\n' '|')"
	got=$(sed -n "${n}p" "$NL_OUT")
	case $want in
	/*/)
		want=${want#/}
		want=${want%/}
		[[ $got =~ ^$want$ ]] || fail "message $n is '$got', expected /$want/"
		;;
	*) [ "$got" = "$want" ] || fail "message $n is '$got', expected '$want'" ;;
	esac
}

# no_more N: nothing beyond N messages.
no_more() {
	local have
	have=$(wc -l <"$NL_OUT")
	[ "$have" -le "$1" ] || fail "$have messages, expected $1: $(lines | tr '\n' '|')"
}

proxy_config "$WORK/proxy.json"

# A path socket: start, reload, stop.
listen path "$WORK/notify.sock"
export NOTIFY_SOCKET=$WORK/notify.sock
start_estrad notified "$WORK/proxy.json"
unset NOTIFY_SOCKET
PID=$XPID
expect_line 1 "pid=$PID READY=1 MAINPID=$PID"
# Ready means serving: the EST listener answers at once.
req ready GET "$XURL/cacerts"
check_status 200
sleep 0.3
no_more 1
note "READY=1 from the main process once listening"

kill -HUP "$PID"
expect_line 2 "/pid=$PID RELOADING=1 MONOTONIC_USEC=[0-9]+/"
expect_line 3 "pid=$PID READY=1 MAINPID=$PID"
check_alive "$PID" "estrad after SIGHUP"
req reloaded GET "$XURL/cacerts"
check_status 200
# MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds (systemd 253 compares
# it with its own clock): not zero, not after now (CLOCK_BOOTTIME,
# /proc/uptime, is never behind it; it may be ahead by the time suspended).
usec=$(sed -n '2s/.*MONOTONIC_USEC=\([0-9]*\).*/\1/p' "$NL_OUT")
up=$(cut -d' ' -f1 /proc/uptime)
up=${up%.*}
if [ -z "$usec" ] || [ "$usec" -le 0 ] || [ "$((usec / 1000000))" -gt "$up" ]; then
	fail "MONOTONIC_USEC=$usec is not a CLOCK_MONOTONIC time of now (uptime $up s)"
fi
note "SIGHUP: RELOADING=1 then READY=1"

kill -TERM "$PID"
expect_line 4 "pid=$PID STOPPING=1"
exit_status "$PID" estrad
[ "$RC" = 0 ] || fail "estrad exited $RC after SIGTERM, expected 0"
no_more 4
note "SIGTERM: STOPPING=1, exit 0"

# An abstract socket.
name="@estrad-test-$$-$RANDOM"
listen abstract "$name"
export NOTIFY_SOCKET=$name
start_estrad abstract "$WORK/proxy.json"
unset NOTIFY_SOCKET
expect_line 1 "pid=$XPID READY=1 MAINPID=$XPID"
stop_pid "$XPID"
expect_line 2 "pid=$XPID STOPPING=1"
note "abstract NOTIFY_SOCKET ($name)"

# Nobody listening: a warning, and the daemon serves all the same.
export NOTIFY_SOCKET=$WORK/nobody.sock
start_estrad nobody "$WORK/proxy.json"
unset NOTIFY_SOCKET
req nobody GET "$XURL/cacerts"
check_status 200
wait_grep 5 "$XLOG" "notify: .*nobody.sock" ||
    fail "no 'notify: ...nobody.sock: ...' warning in $XLOG"
kill -HUP "$XPID"
sleep 0.5
check_alive "$XPID" "estrad with a dead NOTIFY_SOCKET after SIGHUP"
note "a dead NOTIFY_SOCKET: warned, still serving"

pass
