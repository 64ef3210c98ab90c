#!/usr/bin/env bash
# Request framing (RFC 9112; issue 14): requests an HTTP-aware intermediary
# could frame differently from estrad, sent byte for byte over TLS by
# tests/tools/raw_http.py. Each is refused with its status, a one-line
# text/plain reason, Connection: close and an access line, and the request
# smuggled in behind it (GET .../cacerts) is never answered:
#  - two different Content-Length values, Content-Length +3, a space before
#    the colon, obs-fold, a field name that is no token, HTTP/1.1 without
#    Host or with two, Transfer-Encoding with Content-Length, a coding other
#    than chunked (400, or 501 for gzip, chunked), a GET with a body;
#  - chunk size 0x3, chunk data longer than its size (400);
#  - Content-Length 10^18: 413 at once, not after the read timeout.
# Served: a chunked enrollment with chunk extensions (RFC 9112 §7.1.1: they
# are ignored) and a trailer, with a GET pipelined behind it; an enrollment
# whose two Content-Length fields agree (RFC 9112 §6.3 allows one length
# said twice). The admin listener (plain HTTP) refuses the same way.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

RAW=$(dirname "$0")/../tools/raw_http.py
command -v python3 >/dev/null || skip "no python3 (tools/install-deps)"
EST_BASE=${EST_URL%/.well-known/est}
P=/.well-known/est
SMUGGLED="GET $P/cacerts HTTP/1.1\r\nHost: x\r\n\r\n"
make_csr dev "/CN=framing-device"
CSR=$(cat "$WORK/dev.b64")
CSR_LEN=${#CSR}

# raw NAME BASE [CERT KEY]: send $WORK/NAME.req (written by the caller) as
# it is; the answer in $WORK/NAME.ans, raw_http.py's "closed|open MS" in
# RAW_STATE, RAW_MS.
raw() {
	local name=$1 base=$2 out
	shift 2
	out=$(python3 "$RAW" "$base" "$TRUST" "$WORK/$name.req" "$WORK/$name.ans" "$@" \
	    2>"$WORK/$name.err") || fail "$name: raw_http.py: $(cat "$WORK/$name.err")"
	RAW_STATE=${out% *}
	RAW_MS=${out#* }
}

# send NAME BASE FORMAT [CERT KEY]: printf FORMAT into NAME.req, then raw.
send() {
	local name=$1 base=$2 fmt=$3
	shift 3
	# shellcheck disable=SC2059
	printf "$fmt" >"$WORK/$name.req"
	raw "$name" "$base" "$@"
}

# answers NAME: how many responses NAME.ans holds.
answers() {
	grep -ac '^HTTP/1\.[01] [0-9][0-9][0-9] ' "$WORK/$1.ans" || true
}

# check_refused NAME STATUS REASON [LOG]: one answer, STATUS, the reason
# as its text/plain body, Connection: close, the connection closed, and
# an access line with the status and reason.
check_refused() {
	local name=$1 status=$2 reason=$3 log=${4:-$PROXY_LOG} ans=$WORK/$1.ans
	local head body n rid
	n=$(answers "$name")
	[ "$n" = 1 ] || fail "$name: $n answers, expected 1 (something behind it was served): $(head -c 600 "$ans")"
	head=$(sed -n '1,/^\r$/p' "$ans" | tr -d '\r')
	body=$(sed '1,/^\r$/d' "$ans")
	case $(printf '%s\n' "$head" | head -n 1) in
	"HTTP/1.1 $status "?*) ;;
	*) fail "$name: status line '$(printf '%s\n' "$head" | head -n 1)', expected $status" ;;
	esac
	printf '%s\n' "$head" | grep -qix 'Connection: close' || fail "$name: no Connection: close"
	printf '%s\n' "$head" | grep -qi '^Content-Type: text/plain' || fail "$name: not text/plain"
	[ "$body" = "$reason" ] || fail "$name: reason '$body', expected '$reason'"
	[ "$RAW_STATE" = closed ] || fail "$name: the connection stayed open"
	[ "$log" = none ] && return 0
	rid=$(printf '%s\n' "$head" | sed -n 's/^X-Request-Id: //Ip')
	[ -n "$rid" ] || fail "$name: no X-Request-Id"
	access_line_for "$rid" "$log"
	case $LINE in
	*" status=$status "*"reason=\"$reason\""*) ;;
	*) fail "$name: access line '$LINE'" ;;
	esac
}

cacerts_served() {
	grep -c " op=cacerts .*status=200" "$PROXY_LOG" || true
}

before=$(cacerts_served)
post="POST $P/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\n"
smuggled_len=$(printf "$SMUGGLED" | wc -c)

send two_lengths "$EST_BASE" "${post}Content-Length: 3\r\nContent-Length: $((3 + smuggled_len))\r\n\r\nabc$SMUGGLED"
check_refused two_lengths 400 "two different Content-Length values"

