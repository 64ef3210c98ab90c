#!/usr/bin/env bash
# `estrad -c CONFIG queue list|show|retry|purge` on the shared store
# (store.backend postgresql, docs/offline.md), the same command as on
# SQLite: the same rows written into estrad_queue and into a state_dir's
# estrad.db give
#  - byte for byte the same list (table; --all), list --json, show ID and
#    show ID --json, but for PostgreSQL's LEASE column and lease_owner /
#    lease_until fields: the replica whose claim is live (lease_until in
#    the future), "-" / null for an expired one;
#  - retry ID of a pending and a polling entry: exit 0, the same line,
#    retry_requested set and next_attempt brought to now (the database's
#    clock); of an issued entry or an unknown ID: exit 1, the same line on
#    stderr, nothing flagged;
#  - purge ID, then purge --all: the same lines, exit codes and audit
#    records (state purged); the rows stay, state 'purged', with the
#    note, for the replicas to forget; a second purge of ID: exit 1;
#  - before any daemon made the schema: "queue is empty (no estrad schema
#    yet in postgresql HOST:PORT/DB)", [] with --json, show ID exit 1, and
#    nothing created;
#  - run by root for a configured "user" (HOME root's, 0700): it works as
#    that user, and libpq does not trip over root's ~/.postgresql;
#  - the database away: exit 1, one line naming host and port, no
#    password; a schema newer than this estrad's: exit 1 naming both
#    versions.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || fail "no sqlite3 (tools/install-deps installs it)"
pg_env
pg_reset
PW=$(cat "$PG_PASSWORD_FILE")

# A CA that is not there: nothing is ever forwarded.
fixed_prepare ca
pg_audit=$WORK/audit-pg.jsonl sq_audit=$WORK/audit-sq.jsonl
# state_dir on PostgreSQL too: the cache stays a replica's own.
P_URL=$FIXED_URL P_TOP_EXTRA="\"store\": $(pg_store_json), \"state_dir\": \"$WORK/pgstate\", \"queue\": { \"retry_after\": 5 }, \"audit\": { \"file\": \"$pg_audit\", \"stderr\": false }" \
    proxy_config "$WORK/pg.json"
P_URL=$FIXED_URL P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5' "$sq_audit") \
    proxy_config "$WORK/sq.json"

# cli STORE NAME ARGS...: estrad -c STORE.json queue ARGS; stdout in
# $WORK/STORE.NAME.out, stderr in .err, exit status in .rc and RC.
cli() {
	local store=$1 name=$2
	shift 2
	timeout 30 "$ESTRAD_BIN" -c "$WORK/$store.json" queue "$@" \
	    >"$WORK/$store.$name.out" 2>"$WORK/$store.$name.err"
	RC=$?
	echo "$RC" >"$WORK/$store.$name.rc"
}

# expect STORE NAME RC OUT ERR: the run STORE.NAME exited RC and printed
# exactly OUT on stdout and ERR on stderr.
expect() {
	[ "$(cat "$WORK/$1.$2.rc")" = "$3" ] ||
	    fail "$1 queue $2 exited $(cat "$WORK/$1.$2.rc"), want $3: $(cat "$WORK/$1.$2.err")"
	[ "$(cat "$WORK/$1.$2.out")" = "$4" ] ||
	    fail "$1 queue $2 printed '$(cat "$WORK/$1.$2.out")', want '$4'"
	[ "$(cat "$WORK/$1.$2.err")" = "$5" ] ||
	    fail "$1 queue $2 said '$(cat "$WORK/$1.$2.err")' on stderr, want '$5'"
}

# same NAME ARGS...: the command on both stores: the same exit status,
# stdout and stderr, byte for byte.
same() {
	local name=$1
	shift
	cli pg "$name" "$@"
	cli sq "$name" "$@"
	for f in rc out err; do
		cmp -s "$WORK/pg.$name.$f" "$WORK/sq.$name.$f" ||
		    fail "queue $* differs between PostgreSQL and SQLite ($f): $(diff "$WORK/sq.$name.$f" "$WORK/pg.$name.$f" | head -n 12)"
	done
}

