#!/usr/bin/env bash
#
# tools/bench_coap.sh: EST over CoAP against EST over HTTPS (issue 20,
# docs/performance.md#est-over-coap). tools/bench.sh runs it when given
# --coap; it can also run alone.
#
# Brings up the lab (tests/lab) in a temporary directory and starts one
# estrad "proxy" with both listeners (HTTPS and the "coap" DTLS listener)
# in front of the lab's CA, the default route (simpleenroll by client
# certificate, the built-in policy), then measures, one after the other on
# the same proxy, with a fresh (D)TLS session per enrollment but in the
# kept runs below:
#
#   coap   C shell loops, each running Debian's coap-client-openssl
#          (libcoap3-bin) once per enrollment: POST /sen, a DER CSR
#          (Content-Format 286), the lab client certificate
#   curl   C shell loops running curl once per enrollment: POST
#          simpleenroll, the same CSR in base64, the same certificate
#          (the HTTPS twin of the coap loops: a process per enrollment)
#   estbench  estbench -c C (the HTTPS rate of tools/bench.sh, a client
#          that is not a process per enrollment)
#   coapbench  tools/coapbench -c C, estbench's CoAP twin: one process,
#          C DTLS sessions, each kept for all its enrollments, then again
#          with --fresh (a DTLS handshake per enrollment, as the loops and
#          estbench have): the server's CoAP rate, not process start-up's;
#          next to estbench --keepalive, its HTTPS twin
#
# each for SECONDS: enrollments per second, p50 and p90 in ms (the loops
# time each run of their client, process start included), errors, and the
# proxy's CPU per enrollment (utime + stime from /proc/PID/stat: the figure
# the clients' own cost on a shared machine does not blur). Then the bytes
# on the wire per enrollment, counted by the kernel: iptables rules without
# a target on the loopback's OUTPUT (every loopback packet passes it once),
# one per direction of the proxy's UDP (DTLS) and TCP (HTTPS) port, read
# after N sequential enrollments by coap-client-openssl and by curl (IP
# packets, headers included: what a constrained link carries). Both send
# the leaf certificate alone (coap-client-openssl cannot send a chain; curl
# is given the leaf too); the proxy completes the chain from the
# intermediates it knows.
#
# usage: tools/bench_coap.sh [-q] [-t SECONDS] [-c CLIENTS] [-n N] [-o FILE]
#   -t SECONDS  duration of each throughput run (default 20; -q: 5)
#   -c CLIENTS  concurrent clients (default 64)
#   -n N        sequential enrollments for the bytes on the wire (default 20)
#   -o FILE     also write the table (markdown) to FILE
#   -q          quick run
#
# BENCH_KEEP=1 keeps the work directory (the proxy's log, each failed
# client's last lines) after a run that succeeded too.
#
# Needs the README's set-up (tools/install-deps: libcoap3-bin), a build in
# build/ (BUILD_DIR overrides) and, for the bytes, root and iptables (the
# rules are removed at the end; without them those rows read n/a).
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench_lib.sh
. "$ROOT/tools/bench_lib.sh"

ARGS_TEXT=${*:-}
DURATION='' CLIENTS=64 SEQ=20 OUT='' QUICK=0

usage() {
	sed -n '/^# usage:/,/^#   -q/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts "qt:c:n:o:h" opt; do
	case $opt in
	q) QUICK=1 ;;
	t) DURATION=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	n) SEQ=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-5}; else DURATION=${DURATION:-20}; fi
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "bench_coap: bad -t: $DURATION (whole seconds)" >&2; exit 2; }
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] && [ "$CLIENTS" -le 250 ] || { echo "bench_coap: -c 1..250" >&2; exit 2; }
[[ $SEQ =~ ^[1-9][0-9]*$ ]] || { echo "bench_coap: bad -n: $SEQ" >&2; exit 2; }

