#!/usr/bin/env bash
# A CoAP client that leaves while its enrollment waits at the CA must not
# keep its session slot: libcoap's async (the separate response waiting for
# est.c) holds a reference to the session, so unless estrad frees it when
# the session ends, libcoap never deletes the session and it counts against
# max_sessions_per_address for ever. With max_sessions_per_address 1 and
# idle_timeout 2: after the client left and the CA timed out (499), the
# same address gets /crts again. Then SIGTERM twice ("stopping now") with
# a request waiting at the CA and its session alive: coaps_free ends the
# session with its async; estrad stops cleanly (no sanitizer report).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
	fail "coap-client-openssl is needed (tools/install-deps: libcoap3-bin)"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=2 P_LABELS='"lab": { "upstream": "lab" }' \
    coap_proxy slot \
    '"max_sessions_per_address": 1, "idle_timeout": 2'
make_csr dev "/CN=coap-slot"	# $WORK/dev.der
timeout 10 coap-client-openssl -B 1 -m post -t 286 -f "$WORK/dev.der" \
    -c "$CLIENT_CERT" -j "$CLIENT_KEY" -R "$TRUST" "$COAPS/sen" \
    >"$WORK/client.out" 2>&1
wait_grep 3 "$XLOG" "the CoAP client's DTLS session ended before the answer" ||
	fail "the session's end was not noticed: $(tail -n 3 "$XLOG")"
wait_grep 6 "$XLOG" " transport=coaps method=POST path=/.well-known/est/sen .* status=499 " ||
	fail "no 499 access line after the CA's timeout"
# The left session's slot is free again (idle_timeout 2 and the sweep).
sleep 3
timeout 10 coap-client-openssl -B 5 -m get -R "$TRUST" -o "$WORK/crts.der" \
    "$COAPS/lab/crts" >"$WORK/crts.out" 2>&1
openssl pkcs7 -inform DER -in "$WORK/crts.der" -noout 2>/dev/null ||
	fail "the left session still holds 127.0.0.1's only slot: $(grep refused "$XLOG" | tail -n 1)"

# SIGTERM twice while a request waits at the CA, its session alive.
timeout 10 coap-client-openssl -B 8 -m post -t 286 -f "$WORK/dev.der" \
    -c "$CLIENT_CERT" -j "$CLIENT_KEY" -R "$TRUST" "$COAPS/sen" \
    >"$WORK/client2.out" 2>&1 &
T_PIDS+=("$!")
sleep 1
kill -TERM "$XPID"
sleep 0.3
kill -TERM "$XPID"
for _ in $(seq 50); do
	kill -0 "$XPID" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$XPID" 2>/dev/null && fail "estrad did not stop after SIGTERM"
wait "$XPID" 2>/dev/null
rc=$?
grep -q "ERROR: AddressSanitizer\|runtime error" "$XLOG" "$XLOG".* 2>/dev/null &&
	fail "sanitizer report at shutdown: $(grep -A3 AddressSanitizer "$XLOG" | head -n 8)"
[ "$rc" -eq 0 ] || fail "estrad exited $rc after SIGTERM: $(tail -n 5 "$XLOG")"
pass
