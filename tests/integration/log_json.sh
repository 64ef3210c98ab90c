#!/usr/bin/env bash
# "log_format": "json" (docs/operations.md, Logs): every line a proxy of
# this case writes on stderr is one JSON object in Elastic Common Schema's
# names, with fields, not a key=value string (jq reads each one):
#  - every line: "@timestamp" (UTC, YYYY-MM-DDTHH:MM:SS.mmmZ), log.level,
#    message (a string), ecs.version, event.dataset estrad.access,
#    estrad.audit or estrad.event; the file is UTF-8 with no raw control
#    byte;
#  - an event line: "listening on 127.0.0.1:PORT", info, estrad.event;
#  - access lines (one per X-Request-Id): a Digest enrollment (200:
#    http.request.method, url.path, http.response.status_code a number,
#    body bytes, event.duration, source.address/port, tls.version,
#    user.name, estrad.auth/op/label/upstream/reason), a client
#    certificate (tls.client.subject, no user), a wrong password
#    (401, no user), a policy refusal (403, estrad.rules an array of its
#    rules), a bad path (404, op "-") and a bare-path cacerts (200, label
#    "-");
#  - audit lines ("audit": {"stderr": true}): the record as an object
#    estrad.audit (not a string), joined to the access line by
#    http.request.id; the refusal's rules as on its access line;
#  - a Basic user whose name holds '"', '\', a control byte and a byte
#    that is not UTF-8 enrolls, and its access line is still JSON:
#    user.name is the name with U+FFFD for the bad byte; its audit record
#    keeps "identity" (with \xNN for the bytes, as in the audit file);
#  - no password (right or wrong) nor Basic credentials reach the log.
# The text format is checked by every other case.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || fail "jq is needed to read the JSON log (tools/install-deps)"

# A Basic user with hostile bytes in its name: " \ 0x01 0xff.
ODD_USER=$(printf 'od"d\\us\001er\377x')
ODD_PASS="odd-$(openssl rand -hex 8)"
hash=$(htpasswd -nbB -C 4 x "$ODD_PASS" | cut -d: -f2-)
printf '%s:%s\n' "$ODD_USER" "$hash" >"$WORK/basic"
chmod 600 "$WORK/basic"

P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"basic_users\": \"$WORK/basic\"" \
    P_LABELS='"odd": { "upstream": "ca", "auth": { "simpleenroll": ["basic"] } },
              "p384": { "upstream": "ca", "policy": "p384" }' \
    P_TOP_EXTRA='"log_format": "json", "audit": { "stderr": true },
  "policies": { "p384": { "keys": { "ec_curves": ["P-384"] },
                          "subject": { "required": ["O"] } } }' \
    proxy_config "$WORK/proxy.json"
start_estrad json "$WORK/proxy.json"

make_csr dev "/CN=log-json-device"
enroll_ok enroll "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
rid_ok=$(header X-Request-Id)
WRONG="wrong\"$(openssl rand -hex 8)"
T_AUTH=none post_csr wrong "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "$EST_USER:$WRONG"
check_status 401
rid_401=$(header X-Request-Id)
post_csr refused "$XURL/p384/simpleenroll" "$WORK/dev.b64"
check_status 403
rid_403=$(header X-Request-Id)
req badpath GET "$XURL/no-such-op"
check_status 404
rid_404=$(header X-Request-Id)
req bare GET "$XURL/cacerts"
check_status 200
rid_bare=$(header X-Request-Id)
T_AUTH=none post_csr odd "$XURL/odd/simpleenroll" "$WORK/dev.b64" --basic -u "$ODD_USER:$ODD_PASS"
check_status 200
rid_odd=$(header X-Request-Id)
T_AUTH=none enroll_ok cert "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
rid_cert=$(header X-Request-Id)
for r in "$rid_ok" "$rid_401" "$rid_403" "$rid_404" "$rid_bare" "$rid_odd" "$rid_cert"; do
	[ -n "$r" ] || fail "a response without X-Request-Id"
	wait_grep 2 "$XLOG" "\"id\":\"$r\"" || fail "no line for $r in $XLOG"
done
wait_grep 2 "$XLOG" '"dataset":"estrad.audit".*"decision":"refused"' ||
    fail "no audit line for the refusal in $XLOG"
sleep 0.2

# ---- every line: valid, UTF-8, the envelope.
iconv -f UTF-8 -t UTF-8 "$XLOG" >/dev/null || fail "$XLOG is not UTF-8"
if LC_ALL=C grep -naP '[\x00-\x09\x0b-\x1f\x7f]' "$XLOG"; then
	fail "a raw control byte in $XLOG (above)"
