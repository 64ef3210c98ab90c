#!/usr/bin/env bash
# A CA's harmless quirks (issue 15), as a recording CA (openssl s_server on
# a fixed port, one connection each) in front of a proxy of this case's own:
#  - csrattrs as libest's example server sends them: 56 base64 characters
#    and a NUL byte, Content-Length 57: 200, relayed byte for byte (the NUL
#    too), Content-Type application/csrattrs;
#  - cacerts whose base64 ends in a newline and a NUL: 200, byte for byte;
#  - still refused: a NUL inside the base64 (502, "not base64"), and a
#    trailing NUL after a SET, which is no csrattrs (502);
#  - over CoAP (RFC 9148, Debian's coap-client-openssl) the same two
#    quirks: /att 2.05, Content-Format 285, the DER without the NUL; /crts
#    2.05, Content-Format 281, the seed's DER (the CoAP side reads the
#    CA's body as the check does: the landing CI's fuzz_answer finding).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare quirks
port=$FIXED_PORT
command -v coap-client-openssl >/dev/null ||
    fail "no coap-client-openssl (libcoap3-bin, tools/install-deps)"
P_URL=$FIXED_URL coap_proxy proxy
plog=$XLOG purl=$XURL

# quirk NAME OP ANSWERFILE: one GET of OP through the proxy while the
# recording CA on the fixed port answers ANSWERFILE; $BODY etc. as req sets.
quirk() {
	local name=$1 op=$2 answer=$3
	start_recorder "$name" "$answer" "" "$port"
	req "$name" GET "$purl/$op"
	recorder_done "$name"
	stop_pid "$REC_PID"
}

# coap_quirk NAME RESOURCE ANSWERFILE: quirk's GET over CoAP (/att,
# /crts); CODE, OPTS, BODY as coap sets them.
coap_quirk() {
	local name=$1 res=$2 answer=$3
	start_recorder "$name" "$answer" "" "$port"
	coap "$name" "$COAPS/$res"
	recorder_done "$name"
	stop_pid "$REC_PID"
}

CSRATTRS_CT='Content-Type: application/csrattrs'

# ---- refused first (a good answer might be kept for later requests).
printf 'MA\0A=' >"$WORK/inside.body"
http_answer "$WORK/inside.answer" '200 OK' "$WORK/inside.body" "$CSRATTRS_CT"
quirk inside csrattrs "$WORK/inside.answer"
check_error 502 "unusable body"
grep -q 'body is not base64' "$plog" || fail "no 'body is not base64' in the proxy's log"
printf 'MQA=\0' >"$WORK/set.body"
http_answer "$WORK/set.answer" '200 OK' "$WORK/set.body" "$CSRATTRS_CT"
quirk set csrattrs "$WORK/set.answer"
check_error 502 "unusable body"
note "a NUL inside the base64, a SET with a NUL after it: 502"

# ---- libest's example server: 56 characters and a NUL.
printf 'MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg==\0' >"$WORK/libest.body"
[ "$(stat -c %s "$WORK/libest.body")" = 57 ] || fail "the libest body is not 57 bytes"
http_answer "$WORK/libest.answer" '200 OK' "$WORK/libest.body" "$CSRATTRS_CT"
quirk libest csrattrs "$WORK/libest.answer"
check_status 200
check_header Content-Type application/csrattrs
check_framing
cmp -s "$WORK/libest.body" "$BODY" ||
    fail "libest's csrattrs were not relayed byte for byte: $(od -c "$BODY" | tail -n 3)"
note "libest's csrattrs (Content-Length 57, a NUL at the end): 200, byte for byte"

# ---- cacerts ending in a newline and a NUL.
seed_pkcs7 "$WORK/seed.b64"
{ cat "$WORK/seed.b64"; printf '\n\0'; } >"$WORK/seednul.body"
http_answer "$WORK/cacerts.answer" '200 OK' "$WORK/seednul.body" \
    'Content-Type: application/pkcs7-mime; smime-type=certs-only'
quirk cacerts cacerts "$WORK/cacerts.answer"
check_status 200
cmp -s "$WORK/seednul.body" "$BODY" || fail "cacerts with a NUL were not relayed byte for byte"
note "cacerts ending in a NUL: 200, byte for byte"

# ---- the same two over CoAP: the DER, without the NUL.
coap_quirk coap_libest att "$WORK/libest.answer"
check_code 2.05
check_option "Content-Format:285"
printf 'MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg==' |
    base64 -d >"$WORK/libest.der"
cmp -s "$WORK/libest.der" "$BODY" ||
    fail "/att of libest's csrattrs is not their DER: code $CODE, $(od -An -tx1 "$BODY" | head -n 3)"
coap_quirk coap_cacerts crts "$WORK/cacerts.answer"
check_code 2.05
check_option "Content-Format:281"
base64 -d <"$WORK/seed.b64" >"$WORK/seed.der"
cmp -s "$WORK/seed.der" "$BODY" ||
    fail "/crts of cacerts ending in a NUL is not the seed's DER: code $CODE, diagnostic '$DIAG'"
note "over CoAP: /att and /crts of the same answers are 2.05 with their DER"
check_alive "$XPID" "the proxy"
pass
