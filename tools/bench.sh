#!/usr/bin/env bash
#
# tools/bench.sh: the estrad benchmark (issue 7, docs/performance.md).
#
# Brings up the lab (tests/lab: an upstream estrad with an EC P-256 CA key and
# an estrad proxy in front of it) in a temporary directory, starts a second
# proxy of its own with a full CSR policy and Digest, and measures with
# estbench, side by side, in one run:
#
#   1. enrollments straight at the upstream CA (client certificate: the RA's),
#      1 and 64 clients
#   2. the same load through the lab proxy (client certificate), 1 and 64
#   3. the same load through the policy proxy (Digest), 1 and 64
#   4. the TLS handshake ceiling: --handshake-only -c 64 against the proxy
#   5. RSS after BIG enrollments against RSS after BIG/10 (the proxy's
#      VmRSS from /proc; a leak shows as growth)
#   6. IDLE idle TLS connections held by the proxy: RSS per connection
#
# and the proxy's event-loop lag (estrad_event_loop_lag_max_seconds from
# the admin listener's /metrics) after the 64-client runs. Then
# tools/bench_weak.sh on the same lab: estrad in front of a weak CA that
# collapses on its own (its table follows the first).
#
# With --store or --replicas, the shared store's benchmark instead
# (tools/bench_store.sh, issue 19): one replica on PostgreSQL against one on
# SQLite, and N replicas behind HAProxy; -q, -t, -r and -o as below.
#
#   tools/bench.sh --store postgresql [--replicas N] [-q] [-t S] [-r R] [-o FILE]
#   tools/bench.sh --replicas N [--store sqlite|postgresql] [...]
#
# With --coap, EST over CoAP against HTTPS instead (tools/bench_coap.sh,
# issue 20): 64 DTLS clients (coap-client-openssl) enrolling, beside the
# HTTPS rate on the same proxy, and the bytes on the wire per enrollment.
#
#   tools/bench.sh --coap [-q] [-t S] [-c CLIENTS] [-n N] [-o FILE]
#
# usage: tools/bench.sh [-q] [-t SECONDS] [-r ROUNDS] [-i IDLE] [-n BIG] [-o FILE]
#   -t SECONDS  duration of each throughput run (default 10; -q: 3)
#   -r ROUNDS   rounds of the interleaved direct/proxy/policy runs; each
#               figure is the median of its rounds (default 3; -q: 1)
#   -i IDLE     idle connections to hold (default 10000; -q: 1000)
#   -n BIG      enrollments for the RSS-growth test (default 100000;
#               -q: 20000); the first reading is taken after BIG/10
#   -o FILE     also write the table (markdown) to FILE
#   -q          quick run: the small sizes above (and a ramp of 500 clients,
#               not 2000, in the weak-CA runs)
#
# Needs the README's set-up: tools/install-deps and a build in build/
# (BUILD_DIR overrides; estrad and tools/estbench/estbench are taken from
# there). The lab is brought down at the end, even on failure.
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench_lib.sh
. "$ROOT/tools/bench_lib.sh"

# The shared store's benchmark is a script of its own, and so is CoAP's.
for a in "$@"; do
	case $a in
	--store | --store=* | --replicas | --replicas=*)
		exec "$ROOT/tools/bench_store.sh" "$@"
		;;
	--coap)
		args=()
		for a in "$@"; do
			[ "$a" = --coap ] || args+=("$a")
		done
		exec "$ROOT/tools/bench_coap.sh" ${args[@]+"${args[@]}"}
		;;
	esac
done

ARGS_TEXT=${*:-}
DURATION=
ROUNDS=
IDLE=
BIG=
OUT=
QUICK=0

usage() {
	sed -n '/^# usage:/,/^#               not 2000/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts "qt:r:i:n:o:h" opt; do
	case $opt in
	q) QUICK=1 ;;
	t) DURATION=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	i) IDLE=$OPTARG ;;
	n) BIG=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-3}
	ROUNDS=${ROUNDS:-1}
	IDLE=${IDLE:-1000}
	BIG=${BIG:-20000}
