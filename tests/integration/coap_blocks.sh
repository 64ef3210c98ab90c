#!/usr/bin/env bash
# EST over CoAP (RFC 9148 §6): block-wise transfer of large CSRs (Block1,
# RFC 7959 §2.5) with Debian's coap-client-openssl, against a proxy whose
# coap.max_body_bytes is 4096:
#  - an RSA 4096 CSR with 20 DNS SANs (over 2 KB: more than one datagram
#    at libcoap's default block size of 1024), sent in blocks of 64 bytes
#    (-b 64): every block but the last is answered 2.31 Continue (the
#    proxy's estrad_coap_requests_total counts them), the last 2.04 with
#    the certificate for the CSR's key; that answer, a PKCS#7 of 2.5 KB,
#    comes in Block2 blocks of 1024 (after a separate response's first
#    block, each block piggybacked);
#  - the same CSR with libcoap's own block size: issued;
#  - a CSR over 4096 bytes: 4.13 (Request Entity Too Large), never sent to
#    the CA, and the proxy serves on.
# Block2 (large answers) is in coap_resources.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' coap_proxy proxy '"max_body_bytes": 4096'
admin_port "$XLOG"
CERT=(-c "$CLIENT_CERT" -j "$CLIENT_KEY")

# sans N LABELS: N DNS names "nI." followed by LABELS labels of 60
# letters and ".example.com" (LABELS 3: 198 characters), for -addext.
sans() {
	local i j out='' label name
	label=$(printf 'a%.0s' $(seq 60))
	for ((i = 1; i <= $1; i++)); do
		name=n$i
		for ((j = 0; j < $2; j++)); do
			name=$name.$label
		done
		out="$out${out:+,}DNS:$name.example.com"
	done
	echo "$out"
}

# ---- Block1 in 64-byte blocks
make_csr_key big rsa:4096 "/CN=coap-big-csr" -addext "subjectAltName=$(sans 20 1)"
size=$(stat -c %s "$WORK/big.der")
[ "$size" -gt 2048 ] && [ "$size" -le 4096 ] || fail "the big CSR is $size bytes, expected 2049..4096"
coap_post big64 "$COAPS/sen" "$WORK/big.der" -b 64 "${CERT[@]}"
coap_issued big64 big "$ISSUING_CERT"
# At -v 6 coap-client shows the first block it sends and the last answer
# to them: Block1:0/M/64 out, Block1:LAST/_/64 back; the proxy counts a
# 2.31 Continue for every block but the last.
last=$(((size + 63) / 64 - 1))
grep -qE '^v:1 t:CON c:POST .*Block1:0/M/64' "$WORK/big64.out" ||
    fail "the first request is not Block1:0/M/64: $(grep -m 1 'c:POST' "$WORK/big64.out")"
grep -qE "^v:1 t:[A-Z]+ c:2\.04 .*Block1:$last/_/64" "$WORK/big64.out" ||
    fail "no 2.04 acknowledging Block1:$last/_/64: $(grep -m 1 'c:2\.04' "$WORK/big64.out")"
scrape after_big64
check_metric 'estrad_coap_requests_total{op="simpleenroll",code="2.31"}' "$last"
note "$size bytes in $((last + 1)) blocks of 64"
# ... and the answer, a PKCS#7 over 1 KB (an RSA-4096 key and 20 long
# SANs), comes in Block2 blocks of 1024 (RFC 7959 §2.4).
p7=$(stat -c %s "$WORK/big64.body")
[ "$p7" -gt 1024 ] || fail "the answer is $p7 bytes: no Block2 needed"
n=$(grep -cE '^v:1 t:[A-Z]+ c:2\.04 .*Block2:[0-9]+/[M_]/1024' "$WORK/big64.out")
[ "$n" = $(((p7 + 1023) / 1024)) ] ||
    fail "a $p7-byte answer in $n Block2 blocks of 1024"

# ---- the default block size
coap_post big "$COAPS/sen" "$WORK/big.der" "${CERT[@]}"
coap_issued big big "$ISSUING_CERT"
grep -qE '^v:1 t:CON c:POST .*Block1:' "$WORK/big.out" ||
    fail "a $size-byte CSR went without Block1"

# ---- over coap.max_body_bytes
make_csr_key huge rsa:4096 "/CN=coap-huge-csr" -addext "subjectAltName=$(sans 20 3)"
size=$(stat -c %s "$WORK/huge.der")
[ "$size" -gt 4096 ] || fail "the huge CSR is only $size bytes"
before=$(ca_access_lines)
coap_post huge "$COAPS/sen" "$WORK/huge.der" "${CERT[@]}"
check_code 4.13
check_ca_unchanged "$before" "a CSR over max_body_bytes"
coap crts "$COAPS/crts"
check_code 2.05
check_alive "$XPID" "the proxy"
pass
