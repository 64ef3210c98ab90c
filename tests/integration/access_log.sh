#!/usr/bin/env bash
# The access line (README "Running estrad"), on the lab proxy:
#  - each request writes exactly one line,
#      access id= peer=127.0.0.1:PORT transport=https method= path= label= op= auth= user=
#      status= upstream= bytes= ms= reason="..."
#    whose id is the X-Request-Id answered, whose peer port is the client's;
#  - a forwarded cacerts: upstream=200 and bytes= the body the client got;
#    with a label: label=east;
#  - a 415 (refused before the CA is asked): upstream=- and the reason is
#    the one-line error body;
#  - requests that needed no authentication (cacerts) or were refused
#    before it (415, 404) have auth=- user=- (the authenticated forms are
#    in digest_ok, cert_auth and basic_auth);
#  - a request target with a double quote, a backslash, control bytes, DEL
#    and a non-ASCII byte is logged with each of them as '?', so the line
#    stays one printable line with balanced quotes; %-escapes are logged as
#    sent, never decoded.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ID_RE='[0-9a-f]{8}-[0-9a-f]{6}'
TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
log_start=$(($(wc -l <"$PROXY_LOG") + 1))	# this case's part of the log

# call NAME METHOD URL [curl args]: like req, also sets LPORT (curl's local
# port, the proxy's "peer") and RID (the X-Request-Id answered).
call() {
	local name=$1 method=$2 url=$3 w
	shift 3
	BODY=$WORK/$name.body
	HDR=$WORK/$name.hdr
	w=$(curl -sS -g --max-time "$T_CURL_TIMEOUT" --cacert "$TRUST" \
	    -X "$method" -D "$HDR" -o "$BODY" -w '%{http_code} %{local_port}' \
	    "$@" "$url" 2>"$WORK/$name.err")
	STATUS=${w% *} LPORT=${w#* }
	[ -n "$STATUS" ] || STATUS=000
	RID=$(header X-Request-Id)
	echo "$RID" | grep -qxE "$ID_RE" || fail "$name: X-Request-Id '$RID' is not $ID_RE"
}

# access_line ID: the one access line of request ID (fails unless exactly
# one line of the lab proxy's log names it); sets LINE.
access_line() {
	local n
	wait_grep 2 "$PROXY_LOG" " access id=$1 " ||
	    fail "no access line with id=$1 in $PROXY_LOG"
	n=$(grep -c -- "id=$1 " "$PROXY_LOG")
	[ "$n" = 1 ] || fail "$n lines name id=$1, expected 1: $(grep -- "id=$1 " "$PROXY_LOG")"
	LINE=$(grep -- " access id=$1 " "$PROXY_LOG")
}

# expect_line REGEX: LINE matches the whole extended REGEX.
expect_line() {
	printf '%s\n' "$LINE" | grep -qxE -- "$1" ||
	    fail "access line '$LINE' does not match '$1'"
}

# ---- a forwarded GET: upstream=200, bytes = the body received.
call get GET "$EST_URL/cacerts"
check_status 200
size=$(stat -c %s "$BODY")
[ "$size" -gt 0 ] || fail "cacerts: empty body"
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:$LPORT transport=https method=GET path=/\.well-known/est/cacerts label=- op=cacerts auth=- user=- status=200 upstream=200 bytes=$size ms=[0-9]+\.[0-9] reason=\"upstream ca answered 200\""

# ---- the same through a label.
call east GET "$EST_URL/east/cacerts"
check_status 200
size=$(stat -c %s "$BODY")
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:$LPORT transport=https method=GET path=/\.well-known/est/east/cacerts label=east op=cacerts auth=- user=- status=200 upstream=200 bytes=$size ms=[0-9]+\.[0-9] reason=\"upstream ca answered 200\""

# ---- a POST refused with 415: the CA was not asked.
make_csr dev "/CN=access-log"
call bad POST "$EST_URL/simpleenroll" -H 'Content-Type: text/plain' \
    --data-binary "@$WORK/dev.b64"
check_error 415 "application/pkcs10"
size=$(stat -c %s "$BODY")
reason=$(tr -d '\r\n' <"$BODY")
[ "$reason" = "simpleenroll needs Content-Type application/pkcs10" ] ||
    fail "415 body '$reason'"
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:$LPORT transport=https method=POST path=/\.well-known/est/simpleenroll label=- op=simpleenroll auth=- user=- status=415 upstream=- bytes=$size ms=[0-9]+\.[0-9] reason=\"$reason\""

# ---- %-escapes are logged as sent, not decoded into a quote or a newline.
call pct GET "$EST_URL/%22x%0a/cacerts" --path-as-is
check_error 404 "bad CA label"
size=$(stat -c %s "$BODY")
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:$LPORT transport=https method=GET path=/\.well-known/est/%22x%0a/cacerts label=- op=- auth=- user=- status=404 upstream=- bytes=$size ms=[0-9]+\.[0-9] reason=\"bad CA label in path\""

# ---- raw odd bytes in the target (curl would not send them): a quote,
# SOH, TAB, ESC, a backslash, DEL, 0xff.
printf 'GET /.well-known/est/"x\001y\tz\033w\\v\177\377/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >"$WORK/raw.req"
timeout 5 openssl s_client -connect "127.0.0.1:$PROXY_PORT" -CAfile "$TRUST" \
    -verify_return_error -quiet <"$WORK/raw.req" >"$WORK/raw.out" 2>"$WORK/raw.err"
status=$(head -n 1 "$WORK/raw.out" | tr -d '\r')
[ "$status" = "HTTP/1.1 404 Not Found" ] ||
    fail "raw request: status line '$status' (s_client: $(head -c 300 "$WORK/raw.err"))"
RID=$(header X-Request-Id "$WORK/raw.out")
echo "$RID" | grep -qxE "$ID_RE" || fail "raw request: X-Request-Id '$RID'"
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:[0-9]+ transport=https method=GET path=/\.well-known/est/\\\\x22x\\\\x01y\\\\x09z\\\\x1bw\\\\x5cv\\\\x7f\\\\xff/cacerts label=- op=- auth=- user=- status=404 upstream=- bytes=[0-9]+ ms=[0-9]+\.[0-9] reason=\"bad CA label in path\""
# Whatever the exact form: the line is printable ASCII with two quotes.
bad=$(grep -- " access id=$RID " "$PROXY_LOG" | LC_ALL=C grep -c '[^ -~]')
[ "$bad" = 0 ] || fail "the access line holds bytes outside printable ASCII"
quotes=$(printf '%s' "$LINE" | tr -cd '"' | wc -c)
[ "$quotes" = 2 ] || fail "the access line has $quotes double quotes, expected 2: $LINE"
# The log is still whole lines: all this case added are log lines.
tail -n +"$log_start" "$PROXY_LOG" >"$WORK/ours.log"
bad=$(LC_ALL=C grep -avcE "^$TS_RE (error|warn|info|debug) " "$WORK/ours.log")
[ "$bad" = 0 ] || fail "$bad lines of $PROXY_LOG are not log lines: $(LC_ALL=C grep -avE "^$TS_RE (error|warn|info|debug) " "$WORK/ours.log" | head -n 3 | cat -A)"

# ---- a target longer than the field: cut, and the cut says so with "...",
# never in the middle of an escape.
long=$(printf 'a%.0s' $(seq 1 200))
call long GET "$EST_URL/$long/cacerts"
check_error 404 "bad CA label"
access_line "$RID"
expect_line "$TS_RE info access id=$RID peer=127\.0\.0\.1:$LPORT transport=https method=GET path=/\.well-known/est/a+\.\.\. label=- op=- auth=- user=- status=404 upstream=- bytes=[0-9]+ ms=[0-9]+\.[0-9] reason=\"bad CA label in path\""

check_proxy_healthy
pass
