#!/usr/bin/env bash
# PostgreSQL restarted under load (docs/scaling.md, "Replicas on
# PostgreSQL"): three replicas behind HAProxy share the queue, their CA (a
# private copy of the lab's) is down, so every enrollment is queued.
#  - a loop of clients (each a key of its own) enrolls through HAProxy
#    while the database is stopped for 3 s and started again
#    (pgcluster restart): every answer is a 202 "queued as ID" or a 503
#    with a Retry-After (the database away), never a 500 or anything else;
#    some are 503 and some are 202 after the restart;
#  - every 202's entry is in estrad_queue, pending, for that client;
#  - the CA started: every client retries through HAProxy until it gets
#    200 with a certificate for its key; the CA issued exactly one
#    certificate per client (no acknowledged entry lost, none sent twice);
#  - no replica was restarted (each still runs), and each stops cleanly.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
P_URL=$FIXED_URL P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA="\"queue\": { \"retry_after\": 2, \"expire\": 600 }, \"store\": $(pg_store_json '"timeout": 2')" \
    proxy_config "$WORK/replica.json"
replicas_start 3 "$WORK/replica.json"

MAX_CLIENTS=60
# enroll_loop: new clients enroll through HAProxy one after another (one
# each 0.2 s, at most MAX_CLIENTS) until $WORK/stop exists; "I STATUS
# RETRY-AFTER" lines in $WORK/statuses.
enroll_loop() {
	local i=0
	while [ ! -e "$WORK/stop" ] && [ "$i" -lt "$MAX_CLIENTS" ]; do
		i=$((i + 1))
		make_csr_key "c$i" ec:P-256 "/CN=restart-load-$i"
		post_csr "c$i" "$HA_URL/simpleenroll" "$WORK/c$i.b64"
		echo "$i $STATUS $(header Retry-After)" >>"$WORK/statuses"
		sleep 0.2
	done
}

: >"$WORK/statuses"
enroll_loop &
loop=$!
sleep 2
declare -a before=()
for i in 1 2 3; do
	before[i]=$(grep -c "store: connected to" "${REP_LOG[i]}")
done
note "restarting PostgreSQL (3 s down) while clients enroll"
"$ESTRAD_PGCLUSTER" restart "$ESTRAD_PG_DIR" 3 >"$WORK/restart.log" 2>&1 ||
    fail "pgcluster restart: $(tail -n 3 "$WORK/restart.log")"
# Each replica reconnects by itself (its backoff is at most 5 s).
for i in 1 2 3; do
	for ((k = 0; k < 100; k++)); do
		[ "$(grep -c "store: connected to" "${REP_LOG[i]}")" -gt "${before[i]}" ] &&
		    break
		sleep 0.1
	done
	[ "$k" -lt 100 ] || fail "r$i did not reconnect within 10 s"
done
sleep 3
touch "$WORK/stop"
wait "$loop"

n=$(wc -l <"$WORK/statuses")
n202=$(grep -c ' 202 ' "$WORK/statuses")
n503=$(grep -c ' 503 ' "$WORK/statuses")
note "$n clients: $n202 queued (202), $n503 told to come back (503)"
[ "$n" -ge 5 ] || fail "only $n clients enrolled during the loop"
bad=$(grep -v -E '^[0-9]+ (202|503) ' "$WORK/statuses")
[ -z "$bad" ] || fail "answers other than 202 and 503: $(head -n 5 <<<"$bad")"
[ "$n503" -ge 1 ] || fail "no client saw the database away (no 503)"
grep -E '^[0-9]+ 503 *$' "$WORK/statuses" &&
    fail "a 503 without Retry-After"
tail -n 3 "$WORK/statuses" | grep -q ' 202 ' ||
    fail "the last clients were not queued after the restart: $(tail -n 3 "$WORK/statuses")"
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
# Every 202 is on record: its row is there, pending, for that client's
# key. (With the CA started below, a retry whose row was lost would just
# enroll anew, and the counts would not show the loss.)
while read -r i st _; do
	[ "$st" = 202 ] || continue
	qid=$(sed -n 's/^queued as \([0-9][0-9]*\) (pending).*/\1/p' "$WORK/c$i.body")
	[ -n "$qid" ] || fail "client $i: a 202 without 'queued as ID': $(head -c 200 "$WORK/c$i.body")"
	[ "$(pg_queue_field "state || ' ' || subject" "$qid")" = "pending CN=restart-load-$i" ] ||
	    fail "client $i got 202 'queued as $qid', but the row is '$(pg_queue_field "state || ' ' || subject" "$qid")'"
done <"$WORK/statuses"

fixed_start ca
# Every client comes back until it holds its certificate (a real one
# would after Retry-After).
for ((i = 1; i <= n; i++)); do
	for ((k = 0; k < 40; k++)); do
		post_csr "c$i.r" "$HA_URL/simpleenroll" "$WORK/c$i.b64"
		[ "$STATUS" = 200 ] && break
		[ "$STATUS" = 202 ] || [ "$STATUS" = 503 ] ||
		    fail "client $i: a retry answered $STATUS: $(head -c 200 "$BODY")"
		sleep 0.5
	done
	check_status 200
	check_issued "c$i.r" "c$i" "$ISSUING_CERT"
done
sleep 1
issued=$(enroll_lines ca)
[ "$issued" = "$n" ] ||
    fail "the CA issued $issued certificates for $n clients: $(pg_psql 'SELECT id, state, attempts, ca_received FROM estrad_queue WHERE attempts > 1 OR ca_received > 1')"
# Each replica still runs, and stops cleanly (SIGTERM: exit 0, and under
# ASan no report).
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
	stop_clean "${REP_PID[i]}" "replica r$i" "${REP_LOG[i]}"
done
pass
