#!/usr/bin/env bash
# The command line (README "Running estrad"):
#  - --version / -V print "estrad <project version>" and exit 0;
#  - --help / -h print the usage (naming -c and -n) on stdout and exit 0;
#  - no arguments, an unknown option, -c without its file, -n without -c
#    and a stray operand exit 2 with the usage on stderr; -n without -c
#    first says "-c FILE is required with -n";
#  - an unknown queue command exits 2 naming it and the known ones;
#  - config/estrad.json, the repository's example, passes "estrad -n" once
#    its /etc/estrad/pki paths point at the lab's PKI; unmodified (no
#    /etc/estrad/pki here) it fails with one FILE:LINE: key.path: problem
#    line per PKI file it names.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
example=$src/config/estrad.json
[ -f "$example" ] || fail "no example configuration at $example"
version=$(sed -n 's/^project(estrad VERSION \([0-9][0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no 'project(estrad VERSION x.y.z' in $src/CMakeLists.txt"

# run NAME ARGS...: estrad's stdout in $WORK/NAME.out, stderr in
# $WORK/NAME.err; sets RC.
run() {
	local name=$1
	shift
	timeout 5 "$ESTRAD_BIN" "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err"
	RC=$?
	OUT=$(cat "$WORK/$name.out")
	ERR=$(cat "$WORK/$name.err")
}

# usage_on WHERE NAME: the usage text is in NAME's WHERE (out or err) and
# names -c and -n.
usage_on() {
	local f=$WORK/$2.$1
	grep -q '^usage: estrad ' "$f" || fail "$2: no 'usage: estrad' on std$1: $(head -c 300 "$f")"
	grep -qE '(^|[^A-Za-z0-9])-c([^A-Za-z0-9]|$)' "$f" || fail "$2: usage does not name -c"
	grep -qE '(^|[^A-Za-z0-9])-n([^A-Za-z0-9]|$)' "$f" || fail "$2: usage does not name -n"
}

for opt in --version -V; do
	run version "$opt"
	[ "$RC" = 0 ] || fail "estrad $opt exited $RC: $ERR"
	[ "$OUT" = "estrad $version" ] || fail "estrad $opt printed '$OUT', expected 'estrad $version'"
	[ -z "$ERR" ] || fail "estrad $opt wrote to stderr: $ERR"
done

for opt in --help -h; do
	run help "$opt"
	[ "$RC" = 0 ] || fail "estrad $opt exited $RC: $ERR"
	usage_on out help
	[ -z "$ERR" ] || fail "estrad $opt wrote to stderr: $ERR"
done

# Misuse: exit 2, usage on stderr, nothing on stdout, no check run.
check_misuse() {
	local name=$1
	shift
	run "$name" "$@"
	[ "$RC" = 2 ] || fail "estrad $* exited $RC, expected 2 (stdout '$OUT', stderr '$(head -c 200 "$WORK/$name.err")')"
	usage_on err "$name"
	[ -z "$OUT" ] || fail "estrad $* wrote to stdout: $OUT"
}
check_misuse noargs
check_misuse unknown_long --no-such-option
check_misuse unknown_short -x
check_misuse c_no_file -c
check_misuse n_alone -n
check_misuse n_alone_long --check
# -n without -c says what is missing, before the usage.
for name in n_alone n_alone_long; do
	[ "$(head -n 1 "$WORK/$name.err")" = "estrad: -c FILE is required with -n" ] ||
	    fail "$name: first stderr line '$(head -n 1 "$WORK/$name.err")', expected 'estrad: -c FILE is required with -n'"
done
# An unknown queue command is named, with the ones there are: exit 2.
run queue_unknown -c "$PROXY_CONFIG" queue lsit
[ "$RC" = 2 ] || fail "estrad queue lsit exited $RC, expected 2: $ERR"
[ "$ERR" = 'estrad: unknown queue command "lsit" (list, show, retry, purge)' ] ||
    fail "estrad queue lsit said '$ERR'"
[ -z "$OUT" ] || fail "estrad queue lsit wrote to stdout: $OUT"
check_misuse operand -n -c "$PROXY_CONFIG" stray

# ---- the example configuration against the lab's PKI.
refs=$(grep -c '/etc/estrad/pki/' "$example")
[ "$refs" -gt 0 ] || fail "$example names no /etc/estrad/pki file"
while read -r f; do
	[ -f "$PKI_DIR/$(basename "$f")" ] ||
	    fail "the example names $f, which the lab's PKI ($PKI_DIR) does not have"
done < <(grep -o '/etc/estrad/pki/[A-Za-z0-9._-]*' "$example" | sort -u)
sed "s|/etc/estrad/pki/|$PKI_DIR/|g" "$example" >"$WORK/example.json"
grep -q /etc/estrad "$WORK/example.json" && fail "sed left /etc/estrad paths in the example"
for args in "-n -c" "--check --config"; do
	# shellcheck disable=SC2086
	run example $args "$WORK/example.json"
	[ "$RC" = 0 ] || fail "estrad $args example.json exited $RC: $ERR"
	[ "$OUT" = "configuration OK" ] || fail "estrad $args example.json printed '$OUT'"
	[ -z "$ERR" ] || fail "estrad $args example.json wrote to stderr: $ERR"
done

# ---- the example as shipped: every /etc/estrad/pki file is a problem.
if [ -e /etc/estrad/pki ]; then
	note "/etc/estrad/pki exists here; not checking the unmodified example"
	pass
fi
run shipped -n -c "$example"
[ "$RC" = 1 ] || fail "estrad -n -c $example exited $RC, expected 1: $OUT $ERR"
echo "$OUT" | grep -q 'configuration OK' && fail "the unmodified example reported OK"
[ -s "$WORK/shipped.err" ] || fail "estrad -n -c $example printed no problem on stderr"
# One line per PKI reference: $example:LINE: <path ending in KEY>: ... FILE
while IFS=: read -r line rest; do
	key=$(echo "$rest" | sed -n 's/^[[:space:]]*"\([a-z_]*\)".*/\1/p')
	file=$(echo "$rest" | grep -o '/etc/estrad/pki/[A-Za-z0-9._-]*')
	if [ -z "$key" ] || [ -z "$file" ]; then
		fail "cannot parse example line $line: $rest"
	fi
	grep -qE "^$example:$line: ([a-z_]+\.)*$key: .*$file([^A-Za-z0-9._-]|$)" "$WORK/shipped.err" ||
	    fail "no '$example:$line: ...$key: ... $file' line in: $ERR"
done < <(grep -n '/etc/estrad/pki/' "$example")
n=$(grep -c . "$WORK/shipped.err")
[ "$n" = "$refs" ] || fail "$n problem lines for $refs PKI references: $ERR"
other=$(grep -v "^$example:[0-9][0-9]*: [][A-Za-z0-9_.-]*: .*/etc/estrad/pki/" "$WORK/shipped.err")
[ -z "$other" ] || fail "lines not as FILE:LINE: key.path: problem naming /etc/estrad/pki: $other"
pass
