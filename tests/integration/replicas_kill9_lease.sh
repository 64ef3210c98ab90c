#!/usr/bin/env bash
# kill -9 of the replica that claimed a queued entry mid-forward
# (docs/scaling.md, "Replicas on PostgreSQL"): its lease (store.lease, 5 s)
# runs out and another replica sends the entry; the CA issues once.
#  - replica A's upstream is a port where nothing listens: a Digest
#    simpleenroll is refused there and gets 202 "queued as ID" (attempt 1);
#  - then a server that accepts TCP and never speaks TLS takes that port:
#    A's forwarder claims the entry (attempts 2, lease_owner A) and its
#    send hangs; A is killed with SIGKILL while the row names it;
#  - the CA is started, and replicas B and C with it as their upstream:
#    not before A's lease has run out (lease_until, the database's clock),
#    one of them claims the entry (attempts 3, lease_owner B or C) and it
#    is issued; the client's retry on the other one gets 200 with a
#    certificate for its key; the CA issued exactly one certificate.
# With a queue of its own per replica (SQLite), B and C know nothing of the
# entry: no row, no lease, and the retry is a new request.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
port=$(free_port) || fail "python3 found no free port"
pg_queue_config "$WORK/a.json" "https://127.0.0.1:$port/.well-known/est" 60 1
pg_queue_config "$WORK/bc.json" "$FIXED_URL" 5 0.2

start_estrad a "$WORK/a.json"
apid=$XPID aurl=$XURL
make_csr_key k ec:P-256 /CN=kill9-lease
post_csr q1 "$aurl/simpleenroll" "$WORK/k.b64"
check_queued pending
id=$QID
[ "$(pg_queue_field attempts)" = 1 ] || fail "after the refused send: attempts $(pg_queue_field attempts), not 1"

# A listener that accepts and never answers: A's next send hangs in the
# TLS handshake (connect_timeout 60 s).
start_mute "$port"

pg_wait_row 15 "A claims the entry" "id = $id AND attempts = 2 AND lease_owner LIKE '%:$apid:%' AND lease_until > estrad_now()"
note "A (pid $apid) holds entry $id: $(pg_psql 'SELECT lease_owner, lease_until - estrad_now() FROM estrad_queue')"
kill9 "$apid"
t_kill=$(pg_psql "SELECT estrad_now()")
until_a=$(pg_queue_field lease_until)

fixed_start ca
start_estrad b "$WORK/bc.json"
bpid=$XPID blog=$XLOG burl=$XURL
start_estrad c "$WORK/bc.json"
cpid=$XPID clog=$XLOG

pg_wait_row 20 "B or C forwards the entry" "id = $id AND state = 'issued'"
[ "$(pg_queue_field attempts)" = 3 ] || fail "the row shows attempts $(pg_queue_field attempts), expected 3 (refused, A's hung send, the delivery)"
owner=$(pg_queue_field lease_owner)
case $owner in
*":$apid:"*) fail "the row's lease_owner is still A's ($owner)" ;;
esac
# Not before A's lease ran out: the claim's update time is past it.
[ "$(pg_queue_field updated)" -ge "$until_a" ] ||
    fail "claimed at $(pg_queue_field updated), before A's lease ran out at $until_a (A killed at $t_kill)"
grep -q "queue: entry $id .*is issued" "$blog" "$clog" ||
    fail "neither B nor C logged 'queue: entry $id ... is issued'"

post_csr got "$burl/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued got k "$ISSUING_CERT"
pg_wait_row 5 "delivered" "id = $id AND state = 'delivered'"
sleep 0.2
n=$(enroll_lines ca)
[ "$n" = 1 ] || fail "the CA issued $n certificates for the queued request, expected 1"
stop_clean "$bpid" "replica B" "$blog"
stop_clean "$cpid" "replica C" "$clog"
pass
