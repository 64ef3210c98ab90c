#!/usr/bin/env bash
# A client that stops sending is not a client that left (src/est_leave.c; issue
# 14 item 7), in front of a CA that answers after a while
# (tests/tools/drip_ca.py late, the seed exchange's PKCS#7):
#  - half-close: a client (certificate auth) sends its simpleenroll and
#    shuts down its sending side (a FIN, the TLS session kept); it still
#    gets the CA's answer, 200 with the PKCS#7 byte for byte and
#    Connection: close; access line status=200; the audit record says
#    "accepted" with the certificate's serial;
#  - the same at the lab proxy's local CA, where the request waits only for
#    its audit record to be written: still answered, 200;
#  - reset: a client sends its simpleenroll and resets the connection
#    while the CA works; the transfer is not cancelled (the CA may issue);
#    when the CA answers, the audit record says "abandoned", with the CA's
#    status 200 and the serial it issued; the access line says 499 with
#    upstream=200.
# Before, the FIN was taken for a departure (no answer, 499, audit
# "abandoned" though the CA issued), and a reset was not seen at all.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

LEAVE=$(dirname "$0")/../tools/leave_client.py
command -v python3 >/dev/null || skip "no python3 (tools/install-deps)"
make_csr dev "/CN=leaving-device"
seed_pkcs7 "$WORK/answer.b64"
http_answer "$WORK/answer.http" "200 OK" "$WORK/answer.b64" \
    'Content-Type: application/pkcs7-mime; smime-type=certs-only'
# The serial the audit must name: the seed certificate's, as hex without
# leading zeros.
base64 -d "$WORK/answer.b64" | openssl pkcs7 -inform DER -print_certs >"$WORK/seed.pem" ||
    fail "cannot read the seed PKCS#7"
SERIAL=$(openssl x509 -in "$WORK/seed.pem" -noout -serial | sed 's/^serial=0*//')
[ -n "$SERIAL" ] || fail "no serial in the seed certificate"

# start_late NAME SECONDS: a CA answering answer.http SECONDS after the
# request; sets LATE_URL.
start_late() {
	start_drip_ca "$1" late "$2" "$WORK/answer.http"
	LATE_URL=$DRIP_URL
}

# ---- half-close: still answered
start_late half 1
P_URL=$LATE_URL P_TOP_EXTRA="\"audit\": { \"file\": \"$WORK/half.audit\" }" \
    proxy_config "$WORK/half.json"
start_estrad half "$WORK/half.json"
timeout 20 python3 "$LEAVE" halfclose "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/simpleenroll "$WORK/dev.b64" >"$WORK/half.answer" 2>"$WORK/half.client.err" ||
    fail "the half-closed client got no answer: $(tail -n 2 "$WORK/half.client.err")"
head -n 1 "$WORK/half.answer" | grep -q '^HTTP/1.1 200 ' ||
    fail "the half-closed client got '$(head -n 1 "$WORK/half.answer")', expected 200"
grep -qi $'^Connection: close\r$' "$WORK/half.answer" ||
    fail "the answer to a half-closed client lacks Connection: close"
sed '1,/^\r$/d' "$WORK/half.answer" >"$WORK/half.body"
cmp -s "$WORK/half.body" "$WORK/answer.b64" ||
    fail "the half-closed client's body is not the CA's PKCS#7 byte for byte"
grep -q 'access .*auth=cert .*status=200 upstream=200 ' "$XLOG" ||
    fail "no access line status=200 upstream=200: $(grep access "$XLOG" | tail -n 2)"
grep -q '"decision":"accepted"' "$WORK/half.audit" ||
    fail "no accepted record for the half-closed client: $(cat "$WORK/half.audit")"
grep -q "\"serial\":\"0*$SERIAL\"" "$WORK/half.audit" ||
    fail "the audit record lacks the serial $SERIAL: $(cat "$WORK/half.audit")"
note "half-closed client answered (200, Connection: close, the PKCS#7 unchanged)"

# ---- half-close at the lab proxy's local CA: the only wait is the audit
# record's, and the answer still goes out.
lport=${EST_URL#https://127.0.0.1:}
lport=${lport%%/*}
timeout 20 python3 "$LEAVE" halfclose "$lport" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/local/simpleenroll "$WORK/dev.b64" >"$WORK/local.answer" 2>"$WORK/local.client.err" ||
    fail "the half-closed client of the local CA got no answer: $(tail -n 2 "$WORK/local.client.err")"
head -n 1 "$WORK/local.answer" | grep -q '^HTTP/1.1 200 ' ||
    fail "the half-closed client of the local CA got '$(head -n 1 "$WORK/local.answer")', expected 200"
note "half-closed client of the local CA answered (200)"

# ---- reset: the CA's answer still goes on record
start_late gone 1.5
P_URL=$LATE_URL P_TOP_EXTRA="\"audit\": { \"file\": \"$WORK/gone.audit\" }" \
    proxy_config "$WORK/gone.json"
start_estrad gone "$WORK/gone.json"
out=$(timeout 20 python3 "$LEAVE" reset "$XPORT" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
    /.well-known/est/simpleenroll "$WORK/dev.b64" 2>&1) || fail "reset client: $out"
wait_grep 5 "$XLOG" 'the client left while the CA has its simpleenroll' ||
    fail "the proxy did not notice the reset: $(grep -v 'listening\|started' "$XLOG" | tail -n 3)"
wait_grep 5 "$WORK/gone.ca" '^answered$' || fail "the CA never answered (the transfer was cancelled?)"
wait_grep 5 "$WORK/gone.audit" '"decision":"abandoned"' ||
    fail "no abandoned record: $(cat "$WORK/gone.audit" 2>/dev/null)"
rec=$(grep '"decision":"abandoned"' "$WORK/gone.audit")
grep -q "\"serial\":\"0*$SERIAL\"" <<<"$rec" ||
    fail "the abandoned record lacks the serial the CA issued ($SERIAL): $rec"
grep -q '"upstream_status":200' <<<"$rec" || fail "the abandoned record lacks the CA's 200: $rec"
wait_grep 3 "$XLOG" 'access .*status=499 upstream=200 ' ||
    fail "no access line 499 with upstream=200: $(grep access "$XLOG" | tail -n 2)"
check_alive "$XPID" "the proxy after the reset"
note "reset client: CA's answer awaited, audit 'abandoned' with serial $SERIAL"
pass
