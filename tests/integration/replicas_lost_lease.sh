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
store=$(pg_store_json '"lease": 5')
P_URL="https://127.0.0.1:$port/.well-known/est" P_CONNECT_TIMEOUT=8 \
    P_TIMEOUT=8 P_UPSTREAM_EXTRA='"backoff_initial": 1, "backoff_max": 1' \
    P_TOP_EXTRA="\"queue\": { \"retry_after\": 5, \"expire\": 600 }, \"store\": $store" \
    proxy_config "$WORK/a.json"
P_URL="https://127.0.0.1:$port/.well-known/est" P_CONNECT_TIMEOUT=60 \
    P_TIMEOUT=60 P_UPSTREAM_EXTRA='"backoff_initial": 1, "backoff_max": 1' \
    P_TOP_EXTRA="\"queue\": { \"retry_after\": 5, \"expire\": 600 }, \"store\": $store" \
    proxy_config "$WORK/b.json"
P_URL=$FIXED_URL P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA="\"queue\": { \"retry_after\": 5, \"expire\": 600 }, \"store\": $store" \
    proxy_config "$WORK/c.json"

row_field() {
	pg_psql "SELECT $1 FROM estrad_queue ORDER BY id LIMIT 1"
}

# wait_row SECONDS WHAT SQL-CONDITION: until the row meets the condition.
wait_row() {
	local k
	for ((k = 0; k < $1 * 10; k++)); do
		[ "$(pg_psql "SELECT count(*) FROM estrad_queue WHERE $3")" = 1 ] &&
		    return 0
		sleep 0.1
	done
	fail "$2: not within $1 s: $(pg_psql 'SELECT id, state, attempts, lease_owner, lease_until - estrad_now(), note FROM estrad_queue')"
}

start_estrad a "$WORK/a.json"
apid=$XPID alog=$XLOG aurl=$XURL
make_csr_key k ec:P-256 /CN=lost-lease
post_csr q1 "$aurl/simpleenroll" "$WORK/k.b64"
check_queued pending
id=$QID

python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
time.sleep(300)' "$port" >"$WORK/mute.log" 2>&1 &
T_PIDS+=("$!")
wait_grep 5 "$WORK/mute.log" listening || fail "the mute listener did not start: $(cat "$WORK/mute.log")"

wait_row 15 "A claims the entry" "id = $id AND attempts = 2 AND lease_owner LIKE '%:$apid:%' AND lease_until > estrad_now()"
kill -STOP "$apid"
note "A (pid $apid) holds entry $id and is frozen"

start_estrad b "$WORK/b.json"
bpid=$XPID
wait_row 20 "B claims the entry" "id = $id AND state = 'pending' AND attempts = 3 AND lease_owner LIKE '%:$bpid:%'"

kill -CONT "$apid"
wait_grep 15 "$alog" "queue: entry $id: the result of this send is dropped" ||
    fail "A did not log that the result of its send was dropped: $(grep "entry $id" "$alog" | tail -n 3)"
wait_row 1 "after A's result: still pending under B's lease" "id = $id AND state = 'pending' AND attempts = 3 AND lease_owner LIKE '%:$bpid:%' AND lease_until > estrad_now()"
# A would claim the entry again once B's lease runs out: it goes first.
stop_clean "$apid" "replica A" "$alog"
kill9 "$bpid"

fixed_start ca
start_estrad c "$WORK/c.json"
cpid=$XPID clog=$XLOG cu=$XURL
wait_row 20 "C forwards the entry" "id = $id AND state = 'issued' AND attempts = 4 AND lease_owner LIKE '%:$cpid:%'"

post_csr got "$cu/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued got k "$ISSUING_CERT"
wait_row 5 "delivered" "id = $id AND state = 'delivered'"
sleep 0.2
n=$(enroll_lines ca)
[ "$n" = 1 ] || fail "the CA issued $n certificates for the queued request, expected 1"
stop_clean "$cpid" "replica C" "$clog"
pass
