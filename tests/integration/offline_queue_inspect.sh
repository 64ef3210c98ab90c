#!/usr/bin/env bash
# What an operator sees of the queue, and `queue retry` (docs/offline.md),
# the private CA down and its breaker left open for a minute
# (failure_threshold 1, backoff_initial 60):
#  - a Digest simpleenroll with two SANs is queued (202, ID): the client's
#    own transfer was refused;
#  - `queue list --json` (parsed with jq) shows it: pending, its subject
#    and both SANs, the X-Request-Id of the request that queued it (the
#    one its access line carries), the next attempt in the future, one
#    attempt and none received by the CA (a refused connection), and the
#    real reason: the CA's URL and curl's "port N ... refused" text, not
#    only "upstream CA unreachable"; `queue list` shows the same in its
#    columns; `queue show ID` gives every field, with the next attempt as
#    a UTC time and "in ..."; `queue show ID --json` is one object;
#  - `queue show`/`queue retry` of an unknown ID: exit 1, one line;
#  - a CA on that port that answers "503 Service Unavailable": after
#    `queue retry ID` the daemon sends at once (not after the minute):
#    the entry shows 2 attempts, 1 received, the CA's 503 and its status
#    line as the last error (not its header fields: a planted value in
#    one is in no output and not in the database);
#  - the real CA back on that port: nothing is sent for 3 s (the backoff
#    holds); `queue retry ID` and the entry is issued within seconds:
#    3 attempts, 2 received, no last error; a retry of it now says it is
#    issued (exit 1); the client collects its certificate;
#  - the audit's queue lines carry "ca_received": 0 while pending, 2
#    when issued.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || fail "jq is needed to read queue list --json"

fixed_prepare ca
port=$FIXED_PORT audit=$WORK/audit.jsonl cfg=$WORK/proxy.json
P_URL=$FIXED_URL \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 60, "backoff_max": 120' \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5' "$audit") \
    proxy_config "$cfg"
start_estrad proxy "$cfg"
plog=$XLOG purl=$XURL ppid=$XPID

# qcli NAME ARGS...: estrad -c CONFIG queue ARGS; stdout in $WORK/NAME.out,
# stderr in $WORK/NAME.cerr, the exit status in QRC.
qcli() {
	local name=$1
	shift
	timeout 20 "$ESTRAD_BIN" -c "$cfg" queue "$@" >"$WORK/$name.out" 2>"$WORK/$name.cerr"
	QRC=$?
}

# qjson NAME FILTER: FILTER (jq, given $id) over entry $id of `queue list
# --all --json`; the result in QJ.
qjson() {
	qcli "$1" list --all --json
	[ "$QRC" = 0 ] || fail "queue list --all --json exited $QRC: $(head -c 300 "$WORK/$1.cerr")"
	QJ=$(jq -r --argjson id "$id" ".[] | select(.id == \$id) | $2" "$WORK/$1.out") ||
	    fail "queue list --json is not a JSON array of entries: $(head -c 300 "$WORK/$1.out")"
}

# check_entry NAME WHAT FILTER: the jq FILTER over entry $id is "true".
check_entry() {
	qjson "$1" "$3"
	[ "$QJ" = true ] ||
	    fail "entry $id: $2 ($3): $(jq -c --argjson id "$id" '.[] | select(.id == $id)' "$WORK/$1.out")"
}

make_csr_key k ec:P-256 /CN=inspect-device \
    -addext "subjectAltName=DNS:inspect.example,DNS:alt.inspect.example"
post_csr q1 "$purl/simpleenroll" "$WORK/k.b64"
check_queued pending
id=$QID
rid=$(header X-Request-Id)
[ -n "$rid" ] || fail "the 202 has no X-Request-Id"
access_line_for "$rid" "$plog"
wait_queue_state 5 "$plog" "$id" pending

