#!/usr/bin/env bash
# A CA that answers badly (issue 8), as a recording CA (openssl s_server on
# a fixed port, one connection each) in front of a proxy of this case's own
# (failure_threshold 2):
#  - 200 with Content-Type text/html (a captive portal's page): 502
#    "upstream CA answered 200 with an unusable body", and a log line
#    naming the operation and the Content-Type;
#  - 200, the right Content-Type, the same HTML page: 502, logged (what
#    lenient base64 makes of it is not a PKCS#7);
#  - 200, the right Content-Type, a certs-only PKCS#7 cut in half (its
#    Content-Length honest): 502, logged "not a certs-only PKCS#7";
#  - 200, a PKCS#7 with signerInfos (not certs-only): 502, logged;
#  - 200 whose Content-Length promises more than the CA sends before it
#    closes: 502 "upstream CA answer truncated";
#  - a CA certificate that does not verify (self-signed), and one from
#    the lab's issuing CA for another name (ca.example): 502 "upstream CA
#    certificate does not verify", and no request reaches it;
#  - 200 with the seed exchange's certs-only PKCS#7: relayed, status,
#    Content-Type and body byte for byte;
#  - estrad_upstream_errors_total{kind="bad_answer"} counts the four bad
#    answers (admin listener); they did not charge the URL's breaker (the
#    CA answered): estrad_upstream_up stays 1 and nothing logs "is down";
#    the proxy is still healthy.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare hostile
port=$FIXED_PORT
P_URL=$FIXED_URL P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' \
    P_UPSTREAM_EXTRA='"failure_threshold": 2, "backoff_initial": 0.1, "backoff_max": 0.2' \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID
admin_port "$plog"
make_csr dev "/CN=hostile-ca-device"

P7CT='Content-Type: application/pkcs7-mime; smime-type=certs-only'
seed_pkcs7 "$WORK/seed.b64"
base64 -d <"$WORK/seed.b64" >"$WORK/seed.der"

# hostile NAME ANSWERFILE: one enrollment through the proxy while the
# recording CA on the fixed port answers ANSWERFILE; $BODY etc. as req sets.
hostile() {
	local name=$1 answer=$2
	start_recorder "$name" "$answer" "" "$port"
	post_csr "$name" "$purl/simpleenroll" "$WORK/dev.b64"
	recorder_done "$name"
	stop_pid "$REC_PID"
}

# logged TEXT: the proxy's latest warning holds TEXT.
logged() {
	local last
	last=$(grep ' warn ' "$plog" | tail -n 1)
	[[ $last == *"$1"* ]] || fail "the last warning is not '$1': $last"
}

# ---- a captive portal's page
printf '<html><body>Please log in</body></html>\n' >"$WORK/html.body"
http_answer "$WORK/html.answer" '200 OK' "$WORK/html.body" 'Content-Type: text/html'
hostile html "$WORK/html.answer"
check_error 502 "upstream CA answered 200 with an unusable body"
logged "answered simpleenroll with 200 but Content-Type text/html, not application/pkcs7-mime"

# ---- the right type, not base64
http_answer "$WORK/nob64.answer" '200 OK' "$WORK/html.body" "$P7CT"
hostile nob64 "$WORK/nob64.answer"
check_error 502 "unusable body"
logged "answered simpleenroll with 200 but the body is not a certs-only PKCS#7"

# ---- a PKCS#7 cut in half, honestly framed
head -c "$(($(stat -c %s "$WORK/seed.der") / 2))" "$WORK/seed.der" |
    base64 -w 64 >"$WORK/half.body"
http_answer "$WORK/half.answer" '200 OK' "$WORK/half.body" "$P7CT"
hostile half "$WORK/half.answer"
check_error 502 "unusable body"
logged "answered simpleenroll with 200 but the body is not a certs-only PKCS#7"

# ---- signed data, not certs-only
printf 'hello' >"$WORK/data"
openssl smime -sign -binary -nodetach -outform DER -in "$WORK/data" \
    -signer "$CLIENT_CERT" -inkey "$CLIENT_KEY" -out "$WORK/signed.der" 2>/dev/null ||
    fail "cannot make a signed PKCS#7"
