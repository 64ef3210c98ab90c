#!/usr/bin/env bash
# EST over CoAP (RFC 9148), the resources that need no client certificate,
# with Debian's coap-client-openssl (libcoap3-bin) against a proxy with a
# "coap" section:
#  - /.well-known/core lists the EST resources with their resource types
#    (rt="ace.est.crts", "ace.est.sen", "ace.est.sren", "ace.est.att",
#    "ace.est.skg"; RFC 9148 §4.1) and ?rt=ace.est.sen filters to /sen;
#  - /crts answers 2.05, Content-Format 281, a DER certs-only PKCS#7 that is
#    byte for byte the base64-decoded body of the HTTPS cacerts; through a
#    label too (/.well-known/est/real/crts);
#  - with 64-byte blocks (-b 64) the same bytes arrive in Block2 blocks
#    (RFC 7959), the answers' headers show Block2 (the proxy has a cache:
#    a cached /crts is answered at once, piggybacked on the ACK, which
#    libcoap 4.3.1 clients need for Block2; see coap_block2_separate);
#  - /att answers 2.05, Content-Format 285, the DER of the HTTPS csrattrs;
#  - an unknown resource is 4.04, a GET of /sen 4.05 (Method Not Allowed);
#  - each EST request writes one access line with transport=coaps (a
#    Block2 sequence one), and the HTTPS lines say transport=https;
#  - the DTLS cookie exchange is on: openssl s_client -dtls1_2 gets a
#    HelloVerifyRequest before the ServerHello (RFC 6347 §4.2.1).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
P_TOP_EXTRA=$(offline_top "$WORK/state" '{}') coap_proxy proxy
plog=$XLOG

# ---- discovery
coap core "coaps://127.0.0.1:$CPORT/.well-known/core"
check_code 2.05
check_option "Content-Format:application/link-format"
for r in crts sen sren att skg; do
	grep -q "</\.well-known/est/$r>[^,]*rt=\"ace\.est\.$r\"" "$BODY" ||
	    fail "/.well-known/core lacks </.well-known/est/$r> with rt=\"ace.est.$r\": $(cat "$BODY")"
done
coap core_sen "coaps://127.0.0.1:$CPORT/.well-known/core?rt=ace.est.sen"
check_code 2.05
grep -q '</\.well-known/est/sen>' "$BODY" || fail "?rt=ace.est.sen: $(cat "$BODY")"
grep -q 'ace\.est\.\(crts\|sren\|att\|skg\)' "$BODY" &&
    fail "?rt=ace.est.sen lists other resources: $(cat "$BODY")"

# ---- crts: the DER of the HTTPS answer, byte for byte
req https_cacerts GET "$XURL/cacerts"
check_status 200
tr -d '\r\n' <"$BODY" | base64 -d >"$WORK/cacerts.der" || fail "cacerts is not base64"
check_access "transport=https" "$plog"
coap crts "$COAPS/crts"
check_code 2.05
check_option "Content-Format:281"
cmp -s "$BODY" "$WORK/cacerts.der" ||
    fail "/crts ($(stat -c %s "$BODY") bytes) is not the DER of cacerts ($(stat -c %s "$WORK/cacerts.der") bytes)"
openssl pkcs7 -inform DER -in "$BODY" -print_certs -noout >/dev/null 2>&1 ||
    fail "/crts is not a DER PKCS#7"
coap crts_label "$COAPS/real/crts"
check_code 2.05
cmp -s "$BODY" "$WORK/cacerts.der" || fail "/real/crts differs from cacerts"

# ---- Block2: small blocks, the same bytes
size=$(stat -c %s "$WORK/cacerts.der")
[ "$size" -gt 128 ] || fail "cacerts is $size bytes: too small to need blocks of 64"
coap crts_blocks "$COAPS/crts" -b 64
check_code 2.05
n=$(grep -cE '^v:1 t:[A-Z]+ c:2\.05 .*Block2:[0-9]+/[M_]/64' "$WORK/crts_blocks.out")
[ "$n" -ge $(((size + 63) / 64)) ] ||
    fail "$size bytes came in $n Block2 answers of 64 bytes: $(grep -E '^v:1 .*c:2' "$WORK/crts_blocks.out" | head -n 3)"
cmp -s "$BODY" "$WORK/cacerts.der" || fail "/crts in 64-byte blocks differs from cacerts"

# ---- att
req https_csrattrs GET "$XURL/csrattrs"
check_status 200
tr -d '\r\n' <"$BODY" | base64 -d >"$WORK/csrattrs.der" || fail "csrattrs is not base64"
coap att "$COAPS/att"
check_code 2.05
check_option "Content-Format:285"
cmp -s "$BODY" "$WORK/csrattrs.der" || fail "/att is not the DER of csrattrs"

# ---- 4.04, 4.05
coap unknown "$COAPS/nothing"
check_code 4.04
coap get_sen "$COAPS/sen"
check_code 4.05

# ---- the access lines: one per request, transport=coaps
# crts, real/crts, crts in blocks (one request: the later blocks are
# served from the session's answer) and att. Discovery, 4.04 and 4.05 are
# libcoap's own answers: estrad never sees them, and logs no line.
n=$(coap_access_lines "$plog")
[ "$n" = 4 ] || fail "$n access lines with transport=coaps for 4 EST requests: $(grep ' access ' "$plog" | tail -n 5)"
grep ' access .*transport=coaps' "$plog" | grep -q ' op=cacerts ' ||
    fail "no access line of /crts with op=cacerts and transport=coaps: $(grep ' access .*coaps' "$plog" | head -n 2)"
grep ' access .*transport=coaps' "$plog" | grep -q 'transport=https' &&
    fail "an access line names both transports"

# ---- the DTLS cookie exchange (HelloVerifyRequest before ServerHello)
timeout 10 openssl s_client -dtls1_2 -trace -connect "127.0.0.1:$CPORT" \
    -CAfile "$TRUST" </dev/null >"$WORK/dtls.out" 2>&1
hvr=$(grep -n 'HelloVerifyRequest' "$WORK/dtls.out" | head -n 1 | cut -d: -f1)
sh=$(grep -n 'ServerHello,' "$WORK/dtls.out" | head -n 1 | cut -d: -f1)
[ -n "$hvr" ] || fail "no HelloVerifyRequest from the DTLS listener: $(grep -E 'Hello|alert' "$WORK/dtls.out" | head -n 5)"
[ -n "$sh" ] && [ "$hvr" -lt "$sh" ] ||
    fail "HelloVerifyRequest (line $hvr) not before ServerHello (line ${sh:-none})"
check_alive "$XPID" "the proxy"
pass
