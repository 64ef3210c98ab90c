#!/usr/bin/env bash
#
# tools/bench_weak.sh: the weak-CA half of the benchmark (issue 16,
# docs/performance.md#a-weak-ca). tools/bench.sh runs it after its own
# runs, against the same lab; it can also run alone.
#
# A weak CA (tests/tools/weak_ca: K workers of S ms each behind a front end
# that answers 504 after T ms while the workers still do the work) with the
# lab's PKI, then, with estbench:
#
#   1. straight at the CA, -c 1 4 8 16 32 64: its sweet spot (the best
#      rate) and its collapse
#   2. through an estrad of its own (defaults: adaptive concurrency,
#      max_wait 8) at -c 64 and -c 256, clients honouring Retry-After;
#      after each run the CA's own counters (most at once, timeouts, wasted
#      work, TLS connections it accepted)
#   3. a ramp: 2000 clients arriving within 1 s, each enrolling once
#   4. K changes during a 64-client run (K -> 2K -> K/2): estrad's limit,
#      read from /metrics every half second, and when it settles
#
# usage: tools/bench_weak.sh [-t SECONDS] [-k K] [-s MS] [-T MS] [-r N] [-l LAB] [-o FILE]
#   -t SECONDS  duration of each run (default 10)
#   -k K        the CA's workers (default 5: libest's example server has 5)
#   -s MS       each worker's time per enrollment (default 100)
#   -T MS       the CA front end's request timeout (default 1000)
#   -r N        clients of the ramp (default 2000)
#   -l LAB      a lab that is up (tests/lab up DIR); default: one of its own
#   -o FILE     also write the table (markdown) to FILE
#
# Needs the README's set-up and a build in build/ (BUILD_DIR overrides):
# estrad, tools/estbench/estbench and tests/integration/weak_ca.
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench_lib.sh
. "$ROOT/tools/bench_lib.sh"
WEAK_CA=${WEAK_CA:-$BUILD_DIR/tests/integration/weak_ca}

ARGS_TEXT=${*:-}
DURATION=10 K=5 S=100 T=1000 RAMP=2000 LAB= OUT=
usage() {
	sed -n '/^# usage:/,/^#   -o/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts "t:k:s:T:r:l:o:h" opt; do
	case $opt in
	t) DURATION=$OPTARG ;;
	k) K=$OPTARG ;;
	s) S=$OPTARG ;;
	T) T=$OPTARG ;;
	r) RAMP=$OPTARG ;;
	l) LAB=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
for v in "$K" "$S" "$T" "$RAMP"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench_weak: bad number: $v" >&2; exit 2; }
done
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench_weak: bad -t: $DURATION" >&2; exit 2; }
for b in "$ESTRAD_BIN" "$ESTBENCH" "$WEAK_CA"; do
	[ -x "$b" ] || { echo "bench_weak: no $b (build first)" >&2; exit 1; }
done

# A ramp of thousands needs descriptors (estbench, estrad).
want_fd=$((RAMP * 2 + 1000))
[ "$want_fd" -ge 65536 ] || want_fd=65536
ulimit -Hn "$want_fd" 2>/dev/null || true
ulimit -n "$want_fd" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estrad-bench-weak.XXXXXX")
OWN_LAB=0
WCA_PID= SH_PID=

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "$SH_PID" "$WCA_PID"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	[ "$OWN_LAB" = 1 ] && "$ROOT/tests/lab" down "$LAB" >/dev/null 2>&1
	if [ "$rc" -ne 0 ]; then
		echo "bench_weak: failed (rc $rc); logs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "bench_weak: $*" >&2; }

if [ -z "$LAB" ]; then
	LAB=$WORK/lab
	OWN_LAB=1
	log "lab up in $LAB"
	"$ROOT/tests/lab" up "$LAB" >"$WORK/lab-up.log" 2>&1 ||
	    { cat "$WORK/lab-up.log" >&2; exit 1; }
fi
# shellcheck disable=SC1091
. "$LAB/lab.env"
: "${PKI_DIR:?}" "${TRUST:?}" "${RA_CERT:?}" "${CLIENT_CERT:?}"

# ------------------------------------------------------------ the weak CA

"$WEAK_CA" --listen 127.0.0.1:0 --control 127.0.0.1:0 \
    --cert "$PKI_DIR/ca-server-chain.pem" --key "$PKI_DIR/ca-server.key" \
    --ca-cert "$PKI_DIR/issuing.pem" --ca-key "$PKI_DIR/issuing.key" \
    --client-ca "$PKI_DIR/root.pem" --workers "$K" --service-ms "$S" \
    --timeout-ms "$T" >"$WORK/weak_ca.out" 2>"$WORK/weak_ca.err" </dev/null &
