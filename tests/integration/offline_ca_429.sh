#!/usr/bin/env bash
# A CA's 429 to a queued request means "not now", not "refused"
# (docs/offline.md): the proxy's private CA is down:
#  - a Digest simpleenroll is queued (202, ID);
#  - on the CA's port, a CA that answers "429 Too Many Requests" with
#    Retry-After: 1: the forwarder sends the entry there; on disk the
#    entry shows the CA's 429 and is still pending (not refused);
#  - the client's retry gets 202 with the same ID, not the CA's 429;
#  - the real CA back on that port, the entry is sent again and issued;
#    the retry gets 200 and the certificate; audit: pending, issued,
#    delivered.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to read the audit file"

offline_queued t throttled-device \
    '"failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1'

# ---- a CA that says "too many requests, come back in a second"
printf 'slow down\n' >"$WORK/busy.body"
http_answer "$WORK/busy.answer" '429 Too Many Requests' "$WORK/busy.body" \
    'Retry-After: 1' 'Content-Type: text/plain'
start_recorder busy "$WORK/busy.answer" "" "$port"
wait_queue_ca 10 "$cfg" "$id" 429
grep -q '^POST /\.well-known/est/simpleenroll ' "$WORK/busy.rec" ||
    fail "the busy CA did not get the queued simpleenroll: $(head -c 200 "$WORK/busy.rec")"
recorder_done busy
stop_pid "$REC_PID"
[ "$Q_STATE" = pending ] ||
    fail "after the CA's 429, entry $id is '$Q_STATE', expected pending: '$Q_ROW'"

offline_retry_queued t
grep -q "queue: entry $id .*is refused" "$plog" &&
    fail "the CA's 429 was kept as a refusal: $(grep "queue: entry $id " "$plog")"

# ---- the real CA: sent again, issued, collected
offline_collect t
check_alive "$ppid" "the proxy"
pass
