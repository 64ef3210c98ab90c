#!/usr/bin/env bash
# man_page: docs/estrad.8 renders without a warning (groff -ww, or mandoc
# -Tlint) and says what the code does: its version is the binary's; every
# option of `estrad --help` (and every option getopt takes is in --help's
# table and usage lines), every queue command, every ESTRAD_* variable of
# src/config*.c (the rows' .env, and ESTRAD_UPSTREAM_URL; no other) and
# NOTIFY_SOCKET are in it; it has the
# sections an operator looks for.
. "$(dirname "$0")/lib.sh"

SRC=${ESTRAD_SOURCE_DIR:?ESTRAD_SOURCE_DIR is not set}
MAN=$SRC/docs/estrad.8
[ -f "$MAN" ] || fail "no $MAN"

if command -v groff >/dev/null; then
	groff -man -Tutf8 -ww "$MAN" >"$WORK/groff.out" 2>"$WORK/groff.err" ||
	    fail "groff failed: $(head -c 500 "$WORK/groff.err")"
	[ ! -s "$WORK/groff.err" ] ||
	    fail "groff -ww warns: $(head -c 500 "$WORK/groff.err")"
	note "groff -man -Tutf8 -ww: no warnings"
elif command -v mandoc >/dev/null; then
	mandoc -Tlint -Wwarning "$MAN" >"$WORK/mandoc.err" 2>&1 ||
	    fail "mandoc -Tlint: $(head -c 500 "$WORK/mandoc.err")"
	note "mandoc -Tlint: clean"
else
	skip "neither groff (groff-base) nor mandoc is installed"
fi

# The text as a reader sees it (man -l when there, else groff/mandoc).
if command -v man >/dev/null; then
	MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$MAN" >"$WORK/page.txt" 2>"$WORK/man.err" ||
	    fail "man -l failed: $(head -c 300 "$WORK/man.err")"
elif command -v groff >/dev/null; then
	groff -man -Tutf8 "$MAN" >"$WORK/page.txt"
else
	mandoc -Tutf8 "$MAN" >"$WORK/page.txt"
fi
# No overstrike, one hyphen kind: what grep below compares against.
sed -e 's/.\x08//g' -e 's/‐/-/g' -e 's/−/-/g' "$WORK/page.txt" >"$WORK/page.plain"
PAGE=$WORK/page.plain

for section in NAME SYNOPSIS DESCRIPTION OPTIONS SIGNALS ENVIRONMENT FILES \
    "EXIT STATUS" "SEE ALSO"; do
	grep -qx "$section" "$PAGE" || fail "no $section section"
done

# .TH carries the version estrad --version prints.
version=$("$ESTRAD_BIN" --version) || fail "estrad --version failed"
grep -q "^\.TH ESTRAD 8 .*\"$version\"" "$MAN" ||
    fail ".TH does not name '$version': $(grep '^\.TH' "$MAN")"

# Every option of --help: "-c, --config FILE" and friends.
"$ESTRAD_BIN" --help >"$WORK/help.txt" || fail "estrad --help failed"
mapfile -t opts < <(grep -oE '^  -[a-zA-Z], --[a-z-]+' "$WORK/help.txt")
[ "${#opts[@]}" -ge 5 ] || fail "only ${#opts[@]} options found in --help"
for o in "${opts[@]}"; do
	read -r short long <<<"${o/,/}"
	grep -qE -- "(^|[ ,])$short([ ,]|$)" "$PAGE" || fail "option $short is not in the man page"
	grep -qE -- "(^|[ ,])$long([ ,]|$)" "$PAGE" || fail "option $long is not in the man page"
done
# Every option getopt takes (src/main.c) is in --help's table and in its
# usage lines (-V and -h in "--version | --help").
optstring=$(grep -oE 'getopt_long\(argc, argv, "[^"]*"' "$SRC/src/main.c" |
    sed -E 's/.*"\+?([^"]*)"/\1/' | tr -d ':')
[ -n "$optstring" ] || fail "no getopt_long option string in src/main.c"
usage_lines=$(sed -n '/^usage:/,/^$/p' "$WORK/help.txt")
for ((i = 0; i < ${#optstring}; i++)); do
	o=${optstring:i:1}
	grep -qE -- "^  -$o, --" "$WORK/help.txt" || fail "--help's table lacks -$o"
	case $o in
	V) grep -qF -- "--version" <<<"$usage_lines" ;;
	h) grep -qF -- "--help" <<<"$usage_lines" ;;
	*) grep -qE -- "\[-[a-zA-Z]*$o[a-zA-Z]*\]|-$o " <<<"$usage_lines" ;;
	esac || fail "--help's usage lines lack -$o: $usage_lines"
done
for cmd in "queue list" "queue show" "queue retry" "queue purge" "--all" "--json"; do
	grep -qF -- "$cmd" "$PAGE" || fail "'$cmd' is not in the man page"
done
note "${#opts[@]} options and the queue commands documented"

# The environment: exactly the config module's variables, plus NOTIFY_SOCKET.
mapfile -t code_vars < <(cat "$SRC"/src/config*.c |
    grep -oE '"ESTRAD_[A-Z_]+"' | tr -d '"' | sort -u)
mapfile -t man_vars < <(grep -oE '\bESTRAD_[A-Z_]+\b' "$MAN" | sort -u)
[ "${#code_vars[@]}" -ge 8 ] || fail "only ${#code_vars[@]} ESTRAD_* variables found in src/config*.c"
[ "${code_vars[*]}" = "${man_vars[*]}" ] ||
    fail "ESTRAD_* variables: code has '${code_vars[*]}', man page '${man_vars[*]}'"
grep -qE '^ +NOTIFY_SOCKET$' "$PAGE" || fail "NOTIFY_SOCKET is not an ENVIRONMENT entry"
note "ENVIRONMENT: ${code_vars[*]} NOTIFY_SOCKET"

# The signals and files an operator relies on.
for s in SIGHUP SIGTERM SIGINT shutdown_timeout /etc/estrad/estrad.json \
    /var/lib/estrad/estrad.db; do
	grep -qF -- "$s" "$PAGE" || fail "'$s' is not in the man page"
done

pass
