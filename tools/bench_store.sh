#!/usr/bin/env bash
#
# tools/bench_store.sh: the shared store's benchmark (issue 19,
# docs/performance.md#the-shared-store). tools/bench.sh runs it when given
# --store or --replicas; it can also run alone.
#
# Brings up the lab (tests/lab: its upstream estrad is the CA) and, with
# --store postgresql, a throwaway PostgreSQL 15 cluster with TLS on loopback
# (tests/tools/pgcluster). Then starts, side by side, estrad "targets" with
# the same configuration but the store: Digest (nonce counts), a policy
# with a rate (1,000,000 a minute: counted, never reached) and a queue, the
# state the store keeps:
#
#   sqlite      one replica, SQLite in a state_dir of its own (the baseline)
#   postgresql  one replica on the cluster (--store postgresql)
#   STORE xN    N replicas behind HAProxy (--replicas N; tests/tools/haproxy_cfg:
#               TCP, round robin, no affinity), on STORE (sqlite: each
#               replica a database of its own; postgresql: one database)
#
# Every replica has a state_dir of its own (the SQLite store; on
# PostgreSQL, what stays local).
#
# and measures each with estbench (Digest enrollments, a new connection
# each), at 1 and 64 clients, in interleaved rounds (each figure the median
# of its rounds). During the 64-client runs it reads the CPU time of each
# party from /proc/PID/stat (utime + stime): estrad's replicas, PostgreSQL
# (the postmaster with what it reaped, cutime + cstime, and its live
# children), HAProxy and the CA, as a share of the machine's cores; and
# each replica's estrad_store_queries_total (the admin listener's
# /metrics): the database's queries per enrollment.
#
# usage: tools/bench_store.sh [--store sqlite|postgresql] [--replicas N] [-q] [-t SECONDS] [-r ROUNDS] [-o FILE]
#   --store S     the store to compare with the SQLite baseline (default
#                 sqlite: the baseline alone, or its replicas)
#   --replicas N  also N replicas on that store behind HAProxy (2..16)
#   -t SECONDS    duration of each run (default 10; -q: 3)
#   -r ROUNDS     rounds (default 3; -q: 1)
#   -o FILE       also write the table (markdown) to FILE
#   -q            quick
#
# Needs the README's set-up (tools/install-deps: postgresql-15, haproxy)
# and a build in build/ (BUILD_DIR overrides). Everything it started is
# stopped at the end, even on failure.
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench_lib.sh
. "$ROOT/tools/bench_lib.sh"
PGCLUSTER=$ROOT/tests/tools/pgcluster

ARGS_TEXT=${*:-}
STORE=sqlite REPLICAS=1 DURATION='' ROUNDS='' OUT='' QUICK=0

usage() {
	sed -n '/^# usage:/,/^#   -q/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

args=()
while [ $# -gt 0 ]; do
	case $1 in
	--store) [ $# -ge 2 ] || usage; STORE=$2; shift 2 ;;
	--store=*) STORE=${1#*=}; shift ;;
	--replicas) [ $# -ge 2 ] || usage; REPLICAS=$2; shift 2 ;;
	--replicas=*) REPLICAS=${1#*=}; shift ;;
	*) args+=("$1"); shift ;;
	esac
done
set -- ${args[@]+"${args[@]}"}
while getopts "qt:r:o:h" opt; do
	case $opt in
	q) QUICK=1 ;;
	t) DURATION=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
case $STORE in sqlite | postgresql) ;; *) echo "bench_store: --store sqlite or postgresql" >&2; exit 2 ;; esac
[[ $REPLICAS =~ ^[0-9]+$ ]] && [ "$REPLICAS" -ge 1 ] && [ "$REPLICAS" -le 16 ] ||
    { echo "bench_store: --replicas 1..16" >&2; exit 2; }
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-1}
else
	DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench_store: bad -r: $ROUNDS" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench_store: bad -t: $DURATION" >&2; exit 2; }

