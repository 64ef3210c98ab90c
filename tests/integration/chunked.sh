#!/usr/bin/env bash
# A request body framed with Transfer-Encoding: chunked enrolls (RFC 8951
# interop: Go clients send chunked bodies); the answer is not chunked.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# sent_header TRACE NAME: the request headers in curl's trace hold NAME.
sent_header() {
	awk -v h="$2" '
	    /^=> Send header/ { s = 1; next }
	    /^(<=|=>) / { s = 0 }
	    s && tolower($0) ~ tolower("^[0-9a-f]+: " h) { found = 1 }
	    END { exit !found }' "$1"
}

make_csr dev "/CN=chunked-device"
base64 "$WORK/dev.der" >"$WORK/dev.wrapped"
enroll_ok chunked "$EST_URL/simpleenroll" "$WORK/dev.wrapped" dev "$ISSUING_CERT" \
    -H 'Transfer-Encoding: chunked' --trace-ascii "$WORK/chunked.trace"
check_framing
sent_header "$WORK/chunked.trace" 'Transfer-Encoding: chunked' ||
    fail "curl did not send a chunked body (see $WORK/chunked.trace)"
sent_header "$WORK/chunked.trace" 'Content-Length' &&
    fail "curl sent a Content-Length too: not a chunked-only request"

# The same through a label served by the upstream.
enroll_ok chunked_east "$EST_URL/east/simpleenroll" "$WORK/dev.wrapped" dev "$BRANCH_CERT" \
    -H 'Transfer-Encoding: chunked'
pass
