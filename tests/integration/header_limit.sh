#!/usr/bin/env bash
# limits.max_header_bytes: a request whose headers are larger is refused
# before it is routed (400, libevent's own answer, and the connection is
# closed); one just under the limit is served. limits.max_headers (100 by
# default, as at the lab proxy): 120 small header fields, well under the
# byte limit, get 431 with a one-line reason and Connection: close; 90
# are served. The daemon stays healthy.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

big=$(head -c 9000 /dev/zero | tr '\0' a)	# the lab's limit is 8192
req big GET "$EST_URL/cacerts" -H "X-Padding: $big"
check_status 400
grep -qi '^Connection: close' "$HDR" || fail "the connection was not closed after the 400"

small=$(head -c 6000 /dev/zero | tr '\0' a)
req small GET "$EST_URL/cacerts" -H "X-Padding: $small"
check_status 200
# headers N: curl arguments for N small header fields.
headers() {
	local i
	HARGS=()
	for ((i = 0; i < $1; i++)); do
		HARGS+=(-H "X-Field-$i: v")
	done
}
headers 120
req many GET "$EST_URL/cacerts" "${HARGS[@]}"
check_error 431 '123 header fields; the limit is 100'
grep -qi '^Connection: close' "$HDR" || fail "the connection was not closed after the 431"
head -n 1 "$HDR" | grep -q '431 Request Header Fields Too Large' ||
    fail "status line: $(head -n 1 "$HDR")"
check_access status=431

headers 90
req fewer GET "$EST_URL/cacerts" "${HARGS[@]}"
check_status 200

check_proxy_healthy
pass
