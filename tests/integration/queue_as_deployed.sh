#!/usr/bin/env bash
# The queue's durability in the deployed shape (docs/offline.md, "Crashes
# and restarts"; issue 14 item 1): estrad started as root with "user":
# "nobody", "group": "nogroup" and a state_dir, the private CA down.
#  - an enrollment gets 202 (entry A); then, while the daemon runs,
#    `estrad queue list` (as root) and `sqlite3 estrad.db ".backup ..."`
#    (as root, what docs/offline.md suggests): afterwards estrad.db-wal and
#    estrad.db-shm still exist, the daemon holds no deleted file of its
#    state_dir open (/proc/PID/fd), and still holds its POSIX locks on the
#    database (/proc/locks);
#  - a second enrollment gets 202 (entry B); a second estrad on the same
#    state_dir is refused ("another estrad uses this state_dir");
#  - kill -9; with the daemon stopped, `estrad queue list` as root lists
#    both entries and leaves every file of the state_dir nobody's, so that
#    nobody can write the database (sqlite3 as nobody);
#  - the CA comes back; estrad started again the same way reads "2 waiting
#    entries", forwards both, and both clients' retries get their
#    certificates;
#  - after a graceful stop (the WAL folded back and removed) and with the
#    audit file rotated away, `estrad queue list` and `queue purge` as
#    root leave no file of root's in the state_dir or the audit directory
#    (they run as the daemon's user); on a mistyped state_dir, `queue list`
#    as root says there is no database and creates nothing.
# Before the fix, privdrop's hand-over opened and closed the database
# files after SQLite had opened them, which dropped the daemon's POSIX
# locks: the next `queue list` took the WAL away and entry B was lost.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (the deployed shape starts as root)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
getent group nogroup >/dev/null || skip "no group nogroup"
command -v sqlite3 >/dev/null || fail "no sqlite3 (tools/install-deps installs it)"

STATE=$WORK/state
AUDIT=$WORK/logs/audit.jsonl
chmod 755 "$WORK"
mkdir -m 700 "$WORK/logs"
chown nobody:nogroup "$WORK/logs"
fixed_prepare ca
P_PRIVS='"user": "nobody", "group": "nogroup"' P_URL=$FIXED_URL \
    P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$STATE" "" '"retry_after": 5, "expire": 600' "$AUDIT") \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
ppid=$XPID
wait_grep 5 "$XLOG" 'running as user nobody' || fail "no 'running as user nobody' in $XLOG"

# owners_in DIR: "NAME=OWNER:GROUP" for every entry of DIR, sorted.
owners_in() {
	find "$1" -mindepth 0 -printf '%P=%u:%g\n' | sort | tr '\n' ' '
}

