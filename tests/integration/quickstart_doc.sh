#!/usr/bin/env bash
# quickstart_doc: README.md's quick-start block shows exactly the commands
# tools/quickstart prints (its closing heredoc, with LAB_DIR at its default
# /tmp/estrad-lab), from ". lab.env" to "tests/lab down".
. "$(dirname "$0")/lib.sh"

SRC=${ESTRAD_SOURCE_DIR:?ESTRAD_SOURCE_DIR is not set}
LAB=/tmp/estrad-lab

# The tool's commands: the indented lines of its heredoc, unescaped as the
# shell prints them, and its "Stop it with:" command.
awk '/^cat <<EOT$/ { on = 1; next } /^EOT$/ { on = 0 } on' "$SRC/tools/quickstart" |
    sed -e "s|\$LAB_DIR|$LAB|g" -e 's/\\\$/$/g' -e 's/\\\\/\\/g' >"$WORK/printed"
{
	sed -n 's/^  //p' "$WORK/printed"
	sed -n 's/^Stop it with: //p' "$WORK/printed"
} >"$WORK/tool.txt"
[ "$(wc -l <"$WORK/tool.txt")" -ge 4 ] ||
    fail "tools/quickstart prints only: $(cat "$WORK/printed")"

# README's block: from ". /tmp/estrad-lab/lab.env" to the closing fence.
awk -v first=". $LAB/lab.env" '$0 == first { on = 1 } on && /^```$/ { exit } on' \
    "$SRC/README.md" >"$WORK/readme.txt"
[ -s "$WORK/readme.txt" ] || fail "README.md has no block starting '. $LAB/lab.env'"

diff -u "$WORK/tool.txt" "$WORK/readme.txt" >"$WORK/diff" ||
    fail "README.md's quick start differs from what tools/quickstart prints: $(cat "$WORK/diff")"
note "README's quick start: the $(wc -l <"$WORK/tool.txt") lines tools/quickstart prints"
pass
