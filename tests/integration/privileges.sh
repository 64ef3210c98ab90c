#!/usr/bin/env bash
# Privileges and secret files (docs/operations.md, Privileges):
#  - a config whose tls.key is mode 0644, or whose upstream password_file is
#    0640: "estrad -n" exits 1 with "FILE:LINE: tls.key: PATH is readable by
#    group or others (mode 0644); chmod 600 it" (and the password_file's
#    line), LINE the key's; the daemon refuses to start the same way;
#  - as root, "user": "nobody", "group": "nogroup": once listening, the
#    daemon's real, effective, saved and file-system uids and gids in
#    /proc/PID/status are nobody's and nogroup's, its only group nogroup;
#    it logs "running as user nobody ..." and still enrolls (keys and users
#    were read before the drop); with its key, RA key and users file owned
#    by nobody (0600), a SIGHUP reload succeeds as nobody;
#  - as root, "user": "nobody" with a state_dir (and a queue) whose
#    estrad.lock is a symbolic link to a root-owned 0600 file elsewhere:
#    start-up fails (exit 1, the error names estrad.lock) and that file
#    stays root's, 0600, unchanged; the same with estrad.db a second hard
#    link to it; with a state_dir without links, the
#    directory, estrad.db and estrad.lock are nobody's once started;
#  - as root with neither "user" nor "run_as_root": exit 1 and "running as
#    root: set "user" (or "run_as_root": true to allow it)".
#  - the lab's proxy (started without -d) runs with RLIMIT_CORE 0: no core
#    file would hold its keys.
# Not root: the first part only.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- secret files readable by others
cp "$PROXY_SERVER_KEY" "$WORK/open.key"
chmod 644 "$WORK/open.key"
(umask 077 && printf 'ra-password\n' >"$WORK/ra.pass")
chmod 640 "$WORK/ra.pass"
P_UPSTREAM_EXTRA="\"auth\": \"basic\", \"username\": \"ra\", \"password_file\": \"$WORK/ra.pass\"" \
    proxy_config "$WORK/open.json"
sed -i "s|\"key\": \"$PROXY_SERVER_KEY\"|\"key\": \"$WORK/open.key\"|" "$WORK/open.json"
l_key=$(grep -n "\"key\": \"$WORK/open.key\"" "$WORK/open.json" | cut -d: -f1)
l_pw=$(grep -n '"password_file"' "$WORK/open.json" | cut -d: -f1)
if [ -z "$l_key" ] || [ -z "$l_pw" ]; then
	fail "could not build open.json (proxy_config changed shape?)"
