#!/usr/bin/env bash
# The "store" section and `estrad -n` on PostgreSQL (docs/configuration.md,
# docs/scaling.md), against the throwaway cluster (tests/tools/pgcluster):
#  - config errors, each one line FILE:LINE: key: problem, exit 1, found
#    without touching the database: no conninfo; a conninfo holding
#    password=; one whose stray word (a pasted password?) libpq would
#    quote (never echoed); sslmode verify-full without ssl_root_cert;
#    sslmode disable towards a host that is not loopback (a host name
#    that starts "127." included); a password file
#    of mode 0644;
#  - the database refusing: a wrong password, a CA that did not issue the
#    server's certificate (verify-full), nothing listening: -n exits 1 with
#    one line naming host and port and the reason, and no password;
#  - the right config: "configuration OK", and -n wrote nothing (no
#    schema in an empty database);
#  - a schema newer than this estrad's (estrad_meta's schema_version
#    raised): -n and a start refuse, naming both versions; the start
#    never listens; a schema_version that is not a number: -n refuses.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
PW=$(cat "$PG_PASSWORD_FILE")
pg_store_json >/dev/null	# the password copied to $WORK/pg.password (0600)
CONNINFO="host=$PG_HOST port=$PG_PORT dbname=$PG_DB user=$PG_USER"

# store_cfg FILE MEMBER...: the lab proxy's config with a "store" section
# of MEMBERs ('"key": value'), one a line, so that each error's line
# names its key.
store_cfg() {
	local file=$1 m body='"store": {'
	shift
	for m in "$@"; do
		body="$body"$'\n    '"$m,"
	done
	P_TOP_EXTRA="${body%,}"$'\n  }' proxy_config "$file"
}

# good_members: the members of a store section that works.
good_members=(
	'"backend": "postgresql"'
	"\"conninfo\": \"$CONNINFO\""
	"\"password_file\": \"$WORK/pg.password\""
	'"sslmode": "verify-full"'
	"\"ssl_root_cert\": \"$PG_CA\""
)

# check_n NAME: estrad -n -c $WORK/NAME.json; output in $WORK/NAME.out,
# status in RC.
check_n() {
	timeout 30 "$ESTRAD_BIN" -n -c "$WORK/$1.json" >"$WORK/$1.out" 2>&1
	RC=$?
}

# refused NAME: -n on NAME.json exits 1 with exactly one line.
refused() {
	check_n "$1"
	[ "$RC" = 1 ] || fail "$1: estrad -n exited $RC (want 1): $(cat "$WORK/$1.out")"
	[ "$(wc -l <"$WORK/$1.out")" = 1 ] ||
	    fail "$1: want one line, got: $(cat "$WORK/$1.out")"
}

# no_secret NAME [MORE...]: NAME's output holds neither the database's
# password nor any MORE.
no_secret() {
	local f=$WORK/$1.out s
	shift
	for s in "$PW" "$@"; do
		grep -qF -- "$s" "$f" && fail "$(basename "$f") shows a secret ('${s:0:6}...'): $(cat "$f")"
	done
	return 0
}

# config_error NAME KEY LINE_PATTERN PROBLEM: -n on NAME.json exits 1 with
# exactly one line, FILE:LINE: KEY: ...PROBLEM..., LINE the line of the
# file matching LINE_PATTERN (grep -F).
config_error() {
	local name=$1 key=$2 pat=$3 problem=$4 file=$WORK/$1.json line
	line=$(grep -nF -- "$pat" "$file" | head -n 1 | cut -d: -f1)
	[ -n "$line" ] || fail "$name: no line '$pat' in $file"
	refused "$name"
	grep -qF -- "$file:$line: $key: " "$WORK/$name.out" ||
	    fail "$name: not '$file:$line: $key: ...': $(cat "$WORK/$name.out")"
	grep -qF -- "$problem" "$WORK/$name.out" ||
	    fail "$name: no '$problem' in: $(cat "$WORK/$name.out")"
	no_secret "$name"
}

