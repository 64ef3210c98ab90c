#!/usr/bin/env bash
# HEAD on an EST path: 405 with Allow and a Content-Length (the size of the
# error body a GET would get), but no body (RFC 9110 §9.3.2), so the next
# response on the same keep-alive connection is read correctly:
#  - curl -I, then a GET and another HEAD on one connection;
#  - raw, pipelined on one TLS connection: HEAD cacerts, GET cacerts, HEAD
#    simpleenroll; the bytes after each HEAD response's headers are the
#    next status line.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- curl.
out=$(curl -sS --max-time 15 --cacert "$TRUST" -w '%{http_code} %{num_connects} %{size_download}\n' \
    -I -o "$WORK/h1.hdr" "$EST_URL/cacerts" \
    --next --cacert "$TRUST" -w '%{http_code} %{num_connects} %{size_download}\n' \
    -o "$WORK/get.body" "$EST_URL/cacerts" \
    --next --cacert "$TRUST" -w '%{http_code} %{num_connects} %{size_download}\n' \
    -I -o "$WORK/h2.hdr" "$EST_URL/east/cacerts" 2>"$WORK/curl.err") ||
    fail "curl: $(cat "$WORK/curl.err")"
size=$(stat -c %s "$WORK/get.body")
[ "$out" = $'405 1 0\n200 0 '"$size"$'\n405 0 0' ] ||
    fail "HEAD, GET, HEAD on one connection: expected '405 1 0 / 200 0 $size / 405 0 0', got: $(echo "$out" | tr '\n' '/')"
HDR=$WORK/h1.hdr
check_header Allow GET
check_header Content-Type text/plain
cl=$(header Content-Length)
[ "$cl" = 18 ] || fail "HEAD cacerts: Content-Length '$cl', expected 18 ('cacerts needs GET' and a newline)"

# ---- raw and pipelined: nothing between a HEAD's headers and the next
# status line.
host="Host: 127.0.0.1:$PROXY_PORT"
printf 'HEAD /.well-known/est/cacerts HTTP/1.1\r\n%s\r\n\r\nGET /.well-known/est/cacerts HTTP/1.1\r\n%s\r\n\r\nHEAD /.well-known/est/simpleenroll HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n' \
    "$host" "$host" "$host" >"$WORK/raw.req"
timeout 10 openssl s_client -connect "127.0.0.1:$PROXY_PORT" -servername localhost \
    -CAfile "$TRUST" -verify_return_error -quiet -ign_eof <"$WORK/raw.req" \
    >"$WORK/raw.out" 2>"$WORK/raw.err"
tr -d '\r' <"$WORK/raw.out" >"$WORK/raw.txt"
grep '^HTTP/' "$WORK/raw.txt" >"$WORK/walk"
want=$'HTTP/1.1 405 Method Not Allowed\nHTTP/1.1 200 OK\nHTTP/1.1 405 Method Not Allowed'
[ "$(cat "$WORK/walk")" = "$want" ] ||
    fail "pipelined HEAD, GET, HEAD: status lines '$(tr '\n' '/' <"$WORK/walk")' (see $WORK/raw.out)"
# Right after the first HEAD's headers comes the GET's status line, and
# the last HEAD's headers end the stream.
next=$(awk '$0 == "" { getline; print; exit }' "$WORK/raw.txt")
[ "$next" = "HTTP/1.1 200 OK" ] ||
    fail "after the first HEAD's headers: '$next', expected the GET's status line"
[ "$(tail -n 1 "$WORK/raw.txt")" = "" ] ||
    fail "bytes after the last HEAD's headers: '$(tail -n 1 "$WORK/raw.txt")'"
n=$(grep -c '^Content-Length: 18$' "$WORK/raw.txt")
[ "$n" = 1 ] || fail "HEAD cacerts in the raw stream: $n 'Content-Length: 18' lines"
grep -q '^Allow: POST$' "$WORK/raw.txt" || fail "HEAD simpleenroll: no 'Allow: POST'"
# The only body in the stream is the GET's (cacerts is base64, no
# 'needs GET' text anywhere).
grep -q 'needs' "$WORK/raw.txt" && fail "a HEAD answer carried its error body"
check_proxy_healthy
pass