fi
out=$("$ESTRAD_BIN" -n -c "$WORK/open.json" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "estrad -n with a 0644 tls.key exited $rc: $out"
want_key="$WORK/open.json:$l_key: tls.key: $WORK/open.key is readable by group or others (mode 0644); chmod 600 it"
want_pw="$WORK/open.json:$l_pw: upstreams.ca.password_file: $WORK/ra.pass is readable by group or others (mode 0640); chmod 600 it"
[ "$out" = "$want_key"$'\n'"$want_pw" ] ||
    fail "estrad -n printed '$out', expected '$want_key' and '$want_pw'"
timeout 10 "$ESTRAD_BIN" -c "$WORK/open.json" </dev/null >"$WORK/open.log" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "estrad with a 0644 tls.key exited $rc: $(cat "$WORK/open.log")"
grep -qF -- "$want_key" "$WORK/open.log" || fail "no '$want_key' at start-up: $(cat "$WORK/open.log")"
grep -q 'listening on' "$WORK/open.log" && fail "estrad listened with a 0644 key"
chmod 600 "$WORK/open.key" "$WORK/ra.pass"
out=$("$ESTRAD_BIN" -n -c "$WORK/open.json" 2>&1) || fail "estrad -n after chmod 600: $out"
note "0644 key and 0640 password file refused; accepted after chmod 600"

if [ "$(id -u)" != 0 ]; then
	note "not root: the privilege drop and the root refusal are not checked"
	pass
fi

# ---- root without "user" and without "run_as_root"
P_PRIVS='' proxy_config "$WORK/root.json"
grep -qE '"(user|run_as_root)"' "$WORK/root.json" && fail "root.json has a privilege key"
timeout 10 "$ESTRAD_BIN" -c "$WORK/root.json" </dev/null >"$WORK/root.log" 2>&1
rc=$?
T_LOGS+=("$WORK/root.log")
[ "$rc" = 1 ] || fail "estrad as root without user/run_as_root exited $rc"
grep -qF 'error running as root: set "user" (or "run_as_root": true to allow it)' \
    "$WORK/root.log" || fail "no refusal to run as root in $WORK/root.log"
grep -q ' started$' "$WORK/root.log" && fail "estrad started as root without run_as_root"
note "refuses to run as root unless told"

# ---- drop to nobody:nogroup
uid=$(id -u nobody) || skip "no user nobody"
gid=$(getent group nogroup | cut -d: -f3)
[ -n "$gid" ] || skip "no group nogroup"
# Secrets owned by the user, so that a reload (after the drop) reads them.
for f in "$PROXY_SERVER_KEY" "$RA_KEY" "$DIGEST_USERS"; do
	(umask 077 && cp "$f" "$WORK/own.$(basename "$f")")
	chown nobody "$WORK/own.$(basename "$f")"
done
chmod 755 "$WORK"	# a reload reads the config file from here
P_PRIVS='"user": "nobody", "group": "nogroup"' \
    P_AUTH="\"digest_users\": \"$WORK/own.$(basename "$DIGEST_USERS")\"" \
    proxy_config "$WORK/nobody.json"
sed -i -e "s|\"$PROXY_SERVER_KEY\"|\"$WORK/own.$(basename "$PROXY_SERVER_KEY")\"|" \
    -e "s|\"$RA_KEY\"|\"$WORK/own.$(basename "$RA_KEY")\"|" "$WORK/nobody.json"
grep -qF "$PKI_DIR/proxy-server.key" "$WORK/nobody.json" && fail "nobody.json still names the lab's key"
chmod 644 "$WORK/nobody.json"
start_estrad nobody "$WORK/nobody.json"
wait_grep 5 "$XLOG" "info running as user nobody (uid $uid), group nogroup (gid $gid)" ||
    fail "no 'running as user nobody' line in $XLOG"
for id in Uid Gid; do
	want=$uid
	[ "$id" = Gid ] && want=$gid
	line=$(awk -v k="$id:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$XPID/status")
	[ "$line" = "$want $want $want $want" ] ||
	    fail "/proc/$XPID/status $id: '$line', expected $want (real, effective, saved, fs)"
done
groups=$(awk '$1 == "Groups:" { $1 = ""; print }' "/proc/$XPID/status" | tr -s ' ' | sed 's/^ //; s/ $//')
[ "$groups" = "$gid" ] || fail "/proc/$XPID/status Groups: '$groups', expected only $gid"
note "running as uid $uid gid $gid, groups $groups"

make_csr dev "/CN=privileges-device"
enroll_ok enroll "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
check_access "auth=digest user=$EST_USER status=200 upstream=200" "$XLOG"

n=$(grep -c 'reload: policies loaded from' "$XLOG")
kill -HUP "$XPID"
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c 'reload: policies loaded from' "$XLOG")" -gt "$n" ] && break
	grep -q 'error reload' "$XLOG" && break
	sleep 0.1
done
grep -q 'error reload' "$XLOG" && fail "reload as nobody failed: $(grep 'reload' "$XLOG" | tail -n 3)"
[ "$(grep -c 'reload: policies loaded from' "$XLOG")" -gt "$n" ] ||
    fail "no 'reload: policies loaded from' after SIGHUP"
check_alive "$XPID" "estrad as nobody after the reload"
enroll_ok again "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"

# ---- state files: handed to the user, never through a symbolic link
# A state_dir whose estrad.lock links to a file of root's elsewhere.
VICTIM=$WORK/victim
(umask 077 && printf 'root only\n' >"$VICTIM")
chown root:root "$VICTIM"
chmod 600 "$VICTIM"
mkdir -m 700 "$WORK/trap-state"
ln -s "$VICTIM" "$WORK/trap-state/estrad.lock"
P_PRIVS='"user": "nobody"' P_TOP_EXTRA=$(offline_top "$WORK/trap-state" '' '{}') \
    proxy_config "$WORK/trap.json"
