#!/usr/bin/env bash
# limits.max_header_bytes: a request whose headers are larger is refused
# before it is routed (400, libevent's own answer, and the connection is
# closed); one just under the limit is served; the daemon stays healthy.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

big=$(head -c 9000 /dev/zero | tr '\0' a)	# the lab's limit is 8192
req big GET "$EST_URL/cacerts" -H "X-Padding: $big"
check_status 400
grep -qi '^Connection: close' "$HDR" || fail "the connection was not closed after the 400"

small=$(head -c 6000 /dev/zero | tr '\0' a)
req small GET "$EST_URL/cacerts" -H "X-Padding: $small"
check_status 200
check_proxy_healthy
pass