send plus_length "$EST_BASE" "${post}Content-Length: +3\r\n\r\nabc$SMUGGLED"
check_refused plus_length 400 "Content-Length is not a number"

send space_colon "$EST_BASE" "${post}Content-Length : $smuggled_len\r\n\r\n$SMUGGLED"
check_refused space_colon 400 "whitespace between a header field name and its colon (RFC 9112 §5.1)"

send obs_fold "$EST_BASE" "${post}Content-Length: 3\r\nX-Folded: a\r\n b\r\n\r\nabc$SMUGGLED"
check_refused obs_fold 400 "obsolete line folding in the header section (RFC 9112 §5.2)"

send bad_name "$EST_BASE" "GET $P/cacerts HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n$SMUGGLED"
check_refused bad_name 400 "malformed header field name"

send no_host "$EST_BASE" "GET $P/cacerts HTTP/1.1\r\nAccept: */*\r\n\r\n$SMUGGLED"
check_refused no_host 400 "HTTP/1.1 request without a Host header field (RFC 9112 §3.2)"

send two_hosts "$EST_BASE" "GET $P/cacerts HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n$SMUGGLED"
check_refused two_hosts 400 "more than one Host header field (RFC 9112 §3.2)"

send te_and_cl "$EST_BASE" "${post}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n$SMUGGLED"
check_refused te_and_cl 400 "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)"

send te_gzip "$EST_BASE" "${post}Transfer-Encoding: gzip\r\n\r\n$SMUGGLED"
check_refused te_gzip 400 "Transfer-Encoding does not end in chunked"

send te_list "$EST_BASE" "${post}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n$SMUGGLED"
check_refused te_list 501 "only the chunked transfer coding is supported"

send get_body "$EST_BASE" "GET $P/csrattrs HTTP/1.1\r\nHost: x\r\nContent-Length: $smuggled_len\r\n\r\n$SMUGGLED"
check_refused get_body 400 "a body with a method that takes none"

send chunk_0x "$EST_BASE" "${post}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n$SMUGGLED"
check_refused chunk_0x 400 "malformed chunk size line (RFC 9112 §7.1)"

send chunk_long "$EST_BASE" "${post}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n$SMUGGLED"
check_refused chunk_long 400 "chunk data longer than its size (RFC 9112 §7.1)"

# A length no one will send: 413 from the headers, at once.
send huge "$EST_BASE" "${post}Content-Length: 1000000000000000000\r\n\r\nabc"
check_refused huge 413 "body larger than $MAX_BODY_BYTES bytes"
[ "$RAW_MS" -lt 2000 ] || fail "huge: the 413 came after $RAW_MS ms"

after=$(cacerts_served)
[ "$after" = "$before" ] || fail "a smuggled cacerts request was served ($before -> $after)"

# ---- served: chunk extensions and a trailer, then a pipelined GET.
half=$((CSR_LEN / 2))
printf '%s' "$CSR" | head -c "$half" >"$WORK/part1"
printf '%s' "$CSR" | tail -c +$((half + 1)) >"$WORK/part2"
{
	printf "${post}Transfer-Encoding: chunked\r\n\r\n"
	printf '%x;name=value;flag\r\n' "$half"
	cat "$WORK/part1"
	printf '\r\n%x ; q="a;b\\"c"\r\n' "$((CSR_LEN - half))"
	cat "$WORK/part2"
	printf '\r\n0;last\r\nX-Trailer: dropped\r\n\r\n'
	printf "GET $P/cacerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
} >"$WORK/extensions.req"
raw extensions "$EST_BASE" "$CLIENT_CERT" "$CLIENT_KEY"
[ "$(answers extensions)" = 2 ] || fail "extensions: $(answers extensions) answers, expected 2: $(head -c 400 "$WORK/extensions.ans")"
mapfile -t lines < <(grep -a '^HTTP/1' "$WORK/extensions.ans" | tr -d '\r')
[ "${lines[0]:-}" = "HTTP/1.1 200 OK" ] || fail "extensions: enrollment answered '${lines[0]:-}': $(head -c 400 "$WORK/extensions.ans")"
[ "${lines[1]:-}" = "HTTP/1.1 200 OK" ] || fail "extensions: the GET behind it answered '${lines[1]:-}'"

# ---- served: one length said twice.
send same_length "$EST_BASE" "${post}Content-Length: $CSR_LEN\r\nContent-Length: $CSR_LEN\r\nConnection: close\r\n\r\n$CSR" \
    "$CLIENT_CERT" "$CLIENT_KEY"
head -n 1 "$WORK/same_length.ans" | grep -q '^HTTP/1.1 200 ' ||
    fail "same_length: $(head -c 400 "$WORK/same_length.ans")"

# ---- the admin listener: the same checks, over plain HTTP.
send admin_space "$ADMIN_URL" "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
check_refused admin_space 400 "whitespace between a header field name and its colon (RFC 9112 §5.1)" none
send admin_body "$ADMIN_URL" "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
check_refused admin_body 400 "a body with a method that takes none" none

check_proxy_healthy
pass