[ -x "$ESTRAD_BIN" ] || { echo "bench_store: no estrad at $ESTRAD_BIN (build first)" >&2; exit 1; }
[ -x "$ESTBENCH" ] || { echo "bench_store: no estbench at $ESTBENCH (build first)" >&2; exit 1; }
[ "$REPLICAS" = 1 ] || command -v haproxy >/dev/null ||
    { echo "bench_store: no haproxy (tools/install-deps)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estrad-bench-store.XXXXXX")
# Searchable (not readable) by others: as root, the cluster's server runs
# as nobody and keeps its files in WORK/pg (tests/tools/pgcluster).
chmod 711 "$WORK"
LAB=$WORK/lab
PGDIR=$WORK/pg
STARTED=()		# estrads and HAProxy, stopped at the end

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	bench_stop ${STARTED[@]+"${STARTED[@]}"}
	[ ! -d "$PGDIR" ] || "$PGCLUSTER" stop "$PGDIR" >/dev/null 2>&1 || true
	if [ -f "$LAB/lab.env" ]; then
		"$ROOT/tests/lab" down "$LAB" >/dev/null 2>&1 || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "bench_store: failed (rc $rc); logs kept in $WORK" >&2
	else
		[ ! -d "$PGDIR" ] || "$PGCLUSTER" stop "$PGDIR" --rm >/dev/null 2>&1 || true
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "bench_store: $*" >&2; }

START=$(date +%s)
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
bench_machine

# ------------------------------------------------------------ lab, database

bench_lab_up
: "${CA_URL:?}" "${TRUST:?}" "${PKI_DIR:?}" "${CA_PID:?}"