[ -x "$ESTRAD_BIN" ] || { echo "bench_coap: no estrad at $ESTRAD_BIN (build first)" >&2; exit 1; }
[ -x "$ESTBENCH" ] || { echo "bench_coap: no estbench at $ESTBENCH (build first)" >&2; exit 1; }
COAPBENCH=${COAPBENCH:-$BUILD_DIR/tools/coapbench/coapbench}
[ -x "$COAPBENCH" ] || { echo "bench_coap: no coapbench at $COAPBENCH (build first)" >&2; exit 1; }
command -v coap-client-openssl >/dev/null ||
    { echo "bench_coap: no coap-client-openssl (libcoap3-bin, tools/install-deps)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench_coap: curl not found" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estrad-bench-coap.XXXXXX")
LAB=$WORK/lab
PROXY_PID=''
IPT_RULES=()		# the counting rules, each as its iptables arguments

cleanup() {
	local rc=$? r
	trap - EXIT INT TERM
	for r in ${IPT_RULES[@]+"${IPT_RULES[@]}"}; do
		# shellcheck disable=SC2086
		iptables -w -D OUTPUT $r 2>/dev/null || true
	done
	[ -z "$PROXY_PID" ] || bench_stop "$PROXY_PID"
	[ ! -f "$LAB/lab.env" ] || "$ROOT/tests/lab" down "$LAB" >/dev/null 2>&1 || true
	if [ "$rc" -ne 0 ] || [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench_coap: rc $rc; logs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "bench_coap: $*" >&2; }

START=$(date +%s)
CLK_TCK=$(getconf CLK_TCK)
bench_machine

# ------------------------------------------------------------ lab, proxy

bench_lab_up
: "${CA_URL:?}" "${TRUST:?}" "${PKI_DIR:?}" "${CLIENT_CERT:?}" "${CLIENT_KEY:?}"

# The leaf alone (see above): the proxy completes its chain from the
# intermediates it knows (the RA chain's issuing CA).
openssl x509 -in "$CLIENT_CERT" -out "$WORK/client-leaf.pem"
LEAF=$WORK/client-leaf.pem

CFG=$WORK/proxy.json
PLOG=$WORK/proxy.log
cat >"$CFG" <<EOF
{
  "log_level": "${BENCH_LOG_LEVEL:-info}",
  "run_as_root": true,
  "listen": ["127.0.0.1:0"],
  "tls": {
    "certificate": "$PKI_DIR/proxy-server-chain.pem",
    "key": "$PKI_DIR/proxy-server.key",
    "client_ca": "$PKI_DIR/root.pem",
    "client_verify_depth": 4
  },
  "coap": { "listen": "127.0.0.1:0" },
  "upstreams": {
    "ca": {
      "url": "$CA_URL",
      "ca_bundle": "$PKI_DIR/root.pem",
      "client_certificate": "$PKI_DIR/ra-chain.pem",
      "client_key": "$PKI_DIR/ra.key",
      "max_in_flight": 64
    }
  },
  "default": { "upstream": "ca", "auth": { "simpleenroll": ["cert"] } }
}
EOF
chmod 600 "$CFG"
"$ESTRAD_BIN" -n -c "$CFG" >"$WORK/check.log" 2>&1 ||
    { log "the proxy's configuration does not check:"; cat "$WORK/check.log" >&2; exit 1; }
# "listening on" lines are info: start at info, for the ports.
sed -i 's/"log_level": "info"/"log_level": "info"/' "$CFG"
setsid "$ESTRAD_BIN" -c "$CFG" </dev/null >"$PLOG" 2>&1 &
PROXY_PID=$!

# port_of WHAT: the port of the proxy's first "WHAT 127.0.0.1:PORT" line.
port_of() {
	local port i
	for ((i = 0; i < 150; i++)); do
		port=$(sed -n "s/.* $1 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" "$PLOG" | head -n 1)
		[ -z "$port" ] || { echo "$port"; return 0; }
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "the proxy did not log '$1 127.0.0.1:PORT':"
	tail -n 20 "$PLOG" >&2
	return 1
}
HTTPS_PORT=$(port_of "info listening on")
COAP_PORT=$(port_of "coap listening on")
URL=https://127.0.0.1:$HTTPS_PORT/.well-known/est
COAPS=coaps://127.0.0.1:$COAP_PORT/.well-known/est
log "proxy: $URL and $COAPS (pid $PROXY_PID)"

# One CSR per client (EC P-256, as estbench's), DER for CoAP, base64 for
# HTTPS.
mkdir -p "$WORK/csr"
for ((i = 0; i < CLIENTS; i++)); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$WORK/csr/$i.key" -subj "/CN=bench-coap-$i" -outform DER \
	    -out "$WORK/csr/$i.der" 2>/dev/null
	base64 -w0 "$WORK/csr/$i.der" >"$WORK/csr/$i.b64"
done

# enroll_coap I OUT / enroll_https I OUT: one enrollment with CSR I, the
# answer in OUT (empty or absent: failed).
#
# Each client I sends from an address of its own, 127.0.0.(I + 2): libcoap
# sets SO_REUSEADDR before it binds its UDP socket to port 0, so two
# coap-client-openssl processes on one address may get the same source
# port, and the kernel then gives one's answers to the other, whose
# handshake stalls until it gives up (seen: 2 to 4 in 1,500). Devices have
# an address each anyway.
enroll_coap() {
	coap-client-openssl -a "127.0.0.$(($1 + 2))" -m post -t 286 -f "$WORK/csr/$1.der" -c "$LEAF" -j "$CLIENT_KEY" \
	    -R "$TRUST" -B 30 -o "$2" "$COAPS/sen" >"$2.log" 2>&1 </dev/null
}
enroll_https() {
	curl -s -f --max-time 30 --cacert "$TRUST" --cert "$LEAF" --key "$CLIENT_KEY" \
	    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/csr/$1.b64" \
	    -o "$2" "$URL/simpleenroll" 2>"$2.log"
}

# enroll_coap2 / enroll_https2 I OUT: two enrollments in one session
# (coap-client-openssl -G 2 repeats its request a second later on the same
# DTLS session; curl posts to the URL twice on one kept-alive
# connection): the second one's bytes are those of a device that keeps its
# session.
enroll_coap2() {
	coap-client-openssl -a "127.0.0.$(($1 + 2))" -m post -t 286 -f "$WORK/csr/$1.der" -c "$LEAF" -j "$CLIENT_KEY" \
	    -R "$TRUST" -B 30 -G 2 -o "$2" "$COAPS/sen" >/dev/null 2>&1 </dev/null
}
enroll_https2() {
	curl -s -f --max-time 30 --cacert "$TRUST" --cert "$LEAF" --key "$CLIENT_KEY" \
	    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/csr/$1.b64" \
	    -o "$2" -o "$2.2" "$URL/simpleenroll" "$URL/simpleenroll" 2>/dev/null
}

# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ------------------------------------------------------------ throughput

# loops KEY KIND: CLIENTS shell loops of enroll_KIND for DURATION seconds;
# each appends the ms of every success to WORK/KEY.I.ms and counts its
# failures in WORK/KEY.I.err. Sets RATE, P50, P90, ERRS and CPU_MS[KEY].
declare -A CPU_MS
loops() {
	local key=$1 kind=$2 i c0 t0 pids=() ok
	log "$key: $CLIENTS loops of $kind for ${DURATION} s"
	c0=$(cpu_ticks "$PROXY_PID")
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < CLIENTS; i++)); do
		(
			end=$((${EPOCHREALTIME/./} + DURATION * 1000000)) fails=0
			out=$WORK/$key.$i.out
			: >"$WORK/$key.$i.ms"
			while [ "${EPOCHREALTIME/./}" -lt "$end" ]; do
				s=${EPOCHREALTIME/./}
				rm -f "$out"
				if "enroll_$kind" "$i" "$out" && [ -s "$out" ]; then
					e=${EPOCHREALTIME/./}
					echo "$(((e - s) / 1000)) $e" >>"$WORK/$key.$i.ms"
				else
					fails=$((fails + 1))
					{ echo "== $(date -u +%T.%N) after $(((${EPOCHREALTIME/./} - s) / 1000)) ms"
					  tail -n 5 "$out.log"; } >>"$WORK/$key.fail" 2>/dev/null
				fi
			done
			echo "$fails" >"$WORK/$key.$i.err"
		) &
		pids+=("$!")
	done
	wait "${pids[@]}"
	# The rate counts the enrollments done within the run (a client still
	# waiting at its end, e.g. on a handshake that stalled, would stretch
	# it), the latencies every success.
	cat "$WORK/$key".*.ms | sort -n >"$WORK/$key.all"
	ok=$(awk -v end="$((t0 + DURATION * 1000000))" '$2 <= end' "$WORK/$key.all" | wc -l)
	RATE[$key]=$(calc "%.1f" "a / b" "$ok" "$DURATION")
	ok=$(wc -l <"$WORK/$key.all")
	P50[$key]=$(awk -v n="$ok" 'NR == int((n + 1) / 2) { print $1; exit }' "$WORK/$key.all")
	P90[$key]=$(awk -v n="$ok" 'NR == int((n * 9 + 9) / 10) { print $1; exit }' "$WORK/$key.all")
	ERRS[$key]=$(cat "$WORK/$key".*.err | awk '{ n += $1 } END { print n + 0 }')
	CPU_MS[$key]=$(calc "%.2f" "a * 1000 / b" "$(($(cpu_ticks "$PROXY_PID") - c0))" "$((ok * CLK_TCK))")
	DESC[$key]="$3"
	log "$key: $ok enrollments, ${RATE[$key]}/s, ${ERRS[$key]} errors"
	[ ! -s "$WORK/$key.fail" ] || { log "$key: the failures (kept in $WORK/$key.fail):"; head -n 12 "$WORK/$key.fail" >&2; }
}

