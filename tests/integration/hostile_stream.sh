#!/usr/bin/env bash
# A CA that misbehaves mid-answer (issue 8), as tests/tools/drip_ca.py (TLS
# with the lab CA's certificate, the RA's client certificate required), in
# front of a proxy of this case's own with a 2 s upstream timeout:
#  - a 200 whose body comes one byte every half second: 504 "upstream CA
#    timed out" after about 2 s (not the 2000 bytes' 1000 s), logged;
#  - a 200 that promises 2000 bytes, sends 300 and resets the connection:
#    502 "upstream CA answer truncated" (or "connection broke", as the RST
#    falls), logged;
#  - a 200 without a length whose body never ends: cut off at the
#    upstream's max_response_bytes (64 KiB here), 502 "upstream CA answer
#    too large", logged, the CA sees the proxy leave;
#  - the proxy is healthy after each.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "no python3 (tools/install-deps)"
make_csr dev "/CN=stream-device"

# start_drip MODE: the hostile CA in MODE; sets DRIP_URL.
start_drip() {
	start_drip_ca "$1" "$1"
}

# ---- byte by byte
start_drip drip
P_URL=$DRIP_URL P_TIMEOUT=2 proxy_config "$WORK/drip.json"
start_estrad dripproxy "$WORK/drip.json"
t0=$(now_ms)
post_csr slow "$XURL/simpleenroll" "$WORK/dev.b64"
took=$(($(now_ms) - t0))
check_error 504 "upstream CA timed out"
[ "$took" -ge 1500 ] && [ "$took" -le 8000 ] ||
    fail "the slow CA's 504 came after $took ms, expected about 2000"
grep -q '^request$' "$WORK/drip.ca" || fail "the slow CA got no request"
grep -q 'upstream CA timed out' "$XLOG" || fail "no 'upstream CA timed out' in the proxy log"
check_alive "$XPID" "the proxy in front of the slow CA"
note "byte by byte: 504 after $took ms"

# ---- reset mid-answer
start_drip reset
P_URL=$DRIP_URL P_TIMEOUT=10 proxy_config "$WORK/reset.json"
start_estrad resetproxy "$WORK/reset.json"
post_csr reset "$XURL/simpleenroll" "$WORK/dev.b64"
check_error 502
# curl reports the reset as a truncated answer or as a broken connection,
# depending on when the RST arrives: either is the truth.
grep -Eq 'upstream CA (answer truncated|connection broke)' "$BODY" ||
    fail "reset: reason '$(cat "$BODY")'"
grep -q '^reset$' "$WORK/reset.ca" || fail "the CA did not reset: $(cat "$WORK/reset.ca")"
grep -Eq 'upstream CA (answer truncated|connection broke)' "$XLOG" ||
    fail "no 'answer truncated' or 'connection broke' in the proxy log"
check_alive "$XPID" "the proxy in front of the resetting CA"
note "reset mid-answer: $(cat "$BODY")"

# ---- a body without end
start_drip flood
P_URL=$DRIP_URL P_TIMEOUT=20 P_UPSTREAM_EXTRA='"max_response_bytes": 65536' \
    proxy_config "$WORK/flood.json"
start_estrad floodproxy "$WORK/flood.json"
t0=$(now_ms)
post_csr flood "$XURL/simpleenroll" "$WORK/dev.b64"
took=$(($(now_ms) - t0))
check_error 502 "upstream CA answer too large"
[ "$took" -le 5000 ] || fail "the endless answer was cut after $took ms"
grep -q 'upstream CA answer too large' "$XLOG" || fail "no 'answer too large' in the proxy log"
wait_grep 5 "$WORK/flood.ca" '^client left after' ||
    fail "the flooding CA did not see the proxy leave: $(cat "$WORK/flood.ca")"
sent=$(sed -n 's/^client left after //p' "$WORK/flood.ca")
[ "$sent" -le $((32 * 1024 * 1024)) ] || fail "the proxy took $sent bytes before leaving"
check_alive "$XPID" "the proxy in front of the flooding CA"
note "endless answer: 502 after $took ms, the CA sent $sent bytes"
pass