# ---- what the operator sees while the CA is down
check_entry j1 "pending, key and request" \
    "(.state == \"pending\") and (.op == \"simpleenroll\") and (.subject == \"CN=inspect-device\")
     and (.identity == \"digest:$EST_USER\") and (.request_id == \"$rid\")
     and (.sans == [\"DNS:inspect.example\", \"DNS:alt.inspect.example\"])"
check_entry j1 "the next attempt in the future (the breaker's minute)" \
    '(.next_attempt_in > 5) and (.next_attempt | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))'
check_entry j1 "a refused connection is an attempt the CA did not receive" \
    '(.attempts == 1) and (.ca_received == 0) and (.ca_status == null)'
check_entry j1 "the real reason" \
    "(.last_error | startswith(\"https://127.0.0.1:$port/.well-known/est: \"))
     and (.last_error | test(\"port $port\")) and (.note != .last_error)"
qjson j1 .last_error
note "last error: $QJ"

qcli list1 list
[ "$QRC" = 0 ] || fail "queue list exited $QRC"
head -n 1 "$WORK/list1.out" | grep -qE '^ID +STATE +LABEL +OP +IDENTITY +SUBJECT +SANS +AGE +NEXT +ATTEMPTS +RECEIVED +CA +REQUEST +NOTE$' ||
    fail "queue list header: '$(head -n 1 "$WORK/list1.out")'"
row=$(awk -v id="$id" '$1 == id' "$WORK/list1.out")
read -r _ st _ _ _ subj sans _ next att recv _ req _ <<<"$row"
[ "$st $subj $sans $att $recv $req" = "pending CN=inspect-device DNS:inspect.example,DNS:alt.inspect.example 1 0 $rid" ] ||
    fail "queue list row: '$row'"
[[ $next =~ ^[0-9]+[smhd] ]] || fail "queue list: NEXT '$next' is not a time to wait: '$row'"
case $row in
*"last error: https://127.0.0.1:$port/.well-known/est: "*) ;;
*) fail "queue list does not show the last error: '$row'" ;;
esac

qcli show1 show "$id"
[ "$QRC" = 0 ] || fail "queue show $id exited $QRC: $(cat "$WORK/show1.cerr")"
grep -qE '^next_attempt +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$WORK/show1.out" ||
    fail "queue show: no UTC next_attempt: $(cat "$WORK/show1.out")"
grep -qE '^next_attempt_in +[0-9]+ \(in [0-9]+[smh]' "$WORK/show1.out" ||
    fail "queue show: no 'in ...' for the next attempt: $(cat "$WORK/show1.out")"
grep -qE "^last_error +https://127.0.0.1:$port/" "$WORK/show1.out" ||
    fail "queue show: no last_error: $(cat "$WORK/show1.out")"
grep -qE '^sans +DNS:inspect.example, DNS:alt.inspect.example$' "$WORK/show1.out" ||
    fail "queue show: no SANs: $(cat "$WORK/show1.out")"
grep -qE '^ca_received +0$' "$WORK/show1.out" ||
    fail "queue show: ca_received: $(cat "$WORK/show1.out")"
qcli show1j show "$id" --json
[ "$QRC" = 0 ] && [ "$(jq -r '.id, .state, .request_id' "$WORK/show1j.out" | tr '\n' ' ')" = "$id pending $rid " ] ||
    fail "queue show $id --json: $(head -c 400 "$WORK/show1j.out")"

for cmd in show retry; do
	qcli "unknown_$cmd" "$cmd" 99999
	[ "$QRC" = 1 ] && [ "$(cat "$WORK/unknown_$cmd.cerr")" = "estrad: no queue entry 99999" ] ||
	    fail "queue $cmd 99999: exit $QRC, '$(cat "$WORK/unknown_$cmd.cerr")'"
done

# ---- a CA that is there but unavailable: retry sends at once
printf 'down for maintenance\n' >"$WORK/busy.body"
planted="planted-$(openssl rand -hex 8)"
http_answer "$WORK/busy.answer" '503 Service Unavailable' "$WORK/busy.body" \
    'Content-Type: text/plain' "WWW-Authenticate: Basic realm=\"$planted\""
start_recorder busy "$WORK/busy.answer" "" "$port"
qcli retry1 retry "$id"
[ "$QRC" = 0 ] || fail "queue retry $id exited $QRC: $(cat "$WORK/retry1.cerr")"
wait_grep 5 "$plog" "queue: entry $id: sending now (the operator's retry)" ||
    fail "the daemon did not take the retry within 5 s: $(grep "queue: entry $id" "$plog" | tail -n 3)"
for ((i = 0; i < 50; i++)); do
	qjson j2 '.ca_status'
	[ "$QJ" = 503 ] && break
	sleep 0.1
done
recorder_done busy
stop_pid "$REC_PID"
check_entry j2 "the CA's 503 received, its status line kept" \
    '(.attempts == 2) and (.ca_received == 1) and (.state == "pending")
     and (.last_error | endswith("HTTP/1.1 503 Service Unavailable"))'
qcli show2 show "$id"
grep -qF -- "$planted" "$WORK"/*.out "$WORK/state/estrad.db" "$WORK/state/estrad.db-wal" &&
    fail "a header field of the CA's answer reached the queue's record or output"

# ---- the real CA back: the backoff holds, until the operator's retry
fixed_start ca
sleep 3
check_entry j3 "still waiting for its backoff" '(.state == "pending") and (.attempts == 2)'
qcli retry2 retry "$id"
[ "$QRC" = 0 ] || fail "queue retry $id exited $QRC: $(cat "$WORK/retry2.cerr")"
wait_queue_state 5 "$plog" "$id" issued
check_entry j4 "issued: 3 attempts, 2 received, no error left" \
    '(.state == "issued") and (.attempts == 3) and (.ca_received == 2)
     and (.ca_status == 200) and (.last_error == null) and (.next_attempt == null)'
qcli retry3 retry "$id"
[ "$QRC" = 1 ] && grep -qx "estrad: queue entry $id is issued: the CA has answered; nothing to send" "$WORK/retry3.cerr" ||
    fail "queue retry of an issued entry: exit $QRC, '$(cat "$WORK/retry3.cerr")'"

enroll_ok q2 "$purl/simpleenroll" "$WORK/k.b64" k "$ISSUING_CERT"
wait_queue_state 5 "$plog" "$id" delivered

# ---- the audit: attempts and what the CA received
for ((i = 0; i < 30; i++)); do
	[ "$(jq -r --argjson id "$id" 'select(.event == "queue" and .queue_id == $id) | .state' "$audit" | tr '\n' ' ')" = "pending issued delivered " ] && break
	sleep 0.1
done
got=$(jq -r --argjson id "$id" 'select(.event == "queue" and .queue_id == $id) | "\(.state):\(.attempts):\(.ca_received)"' "$audit" | tr '\n' ' ')
[ "$got" = "pending:1:0 issued:3:2 delivered:3:2 " ] ||
    fail "audit queue lines of entry $id (state:attempts:ca_received): '$got'"
check_alive "$ppid" "the proxy"
pass
