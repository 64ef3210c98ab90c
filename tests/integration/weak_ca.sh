#!/usr/bin/env bash
# tests/tools/weak_ca, the weak CA of issue 16, does what the issue asks of
# it (this case tests the tool, not estrad), with K=4 slots of S=100 ms and a
# front timeout T=500 ms (capacity K/S = 40 enrollments a second):
#  - it is a real CA: cacerts, an enrollment whose certificate verifies to
#    the lab root, 400 for a CSR whose signature does not verify;
#  - estbench -c 4 directly: no error, more than half of K/S, never more
#    than K in service, no 504;
#  - estbench -c 64 directly: it collapses: goodput under a quarter of the
#    -c 4 rate, 504s, a backlog of work owed for requests already given up
#    on (more than there were clients) that it then does, and still never
#    more than K in service;
#  - /set?k=8 doubles the capacity at run time: -c 8 gets 1.5 times the
#    K=4 rate.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "${ESTBENCH:-}" ] ||
    skip "no estbench binary (built with ESTRAD_TOOLS=OFF?)"
K=4 S=100

# bench NAME ARGS...: estbench straight at weak_ca as the RA; sets RATE
# (enrollments a second) and ERRORS from its last line.
bench() {
	local name=$1 last
	shift
	timeout 30 "$ESTBENCH" --cafile "$TRUST" --cert "$RA_CERT" \
	    --key "$RA_KEY" "$@" "$WCA_URL" >"$WORK/$name.out" 2>"$WORK/$name.err"
	last=$(tail -n 1 "$WORK/$name.out")
	[[ $last =~ ^rate=([0-9.]+)\ .*errors=([0-9]+)( |$) ]] ||
	    fail "estbench $*: no result line: $(tail -n 5 "$WORK/$name.out" "$WORK/$name.err")"
	RATE=${BASH_REMATCH[1]} ERRORS=${BASH_REMATCH[2]}
	note "$name (-c ... $*): $last; $(weak_ca_ctl /stats)"
}

# check EXPR WHAT: fail with WHAT unless the awk expression EXPR holds.
check() {
	awk "BEGIN { exit !($1) }" || fail "$2"
}

start_weak_ca --workers "$K" --service-ms "$S" --timeout-ms 500

req cacerts GET "$WCA_URL/cacerts"
check_status 200
[ "$(p7_certs "$BODY" "$WORK/cacerts.pem")" = 1 ] || fail "cacerts: not one certificate"
make_csr dev /CN=weak-ca-device
enroll_ok enroll "$WCA_URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT" \
    --cert "$RA_CERT" --key "$RA_KEY"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
# The same CSR with one bit of its signature flipped.
python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[-3] ^= 1; open(sys.argv[2], "wb").write(d)' \
    "$WORK/dev.der" "$WORK/bad.der"
base64 -w0 "$WORK/bad.der" >"$WORK/bad.b64"
post_csr bad "$WCA_URL/simpleenroll" "$WORK/bad.b64" --cert "$RA_CERT" --key "$RA_KEY"
check_status 400
check_body "the CSR's self-signature does not verify"

weak_ca_ctl /reset >/dev/null
bench c4 -c 4 -t 4
[ "$ERRORS" = 0 ] || fail "-c 4 (K=$K): $ERRORS errors: $(grep '^errors:' "$WORK/c4.out")"
RATE4=$RATE
check "$RATE4 > 0.5 * $K * 1000 / $S" "-c 4: $RATE4/s, not over half of K/S = $((K * 1000 / S))/s"
[ "$(weak_ca_stat in_service_max)" -le "$K" ] || fail "-c 4: more than K=$K in service"
[ "$(weak_ca_stat timeouts)" = 0 ] || fail "-c 4: $(weak_ca_stat timeouts) timeouts"

weak_ca_ctl /reset >/dev/null
bench c64 -c 64 -t 5
check "$RATE < 0.25 * $RATE4" "-c 64 did not collapse: $RATE/s against $RATE4/s at -c 4"
[ "$(weak_ca_stat timeouts)" -gt 0 ] || fail "-c 64: no 504"
# The storm is over, the work is not: the application still owes more
# requests than there were clients, all of them already answered 504 (a
# CA that skipped those would owe at most one a client).
owed=$(weak_ca_stat in_system)
[ "$owed" -gt 64 ] || fail "-c 64: only $owed requests owed after the storm"
weak_ca_drain 25	# all the work owed for the 504s is done
[ "$(weak_ca_stat wasted)" -gt 0 ] || fail "-c 64: no wasted work"
[ "$(weak_ca_stat in_service_max)" -le "$K" ] || fail "-c 64: more than K=$K in service"

weak_ca_ctl '/set?k=8' >/dev/null
[ "$(weak_ca_stat k)" = 8 ] || fail "/set?k=8 did not set K"
weak_ca_ctl /reset >/dev/null
bench c8 -c 8 -t 3
[ "$ERRORS" = 0 ] || fail "-c 8 (K=8): $ERRORS errors"
check "$RATE > 1.5 * $RATE4" "K=8, -c 8: $RATE/s, not 1.5 times $RATE4/s (K=4)"
[ "$(weak_ca_stat in_service_max)" -gt "$K" ] || fail "K=8: never more than $K in service"
check_alive "$WCA_PID" weak_ca
pass
