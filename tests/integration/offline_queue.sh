#!/usr/bin/env bash
# Store and forward (docs/offline.md, RFC 7030 §4.2.3) with a private CA
# that goes away and comes back at the same URL (failure_threshold 1,
# queue.retry_after 7):
#  - start: "queue: 0 waiting entries in STATE/estrad.db", state_dir 0700;
#  - CA down: a Digest simpleenroll gets 202 text/plain "queued as ID
#    (pending): ...", Retry-After 7, logged "queue: entry ID ... is
#    pending"; its audit record says decision "pending", status 202; the
#    same CSR again: 202, the same ID; another key with the same subject,
#    or the same key with another subject: another ID; a re-enrollment by client certificate is queued too
#    (identity cert:CN=lab-client); a SHA-1 CSR on a label whose policy
#    allows it (the CA's does not) is queued; serverkeygen is not queued
#    (502);
#  - the CA's URL "is down after 1 failure in a row"; CA back: "... is up
#    again", the entries are sent: issued, and refused for the SHA-1 one;
#  - a freshly made CSR (same key and subject, other bytes) is the retry:
#    200 with the certificate for that key, not sent to the CA again, the
#    entry delivered; the re-enrollment's retry: 200; the SHA-1 one's:
#    the CA's 403 and its body, as the CA said it;
#  - once delivered, another request is a new enrollment: it reaches the
#    CA and gets another certificate;
#  - the audit file has the states pending, issued, delivered (refused
#    for the SHA-1 one), in that order.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to read the audit file"

fixed_prepare ca
ca_url=$FIXED_URL
audit=$WORK/audit.jsonl
P_URL=$ca_url \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 0.2, "backoff_max": 1' \
    P_LABELS='"old": { "upstream": "ca", "policy": "sha1" }' \
    P_TOP_EXTRA="\"policies\": { \"sha1\": { \"signature_hashes\": [\"SHA1\", \"SHA256\"] } }, $(offline_top "$WORK/state" "" \
    '"retry_after": 7, "expire": 600, "poll_interval": 1' "$audit")" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID
wait_grep 5 "$plog" "queue: 0 waiting entries in $WORK/state/estrad.db" ||
    fail "no 'queue: 0 waiting entries in $WORK/state/estrad.db' at start"
[ "$(stat -c %a "$WORK/state")" = 700 ] ||
    fail "state_dir has mode $(stat -c %a "$WORK/state"), expected 700"
[ -f "$WORK/state/estrad.db" ] || fail "no $WORK/state/estrad.db"

# ---- CA down: queued
subj=/CN=queue-device
make_csr_key q ec:P-256 "$subj"
post_csr q1 "$purl/simpleenroll" "$WORK/q.b64"
check_queued pending
check_header Retry-After 7
id=$QID rid1=$(header X-Request-Id)
note "queued as $id"
wait_queue_state 5 "$plog" "$id" pending
grep -q "queue: entry $id .*digest:$EST_USER" "$plog" ||
    fail "entry $id's log line does not name digest:$EST_USER: $(grep "queue: entry $id " "$plog")"
[ "$(audit_request_field "$audit" "$rid1" decision)" = pending ] ||
    fail "the 202's audit record has decision '$(audit_request_field "$audit" "$rid1" decision)', expected pending"
[ "$(audit_request_field "$audit" "$rid1" status)" = 202 ] ||
    fail "the 202's audit record has status '$(audit_request_field "$audit" "$rid1" status)', expected 202"
grep -qF "upstream ca: $ca_url is down after 1 failure in a row; next try in " "$plog" ||
    fail "no 'upstream ca: $ca_url is down after 1 failure in a row' in the proxy log"

post_csr q2 "$purl/simpleenroll" "$WORK/q.b64"
check_queued pending
check_header Retry-After 7
[ "$QID" = "$id" ] || fail "the same CSR again was queued as $QID, not as $id"

make_csr_key o ec:P-256 "$subj"
post_csr o1 "$purl/simpleenroll" "$WORK/o.b64"
check_queued pending
ido=$QID
[ "$ido" != "$id" ] || fail "another key with the same subject got the first key's entry $id"

openssl req -new -key "$WORK/q.key" -subj /CN=queue-device-2 -config /dev/null -sha256 \
    -outform DER 2>/dev/null | base64 -w0 >"$WORK/qs.b64" || fail "openssl req (other subject)"
post_csr qs "$purl/simpleenroll" "$WORK/qs.b64"
check_queued pending
idqs=$QID
if [ "$idqs" = "$id" ] || [ "$idqs" = "$ido" ]; then
	fail "the same key with another subject got entry $idqs (first $id, other key $ido)"
fi

