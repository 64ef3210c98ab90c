#!/usr/bin/env bash
# The admin listener (issue 6), on proxies of this case's own, so every
# count starts at zero:
#  - "admin": {"listen": "127.0.0.1:0"} logs "admin listening on
#    127.0.0.1:PORT", a port of its own;
#  - /healthz 200 "ok", HEAD with GET's Content-Length, /readyz 200
#    "ready", 404 for any other path, 405 (Allow: GET, HEAD) for POST;
#  - /metrics: "text/plain; version=0.0.4; charset=utf-8", passes
#    `promtool check metrics` (exit 0, nothing printed), no password in
#    it; after a cacerts 200, a Digest enrollment 200, 401s (no
#    credentials, a wrong password), a policy refusal (RSA 1024) and a 404
#    through the EST port it counts exactly those requests, the auth
#    challenges (a plain enrollment: one, and no failure) apart from the
#    auth failures by method, the refusal by rule, the upstream transfers, the
#    latency histograms (cumulative buckets up to +Inf, _sum, _count),
#    TLS handshakes and a failed one, an open connection while one is
#    held open, the queue's entries by state, Prometheus's process_*
#    metrics (start time, descriptor limit and count as /proc/PID says),
#    and config reloads (ok, then error) under Prometheus's names
#    (..._last_reload_successful, ..._success_timestamp_seconds);
#  - the admin listener over TLS (admin.certificate/key);
#  - /readyz 503 "not ready: ..." on a proxy whose only upstream URL is
#    dead (its breaker open) and that has no queue, with that URL's
#    estrad_upstream_up at 0 and an "unreachable" upstream error;
#  - cacerts under three labels that are not configured (zz1, zz2, zz3):
#    404, and no series with those labels, but
#    estrad_requests_total{op="cacerts",label="unknown",status="404"} 3.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null ||
    skip "no promtool (Debian package prometheus, in tools/install-deps)"

# scrape NAME BASE: GET BASE/metrics into $WORK/NAME.body (sets what req
# sets); 200, the exposition's media type, promtool finds nothing wrong.
scrape() {
	local out
	req "$1" GET "$2/metrics"
	check_status 200
	check_header Content-Type 'text/plain; version=0.0.4; charset=utf-8'
	out=$(promtool check metrics <"$BODY" 2>&1) ||
	    fail "$1: promtool check metrics: $out"
	[ -z "$out" ] || fail "$1: promtool check metrics printed: $out"
	SCRAPE=$BODY
}

# metric SAMPLE: the value of the sample line "SAMPLE VALUE" of the last
# scrape (name and labels exactly as written); empty when there is none.
metric() {
	awk -v k="$1" '$1 == k { print $2 }' "$SCRAPE"
}

