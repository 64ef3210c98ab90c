#!/usr/bin/env bash
# The operator's marks on the shared queue (docs/offline.md, "Inspecting,
# retrying and purging the queue"; docs/scaling.md, "Replicas on
# PostgreSQL"), as `estrad queue purge` and `estrad queue retry` make them
# on PostgreSQL (state 'purged'; retry_requested and next_attempt now), run
# as the commands (estrad -c CONFIG queue purge|retry):
#  - two replicas, the CA down, its breakers open for 30 s after the first
#    refusal (backoff_initial 30): two clients' requests are queued;
#  - the first entry is purged, the second held back an hour, the CA
#    started, and the second marked for retry: within a few seconds one
#    replica sends it past its backoff and its breakers (logs "sending now
#    (the operator's retry)"), the CA issues, and the client gets 200 with
#    its certificate;
#  - the purged entry, made due past the breakers, is never sent: still
#    purged, attempts unchanged, and the CA issued exactly one certificate.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
pg_queue_config "$WORK/replica.json" "$FIXED_URL" 5 30
replicas_start 2 "$WORK/replica.json"

make_csr_key k1 ec:P-256 /CN=marks-purged
post_csr q1 "${REP_URL[1]}/simpleenroll" "$WORK/k1.b64"
check_queued pending
id1=$QID
make_csr_key k2 ec:P-256 /CN=marks-retried
post_csr q2 "${REP_URL[2]}/simpleenroll" "$WORK/k2.b64"
check_queued pending
id2=$QID
a1=$(pg_queue_field attempts "$id1")

timeout 30 "$ESTRAD_BIN" -c "$WORK/replica.json" queue purge "$id1" >"$WORK/purge.out" 2>&1 ||
    fail "estrad queue purge $id1: $(cat "$WORK/purge.out")"
# The purged row made due, past the breakers too: only its state keeps it
# from being sent (its next attempt was 30 s away, after the breaker).
pg_psql "UPDATE estrad_queue SET next_attempt = estrad_now(), retry_requested = true WHERE id = $id1" >/dev/null ||
    fail "cannot make entry $id1 due"
# The retried entry held back an hour: once the CA is up, only the
# operator's retry can send it (a breaker may close again, and the entry's
# own backoff is the forwarder's: neither is what this case is about, and
# under a sanitizer the CA's start can outlast them).
pg_psql "UPDATE estrad_queue SET next_attempt = estrad_now() + 3600 WHERE id = $id2" >/dev/null ||
    fail "cannot hold entry $id2 back"
fixed_start ca
timeout 30 "$ESTRAD_BIN" -c "$WORK/replica.json" queue retry "$id2" >"$WORK/retry.out" 2>&1 ||
    fail "estrad queue retry $id2: $(cat "$WORK/retry.out")"

pg_wait_row 5 "entry $id2 sent after the operator's retry (breakers open for 30 s)" "id = $id2 AND state = 'issued'"
[ "$(pg_queue_field retry_requested "$id2")" = f ] || fail "entry $id2 still has retry_requested"
grep -q "queue: entry $id2: sending now (the operator's retry)" "${REP_LOG[@]}" ||
    fail "no replica logged 'queue: entry $id2: sending now (the operator's retry)'"

post_csr got "$HA_URL/simpleenroll" "$WORK/k2.b64"
check_status 200
check_issued got k2 "$ISSUING_CERT"

sleep 1
[ "$(pg_queue_field state "$id1")" = purged ] || fail "the purged entry $id1 is $(pg_queue_field state "$id1")"
[ "$(pg_queue_field attempts "$id1")" = "$a1" ] ||
    fail "the purged entry $id1 was sent: attempts $(pg_queue_field attempts "$id1"), was $a1"
n=$(enroll_lines ca)
[ "$n" = 1 ] || fail "the CA issued $n certificates, expected 1 (the purged entry sent?)"
for i in 1 2; do
	stop_clean "${REP_PID[i]}" "replica r$i" "${REP_LOG[i]}"
done
pass