# One of each first: both paths work before anything is timed.
enroll_coap 0 "$WORK/first.coap" && [ -s "$WORK/first.coap" ] ||
    { log "a CoAP enrollment failed:"; tail -n 20 "$PLOG" >&2; exit 1; }
enroll_https 0 "$WORK/first.https" && [ -s "$WORK/first.https" ] ||
    { log "an HTTPS enrollment failed:"; tail -n 20 "$PLOG" >&2; exit 1; }

loops coap coap "CoAP: $CLIENTS loops of coap-client-openssl (DTLS 1.2, a session each)"
loops curl https "HTTPS: $CLIENTS loops of curl (a TLS connection each)"
# generator KEY DESCRIPTION ARGS...: one run of an in-process generator
# (BENCH_BIN: coapbench; default estbench), with the proxy's CPU per
# enrollment into CPU_MS[KEY].
generator() {
	local key=$1 c0 n
	c0=$(cpu_ticks "$PROXY_PID")
	run "$@"
	n=$(sed -n 's/^done: ok=\([0-9]*\).*/\1/p' "$WORK/$key.out" | head -n 1)
	CPU_MS[$key]=$(calc "%.2f" "a * 1000 / b" "$(($(cpu_ticks "$PROXY_PID") - c0))" "$((${n:-0} * CLK_TCK))")
}
generator estbench "HTTPS: estbench -c $CLIENTS (a TLS connection each)" -c "$CLIENTS" -t "$DURATION" \
    --cert "$LEAF" --key "$CLIENT_KEY" "$URL"
