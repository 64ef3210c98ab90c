#!/usr/bin/env bash
# EST over CoAP (RFC 9148): what is refused, with Debian's
# coap-client-openssl against a proxy with a "coap" section (client_ca the
# lab's CAs, client_crl the lab's CRLs; the default route's auth and
# built-in policy):
#  - /sen without a client certificate: 4.01 with a diagnostic payload
#    (CoAP has no Digest: only the DTLS client certificate authenticates);
#  - a certificate from a CA the proxy does not trust, and the lab's
#    revoked certificate: the DTLS handshake fails (no CoAP answer) or
#    4.01; nothing reaches the CA;
#  - a CSR the policy refuses (RSA 1024 bits): 4.03 whose diagnostic names
#    the rule (key.rsa_min_bits, as the HTTPS 403's reason), nothing sent
#    to the CA, and the access line says transport=coaps, status=403 (the
#    EST status, as on HTTPS; the CoAP code is in the metrics) and
#    upstream=-;
#  - a payload that is not a CSR: 4.00; another Content-Format (text/plain,
#    0): 4.15; Accept text/plain: 4.06;
#  - and the proxy still serves /crts afterwards;
#  - the admin listener's /metrics counts it: estrad_coap_requests_total by
#    op and code, estrad_coap_handshakes_total{result="failed"} for the
#    handshakes refused.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' coap_proxy proxy
plog=$XLOG
admin_port "$plog"
CERT=(-c "$CLIENT_CERT" -j "$CLIENT_KEY")
T_CA_SETTLE=0
before=$(ca_access_lines)
make_csr dev "/CN=coap-refused"

# ---- no certificate
coap nocert "$COAPS/sen" -m post -t 286 -f "$WORK/dev.der"
check_code 4.01
[ -n "$DIAG" ] || fail "4.01 without a diagnostic payload"

# ---- a certificate from a CA nobody here trusts
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/rogue-ca.key" -out "$WORK/rogue-ca.pem" -subj /CN=rogue-ca \
    -days 2 2>/dev/null || fail "rogue CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/rogue.key" -out "$WORK/rogue.csr" -subj /CN=lab-client 2>/dev/null ||
    fail "rogue CSR"
openssl x509 -req -in "$WORK/rogue.csr" -CA "$WORK/rogue-ca.pem" -CAkey "$WORK/rogue-ca.key" \
    -CAcreateserial -out "$WORK/rogue.pem" -days 2 2>/dev/null || fail "rogue certificate"
failed=0 n401=1
for who in rogue revoked; do
	case $who in
	rogue) args=(-c "$WORK/rogue.pem" -j "$WORK/rogue.key") ;;
	revoked) args=(-c "$REVOKED_CERT" -j "$REVOKED_KEY") ;;
	esac
	coap_post "$who" "$COAPS/sen" "$WORK/dev.der" "${args[@]}"
	case $CODE in
	none)
		grep -qi 'alert\|handshake\|verify' "$WORK/$who.out" ||
		    fail "$who: no answer and no DTLS alert: $(tail -n 3 "$WORK/$who.out")" ;;
	4.01) ;;
	*) fail "$who certificate: CoAP $CODE, expected a failed handshake or 4.01" ;;
	esac
	note "$who certificate: ${CODE/none/DTLS handshake failed}"
	[ "$CODE" = none ] && failed=$((failed + 1)) || n401=$((n401 + 1))
done

# ---- the policy refuses (the built-in default: RSA at least 2048 bits)
make_csr_key rsa1k rsa:1024 "/CN=coap-small-rsa"
coap_post rsa1k "$COAPS/sen" "$WORK/rsa1k.der" "${CERT[@]}"
coap_diag 4.03 "key.rsa_min_bits"
line=$(grep ' access .*transport=coaps' "$plog" | grep ' op=simpleenroll ' | tail -n 1)
case " $line " in
*" status=403 coap=4.03 upstream=- "*) ;;
*) fail "the access line of the refusal: $line" ;;
esac

# ---- bad payloads
head -c 300 /dev/urandom >"$WORK/junk.der"
coap_post junk "$COAPS/sen" "$WORK/junk.der" "${CERT[@]}"
check_code 4.00
coap text "$COAPS/sen" -m post -t 0 -f "$WORK/dev.der" "${CERT[@]}"
check_code 4.15
coap_post accept_text "$COAPS/sen" "$WORK/dev.der" -A 0 "${CERT[@]}"
check_code 4.06

check_ca_unchanged "$before" "a refused CoAP request"
coap crts "$COAPS/crts"
check_code 2.05
check_alive "$XPID" "the proxy"

# ---- the metrics
scrape metrics
check_metric 'estrad_coap_requests_total{op="simpleenroll",code="4.01"}' "$n401"
for c in 4.03 4.00 4.15 4.06; do
	check_metric "estrad_coap_requests_total{op=\"simpleenroll\",code=\"$c\"}" 1
done
check_metric 'estrad_coap_requests_total{op="cacerts",code="2.05"}' 1
check_metric 'estrad_coap_handshakes_total{result="failed"}' "$failed"
pass
