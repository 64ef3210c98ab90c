#!/usr/bin/env bash
# Failover between the URLs of one upstream (docs/offline.md): "url":
# [URL1, URL2], two private CAs (the lab CA's config on ports of their
# own), failure_threshold 1, backoff_initial 6 (so a failed URL is left
# alone 3..6 s), backoff_max 12:
#  - URL1 down, URL2 up: cacerts 200 (the CA's bytes) and the log says
#    "upstream ca: URL1 is down after 1 failure in a row; next try in X s"
#    (2.9 <= X <= 6) and "upstream ca: trying URL2 after URL1 failed";
#  - at once, a Digest simpleenroll: 200 from URL2 without trying URL1
#    again (no new failure of URL1, no new "trying" line);
#  - URL1's CA back, URL2's stopped, within URL1's wait: cacerts 502
#    ("URL2 is down after 1 failure"), URL1 not tried (its CA sees
#    nothing);
#  - URL1's wait over: an enrollment tries it (half-open): 200 from URL1's
#    CA, "URL1 is up again".
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca1
url1=$FIXED_URL
fixed_prepare ca2
url2=$FIXED_URL
fixed_start ca2

P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 6, "backoff_max": 12' \
    proxy_config_urls "$WORK/proxy.json" "$url1" "$url2"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL

req ca GET "$url2/cacerts"
check_status 200

# ---- URL1 down
req c1 GET "$purl/cacerts"
check_status 200
t1=$(now_ms)
cmp -s "$WORK/ca.body" "$BODY" || fail "cacerts through the proxy differs from the CA's"
down_re="upstream ca: $url1 is down after 1 failure in a row; next try in "
grep -qF "$down_re" "$plog" || fail "no '${down_re}X s' line"
wait_s=$(grep -F "$down_re" "$plog" | head -n 1 | sed -n 's/.*next try in \([0-9.]*\) s.*/\1/p')
[ -n "$wait_s" ] || fail "no wait in '$(grep -F "$down_re" "$plog" | head -n 1)'"
awk -v w="$wait_s" 'BEGIN { exit !(w >= 2.9 && w <= 6.0) }' ||
    fail "URL1 left alone for $wait_s s; backoff_initial 6 with jitter gives 3..6"
grep -qF "upstream ca: trying $url2 after $url1 failed" "$plog" ||
    fail "no 'upstream ca: trying $url2 after $url1 failed'"
tries=$(grep -cF "upstream ca: trying " "$plog")
fails1=$(grep -cF "upstream ca: $url1:" "$plog")
[ "$tries" = 1 ] || fail "$tries 'trying' lines after one request"
[ "$fails1" -ge 1 ] || fail "no failure of $url1 logged ('upstream ca: $url1: ...')"

# ---- at once: URL1 is left alone
make_csr d1 /CN=failover-1
enroll_ok e1 "$purl/simpleenroll" "$WORK/d1.b64" d1 "$ISSUING_CERT"
elapsed=$(($(now_ms) - t1))
[ "$elapsed" -lt 2800 ] || note "the enrollment took until $elapsed ms after the failure (the check below may not mean much)"
[ "$(grep -cF "upstream ca: trying " "$plog")" = "$tries" ] ||
    fail "the second request tried URL1 again: $(grep -F 'upstream ca: trying' "$plog" | tail -n 1)"
[ "$(grep -cF "upstream ca: $url1:" "$plog")" = "$fails1" ] ||
    fail "the second request tried URL1 again: $(grep -F "upstream ca: $url1:" "$plog" | tail -n 1)"
[ "$(enroll_lines ca2)" = 1 ] || fail "URL2's CA issued $(enroll_lines ca2) certificates, expected 1"

# ---- URL1 back but still left alone, URL2 gone: nothing to try
fixed_start ca1
fixed_stop ca2
wait_ms=$(awk -v w="$wait_s" 'BEGIN { printf "%d", w * 1000 }')
if [ $(($(now_ms) - t1)) -lt $((wait_ms - 700)) ]; then
	req c2 GET "$purl/cacerts"
	check_error 502
	grep -qF "upstream ca: $url2 is down after 1 failure in a row; next try in " "$plog" ||
	    fail "no 'upstream ca: $url2 is down after 1 failure in a row'"
	grep -qF "upstream ca: trying $url1" "$plog" &&
	    fail "URL1 was tried during its wait: $(grep -F "upstream ca: trying $url1" "$plog")"
	[ "$(fixed_count ca1 ' access ')" = 0 ] ||
	    fail "URL1's CA was asked during URL1's wait: $(grep ' access ' "$FIXED_LOG")"
else
	note "too slow to check URL1 within its wait ($(($(now_ms) - t1)) ms of $wait_ms): skipped that part"
fi

# ---- URL1's wait over: its one trial succeeds, it is up again
left=$((t1 + wait_ms + 300 - $(now_ms)))
[ "$left" -gt 0 ] && sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
make_csr d2 /CN=failover-2
enroll_ok e2 "$purl/simpleenroll" "$WORK/d2.b64" d2 "$ISSUING_CERT"
grep -qF "upstream ca: $url1 is up again" "$plog" ||
    fail "no 'upstream ca: $url1 is up again'"
wait_grep 2 "$FIXED_LOG" ' access .*simpleenroll.*status=200' ||
    fail "URL1's CA logged no enrollment"
[ "$(enroll_lines ca1)" = 1 ] || fail "URL1's CA issued $(enroll_lines ca1) certificates, expected 1"
pass
