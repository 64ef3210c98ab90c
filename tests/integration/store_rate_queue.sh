#!/usr/bin/env bash
# The rate count and the queue's lookup in one round trip (issue 19: at
# most two for a Digest enrollment): one replica on PostgreSQL, a route
# with a queue and a rate of 2 per 60 s, its CA stopped.
#  - while a psql session holds estrad_queue locked, a new enrollment's
#    lookup waits, and its rate count is already in estrad_counter: the two
#    were sent together, not one after the other (before this change the
#    count waited for the lookup, and the row stayed at 0);
#  - once the lock goes, that enrollment is queued (202) and counted 1;
#  - its four retries each get 202 for the same entry, and the count taken
#    beside each lookup is given back: the row reads 1, not 5;
#  - a second CSR is queued (count 2), a third is refused 429 (count 3),
#    and the first one's retry still gets its 202: a retry is no new
#    enrollment, whatever the rate says.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
fixed_prepare ca
pg_queue_config "$WORK/proxy.json" "$FIXED_URL" 5 30 \
    '"policies": { "rated": { "rate": { "max": 2, "window": 60 } } }'
sed -i 's/"default": { "upstream": "ca"/"default": { "upstream": "ca", "policy": "rated"/' \
    "$WORK/proxy.json"
grep -q '"policy": "rated"' "$WORK/proxy.json" || fail "could not give the route its policy"
start_estrad proxy "$WORK/proxy.json"
purl=$XURL

name="rate::digest:$EST_USER"
count() {
	pg_psql "select coalesce((select count from estrad_counter where name = '$name'), 0)"
}

# The lookup blocked, the count taken.
make_csr_key a ec:P-256 /CN=rate-queue-a
lockf=$WORK/lock.sql
{
	echo "BEGIN;"
	echo "LOCK TABLE estrad_queue IN ACCESS EXCLUSIVE MODE;"
	echo "SELECT pg_sleep(4);"
	echo "COMMIT;"
} >"$lockf"
"$ESTRAD_PGCLUSTER" psql "$ESTRAD_PG_DIR" -d estrad -q -f "$lockf" >/dev/null 2>&1 &
lockpid=$!
for ((i = 0; i < 50; i++)); do
	[ "$(pg_psql "select count(*) from pg_locks where relation = 'estrad_queue'::regclass and mode = 'AccessExclusiveLock' and granted")" = 1 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || fail "the lock on estrad_queue was not taken"
(post_csr a1 "$purl/simpleenroll" "$WORK/a.b64"; echo "$STATUS" >"$WORK/a1.status") &
postpid=$!
seen=0
for ((i = 0; i < 30; i++)); do
	[ "$(count)" = 1 ] && { seen=1; break; }
	sleep 0.1
done
[ "$seen" = 1 ] || fail "while the lookup waited on the lock, the rate row read $(count), not 1: the count was not sent beside it"
kill -0 "$lockpid" 2>/dev/null || fail "the lock ended before the count was read: the test proves nothing"
wait "$postpid"
wait "$lockpid" || true
STATUS=$(cat "$WORK/a1.status") BODY=$WORK/a1.body HDR=$WORK/a1.hdr
check_queued pending
id=$QID
[ "$(count)" = 1 ] || fail "after the 202 the rate row reads $(count), not 1"

for i in 2 3 4 5; do
	post_csr "a$i" "$purl/simpleenroll" "$WORK/a.b64"
	check_queued pending
	[ "$QID" = "$id" ] || fail "retry a$i queued as $QID, not $id"
done
# The give-back is not waited for by the client: let it land.
for ((i = 0; i < 30; i++)); do
	[ "$(count)" = 1 ] && break
	sleep 0.1
done
[ "$(count)" = 1 ] || fail "after four retries the rate row reads $(count), not 1: retries were charged"

make_csr_key b ec:P-256 /CN=rate-queue-b
post_csr b1 "$purl/simpleenroll" "$WORK/b.b64"
check_queued pending
make_csr_key c ec:P-256 /CN=rate-queue-c
post_csr c1 "$purl/simpleenroll" "$WORK/c.b64"
check_error 429
check_body "policy rate: at most 2 enrollments per 60 s for this identity; retry later"
post_csr a6 "$purl/simpleenroll" "$WORK/a.b64"
check_queued pending
[ "$QID" = "$id" ] || fail "a's retry after the 429 queued as $QID, not $id"
for ((i = 0; i < 30; i++)); do
	[ "$(count)" = 3 ] && break
	sleep 0.1
done
[ "$(count)" = 3 ] || fail "the rate row reads $(count), not 3 (a, b, and c refused)"
check_alive "$XPID" proxy
pass
