#!/usr/bin/env bash
# Shield the CA (issue 16): estrad in front of tests/tools/weak_ca, a CA
# that serves K=4 requests at once, S=100 ms each, and whose front end
# answers 504 after T=1 s while its workers still do the work (it collapses
# when 64 devices hit it directly: weak_ca.sh shows that).
#
#  1. 64 estbench clients through estrad with the defaults ("concurrency":
#     "adaptive"): every enrollment succeeds, no 503 either; after a
#     warm-up the CA never holds more than K + 2 (K at work, and the
#     limit's probe above K: one or two waiting, as docs/performance.md
#     reports for the benchmark), times nothing out and wastes no work;
#     the breaker stays
#     closed; the throughput is that of K workers; connections to the CA
#     stay open (a handful opened for hundreds of enrollments).
#  2. K changes mid-run, 4 -> 8 -> 2: estrad's limit follows within 5 s
#     (estrad_upstream_concurrency_limit: K at work, plus the waiting ones
#     whose delay is under 10 ms, plus a probe: [8, 10] and [2, 3] here),
#     and still no request fails.
#  3. The same load with "concurrency": "fixed" (max_in_flight 64, what
#     estrad did before): the CA times requests out and devices fail. That
#     is the contrast that shows 1 and 2 are estrad's doing.
#  4. A CA whose front end answers nothing but 504 (its workers never
#     finish in time) is down, not busy: the breaker opens after
#     failure_threshold of them, and the next request gets 502 at once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${ESTBENCH:-}" ] && [ -x "$ESTBENCH" ] ||
    skip "no estbench binary (built with ESTRAD_TOOLS=OFF?)"

K=4 S=100 T=1000
start_weak_ca --workers "$K" --service-ms "$S" --timeout-ms "$T"

# shield NAME CONCURRENCY: an estrad in front of the weak CA, with an
# admin listener; sets XPID, XURL, XLOG and APORT.
shield() {
	P_URL=$WCA_URL P_UPSTREAM_EXTRA="\"concurrency\": \"$2\", \"max_wait\": 8" \
	    P_LIMITS_EXTRA='"max_connections_per_address": 0' \
	    P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' \
	    proxy_config "$WORK/$1.json"
	start_estrad "$1" "$WORK/$1.json"
	admin_port "$XLOG"
}

# bench NAME SECONDS [fails]: 64 clients with the lab client's
# certificate, one new TLS connection per enrollment; the report in
# $WORK/NAME.out, its last line in LAST. estbench exits 1 when an
# enrollment failed: only a run that may fail says so.
bench() {
	local rc=0
	timeout $(($2 + 30)) "$ESTBENCH" -c 64 -t "$2" --timeout 20 \
	    --cafile "$TRUST" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
	    "$XURL" >"$WORK/$1.out" 2>"$WORK/$1.err" || rc=$?
	LAST=$(tail -n 1 "$WORK/$1.out")
	[[ $LAST == rate=* ]] && { [ "$rc" = 0 ] || [ "${3:-}" = fails ]; } ||
	    fail "estbench $1 (exit $rc): $(tail -n 5 "$WORK/$1.out" "$WORK/$1.err")"
	note "$1: $LAST"
}

# field NAME: NAME=VALUE from LAST (0 when absent).
field() {
	local v
	v=$(sed -n "s/.* $1=\([0-9.]*\).*/\1/p; s/^$1=\([0-9.]*\).*/\1/p" <<<"$LAST" | head -n 1)
	echo "${v:-0}"
}

# limit: estrad's concurrency limit toward the weak CA now.
limit() {
	scrape limit
	awk '$1 ~ /^estrad_upstream_concurrency_limit\{upstream="ca",/ { print $2 }' "$SCRAPE"
}

# limits: five readings of the limit over a second, "LOWEST HIGHEST". A
# round whose answers the CA's noise slowed may cut the limit to K - 1
# until its hold ends (a few tenths of a second; test_conclimit allows it
# too): one reading can catch that dip, five cannot all.
limits() {
	local i v lo= hi=
	for i in 1 2 3 4 5; do
		v=$(limit)
		if [ -z "$lo" ] || [ "$v" -lt "$lo" ]; then lo=$v; fi
		if [ -z "$hi" ] || [ "$v" -gt "$hi" ]; then hi=$v; fi
		[ "$i" = 5 ] || sleep 0.2
	done
	echo "$lo $hi"
}

# ---- 1. a storm of 64 through estrad ---------------------------------------
shield adaptive adaptive
bench warmup 3
curl -sS -o /dev/null "$WCA_CTL/reset" || fail "weak CA control: reset"
bench storm 8
errors=$(field errors) busy=$(field busy) rate=$(field rate)
[ "$errors" = 0 ] || fail "devices failed through estrad: $(grep -i 'error' "$WORK/storm.out" | head -n 5)"
[ "$busy" = 0 ] || fail "$busy answers 503 + Retry-After at 64 clients"
served=$(weak_ca_stat served)
timeouts=$(weak_ca_stat timeouts)
wasted=$(weak_ca_stat wasted)
in_service=$(weak_ca_stat in_service_max)
in_system=$(weak_ca_stat in_system_max)
conns=$(weak_ca_stat connections)
note "weak CA: served=$served timeouts=$timeouts wasted=$wasted in_service_max=$in_service in_system_max=$in_system connections=$conns"
[ "$timeouts" = 0 ] && [ "$wasted" = 0 ] ||
    fail "estrad overloaded the CA: $timeouts timed out, $wasted wasted"
