#!/bin/sh
# Run the libFuzzer harnesses of tests/fuzz (docs/fuzzing.md).
#
#   tools/fuzz.sh list               the harnesses' names
#   tools/fuzz.sh NAME SECONDS       fuzz one for SECONDS
#   tools/fuzz.sh all SECONDS        each in turn, SECONDS each
#   tools/fuzz.sh merge NAME         minimise the work corpus back into
#                                    tests/fuzz/corpus/NAME
#
# Builds ${ESTRAD_FUZZ_BUILD:-build-fuzz} with clang and -DESTRAD_FUZZ=ON
# when needed. The work corpus is build-fuzz/corpus/NAME (seeded from
# tests/fuzz/corpus/NAME, which is only read), crashes, leaks and timeouts
# go to build-fuzz/artifacts/NAME/, the log to build-fuzz/logs/NAME.log.
# Exits non-zero if the run produced a crash, leak, timeout or OOM
# artifact, or did not run. ESTRAD_FUZZ_JOBS: build parallelism (1).
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)

NAMES="router auth csr_policy config answer httpframe coap_block coap_map"
BUILD=${ESTRAD_FUZZ_BUILD:-build-fuzz}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
JOBS=${ESTRAD_FUZZ_JOBS:-1}

usage() {
	echo "usage: tools/fuzz.sh list | NAME SECONDS | all SECONDS | merge NAME" >&2
	echo "names: $NAMES" >&2
	exit 2
}

known() {
	for n in $NAMES; do [ "$n" = "$1" ] && return 0; done
	echo "fuzz.sh: no harness named '$1' (tools/fuzz.sh list)" >&2
	exit 2
}

# The largest input worth trying: a little above what the code accepts.
max_len() {
	case $1 in
	router) echo 512 ;;
	auth) echo 4096 ;;
	csr_policy) echo 8192 ;;
	config) echo 16384 ;;
	answer) echo 16384 ;;
	httpframe) echo 4096 ;;
	coap_block) echo 4096 ;;
	coap_map) echo 16384 ;;
	esac
}

build() {
	if [ ! -f "$BUILD/CMakeCache.txt" ]; then
		echo "== configure $BUILD (clang, ESTRAD_FUZZ=ON)"
		CC=clang cmake -S . -B "$BUILD" -DESTRAD_FUZZ=ON \
		    -DESTRAD_WERROR=ON -DESTRAD_TOOLS=OFF >/dev/null
	fi
	cmake --build "$BUILD" -j"$JOBS" --target "fuzz_$1" >/dev/null
}

sanitizer_env() {
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export ASAN_OPTIONS UBSAN_OPTIONS
}

run() {
	name=$1 secs=$2
	work=$BUILD/corpus/$name art=$BUILD/artifacts/$name
	log=$BUILD/logs/$name.log seeds=$TOP/tests/fuzz/corpus/$name
	build "$name"
	mkdir -p "$work" "$art" "$BUILD/logs"
	mark=$BUILD/logs/$name.start
	: >"$mark"
	before=$(find "$work" "$seeds" -type f | wc -l)
	t0=$(date +%s)
	echo "== fuzz_$name for ${secs}s (log $log)"
	sanitizer_env
	rc=0
	# In a scratch directory: an input may name relative files.
	mkdir -p "$BUILD/run/$name"
	(cd "$BUILD/run/$name" && exec "$BUILD/tests/fuzz/fuzz_$name" \
	    -dict="$TOP/tests/fuzz/$name.dict" \
	    -max_len="$(max_len "$name")" -max_total_time="$secs" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$art/" "$work" "$seeds" \
	    </dev/null >"$log" 2>&1) || rc=$?
	took=$(($(date +%s) - t0))
	found=$(find "$art" -type f -newer "$mark" \( -name 'crash-*' -o \
	    -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	after=$(find "$work" "$seeds" -type f | wc -l)
	echo "fuzz_$name: ${execs:-?} executions in ${took}s," \
	    "${speed:-?} exec/s, cov ${cov:-?} ft ${ft:-?}," \
	    "corpus $before -> $after files (libFuzzer exit $rc)"
	if [ -n "$found" ]; then
		echo "fuzz_$name: FOUND (reproduce: $BUILD/tests/fuzz/fuzz_$name FILE):"
		echo "$found" | sed 's/^/  /'
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*invariant failed)' \
		    "$log" | head -n 5 | sed 's/^/  /'
		return 1
	fi
	if [ "$rc" -ne 0 ] || [ -z "$execs" ]; then
		echo "fuzz_$name: the run failed (exit $rc); see $log" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
	echo "fuzz_$name: nothing found"
}

# Keep the hand-written seeds (readable names) as they are; replace the
# hashed files with a minimal set that reaches the edges the work corpus
# and the old hashed files reached.
merge() {
	name=$1
	work=$BUILD/corpus/$name seeds=$TOP/tests/fuzz/corpus/$name
	out=$BUILD/merge/$name old=$BUILD/merge/$name.old
	build "$name"
	rm -rf "$out" "$old"
	mkdir -p "$out" "$old" "$work"
	for f in "$seeds"/*; do
		[ -f "$f" ] || continue
		if basename "$f" | grep -Eq '^[0-9a-f]{40}$'; then
			cp "$f" "$old/"
		else
			cp "$f" "$out/"
		fi
	done
	sanitizer_env
	mkdir -p "$BUILD/run/$name" "$BUILD/logs"
	# -use_counters=0: keep inputs that reach new edges, not every new
	# hit count of an edge: the corpus that goes into the tree stays small.
	(cd "$BUILD/run/$name" && exec "$BUILD/tests/fuzz/fuzz_$name" \
	    -merge=1 -use_counters=0 -max_len="$(max_len "$name")" \
	    -timeout=10 -rss_limit_mb=2048 "$out" "$old" "$work" \
	    </dev/null >"$BUILD/logs/$name.merge.log" 2>&1) || {
		echo "fuzz.sh: merge failed; see $BUILD/logs/$name.merge.log" >&2
		exit 1
	}
	find "$seeds" -maxdepth 1 -type f -regextype posix-extended \
	    -regex '.*/[0-9a-f]{40}' -delete
	for f in "$out"/*; do
		b=$(basename "$f")
		[ -e "$seeds/$b" ] || cp "$f" "$seeds/"
	done
	echo "fuzz.sh: tests/fuzz/corpus/$name: $(ls "$seeds" | wc -l) files," \
	    "$(du -sk "$seeds" | cut -f1) KiB"
}

[ $# -ge 1 ] || usage
case $1 in
list)
	for n in $NAMES; do echo "$n"; done ;;
all)
	[ $# -eq 2 ] || usage
	status=0
	for n in $NAMES; do run "$n" "$2" || status=1; done
	exit $status ;;
merge)
	[ $# -eq 2 ] || usage
	known "$2"
	merge "$2" ;;
*)
	[ $# -eq 2 ] || usage
	known "$1"
	case $2 in *[!0-9]*|'') usage ;; esac
	run "$1" "$2" ;;
esac
