#!/usr/bin/env bash
# Channel binding (RFC 7030 §3.5; docs/policy.md): a CSR's challengePassword,
# when present, must be the base64 channel binding of the TLS session it is
# sent on: tls-unique (the client's Finished of the full handshake) on TLS
# 1.2, tls-exporter (RFC 9266: 32 bytes, "EXPORTER-Channel-Binding", no
# context) on TLS 1.3. With est_cb_client (Digest, on one connection), on
# TLS 1.2 and TLS 1.3:
#  - strict label (binding required): correct -> 200 and a certificate for
#    the client's key; wrong -> 403 binding.mismatch; none -> 403
#    binding.required (exact bodies); the refusals reach no CA;
#  - default label (binding optional): none -> 200, correct -> 200, wrong
#    -> 403 binding.mismatch.
# est_cb_client computes its value with the RA's own src/chanbind.c, so the
# values are also made independently, by openssl s_client on the default
# route with the lab client certificate: TLS 1.3 from -keymatexport, TLS
# 1.2 from the client Finished in -msg; each is accepted, and a TLS 1.2
# session given its exporter value instead of tls-unique is refused.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MISMATCH="policy binding.mismatch: the challengePassword is not this TLS session's channel binding"
REQUIRED="policy binding.required: the CSR has no challengePassword; it must hold this TLS session's channel binding (RFC 7030, section 3.5)"

for v in 1.2 1.3; do
	n=${v/./}
	# ---- strict: binding required.
	before=$(ca_access_lines)
	cb_enroll "s_ok$n" "$EST_URL/strict/simpleenroll" "$v" correct --subject "/CN=$EST_USER"
	check_status 200
	check_issued "s_ok$n" "s_ok$n" "$ISSUING_CERT"
	grep -q "TLSv$v, binding " "$CB_ERR" || fail "TLS $v: est_cb_client says: $(cat "$CB_ERR")"
	check_ca_gained "$before" 1 "TLS $v bound enrollment"
	before=$(ca_access_lines)
	cb_enroll "s_wrong$n" "$EST_URL/strict/simpleenroll" "$v" wrong --subject "/CN=$EST_USER"
	check_status 403
	check_body "$MISMATCH"
	cb_enroll "s_none$n" "$EST_URL/strict/simpleenroll" "$v" none --subject "/CN=$EST_USER"
	check_status 403
	check_body "$REQUIRED"
	check_ca_unchanged "$before" "TLS $v: a wrong or missing binding"

	# ---- default route: binding optional, but checked when present.
	cb_enroll "d_none$n" "$EST_URL/simpleenroll" "$v" none --subject "/CN=cb-device"
	check_status 200
	check_issued "d_none$n" "d_none$n" "$ISSUING_CERT"
	cb_enroll "d_ok$n" "$EST_URL/simpleenroll" "$v" correct --subject "/CN=cb-device"
	check_status 200
	cb_enroll "d_wrong$n" "$EST_URL/simpleenroll" "$v" wrong --subject "/CN=cb-device"
	check_status 403
	check_body "$MISMATCH"
	note "TLS $v: correct 200, wrong 403 mismatch, none 403 required / 200 optional"
done

# ---- the same values made by openssl s_client, not by src/chanbind.c.
# sc_bound NAME TLS WHICH: one s_client connection (client certificate)
# that reads its own binding, puts WHICH (exporter or unique) into a CSR's
# challengePassword and POSTs it on that connection; sets SC_STATUS (the
# status line) and SC_OUT (s_client's output).
sc_bound() {
	local name=$1 v=$2 which=$3 fifo=$WORK/$1.fifo out=$WORK/$1.out
	local pid fd i hex value len
	mkfifo "$fifo"
	timeout 15 stdbuf -o0 openssl s_client -connect "127.0.0.1:$PROXY_PORT" \
	    -servername localhost -CAfile "$TRUST" -verify_return_error \
	    "-tls${v/./_}" -cert "$CLIENT_CERT" -cert_chain "$ISSUING_CERT" \
	    -key "$CLIENT_KEY" -msg \
	    -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32 \
	    -ign_eof <"$fifo" >"$out" 2>"$WORK/$name.err" &
	pid=$!
	T_PIDS+=("$pid")
	exec {fd}>"$fifo"
	for ((i = 0; i < 50; i++)); do
		grep -q 'Keying material: ' "$out" && break
		sleep 0.1
	done
	case $which in
	exporter) hex=$(sed -n 's/.*Keying material: \([0-9A-F]*\).*/\1/p' "$out" | head -n 1) ;;
	unique)
		# The first Finished this client sent: 14 00 00 0c + 12 bytes.
		hex=$(awk '/^>>> TLS 1\.2, Handshake \[length 0010\], Finished/ { getline; print; exit }' "$out" |
		    tr -d ' \r' | sed -n 's/^1400000c\([0-9a-f]\{24\}\)$/\1/p')
		;;
	esac
	[ -n "$hex" ] || { exec {fd}>&-; fail "$name: no $which value in the s_client output: $(tail -n 5 "$WORK/$name.err")"; }
	value=$(hex2bin "$hex" | base64 -w0)
	case $which in
	exporter) [ ${#value} = 44 ] ;;
	unique) [ ${#value} = 16 ] ;;
	esac || fail "$name: $which value '$value' has the wrong length"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$WORK/$name.key" 2>/dev/null
	printf '[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = lab-client\n[attrs]\nchallengePassword = %s\n' \
	    "$value" >"$WORK/$name.cnf"
	openssl req -new -key "$WORK/$name.key" -config "$WORK/$name.cnf" -sha256 \
	    -outform DER -out "$WORK/$name.der" || fail "$name: openssl req"
	openssl req -inform DER -in "$WORK/$name.der" -noout -text |
	    grep -qF "challengePassword        :$value" ||
	    fail "$name: the CSR does not carry the value"
	base64 -w0 "$WORK/$name.der" >"$WORK/$name.b64"
	len=$(stat -c %s "$WORK/$name.b64")
	# (A subshell that ignores SIGPIPE: s_client may be gone already.)
	(
		trap '' PIPE
		printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n' "$PROXY_PORT"
		printf 'Content-Type: application/pkcs10\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$len"
		cat "$WORK/$name.b64"
	) 1>&"$fd" 2>/dev/null
	exec {fd}>&-
	wait "$pid" 2>/dev/null
	SC_OUT=$out
	SC_STATUS=$(grep -a -o -m 1 'HTTP/1\.1 [0-9][0-9][0-9] [A-Za-z]*' "$out" | head -n 1)
}

sc_bound sc13 1.3 exporter
[ "$SC_STATUS" = "HTTP/1.1 200 OK" ] ||
    fail "TLS 1.3, tls-exporter from s_client -keymatexport: '$SC_STATUS' $(grep -a '^policy' "$SC_OUT")"
sc_bound sc12 1.2 unique
[ "$SC_STATUS" = "HTTP/1.1 200 OK" ] ||
    fail "TLS 1.2, tls-unique from s_client -msg: '$SC_STATUS' $(grep -a '^policy' "$SC_OUT")"
sc_bound sc12x 1.2 exporter
[ "$SC_STATUS" = "HTTP/1.1 403 Forbidden" ] ||
    fail "TLS 1.2 given the exporter value: '$SC_STATUS', expected 403"
grep -aqxF "$MISMATCH" <(tr -d '\r' <"$SC_OUT") ||
    fail "TLS 1.2 given the exporter value: no '$MISMATCH' in the answer"
note "s_client: TLS 1.3 exporter 200, TLS 1.2 tls-unique 200, TLS 1.2 exporter 403"
check_proxy_healthy
pass