else
	DURATION=${DURATION:-10}
	ROUNDS=${ROUNDS:-3}
	IDLE=${IDLE:-10000}
	BIG=${BIG:-100000}
fi
for v in "$IDLE" "$BIG" "$ROUNDS"; do
	if ! [[ $v =~ ^[0-9]+$ ]] || [ "$v" -eq 0 ]; then
		echo "bench: bad size: $v" >&2
		exit 2
	fi
done
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench: bad -t: $DURATION" >&2; exit 2; }
SMALL=$((BIG / 10))
[ "$SMALL" -gt 0 ] || SMALL=1

[ -x "$ESTRAD_BIN" ] || { echo "bench: no estrad at $ESTRAD_BIN (build first)" >&2; exit 1; }
[ -x "$ESTBENCH" ] || { echo "bench: no estbench at $ESTBENCH (build first)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: curl not found" >&2; exit 1; }

# Idle connections need file descriptors: raise the limit for the whole
# script; the lab's daemons and estbench inherit it.
want_fd=$((IDLE + 1000))
[ "$want_fd" -ge 65536 ] || want_fd=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want_fd" ]; then
	if ! ulimit -Hn "$want_fd" 2>/dev/null; then
		echo "bench: open files capped by the hard limit, $hard" >&2
		want_fd=$hard
	fi
fi
ulimit -n "$want_fd" 2>/dev/null ||
    echo "bench: cannot raise the open-file limit to $want_fd (now $(ulimit -n))" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estrad-bench.XXXXXX")
LAB=$WORK/lab
POL_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$POL_PID" ] && kill -0 "$POL_PID" 2>/dev/null; then
		kill -TERM "$POL_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$POL_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$POL_PID" 2>/dev/null || true
	fi
	if [ -f "$LAB/lab.env" ]; then
		"$ROOT/tests/lab" down "$LAB" >/dev/null 2>&1 || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "bench: failed (rc $rc); logs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "bench: $*" >&2; }

START=$(date +%s)

# ------------------------------------------------------------ machine

bench_machine
echo "sizes: -t ${DURATION}s, idle $IDLE, RSS after $SMALL and $BIG enrollments, open files $(ulimit -n)"

# ------------------------------------------------------------ lab

bench_lab_up
: "${CA_URL:?}" "${EST_URL:?}" "${TRUST:?}" "${PROXY_PID:?}" "${PKI_DIR:?}"

# The policy proxy: the lab proxy's TLS and upstream, Digest users from the
# lab, and a full policy that estbench's CSRs (CN=estbench-N, P-256, SHA-256,
# no SANs, no extensions) satisfy: no channel binding required, no SANs
# required, no CN = user name.
POL_CFG=$WORK/policy-proxy.json
POL_LOG=$WORK/policy-proxy.log
cat >"$POL_CFG" <<EOF
{
  "log_level": "info",
  "run_as_root": true,
  "listen": ["127.0.0.1:0"],
  "admin": { "listen": "127.0.0.1:0" },
  "tls": {
    "certificate": "$PKI_DIR/proxy-server-chain.pem",
    "key": "$PKI_DIR/proxy-server.key",
    "client_ca": "$PKI_DIR/root.pem",
    "client_crl": "$PKI_DIR/crl.pem",
    "client_verify_depth": 4
  },
  "auth": {
    "realm": "${AUTH_REALM:-estrealm}",
    "digest_users": "$DIGEST_USERS",
    "max_failures": 1000
  },
  "limits": {
    "max_header_bytes": 8192,
    "max_body_bytes": 65536,
    "read_timeout": 30,
    "idle_timeout": 60
  },
  "upstreams": {
    "ca": {
      "url": "$CA_URL",
      "ca_bundle": "$PKI_DIR/root.pem",
      "client_certificate": "$PKI_DIR/ra-chain.pem",
      "client_key": "$PKI_DIR/ra.key",
      "connect_timeout": 5,
      "timeout": 30,
      "max_in_flight": 64,
      "retry_after": 5
    }
  },
  "audit": { "file": "$WORK/policy-audit.jsonl", "stderr": false },
  "policies": {
    "bench": {
      "keys": { "rsa": true, "rsa_min_bits": 2048, "ec_curves": ["P-256", "P-384"],
                "ed25519": true, "ed448": false },
      "signature_hashes": ["SHA256", "SHA384", "SHA512"],
      "subject": { "required": ["CN"], "allowed": ["CN", "O", "OU"],
                   "patterns": { "CN": "^estbench-[0-9]+\$" }, "max_length": 64 },
      "san": { "max": 4 },
      "extensions": { "allow_ca": false, "ekus": ["clientAuth"] },
      "channel_binding": "optional"
    }
  },
  "default": { "upstream": "ca", "policy": "bench", "auth": { "simpleenroll": ["digest"] } }
}
EOF
chmod 600 "$POL_CFG"
if ! "$ESTRAD_BIN" -n -c "$POL_CFG" >"$WORK/policy-check.log" 2>&1; then
	log "the policy proxy's configuration does not check:"
	cat "$WORK/policy-check.log" >&2
	exit 1
