#!/usr/bin/env bash
# estbench (tools/estbench, issue 7) against the lab proxy, asserting that
# enrollments succeed, never how fast:
#  - Digest: -c 4 -n 40 exits 0, 40 enrollments, errors=0, and the last line
#    is the machine-readable one;
#  - a TLS client certificate instead of Digest (simpleenroll, auth=cert);
#  - --idle 20 --pid: all 20 connections up and a per-connection RSS figure;
#  - --ramp 1 -c 50: every client of the storm ends with a certificate (after
#    waiting out any 503 + Retry-After the proxy gives);
#  - against tests/tools/busy_est.py, a fake server busy on purpose, so that
#    the checks do not hang on when estrad answers 503: a ramp where every
#    client is told 503 + Retry-After (seconds, or an HTTP-date) once and all
#    succeed on their one retry; without --retry-after those 503s are busy=,
#    not errors; a 503 with an unusable Retry-After is an error; a 502 in a
#    ramp is a failure, listed in capitals.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${ESTBENCH:-}" ] && [ -x "$ESTBENCH" ] ||
    skip "no estbench binary (built with ESTRAD_TOOLS=OFF?)"
LAST_RE='^rate=[0-9]+\.[0-9] p50_ms=[0-9]+\.[0-9]+ p90_ms=[0-9]+\.[0-9]+ p99_ms=[0-9]+\.[0-9]+ errors=[0-9]+ busy=[0-9]+ retries=[0-9]+ abandoned=[0-9]+$'
RAMP_RE='^clients=[0-9]+ ok_first=[0-9]+ ok_retry=[0-9]+ failed=[0-9]+ busy=[0-9]+ retries=[0-9]+ max_retries=[0-9]+ p50_ms=[0-9]+\.[0-9]+ p99_ms=[0-9]+\.[0-9]+ max_ms=[0-9]+\.[0-9]+ last_s=[0-9]+\.[0-9]+$'

# [WANT_RC=N] bench NAME ARGS...: run estbench, output in $WORK/NAME.out;
# fails unless it exits N (default 0) within 15 s.
bench() {
	local name=$1 rc
	shift
	timeout 15 "$ESTBENCH" --cafile "$TRUST" "$@" >"$WORK/$name.out" \
	    2>"$WORK/$name.err"
	rc=$?
	! grep -qE "$SANITIZER_RE" "$WORK/$name.err" ||
	    fail "estbench $*: sanitizer report: $(grep -m 3 -E "$SANITIZER_RE" "$WORK/$name.err")"
	[ "$rc" = "${WANT_RC:-0}" ] || fail "estbench $*: exit $rc: $(tail -n 6 "$WORK/$name.out" "$WORK/$name.err")"
	OUT=$WORK/$name.out
}

# check_last: the last line has the format and errors=0.
check_last() {
	local last
	last=$(tail -n 1 "$OUT")
	[[ $last =~ $LAST_RE ]] || fail "last line is not machine-readable: $last"
	[[ $last == *" errors=0 "* ]] || fail "errors reported: $(grep '^errors:' "$OUT")"
}

# check_ramp N: the last line is a ramp's, N clients, none failed, N
# certificates.
check_ramp() {
	local last
	last=$(tail -n 1 "$OUT")
	[[ $last =~ $RAMP_RE ]] || fail "last line is not a ramp's: $last"
	[[ $last == "clients=$1 "*" failed=0 "* ]] || fail "ramp failures: $(grep -E '^(failed|FAILED)' "$OUT")"
	[[ $last =~ ok_first=([0-9]+)\ ok_retry=([0-9]+) ]] &&
	    [ $((BASH_REMATCH[1] + BASH_REMATCH[2])) = "$1" ] ||
	    fail "not $1 certificates: $last"
}

lines=$(wc -l <"$PROXY_LOG")	# line numbers, for tail -n +
bench digest -c 4 -n 40 -u "$EST_USER:$EST_PASS" --pid "$PROXY_PID" "$EST_URL"
check_last
grep -q '^done: ok=40 errors=0 ' "$OUT" || fail "not 40 enrollments: $(grep '^done:' "$OUT")"
grep -q "^server: pid=$PROXY_PID cpu_s=" "$OUT" || fail "no server line: $(cat "$OUT")"
ok=$(tail -n +$((lines + 1)) "$PROXY_LOG" |
    grep -c 'op=simpleenroll auth=digest user=estuser status=200')
[ "$ok" = 40 ] || fail "the proxy logged $ok Digest enrollments, expected 40"
note "digest: $(tail -n 1 "$OUT")"