# db_refused NAME WHERE REASON [SECRET...]: -n on NAME.json exits 1 with
# one line naming WHERE (host:port) and REASON, and no secret.
db_refused() {
	local name=$1 where=$2 reason=$3
	shift 3
	refused "$name"
	grep -qF -- "$WORK/$name.json: store: postgresql $where/" "$WORK/$name.out" ||
	    fail "$name: the line does not name the file and postgresql $where: $(cat "$WORK/$name.out")"
	grep -qF -- "$reason" "$WORK/$name.out" ||
	    fail "$name: no '$reason' in: $(cat "$WORK/$name.out")"
	no_secret "$name" "$@"
}

# ---- config errors, found before any connection.
store_cfg "$WORK/noconninfo.json" '"backend": "postgresql"' \
    "\"password_file\": \"$WORK/pg.password\"" "\"ssl_root_cert\": \"$PG_CA\""
config_error noconninfo store.conninfo '"store": {' "is required for the postgresql backend"

store_cfg "$WORK/inline.json" '"backend": "postgresql"' \
    "\"conninfo\": \"$CONNINFO password=$PW\"" "\"ssl_root_cert\": \"$PG_CA\""
config_error inline store.conninfo '"conninfo"' "holds password=...: use store.password_file"

# A word libpq cannot place: it quotes it in its error; estrad does not.
store_cfg "$WORK/stray.json" '"backend": "postgresql"' \
    "\"conninfo\": \"$CONNINFO Stray${PW:0:12}\"" "\"ssl_root_cert\": \"$PG_CA\""
config_error stray store.conninfo '"conninfo"' 'libpq cannot parse it: missing "=" after "..."'
no_secret stray "${PW:0:12}"

store_cfg "$WORK/noroot.json" '"backend": "postgresql"' \
    "\"conninfo\": \"$CONNINFO\"" "\"password_file\": \"$WORK/pg.password\"" \
    '"sslmode": "verify-full"'
config_error noroot store.ssl_root_cert '"store": {' "is required with sslmode verify-full"

store_cfg "$WORK/clear.json" '"backend": "postgresql"' \
    '"conninfo": "host=db.example port=5432 dbname=estrad user=estrad"' \
    "\"password_file\": \"$WORK/pg.password\"" '"sslmode": "disable"'
config_error clear store.sslmode '"sslmode"' "is not a Unix socket or a loopback address"
# A host name that starts like a loopback address is a name, anywhere.
store_cfg "$WORK/clear127.json" '"backend": "postgresql"' \
    '"conninfo": "host=127.0.0.1,127.0.0.1.db.example port=5432 dbname=estrad user=estrad"' \
    "\"password_file\": \"$WORK/pg.password\"" '"sslmode": "disable"'
config_error clear127 store.sslmode '"sslmode"' "is not a Unix socket or a loopback address"

cp "$WORK/pg.password" "$WORK/pg.password.644"
chmod 644 "$WORK/pg.password.644"
store_cfg "$WORK/mode.json" '"backend": "postgresql"' "\"conninfo\": \"$CONNINFO\"" \
    "\"password_file\": \"$WORK/pg.password.644\"" "\"ssl_root_cert\": \"$PG_CA\""
config_error mode store.password_file '"password_file"' "(mode 0644)"

# A first line too long to keep: said, not cut short in silence.
head -c 1500 /dev/zero | tr '\0' x >"$WORK/long.password"
chmod 600 "$WORK/long.password"
store_cfg "$WORK/long.json" '"backend": "postgresql"' "\"conninfo\": \"$CONNINFO\"" \
    "\"password_file\": \"$WORK/long.password\"" "\"ssl_root_cert\": \"$PG_CA\""
config_error long store.password_file '"password_file"' "its first line is longer than 1022 bytes"