# check_metric SAMPLE VALUE
check_metric() {
	local v
	v=$(metric "$1")
	[ "$v" = "$2" ] ||
	    fail "$(basename "$SCRAPE" .body): $1 is '${v:-absent}', expected $2: $(grep -F "${1%%\{*}" "$SCRAPE" | grep -v '^#' | head -n 20)"
}

# check_metric_ge SAMPLE MIN
check_metric_ge() {
	local v
	v=$(metric "$1")
	if [ -z "$v" ] || [ "${v%.*}" -lt "$2" ]; then
		fail "$(basename "$SCRAPE" .body): $1 is '${v:-absent}', expected at least $2"
	fi
}

# ---------------------------------------------------------------- a proxy

P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
PROXY=$XPID
URL=$XURL
admin_port "$XLOG"
[ "$APORT" != "$XPORT" ] || fail "the admin listener shares the EST port $XPORT"
ADMIN=http://127.0.0.1:$APORT

# ---- health, readiness, paths and methods
req healthz GET "$ADMIN/healthz"
check_status 200
check_header Content-Type 'text/plain; charset=utf-8'
check_body ok
check_framing
req healthz_head HEAD "$ADMIN/healthz" -I
check_status 200
check_header Content-Length 3
req readyz GET "$ADMIN/readyz"
check_status 200
check_body ready
req other GET "$ADMIN/.well-known/est/cacerts"
check_error 404 "/healthz, /readyz and /metrics"
req post POST "$ADMIN/metrics"
check_error 405 "GET or HEAD"
check_header Allow 'GET, HEAD'

# ---- traffic through the EST port
req cacerts GET "$URL/cacerts"
check_status 200
# The bare path: label=- in the access line, as in the metrics below.
check_access "label=- op=cacerts" "$XLOG"
make_csr dev "/CN=admin-metrics-device"
enroll_ok enroll "$URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
# A plain Digest enrollment: one challenge (its first leg), no failure.
scrape m0 "$ADMIN"
check_metric estrad_auth_challenges_total 1
for m in digest basic cert none; do
	check_metric "estrad_auth_failures_total{method=\"$m\"}" 0
done
T_AUTH=none post_csr noauth "$URL/simpleenroll" "$WORK/dev.b64"
check_status 401
T_AUTH=none post_csr badpass "$URL/simpleenroll" "$WORK/dev.b64" \
    --digest -u "$EST_USER:not-the-password"
check_status 401
make_csr_key rsa1k rsa:1024 "/CN=small-rsa-device"
post_csr refused "$URL/simpleenroll" "$WORK/rsa1k.b64"
check_error 403 "policy key.rsa_min_bits"
req notfound GET "${URL%/.well-known/est}/nothing-here"
check_status 404
# A handshake the server refuses: no suite in common.
timeout 10 openssl s_client -connect "127.0.0.1:$XPORT" -tls1_2 \
    -cipher AES128-SHA </dev/null >"$WORK/badtls.out" 2>&1 &&
    fail "a TLS 1.2 handshake with AES128-SHA only succeeded"
# A connection held open during the scrape.
mkfifo "$WORK/hold"
timeout 20 openssl s_client -connect "127.0.0.1:$XPORT" -CAfile "$TRUST" \
    -quiet <"$WORK/hold" >"$WORK/hold.out" 2>&1 &
HOLD=$!
T_PIDS+=("$HOLD")
exec 7>"$WORK/hold"
wait_grep 5 "$WORK/hold.out" 'verify return:1\|depth=0' ||
    fail "the held connection did not complete its handshake: $(head -c 300 "$WORK/hold.out")"
sleep 0.3

scrape m1 "$ADMIN"
grep -qF -- "$EST_PASS" "$SCRAPE" && fail "the Digest password is in /metrics"
check_metric "estrad_build_info{version=\"$("$ESTRAD_BIN" --version | awk '{ print $2 }')\"}" 1
check_metric_ge estrad_start_time_seconds $(($(date +%s) - 120))
check_metric 'estrad_requests_total{op="cacerts",label="-",status="200"}' 1
check_metric 'estrad_requests_total{op="simpleenroll",label="-",status="200"}' 1
# 401s: the first leg of each Digest exchange (the enrollment, the wrong
# password, the refused CSR), the credential-less POST, the wrong password.
check_metric 'estrad_requests_total{op="simpleenroll",label="-",status="401"}' 5
check_metric 'estrad_requests_total{op="simpleenroll",label="-",status="403"}' 1
n404=$(grep -E '^estrad_requests_total\{.*status="404"\} ' "$SCRAPE" | awk '{ s += $2 } END { print s + 0 }')
[ "$n404" = 1 ] || fail "m1: $n404 requests counted with status 404, expected 1: $(grep 'status="404"' "$SCRAPE")"
# Challenges: the first leg of the three Digest exchanges and the
# credential-less POST; the one failure is the wrong password.
check_metric estrad_auth_challenges_total 4
check_metric 'estrad_auth_failures_total{method="none"}' 0
check_metric 'estrad_auth_failures_total{method="digest"}' 1
check_metric 'estrad_auth_failures_total{method="basic"}' 0
check_metric 'estrad_auth_failures_total{method="cert"}' 0
check_metric 'estrad_policy_refusals_total{rule="key.rsa_min_bits"}' 1
# Histograms: cumulative, ending in +Inf = _count.
H=estrad_request_duration_seconds
check_metric "${H}_count{op=\"simpleenroll\"}" 7
check_metric "${H}_bucket{op=\"simpleenroll\",le=\"+Inf\"}" 7
check_metric "${H}_count{op=\"cacerts\"}" 1
prev=0
for le in 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf; do
	v=$(metric "${H}_bucket{op=\"simpleenroll\",le=\"$le\"}")
	[ -n "$v" ] || fail "m1: no ${H}_bucket le=$le for simpleenroll"
	[ "$v" -ge "$prev" ] || fail "m1: ${H}_bucket le=$le is $v, below the previous $prev"
	prev=$v
done
[ -n "$(metric "${H}_sum{op=\"simpleenroll\"}")" ] || fail "m1: no ${H}_sum for simpleenroll"
# Two transfers reached the CA: cacerts and the enrollment.
check_metric 'estrad_upstream_duration_seconds_count{upstream="ca"}' 2
check_metric 'estrad_upstream_duration_seconds_bucket{upstream="ca",le="+Inf"}' 2
grep -q '^estrad_upstream_errors_total{' "$SCRAPE" &&
    fail "m1: upstream errors: $(grep '^estrad_upstream_errors_total{' "$SCRAPE")"
check_metric "estrad_upstream_up{upstream=\"ca\",url=\"$CA_URL\"}" 1
check_metric "estrad_upstream_up{upstream=\"lab\",url=\"$CA_URL\"}" 1
check_metric estrad_open_connections 1
check_metric_ge estrad_tls_handshakes_total 7
check_metric estrad_tls_handshake_failures_total 1
check_metric 'estrad_config_reloads_total{result="ok"}' 0
check_metric estrad_config_last_reload_success 1
check_metric estrad_config_last_reload_successful 1
# The start-up load is the last successful one.
check_metric estrad_config_last_reload_success_timestamp_seconds \
    "$(metric estrad_start_time_seconds)"
# No queue here: every state counted, at 0; purged entries are not kept.
for s in pending polling issued refused delivered expired; do
	check_metric "estrad_queue_entries{state=\"$s\"}" 0
done
[ "$(grep -c '^estrad_queue_entries' "$SCRAPE")" = 6 ] ||
    fail "m1: $(grep '^estrad_queue_entries' "$SCRAPE")"
# Prometheus's process metrics, as the kernel sees the daemon.
check_metric process_start_time_seconds "$(metric estrad_start_time_seconds)"
check_metric process_max_fds "$(awk '/^Max open files/ { print $4 }' "/proc/$PROXY/limits")"
check_metric_ge process_resident_memory_bytes 1000000
check_metric_ge process_cpu_seconds_total 0
nfd=$(metric process_open_fds)
kfd=$(find "/proc/$PROXY/fd" -mindepth 1 | wc -l)
# The scrape's own connection was open then: one more, or so.
[ -n "$nfd" ] && [ "$nfd" -ge $((kfd - 1)) ] && [ "$nfd" -le $((kfd + 2)) ] ||
    fail "m1: process_open_fds is '${nfd:-absent}', /proc/$PROXY/fd has $kfd"

# The held connection closes: none is open.
exec 7>&-
stop_pid "$HOLD"
for ((i = 0; i < 30; i++)); do
	scrape m2 "$ADMIN"
	[ "$(metric estrad_open_connections)" = 0 ] && break
	sleep 0.1
done
check_metric estrad_open_connections 0

# ---- reloads: the same file (ok), then a broken one (error)
t_hup=$(date +%s)
kill -HUP "$PROXY"
wait_grep 5 "$XLOG" 'reload' || fail "no reload line after SIGHUP"
for ((i = 0; i < 30; i++)); do
	scrape m3 "$ADMIN"
	[ "$(metric 'estrad_config_reloads_total{result="ok"}')" = 1 ] && break
	sleep 0.1
done
check_metric 'estrad_config_reloads_total{result="ok"}' 1
check_metric 'estrad_config_reloads_total{result="error"}' 0
check_metric estrad_config_last_reload_success 1
check_metric estrad_config_last_reload_successful 1
check_metric_ge estrad_config_last_reload_success_timestamp_seconds "$t_hup"
t_ok=$(metric estrad_config_last_reload_success_timestamp_seconds)
cp "$WORK/proxy.json" "$WORK/proxy.json.good"
echo '{ "broken": ' >"$WORK/proxy.json"
kill -HUP "$PROXY"
for ((i = 0; i < 30; i++)); do
	scrape m4 "$ADMIN"
	[ "$(metric 'estrad_config_reloads_total{result="error"}')" = 1 ] && break
	sleep 0.1
done
cp "$WORK/proxy.json.good" "$WORK/proxy.json"
check_metric 'estrad_config_reloads_total{result="error"}' 1
check_metric 'estrad_config_reloads_total{result="ok"}' 1
check_metric estrad_config_last_reload_success 0
check_metric estrad_config_last_reload_successful 0
# The last success is still the first reload's.
check_metric estrad_config_last_reload_success_timestamp_seconds "$t_ok"
check_alive "$PROXY" "the proxy"
req readyz2 GET "$ADMIN/readyz"
check_status 200

# ---------------------------------------------------------------- over TLS

P_TOP_EXTRA="\"admin\": { \"listen\": \"127.0.0.1:0\", \"certificate\": \"$PROXY_SERVER_CERT\", \"key\": \"$PROXY_SERVER_KEY\" }" \
    proxy_config "$WORK/tls.json"
start_estrad tls "$WORK/tls.json"
admin_port "$XLOG"
req tls_healthz GET "https://127.0.0.1:$APORT/healthz"
check_status 200
check_body ok
scrape tls_metrics "https://127.0.0.1:$APORT"
req tls_plain GET "http://127.0.0.1:$APORT/healthz"
[ "$STATUS" = 200 ] && fail "plain HTTP answered on the TLS admin listener"

# ---------------------------------------------------------------- not ready

# One upstream, dead (nothing listens on port 1), its breaker opening at
# the first failure for a minute; no queue, no local CA.
P_URL=https://127.0.0.1:1/.well-known/est \
    P_UPSTREAM_EXTRA='"failure_threshold": 1, "backoff_initial": 60' \
    P_TOP_EXTRA='"admin": { "listen": "127.0.0.1:0" }' \
    proxy_config "$WORK/dead.json"
python3 - "$WORK/dead.json" <<'PY' || fail "cannot drop the lab upstream from dead.json"
import json, sys
path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    cfg = json.load(f)
del cfg["upstreams"]["lab"]
del cfg["labels"]["real"]
with open(path, "w", encoding="utf-8") as f:
    json.dump(cfg, f, indent=2)
PY
start_estrad dead "$WORK/dead.json"
admin_port "$XLOG"
DEAD=http://127.0.0.1:$APORT
# Before any attempt the breaker is closed: worth trying, so ready.
req dead_ready0 GET "$DEAD/readyz"
check_status 200
req dead_cacerts GET "$XURL/cacerts"
check_status 502
req dead_ready GET "$DEAD/readyz"
check_error 503 "not ready: "
grep -qi 'no upstream' "$BODY" || fail "dead_ready: reason '$(cat "$BODY")' does not say no upstream is reachable"
scrape dead_metrics "$DEAD"
check_metric 'estrad_upstream_up{upstream="ca",url="https://127.0.0.1:1/.well-known/est"}' 0
check_metric 'estrad_upstream_errors_total{upstream="ca",kind="unreachable"}' 1
check_metric 'estrad_requests_total{op="cacerts",label="-",status="502"}' 1
req dead_healthz GET "$DEAD/healthz"
check_status 200

check_alive "$PROXY" "the proxy"

# ---- labels that are not configured share one series
for l in zz1 zz2 zz3; do
	req "unknown_$l" GET "$URL/$l/cacerts"
	check_error 404 "unknown CA label"
done
scrape m5 "$ADMIN"
grep -q 'label="zz' "$SCRAPE" &&
    fail "m5: unknown labels became series: $(grep 'label="zz' "$SCRAPE" | head -n 5)"
check_metric 'estrad_requests_total{op="cacerts",label="unknown",status="404"}' 3
n404=$(grep -E '^estrad_requests_total\{.*status="404"\} ' "$SCRAPE" | awk '{ s += $2 } END { print s + 0 }')
[ "$n404" = 4 ] || fail "m5: $n404 requests counted with status 404, expected 4: $(grep 'status="404"' "$SCRAPE")"
pass
