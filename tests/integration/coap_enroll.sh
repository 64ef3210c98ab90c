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
#  - /skg (server-side key generation, RFC 9148 §4.8), to a recording CA
#    that answers RFC 7030's multipart/mixed: 2.04, Content-Format 62, the
#    multipart-core array [284, the key's PKCS#8, 281, the PKCS#7], each
#    the CA's bytes decoded from base64, byte for byte.
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

# ---- Accept 287: the certificate alone
make_csr dev2 "/CN=coap-device-2"
coap_post sen287 "$COAPS/sen" "$WORK/dev2.der" -A 287 "${CERT[@]}"
check_code 2.04
check_option "Content-Format:287"
openssl x509 -inform DER -in "$BODY" -out "$WORK/sen287.pem" 2>/dev/null ||
    fail "Accept 287: the payload is not one DER certificate"
same_key "$WORK/sen287.pem" "$WORK/dev2.key"

# ---- skg: a CA's RFC 7030 §4.4.2 answer (multipart/mixed: the key as
# application/pkcs8, the certificate as certs-only PKCS#7, both base64;
# the lab's CAs make no keys, so a recording CA gives it) becomes
# multipart-core (RFC 8710: a CBOR array of content-format, bytes pairs)
# with the same DER bytes.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/gen.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$WORK/gen.key" -outform DER -out "$WORK/gen.p8" ||
    fail "pkcs8"
openssl req -x509 -key "$WORK/gen.key" -subj /CN=coap-skg-device -days 2 -out "$WORK/gen.pem" ||
    fail "the generated key's certificate"
openssl crl2pkcs7 -nocrl -certfile "$WORK/gen.pem" -outform DER -out "$WORK/gen.p7" ||
    fail "crl2pkcs7"
{
	printf -- '--estrad-skg\r\nContent-Type: application/pkcs8\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n%s\r\n' "$(base64 -w0 "$WORK/gen.p8")"
	printf -- '--estrad-skg\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n%s\r\n' "$(base64 -w0 "$WORK/gen.p7")"
	printf -- '--estrad-skg--\r\n'
} >"$WORK/skg.multipart"
http_answer "$WORK/skg.answer" "200 OK" "$WORK/skg.multipart" \
    'Content-Type: multipart/mixed; boundary=estrad-skg'
make_csr skg "/CN=coap-skg-device"
start_recorder skgca "$WORK/skg.answer" "$(base64 -w 64 "$WORK/skg.der" | tail -n 1)"
P_URL=$REC_URL coap_proxy skgproxy
coap_post skg "$COAPS/skg" "$WORK/skg.der" "${CERT[@]}"
touch "$WORK/skgca.done"
check_code 2.04
check_option "Content-Format:62"
python3 - "$BODY" "$WORK/skg" 2>"$WORK/skg.py.err" <<'PY' ||
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
cts = []
for _ in range(2):
    mt, ct = head(); assert mt == 0, "content-format not a uint"
    mt, ln = head(); assert mt == 2, "representation not a bstr"
    open("%s.%d" % (sys.argv[2], ct), "wb").write(b[pos:pos + ln]); pos += ln
    cts.append(ct)
assert pos == len(b), "trailing bytes"
assert cts == [284, 281], "content-formats %s, expected [284, 281]" % cts
PY
    fail "/skg: not multipart-core [284, key, 281, PKCS#7]: $(cat "$WORK/skg.py.err")"
cmp -s "$WORK/skg.284" "$WORK/gen.p8" || fail "/skg: the key is not the CA's PKCS#8, byte for byte"
cmp -s "$WORK/skg.281" "$WORK/gen.p7" || fail "/skg: the PKCS#7 is not the CA's, byte for byte"
grep -q "POST /.well-known/est/serverkeygen " "$REC_FILE" ||
    fail "the CA was not asked for serverkeygen: $(head -n 1 "$REC_FILE")"
check_alive "$XPID" "the proxy"
pass