setsid "$ESTRAD_BIN" -c "$WORK/trap.json" </dev/null >"$WORK/trap.log" 2>&1 &
TP=$!
T_PIDS+=("$TP")
T_LOGS+=("$WORK/trap.log")
for ((i = 0; i < 50; i++)); do
	running "$TP" || break
	grep -q ' started$' "$WORK/trap.log" && break
	sleep 0.1
done
v=$(stat -c '%U:%G %a' "$VICTIM")
[ "$v" = "root:root 600" ] ||
    fail "the file estrad.lock links to is now $v (was root:root 600): handed over through the link"
[ "$(cat "$VICTIM")" = "root only" ] || fail "the file estrad.lock links to changed: $(head -c 100 "$VICTIM")"
running "$TP" && fail "estrad started with estrad.lock a symbolic link: $(tail -n 3 "$WORK/trap.log")"
wait "$TP"
rc=$?
[ "$rc" = 1 ] || fail "estrad with estrad.lock a symbolic link exited $rc, expected 1"
grep -q ' started$' "$WORK/trap.log" && fail "estrad started with estrad.lock a symbolic link"
grep -qF "$WORK/trap-state/estrad.lock" "$WORK/trap.log" ||
    fail "the start-up error does not name estrad.lock: $(grep ' error ' "$WORK/trap.log")"
note "estrad.lock linked to a root file: $(grep -F 'estrad.lock' "$WORK/trap.log" | head -n 1 | sed 's/^.* error //'); the file stays root's"

# A state_dir whose estrad.db is a second hard link to that file of root's.
mkdir -m 700 "$WORK/hl-state"
ln "$VICTIM" "$WORK/hl-state/estrad.db"
P_PRIVS='"user": "nobody"' P_TOP_EXTRA=$(offline_top "$WORK/hl-state" '' '{}') \
    proxy_config "$WORK/hl.json"
timeout 10 "$ESTRAD_BIN" -c "$WORK/hl.json" </dev/null >"$WORK/hl.log" 2>&1
rc=$?
T_LOGS+=("$WORK/hl.log")
[ "$rc" = 1 ] || fail "estrad with estrad.db a hard link to a root file exited $rc, expected 1"
grep -qF "$WORK/hl-state/estrad.db: cannot hand it to the user: it has another hard link" "$WORK/hl.log" ||
    fail "no hard-link refusal naming estrad.db: $(grep ' error ' "$WORK/hl.log")"
v=$(stat -c '%U:%G %a' "$VICTIM")
[ "$v" = "root:root 600" ] || fail "the hard-linked file is now $v (was root:root 600)"
note "estrad.db hard-linked to a root file: refused, the file stays root's"

# A state_dir without links: its files go to nobody.
P_PRIVS='"user": "nobody"' P_TOP_EXTRA=$(offline_top "$WORK/nb-state" '' '{}') \
    proxy_config "$WORK/nbstate.json"
start_estrad nbstate "$WORK/nbstate.json"
wait_grep 5 "$XLOG" ' started$' || fail "no 'started' line in $XLOG"
for f in "" /estrad.db /estrad.lock; do
	[ -e "$WORK/nb-state$f" ] || fail "no $WORK/nb-state$f"
	o=$(stat -c %U "$WORK/nb-state$f")
	[ "$o" = nobody ] || fail "$WORK/nb-state$f is owned by $o, expected nobody"
done
check_alive "$XPID" "estrad as nobody with a state_dir"
note "state_dir, estrad.db and estrad.lock handed to nobody"

# No core files: the keys live in the process (the lab's proxy runs without -d).
grep -Eq '^Max core file size +0 +0 ' "/proc/$PROXY_PID/limits" ||
    fail "core dumps are not off: $(grep 'core' "/proc/$PROXY_PID/limits")"
pass