# ---- no schema yet: nothing to list, and nothing made.
where="postgresql $PG_HOST:$PG_PORT/$PG_DB"
cli pg none list
expect pg none 0 "queue is empty (no estrad schema yet in $where)" ""
cli pg nonejson list --json
expect pg nonejson 0 "[]" ""
cli pg noneshow show 1
expect pg noneshow 1 "" "estrad: no queue entry 1 (no estrad schema yet in $where)"
[ -z "$(pg_psql "SELECT to_regclass('estrad_meta')")" ] ||
    fail "estrad queue created the schema"

# ---- each store made by its daemon, which then stops.
start_estrad pgd "$WORK/pg.json"
stop_pid "$XPID"
start_estrad sqd "$WORK/sq.json"
stop_pid "$XPID"
[ -f "$WORK/state/estrad.db" ] || fail "the SQLite daemon made no $WORK/state/estrad.db"

# ---- the same rows in both. Times relative to now, so that AGE and NEXT
# read the same however long this takes: created 10 days and a half hour
# ago ("10d00h"), entry 1 due already ("now"), entry 2 due in 2 h ("2h00m"
# for 30 s). Entry 2's subject and note hold an ESC (quoted, not shown).
NOW=$(date +%s)
esc=$'\033'
rows() {
	local blob=$1 c=$((NOW - 10 * 86400 - 1800)) x=$((NOW + 7 * 86400))
	cat <<SQL
INSERT INTO $2 (id, label, op, identity, pubkey, subject, request_id,
  content_type, csr, state, created, updated, expires, next_attempt,
  attempts, ca_status, result_type, result, retry_after, note, sans,
  ca_received, last_error) VALUES
 (1, '', 'simpleenroll', 'digest:estuser', '$(printf '%064d' 1)',
  'CN=cli-device,O=Example', 'req-0001', 'application/pkcs10',
  ${blob/HEX/3082010a0102}, 'pending', $c, $c, $x, $((NOW - 5)), 2, 0, '',
  NULL, '', 'the CA is unreachable', 'DNS:a.example
IP:10.0.0.1', 1, 'connect to 127.0.0.1 port 1 failed: Connection refused'),
 (2, 'real', 'simplereenroll', 'cert:CN=dev2,O=Example', '$(printf '%064d' 2)',
  'CN=dev${esc}2', 'req-0002', 'application/pkcs10',
  ${blob/HEX/30820001}, 'polling', $c, $c, $x, $((NOW + 7230)), 1, 202, '',
  NULL, '120', 'the CA said 202${esc}[31m', '', 1, ''),
 (3, '', 'simpleenroll', 'digest:other', '$(printf '%064d' 3)',
  'CN=issued-one', 'req-0003', 'application/pkcs10',
  ${blob/HEX/3082}, 'issued', $c, $c, $x, $c, 1, 200,
  'application/pkcs7-mime; smime-type=certs-only', ${blob/HEX/4d494900},
  '', 'issued by the CA', 'DNS:issued.example', 1, ''),
 (4, '', 'simpleenroll', 'digest:done', '$(printf '%064d' 4)',
  'CN=done', 'req-0004', 'application/pkcs10',
  ${blob/HEX/30}, 'delivered', $c, $c, $x, $c, 1, 200, 'application/pkcs7-mime',
  ${blob/HEX/4d49}, '', 'delivered to the client', '', 1, '');
SQL
}
rows "X'HEX'" queue | sqlite3 "$WORK/state/estrad.db" ||
    fail "cannot insert the rows into $WORK/state/estrad.db"
pg_psql "$(rows "decode('HEX', 'hex')" estrad_queue)" >/dev/null ||
    fail "cannot insert the rows into estrad_queue"
# Entry 1 is claimed by replica r2 for 10 more minutes; entry 2's claim
# ran out 10 s ago.
pg_psql "UPDATE estrad_queue SET lease_owner = 'r2:4242:ab12', lease_until = $((NOW + 600)) WHERE id = 1" \
    "UPDATE estrad_queue SET lease_owner = 'r1:17:dead', lease_until = $((NOW - 10)) WHERE id = 2" \
    "SELECT setval('estrad_queue_id_seq', 4)" >/dev/null ||
    fail "cannot set the leases"

# ---- list: SQLite's table is PostgreSQL's without the LEASE column.
# unlease FILE: FILE's table without the LEASE column (from LEASE's
# offset in the header to NOTE's).
unlease() {
	python3 - "$1" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().split("\n")
a, b = lines[0].index("LEASE"), lines[0].index("NOTE")
sys.stdout.write("\n".join(l[:a] + l[b:] for l in lines))
PY
}
for args in "list" "list --all"; do
	name=${args//[ -]/}
	# shellcheck disable=SC2086
	cli pg "$name" $args
	# shellcheck disable=SC2086
	cli sq "$name" $args
	expect sq "$name" 0 "$(cat "$WORK/sq.$name.out")" ""
	expect pg "$name" 0 "$(cat "$WORK/pg.$name.out")" ""
	unlease "$WORK/pg.$name.out" >"$WORK/pg.$name.unleased"
	cmp -s "$WORK/pg.$name.unleased" "$WORK/sq.$name.out" ||
	    fail "queue $args: PostgreSQL's table without LEASE is not SQLite's: $(diff "$WORK/sq.$name.out" "$WORK/pg.$name.unleased" | head -n 12)"
done
head -n 1 "$WORK/pg.list.out" | grep -qx 'ID  *STATE  *LABEL  *OP  *IDENTITY  *SUBJECT  *SANS  *AGE  *NEXT  *ATTEMPTS  *RECEIVED  *CA  *REQUEST  *LEASE  *NOTE' ||
    fail "PostgreSQL's header: '$(head -n 1 "$WORK/pg.list.out")'"
head -n 1 "$WORK/sq.list.out" | grep -qx 'ID  *STATE  *LABEL  *OP  *IDENTITY  *SUBJECT  *SANS  *AGE  *NEXT  *ATTEMPTS  *RECEIVED  *CA  *REQUEST  *NOTE' ||
    fail "SQLite's header (no LEASE): '$(head -n 1 "$WORK/sq.list.out")'"
[ "$(wc -l <"$WORK/pg.list.out")" = 4 ] || fail "queue list: want the header and 3 active entries: $(cat "$WORK/pg.list.out")"
[ "$(wc -l <"$WORK/pg.listall.out")" = 5 ] || fail "queue list --all: want 4 entries: $(cat "$WORK/pg.listall.out")"
# The rows, field by field (awk's fields: SUBJECT "CN=cli-device,O=Example"
# has no blank).
got=$(awk '$1 == 1 { print $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 }' "$WORK/pg.list.out")
[ "$got" = "pending - simpleenroll digest:estuser CN=cli-device,O=Example DNS:a.example,IP:10.0.0.1 10d00h now 2 1 - req-0001 r2:4242:ab12" ] ||
    fail "queue list's entry 1: '$got'"
got=$(awk '$1 == 2 { print $2, $6, $9, $12, $14 }' "$WORK/pg.list.out")
[ "$got" = 'polling CN=dev\x1b2 2h00m 202 -' ] ||
    fail "queue list's entry 2 (state, subject, next, CA, lease): '$got'"
grep -q "$esc" "$WORK/pg.list.out" && fail "queue list put an ESC on the terminal"

# ---- list --json and show: the same, but for the lease fields.
same_json() {
	local name=$1
	shift
	# shellcheck disable=SC2068
	cli pg "$name" $@
	# shellcheck disable=SC2068
	cli sq "$name" $@
	expect pg "$name" 0 "$(cat "$WORK/pg.$name.out")" ""
	expect sq "$name" 0 "$(cat "$WORK/sq.$name.out")" ""
	sed -E -e 's/,"lease_owner":(null|"[^"]*"),"lease_until":(null|"[^"]*")//' \
	    -e '/^  "lease_(owner|until)": /d' -e '/^lease_(owner|until) /d' \
	    -e "$next_in" "$WORK/pg.$name.out" >"$WORK/pg.$name.unleased"
	sed -E -e "$next_in" "$WORK/sq.$name.out" >"$WORK/sq.$name.cmp"
	cmp -s "$WORK/pg.$name.unleased" "$WORK/sq.$name.cmp" ||
	    fail "queue $*: PostgreSQL's output without the lease fields is not SQLite's: $(diff "$WORK/sq.$name.cmp" "$WORK/pg.$name.unleased" | head -n 12)"
}
# Entry 2's seconds to its next attempt (7230 at the insert) may tick
# between the two runs: the one field compared without its value.
next_in='s/(next_attempt_in"?:? *)7[0-9]{3}/\1N/g'
same_json json list --all --json
same_json show1 show 1
same_json show1json show 1 --json
same_json show2 show 2
python3 - "$WORK/pg.json.out" "$(date -u -d "@$((NOW + 600))" +%Y-%m-%dT%H:%M:%SZ)" <<'PY' ||
import json, sys
entries = {e["id"]: e for e in json.load(open(sys.argv[1]))}
want = {1: ("r2:4242:ab12", sys.argv[2]), 2: (None, None), 3: (None, None)}
for i, (owner, until) in want.items():
    got = (entries[i]["lease_owner"], entries[i]["lease_until"])
    if got != (owner, until):
        sys.exit("entry %d: lease %r, want %r" % (i, got, (owner, until)))
if entries[1]["csr_bytes"] != 6 or entries[3]["result_bytes"] != 4:
    sys.exit("csr_bytes/result_bytes: %r %r" % (entries[1]["csr_bytes"], entries[3]["result_bytes"]))
PY
    fail "queue list --all --json's lease fields or sizes are wrong"
grep -qx 'lease_owner      r2:4242:ab12' "$WORK/pg.show1.out" ||
    fail "queue show 1 has no 'lease_owner r2:4242:ab12' line: $(cat "$WORK/pg.show1.out")"
grep -qx 'lease_owner      -' "$WORK/pg.show2.out" ||
    fail "queue show 2 (expired lease) does not say 'lease_owner -': $(cat "$WORK/pg.show2.out")"

# ---- retry.
same retry1 retry 1
expect pg retry1 0 "queue entry 1: retry requested; a running estrad sends it within 2 seconds" ""
before=$(pg_psql "SELECT estrad_now()")
same retry2 retry 2
after=$(pg_psql "SELECT estrad_now()")
same retry3 retry 3
expect pg retry3 1 "" "estrad: queue entry 3 is issued: the CA has answered; nothing to send"
same retry99 retry 99
expect pg retry99 1 "" "estrad: no queue entry 99"
got=$(pg_psql "SELECT string_agg(id || ':' || retry_requested, ' ' ORDER BY id) FROM estrad_queue")
[ "$got" = "1:true 2:true 3:false 4:false" ] || fail "retry_requested after the retries: $got"
next2=$(pg_psql "SELECT next_attempt FROM estrad_queue WHERE id = 2")
[ "$next2" -ge "$before" ] && [ "$next2" -le "$after" ] ||
    fail "retry 2: next_attempt $next2, want now ($before..$after)"
[ "$(pg_psql "SELECT next_attempt FROM estrad_queue WHERE id = 1")" = $((NOW - 5)) ] ||
    fail "retry 1 moved an entry that was due already"
got=$(sqlite3 "$WORK/state/estrad.db" "SELECT group_concat(id || ':' || retry_requested, ' ') FROM (SELECT * FROM queue ORDER BY id)")
[ "$got" = "1:1 2:1 3:0 4:0" ] || fail "SQLite's retry_requested after the retries: $got"

# ---- purge one, then the rest; the audit records alike.
same purge1 purge 1
expect pg purge1 0 "purged queue entry 1
a running estrad forgets it within seconds" ""
same purge1again purge 1
expect pg purge1again 1 "" "estrad: no active queue entry 1"
same purgeall purge --all
expect pg purgeall 0 "purged 2 queue entries
a running estrad forgets them within seconds" ""
got=$(pg_psql "SELECT string_agg(id || ':' || state || ':' || note, ' ' ORDER BY id) FROM estrad_queue")
[ "$got" = "1:purged:purged by the operator 2:purged:purged by the operator 3:purged:purged by the operator 4:delivered:delivered to the client" ] ||
    fail "estrad_queue after the purges: $got"
for id in 1 2 3; do
	check_audit_states "$pg_audit" "$id" purged
	check_audit_states "$sq_audit" "$id" purged
done
python3 - "$pg_audit" "$sq_audit" <<'PY' || fail "the audit records of the purges differ between the stores"
import json, sys
def records(path):
    out = []
    for line in open(path):
        r = json.loads(line)
        r.pop("time", None)
        out.append(r)
    return out
pg, sq = records(sys.argv[1]), records(sys.argv[2])
if pg != sq or len(pg) != 3:
    sys.exit("PostgreSQL %r\nSQLite %r" % (pg, sq))
PY
same listafter list
expect pg listafter 0 "no active queue entries (queue list --all shows finished ones)" ""

# ---- run by root for a daemon with "user": as that user (privdrop),
# whose HOME it takes: libpq looks for a client certificate in
# $HOME/.postgresql and takes one it may not open (root's) for an error.
if [ "$(id -u)" = 0 ]; then
	mkdir -m 700 "$WORK/roothome" || fail "cannot make $WORK/roothome"
	sed 's/"run_as_root": true/"user": "nobody"/' "$WORK/pg.json" >"$WORK/user.json"
	grep -q '"user": "nobody"' "$WORK/user.json" || fail "cannot set user in user.json"
	HOME=$WORK/roothome cli user asuser list --all --json
	expect user asuser 0 "$(cat "$WORK/user.asuser.out")" ""
	[ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/user.asuser.out")" = 4 ] ||
	    fail "queue list --all --json as nobody: $(head -c 300 "$WORK/user.asuser.out")"
else
	note "not root: the run as a configured user is not tried"
fi

# ---- the database away, and a schema newer than ours.
down=$(free_port) || fail "no free port"
sed "s/port=$PG_PORT /port=$down /" "$WORK/pg.json" >"$WORK/down.json"
grep -q "port=$down " "$WORK/down.json" || fail "cannot point down.json at port $down"
cli down away list
[ "$RC" = 1 ] || fail "queue list with the database away exited $RC: $(cat "$WORK/down.away.err")"
[ "$(wc -l <"$WORK/down.away.err")" = 1 ] && [ ! -s "$WORK/down.away.out" ] ||
    fail "queue list with the database away: want one line on stderr: $(cat "$WORK/down.away.out" "$WORK/down.away.err")"
grep -q "^estrad: postgresql 127.0.0.1:$down/$PG_DB: cannot connect: .*Connection refused" "$WORK/down.away.err" ||
    fail "queue list with the database away: $(cat "$WORK/down.away.err")"
pg_psql "UPDATE estrad_meta SET value = '2' WHERE key = 'schema_version'" >/dev/null ||
    fail "cannot raise the schema version"
cli pg newer list
expect pg newer 1 "" "estrad: $where: the database's schema is version 2, newer than this estrad's (1): upgrade estrad, or use another database"
pg_psql "UPDATE estrad_meta SET value = '1' WHERE key = 'schema_version'" >/dev/null
grep -qF -- "$PW" "$WORK"/pg.*.out "$WORK"/pg.*.err "$WORK"/down.*.err &&
    fail "an output of estrad queue holds the database's password"
pass
