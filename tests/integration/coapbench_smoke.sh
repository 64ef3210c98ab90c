#!/usr/bin/env bash
# coapbench (tools/coapbench, issue 20) against a proxy with a "coap"
# section, asserting that enrollments succeed, never how fast:
#  - -c 4 -n 20 on kept DTLS sessions: exit 0, done: ok=20 errors=0, the
#    last line estbench's machine-readable one, 4 sessions, and the proxy
#    logged 20 access lines transport=coaps coap=2.04 op=simpleenroll;
#  - --fresh -c 4 -n 8: a DTLS session (handshake) per enrollment, 8 of
#    them, all issued.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${COAPBENCH:-}" ] && [ -x "$COAPBENCH" ] ||
    skip "no coapbench binary (built with ESTRAD_TOOLS=OFF?)"
LAST_RE='^rate=[0-9]+\.[0-9] p50_ms=[0-9]+\.[0-9]+ p90_ms=[0-9]+\.[0-9]+ p99_ms=[0-9]+\.[0-9]+ errors=[0-9]+ abandoned=[0-9]+$'

coap_proxy proxy
plog=$XLOG

# bench NAME ARGS...: run coapbench with the lab client certificate, output
# in $WORK/NAME.out; fails unless it exits 0 within 30 s with the machine
# line last and no errors.
bench() {
	local name=$1 rc last
	shift
	timeout 30 "$COAPBENCH" --cafile "$TRUST" --cert "$CLIENT_CERT" \
	    --key "$CLIENT_KEY" "$@" "$COAPS" >"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	OUT=$WORK/$name.out
	! grep -qE "$SANITIZER_RE" "$WORK/$name.err" ||
	    fail "coapbench $*: sanitizer report: $(grep -m 3 -E "$SANITIZER_RE" "$WORK/$name.err")"
	[ "$rc" = 0 ] || fail "coapbench $*: exit $rc: $(tail -n 6 "$OUT" "$WORK/$name.err")"
	last=$(tail -n 1 "$OUT")
	[[ $last =~ $LAST_RE ]] || fail "last line is not machine-readable: $last"
	[[ $last == *" errors=0 abandoned=0" ]] || fail "errors reported: $(cat "$OUT")"
}

# coaps_ok FROM: the access lines after line FROM of a CoAP enrollment
# answered 2.04.
coaps_ok() {
	tail -n +$(($1 + 1)) "$plog" | grep ' access ' | grep ' transport=coaps ' |
	    grep ' op=simpleenroll ' | grep -c ' coap=2\.04'
}

lines=$(wc -l <"$plog")
bench kept -c 4 -n 20
grep -q '^done: ok=20 errors=0 ' "$OUT" || fail "not 20 enrollments: $(cat "$OUT")"
grep -q '^dtls: sessions=4 ' "$OUT" || fail "not one kept session per client: $(grep '^dtls:' "$OUT")"
n=$(coaps_ok "$lines")
[ "$n" = 20 ] || fail "the proxy logged $n CoAP enrollments answered 2.04, expected 20"
note "kept: $(tail -n 1 "$OUT")"

lines=$(wc -l <"$plog")
bench fresh -c 4 -n 8 --fresh
grep -q '^done: ok=8 errors=0 ' "$OUT" || fail "fresh: $(cat "$OUT")"
grep -q '^dtls: sessions=8 ' "$OUT" || fail "fresh: not a session each: $(grep '^dtls:' "$OUT")"
n=$(coaps_ok "$lines")
[ "$n" = 8 ] || fail "fresh: the proxy logged $n CoAP enrollments answered 2.04, expected 8"
note "fresh: $(tail -n 1 "$OUT")"
check_proxy_healthy
pass
