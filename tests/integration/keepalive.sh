#!/usr/bin/env bash
# HTTP/1.1 keep-alive: several requests from one curl run share one
# connection (num_connects is 1, then 0), including after a POST (which
# takes two requests, a 401 Digest challenge and the authenticated retry,
# on the same connection).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

out=$(curl -sS --max-time 15 --cacert "$TRUST" -w '%{http_code} %{num_connects}\n' \
    -o /dev/null "$EST_URL/cacerts" -o /dev/null "$EST_URL/cacerts" \
    -o /dev/null "$EST_URL/east/cacerts" 2>"$WORK/curl.err") ||
    fail "curl: $(cat "$WORK/curl.err")"
echo "$out" >"$WORK/gets.out"
[ "$out" = $'200 1\n200 0\n200 0' ] ||
    fail "expected '200 1 / 200 0 / 200 0' (status, new connections), got: $(echo "$out" | tr '\n' '/')"

make_csr dev "/CN=keepalive-device"
out=$(curl -sS -v --max-time 15 --cacert "$TRUST" -w '%{http_code} %{num_connects}\n' \
    -o /dev/null -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/dev.b64" \
    "${DIGEST_AUTH[@]}" "$EST_URL/simpleenroll" \
    --next --cacert "$TRUST" -w '%{http_code} %{num_connects}\n' -o /dev/null \
    "$EST_URL/cacerts" 2>"$WORK/curl2.err") || fail "curl: $(tail -n 3 "$WORK/curl2.err")"
[ "$out" = $'200 1\n200 0' ] ||
    fail "POST then GET: expected '200 1 / 200 0', got: $(echo "$out" | tr '\n' '/')"
grep -q 'Re-using existing connection' "$WORK/curl2.err" ||
    fail "curl -v does not report re-using the connection"

# An error answer keeps the connection too.
out=$(curl -sS --max-time 15 --cacert "$TRUST" -w '%{http_code} %{num_connects}\n' \
    -o /dev/null "$EST_URL/nosuchop" -o /dev/null "$EST_URL/cacerts" 2>"$WORK/curl3.err") ||
    fail "curl: $(cat "$WORK/curl3.err")"
[ "$out" = $'404 1\n200 0' ] ||
    fail "404 then GET: expected '404 1 / 200 0', got: $(echo "$out" | tr '\n' '/')"
pass
