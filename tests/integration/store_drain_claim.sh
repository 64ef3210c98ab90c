#!/usr/bin/env bash
# SIGTERM while a claim of the shared queue is out (docs/scaling.md, "What
# a kill -9 costs": a replica stopped with SIGTERM costs nothing): the rows
# that claim takes are not sent, so they are handed back as they were
# (lease_until 0, attempts as before), not left under the stopping
# replica's lease (store.lease) with an attempt that never was.
#  - the CA down: a Digest simpleenroll is queued (202, attempts 1; its
#    next attempt 3 s on, after the breaker);
#  - a psql session holds estrad_queue (LOCK ... EXCLUSIVE MODE): the
#    forwarder's claim, once the entry is due, waits on it
#    (pg_stat_activity);
#  - an idle TLS connection is open (the drain waits up to 1 s for it);
#    the replica gets SIGTERM and the lock is let go: the claim returns
#    while the replica stops;
#  - the replica exits 0; the row is pending with attempts 1 and no lease.
# Before: attempts 2 and a lease of 5 s to a process gone.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
P_URL=$FIXED_URL P_CONNECT_TIMEOUT=5 P_TIMEOUT=5 \
    P_UPSTREAM_EXTRA='"backoff_initial": 3, "backoff_max": 3' \
    P_TOP_EXTRA="\"queue\": { \"retry_after\": 5, \"expire\": 600 }, \"store\": $(pg_store_json '"lease": 5, "timeout": 60')" \
    proxy_config "$WORK/a.json"
start_estrad a "$WORK/a.json"
apid=$XPID alog=$XLOG aurl=$XURL

make_csr_key k ec:P-256 /CN=drain-claim
post_csr q1 "$aurl/simpleenroll" "$WORK/k.b64"
check_queued pending
id=$QID

mkfifo "$WORK/lock.in"
"$ESTRAD_PGCLUSTER" psql "$ESTRAD_PG_DIR" -q -A -t -v ON_ERROR_STOP=1 \
    <"$WORK/lock.in" >"$WORK/lock.out" 2>&1 &
T_PIDS+=("$!")
exec 4>"$WORK/lock.in"
echo "BEGIN; LOCK TABLE estrad_queue IN EXCLUSIVE MODE; SELECT 'locked';" >&4
wait_grep 10 "$WORK/lock.out" '^locked$' || fail "psql did not lock estrad_queue: $(cat "$WORK/lock.out")"
[ "$(pg_queue_field attempts "$id")" = 1 ] ||
    fail "entry $id was sent before the lock (attempts $(pg_queue_field attempts "$id"))"
for ((k = 0; k < 100; k++)); do
	[ "$(pg_psql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH c AS %'")" = 1 ] && break
	sleep 0.1
done
[ "$k" -lt 100 ] || fail "the forwarder's claim did not wait on the lock within 10 s"

sclient idle
kill -TERM "$apid"
echo "COMMIT;" >&4
exec 4>&-
exit_status "$apid" "replica A"
[ "$RC" = 0 ] || fail "replica A exited $RC after SIGTERM"
row=$(pg_queue_field "state || ' ' || attempts || ' ' || (lease_until <= estrad_now())" "$id")
[ "$row" = "pending 1 true" ] ||
    fail "after the stop, entry $id is '$row' (state attempts lease-free), want 'pending 1 true': $(pg_psql "SELECT lease_owner, lease_until - estrad_now(), note FROM estrad_queue WHERE id = $id")"
! grep -E "$SANITIZER_RE" "$alog" || fail "sanitizer report in $(basename "$alog")"
pass
