#!/usr/bin/env bash
# A replica that lost its lease mid-forward does not write its result over
# the new claimer's (docs/scaling.md, "Replicas on PostgreSQL"): a result
# is written only WHERE lease_owner is still the writer.
#  - replica A's upstream is a closed port (the client's send refused:
#    202, attempts 1), then a listener that never speaks TLS takes it; A
#    claims the entry (attempts 2) and its send hangs (connect_timeout 8);
#  - A is frozen (SIGSTOP) past its lease (store.lease 5); replica B, with
#    the same silent upstream (connect_timeout 60), claims the entry after
#    the lease (attempts 3, lease_owner B) and its send hangs too;
#  - A thawed (SIGCONT): its send fails, and its result is dropped and
#    logged ("the result of this send is dropped"): the row is still
#    pending, B's, under B's lease (not released to a third sender);
#  - A stopped, B killed (-9); the CA and replica C started: C claims it after B's
#    lease (attempts 4) and the CA issues; the client gets 200 with its
#    certificate from C; the CA issued once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
port=$(free_port) || fail "python3 found no free port"
mute="https://127.0.0.1:$port/.well-known/est"
pg_queue_config "$WORK/a.json" "$mute" 8 1
pg_queue_config "$WORK/b.json" "$mute" 60 1
pg_queue_config "$WORK/c.json" "$FIXED_URL" 5 0.2

start_estrad a "$WORK/a.json"
apid=$XPID alog=$XLOG aurl=$XURL
make_csr_key k ec:P-256 /CN=lost-lease
post_csr q1 "$aurl/simpleenroll" "$WORK/k.b64"
check_queued pending
id=$QID

start_mute "$port"

pg_wait_row 15 "A claims the entry" "id = $id AND attempts = 2 AND lease_owner LIKE '%:$apid:%' AND lease_until > estrad_now()"
kill -STOP "$apid"
note "A (pid $apid) holds entry $id and is frozen"

start_estrad b "$WORK/b.json"
bpid=$XPID
pg_wait_row 20 "B claims the entry" "id = $id AND state = 'pending' AND attempts = 3 AND lease_owner LIKE '%:$bpid:%'"

kill -CONT "$apid"
wait_grep 15 "$alog" "queue: entry $id: the result of this send is dropped" ||
    fail "A did not log that the result of its send was dropped: $(grep "entry $id" "$alog" | tail -n 3)"
pg_wait_row 1 "after A's result: still pending under B's lease" "id = $id AND state = 'pending' AND attempts = 3 AND lease_owner LIKE '%:$bpid:%' AND lease_until > estrad_now()"
# A would claim the entry again once B's lease runs out: it goes first.
stop_clean "$apid" "replica A" "$alog"
kill9 "$bpid"

fixed_start ca
start_estrad c "$WORK/c.json"
cpid=$XPID clog=$XLOG cu=$XURL
pg_wait_row 20 "C forwards the entry" "id = $id AND state = 'issued' AND attempts = 4 AND lease_owner LIKE '%:$cpid:%'"

post_csr got "$cu/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued got k "$ISSUING_CERT"
pg_wait_row 5 "delivered" "id = $id AND state = 'delivered'"
sleep 0.2
n=$(enroll_lines ca)
[ "$n" = 1 ] || fail "the CA issued $n certificates for the queued request, expected 1"
stop_clean "$cpid" "replica C" "$clog"
pass
