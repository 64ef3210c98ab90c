#!/usr/bin/env bash
# docs/offline.md's outage rehearsal, on a lab of its own (LAB_QUEUE=1
# tests/lab up: a proxy with a queue): `tests/lab ca stop` and
# `tests/lab ca start` take the lab's CA away and bring it back on the port
# the proxy's configured URL names.
#  - CA up: an enrollment gets its certificate;
#  - `tests/lab ca stop`: the CA's port refuses connections; an enrollment
#    gets 202 "queued as ID (pending)"; `queue list` shows ID pending;
#  - `tests/lab ca start`: the CA answers cacerts on the same port as
#    before, lab.env names the new CA pid; `queue retry ID` is
#    acknowledged; without any change to the proxy, entry ID is sent and
#    issued, and the client's retry gets 200
#    with the certificate for its key; the audit says pending, issued,
#    delivered;
#  - the port taken by someone else: `tests/lab ca start` exits 1 saying
#    the CA did not start again on that port (it does not come back on
#    another one); freed: it starts;
#  - `tests/lab ca` without stop or start: usage, exit 2;
#  - `tests/lab down` stops the restarted CA too.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

LAB=$ESTRAD_SOURCE_DIR/tests/lab
PLAB=$WORK/lab
lab_outage_cleanup() {
	[ -f "$PLAB/lab.env" ] && "$LAB" down "$PLAB" >/dev/null 2>&1
	t_cleanup
}
trap lab_outage_cleanup EXIT

LAB_QUEUE=1 "$LAB" up "$PLAB" >"$WORK/up.out" 2>&1 ||
    fail "LAB_QUEUE=1 tests/lab up: $(tail -n 5 "$WORK/up.out")"
# From here on the private lab's names (URLs, users, logs) are the ones used.
# shellcheck disable=SC1091
. "$PLAB/lab.env"
DIGEST_AUTH=(--digest -u "$EST_USER:$EST_PASS")
T_LOGS+=("$PROXY_LOG" "$CA_LOG")
first_pid=$CA_PID first_port=$CA_PORT

make_csr_key a ec:P-256 /CN=outage-a
enroll_ok a1 "$EST_URL/simpleenroll" "$WORK/a.b64" a "$ISSUING_CERT"

# ---- the outage
out=$("$LAB" ca stop "$PLAB" 2>&1) || fail "tests/lab ca stop: $out"
[[ $out == *"CA stopped (its port $CA_PORT now refuses connections)"* ]] ||
    fail "tests/lab ca stop said: $out"
running "$first_pid" && fail "the CA (pid $first_pid) still runs after 'ca stop'"
req down GET "$CA_URL/cacerts"
[ "$STATUS" = 000 ] || fail "the stopped CA's URL answered $STATUS"

make_csr_key b ec:P-256 /CN=outage-b
post_csr b1 "$EST_URL/simpleenroll" "$WORK/b.b64"
check_queued pending
id=$QID
note "queued as $id"
queue_row "$PROXY_CONFIG" "$id"
[ "$Q_STATE" = pending ] || fail "queue list: entry $id is '$Q_ROW', expected pending"

# ---- the CA comes back, on its old port
out=$("$LAB" ca start "$PLAB" 2>&1) || fail "tests/lab ca start: $out"
# shellcheck disable=SC1091
. "$PLAB/lab.env"
[ "$CA_PORT" = "$first_port" ] || fail "lab.env's CA_PORT changed: $first_port -> $CA_PORT"
[ "$CA_PID" != "$first_pid" ] && running "$CA_PID" ||
    fail "lab.env's CA_PID ($CA_PID) is not a new running CA (the first was $first_pid)"
[[ $out == *"CA started again: $CA_URL (pid $CA_PID)"* ]] || fail "tests/lab ca start said: $out"
req up GET "$CA_URL/cacerts"
check_status 200

# The walkthrough's `queue retry`: the operator knows the link is back.
out=$("$ESTRAD_BIN" -c "$PROXY_CONFIG" queue retry "$id" 2>&1) || fail "queue retry $id: $out"
[ "$out" = "queue entry $id: retry requested; a running estrad sends it within 2 seconds" ] ||
    fail "queue retry $id said: $out"
wait_queue_state 20 "$PROXY_LOG" "$id" issued
enroll_ok b2 "$EST_URL/simpleenroll" "$WORK/b.b64" b "$ISSUING_CERT"
wait_queue_state 5 "$PROXY_LOG" "$id" delivered
check_audit_states "$AUDIT_LOG" "$id" "pending issued delivered"

# ---- the port taken while the CA is away: no silent move to another port
# (SO_REUSEADDR: the stopped CA leaves connections in TIME_WAIT)
"$LAB" ca stop "$PLAB" >/dev/null 2>&1 || fail "the second 'ca stop' failed"
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("bound", flush=True)
time.sleep(60)' "$CA_PORT" >"$WORK/squat.out" 2>&1 &
squat=$!
T_PIDS+=("$squat")
wait_grep 5 "$WORK/squat.out" bound || fail "could not bind port $CA_PORT: $(cat "$WORK/squat.out")"
out=$("$LAB" ca start "$PLAB" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "tests/lab ca start with port $CA_PORT taken exited $rc: $out"
[[ $out == *"the CA did not start again on port $CA_PORT"* ]] ||
    fail "tests/lab ca start with the port taken said: $out"
stop_pid "$squat"
out=$("$LAB" ca start "$PLAB" 2>&1) || fail "tests/lab ca start once the port is free: $out"
# shellcheck disable=SC1091
. "$PLAB/lab.env"
req up2 GET "$CA_URL/cacerts"
check_status 200

out=$("$LAB" ca "$PLAB" 2>&1)
rc=$?
[ "$rc" = 2 ] && [[ $out == usage:* ]] || fail "tests/lab ca DIR: exit $rc: $out"

"$LAB" down "$PLAB" >/dev/null 2>&1 || fail "tests/lab down failed"
running "$CA_PID" && fail "tests/lab down left the restarted CA (pid $CA_PID) running"
pass
