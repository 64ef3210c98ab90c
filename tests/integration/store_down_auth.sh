#!/usr/bin/env bash
# The shared store away (issue 19): one estrad on PostgreSQL, the default
# route Digest or certificate without a rate, label "rated" with a rate.
# Round trips (estrad_store_queries_total): a Digest enrollment 1, 2 on
# "rated"; a certificate one 0, 1 on "rated".
# With the counters table locked by another session past store.timeout
# (2 s): a client that gives up after 1 s leaves nothing behind (its query
# cancelled); a Digest enrollment 503 (the query timed out), then 200 once
# the lock is gone. With the database away (pg_outage):
#  - /readyz: 503 naming the shared store;
#  - a Digest enrollment: the challenge (no store needed), then 503 with
#    Retry-After (a number >= 1) and the text/plain line "the shared store
#    is unreachable; retry later", never 500, nothing at the CA;
#  - cacerts: 200; a certificate-authenticated enrollment on the default
#    route (no rate): 200;
#  - the same on "rated": 503, the same line (the rate cannot be counted);
#  - estrad_store_refusals_total counts them by stage;
# with the database back (pg_back), without restarting estrad:
#  - /readyz 200 and a Digest enrollment 200.
# Before this change, Digest asked no store (the 503 never came), and the
# rate counted in memory.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
P_LABELS='"rated": { "upstream": "ca", "policy": "rated" }' \
    P_TOP_EXTRA="\"policies\": { \"rated\": { \"rate\": { \"max\": 50, \"window\": 60 } } }, \"admin\": { \"listen\": \"127.0.0.1:0\" }, \"store\": $(pg_store_json '"timeout": 2')" \
    proxy_config "$WORK/proxy.json"
start_estrad down "$WORK/proxy.json"
admin_port "$XLOG"
make_csr dev "/CN=store-down"

# queries NAME: the ok queries so far (estrad_store_queries_total), in Q.
queries() {
	scrape "$1"
	Q=$(awk '$1 == "estrad_store_queries_total{result=\"ok\"}" { print $2 }' "$SCRAPE")
	Q=${Q:-0}	# a series is made on first use
}
# cost NAME WANT URL [post_csr args]: one enrollment, WANT round trips.
cost() {
	local name=$1 want=$2 url=$3 q0
	shift 3
	queries "$name.before"
	q0=$Q
	enroll_ok "$name" "$url" "$WORK/dev.b64" dev "$ISSUING_CERT" "$@"
	queries "$name.after"
	[ $((Q - q0)) = "$want" ] ||
	    fail "$name: $((Q - q0)) queries to the shared store, expected $want"
}
# away NAME URL [curl args]: 503 + Retry-After, the one line.
away() {
	local name=$1 url=$2
	shift 2
	post_csr "$name" "$url" "$WORK/dev.b64" "$@"
	check_error 503
	check_body "the shared store is unreachable; retry later"
	check_retry_after 1 300
}
# ready_is STATUS: until /readyz answers STATUS (20 s).
ready_is() {
	local k
	for ((k = 0; k < 100; k++)); do
		req "ready$1.$k" GET "http://127.0.0.1:$APORT/readyz"
		[ "$STATUS" = "$1" ] && return 0
		sleep 0.2
	done
	check_status "$1"
}

# ---- round trips: Digest 1 (auth), plus 1 on a route with a rate;
# a certificate needs none where there is no rate.
T_AUTH=digest cost up 1 "$XURL/simpleenroll"
T_AUTH=digest cost up_rated 2 "$XURL/rated/simpleenroll"
cost cert_free 0 "$XURL/simpleenroll" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
cost cert_rated 1 "$XURL/rated/simpleenroll" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"

# ---- a statement that does not come back within store.timeout (2 s):
# the counters locked by another session. The query fails on the loop:
# 503 as well, in about 2 s.
pg_psql "begin" "lock table estrad_counter in access exclusive mode" \
    "select pg_sleep(6)" "commit" >/dev/null 2>&1 &
LOCKER=$!
T_PIDS+=("$LOCKER")
for ((k = 0; k < 50; k++)); do
	[ "$(pg_psql "select count(*) from pg_locks where relation = 'estrad_counter'::regclass and mode = 'AccessExclusiveLock' and granted")" = 1 ] && break
	sleep 0.1
done
# A client that leaves while its login waits for the store: the query is
# cancelled with the request (auth_cancel), its late answer dropped. It
# leaves at 0.5 s: est_leave.c asks the kernel about a client with bytes
# unread once a second, and at 1 s the poll and curl's exit would race
# (the 2 s store.timeout's 503 then won, logged instead of the 499).
T_CURL_TIMEOUT=0.5 T_AUTH=digest post_csr gone "$XURL/simpleenroll" "$WORK/dev.b64"
# (curl's status is the challenge's: the answer to the second leg never came)
grep -q "timed out" "$WORK/gone.err" ||
    fail "gone: answered within 0.5 s while the counters are locked ($STATUS: $(cat "$WORK/gone.err"))"
wait_grep 3 "$XLOG" "status=499 .*client closed the connection before the answer" ||
    fail "gone: no access line with 499 for the client that left"
T_AUTH=digest away locked "$XURL/simpleenroll"
check_alive "$XPID" estrad
if [ "$ELAPSED_MS" -lt 1500 ] || [ "$ELAPSED_MS" -ge 6000 ]; then
	fail "the 503 of a query timed out came after $ELAPSED_MS ms, expected about 2000"
fi
wait "$LOCKER"
T_AUTH=digest enroll_ok unlocked "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"

# The database away for 12 s (pg_outage: it comes back by itself, even
# if this case fails meanwhile), long enough for what follows.
pg_outage 12
ready_is 503
grep -qi "shared store" "$BODY" || fail "/readyz says '$(cat "$BODY")', not naming the shared store"

before=$(ca_access_lines)
T_AUTH=digest away digest "$XURL/simpleenroll"
T_AUTH=digest away digest_rated "$XURL/rated/simpleenroll"
away cert_rated "$XURL/rated/simpleenroll" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_ca_unchanged "$before" "the enrollments refused while the store is away"

req cacerts GET "$XURL/cacerts"
check_status 200
enroll_ok cert "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
scrape metrics
check_metric 'estrad_store_refusals_total{stage="auth"}' 3
check_metric 'estrad_store_refusals_total{stage="rate"}' 1

pg_back
ready_is 200
T_AUTH=digest enroll_ok again "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
T_AUTH=digest enroll_ok again_rated "$XURL/rated/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
check_alive "$XPID" estrad
pass
