#!/usr/bin/env bash
# csrattrs from the policy and from the backend (RFC 7030 §4.5, RFC 8951):
#  - GET /strict/csrattrs ("csrattrs": "policy"; binding required, EC P-256
#    only, SHA-256 only): 200 application/csrattrs, Content-Length, base64
#    DER that openssl asn1parse reads as exactly: challengePassword, the
#    attribute id-ecPublicKey with the curve prime256v1, ecdsa-with-SHA256;
#    the upstream CA is not asked;
#  - GET /strictrelay/csrattrs (the same policy, "csrattrs": "backend"): the
#    upstream's own answer, byte for byte, which is not the policy's.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# asn1 NAME BODYFILE: openssl asn1parse of the base64 DER body into
# $WORK/NAME.asn1; prints the object names and types, one per line
# ("d=DEPTH TYPE :VALUE").
asn1() {
	tr -d '\r\n' <"$2" | base64 -d >"$WORK/$1.der" 2>/dev/null ||
	    fail "$1: the body is not base64: $(head -c 200 "$2")"
	openssl asn1parse -inform DER -in "$WORK/$1.der" >"$WORK/$1.asn1" 2>&1 ||
	    fail "$1: openssl asn1parse: $(head -c 300 "$WORK/$1.asn1")"
	sed -E 's/^ *[0-9]+:(d=[0-9]+) +hl=[0-9]+ +l= *[0-9]+ (prim|cons): +([A-Z ]*[A-Z]) *(:[^ ]*)? *$/\1 \3 \4/' \
	    "$WORK/$1.asn1" | sed 's/ *$//'
}

# ---- from the policy
before=$(ca_access_lines)
req strict GET "$EST_URL/strict/csrattrs"
check_status 200
check_header Content-Type application/csrattrs
check_framing
got=$(asn1 strict "$BODY")
want='d=0 SEQUENCE
d=1 OBJECT :challengePassword
d=1 SEQUENCE
d=2 OBJECT :id-ecPublicKey
d=2 SET
d=3 OBJECT :prime256v1
d=1 OBJECT :ecdsa-with-SHA256'
[ "$got" = "$want" ] ||
    fail "/strict/csrattrs decodes as:$(printf '\n%s' "$got")$(printf '\nexpected:\n%s' "$want")$(printf '\n%s' "$(cat "$WORK/strict.asn1")")"
check_access "label=strict op=csrattrs auth=- user=- status=200 upstream=-"
check_ca_unchanged "$before" "the policy's csrattrs"

# ---- relayed from the backend
req relay GET "$EST_URL/strictrelay/csrattrs"
check_status 200
check_header Content-Type application/csrattrs
req upstream GET "$CA_URL/csrattrs"
check_status 200
cmp -s "$WORK/relay.body" "$WORK/upstream.body" ||
    fail "/strictrelay/csrattrs is not the upstream's: $(head -c 100 "$WORK/relay.body") vs $(head -c 100 "$WORK/upstream.body")"
cmp -s "$WORK/relay.body" "$WORK/strict.body" &&
    fail "the backend's csrattrs is the policy's: the test shows nothing"
asn1 relay "$WORK/relay.body" | grep -q challengePassword &&
    fail "the upstream's csrattrs asks for challengePassword"
req relay2 GET "$EST_URL/strictrelay/csrattrs"
check_access "label=strictrelay op=csrattrs auth=- user=- status=200 upstream=200"
pass