BENCH_BIN=$COAPBENCH generator coapbench_fresh "CoAP: coapbench -c $CLIENTS --fresh (a DTLS session each)" \
    -c "$CLIENTS" -t "$DURATION" --fresh --cert "$LEAF" --key "$CLIENT_KEY" "$COAPS"
generator estbench_kept "HTTPS: estbench -c $CLIENTS --keepalive (a TLS connection each, kept)" -c "$CLIENTS" \
    -t "$DURATION" --keepalive --cert "$LEAF" --key "$CLIENT_KEY" "$URL"
BENCH_BIN=$COAPBENCH generator coapbench "CoAP: coapbench -c $CLIENTS (a DTLS session each, kept)" \
    -c "$CLIENTS" -t "$DURATION" --cert "$LEAF" --key "$CLIENT_KEY" "$COAPS"

# ------------------------------------------------------------ bytes on the wire

# count_rule PROTO PORTOPT PORT: an iptables rule without a target (it
# only counts) on the loopback's OUTPUT, commented estrad-bench-coap:PROTO.
count_rule() {
	local r="-o lo -p $1 $2 $3 -m comment --comment estrad-bench-coap:$1"
	# shellcheck disable=SC2086
	iptables -w -I OUTPUT $r || return 1
	IPT_RULES+=("$r")
}

