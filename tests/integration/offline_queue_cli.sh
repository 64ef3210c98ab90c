#!/usr/bin/env bash
# `estrad -c CONFIG queue list|purge` while the daemon runs
# (docs/offline.md), the private CA down:
#  - a Digest simpleenroll is queued (202, ID); `queue list` (exit 0)
#    shows it: ID, state pending, op simpleenroll, identity
#    digest:estuser, its subject;
#  - `queue purge ID` (exit 0): within a few seconds the daemon logs the
#    entry purged, the audit file has a queue line for ID with
#    "state":"purged", `queue list` no longer shows it;
#  - the client's retry is a new request: 202 with a new ID (the CA is
#    still down);
#  - a second estrad with the same state_dir stops at once, naming
#    STATE/estrad.lock; `queue purge --all` drops the new entry too.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to read the audit file"

fixed_prepare ca
audit=$WORK/audit.jsonl
P_URL=$FIXED_URL \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5' "$audit") \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID
cfg=$WORK/proxy.json

# queue_cli NAME ARGS...: run estrad -c CONFIG queue ARGS; stdout in
# $WORK/NAME.out, stderr in $WORK/NAME.cerr; fails unless it exits 0.
queue_cli() {
	local name=$1 rc
	shift
	timeout 20 "$ESTRAD_BIN" -c "$cfg" queue "$@" >"$WORK/$name.out" 2>"$WORK/$name.cerr"
	rc=$?
	[ "$rc" = 0 ] || fail "estrad queue $* exited $rc: $(head -c 400 "$WORK/$name.cerr")"
}

make_csr_key k ec:P-256 /CN=cli-device
post_csr q1 "$purl/simpleenroll" "$WORK/k.b64"
check_queued pending
id1=$QID
wait_queue_state 5 "$plog" "$id1" pending

queue_cli list1 list
head -n 1 "$WORK/list1.out" | grep -q '^ID  *STATE  *LABEL  *OP  *IDENTITY  *SUBJECT  *SANS  *AGE  *NEXT  *ATTEMPTS  *RECEIVED  *CA  *REQUEST  *NOTE' ||
    fail "queue list header: '$(head -n 1 "$WORK/list1.out")'"
row=$(awk -v id="$id1" '$1 == id' "$WORK/list1.out")
[ -n "$row" ] || fail "queue list does not show entry $id1: $(cat "$WORK/list1.out")"
fields=$(printf '%s\n' "$row" | awk '{ print $2, $3, $4, $5, $6 }')
[ "$fields" = "pending - simpleenroll digest:$EST_USER CN=cli-device" ] ||
    fail "queue list row '$row': expected 'pending - simpleenroll digest:$EST_USER CN=cli-device' after the ID"
queue_cli list1all list --all
awk -v id="$id1" '$1 == id && $2 == "pending"' "$WORK/list1all.out" | grep -q . ||
    fail "queue list --all does not show entry $id1 pending: $(cat "$WORK/list1all.out")"

queue_cli purge1 purge "$id1"
wait_queue_state 5 "$plog" "$id1" purged
for i in $(seq 30); do
	case " $(audit_queue_states "$audit" "$id1") " in *" purged "*) break ;; esac
	sleep 0.1
done
check_audit_states "$audit" "$id1" "pending purged"
queue_cli list2 list
awk -v id="$id1" '$1 == id' "$WORK/list2.out" | grep -q . &&
    fail "queue list still shows the purged entry $id1: $(cat "$WORK/list2.out")"

# The retry is a new request (the CA is still down: queued again).
post_csr q2 "$purl/simpleenroll" "$WORK/k.b64"
check_queued pending
id2=$QID
[ "$id2" != "$id1" ] || fail "the retry after the purge got the purged entry's ID $id1"
wait_queue_state 5 "$plog" "$id2" pending
queue_cli list3 list
awk -v id="$id2" '$1 == id && $2 == "pending"' "$WORK/list3.out" | grep -q . ||
    fail "queue list does not show the new entry $id2: $(cat "$WORK/list3.out")"

# A second daemon on the same state_dir refuses to start.
T_LOGS+=("$WORK/second.log")
timeout 10 "$ESTRAD_BIN" -c "$cfg" </dev/null >"$WORK/second.log" 2>&1
rc=$?
if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
	fail "a second estrad on the same state_dir: exit $rc (124: still running after 10 s): $(tail -n 3 "$WORK/second.log")"
fi
grep -qF "$WORK/state/estrad.lock" "$WORK/second.log" ||
    fail "the second estrad does not name $WORK/state/estrad.lock: $(tail -n 3 "$WORK/second.log")"
check_alive "$ppid" "the proxy"

queue_cli purgeall purge --all
wait_queue_state 5 "$plog" "$id2" purged
queue_cli list4 list
awk -v id="$id2" '$1 == id' "$WORK/list4.out" | grep -q . &&
    fail "queue list still shows entry $id2 after purge --all: $(cat "$WORK/list4.out")"
check_alive "$ppid" "the proxy"
pass
