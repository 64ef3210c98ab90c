#!/usr/bin/env bash
# An answer estrad would not relay is never kept as the CA's answer to a
# queued request (docs/offline.md): the proxy's upstream takes at most
# 1024 bytes (max_response_bytes), its private CA is down:
#  - a Digest simpleenroll is queued (202, ID);
#  - on the CA's port, a CA that answers "200 OK", certs-only, with 4096
#    bytes: the forwarder sends the entry there and the proxy logs
#    "upstream CA answer too large";
#  - on disk the entry is still pending, its attempt counted; the
#    client's retry gets 202 with the same ID (not a 200 carrying the
#    proxy's own text/plain error);
#  - the real CA back on that port, the entry is issued; the retry gets
#    200 and the certificate; audit: pending, issued, delivered.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to read the audit file"

offline_queued b big-answer-device \
    '"max_response_bytes": 1024, "failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1'

# ---- a CA whose answer is over max_response_bytes
head -c 3072 /dev/urandom | base64 -w 64 | head -c 4096 >"$WORK/big.body"
http_answer "$WORK/big.answer" '200 OK' "$WORK/big.body" \
    'Content-Type: application/pkcs7-mime; smime-type=certs-only'
start_recorder big "$WORK/big.answer" "" "$port"
wait_grep 10 "$plog" "upstream ca: $FIXED_URL: upstream CA answer too large" ||
    fail "no 'upstream CA answer too large' in the proxy log within 10 s"
grep -q '^POST /\.well-known/est/simpleenroll ' "$WORK/big.rec" ||
    fail "the big CA did not get the queued simpleenroll: $(head -c 200 "$WORK/big.rec")"
recorder_done big
stop_pid "$REC_PID"

queue_row "$cfg" "$id"
[ "$Q_STATE" = pending ] ||
    fail "after the too large answer, entry $id is '$Q_STATE', expected pending: '$Q_ROW'"
[ "$Q_ATTEMPTS" -ge 1 ] 2>/dev/null ||
    fail "entry $id shows $Q_ATTEMPTS attempts, expected at least 1: '$Q_ROW'"
offline_retry_queued b
grep -q "queue: entry $id .*is issued" "$plog" &&
    fail "the too large answer was kept as issued: $(grep "queue: entry $id " "$plog")"

# ---- the real CA: issued, collected
offline_collect b
# the retry's answer (request b3): the CA's certs-only PKCS#7
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
check_alive "$ppid" "the proxy"
pass