# deleted_state_fds PID: the state_dir files PID holds open but which are
# gone from the directory.
deleted_state_fds() {
	local fd t out=''
	for fd in /proc/"$1"/fd/*; do
		t=$(readlink "$fd" 2>/dev/null) || continue
		case $t in
		"$STATE"/*" (deleted)") out="$out $t" ;;
		esac
	done
	printf '%s\n' "${out# }"
}

# posix_locks PID: how many POSIX (fcntl) locks PID holds on estrad.db
# and estrad.db-shm (SQLite's locks; a connection in WAL mode keeps a
# shared lock on the -shm file while open).
posix_locks() {
	local ino_db ino_shm
	ino_db=$(stat -c %i "$STATE/estrad.db")
	ino_shm=$(stat -c %i "$STATE/estrad.db-shm" 2>/dev/null || echo none)
	awk -v pid="$1" -v a="$ino_db" -v b="$ino_shm" '
	    $2 == "POSIX" && $5 == pid { split($6, f, ":"); if (f[3] == a || f[3] == b) n++ }
	    END { print n + 0 }' /proc/locks
}

make_csr_key a ec:P-256 /CN=deployed-a
post_csr qa "$XURL/simpleenroll" "$WORK/a.b64"
check_queued pending
ida=$QID
locks=$(posix_locks "$ppid")
[ "$locks" -gt 0 ] ||
    fail "after entry $ida the daemon holds no POSIX lock on estrad.db or its -shm (/proc/locks): the hand-over dropped SQLite's locks"
note "entry $ida queued; the daemon holds $locks POSIX locks on the database"

# The operator's look at the queue, and a backup, while it runs.
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/proxy.json" queue list 2>&1) ||
    fail "queue list while running: $out"
printf '%s\n' "$out" | awk -v id="$ida" '$1 == id && $2 == "pending"' | grep -q . ||
    fail "queue list while running does not show entry $ida pending: $out"
timeout 20 sqlite3 "$STATE/estrad.db" ".backup $WORK/copy.db" ||
    fail "sqlite3 .backup while running failed"
for f in estrad.db-wal estrad.db-shm; do
	[ -f "$STATE/$f" ] || fail "$STATE/$f is gone after queue list and a backup while the daemon runs"
done
gone=$(deleted_state_fds "$ppid")
[ -z "$gone" ] || fail "the daemon writes files that are gone from the state_dir: $gone"
[ "$(posix_locks "$ppid")" -gt 0 ] || fail "the daemon lost its POSIX locks on the database"
n=$(sqlite3 "$WORK/copy.db" "SELECT count(*) FROM queue WHERE id = $ida" 2>&1)
[ "$n" = 1 ] || fail "the backup does not hold entry $ida: $n"
note "queue list and .backup while running: WAL and -shm in place, no deleted file open"

make_csr_key b ec:P-256 /CN=deployed-b
post_csr qb "$XURL/simpleenroll" "$WORK/b.b64"
check_queued pending
idb=$QID
[ "$idb" != "$ida" ] || fail "entry B got A's id $ida"

# A second estrad on the same state_dir (its own ports) must not start.
timeout 10 "$ESTRAD_BIN" -c "$WORK/proxy.json" </dev/null >"$WORK/second.log" 2>&1
rc=$?
T_LOGS+=("$WORK/second.log")
[ "$rc" = 1 ] || fail "a second estrad on $STATE exited $rc, expected 1: $(tail -n 3 "$WORK/second.log")"
grep -qF "$STATE/estrad.lock: another estrad uses this state_dir" "$WORK/second.log" ||
    fail "the second estrad did not say 'another estrad uses this state_dir': $(grep ' error ' "$WORK/second.log")"
grep -q 'listening on' "$WORK/second.log" && fail "the second estrad listened"
check_alive "$ppid" "the first estrad after the second was refused"
note "a second estrad on the same state_dir is refused"

kill9 "$ppid"

# Stopped: the root operator's `queue list` sees both, and gives nothing
# to root.
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/proxy.json" queue list 2>&1) ||
    fail "queue list after kill -9: $out"
for id in "$ida" "$idb"; do
	printf '%s\n' "$out" | awk -v id="$id" '$1 == id' | grep -q . ||
	    fail "after kill -9, queue list does not show entry $id: $out"
done
owners=$(owners_in "$STATE")
case " $owners" in
*":root"* | *"=root:"*) fail "after a root queue list the state_dir holds root's files: $owners" ;;
esac
# The daemon's user can write the database (not only read it).
out=$(timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    sqlite3 "$STATE/estrad.db" 'BEGIN IMMEDIATE; SELECT count(*) FROM queue; ROLLBACK;' 2>&1)
[ "$out" = 2 ] || fail "nobody cannot write the database after root's queue list: $out"
note "after kill -9: both entries on disk, files nobody's ($owners)"

fixed_start ca
start_estrad proxy2 "$WORK/proxy.json"
plog=$XLOG
wait_grep 5 "$plog" "queue: 2 waiting entries in $STATE/estrad.db" ||
    fail "the restarted proxy did not log 'queue: 2 waiting entries': $(grep 'queue:' "$plog" | head -n 3)"
wait_queue_state 15 "$plog" "$ida" issued
wait_queue_state 15 "$plog" "$idb" issued
post_csr ra "$XURL/simpleenroll" "$WORK/a.b64"
check_status 200
check_issued ra a "$ISSUING_CERT"
post_csr rb "$XURL/simpleenroll" "$WORK/b.b64"
check_status 200
check_issued rb b "$ISSUING_CERT"
note "both entries forwarded after the restart and handed out"

# Stopped gracefully (the WAL folded back and removed), the audit file
# rotated away: root's commands make the -wal, -shm and audit file afresh,
# and must leave them nobody's (they run as nobody).
stop_pid "$XPID"
running "$XPID" && fail "cannot stop the proxy"
[ "$(stat -c %U "$AUDIT")" = nobody ] || fail "the daemon's audit file is $(stat -c %U "$AUDIT")'s"
mv "$AUDIT" "$AUDIT.1"
timeout 20 "$ESTRAD_BIN" -c "$WORK/proxy.json" queue list --all >/dev/null 2>"$WORK/ql.err" ||
    fail "queue list after a graceful stop: $(cat "$WORK/ql.err")"
timeout 20 "$ESTRAD_BIN" -c "$WORK/proxy.json" queue purge --all >/dev/null 2>"$WORK/qp.err" ||
    fail "queue purge after a graceful stop: $(cat "$WORK/qp.err")"
[ -f "$AUDIT" ] || fail "queue purge did not open the audit file $AUDIT"
owners="$(owners_in "$STATE") $(owners_in "$WORK/logs")"
case " $owners" in
*":root"* | *"=root:"*) fail "after root's queue list and purge, root owns files the daemon writes: $owners" ;;
esac
note "root's queue commands on a stopped daemon leave only nobody's files: $owners"

# A mistyped state_dir: root's queue list says there is no database and
# makes nothing (no directory of nobody's left behind).
sed "s|\"$STATE\"|\"$WORK/typo-state\"|" "$WORK/proxy.json" >"$WORK/typo.json"
grep -qF "\"$WORK/typo-state\"" "$WORK/typo.json" || fail "could not write typo.json"
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/typo.json" queue list 2>&1) ||
    fail "queue list on a state_dir that does not exist: $out"
grep -q '^queue is empty (no database yet at ' <<<"$out" || fail "queue list on a missing state_dir said: $out"
[ -e "$WORK/typo-state" ] && fail "queue list as root made the missing state_dir $WORK/typo-state"
note "queue list on a mistyped state_dir creates nothing"
pass