lines=$(wc -l <"$PROXY_LOG")	# line numbers, for tail -n +
bench cert -c 2 -n 10 --cert "$CLIENT_CERT" --key "$CLIENT_KEY" "$EST_URL"
check_last
grep -q '^done: ok=10 errors=0 ' "$OUT" || fail "cert: $(grep '^done:' "$OUT")"
ok=$(tail -n +$((lines + 1)) "$PROXY_LOG" |
    grep -c 'op=simpleenroll auth=cert user=CN=lab-client status=200')
[ "$ok" = 10 ] || fail "the proxy logged $ok certificate enrollments, expected 10"
note "cert: $(tail -n 1 "$OUT")"

bench idle --idle 20 --pid "$PROXY_PID" "$EST_URL"
check_last
grep -q '^idle: requested=20 up=20 failed=0 ' "$OUT" || fail "idle: $(cat "$OUT")"
grep -Eq '^server: .* per_conn_kib=-?[0-9]+\.[0-9]+$' "$OUT" ||
    fail "idle: no per-connection RSS: $(cat "$OUT")"
note "idle: $(grep per_conn_kib "$OUT")"

# A storm of 50 against the lab proxy: all get a certificate, whether or
# not the proxy asked some to come back.
bench ramp -c 50 --ramp 1 -u "$EST_USER:$EST_PASS" "$EST_URL"
check_ramp 50
note "ramp: $(tail -n 1 "$OUT")"
check_proxy_healthy

# The busy fake server: its answers depend on the label (busy_est.py).
openssl x509 -in "$CLIENT_CERT" -out "$WORK/leaf.pem" &&
    openssl crl2pkcs7 -nocrl -certfile "$WORK/leaf.pem" -outform DER |
    base64 >"$WORK/p7.b64" || fail "cannot make the fake server's PKCS#7"
: >"$WORK/busy.port"
python3 "$(dirname "$0")/../tools/busy_est.py" "$PKI_DIR/ca-server-chain.pem" \
    "$PKI_DIR/ca-server.key" "$WORK/p7.b64" >"$WORK/busy.port" 2>"$WORK/busy.err" &
T_PIDS+=("$!")
T_LOGS+=("$WORK/busy.err")
for ((i = 0; i < 50; i++)); do
	port=$(head -n 1 "$WORK/busy.port")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || fail "busy_est.py printed no port: $(cat "$WORK/busy.err")"
FAKE=https://127.0.0.1:$port/.well-known/est

# Every client told to come back once (1 s, or an HTTP-date 2 s ahead):
# all 50 succeed on their retry, and the latency counts the wait.
bench fake_ramp -c 50 --ramp 1 "$FAKE/retry"
check_ramp 50
last=$(tail -n 1 "$OUT")
[[ $last == "clients=50 ok_first=0 ok_retry=50 failed=0 busy=50 retries=50 max_retries=1 "* ]] ||
    fail "fake ramp: $last"
[[ $last =~ p50_ms=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 900 ] ||
    fail "fake ramp: a latency shorter than the Retry-After: $last"
note "fake ramp: $last"

# Without --retry-after: 10 CSRs twice; the first use of each is busy (not
# an error), the second succeeds.
bench fake_busy -c 4 -n 20 --csrs 10 "$FAKE/retry"
check_last
[[ $(tail -n 1 "$OUT") == *" errors=0 busy=10 retries=0 abandoned=0" ]] ||
    fail "fake busy: $(tail -n 1 "$OUT")"
grep -q '^done: ok=10 errors=0 busy=10 ' "$OUT" || fail "fake busy: $(grep '^done:' "$OUT")"

# "Retry-After: soon" is no answer a device can follow: an error, no wait.
WANT_RC=1 bench fake_junk -c 2 -n 4 --retry-after "$FAKE/junk"
[[ $(tail -n 1 "$OUT") == *" errors=4 busy=0 retries=0 abandoned=0" ]] ||
    fail "fake junk: $(tail -n 1 "$OUT")"

# A 502 in a storm is a failure, said loudly.
WANT_RC=1 bench fake_bad -c 5 --ramp 0 "$FAKE/bad"
grep -q '^FAILED WITH 5XX OTHER THAN 503 + RETRY-AFTER: 502=5$' "$OUT" ||
    fail "fake bad: $(cat "$OUT")"
[[ $(tail -n 1 "$OUT") == "clients=5 ok_first=0 ok_retry=0 failed=5 busy=0 "* ]] ||
    fail "fake bad: $(tail -n 1 "$OUT")"
pass
