#!/usr/bin/env bash
# "syslog": true, "syslog_facility": "local3" (docs/operations.md, Logs):
# every message goes to syslog(3) as well as to stderr, which keeps its
# text lines. There is no syslog daemon here, so the case gives the daemon
# one of its own: in a private mount namespace (unshare -m, root only)
# /dev is a tmpfs of links to the real nodes plus a /dev/log socket read
# by python3. The datagrams must carry priority local3.info (<158>), the
# ident and PID "estrad[PID]: ", and the very messages of stderr: the
# listening line and one access line per request. Without unshare, mount
# or root the case checks only that the daemon starts, enrolls and logs
# to stderr with syslog on, and says so.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

P_TOP_EXTRA='"syslog": true, "syslog_facility": "local3"' \
    proxy_config "$WORK/proxy.json"

capture=1
if [ "$(id -u)" != 0 ] || ! command -v python3 >/dev/null ||
    ! unshare -m --propagation private mount -t tmpfs none "$WORK" 2>/dev/null; then
	capture=0
fi

if [ "$capture" = 0 ]; then
	note "no private mount namespace here: syslog capture not checked"
	start_estrad syslog "$WORK/proxy.json"
else
	cat >"$WORK/listen.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
PY
	# Runs inside the namespace, then becomes estrad (same PID).
	cat >"$WORK/in-ns.sh" <<'SH'
set -eu
w=$1 cfg=$2
mkdir -p "$w/realdev"
mount --rbind /dev "$w/realdev"
mount -t tmpfs -o mode=755 estrad-test-dev /dev
for e in "$w"/realdev/* "$w"/realdev/.[!.]*; do
	[ -e "$e" ] || [ -L "$e" ] || continue
	[ "$(basename "$e")" = log ] || ln -s "$e" "/dev/$(basename "$e")"
done
python3 "$w/listen.py" /dev/log "$w/syslog.txt" </dev/null &
echo $! >"$w/listener.pid"
for i in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
[ -S /dev/log ] || { echo "in-ns: no /dev/log listener" >&2; exit 1; }
exec "$ESTRAD_BIN" -c "$cfg"
SH
	: >"$WORK/syslog.txt"
	XLOG=$WORK/syslog.log
	ESTRAD_BIN=$ESTRAD_BIN setsid unshare -m --propagation private \
	    bash "$WORK/in-ns.sh" "$WORK" "$WORK/proxy.json" </dev/null >"$XLOG" 2>&1 &
	XPID=$!
	T_PIDS+=("$XPID")
	T_LOGS+=("$XLOG")
	wait_grep 5 "$WORK/listener.pid" . || fail "the syslog listener did not start: $(cat "$XLOG")"
	T_PIDS+=("$(cat "$WORK/listener.pid")")
	XPORT=$(wait_log_port "$XPID" "$XLOG" '127\.0\.0\.1') ||
	    fail "estrad did not log 'listening on 127.0.0.1:PORT'"
	XURL=https://127.0.0.1:$XPORT/.well-known/est
fi

make_csr dev "/CN=log-syslog-device"
enroll_ok enroll "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
rid=$(header X-Request-Id)
check_access "auth=digest user=$EST_USER status=200" "$XLOG"
grep -q " info listening on 127\.0\.0\.1:$XPORT\$" "$XLOG" ||
    fail "stderr lost its text 'listening on' line with syslog on"
[ "$capture" = 1 ] || pass

wait_grep 2 "$WORK/syslog.txt" "access id=$rid " ||
    fail "no access line for $rid in syslog: $(tail -n 5 "$WORK/syslog.txt")"
T_LOGS+=("$WORK/syslog.txt")
pre="^<158>[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{8\} estrad\[$XPID\]: "
grep -q "${pre}listening on 127\.0\.0\.1:$XPORT\$" "$WORK/syslog.txt" ||
    fail "no '<158>TIME estrad[$XPID]: listening on 127.0.0.1:$XPORT' datagram"
n=$(grep -c "${pre}access id=$rid " "$WORK/syslog.txt")
[ "$n" = 1 ] || fail "$n local3.info access datagrams for $rid, expected 1"
# The same message as on stderr, after "TIME info ".
want=$(grep " access id=$rid " "$XLOG" | sed 's/^[^ ]* info //')
got=$(grep "${pre}access id=$rid " "$WORK/syslog.txt" | sed 's/^[^]]*\]: //')
[ "$want" = "$got" ] || fail "syslog access message '$got' is not stderr's '$want'"
note "$(wc -l <"$WORK/syslog.txt") datagrams at local3"
pass
