#!/usr/bin/env bash
#
# tools/bench_csr.sh: what CSRs that are dear to verify do to other clients
# (issue 14, docs/performance.md "CSR verification").
#
# Brings up the lab (tests/lab) in a temporary directory and measures the
# latency of cacerts (curl, a new TLS connection each, one every 50 ms) on
# the lab proxy, first idle, then while SENDERS authenticated clients
# (Digest, the lab's user) POST CSR to simpleenroll in a loop over
# keep-alive connections (curl, 50 requests per connection). Prints the
# median, p90 and max of cacerts in each phase and how many CSRs the
# senders had answered, by status.
#
# usage: tools/bench_csr.sh [-c SENDERS] [-t SECONDS] [-f CSR]
#   -c SENDERS  concurrent senders (default 8)
#   -t SECONDS  length of each phase (default 5)
#   -f CSR      the CSR, base64 (default tests/data/dsa10000-csr.b64: a
#               10,000-bit DSA key, about 18 ms to verify)
#
# ESTRAD_BIN picks the daemon (default build/estrad), so one run can be
# made with the code before a change and one after.
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ESTRAD_BIN=${ESTRAD_BIN:-$ROOT/build/estrad}
SENDERS=8
SECS=5
CSR=$ROOT/tests/data/dsa10000-csr.b64

while getopts "c:t:f:h" opt; do
	case $opt in
	c) SENDERS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	f) CSR=$OPTARG ;;
	*) sed -n '/^# usage:/,/^#   -f/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
[[ $SENDERS =~ ^[0-9]+$ && $SECS =~ ^[0-9]+$ ]] || { echo "bench_csr: bad -c or -t" >&2; exit 2; }
[ -r "$CSR" ] || { echo "bench_csr: cannot read $CSR" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estrad-bench-csr.XXXXXX")
LAB=$WORK/lab
cleanup() {
	local rc=$?
	trap - EXIT
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
	[ -f "$LAB/lab.env" ] && "$ROOT/tests/lab" down "$LAB" >/dev/null 2>&1
	if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else echo "bench_csr: failed; logs in $WORK" >&2; fi
	exit "$rc"
}
trap cleanup EXIT

"$ROOT/tests/lab" up "$LAB" >"$WORK/lab-up.log" 2>&1 ||
    { cat "$WORK/lab-up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$LAB/lab.env"

# probe FILE: cacerts latencies (ms), one a line, until the phase ends.
probe() {
	local end=$(($(date +%s) + SECS))
	while [ "$(date +%s)" -lt "$end" ]; do
		curl -s -o /dev/null --cacert "$TRUST" -w '%{http_code} %{time_total}\n' \
		    "$EST_URL/cacerts" | awk '$1 == 200 { printf "%.1f\n", $2 * 1000 }'
		sleep 0.05
	done >"$1"
}

# sender N: POSTs the CSR until the phase ends; one status a line.
sender() {
	local end=$(($(date +%s) + SECS)) args=() i
	for ((i = 0; i < 50; i++)); do
		args+=(-o /dev/null "$EST_URL/simpleenroll")
	done
	while [ "$(date +%s)" -lt "$end" ]; do
		curl -s --cacert "$TRUST" --digest -u "$EST_USER:$EST_PASS" \
		    -H 'Content-Type: application/pkcs10' --data-binary "@$CSR" \
		    -w '%{http_code}\n' "${args[@]}" || true
	done >"$WORK/sender.$1"
}

# stats NAME FILE: median, p90, max of FILE's numbers.
stats() {
	sort -n "$2" | awk -v n="$1" '{ v[NR] = $1 }
	    END { if (NR == 0) { print n ": no samples"; exit }
	          printf "%-28s n=%-4d median %7.1f ms  p90 %7.1f ms  max %7.1f ms\n",
	              n, NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR] }'
}

echo "estrad: $("$ESTRAD_BIN" --version 2>&1 | head -n 1) ($ESTRAD_BIN)"
echo "machine: nproc $(nproc); senders $SENDERS; $SECS s per phase; CSR $(basename "$CSR")"
probe "$WORK/idle.ms"
stats "cacerts, idle" "$WORK/idle.ms"
for ((s = 0; s < SENDERS; s++)); do
	sender "$s" &
done
sleep 0.5	# the senders' first requests are in flight
probe "$WORK/flood.ms"
wait
stats "cacerts, $SENDERS senders" "$WORK/flood.ms"
echo "CSRs answered, by status: $(cat "$WORK"/sender.* | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
