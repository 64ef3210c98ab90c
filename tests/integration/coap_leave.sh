#!/usr/bin/env bash
# A CoAP client whose DTLS session ends while its enrollment is at the CA
# (a CA that never answers; upstream timeout 3 s): coap-client gives up
# after 1 s and closes its session (close_notify). estrad handles it as an
# HTTPS client that hangs up (est_leave.c): logged "the CoAP client's DTLS
# session ended before the answer", the enrollment is seen through for the
# record ("its answer goes to the audit log"), and when the CA times out
# the access line says 499 with transport=coaps; nothing is sent to the
# gone session and the daemon goes on serving (/crts through the lab CA).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
	fail "coap-client-openssl is needed (tools/install-deps: libcoap3-bin)"

start_silent
P_URL=$SILENT_URL P_TIMEOUT=3 P_LABELS='"lab": { "upstream": "lab" }' \
    coap_proxy leave
make_csr dev "/CN=coap-leave"	# $WORK/dev.der
timeout 10 coap-client-openssl -B 1 -m post -t 286 -f "$WORK/dev.der" \
    -c "$CLIENT_CERT" -j "$CLIENT_KEY" -R "$TRUST" "$COAPS/sen" \
    >"$WORK/client.out" 2>&1
grep -q '2\.04' "$WORK/client.out" && fail "an answer from a CA that never answers"
wait_grep 3 "$XLOG" "the CoAP client's DTLS session ended before the answer" ||
	fail "the session's end was not noticed: $(tail -n 3 "$XLOG")"
grep -q "the client left while the CA has its simpleenroll" "$XLOG" ||
	fail "the enrollment was not kept for the record"
wait_grep 6 "$XLOG" " transport=coaps method=POST path=/.well-known/est/sen .* status=499 " ||
	fail "no 499 access line after the CA's timeout: $(grep ' access ' "$XLOG" | tail -n 2)"
# The daemon serves on.
timeout 10 coap-client-openssl -B 5 -m get -R "$TRUST" -o "$WORK/crts.der" \
    "$COAPS/lab/crts" >"$WORK/crts.out" 2>&1
openssl pkcs7 -inform DER -in "$WORK/crts.der" -noout 2>/dev/null ||
	fail "/crts after the client left: $(cat "$WORK/crts.out")"
pass