STORE_JSON=
PG_MAIN=
if [ "$STORE" = postgresql ]; then
	log "PostgreSQL up in $PGDIR"
	"$PGCLUSTER" start "$PGDIR" >"$WORK/pg-up.log" 2>&1 ||
	    { cat "$WORK/pg-up.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$PGDIR/pg.env"
	(umask 077 && cp "$PG_PASSWORD_FILE" "$WORK/pg.password")
	STORE_JSON="{ \"backend\": \"postgresql\", \"conninfo\": \"host=$PG_HOST port=$PG_PORT dbname=$PG_DB user=$PG_USER\", \"password_file\": \"$WORK/pg.password\", \"sslmode\": \"verify-full\", \"ssl_root_cert\": \"$PG_CA\" }"
	PG_MAIN=$(head -n 1 "$PG_DATA/postmaster.pid")
fi

# config FILE STORE: the measured estrad's configuration: the lab's TLS
# and CA, Digest users, a policy estbench's CSRs pass with a rate that is
# counted and never reached, a queue; a state_dir (each replica gets its
# own by ESTRAD_STATE_DIR: the SQLite store, and on PostgreSQL whatever
# stays local); for postgresql the store section too.
config() {
	local where="\"state_dir\": \"$WORK/state\""
	[ "$2" != postgresql ] || where="$where, \"store\": $STORE_JSON"
	cat >"$1" <<EOF
{
  "log_level": "info",
  "run_as_root": true,
  "listen": ["127.0.0.1:0"],
  "admin": { "listen": "127.0.0.1:0" },
  "tls": {
    "certificate": "$PKI_DIR/proxy-server-chain.pem",
    "key": "$PKI_DIR/proxy-server.key",
    "client_ca": "$PKI_DIR/root.pem"
  },
  "auth": { "realm": "${AUTH_REALM:-estrealm}", "digest_users": "$DIGEST_USERS",
            "max_failures": 1000 },
  "upstreams": {
    "ca": {
      "url": "$CA_URL",
      "ca_bundle": "$PKI_DIR/root.pem",
      "client_certificate": "$PKI_DIR/ra-chain.pem",
      "client_key": "$PKI_DIR/ra.key",
      "max_in_flight": 64
    }
  },
  $where,
  "queue": { "retry_after": 5 },
  "policies": {
    "bench": {
      "subject": { "required": ["CN"], "patterns": { "CN": "^estbench-[0-9]+\$" } },
      "rate": { "max": 1000000, "window": 60 }
    }
  },
  "default": { "upstream": "ca", "policy": "bench", "auth": { "simpleenroll": ["digest"] } }
}
EOF
	chmod 600 "$1"
	"$ESTRAD_BIN" -n -c "$1" >"$1.check" 2>&1 ||
	    { log "$1 does not check:"; cat "$1.check" >&2; exit 1; }
}

# free_port: a TCP port free on 127.0.0.1 now (HAProxy cannot bind port
# 0, and a replica's admin port must be known before it starts).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

declare -A T_URL T_PIDS T_ADMINS T_HA T_DESC
TARGETS=()

# start_one NAME I CONFIG: replica I of target NAME on its own ports
# (ESTRAD_LISTEN, ESTRAD_ADMIN_LISTEN) and state_dir (ESTRAD_STATE_DIR).
start_one() {
	local name=$1 i=$2 cfg=$3 port aport logf=$WORK/$1.r$2.log pid env=() k
	port=$(free_port) aport=$(free_port)
	env=(ESTRAD_LISTEN="127.0.0.1:$port" ESTRAD_ADMIN_LISTEN="127.0.0.1:$aport"
	    ESTRAD_STATE_DIR="$WORK/$name.r$i.state")
	env "${env[@]}" setsid "$ESTRAD_BIN" -c "$cfg" </dev/null >"$logf" 2>&1 &
	pid=$!
	STARTED+=("$pid")
	for ((k = 0; k < 100; k++)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$aport/healthz" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$aport/healthz" ||
	    { log "$name r$i did not start:"; tail -n 20 "$logf" >&2; exit 1; }
	T_PIDS[$name]="${T_PIDS[$name]:-}${T_PIDS[$name]:+ }$pid"
	T_ADMINS[$name]="${T_ADMINS[$name]:-}${T_ADMINS[$name]:+ }$aport"
	PORT=$port
}

# start_target NAME STORE N DESCRIPTION: N replicas (behind HAProxy when N
# > 1) from one configuration; T_URL[NAME] is where clients go.
start_target() {
	local name=$1 store=$2 n=$3 i ports=() hp k pid
	config "$WORK/$name.json" "$store"
	for ((i = 1; i <= n; i++)); do
		start_one "$name" "$i" "$WORK/$name.json"
		ports+=("$PORT")
	done
	T_DESC[$name]=$4
	TARGETS+=("$name")
	if [ "$n" = 1 ]; then
		T_URL[$name]=https://127.0.0.1:${ports[0]}/.well-known/est
		return 0
	fi
	hp=$(free_port)
	"$ROOT/tests/tools/haproxy_cfg" "$hp" 4096 "${ports[@]}" >"$WORK/$name.haproxy.cfg"
	haproxy -db -f "$WORK/$name.haproxy.cfg" </dev/null >"$WORK/$name.haproxy.log" 2>&1 &
	pid=$!
	STARTED+=("$pid")
	T_HA[$name]=$pid
	for ((k = 0; k < 50; k++)); do
		curl -s -o /dev/null --max-time 1 --cacert "$TRUST" \
		    "https://127.0.0.1:$hp/.well-known/est/cacerts" && break
		sleep 0.1
	done
	T_URL[$name]=https://127.0.0.1:$hp/.well-known/est
	curl -s -o /dev/null --max-time 2 --cacert "$TRUST" "${T_URL[$name]}/cacerts" ||
	    { log "haproxy for $name did not start:"; tail -n 20 "$WORK/$name.haproxy.log" >&2; exit 1; }
}

start_target sqlite sqlite 1 "one replica, SQLite"
[ "$STORE" = sqlite ] || start_target pg postgresql 1 "one replica, PostgreSQL"
if [ "$REPLICAS" -gt 1 ]; then
	if [ "$STORE" = postgresql ]; then
		start_target pgN postgresql "$REPLICAS" "$REPLICAS replicas behind HAProxy, PostgreSQL"
	else
		start_target sqliteN sqlite "$REPLICAS" "$REPLICAS replicas behind HAProxy, SQLite each"
	fi
fi

# ------------------------------------------------------------ measures

# ticks PID...: utime + stime of the processes, in clock ticks (fields 14
# and 15 of /proc/PID/stat, counted after the command's closing paren).
ticks() {
	local pid t=0 v
	for pid in "$@"; do
		v=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null |
		    awk '{ print $12 + $13 }') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# pg_ticks: the cluster's CPU in clock ticks: the postmaster's own and
# what it reaped (cutime + cstime: backends that ended), and its live
# children's.
pg_ticks() {
	local own
	[ -n "$PG_MAIN" ] || { echo 0; return 0; }
	own=$(sed 's/^.*) //' "/proc/$PG_MAIN/stat" | awk '{ print $12 + $13 + $14 + $15 }')
	# shellcheck disable=SC2046
	echo $((own + $(ticks $(pgrep -P "$PG_MAIN" || true))))
}

# store_queries NAME: estrad_store_queries_total over NAME's replicas.
store_queries() {
	local a t=0 v
	for a in ${T_ADMINS[$1]}; do
		v=$(curl -s --max-time 5 "http://127.0.0.1:$a/metrics" |
		    awk '/^estrad_store_queries_total/ { n += $NF } END { printf "%d", n }')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# ok_of KEY: the enrollments estbench finished in run KEY.
ok_of() {
	sed -n 's/^done: ok=\([0-9]*\).*/\1/p' "$WORK/$1.out" 2>/dev/null | tail -n 1
}

declare -A CPU_ESTRAD CPU_PG CPU_HA CPU_CA WALL OKS QUERIES
DG_AUTH=(-u "$EST_USER:$EST_PASS")
T=(-t "$DURATION")
for t in "${TARGETS[@]}"; do
	CPU_ESTRAD[$t]=0 CPU_PG[$t]=0 CPU_HA[$t]=0 CPU_CA[$t]=0 WALL[$t]=0 OKS[$t]=0 QUERIES[$t]=0
done

# measured64 TARGET KEY: the 64-client run KEY against TARGET, with the
# CPU of every party and the store's queries around it.
measured64() {
	local t=$1 key=$2 e0 p0 h0 c0 q0 w0
	# shellcheck disable=SC2086
	e0=$(ticks ${T_PIDS[$t]}) p0=$(pg_ticks) c0=$(ticks "$CA_PID") q0=$(store_queries "$t")
	h0=0
	[ -z "${T_HA[$t]:-}" ] || h0=$(ticks "${T_HA[$t]}")
	w0=$(date +%s%N)
	run "$key" "${T_DESC[$t]}, -c 64" -c 64 "${T[@]}" "${DG_AUTH[@]}" "${T_URL[$t]}"
	WALL[$t]=$((WALL[$t] + $(date +%s%N) - w0))
	# shellcheck disable=SC2086
	CPU_ESTRAD[$t]=$((CPU_ESTRAD[$t] + $(ticks ${T_PIDS[$t]}) - e0))
	CPU_PG[$t]=$((CPU_PG[$t] + $(pg_ticks) - p0))
	CPU_CA[$t]=$((CPU_CA[$t] + $(ticks "$CA_PID") - c0))
	[ -z "${T_HA[$t]:-}" ] || CPU_HA[$t]=$((CPU_HA[$t] + $(ticks "${T_HA[$t]}") - h0))
	QUERIES[$t]=$((QUERIES[$t] + $(store_queries "$t") - q0))
	OKS[$t]=$((OKS[$t] + $(ok_of "$key")))
}

for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${TARGETS[@]}"; do
		run "$t.c1.$r" "${T_DESC[$t]}, -c 1" -c 1 "${T[@]}" "${DG_AUTH[@]}" "${T_URL[$t]}"
	done
	for t in "${TARGETS[@]}"; do
		measured64 "$t" "$t.c64.$r"
	done
done
for t in "${TARGETS[@]}"; do
	median_of "$t.c1"
	median_of "$t.c64"
done

# share TICKS TARGET: TICKS as a percentage of the machine's CPU over
# TARGET's 64-client runs.
share() {
	awk -v t="$1" -v hz="$CLK_TCK" -v ns="${WALL[$2]}" -v n="$NPROC" \
	    'BEGIN { if (ns > 0) printf "%.1f", t / hz * 100 / (ns / 1e9 * n); else print "n/a" }'
}

# per_enroll TICKS OK: CPU ms per enrollment.
per_enroll() {
	awk -v t="$1" -v hz="$CLK_TCK" -v ok="$2" \
	    'BEGIN { if (ok > 0) printf "%.2f", t / hz * 1000 / ok; else print "n/a" }'
}

ELAPSED=$(($(date +%s) - START))
{
	echo "## estrad benchmark: the shared store"
	echo
	echo "Machine: $MACHINE."
	echo "Command: \`tools/bench.sh${ARGS_TEXT:+ $ARGS_TEXT}\` (runs of ${DURATION} s, $ROUNDS round(s); Digest enrollments, a new connection each); took ${ELAPSED} s."
	echo
	echo "| run | rate /s | p50 ms | p90 ms | p99 ms | errors | rates by round |"
	echo "|---|---|---|---|---|---|---|"
	for t in "${TARGETS[@]}"; do
		for c in c1 c64; do
			k=$t.$c
			echo "| ${DESC[$k]} | ${RATE[$k]:-n/a} | ${P50[$k]:-n/a} | ${P90[$k]:-n/a} | ${P99[$k]:-n/a} | ${ERRS[$k]:-n/a} | ${ROUNDS_OF[$k]:-} |"
		done
	done
	echo
	echo "CPU during the 64-client runs, as a share of the machine's $NPROC cores (/proc/PID/stat), and the store's queries (estrad_store_queries_total):"
	echo
	echo "| target | enrollments | estrad % | PostgreSQL % | HAProxy % | the CA % | estrad CPU ms / enrollment | PostgreSQL CPU ms / enrollment | store queries / enrollment |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for t in "${TARGETS[@]}"; do
		pgs=- pgms=-
		if [ -n "$PG_MAIN" ]; then
			pgs=$(share "${CPU_PG[$t]}" "$t")
			pgms=$(per_enroll "${CPU_PG[$t]}" "${OKS[$t]}")
		fi
		echo "| ${T_DESC[$t]} | ${OKS[$t]} | $(share "${CPU_ESTRAD[$t]}" "$t") | $pgs | $(share "${CPU_HA[$t]}" "$t") | $(share "${CPU_CA[$t]}" "$t") | $(per_enroll "${CPU_ESTRAD[$t]}" "${OKS[$t]}") | $pgms | $(ratio "${QUERIES[$t]}" "${OKS[$t]}") |"
	done
	echo
	echo "| measure | value | target | verdict |"
	echo "|---|---|---|---|"
	if [ "$STORE" = postgresql ]; then
		R64=$(ratio "${RATE[pg.c64]}" "${RATE[sqlite.c64]}")
		R1=$(ratio "${RATE[pg.c1]}" "${RATE[sqlite.c1]}")
		ADD=$(calc "%.2f" "a - b" "${P50[pg.c1]}" "${P50[sqlite.c1]}")
		echo "| throughput PostgreSQL/SQLite, one replica, 64 clients | $R64 | >= 0.9 | $(verdict "$R64" ">=" 0.9) |"
		echo "| throughput PostgreSQL/SQLite, one replica, 1 client | $R1 | | |"
		echo "| added p50 at 1 client, PostgreSQL - SQLite (ms) | $ADD | < 1 | $(verdict "$ADD" "<" 1) |"
	fi
	for t in pgN sqliteN; do
		[ -n "${T_DESC[$t]:-}" ] || continue
		base=sqlite
		[ "$t" = pgN ] && base=pg
		RN=$(ratio "${RATE[$t.c64]}" "${RATE[$base.c64]}")
		echo "| throughput ${T_DESC[$t]} / one replica, 64 clients | $RN | (2 cores: no scale-up here) | |"
		[ "$t" != pgN ] ||
		    echo "| PostgreSQL's share of the CPU, ${T_DESC[$t]}, 64 clients (%) | $(share "${CPU_PG[$t]}" "$t") | | |"
	done
} >"$WORK/table.md"

cat "$WORK/table.md"
if [ -n "$OUT" ]; then
	cp "$WORK/table.md" "$OUT"
	log "table written to $OUT"
fi