fi
setsid "$ESTRAD_BIN" -c "$POL_CFG" </dev/null >"$POL_LOG" 2>&1 &
POL_PID=$!

# port_of LOG WHAT: the port of the first "info WHAT 127.0.0.1:PORT" line.
port_of() {
	local logf=$1 what=$2 port i
	for ((i = 0; i < 150; i++)); do
		port=$(sed -n "s/.* info $what 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" \
		    "$logf" 2>/dev/null | head -n 1)
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		kill -0 "$POL_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "policy proxy did not start:"
	tail -n 20 "$logf" >&2
	return 1
}
POL_PORT=$(port_of "$POL_LOG" "listening on")
POL_ADMIN_PORT=$(port_of "$POL_LOG" "admin listening on")
POL_URL="https://127.0.0.1:$POL_PORT/.well-known/est"
POL_ADMIN="http://127.0.0.1:$POL_ADMIN_PORT"
for ((i = 0; i < 50; i++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TRUST" \
	    "$POL_URL/cacerts" || true)" = 200 ] && break
	sleep 0.2
done

# The lab proxy's admin listener (or, from an older lab without one, none).
LAB_ADMIN=${ADMIN_URL:-}

# ------------------------------------------------------------ runs

# lag_max ADMIN_URL: estrad_event_loop_lag_max_seconds, in ms.
lag_max_ms() {
	local v
	[ -n "$1" ] || { echo n/a; return 0; }
	v=$(curl -s --max-time 5 "$1/metrics" |
	    awk '$1 ~ /^estrad_event_loop_lag_max_seconds/ { print $NF; exit }' || true)
	if [ -n "$v" ]; then
		awk -v v="$v" 'BEGIN { printf "%.2f", v * 1000 }'
	else
		echo n/a
	fi
}

# lag_ticks ADMIN_URL: "LATE TOTAL": the loop-lag timer's ticks later than
# 10 ms, and all its ticks, since the daemon started.
lag_ticks() {
	[ -n "$1" ] || { echo "0 0"; return 0; }
	curl -s --max-time 5 "$1/metrics" | awk '
	    /^estrad_event_loop_lag_seconds_bucket\{le="0.01"\}/ { ok = $NF }
	    /^estrad_event_loop_lag_seconds_count/ { n = $NF }
	    END { printf "%d %d\n", n - ok, n }'
}

# ca_connects ADMIN_URL: connections the proxy has opened to its CA
# (estrad_upstream_connections_total, all upstreams).
ca_connects() {
	[ -n "$1" ] || { echo 0; return 0; }
	curl -s --max-time 5 "$1/metrics" | awk '
	    /^estrad_upstream_connections_total\{/ { n += $NF }
	    END { printf "%d\n", n }'
}

# rq_wait_ns PID: how long the process's main thread (the event loop) has
# waited for a CPU while runnable, in ns (/proc/PID/schedstat).
rq_wait_ns() {
	awk '{ print $2 }' "/proc/$1/schedstat" 2>/dev/null || echo 0
}

# vmrss PID: VmRSS in KiB.
vmrss() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# The lag maxima count from each daemon's start: read them before the load
# too, so that a stall at start-up is told apart from one under load.
LAG_PROXY_START=$(lag_max_ms "$LAB_ADMIN")
LAG_POLICY_START=$(lag_max_ms "$POL_ADMIN")

T=(-t "$DURATION")
CA_AUTH=(--cert "$RA_CERT" --key "$RA_KEY")
CL_AUTH=(--cert "$CLIENT_CERT" --key "$CLIENT_KEY")
DG_AUTH=(-u "$EST_USER:$EST_PASS")

# The machine's speed drifts (shared cores, other guests): the runs to be
# compared are interleaved, ROUNDS times, and each figure is the median.
# How long the proxy's loop waited for a CPU during its 64-client runs
# tells a late timer caused by the scheduler from one caused by the loop.
PROXY_RQ=0
PROXY_RQ_WALL=0
CONNECTS0=$(ca_connects "$LAB_ADMIN")
for ((r = 1; r <= ROUNDS; r++)); do
	run "direct1.$r" "direct to the CA, client certificate, -c 1" -c 1 "${T[@]}" "${CA_AUTH[@]}" --pid "$CA_PID" "$CA_URL"
	run "proxy1.$r" "through the proxy, client certificate, -c 1" -c 1 "${T[@]}" "${CL_AUTH[@]}" --pid "$PROXY_PID" "$EST_URL"
	run "policy1.$r" "through the proxy, full policy + Digest, -c 1" -c 1 "${T[@]}" "${DG_AUTH[@]}" --pid "$POL_PID" "$POL_URL"
	run "direct64.$r" "direct to the CA, client certificate, -c 64" -c 64 "${T[@]}" "${CA_AUTH[@]}" --pid "$CA_PID" "$CA_URL"
	rq0=$(rq_wait_ns "$PROXY_PID")
	t0=$(date +%s%N)
	run "proxy64.$r" "through the proxy, client certificate, -c 64" -c 64 "${T[@]}" "${CL_AUTH[@]}" --pid "$PROXY_PID" "$EST_URL"
	PROXY_RQ=$((PROXY_RQ + $(rq_wait_ns "$PROXY_PID") - rq0))
	PROXY_RQ_WALL=$((PROXY_RQ_WALL + $(date +%s%N) - t0))
	run "policy64.$r" "through the proxy, full policy + Digest, -c 64" -c 64 "${T[@]}" "${DG_AUTH[@]}" --pid "$POL_PID" "$POL_URL"
done
for k in direct1 proxy1 policy1 direct64 proxy64 policy64; do
	median_of "$k"
done
# New TLS connections to the CA per enrollment through the lab proxy.
CONNECTS=$(( $(ca_connects "$LAB_ADMIN") - CONNECTS0 ))
PROXIED=0
for ((r = 1; r <= ROUNDS; r++)); do
	for k in proxy1 proxy64; do
		n=$(sed -n 's/^done: ok=\([0-9]*\).*/\1/p' "$WORK/$k.$r.out" 2>/dev/null || true)
		PROXIED=$((PROXIED + ${n:-0}))
	done
done
LAG_PROXY=$(lag_max_ms "$LAB_ADMIN")
LAG_POLICY=$(lag_max_ms "$POL_ADMIN")
read -r LATE_PROXY TICKS_PROXY <<<"$(lag_ticks "$LAB_ADMIN")"
read -r LATE_POLICY TICKS_POLICY <<<"$(lag_ticks "$POL_ADMIN")"
RQ_SHARE=$(awk -v w="$PROXY_RQ" -v t="$PROXY_RQ_WALL" 'BEGIN { if (t > 0) printf "%.1f", w * 100 / t; else print "n/a" }')
run handshake "TLS handshakes only, against the proxy, -c 64" --handshake-only -c 64 "${T[@]}" --pid "$PROXY_PID" "$EST_URL"

# RSS growth: SMALL enrollments, VmRSS, BIG - SMALL more, VmRSS again
# (client certificate through the lab proxy, a new connection each).
run rss1 "RSS test, first $SMALL enrollments, -c 64" -c 64 -n "$SMALL" --csrs 1000 "${CL_AUTH[@]}" --pid "$PROXY_PID" "$EST_URL"
sleep 1
RSS_SMALL=$(vmrss "$PROXY_PID")
run rss2 "RSS test, $((BIG - SMALL)) more enrollments, -c 64" -c 64 -n "$((BIG - SMALL))" --csrs 1000 "${CL_AUTH[@]}" --pid "$PROXY_PID" "$EST_URL"
sleep 1
RSS_BIG=$(vmrss "$PROXY_PID")
LAG_PROXY_END=$(lag_max_ms "$LAB_ADMIN")

# Idle connections against the lab proxy.
log "idle: estbench --idle $IDLE"
idle_rc=0
"$ESTBENCH" --cafile "$TRUST" --idle "$IDLE" --pid "$PROXY_PID" "$EST_URL" \
    >"$WORK/idle.out" 2>"$WORK/idle.err" || idle_rc=$?
IDLE_UP=$(sed -n 's/^idle: .*up=\([0-9]*\).*/\1/p' "$WORK/idle.out")
IDLE_KIB=$(sed -n 's/^server: .*per_conn_kib=\([0-9.]*\).*/\1/p' "$WORK/idle.out")
IDLE_BEFORE=$(sed -n 's/^server: .*vmrss_before_kib=\([0-9]*\).*/\1/p' "$WORK/idle.out")
IDLE_AFTER=$(sed -n 's/^server: .*vmrss_after_kib=\([0-9]*\).*/\1/p' "$WORK/idle.out")
[ "$idle_rc" -eq 0 ] || log "idle: estbench exited $idle_rc: $(tail -n 2 "$WORK/idle.err" | tr '\n' ' ')"

# ------------------------------------------------------------ table

R64=$(ratio "${RATE[proxy64]}" "${RATE[direct64]}")
R64P=$(ratio "${RATE[policy64]}" "${RATE[direct64]}")
ADDP50=$(calc "%.2f" "a - b" "${P50[proxy1]}" "${P50[direct1]}")
ADDP50P=$(calc "%.2f" "a - b" "${P50[policy1]}" "${P50[direct1]}")
GROWTH=n/a
if [ -n "$RSS_SMALL" ] && [ "$RSS_SMALL" -gt 0 ] && [ -n "$RSS_BIG" ]; then
	GROWTH=$(calc "%.1f" "(a - b) * 100 / b" "$RSS_BIG" "$RSS_SMALL")
fi
ELAPSED=$(($(date +%s) - START))

{
	echo "## estrad benchmark"
	echo
	echo "Machine: $MACHINE."
	echo "Command: \`tools/bench.sh${ARGS_TEXT:+ $ARGS_TEXT}\` (runs of ${DURATION} s, $ROUNDS round(s); idle $IDLE; RSS after $SMALL and $BIG enrollments); took ${ELAPSED} s."
	echo
	echo "Medians of $ROUNDS interleaved round(s); the rates of each round in the last column."
	echo
	echo "| run | rate /s | p50 ms | p90 ms | p99 ms | errors | rates by round |"
	echo "|---|---|---|---|---|---|---|"
	for k in direct1 proxy1 policy1 direct64 proxy64 policy64 handshake; do
		echo "| ${DESC[$k]} | ${RATE[$k]:-n/a} | ${P50[$k]:-n/a} | ${P90[$k]:-n/a} | ${P99[$k]:-n/a} | ${ERRS[$k]:-n/a} | ${ROUNDS_OF[$k]:-} |"
	done
	echo
	echo "| measure | value | target | verdict |"
	echo "|---|---|---|---|"
	echo "| throughput proxy/direct at 64 clients (client certificate) | $R64 | >= 0.75 | $(verdict "$R64" ">=" 0.75) |"
	echo "| throughput policy+Digest proxy/direct at 64 clients | $R64P | >= 0.75 | $(verdict "$R64P" ">=" 0.75) |"
	echo "| added p50 at 1 client, proxy - direct (ms) | $ADDP50 | < 1 | $(verdict "$ADDP50" "<" 1) |"
	echo "| added p50 at 1 client, policy+Digest proxy - direct (ms) | $ADDP50P | < 1 | $(verdict "$ADDP50P" "<" 1) |"
	echo "| TLS handshakes/s against the proxy (-c 64) | ${RATE[handshake]:-n/a} | | |"
	echo "| new TLS connections to the CA per enrollment through the proxy | $CONNECTS for $PROXIED ($(ratio "$CONNECTS" "$PROXIED" %.4f)) | about 0 | |"
	echo "| idle TLS connections held by the proxy | ${IDLE_UP:-n/a} of $IDLE (RSS ${IDLE_BEFORE:-?} -> ${IDLE_AFTER:-?} KiB) | $IDLE | $( [ "${IDLE_UP:-0}" = "$IDLE" ] && echo met || echo "NOT met") |"
	echo "| KiB of proxy RSS per idle connection | ${IDLE_KIB:-n/a} | < 32 | $(verdict "${IDLE_KIB:-n/a}" "<" 32) |"
	echo "| proxy RSS after $SMALL enrollments (KiB) | ${RSS_SMALL:-n/a} | | |"
	echo "| proxy RSS after $BIG enrollments (KiB) | ${RSS_BIG:-n/a} | | |"
	echo "| RSS growth $SMALL -> $BIG enrollments (%) | $GROWTH | <= 10 | $(verdict "$GROWTH" "<=" 10) |"
	echo "| event-loop lag max, proxy, after the 64-client runs (ms; before the load: $LAG_PROXY_START) | $LAG_PROXY | < 10 | $(verdict "$LAG_PROXY" "<" 10) |"
	echo "| event-loop lag max, policy proxy, after the 64-client runs (ms; before the load: $LAG_POLICY_START) | $LAG_POLICY | < 10 | $(verdict "$LAG_POLICY" "<" 10) |"
	echo "| event-loop lag max, proxy, after the RSS runs (ms) | $LAG_PROXY_END | < 10 | $(verdict "$LAG_PROXY_END" "<" 10) |"
	echo "| lag-timer ticks later than 10 ms, proxy / policy proxy, through the throughput runs | $LATE_PROXY of $TICKS_PROXY / $LATE_POLICY of $TICKS_POLICY | 0 | |"
	echo "| share of the proxy's 64-client runs its loop spent runnable but waiting for a CPU (%) | $RQ_SHARE | | |"
	echo "| RSS-test errors (first / rest) | ${ERRS[rss1]:-n/a} / ${ERRS[rss2]:-n/a} | 0 | |"
} >"$WORK/table.md"

cat "$WORK/table.md"

# The weak CA (issue 16): its own table, beside this one, on the same lab.
WEAK_ARGS=(-l "$LAB" -t "$DURATION" -o "$WORK/weak.md")
[ "$QUICK" = 1 ] && WEAK_ARGS+=(-r 500)
echo
if ! BUILD_DIR=$BUILD_DIR "$ROOT/tools/bench_weak.sh" "${WEAK_ARGS[@]}" >/dev/null; then
	log "the weak-CA runs failed"
	echo "(the weak-CA runs failed)" >"$WORK/weak.md"
fi
cat "$WORK/weak.md"
if [ -n "$OUT" ]; then
	{ cat "$WORK/table.md"; echo; cat "$WORK/weak.md"; } >"$OUT"
	log "tables written to $OUT"
fi
