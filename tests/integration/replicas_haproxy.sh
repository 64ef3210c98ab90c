#!/usr/bin/env bash
# lib.sh's replicas behind HAProxy (replicas_start, the harness of the
# shared-store cases), on SQLite:
#  - three replicas from one proxy_config file (listen 127.0.0.1:0, an
#    admin section, a state_dir), each on a port of its own, with an admin
#    port and a state_dir (STATE_DIR.rI) of its own;
#  - six GETs of cacerts through HAProxy (one connection each): all 200,
#    byte-identical to the lab proxy's, each replica's access log has two
#    of them (round robin, no affinity);
#  - kill -9 of one replica: the next six requests, sent at once, all
#    succeed through HAProxy (a connection refused by the dead replica is
#    redispatched) and none is served by it; HAProxy marks it DOWN;
#  - replica_restart brings it back on the same port: HAProxy marks it UP
#    and it serves again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v haproxy >/dev/null 2>&1 ||
    fail "no haproxy (Debian package haproxy, in tools/install-deps)"

P_TOP_EXTRA="\"state_dir\": \"$WORK/state\", \"admin\": { \"listen\": \"127.0.0.1:0\" }" \
    proxy_config "$WORK/replica.json"
replicas_start 3 "$WORK/replica.json"

# ---- each replica its own ports and state_dir.
[ "$(printf '%s\n' "${REP_PORT[@]}" "${REP_ADMIN[@]}" "$HA_PORT" | sort -u | wc -l)" = 7 ] ||
    fail "ports are not all distinct: EST ${REP_PORT[*]}, admin ${REP_ADMIN[*]}, haproxy $HA_PORT"
for i in 1 2 3; do
	[ "${REP_URL[i]}" = "https://127.0.0.1:${REP_PORT[i]}/.well-known/est" ] ||
	    fail "REP_URL[$i] is ${REP_URL[i]}"
	[ "${REP_STATE[i]}" = "$WORK/state.r$i" ] ||
	    fail "REP_STATE[$i] is '${REP_STATE[i]}'"
	grep -q "admin listening on 127.0.0.1:${REP_ADMIN[i]}" "${REP_LOG[i]}" ||
	    fail "r$i: no admin listener on ${REP_ADMIN[i]}"
	req "health$i" GET "http://127.0.0.1:${REP_ADMIN[i]}/healthz"
	check_status 200
done
[ "$HA_URL" = "https://127.0.0.1:$HA_PORT/.well-known/est" ] || fail "HA_URL is $HA_URL"

req lab GET "$EST_URL/cacerts"
check_status 200
cp "$BODY" "$WORK/lab.cacerts"

# round TAG N: N GETs of cacerts through HAProxy, one after the other;
# each 200 with the lab's chain; SEQ: the replicas that served them.
round() {
	local k
	SEQ=''
	for ((k = 1; k <= $2; k++)); do
		req "$1$k" GET "$HA_URL/cacerts"
		check_status 200
		cmp -s "$BODY" "$WORK/lab.cacerts" ||
		    fail "$1$k: cacerts through haproxy differ from the lab proxy's"
		replica_served "$1$k"
		SEQ="$SEQ${SEQ:+ }$R"
	done
	note "$1: served by $SEQ"
}

# count R: how many of SEQ's requests replica R served.
count() {
	tr ' ' '\n' <<<"$SEQ" | grep -cx "$1"
}

# ---- six GETs: two on each replica.
round rr 6
for i in 1 2 3; do
	[ "$(count "$i")" = 2 ] || fail "round robin: r$i served $(count "$i") of 6 ($SEQ)"
done

# ---- kill -9 of r2, then at once six requests in parallel: none fails.
kill9 "${REP_PID[2]}"
cpids=()
for k in 1 2 3 4 5 6; do
	curl -sS -o "$WORK/dead$k.body" -D "$WORK/dead$k.hdr" -w '%{http_code}' \
	    --max-time 15 --cacert "$TRUST" "$HA_URL/cacerts" \
	    >"$WORK/dead$k.status" 2>"$WORK/dead$k.err" &
	cpids+=("$!")
done
wait "${cpids[@]}"
SEQ=''
for k in 1 2 3 4 5 6; do
	[ "$(cat "$WORK/dead$k.status")" = 200 ] ||
	    fail "request $k after the kill -9: HTTP $(cat "$WORK/dead$k.status"): $(cat "$WORK/dead$k.err")"
	cmp -s "$WORK/dead$k.body" "$WORK/lab.cacerts" || fail "request $k after the kill -9: other cacerts"
	HDR=$WORK/dead$k.hdr replica_served "dead$k"
	SEQ="$SEQ${SEQ:+ }$R"
done
[ "$(count 2)" = 0 ] || fail "the dead r2 served a request ($SEQ)"
note "after kill -9 of r2: served by $SEQ"
wait_grep 5 "$HA_LOG" "estrad/r2 is DOWN" || fail "haproxy did not mark r2 DOWN"

# ---- back on its port: HAProxy takes it in again.
replica_restart 2
req direct2 GET "${REP_URL[2]}/cacerts"
check_status 200
replica_served direct2
[ "$R" = 2 ] || fail "${REP_URL[2]} was served by r$R after r2's restart"
[ "$(grep -c '^==== replicas: r2 run' "${REP_LOG[2]}")" = 2 ] ||
    fail "r2's log does not hold its two runs"
round back 6
[ "$(count 2)" -ge 1 ] || fail "the restarted r2 served none of 6 ($SEQ)"

check_alive "$HA_PID" haproxy
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
pass