[ "$in_system" -le $((K + 2)) ] ||
    fail "the CA held $in_system requests at once, K is $K"
# K workers, S ms each: K * 1000 / S a second. Half of it is the floor on
# a busy 2-core machine (ASan); the benchmark measures it properly.
ideal=$((K * 1000 / S))
awk -v r="$rate" -v i="$ideal" 'BEGIN { exit !(r >= i / 2) }' ||
    fail "$rate enrollments/s through estrad, the CA serves $ideal"
[ "$served" -ge 100 ] || fail "the CA served only $served in 8 s"
[ "$conns" -le 16 ] || fail "$conns new connections to the CA for $served enrollments"
! grep -q 'is down after' "$XLOG" || fail "the breaker opened: $(grep 'is down after' "$XLOG")"
scrape after
check_metric 'estrad_upstream_up{upstream="ca",url="'"$WCA_URL"'"}' 1
opened=$(awk '$1 == "estrad_upstream_connections_total{upstream=\"ca\"}" { print $2 }' "$SCRAPE")
[ -n "$opened" ] && [ "$opened" -le 16 ] ||
    fail "estrad opened ${opened:-no} connections to the CA"
note "limit after the storm: $(limit)"

# ---- 2. the CA's capacity changes mid-run ---------------------------------
"$ESTBENCH" -c 64 -t 16 --timeout 20 --cafile "$TRUST" --cert "$CLIENT_CERT" \
    --key "$CLIENT_KEY" "$XURL" >"$WORK/change.out" 2>"$WORK/change.err" &
bpid=$!
T_PIDS+=("$bpid")
sleep 1
curl -sS -o /dev/null "$WCA_CTL/set?k=8" || fail "weak CA control: k=8"
sleep 4
read -r l8lo l8 <<<"$(limits)"
curl -sS -o /dev/null "$WCA_CTL/set?k=2" || fail "weak CA control: k=2"
sleep 4
read -r l2lo l2 <<<"$(limits)"
wait "$bpid" || fail "estbench (capacity change): $(tail -n 5 "$WORK/change.out" "$WORK/change.err")"
LAST=$(tail -n 1 "$WORK/change.out")
note "capacity change: limit $l8lo-$l8 at K=8, $l2lo-$l2 at K=2; $LAST"
# K reached within 5 s (the highest reading), and never over K plus the
# probe (every reading). The probe is one or two over K (docs/performance.md,
# and the K + 2 the CA may hold above), going up and coming down alike: the
# landing CI of issue 19 read 3-4 at K=2, a probe of two.
[ "$l8" -ge 8 ] && [ "$l8" -le 10 ] || fail "4-5 s after K became 8 the limit is $l8lo-$l8"
[ "$l2" -ge 2 ] && [ "$l2" -le 4 ] || fail "4-5 s after K became 2 the limit is $l2lo-$l2"
[ "$(field errors)" = 0 ] && [ "$(field busy)" = 0 ] ||
    fail "requests failed while K changed: $LAST"
[ "$(weak_ca_stat timeouts)" = 0 ] || fail "the CA timed out $(weak_ca_stat timeouts) while K changed"
curl -sS -o /dev/null "$WCA_CTL/set?k=$K" || fail "weak CA control: k=$K"
stop_pid "$XPID"

# ---- 3. the contrast: a fixed limit of 64 passes the storm through --------
curl -sS -o /dev/null "$WCA_CTL/reset" || fail "weak CA control: reset"
shield fixed fixed
bench fixed 6 fails
timeouts=$(weak_ca_stat timeouts)
note "fixed: weak CA timeouts=$timeouts in_system_max=$(weak_ca_stat in_system_max)"
[ "$timeouts" -gt 0 ] && [ "$(field errors)" -gt 0 ] ||
    fail "a fixed limit of 64 did not overload the CA: is the weak CA weak? $LAST"
scrape fixed
over=$(awk '$1 == "estrad_upstream_overloaded_total{upstream=\"ca\"}" { print $2 }' "$SCRAPE")
note "fixed: estrad counted ${over:-no} attempts as a busy CA's"
[ "${over:-0}" -gt 0 ] || fail "the CA's 504s while it answered others were not counted as busy"
stop_pid "$XPID"
stop_pid "$WCA_PID"

# ---- 4. a CA that answers only 504 is down ---------------------------------
start_weak_ca --workers 1 --service-ms 5000 --timeout-ms 100
shield dead adaptive
make_csr dead
for i in 1 2 3; do
	post_csr "dead$i" "$XURL/simpleenroll" "$WORK/dead.b64" \
	    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
	check_status 504
done
wait_grep 5 "$XLOG" "upstream ca: $WCA_URL is down after 3 failures in a row" ||
    fail "three 504s and nothing else did not open the breaker"
post_csr dead4 "$XURL/simpleenroll" "$WORK/dead.b64" --cert "$CLIENT_CERT" \
    --key "$CLIENT_KEY"
check_error 502 "upstream CA unreachable"
[ "$ELAPSED_MS" -lt 1000 ] || fail "the open breaker's 502 took $ELAPSED_MS ms"
pass
