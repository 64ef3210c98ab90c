#!/usr/bin/env bash
# A busy CA is not a CA that is down (issue 16), and its refusals do not
# snowball:
#  1. 8 requests at once (a fixed limit of 8) to weak_ca with one worker
#     of 300 ms, estrad's upstream timeout 1 s: the first few are answered,
#     the rest time out while the CA answers others. Those timeouts count
#     as a busy CA's (estrad_upstream_overloaded_total), not toward the
#     breaker: it stays closed, and the next request is served.
#  2. Retry-After under a storm of refusals (one worker of 2 s, one slot,
#     one may wait, retry_after 1): a client that keeps coming back gets
#     a Retry-After bounded by the line (the wait ahead plus a full line's
#     drain), not one that grows with every refusal; after the storm a
#     refusal names a short time again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- 1. timeouts of a busy CA -----------------------------------------------
start_weak_ca --workers 1 --service-ms 300 --timeout-ms 60000
P_URL=$WCA_URL P_TIMEOUT=1 P_MAX_IN_FLIGHT=8 \
    P_UPSTREAM_EXTRA='"concurrency": "fixed"' \
    P_LIMITS_EXTRA='"max_connections_per_address": 0' \
    P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' \
    proxy_config "$WORK/ra.json"
start_estrad ra "$WORK/ra.json"
admin_port "$XLOG"
make_csr dev
pids=()
for _ in $(seq 8); do
	curl -sS --max-time 10 --cacert "$TRUST" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
	    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64" \
	    -o /dev/null -w '%{http_code}\n' "$XURL/simpleenroll" >>"$WORK/codes" 2>/dev/null &
	pids+=("$!")
done
wait "${pids[@]}"
note "codes: $(sort "$WORK/codes" | uniq -c | tr '\n' ' ')"
grep -qx 200 "$WORK/codes" || fail "no request was served: $(cat "$WORK/codes")"
grep -qx 504 "$WORK/codes" || fail "no request timed out: is the CA busy enough? $(cat "$WORK/codes")"
scrape after
over=$(awk '$1 == "estrad_upstream_overloaded_total{upstream=\"ca\"}" { print $2 }' "$SCRAPE")
[ "${over:-0}" -ge 3 ] || fail "timeouts of a busy CA counted as busy: ${over:-none}, expected at least 3"
check_metric "estrad_upstream_up{upstream=\"ca\",url=\"$WCA_URL\"}" 1
! grep -q 'is down after' "$XLOG" || fail "a busy CA's timeouts opened the breaker: $(grep 'is down after' "$XLOG")"
weak_ca_drain 10	# the work it still owes for the timed-out ones
post_csr after "$XURL/simpleenroll" "$WORK/dev.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 200
stop_pid "$XPID"
stop_pid "$WCA_PID"

# ---- 2. Retry-After stays bounded -------------------------------------------
start_weak_ca --workers 1 --service-ms 2000 --timeout-ms 20000
P_URL=$WCA_URL P_TIMEOUT=30 P_MAX_IN_FLIGHT=1 P_RETRY_AFTER=1 \
    P_UPSTREAM_EXTRA='"concurrency": "fixed", "max_waiting": 1, "max_wait": 8' \
    P_LIMITS_EXTRA='"max_connections_per_address": 0' \
    proxy_config "$WORK/ra2.json"
start_estrad ra2 "$WORK/ra2.json"
post_csr warm "$XURL/simpleenroll" "$WORK/dev.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 200

# storm TAG SECONDS: one request in the slot, one waiting, and a client
# asking again and again for SECONDS; RAS: the Retry-After values it got.
storm() {
	local tag=$1 i=0 pids=() t_end
	RAS=()
	for j in 1 2; do
		curl -sS --max-time 30 --cacert "$TRUST" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
		    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64" \
		    -o /dev/null "$XURL/simpleenroll" 2>/dev/null &
		pids+=("$!")
		sleep 0.1
	done
	t_end=$(($(now_ms) + $2 * 1000))
	while :; do
		post_csr "$tag$i" "$XURL/simpleenroll" "$WORK/dev.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
		if [ "$STATUS" = 503 ]; then
			check_error 503 "busy"
			RAS+=("$(header Retry-After)")
		fi
		i=$((i + 1))
		[ "$(now_ms)" -lt "$t_end" ] || break
	done
	note "$tag: $i requests, ${#RAS[@]} refused, Retry-After: ${RAS[*]}"
	wait "${pids[@]}"
}
# The wait ahead (a slot and one waiting: 2 x 2 s) plus a full line's
# drain (1 x 2 s) plus a step, rounded up, and a second of slack.
bound=9
storm storm 3
[ "${#RAS[@]}" -ge 10 ] || fail "only ${#RAS[@]} refusals in the storm"
for ra in "${RAS[@]}"; do
	[[ $ra =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] && [ "$ra" -le "$bound" ] ||
	    fail "Retry-After $ra in a storm of refusals (bound $bound): ${RAS[*]}"
done
sleep 5
storm later 0
[ "${#RAS[@]}" -ge 1 ] || fail "no refusal after the storm"
[ "${RAS[0]}" -le "$bound" ] || fail "after the storm, Retry-After ${RAS[0]}"
pass
