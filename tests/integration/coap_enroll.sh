#!/usr/bin/env bash
# EST over CoAP (RFC 9148): enrollment with a DTLS client certificate, with
# Debian's coap-client-openssl against a proxy with a "coap" section (the
# default route: simpleenroll by Digest or certificate, simplereenroll by
# certificate, the built-in policy):
#  - /sen with the lab client certificate and a DER CSR (Content-Format
#    286): 2.04, Content-Format 281, a DER certs-only PKCS#7 with one
#    certificate for the CSR's key (openssl pkey -pubout of both compared),
#    issued by the issuing CA; its access line says transport=coaps
#    op=simpleenroll auth=cert user=CN=lab-client, and the CA saw one
#    request;
#  - Accept 287 (RFC 9148 §4.3): the certificate alone, DER;
#  - through a label (/.well-known/est/real/sen): issued;
#  - /sren with the certificate just issued (renewal, the same key; then a
#    rekey, a new key, the same subject): issued; a re-enrollment CSR with
#    another subject: 4.03 naming reenroll.same_subject (the route's
#    policy, as over HTTPS);
#  - /skg (server-side key generation, RFC 9148 §4.8): 2.04,
#    Content-Format 62 (multipart-core), a private key (284) and a
#    certificate for it.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
coap_proxy proxy
plog=$XLOG
CERT=(-c "$CLIENT_CERT" -j "$CLIENT_KEY")

# same_key CERT KEY: CERT (PEM) is for the private key KEY (both public
# keys through openssl pkey -pubout, one PEM form for any source).
same_key() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -pubout >"$WORK/a.pub" ||
	    fail "cannot read $1"
	openssl pkey -in "$2" -pubout >"$WORK/b.pub" || fail "cannot read $2"
	cmp -s "$WORK/a.pub" "$WORK/b.pub" || fail "$1 is not for the key $2"
}

# ---- sen
make_csr dev "/CN=coap-device"
before=$(ca_access_lines)
coap_post sen "$COAPS/sen" "$WORK/dev.der" "${CERT[@]}"
coap_issued sen dev "$ISSUING_CERT"
same_key "$WORK/sen.cert.pem" "$WORK/dev.key"
check_ca_gained "$before" 1 "sen"
line=$(grep ' access .*transport=coaps' "$plog" | grep ' op=simpleenroll ' | tail -n 1)
for f in "auth=cert" "user=CN=lab-client"; do
	case " $line " in *" $f "*) ;; *) fail "the access line of /sen lacks $f: $line" ;; esac
done

# ---- Accept 287: the certificate alone
make_csr dev2 "/CN=coap-device-2"
coap_post sen287 "$COAPS/sen" "$WORK/dev2.der" -A 287 "${CERT[@]}"
check_code 2.04
check_option "Content-Format:287"
openssl x509 -inform DER -in "$BODY" -out "$WORK/sen287.pem" 2>/dev/null ||
    fail "Accept 287: the payload is not one DER certificate"
same_key "$WORK/sen287.pem" "$WORK/dev2.key"

# ---- a label
make_csr dev3 "/CN=coap-device-3"
coap_post sen_label "$COAPS/real/sen" "$WORK/dev3.der" "${CERT[@]}"
coap_issued sen_label dev3 "$ISSUING_CERT"

# ---- sren with the certificate from /sen: renewal (same key) and rekey
cat "$WORK/sen.cert.pem" "$ISSUING_CERT" >"$WORK/dev-chain.pem"
NEWCERT=(-c "$WORK/dev-chain.pem" -j "$WORK/dev.key")
coap_post sren "$COAPS/sren" "$WORK/dev.der" "${NEWCERT[@]}"
coap_issued sren dev "$ISSUING_CERT"
line=$(grep ' access .*transport=coaps' "$plog" | grep ' op=simplereenroll ' | tail -n 1)
case " $line " in *" user=CN=coap-device "*) ;; *) fail "the access line of /sren: $line" ;; esac
make_csr rekey "/CN=coap-device"
coap_post sren_rekey "$COAPS/sren" "$WORK/rekey.der" "${NEWCERT[@]}"
coap_issued sren_rekey rekey "$ISSUING_CERT"
make_csr other "/CN=someone-else"
before=$(ca_access_lines)
coap_post sren_other "$COAPS/sren" "$WORK/other.der" "${NEWCERT[@]}"
coap_diag 4.03 "reenroll.same_subject"
check_ca_unchanged "$before" "a re-enrollment for another subject"

# ---- skg: the key and its certificate in multipart-core (CBOR)
make_csr skg "/CN=coap-skg-device"
coap_post skg "$COAPS/skg" "$WORK/skg.der" "${CERT[@]}"
check_code 2.04
check_option "Content-Format:62"
python3 - "$BODY" "$WORK/skg" 2>"$WORK/skg.py.err" <<'PY' || fail "/skg: not multipart-core [284, key, 281, pkcs7]: $(cat "$WORK/skg.py.err" 2>/dev/null)"
import sys
# RFC 8710: a CBOR array of (content-format uint, representation bstr)
# pairs. Only the major types that appear here are read.
b = open(sys.argv[1], "rb").read()
pos = 0
def head():
    global pos
    ib = b[pos]; pos += 1
    mt, ai = ib >> 5, ib & 31
    if ai < 24: return mt, ai
    n = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
    v = int.from_bytes(b[pos:pos + n], "big"); pos += n
    return mt, v
mt, n = head()
assert mt == 4 and n == 4, "not an array of 4"
parts = {}
for _ in range(2):
    mt, ct = head(); assert mt == 0, "content-format not a uint"
    mt, ln = head(); assert mt == 2, "representation not a bstr"
    parts[ct] = b[pos:pos + ln]; pos += ln
assert pos == len(b), "trailing bytes"
assert 284 in parts and (281 in parts or 287 in parts), "types %s" % list(parts)
open(sys.argv[2] + ".key.der", "wb").write(parts[284])
open(sys.argv[2] + ".cert.der", "wb").write(parts.get(281) or parts[287])
open(sys.argv[2] + ".cert.ct", "w").write("281" if 281 in parts else "287")
PY
openssl pkey -inform DER -in "$WORK/skg.key.der" -out "$WORK/skg.gen.key" 2>/dev/null ||
    fail "/skg: the key part is not a DER private key"
if [ "$(cat "$WORK/skg.cert.ct")" = 281 ]; then
	openssl pkcs7 -inform DER -in "$WORK/skg.cert.der" -print_certs -out "$WORK/skg.cert.pem" ||
	    fail "/skg: the certificate part is not a PKCS#7"
else
	openssl x509 -inform DER -in "$WORK/skg.cert.der" -out "$WORK/skg.cert.pem" ||
	    fail "/skg: the certificate part is not a certificate"
fi
same_key "$WORK/skg.cert.pem" "$WORK/skg.gen.key"
check_alive "$XPID" "the proxy"
pass
