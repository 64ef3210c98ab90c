#!/usr/bin/env bash
# RFC 8951 §3.2: base64 with or without line breaks, any line length, CRLF,
# and PEM armour around the CSR all enroll.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=b64-device"
der=$WORK/dev.der
crlf() { sed 's/$/\r/'; }

base64 -w0 "$der" >"$WORK/oneline"
base64 -w76 "$der" >"$WORK/w76"
base64 -w64 "$der" >"$WORK/w64"
base64 -w76 "$der" | crlf >"$WORK/w76crlf"
base64 -w64 "$der" | crlf >"$WORK/w64crlf"
base64 -w16 "$der" | sed 's/^/  /; s/$/\t/' >"$WORK/whitespace"
cp "$WORK/dev.pem" "$WORK/pem"
crlf <"$WORK/dev.pem" >"$WORK/pemcrlf"

# The fixtures really are what their names say.
[ "$(wc -l <"$WORK/oneline")" = 0 ] || fail "oneline fixture has line breaks"
[ "$(awk 'NR==1 { print length($0) }' "$WORK/w64")" = 64 ] || fail "w64 fixture"
grep -q $'\r$' "$WORK/w76crlf" || fail "w76crlf fixture has no CR"
grep -q -- '-----BEGIN CERTIFICATE REQUEST-----' "$WORK/pem" || fail "pem fixture"

for f in oneline w76 w64 w76crlf w64crlf whitespace pem pemcrlf; do
	enroll_ok "$f" "$EST_URL/simpleenroll" "$WORK/$f" dev "$ISSUING_CERT"
done
pass