WCA_PID=$!
for ((i = 0; i < 50; i++)); do
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/weak_ca.out")
	ctl=$(sed -n 's/^control on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/weak_ca.out")
	[ -n "$port" ] && [ -n "$ctl" ] && break
	sleep 0.1
done
[ -n "${port:-}" ] && [ -n "${ctl:-}" ] ||
    { log "weak_ca did not start: $(cat "$WORK/weak_ca.err")"; exit 1; }
WCA_URL=https://127.0.0.1:$port/.well-known/est
WCA_CTL=http://127.0.0.1:$ctl

# stat FIELD: one number of the weak CA's /stats.
stat() {
	curl -s --max-time 5 "$WCA_CTL/stats" | python3 -c \
	    'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
ctl() { curl -s -o /dev/null --max-time 5 "$WCA_CTL$1"; }
# drain: the work the CA owes for requests given up on is done.
drain() {
	for ((i = 0; i < 600; i++)); do
		[ "$(stat in_system)" = 0 ] && return 0
		sleep 0.1
	done
	log "the weak CA still holds $(stat in_system) requests"
}

# ------------------------------------------------------------ estrad in front

SH_CFG=$WORK/shield.json
SH_LOG=$WORK/shield.log
cat >"$SH_CFG" <<EOF
{
  "log_level": "info",
  "run_as_root": true,
  "listen": ["127.0.0.1:0"],
  "admin": { "listen": "127.0.0.1:0" },
  "tls": {
    "certificate": "$PKI_DIR/proxy-server-chain.pem",
    "key": "$PKI_DIR/proxy-server.key",
    "client_ca": "$PKI_DIR/root.pem",
    "client_verify_depth": 4
  },
  "limits": { "max_connections": $((RAMP + 1000)), "max_connections_per_address": 0 },
  "upstreams": {
    "weak": {
      "url": "$WCA_URL",
      "ca_bundle": "$PKI_DIR/root.pem",
      "client_certificate": "$PKI_DIR/ra-chain.pem",
      "client_key": "$PKI_DIR/ra.key"
    }
  },
  "default": { "upstream": "weak" }
}
EOF
chmod 600 "$SH_CFG"
"$ESTRAD_BIN" -n -c "$SH_CFG" >"$WORK/shield-check.log" 2>&1 ||
    { log "the shield's configuration does not check:"; cat "$WORK/shield-check.log" >&2; exit 1; }
setsid "$ESTRAD_BIN" -c "$SH_CFG" </dev/null >"$SH_LOG" 2>&1 &
SH_PID=$!
for ((i = 0; i < 100; i++)); do
	sh_port=$(sed -n 's/.* info listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SH_LOG" | head -n 1)
	sh_admin=$(sed -n 's/.* info admin listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SH_LOG" | head -n 1)
	[ -n "$sh_port" ] && [ -n "$sh_admin" ] && break
	sleep 0.1
done
[ -n "${sh_port:-}" ] && [ -n "${sh_admin:-}" ] ||
    { log "the shield did not start:"; tail -n 20 "$SH_LOG" >&2; exit 1; }
SH_URL=https://127.0.0.1:$sh_port/.well-known/est
SH_ADMIN=http://127.0.0.1:$sh_admin

# metric NAME: the first sample of NAME (a prefix of the series) on /metrics.
metric() {
	curl -s --max-time 5 "$SH_ADMIN/metrics" |
	    awk -v k="$1" 'index($1, k) == 1 { print $NF; exit }'
}

# ------------------------------------------------------------ runs

declare -A LINE CA_MAX CA_SERVICE CA_TIMEOUTS CA_WASTED CA_CONNS CA_SERVED DESC

# run KEY DESC URL AUTH... -- ESTBENCH-ARGS: one run with the CA's counters
# zeroed first and read after; the machine line in LINE[KEY].
run() {
	local key=$1 desc=$2
	shift 2
	DESC[$key]=$desc
	drain
	ctl /reset
	log "$key: estbench $*"
	"$ESTBENCH" --cafile "$TRUST" --timeout 30 "$@" >"$WORK/$key.out" \
	    2>"$WORK/$key.err" || log "$key: estbench exited $?"
	LINE[$key]=$(tail -n 1 "$WORK/$key.out")
	CA_MAX[$key]=$(stat in_system_max)
	CA_SERVICE[$key]=$(stat in_service_max)
	CA_TIMEOUTS[$key]=$(stat timeouts)
	CA_WASTED[$key]=$(stat wasted)
	CA_CONNS[$key]=$(stat connections)
	CA_SERVED[$key]=$(stat served)
}

# f KEY FIELD: FIELD=VALUE of LINE[KEY]; n KEY FIELD: the same, 0 if none.
f() {
	sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"${LINE[$1]:-}" | head -n 1
}
n() {
	local v
	v=$(f "$1" "$2")
	echo "${v:-0}"
}

DIRECT_CS="1 4 8 16 32 64"
RA=(--cert "$RA_CERT" --key "$RA_KEY")
CL=(--cert "$CLIENT_CERT" --key "$CLIENT_KEY")
for c in $DIRECT_CS; do
	run "direct$c" "straight at the CA, -c $c" -c "$c" -t "$DURATION" "${RA[@]}" "$WCA_URL"
done
BEST=0 BEST_C=
for c in $DIRECT_CS; do
	r=$(f "direct$c" rate)
	if [ -n "$r" ] && awk -v r="$r" -v b="$BEST" 'BEGIN { exit !(r > b) }'; then
		BEST=$r BEST_C=$c
	fi
done

# A short warm-up: the limit is learnt within the first second; the
# figures are of the steady state after it.
run warm "through estrad, warm-up" -c 64 -t 3 "${CL[@]}" "$SH_URL"
run shield64 "through estrad, -c 64, honouring Retry-After" -c 64 -t "$DURATION" --retry-after "${CL[@]}" "$SH_URL"
LIMIT64=$(metric 'estrad_upstream_concurrency_limit{upstream="weak"')
run shield256 "through estrad, -c 256, honouring Retry-After" -c 256 -t "$DURATION" --retry-after "${CL[@]}" "$SH_URL"
LIMIT256=$(metric 'estrad_upstream_concurrency_limit{upstream="weak"')
run ramp "through estrad, $RAMP clients arriving within 1 s" -c "$RAMP" --ramp 1 "${CL[@]}" "$SH_URL"

# K changes: K -> 2K at 5 s, -> max(1, K/2) at 10 s, in a 15 s run; the
# limit read every half second.
K2=$((K * 2)) KH=$((K / 2))
[ "$KH" -ge 1 ] || KH=1
drain
ctl /reset
log "capacity change: K $K -> $K2 -> $KH during a 64-client run"
"$ESTBENCH" --cafile "$TRUST" --timeout 30 -c 64 -t 15 "${CL[@]}" "$SH_URL" \
    >"$WORK/change.out" 2>"$WORK/change.err" &
bpid=$!
TIMELINE=$WORK/timeline.txt
: >"$TIMELINE"
t0=$(date +%s%N)
k_now=$K
for ((i = 0; i < 30; i++)); do
	now=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ "$now" -ge 5000 ] && [ "$k_now" = "$K" ]; then
		ctl "/set?k=$K2"; k_now=$K2; echo "$now K=$K2" >>"$TIMELINE"
	elif [ "$now" -ge 10000 ] && [ "$k_now" = "$K2" ]; then
		ctl "/set?k=$KH"; k_now=$KH; echo "$now K=$KH" >>"$TIMELINE"
	fi
	echo "$now limit=$(metric 'estrad_upstream_concurrency_limit{upstream="weak"') k=$k_now" >>"$TIMELINE"
	sleep 0.5
done
wait "$bpid" || log "change: estbench exited $?"
LINE[change]=$(tail -n 1 "$WORK/change.out")
CHANGE_TIMEOUTS=$(stat timeouts)
ctl "/set?k=$K"

# settle K_FROM_MS K: ms from the change at K_FROM_MS until the limit is
# within [K, K+1] and stays there for the rest of that K's timeline.
settle() {
	awk -v from="$1" -v k="$2" '
	    $2 ~ /^limit=/ && $3 == "k=" k && $1 >= from {
		split($2, a, "="); l = a[2] + 0
		if (l >= k && l <= k + 1) { if (first < 0) first = $1 }
		else first = -1
	    }
	    BEGIN { first = -1 }
	    END { if (first < 0) print "n/a"; else printf "%.1f", (first - from) / 1000 }' "$TIMELINE"
}
T_UP=$(awk '$2 == "K='"$K2"'" { print $1; exit }' "$TIMELINE")
T_DOWN=$(awk '$2 == "K='"$KH"'" { print $1; exit }' "$TIMELINE")
SETTLE_UP=$(settle "${T_UP:-5000}" "$K2")
SETTLE_DOWN=$(settle "${T_DOWN:-10000}" "$KH")

# ------------------------------------------------------------ table

R64=$(ratio "$(f shield64 rate)" "$BEST")
R256=$(ratio "$(f shield256 rate)" "$BEST")
MAXWAIT_MS=8000
{
	echo "## estrad in front of a weak CA"
	echo
	echo "The weak CA: tests/tools/weak_ca, $K workers of $S ms each behind a front end that answers 504 after $T ms (and lets the workers finish the work anyway). Runs of $DURATION s. Command: \`tools/bench_weak.sh${ARGS_TEXT:+ $ARGS_TEXT}\`."
	echo
	echo "| run | rate /s | p50 ms | p99 ms | errors | busy (503 + Retry-After) | CA: most at once (at work) | CA: timeouts / wasted | new TLS connections at the CA |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for k in direct1 direct4 direct8 direct16 direct32 direct64 shield64 shield256; do
		echo "| ${DESC[$k]} | $(f "$k" rate) | $(f "$k" p50_ms) | $(f "$k" p99_ms) | $(f "$k" errors) | $(f "$k" busy) | ${CA_MAX[$k]} (${CA_SERVICE[$k]}) | ${CA_TIMEOUTS[$k]} / ${CA_WASTED[$k]} | ${CA_CONNS[$k]} |"
	done
	echo
	echo "The ramp: \`${LINE[ramp]}\` (CA: most at once ${CA_MAX[ramp]}, timeouts ${CA_TIMEOUTS[ramp]}, wasted ${CA_WASTED[ramp]})."
	echo
	echo "Capacity change during a 64-client run: \`${LINE[change]}\`; the CA timed out $CHANGE_TIMEOUTS. estrad's limit every half second (ms since the start):"
	echo
	echo '```'
	tr '\n' ' ' <"$TIMELINE" | sed 's/ \([0-9]* limit\)/\n\1/g'
	echo
	echo '```'
	echo
	echo "| measure | value | target | verdict |"
	echo "|---|---|---|---|"
	echo "| the CA's best rate straight at it (sweet spot) | $BEST at -c $BEST_C | | |"
	echo "| straight at the CA, -c 64 (collapse) | $(f direct64 rate)/s, $(f direct64 errors) errors, ${CA_TIMEOUTS[direct64]} timed out | | |"
	echo "| through estrad / best direct, -c 64 | $R64 | >= 0.9 | $(verdict "$R64" ">=" 0.9) |"
	echo "| through estrad / best direct, -c 256 | $R256 | >= 0.9 | $(verdict "$R256" ">=" 0.9) |"
	echo "| errors other than 503 + Retry-After, -c 64 / -c 256 | $(f shield64 errors) / $(f shield256 errors) | 0 | $(verdict "$(( $(n shield64 errors) + $(n shield256 errors) ))" "==" 0) |"
	echo "| 503 + Retry-After at -c 64 | $(f shield64 busy) | 0 | $(verdict "$(f shield64 busy)" "==" 0) |"
	echo "| p99 through estrad, -c 64 / -c 256 (ms) | $(f shield64 p99_ms) / $(f shield256 p99_ms) | < max_wait ($MAXWAIT_MS) | $(verdict "$(f shield256 p99_ms)" "<" "$MAXWAIT_MS") |"
	echo "| the CA's most requests at once through estrad, -c 64 / -c 256 (at work) | ${CA_MAX[shield64]} (${CA_SERVICE[shield64]}) / ${CA_MAX[shield256]} (${CA_SERVICE[shield256]}) | K = $K at work | $(verdict "${CA_SERVICE[shield256]}" "<=" "$K") |"
	echo "| the CA's timeouts through estrad (64, 256, ramp) | ${CA_TIMEOUTS[shield64]}, ${CA_TIMEOUTS[shield256]}, ${CA_TIMEOUTS[ramp]} | 0 | $(verdict "$(( ${CA_TIMEOUTS[shield64]:-0} + ${CA_TIMEOUTS[shield256]:-0} + ${CA_TIMEOUTS[ramp]:-0} ))" "==" 0) |"
	echo "| estrad's limit after the 64 / 256 runs | $LIMIT64 / $LIMIT256 | K = $K | |"
	echo "| new TLS connections to the CA per enrollment through estrad, -c 64 / -c 256 | $(ratio "${CA_CONNS[shield64]}" "${CA_SERVED[shield64]}" %.3f) / $(ratio "${CA_CONNS[shield256]}" "${CA_SERVED[shield256]}" %.3f) | about 0 | |"
	echo "| ramp of $RAMP in 1 s: failed, 5xx other than 503 | $(f ramp failed) | 0 | $(verdict "$(f ramp failed)" "==" 0) |"
	echo "| ramp: first attempt / after Retry-After / most retries | $(f ramp ok_first) / $(f ramp ok_retry) / $(f ramp max_retries) | | |"
	echo "| limit settles after K $K -> $K2 / $K2 -> $KH (s) | $SETTLE_UP / $SETTLE_DOWN | <= 5 | $(verdict "$SETTLE_UP" "<=" 5) / $(verdict "$SETTLE_DOWN" "<=" 5) |"
	echo "| errors while K changed | $(f change errors) (busy $(f change busy)) | 0 | $(verdict "$(f change errors)" "==" 0) |"
} >"$WORK/weak.md"

cat "$WORK/weak.md"
if [ -n "$OUT" ]; then
	cp "$WORK/weak.md" "$OUT"
	log "table written to $OUT"
fi
