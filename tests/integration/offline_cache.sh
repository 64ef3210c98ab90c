#!/usr/bin/env bash
# The cacerts/csrattrs cache (docs/offline.md) with a private CA that goes
# away: a proxy with state_dir and "cache": {"ttl": 2, "max_stale": 3600}
#  - CA up: cacerts and csrattrs 200, byte for byte the CA's; the next
#    cacerts comes with an Age header;
#  - CA stopped: cacerts and csrattrs 200, the same bytes, with Age;
#  - past the TTL: still 200, the same bytes, Age above the TTL, and the
#    log says "cache: label (default) cacerts: refresh failed (...)";
#  - proxy B ("ttl": 1, "max_stale": 3): a copy with Age <= 3 while the
#    CA is down, then 502;
#  - the proxy restarted while the CA is still down: cacerts and csrattrs
#    200, the same bytes, with an Age no younger than before (the copy
#    from state_dir);
#  - csrattrs made from a policy ("csrattrs": "policy") are not cached:
#    no Age header.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ttl=2
fixed_prepare ca
fixed_start ca
ca_url=$FIXED_URL

P_URL=$ca_url P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_LABELS='"pol": { "upstream": "ca", "policy": "p", "csrattrs": "policy" }' \
    P_TOP_EXTRA="\"policies\": { \"p\": { \"signature_hashes\": [\"SHA256\"] } }, $(offline_top "$WORK/state" "\"ttl\": $ttl, \"max_stale\": 3600")" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID
# Proxy B: a copy is served up to max(ttl, max_stale) = 3 s, no longer.
P_URL=$ca_url P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/stateb" '"ttl": 1, "max_stale": 3') \
    proxy_config "$WORK/proxyb.json"
start_estrad proxyb "$WORK/proxyb.json"
burl=$XURL

# The CA's own answers.
req ca_cacerts GET "$ca_url/cacerts"
check_status 200
req ca_csrattrs GET "$ca_url/csrattrs"
check_status 200
[ -s "$WORK/ca_csrattrs.body" ] || fail "the CA's csrattrs is empty"
ca_ct=$(header Content-Type)

# ---- CA up
req up1 GET "$purl/cacerts"
check_status 200
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "cacerts through the proxy differs from the CA's"
req up_attrs GET "$purl/csrattrs"
check_status 200
cmp -s "$WORK/ca_csrattrs.body" "$BODY" || fail "csrattrs through the proxy differs from the CA's"
check_header Content-Type "$ca_ct"
req up2 GET "$purl/cacerts"
check_status 200
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "the second cacerts differs from the CA's"
has_header Age || fail "the second cacerts (cached) has no Age header"
[[ $(header Age) =~ ^[0-9]+$ ]] || fail "Age '$(header Age)' is not a number of seconds"
# A cached copy names its encoding as the CA's answer did (docs/interop.md).
check_header Content-Transfer-Encoding base64

req b_up GET "$burl/cacerts"
check_status 200
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "cacerts through proxy B differs from the CA's"

# ---- CA down
fixed_stop ca
# Proxy B: 200 with Age <= 3, then 502 once its copy is older than 3 s.
b200=0
deadline=$(($(date +%s) + 8))
while [ "$(date +%s)" -le "$deadline" ]; do
	req b_down GET "$burl/cacerts"
	[ "$STATUS" = 200 ] || break
	b200=$((b200 + 1))
	has_header Age || fail "proxy B: cacerts from the cache without an Age header"
	[ "$(header Age)" -le 3 ] || fail "proxy B served a copy $(header Age) s old (max_stale 3, ttl 1)"
	sleep 0.3
done
check_error 502
[ "$b200" -ge 1 ] || fail "proxy B served no copy once the CA was down"
req down1 GET "$purl/cacerts"
check_status 200
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "cacerts with the CA down differs from the CA's"
check_framing
has_header Age || fail "cacerts from the cache without an Age header"
[[ $(header Age) =~ ^[0-9]+$ ]] || fail "Age '$(header Age)' is not a number of seconds"
req down_attrs GET "$purl/csrattrs"
check_status 200
cmp -s "$WORK/ca_csrattrs.body" "$BODY" || fail "csrattrs with the CA down differs from the CA's"
has_header Age || fail "csrattrs from the cache without an Age header"

# ---- past the TTL: stale, still served
age=0
deadline=$(($(date +%s) + 10))
while [ "$(date +%s)" -le "$deadline" ]; do
	req stale GET "$purl/cacerts"
	check_status 200
	age=$(header Age)
	[[ $age =~ ^[0-9]+$ ]] || fail "Age '$age' is not a number of seconds"
	[ "$age" -gt "$ttl" ] && break
	sleep 0.3
done
[ "$age" -gt "$ttl" ] || fail "Age still $age after 10 s (ttl $ttl)"
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "the stale cacerts differs from the CA's"
wait_grep 5 "$plog" 'cache: label (default) cacerts: refresh failed (' ||
    fail "no 'cache: label (default) cacerts: refresh failed (...)' in the proxy log"
note "stale copy served, Age $age"

# ---- restarted with the CA still down: the copy from state_dir
stop_pid "$ppid"
start_estrad proxy2 "$WORK/proxy.json"
purl=$XURL
req again GET "$purl/cacerts"
check_status 200
cmp -s "$WORK/ca_cacerts.body" "$BODY" || fail "cacerts after the restart differs from the CA's"
has_header Age || fail "cacerts after the restart without an Age header"
age2=$(header Age)
[[ $age2 =~ ^[0-9]+$ ]] || fail "Age '$age2' is not a number of seconds"
[ "$age2" -ge "$age" ] || fail "Age after the restart is $age2, less than before ($age): not the stored copy"
req again_attrs GET "$purl/csrattrs"
check_status 200
cmp -s "$WORK/ca_csrattrs.body" "$BODY" || fail "csrattrs after the restart differs from the CA's"
has_header Age || fail "csrattrs after the restart without an Age header"

# ---- csrattrs from a policy: made here, not cached
req pol GET "$purl/pol/csrattrs"
case $STATUS in 200 | 204) ;; *) check_status 200 ;; esac
has_header Age && fail "csrattrs from a policy came with Age: $(header Age)"
req pol2 GET "$purl/pol/csrattrs"
case $STATUS in 200 | 204) ;; *) check_status 200 ;; esac
has_header Age && fail "csrattrs from a policy (again) came with Age: $(header Age)"
pass