fi
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" | jq -e '
	    type == "object" and
	    (.["@timestamp"] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")) and
	    (.log.level | IN("error", "warn", "info", "debug")) and
	    (.message | type == "string") and
	    (.ecs.version | type == "string") and
	    (.event.dataset | IN("estrad.access", "estrad.audit", "estrad.event"))' \
	    >/dev/null 2>"$WORK/jq.err" ||
	    fail "line $n of $XLOG is not an ECS object: $line ($(cat "$WORK/jq.err"))"
done <"$XLOG"
[ "$n" -ge 12 ] || fail "only $n lines in $XLOG"

# jqs FILTER...: the log as one array (jq -s), FILTER must hold.
jqs() {
	jq -e -s "$@" "$XLOG" >"$WORK/jq.out" 2>&1 ||
	    fail "the log does not satisfy: ${*: -1} ($(cat "$WORK/jq.out"))"
}
# one DATASET RID FILTER [JQ ARGS...]: exactly one line of DATASET
# (access, audit) for RID, and FILTER holds on it.
one() {
	local ds=$1 rid=$2 f=$3
	shift 3
	jqs --arg rid "$rid" "$@" "[.[] | select(.event.dataset == \"estrad.$ds\" and
	    .http.request.id == \$rid)] | length == 1 and (.[0] | $f)"
}

# ---- an event line.
jqs '[.[] | select(.event.dataset == "estrad.event" and .log.level == "info" and
    (.message | test("^listening on 127\\.0\\.0\\.1:[0-9]+$")))] | length == 1'

# ---- access lines.
one access "$rid_ok" '
    .http.request.method == "POST" and .url.path == "/.well-known/est/simpleenroll" and
    .http.response.status_code == 200 and (.http.response.body.bytes | type == "number" and . > 0) and
    (.http.request.body.bytes | type == "number" and . > 0) and
    (.event.duration | type == "number" and . > 0) and .event.outcome == "success" and
    .source.address == "127.0.0.1" and (.source.port | type == "number" and . > 0) and
    (.tls.version | IN("1.2", "1.3")) and .user.name == $user and
    .estrad.auth == "digest" and .estrad.op == "simpleenroll" and .estrad.label == "-" and
    .estrad.upstream.name == "ca" and .estrad.upstream.status_code == 200 and
    (.estrad.reason | type == "string") and (.message | startswith("POST /.well-known/est/simpleenroll 200"))' \
    --arg user "$EST_USER"
one access "$rid_401" '.http.response.status_code == 401 and .event.outcome == "failure" and
    (has("user") | not) and .estrad.auth == "-" and .estrad.upstream.status_code == null'
one access "$rid_403" '.http.response.status_code == 403 and .estrad.label == "p384" and
    (.estrad.rules | type == "array" and length >= 2 and all(type == "string")) and
    (.estrad.reason | startswith("policy "))'
one access "$rid_404" '.http.response.status_code == 404 and .http.request.method == "GET" and
    .url.path == "/.well-known/est/no-such-op" and .estrad.op == "-"'
one access "$rid_bare" '.http.response.status_code == 200 and .estrad.op == "cacerts" and
    .estrad.label == "-" and .http.request.body.bytes == 0'
# '"' '\' U+0001 kept (escaped by JSON), 0xff as U+FFFD.
one access "$rid_odd" '.http.response.status_code == 200 and .estrad.auth == "basic" and
    .user.name == "od\"d\\us\u0001er\ufffdx"'

# A client certificate: its subject as tls.client.subject, no user.
one access "$rid_cert" '.http.response.status_code == 200 and .estrad.auth == "cert" and
    .tls.client.subject == "CN=lab-client" and (has("user") | not)'

# ---- audit lines: the record as fields, joined by the request id.
one audit "$rid_ok" '(.estrad.audit | type == "object") and
    .estrad.audit.id == $rid and .estrad.audit.decision == "accepted" and
    .estrad.audit.status == 200 and (.estrad.audit.serial | type == "string") and
    (.message | startswith("audit: simpleenroll accepted"))'
# The odd user in the record: bytes that are not UTF-8 there are \xNN
# (log_quote's prose rule), as in the audit file, and the key is not lost.
one audit "$rid_odd" '.estrad.audit.identity == "od\"d\\us\\x01er\\xffx" and
    .estrad.audit.auth == "basic"'
jqs --arg rid "$rid_403" '
    [.[] | select(.http.request.id == $rid)] as $l |
    ($l | map(select(.event.dataset == "estrad.audit")) | .[0].estrad.audit) as $a |
    ($l | map(select(.event.dataset == "estrad.access")) | .[0].estrad) as $x |
    $a.decision == "refused" and $a.rules == $x.rules and $a.status == 403'

# ---- no password, nor the Basic credentials in base64.
for s in "$EST_PASS" "$ODD_PASS" "${WRONG#wrong\"}" \
    "$(printf '%s:%s' "$ODD_USER" "$ODD_PASS" | base64 -w0)"; do
	! grep -qaF -- "$s" "$XLOG" || fail "a secret is in $XLOG: $s"
done
pass
