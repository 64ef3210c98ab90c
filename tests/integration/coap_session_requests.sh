#!/usr/bin/env bash
# One DTLS session may not hold an unbounded number of requests waiting
# for est.c: a client that ignores NSTART (RFC 7252 §4.7) and sends 20
# GET /crts at once, each with its own token, to a CA that never answers,
# gets at most 4 of them waiting (docs/coap.md); the rest are answered
# 5.03 with Max-Age at once. The requests are raw CoAP messages written by
# openssl s_client -dtls1_2 (one DTLS record each); how many wait is read
# from the "N requests in flight" of the SIGTERM line.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=8 coap_proxy sreq
python3 - "$WORK/feed.py" <<'PY'
import sys
open(sys.argv[1], "w").write(r'''
import os, sys, time
time.sleep(1.5)
for i in range(20):
    msg = bytes([0x42, 0x01, 0x10, i, 0x7a, i]) + b"\xbb.well-known" + \
        b"\x03est" + b"\x04crts"
    os.write(1, msg)
    time.sleep(0.05)
time.sleep(6)
''')
PY
python3 "$WORK/feed.py" | openssl s_client -dtls1_2 -quiet \
    -connect "127.0.0.1:$CPORT" -CAfile "$TRUST" >"$WORK/sc.out" 2>&1 &
T_PIDS+=("$!")
sleep 3
kill -TERM "$XPID"
wait_grep 3 "$XLOG" "signal 15: stopping" || fail "no SIGTERM line"
n=$(sed -n 's/.*signal 15: stopping; \([0-9]*\) request.*/\1/p' "$XLOG")
[ "${n:-99}" -le 4 ] ||
	fail "$n requests of one DTLS session wait at once (at most 4)"
[ "$(grep -c 'status=503 coap=5.03' "$XLOG")" -ge 16 ] ||
	fail "the requests past 4 were not answered 5.03: $(grep ' access ' "$XLOG" | tail -n 2)"
pass