# ---- the database refuses, or is not there.
printf 'not-the-password-%s\n' "$RANDOM" >"$WORK/wrong.password"
chmod 600 "$WORK/wrong.password"
store_cfg "$WORK/wrongpw.json" '"backend": "postgresql"' "\"conninfo\": \"$CONNINFO\"" \
    "\"password_file\": \"$WORK/wrong.password\"" "\"ssl_root_cert\": \"$PG_CA\""
db_refused wrongpw "$PG_HOST:$PG_PORT" "password authentication failed" \
    "$(cat "$WORK/wrong.password")"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/other-ca.key" -subj "/CN=estrad pgcluster CA" -days 1 \
    -out "$WORK/other-ca.pem" 2>/dev/null || fail "cannot make another CA"
store_cfg "$WORK/wrongca.json" '"backend": "postgresql"' "\"conninfo\": \"$CONNINFO\"" \
    "\"password_file\": \"$WORK/pg.password\"" '"sslmode": "verify-full"' \
    "\"ssl_root_cert\": \"$WORK/other-ca.pem\""
db_refused wrongca "$PG_HOST:$PG_PORT" "certificate verify failed"

down=$(free_port) || fail "no free port"
store_cfg "$WORK/down.json" '"backend": "postgresql"' \
    "\"conninfo\": \"host=127.0.0.1 port=$down dbname=$PG_DB user=$PG_USER\"" \
    "\"password_file\": \"$WORK/pg.password\"" "\"ssl_root_cert\": \"$PG_CA\""
db_refused down "127.0.0.1:$down" "Connection refused"

# ---- the right config: OK, and -n wrote nothing.
store_cfg "$WORK/good.json" "${good_members[@]}"
check_n good
[ "$RC" = 0 ] || fail "estrad -n on the right config exited $RC: $(cat "$WORK/good.out")"
[ "$(cat "$WORK/good.out")" = "configuration OK" ] ||
    fail "estrad -n on the right config printed: $(cat "$WORK/good.out")"
[ -z "$(pg_psql "SELECT to_regclass('estrad_meta')")" ] ||
    fail "estrad -n created the schema (estrad_meta exists)"

# ---- a schema newer than ours: made by a start, then raised.
start_estrad first "$WORK/good.json"
stop_pid "$XPID"
[ "$(pg_psql "SELECT value FROM estrad_meta WHERE key = 'schema_version'")" = 1 ] ||
    fail "the start did not record schema_version 1"
# schema_refused VALUE WHY: with estrad_meta's schema_version VALUE, -n
# exits 1 with one line naming the database and WHY.
schema_refused() {
	pg_psql "UPDATE estrad_meta SET value = '$1' WHERE key = 'schema_version'" >/dev/null ||
	    fail "cannot set schema_version to $1"
	refused good
	grep -qF "$WORK/good.json: store: postgresql $PG_HOST:$PG_PORT/$PG_DB: $2" "$WORK/good.out" ||
	    fail "estrad -n on schema_version '$1': $(cat "$WORK/good.out")"
}
schema_refused 2 "the database's schema is version 2, newer than this estrad's (1)"
T_LOGS+=("$WORK/newer.log")
timeout 15 "$ESTRAD_BIN" -c "$WORK/good.json" </dev/null >"$WORK/newer.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] ||
    fail "estrad started on a newer schema: exit $rc (124: still running after 15 s)"
grep -qF "the database's schema is version 2, newer than this estrad's (1)" "$WORK/newer.log" ||
    fail "the start does not name both versions: $(tail -n 3 "$WORK/newer.log")"
grep -q "listening on" "$WORK/newer.log" && fail "estrad listened on a newer schema"
grep -qF -- "$PW" "$WORK/newer.log" "$WORK/first.log" && fail "a daemon log holds the password"

# A version that is not a number is not taken for "none yet" (which would
# create and stamp version 1 over whatever is there).
schema_refused v2 "estrad_meta's schema_version is not a version number"
pass
