#!/usr/bin/env bash
# estbench (tools/estbench, issue 7) against the lab proxy, asserting that
# enrollments succeed, never how fast:
#  - Digest: -c 4 -n 40 exits 0, 40 enrollments, errors=0, and the last line
#    is the machine-readable one;
#  - a TLS client certificate instead of Digest (simpleenroll, auth=cert);
#  - --idle 20 --pid: all 20 connections up and a per-connection RSS figure.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${ESTBENCH:-}" ] && [ -x "$ESTBENCH" ] ||
    skip "no estbench binary (built with ESTRAD_TOOLS=OFF?)"
LAST_RE='^rate=[0-9]+\.[0-9] p50_ms=[0-9]+\.[0-9]+ p90_ms=[0-9]+\.[0-9]+ p99_ms=[0-9]+\.[0-9]+ errors=[0-9]+$'

# bench NAME ARGS...: run estbench, output in $WORK/NAME.out; fails unless
# it exits 0 within 15 s.
bench() {
	local name=$1 rc
	shift
	timeout 15 "$ESTBENCH" --cafile "$TRUST" "$@" >"$WORK/$name.out" \
	    2>"$WORK/$name.err"
	rc=$?
	[ "$rc" = 0 ] || fail "estbench $*: exit $rc: $(tail -n 6 "$WORK/$name.out" "$WORK/$name.err")"
	OUT=$WORK/$name.out
}

# check_last: the last line has the format and errors=0.
check_last() {
	local last
	last=$(tail -n 1 "$OUT")
	[[ $last =~ $LAST_RE ]] || fail "last line is not machine-readable: $last"
	[[ $last == *" errors=0" ]] || fail "errors reported: $(grep '^errors:' "$OUT")"
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
check_proxy_healthy
pass
