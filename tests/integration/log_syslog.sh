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
# to stderr with syslog on, and says so. Then the same with "log_format":
# "json": stderr has the JSON access line (estrad.access, its
# http.request.id), syslog still the text message "access id=RID ...",
# once, and the listening line.
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
fi
# ns_start DIR CFG: estrad -c CFG in a namespace of its own whose
# /dev/log writes DIR/syslog.txt; sets XPID, XLOG (DIR/syslog.log), XPORT,
# XURL.
ns_start() {
	local d=$1
	[ "$d" = "$WORK" ] || cp "$WORK/listen.py" "$WORK/in-ns.sh" "$d/"
	: >"$d/syslog.txt"
	XLOG=$d/syslog.log
	ESTRAD_BIN=$ESTRAD_BIN setsid unshare -m --propagation private \
	    bash "$d/in-ns.sh" "$d" "$2" </dev/null >"$XLOG" 2>&1 &
	XPID=$!
	T_PIDS+=("$XPID")
	T_LOGS+=("$XLOG")
	wait_grep 5 "$d/listener.pid" . || fail "the syslog listener did not start: $(cat "$XLOG")"
	T_PIDS+=("$(cat "$d/listener.pid")")
	XPORT=$(wait_log_port "$XPID" "$XLOG" '127\.0\.0\.1') ||
	    fail "estrad did not log 'listening on 127.0.0.1:PORT'"
	XURL=https://127.0.0.1:$XPORT/.well-known/est
}
[ "$capture" = 0 ] || ns_start "$WORK" "$WORK/proxy.json"

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

# ---- the JSON format: fields on stderr, the text message in syslog.
mkdir -p "$WORK/json"
P_TOP_EXTRA='"syslog": true, "syslog_facility": "local3", "log_format": "json"' \
    proxy_config "$WORK/json/proxy.json"
ns_start "$WORK/json" "$WORK/json/proxy.json"
enroll_ok jenroll "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
rid=$(header X-Request-Id)
wait_grep 2 "$WORK/json/syslog.txt" "access id=$rid " ||
    fail "no text access line for $rid in syslog with log_format json: $(tail -n 5 "$WORK/json/syslog.txt")"
T_LOGS+=("$WORK/json/syslog.txt")
pre="^<158>[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{8\} estrad\[$XPID\]: "
n=$(grep -c "${pre}access id=$rid .* user=$EST_USER status=200 " "$WORK/json/syslog.txt")
[ "$n" = 1 ] || fail "$n text access datagrams for $rid with log_format json, expected 1"
grep -q "${pre}listening on 127\.0\.0\.1:$XPORT\$" "$WORK/json/syslog.txt" ||
    fail "no listening datagram with log_format json"
grep -q '{' "$WORK/json/syslog.txt" && fail "a JSON datagram in syslog: $(grep '{' "$WORK/json/syslog.txt")"
n=$(jq -c --arg rid "$rid" 'select(.event.dataset == "estrad.access" and
    .http.request.id == $rid and .http.response.status_code == 200)' "$XLOG" | wc -l)
[ "$n" = 1 ] || fail "$n JSON access lines for $rid on stderr, expected 1: $(tail -n 3 "$XLOG")"
grep -q ' access id=' "$XLOG" && fail "a text access line on stderr with log_format json"
pass
