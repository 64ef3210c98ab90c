# tools/bench_lib.sh: what tools/bench.sh, tools/bench_weak.sh,
# tools/bench_store.sh and tools/bench_coap.sh share,
# sourced by each: where the binaries are, and the arithmetic and verdicts
# of their tables.
#
# The caller sets ROOT (the repository) first. BUILD_DIR, ESTRAD_BIN and
# ESTBENCH may come from the environment. run and median_of (tools/bench.sh,
# tools/bench_store.sh) also need WORK, TRUST, ROUNDS and a log function;
# bench_lab_up WORK, LAB and log.

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
ESTRAD_BIN=${ESTRAD_BIN:-$BUILD_DIR/estrad}
ESTBENCH=${ESTBENCH:-$BUILD_DIR/tools/estbench/estbench}
export ESTRAD_BIN

# bench_machine: MACHINE, the machine in one line (cores, CPU model,
# kernel); prints it and estrad's version.
bench_machine() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
	MACHINE="nproc $(nproc), CPU ${cpu:-unknown}, kernel $(uname -srm)"
	echo "machine: $MACHINE"
	echo "estrad: $("$ESTRAD_BIN" --version 2>&1 | head -n 1)"
}

# bench_lab_up: tests/lab up $LAB (its output in $WORK/lab-up.log, shown
# when it fails, which ends the script), then its lab.env sourced.
bench_lab_up() {
	log "lab up in $LAB"
	"$ROOT/tests/lab" up "$LAB" >"$WORK/lab-up.log" 2>&1 ||
	    { cat "$WORK/lab-up.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$LAB/lab.env"
}

# bench_stop PID...: SIGTERM to each, up to 5 s for each to end, then
# SIGKILL (for a cleanup trap: never fails).
bench_stop() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# calc FORMAT EXPR A B: EXPR (awk, on a and b) in FORMAT, or n/a when an
# input is missing.
calc() {
	local fmt=$1 expr=$2
	shift 2
	local a
	for a in "$@"; do
		[ -n "$a" ] || { echo n/a; return 0; }
	done
	awk -v a="${1:-0}" -v b="${2:-0}" "BEGIN { if ($expr == \"\") print \"n/a\"; else printf \"$fmt\", $expr }"
}

# ratio A B [FORMAT]: A/B (default %.2f), or n/a when either is missing or
# B is not positive.
ratio() {
	if [ -z "$1" ] || [ -z "$2" ] ||
	    ! awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
		echo n/a
		return 0
	fi
	calc "${3:-%.2f}" "a / b" "$1" "$2"
}

# verdict VALUE OP TARGET: met, NOT met, or ? when VALUE is missing.
verdict() {
	[ -n "$1" ] && [ "$1" != n/a ] || { echo "?"; return 0; }
	if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then echo met; else echo "NOT met"; fi
}

# ------------------------------------------------------------ estbench runs

declare -A RATE P50 P90 P99 ERRS DESC

# shown_args ARGS...: the arguments for the log, the password of -u hidden.
shown_args() {
	local a prev= out=()
	for a in "$@"; do
		if [ "$prev" = -u ]; then
			out+=("${a%%:*}:***")
		else
			out+=("$a")
		fi
		prev=$a
	done
	echo "${out[*]}"
}

# [BENCH_BIN=PATH] run KEY DESCRIPTION ESTBENCH-ARGS...: one estbench run
# (BENCH_BIN: another generator with estbench's --cafile and machine line,
# tools/coapbench); its machine line goes into RATE/P50/P90/P99/ERRS[KEY];
# its output into WORK/KEY.out.
run() {
	local key=$1 desc=$2 line rc=0 bin=${BENCH_BIN:-$ESTBENCH}
	shift 2
	DESC[$key]=$desc
	log "$key: ${bin##*/} $(shown_args "$@")"
	"$bin" --cafile "$TRUST" "$@" >"$WORK/$key.out" 2>"$WORK/$key.err" || rc=$?
	line=$(grep '^rate=' "$WORK/$key.out" | tail -n 1 || true)
	RATE[$key]=$(sed -n 's/.*rate=\([^ ]*\).*/\1/p' <<<"$line")
	P50[$key]=$(sed -n 's/.*p50_ms=\([^ ]*\).*/\1/p' <<<"$line")
	P90[$key]=$(sed -n 's/.*p90_ms=\([^ ]*\).*/\1/p' <<<"$line")
	P99[$key]=$(sed -n 's/.*p99_ms=\([^ ]*\).*/\1/p' <<<"$line")
	ERRS[$key]=$(sed -n 's/.*errors=\([^ ]*\).*/\1/p' <<<"$line")
	if [ "$rc" -ne 0 ]; then
		log "$key: ${bin##*/} exited $rc: $(grep '^errors:' "$WORK/$key.out" || true) $(tail -n 2 "$WORK/$key.err" | tr '\n' ' ')"
	fi
	return 0
}

# median VALUES...: the median (the lower middle of an even count).
median() {
	printf '%s\n' "$@" | grep -v '^$' | sort -g |
	    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# median_of KEY: RATE/P50/P90/P99[KEY] are the medians of KEY.1..ROUNDS,
# ERRS[KEY] their sum, ROUNDS_OF[KEY] the rounds' rates.
declare -A ROUNDS_OF
median_of() {
	local key=$1 r f rates=() p50=() p90=() p99=() errs=0
	for ((r = 1; r <= ROUNDS; r++)); do
		f=$key.$r
		rates+=("${RATE[$f]:-}")
		p50+=("${P50[$f]:-}")
		p90+=("${P90[$f]:-}")
		p99+=("${P99[$f]:-}")
		errs=$((errs + ${ERRS[$f]:-0}))
		DESC[$key]=${DESC[$f]}
	done
	RATE[$key]=$(median "${rates[@]}")
	P50[$key]=$(median "${p50[@]}")
	P90[$key]=$(median "${p90[@]}")
	P99[$key]=$(median "${p99[@]}")
	ERRS[$key]=$errs
	ROUNDS_OF[$key]=$(printf '%s ' "${rates[@]}")
}
