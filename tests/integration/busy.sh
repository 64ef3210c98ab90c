#!/usr/bin/env bash
# A CA busy with every slot estrad gives it: the next request waits for a
# slot (upstreams.NAME.max_waiting, max_wait) rather than failing, and gets
# 503 + Retry-After (seconds, at least retry_after) and a text/plain reason
# only when it cannot wait: at once when max_waiting are already waiting,
# after max_wait when no slot came free in time.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=20 P_MAX_IN_FLIGHT=1 P_RETRY_AFTER=7 \
    P_UPSTREAM_EXTRA='"max_waiting": 1, "max_wait": 1.5' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"

# The only slot: the silent CA never answers it.
curl -sS --max-time 8 --cacert "$TRUST" -o /dev/null "$XURL/cacerts" 2>/dev/null &
T_PIDS+=("$!")
wait_grep 5 "$SILENT_LOG" '^accepted' || fail "the first request never reached the CA"

# The second waits for that slot, max_wait long.
(
	req waiting GET "$XURL/cacerts"
	echo "$STATUS $ELAPSED_MS" >"$WORK/waiting.result"
) &
waiter=$!
T_PIDS+=("$waiter")
sleep 0.5
[ ! -s "$WORK/waiting.result" ] || fail "the second request did not wait: $(cat "$WORK/waiting.result")"

# The third finds the line full (max_waiting 1): 503 at once.
req full GET "$XURL/cacerts"
check_error 503 "busy: max_waiting requests wait for it already"
check_header Retry-After 7
[ "$ELAPSED_MS" -lt 1000 ] || fail "503 took ${ELAPSED_MS} ms"

wait "$waiter" || true
read -r st ms <"$WORK/waiting.result"
[ "$st" = 503 ] || fail "the waiting request ended $st, expected 503 after max_wait"
[ "$ms" -ge 1400 ] && [ "$ms" -lt 5000 ] || fail "the waiting request got its 503 after $ms ms, max_wait is 1.5 s"
STATUS=$st BODY=$WORK/waiting.body HDR=$WORK/waiting.hdr
check_error 503 "busy: waited max_wait for it"
ra=$(header Retry-After)
[[ $ra =~ ^[0-9]+$ ]] && [ "$ra" -ge 7 ] || fail "Retry-After '$ra' after max_wait, expected at least retry_after (7)"

# Another upstream of the same proxy is not affected.
req real GET "$XURL/real/cacerts"
check_status 200
pass
