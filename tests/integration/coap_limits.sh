#!/usr/bin/env bash
# The DTLS listener's session limits (docs/coap.md), on a proxy of this
# case's own (coap.handshake_timeout 1, max_sessions_per_address 1,
# idle_timeout 2):
#  - a handshake that stalls after the cookie exchange (a relay passes the
#    client's first two datagrams, then nothing: the server's flight is
#    never answered) is dropped after ~1 s: "no DTLS session after 1000
#    ms: dropped", estrad_coap_handshakes_total{result="timeout"} 1;
#  - with one session held from 127.0.0.1 (openssl s_client -dtls1_2), a
#    second handshake from 127.0.0.1 is refused with an alert (coap-client
#    gets no answer), logged "refused" and counted, while 127.0.0.2 still
#    gets /crts;
#  - the held session, left idle, is closed after idle_timeout, and
#    127.0.0.1 gets /crts again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
	fail "coap-client-openssl is needed (tools/install-deps: libcoap3-bin)"

P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' coap_proxy coap \
    '"handshake_timeout": 1, "max_sessions_per_address": 1, "idle_timeout": 2'
admin_port "$XLOG"

# crts FROM OUT: GET /crts from local address FROM; 0 if a DER PKCS#7 came.
crts() {
	rm -f "$2"
	timeout 15 coap-client-openssl -a "$1" -B 5 -m get -R "$TRUST" -o "$2" \
	    "coaps://127.0.0.1:$CPORT/.well-known/est/crts" >"$2.err" 2>&1
	[ -s "$2" ] && openssl pkcs7 -inform DER -in "$2" -noout 2>/dev/null
}

# ---- a handshake that stalls after the cookie exchange.
python3 "$(dirname "$0")/../tools/udp_stall.py" "$CPORT" 2 >"$WORK/relay.out" &
RELAY=$!
T_PIDS+=("$RELAY")
wait_grep 5 "$WORK/relay.out" "port " || fail "the relay did not start"
rport=$(awk '{ print $2 }' "$WORK/relay.out")
sleep 30 2>/dev/null | timeout 8 openssl s_client -dtls1_2 -connect "127.0.0.1:$rport" \
    -CAfile "$TRUST" >"$WORK/stall.out" 2>&1 &
STALL=$!
T_PIDS+=("$STALL")
wait_grep 6 "$XLOG" "no DTLS session after 1000 ms: dropped" ||
	fail "a stalled handshake was not dropped after coap.handshake_timeout"
kill "$STALL" "$RELAY" 2>/dev/null
scrape stall
check_metric 'estrad_coap_handshakes_total{result="timeout"}' 1

# ---- one session per address.
crts 127.0.0.1 "$WORK/first.der" || fail "/crts before any limit: $(cat "$WORK/first.der.err")"
sleep 30 2>/dev/null | openssl s_client -dtls1_2 -connect "127.0.0.1:$CPORT" -CAfile "$TRUST" \
    >"$WORK/held.out" 2>&1 &
HELD=$!
T_PIDS+=("$HELD")
wait_grep 5 "$WORK/held.out" "Verify return code: 0" ||
	fail "openssl s_client -dtls1_2 got no session: $(tail -n 5 "$WORK/held.out")"
crts 127.0.0.1 "$WORK/second.der" &&
	fail "a second session from 127.0.0.1 was let in (max_sessions_per_address 1)"
wait_grep 2 "$XLOG" "refused: .* sessions open" ||
	fail "the refused handshake was not logged"
crts 127.0.0.2 "$WORK/other.der" ||
	fail "127.0.0.2 was refused too: $(cat "$WORK/other.der.err")"
cmp -s "$WORK/first.der" "$WORK/other.der" || fail "two /crts answers differ"
scrape refused
v=$(awk '$1 == "estrad_coap_handshakes_total{result=\"refused\"}" { print $2 }' "$SCRAPE")
[ "${v:-0}" -ge 1 ] || fail "estrad_coap_handshakes_total{result=\"refused\"} is ${v:-absent}"

# ---- the held session, idle, is closed; 127.0.0.1 gets in again. The
# s_client keeps its socket: the server's close is what frees the slot.
sleep 4
crts 127.0.0.1 "$WORK/third.der" ||
	fail "an idle session was not closed after idle_timeout: $(cat "$WORK/third.der.err")"
kill "$HELD" 2>/dev/null
pass
