#!/usr/bin/env bash
# A separate response and Block2 (docs/coap.md, "Block2"), with Debian's
# coap-client-openssl (libcoap 4.3.1) asking for 64-byte blocks (-b 64:
# Block2:0/_/64 in its GET, RFC 7959 §2.4's early negotiation), against a
# proxy without a cache, so /crts goes to the CA and its answer comes after
# libcoap's empty ACK, as a separate CON response:
#  - the answer (the 843-byte DER of cacerts) fits one message, so it goes
#    whole, with no Block2 option: 2.05, Content-Format 281, the DER of the
#    HTTPS cacerts byte for byte. libcoap 4.3.1's client drops a separate
#    response carrying Block2 to a request whose Block2 it set itself
#    ("large body receive internal issue" at -v 7) and waits until it gives
#    up: before the proxy sent such answers whole this case got no answer.
# (A cached /crts comes piggybacked, in 64-byte blocks: coap_resources; a
# separate answer over a message, in blocks of 1024: coap_blocks.)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
coap_proxy proxy
req https_cacerts GET "$XURL/cacerts"
check_status 200
tr -d '\r\n' <"$BODY" | base64 -d >"$WORK/cacerts.der" || fail "cacerts is not base64"
T_COAP_WAIT=5 coap crts "$COAPS/crts" -b 64
check_code 2.05
check_option "Content-Format:281"
grep -qE '^v:1 t:CON c:2\.05 ' "$WORK/crts.out" ||
    fail "the answer was not a separate response: $(grep -m 1 'c:2\.05' "$WORK/crts.out")"
case $OPTS in *Block2*) fail "a separate answer that fits one message came in blocks: [$OPTS]" ;; esac
cmp -s "$BODY" "$WORK/cacerts.der" || fail "/crts differs from cacerts"
pass
