#!/usr/bin/env bash
# The queue shared by replicas on PostgreSQL (docs/scaling.md, "Replicas on
# PostgreSQL"; RFC 7030 §4.2.3): three replicas behind HAProxy, one
# database, their CA (a private copy of the lab's) stopped.
#  - a Digest simpleenroll gets 202 "queued as ID" from replica 1; the
#    same client's retries on replicas 2 and 3 (directly) and through
#    HAProxy all get 202 for the same ID, and estrad_queue holds one row;
#    replica 3's /metrics counts it (estrad_queue_entries, the group's);
#  - a second client sends its request to the three replicas at once: all
#    three answer 202 for one ID (the unique index: one row for it);
#  - the CA started: one replica forwards the entry (the row becomes
#    issued), the client's retry through HAProxy gets 200 with a
#    certificate for its key, the row becomes delivered; so does the second
#    client; the CA issued exactly one certificate for each.
# On SQLite queues (each replica its own) the retries would queue three
# entries and the CA would issue three certificates.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
pg_queue_config "$WORK/replica.json" "$FIXED_URL" 5 0.2 \
    '"admin": { "listen": "127.0.0.1:0" }'
replicas_start 3 "$WORK/replica.json"

make_csr_key k ec:P-256 /CN=replicas-queue
post_csr q1 "${REP_URL[1]}/simpleenroll" "$WORK/k.b64"
check_queued pending
check_header Retry-After 5
id=$QID
note "queued as $id by r1"

for i in 2 3; do
	post_csr "q$i" "${REP_URL[i]}/simpleenroll" "$WORK/k.b64"
	check_queued pending
	[ "$QID" = "$id" ] || fail "r$i answered 'queued as $QID', not $id"
done
for i in 1 2 3; do
	post_csr "ha$i" "$HA_URL/simpleenroll" "$WORK/k.b64"
	check_queued pending
	[ "$QID" = "$id" ] || fail "through haproxy: 'queued as $QID', not $id"
done
n=$(pg_psql "SELECT count(*) FROM estrad_queue")
[ "$n" = 1 ] || fail "estrad_queue holds $n rows, expected 1: $(pg_psql 'SELECT id, state, lease_owner FROM estrad_queue')"
[ "$(pg_queue_field id)" = "$id" ] || fail "the row's id is $(pg_queue_field id), not $id"
# The count is the group's: replica 3, which queued nothing, reports the
# entry in its metrics (counted each second).
APORT=${REP_ADMIN[3]}
for ((k = 0; k < 30; k++)); do
	scrape "metrics$k"
	[ "$(awk '$1 == "estrad_queue_entries{state=\"pending\"}" { print $2 }' "$SCRAPE")" = 1 ] && break
	sleep 0.1
done
check_metric 'estrad_queue_entries{state="pending"}' 1

# A second client sends to the three replicas at once, before any has an
# entry for it: each misses and queues, the unique index keeps one row,
# and the replicas that lost the race answer with the winner's ID.
make_csr_key k2 ec:P-256 /CN=replicas-queue-race
racers=()
for i in 1 2 3; do
	post_csr "race$i" "${REP_URL[i]}/simpleenroll" "$WORK/k2.b64" &
	racers+=("$!")
done
wait "${racers[@]}"
id2=''
for i in 1 2 3; do
	BODY=$WORK/race$i.body HDR=$WORK/race$i.hdr
	STATUS=$(sed -n 's/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$HDR" | tail -n 1)
	check_queued pending
	[ -n "$id2" ] || id2=$QID
	[ "$QID" = "$id2" ] || fail "race: r$i answered 'queued as $QID', another replica $id2"
done
[ "$id2" != "$id" ] || fail "the second client's request was matched to the first's entry $id"
n=$(pg_psql "SELECT count(*) FROM estrad_queue")
[ "$n" = 2 ] || fail "estrad_queue holds $n rows after the race, expected 2: $(pg_psql 'SELECT id, subject, state FROM estrad_queue')"
note "the race: one entry, $id2 ($(cat "${REP_LOG[@]}" | grep -c 'another replica queued this request first') replicas lost the insert)"

fixed_start ca
pg_wait_row 20 "the entry forwarded" "id = $id AND state = 'issued'"
owner=$(pg_queue_field lease_owner)
note "forwarded by $owner"
[ -n "$owner" ] || fail "the issued row names no lease_owner"

post_csr got "$HA_URL/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued got k "$ISSUING_CERT"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
pg_wait_row 5 "the entry delivered" "id = $id AND state = 'delivered'"
pg_wait_row 10 "the second entry forwarded" "id = $id2 AND state = 'issued'"
post_csr got2 "$HA_URL/simpleenroll" "$WORK/k2.b64"
check_status 200
check_issued got2 k2 "$ISSUING_CERT"
sleep 0.2
n=$(enroll_lines ca)
[ "$n" = 2 ] || fail "the CA issued $n certificates for the two queued requests, expected 2"
# Each replica still runs, and stops cleanly (SIGTERM: exit 0, and under
# ASan no report).
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
	stop_clean "${REP_PID[i]}" "replica r$i" "${REP_LOG[i]}"
done
pass
