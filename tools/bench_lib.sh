# tools/bench_lib.sh: what tools/bench.sh and tools/bench_weak.sh share,
# sourced by both: where the binaries are, and the arithmetic and verdicts
# of their tables.
#
# The caller sets ROOT (the repository) first. BUILD_DIR, ESTRAD_BIN and
# ESTBENCH may come from the environment.

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
ESTRAD_BIN=${ESTRAD_BIN:-$BUILD_DIR/estrad}
ESTBENCH=${ESTBENCH:-$BUILD_DIR/tools/estbench/estbench}
export ESTRAD_BIN

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