# counted PROTO: "PACKETS BYTES" of the rules commented
# estrad-bench-coap:PROTO, so far.
counted() {
	iptables -w -L OUTPUT -v -n -x | awk -v c="estrad-bench-coap:$1" \
	    'index($0, c) { p += $1; b += $2 } END { print p + 0, b + 0 }'
}

# wire KIND PROTO: bytes and packets per enrollment of SEQ sequential
# enroll_KIND runs, both directions (the PROTO rules); sets BYTES[KIND]
# and PKTS[KIND].
declare -A BYTES PKTS BYTES_RAW PKTS_RAW RUNS
wire() {
	local kind=$1 i b0 p0 b p
	read -r p0 b0 <<<"$(counted "$2")"
	for ((i = 0; i < SEQ; i++)); do
		rm -f "$WORK/wire.out"
		"enroll_$kind" 0 "$WORK/wire.out" && [ -s "$WORK/wire.out" ] ||
		    { log "wire: a $kind enrollment failed"; exit 1; }
	done
	read -r p b <<<"$(counted "$2")"
	BYTES[$kind]=$(calc "%.0f" "a / b" "$((b - b0))" "$SEQ")
	# shellcheck disable=SC2034 # read through a nameref, by kept
	BYTES_RAW[$kind]=$((b - b0)) PKTS_RAW[$kind]=$((p - p0)) RUNS[$kind]=$SEQ
	PKTS[$kind]=$(calc "%.1f" "a / b" "$((p - p0))" "$SEQ")
	log "wire: $kind: ${BYTES[$kind]} bytes, ${PKTS[$kind]} packets per enrollment"
}

# wire_kept: the bytes and packets of one more enrollment on a kept DTLS
# session, by coapbench: one session for SEQ + 1 enrollments, less one
# session for one, over SEQ; into BYTES/PKTS[coapkept].
wire_kept() {
	local b0 p0 b1 p1 b2 p2
	read -r p0 b0 <<<"$(counted udp)"
	"$COAPBENCH" --cafile "$TRUST" --cert "$LEAF" --key "$CLIENT_KEY" -n 1 "$COAPS" >"$WORK/wire1.out" 2>&1 ||
	    { log "wire: coapbench -n 1 failed"; return 0; }
	read -r p1 b1 <<<"$(counted udp)"
	"$COAPBENCH" --cafile "$TRUST" --cert "$LEAF" --key "$CLIENT_KEY" -n "$((SEQ + 1))" "$COAPS" \
	    >"$WORK/wireN.out" 2>&1 || { log "wire: coapbench -n $((SEQ + 1)) failed"; return 0; }
	read -r p2 b2 <<<"$(counted udp)"
	BYTES[coapkept]=$(calc "%.0f" "a / b" "$((b2 - b1 - (b1 - b0)))" "$SEQ")
	PKTS[coapkept]=$(calc "%.1f" "a / b" "$((p2 - p1 - (p1 - p0)))" "$SEQ")
	log "wire: coapbench: ${BYTES[coapkept]} bytes, ${PKTS[coapkept]} packets per enrollment on a kept session"
}