base64 -w 64 "$WORK/signed.der" >"$WORK/signed.body"
http_answer "$WORK/signed.answer" '200 OK' "$WORK/signed.body" "$P7CT"
hostile signed "$WORK/signed.answer"
check_error 502 "unusable body"
logged "signed content, not certs-only"

curl -s --max-time 5 "http://127.0.0.1:$APORT/metrics" >"$WORK/metrics"
bad=$(awk '$1 == "estrad_upstream_errors_total{upstream=\"ca\",kind=\"bad_answer\"}" { print $2 }' "$WORK/metrics")
[ "$bad" = 4 ] || fail "estrad_upstream_errors_total{kind=bad_answer} is '$bad', expected 4"
# Four bad answers in a row did not open the breaker (threshold 2): the
# CA answered each time.
up=$(awk -v k="estrad_upstream_up{upstream=\"ca\",url=\"$FIXED_URL\"}" '$1 == k { print $2 }' "$WORK/metrics")
[ "$up" = 1 ] || fail "estrad_upstream_up for $FIXED_URL is '$up' after the bad answers, expected 1"
grep -q "is down after" "$plog" && fail "the breaker opened: $(grep 'is down after' "$plog")"
# ---- a good answer: relayed unchanged
http_answer "$WORK/good.answer" '200 OK' "$WORK/seed.b64" "$P7CT"
hostile good "$WORK/good.answer"
check_status 200
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
cmp -s "$WORK/seed.b64" "$BODY" || fail "the good answer was not relayed byte for byte"

# The failures below each count against the URL's breaker (threshold 2,
# backoff 0.1-0.2 s): let it admit a trial before each.
admit() { sleep 0.4; }

# ---- a Content-Length the CA does not honour: closed early
{
	printf 'HTTP/1.1 200 OK\r\n%s\r\nContent-Length: 4000\r\n\r\n' "$P7CT"
	head -c 300 "$WORK/seed.b64"
} >"$WORK/cut.answer"
# Done before it starts: the recording CA ends the connection as soon as
# the answer is out.
: >"$WORK/cut.done"
admit
hostile cut "$WORK/cut.answer"
check_error 502 "upstream CA answer truncated"

# ---- a CA certificate that does not verify (self-signed), and one from
# the lab's issuing CA for another name: 502 before anything is sent.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/self.key" -out "$WORK/self.pem" -days 1 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    2>/dev/null || fail "cannot make a self-signed certificate"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/other.key" -out "$WORK/other.csr" -subj /CN=ca.example \
    2>/dev/null || fail "cannot make a CSR"
printf 'subjectAltName=DNS:ca.example\nextendedKeyUsage=serverAuth\n' >"$WORK/other.ext"
openssl x509 -req -in "$WORK/other.csr" -CA "$ISSUING_CERT" \
    -CAkey "$PKI_DIR/issuing.key" -set_serial 0x77 -days 1 \
    -extfile "$WORK/other.ext" -out "$WORK/other.pem" 2>/dev/null ||
    fail "cannot issue the other-name certificate"
printf 'never sent\n' >"$WORK/never.body"
http_answer "$WORK/never.answer" '200 OK' "$WORK/never.body" "$P7CT"
admit
REC_CERT=$WORK/self.pem REC_KEY=$WORK/self.key REC_CHAIN=$WORK/self.pem \
    hostile untrusted "$WORK/never.answer"
check_error 502 "upstream CA certificate does not verify"
admit
REC_CERT=$WORK/other.pem REC_KEY=$WORK/other.key \
    hostile othername "$WORK/never.answer"
check_error 502 "upstream CA certificate does not verify"
grep -q 'POST ' "$WORK/untrusted.rec" "$WORK/othername.rec" &&
    fail "a request reached a CA whose certificate did not verify"

check_alive "$ppid" "the proxy"
pass
