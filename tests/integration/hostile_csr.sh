#!/usr/bin/env bash
# CSRs that got through, or cost the event loop too much (issue 14), on the
# default route and its built-in policy; each refusal is text/plain with
# exactly the reason below, an access line with upstream=-, an audit record
# with the rule, and nothing at the upstream CA:
#  - a P-256 key with explicit curve parameters (ec_param_enc:explicit):
#    OpenSSL names its group, but the SubjectPublicKeyInfo carries the
#    parameters (RFC 5480 §2.1.1): 403 key.ec_curve;
#  - a CSR with a 10,000-bit DSA key (tests/data/dsa10000-csr.b64, which
#    OpenSSL verifies in ~18 ms): 400 "CSR key: ..." from the parse; the
#    same CSR with its signature broken gets the same answer, so nothing
#    verified it;
#  - an RSA-1024 CSR with its signature broken: 403 key.rsa_min_bits (the
#    policy runs before the signature is verified; it was 400 "CSR
#    signature does not verify");
#  - SANs with a NUL, a control or a non-ASCII byte in a dNSName, a control
#    in an rfc822Name, a space in a URI (RFC 5280 §4.2.1.6): 403 san.dns,
#    san.email, san.uri; the audit record shows the bytes as \xNN.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

T_CA_SETTLE=0
batch=$(ca_access_lines)
[ -n "${AUDIT_LOG:-}" ] || fail "lab.env has no AUDIT_LOG (an old lab?)"

# flip NAME: $WORK/NAME.flipped.b64, NAME's DER with its last byte (inside
# the signature BIT STRING) changed; it must still parse.
flip() {
	local der=$WORK/$1.der size last
	size=$(stat -c %s "$der")
	last=$(tail -c 1 "$der" | od -An -tu1 | tr -d ' ')
	{ head -c $((size - 1)) "$der"; printf "\\$(printf %03o $((last ^ 0x01)))"; } \
	    >"$WORK/$1.flipped.der"
	openssl req -inform DER -in "$WORK/$1.flipped.der" -noout 2>/dev/null ||
	    fail "$1 with a flipped byte no longer parses"
	base64 -w0 "$WORK/$1.flipped.der" >"$WORK/$1.flipped.b64"
}

# refused_audited NAME FILE STATUS BODY RULE: refused (lib.sh) on the
# default route, and its audit record says RULE.
refused_audited() {
	refused "$1" "" "$2" "$3" "$4"
	check_audit_line "$(header X-Request-Id)" refused "$5" "$3"
}

# ---- A. explicit EC parameters
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:explicit -out "$WORK/explicit.key" 2>/dev/null ||
    fail "genpkey with explicit parameters"
openssl req -new -key "$WORK/explicit.key" -subj /CN=explicit-ec -config /dev/null \
    -sha256 -outform DER -out "$WORK/explicit.der" || fail "req explicit"
openssl asn1parse -inform DER -in "$WORK/explicit.der" | grep -q 'prime-field' ||
    fail "the CSR does not carry explicit parameters"
base64 -w0 "$WORK/explicit.der" >"$WORK/explicit.b64"
refused_audited explicit "$WORK/explicit.b64" 403 \
    "policy key.ec_curve: the EC key does not name its curve: explicit or implicit parameters are not allowed (RFC 5480, section 2.1.1)" \
    key.ec_curve

# ---- B. keys checked before the signature is
DSA_CSR=${TEST_DATA:?}/dsa10000-csr.b64
[ -f "$DSA_CSR" ] || fail "no $DSA_CSR"
base64 -d "$DSA_CSR" >"$WORK/dsa.der" || fail "$DSA_CSR is not base64"
openssl req -inform DER -in "$WORK/dsa.der" -noout -text | grep -q 'dsaEncryption' ||
    fail "$DSA_CSR is not a DSA request"
openssl req -inform DER -in "$WORK/dsa.der" -noout -verify 2>&1 | grep -q 'verify OK' ||
    fail "$DSA_CSR does not verify (a real, self-signed CSR is wanted)"
cp "$DSA_CSR" "$WORK/dsa.b64"
dsa_why="CSR key: only RSA, EC, Ed25519 and Ed448 keys are accepted"
refused dsa "" "$WORK/dsa.b64" 400 "$dsa_why"
flip dsa
refused dsa_flipped "" "$WORK/dsa.flipped.b64" 400 "$dsa_why"

make_csr_key rsa1k rsa:1024 /CN=small-rsa
flip rsa1k
refused_audited rsa1k_flipped "$WORK/rsa1k.flipped.b64" 403 \
    "policy key.rsa_min_bits: RSA 1024 bits, the minimum is 2048" key.rsa_min_bits

# ---- C. SAN bytes an IA5String name cannot carry
# san_csr NAME TYPE HEX: a P-256 CSR whose one SAN of TYPE (dns, email,
# uri) holds the bytes HEX, given as DER (openssl's v3 strings stop at a
# NUL).
san_csr() {
	local der
	der=$(python3 -c '
import sys
v = bytes.fromhex(sys.argv[2])
gn = bytes([{"dns": 0x82, "email": 0x81, "uri": 0x86}[sys.argv[1]], len(v)]) + v
print((bytes([0x30, len(gn)]) + gn).hex())' "$2" "$3") || fail "san_csr $1"
	make_csr_key "$1" ec:P-256 "/CN=$1" -addext "subjectAltName=DER:$der"
}

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# san_refused NAME TYPE HEX BODY RULE [SANS]: san_csr, refused with BODY
# and RULE; the audit record's sans are SANS (JSON) when given.
san_refused() {
	local got
	san_csr "$1" "$2" "$3"
	refused_audited "$1" "$WORK/$1.b64" 403 "$4" "$5"
	[ -n "${6:-}" ] || return 0
	got=$(audit_field "$(header X-Request-Id)" sans)
	[ "$got" = "$6" ] || fail "$1: the audit record's sans are $got, not $6"
}

san_refused dns_nul dns "$(hex a.lab.example)00$(hex .evil.com)" \
    'policy san.dns: "a.lab.example\x00.evil.com" is not a host name' san.dns \
    '["DNS:a.lab.example\\x00.evil.com"]'
san_refused dns_ctl dns "$(hex a)1b$(hex '[31m.example')" \
    'policy san.dns: "a\x1b[31m.example" is not a host name' san.dns
san_refused dns_utf8 dns "$(hex caf)c3a9$(hex .example)" \
    'policy san.dns: "caf\xc3\xa9.example" is not a host name' san.dns \
    '["DNS:caf\\xc3\\xa9.example"]'
san_refused mail_ctl email "$(hex a)0a$(hex b@example.com)" \
    'policy san.email: "a\x0ab@example.com" has byte 0x0a at offset 1: not allowed in this name (RFC 5280, section 4.2.1.6)' \
    san.email '["email:a\\x0ab@example.com"]'
san_refused uri_space uri "$(hex 'urn:dev:4 2')" \
    'policy san.uri: "urn:dev:4\x202" has byte 0x20 at offset 9: not allowed in this name (RFC 5280, section 4.2.1.6)' \
    san.uri

T_CA_SETTLE=0.2 check_ca_unchanged "$batch" "one of the refused CSRs"

# ---- the same names, well formed, still go through.
make_csr fine /CN=fine-device "DNS:a.lab.example,email:a@example.com,URI:urn:dev:42"
enroll_ok fine "$EST_URL/simpleenroll" "$WORK/fine.b64" fine "$ISSUING_CERT"
check_proxy_healthy
pass