make_csr_key re ec:P-256 /CN=lab-client
post_csr re1 "$purl/simplereenroll" "$WORK/re.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_queued pending
idre=$QID
wait_queue_state 5 "$plog" "$idre" pending
grep -q "queue: entry $idre .*cert:CN=lab-client" "$plog" ||
    fail "the re-enrollment's entry does not name cert:CN=lab-client: $(grep "queue: entry $idre " "$plog")"

make_csr_key s ec:P-256 /CN=sha1-device -sha1
post_csr s1 "$purl/old/simpleenroll" "$WORK/s.b64"
check_queued pending
ids=$QID

make_csr_key k ec:P-256 /CN=keygen-device
post_csr k1 "$purl/serverkeygen" "$WORK/k.b64"
[ "$STATUS" = 502 ] || [ "$STATUS" = 504 ] ||
    fail "serverkeygen with the CA down: HTTP $STATUS, expected 502 or 504 (never queued): $(head -c 200 "$BODY")"
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 5 ] || fail "$n entries pending, expected 5 (serverkeygen is not queued)"

# ---- CA back: forwarded
fixed_start ca
wait_queue_state 15 "$plog" "$id" issued
wait_queue_state 5 "$plog" "$ido" issued
wait_queue_state 5 "$plog" "$idqs" issued
wait_queue_state 5 "$plog" "$idre" issued
wait_queue_state 5 "$plog" "$ids" refused
grep -qF "upstream ca: $ca_url is up again" "$plog" ||
    fail "no 'upstream ca: $ca_url is up again' in the proxy log"
sleep 0.2
[ "$(enroll_lines ca)" = 4 ] || fail "the CA issued $(enroll_lines ca) certificates, expected 4"

# ---- the retry, with a new CSR for the same key and subject
openssl req -new -key "$WORK/q.key" -subj "$subj" -config /dev/null -sha256 \
    -outform DER -out "$WORK/q3.der" || fail "openssl req (retry CSR)"
base64 -w0 "$WORK/q3.der" >"$WORK/q3.b64"
cmp -s "$WORK/q.der" "$WORK/q3.der" && fail "the retry CSR has the first one's bytes"
cp "$WORK/q.pub" "$WORK/q3.pub"
enroll_ok q3 "$purl/simpleenroll" "$WORK/q3.b64" q3 "$ISSUING_CERT"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
check_header Content-Transfer-Encoding base64
check_framing
subject=$(openssl x509 -in "$WORK/q3.cert.pem" -noout -subject -nameopt RFC2253)
[ "$subject" = "subject=CN=queue-device" ] || fail "the certificate's $subject"
wait_queue_state 5 "$plog" "$id" delivered

T_AUTH=none enroll_ok re2 "$purl/simplereenroll" "$WORK/re.b64" re "$ISSUING_CERT" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
wait_queue_state 5 "$plog" "$idre" delivered

post_csr s2 "$purl/old/simpleenroll" "$WORK/s.b64"
check_error 403
check_body "policy signature.hash: SHA1 is not allowed"
wait_queue_state 5 "$plog" "$ids" delivered
sleep 0.2
[ "$(enroll_lines ca)" = 4 ] ||
    fail "the retries reached the CA ($(enroll_lines ca) enrollments there, expected 4)"

# ---- delivered: the next request is a new one, for the CA
openssl req -new -key "$WORK/q.key" -subj "$subj" -config /dev/null -sha256 \
    -outform DER -out "$WORK/q4.der" || fail "openssl req (third CSR)"
base64 -w0 "$WORK/q4.der" >"$WORK/q4.b64"
cp "$WORK/q.pub" "$WORK/q4.pub"
enroll_ok q4 "$purl/simpleenroll" "$WORK/q4.b64" q4 "$ISSUING_CERT"
for i in $(seq 20); do
	[ "$(enroll_lines ca)" -ge 5 ] && break
	sleep 0.1
done
[ "$(enroll_lines ca)" = 5 ] ||
    fail "after delivery, a request should go to the CA: it logged $(enroll_lines ca) enrollments, expected 5"
s3=$(openssl x509 -in "$WORK/q3.cert.pem" -noout -serial)
s4=$(openssl x509 -in "$WORK/q4.cert.pem" -noout -serial)
[ "$s3" != "$s4" ] || fail "the request after delivery got the delivered certificate again ($s3)"
n=$(grep -c 'queue: entry [0-9]* .*is pending' "$plog")
[ "$n" = 5 ] || fail "a request after delivery was queued: $(grep 'queue: entry' "$plog" | tail -n 2)"

# ---- audit: pending -> issued -> delivered
check_audit_states "$audit" "$id" "pending issued delivered"
check_audit_states "$audit" "$ids" "pending refused delivered"
check_alive "$ppid" "the proxy"
pass