if [ "$(id -u)" = 0 ] && command -v iptables >/dev/null &&
    count_rule udp --dport "$COAP_PORT" 2>/dev/null; then
	count_rule udp --sport "$COAP_PORT"
	count_rule tcp --dport "$HTTPS_PORT"
	count_rule tcp --sport "$HTTPS_PORT"
	log "wire: $SEQ enrollments each, counted by iptables"
	wire coap udp
	wire https tcp
	SEQ=$(((SEQ + 3) / 4)) wire coap2 udp
	SEQ=$(((SEQ + 3) / 4)) wire https2 tcp
	wire_kept
else
	log "wire: no iptables as root here: the bytes read n/a"
fi
SIZES="CSR $(stat -c %s "$WORK/csr/0.der") bytes DER ($(stat -c %s "$WORK/csr/0.b64") base64), PKCS#7 answer $(stat -c %s "$WORK/first.coap") bytes DER ($(stat -c %s "$WORK/first.https") base64)"

# kept KIND bytes|pkts: what the second enrollment of KIND2 (two on one
# session) cost beyond KIND's one: (KIND2 per run) - (KIND per run).
kept() {
	local t=BYTES_RAW fmt=%.0f
	[ "$2" = pkts ] && t=PKTS_RAW fmt=%.1f
	local -n raw=$t
	[ -n "${raw[$1]:-}" ] && [ -n "${raw[${1}2]:-}" ] || { echo n/a; return 0; }
	awk -v a="${raw[${1}2]}" -v na="${RUNS[${1}2]}" -v b="${raw[$1]}" -v nb="${RUNS[$1]}" \
	    "BEGIN { printf \"$fmt\", a / na - b / nb }"
}

# ------------------------------------------------------------ table

ELAPSED=$(($(date +%s) - START))
{
	echo "## EST over CoAP against HTTPS"
	echo
	echo "Machine: $MACHINE."
	echo "Command: \`tools/bench_coap.sh${ARGS_TEXT:+ $ARGS_TEXT}\` (runs of ${DURATION} s, $CLIENTS clients; $SEQ enrollments for the bytes); took ${ELAPSED} s."
	echo
	echo "| run | rate /s | p50 ms | p90 ms | errors | proxy CPU ms per enrollment |"
	echo "|---|---|---|---|---|---|"
	for k in coap curl estbench coapbench_fresh estbench_kept coapbench; do
		echo "| ${DESC[$k]:-$k} | ${RATE[$k]:-n/a} | ${P50[$k]:-n/a} | ${P90[$k]:-n/a} | ${ERRS[$k]:-n/a} | ${CPU_MS[$k]:-n/a} |"
	done
	echo
	echo "| bytes on the wire per enrollment (IP packets, both ways, a fresh session each) | bytes | packets |"
	echo "|---|---|---|"
	echo "| CoAP over DTLS 1.2 (coap-client-openssl, UDP) | ${BYTES[coap]:-n/a} | ${PKTS[coap]:-n/a} |"
	echo "| HTTPS over TLS 1.3 (curl, TCP) | ${BYTES[https]:-n/a} | ${PKTS[https]:-n/a} |"
	echo "| CoAP / HTTPS | $(ratio "${BYTES[coap]:-}" "${BYTES[https]:-}") | $(ratio "${PKTS[coap]:-}" "${PKTS[https]:-}") |"
	echo "| CoAP, one more enrollment on a kept DTLS session (coap-client-openssl -G 2) | $(kept coap bytes) | $(kept coap pkts) |"
	echo "| CoAP, one more enrollment on a kept DTLS session (coapbench -n $((SEQ + 1)) less -n 1) | ${BYTES[coapkept]:-n/a} | ${PKTS[coapkept]:-n/a} |"
	echo "| HTTPS, one more enrollment on a kept TLS connection | $(kept https bytes) | $(kept https pkts) |"
	echo
	echo "Sizes: $SIZES."
} >"$WORK/table.md"
cat "$WORK/table.md"
if [ -n "$OUT" ]; then
	cp "$WORK/table.md" "$OUT"
	log "table written to $OUT"
fi
