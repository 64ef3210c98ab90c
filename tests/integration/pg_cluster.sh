#!/usr/bin/env bash
# The throwaway PostgreSQL cluster (tests/tools/pgcluster, the estrad_pg
# fixture) that the shared-store cases run against:
#  - role estrad, with the password of PG_PASSWORD_FILE (no trailing
#    newline), reaches database estrad over TCP with sslmode=verify-full
#    against PG_CA, by 127.0.0.1 (IP SAN) and by localhost (DNS SAN), over
#    TLS (pg_stat_ssl);
#  - refused: a CA that did not issue the server's certificate (verify
#    failure), plain TCP (pg_hba: hostssl only), a wrong password;
#  - pg_store_json prints a JSON object with the cluster's conninfo (no
#    password in it), verify-full, its CA and a copy of the password file
#    (mode 0600, ours), and takes extra members; `estrad -n` with it in a
#    proxy_config connects (configuration OK), and refuses the password
#    file once it is mode 644;
#  - pg_psql runs SQL as the superuser; pg_reset empties the database;
#  - pg_outage 3 (`pgcluster restart DIR 3`), pg_back: the database is
#    away (connections refused), comes back on the same port, and the committed
#    row is still there; `pgcluster start` on the running cluster is a no-op.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
command -v psql >/dev/null 2>&1 || fail "no psql (postgresql-client-15)"
PW=$(cat "$PG_PASSWORD_FILE")
[ ${#PW} -ge 32 ] || fail "the password in $PG_PASSWORD_FILE is only ${#PW} characters"
[ "$(tail -c 1 "$PG_PASSWORD_FILE" | od -An -c | tr -d ' ')" != '\n' ] ||
    fail "$PG_PASSWORD_FILE ends in a newline (documented: none)"
[ "$(stat -c '%a %u' "$PG_PASSWORD_FILE")" = "600 $(id -u)" ] ||
    fail "$PG_PASSWORD_FILE is $(stat -c '%a, uid %u' "$PG_PASSWORD_FILE"), expected 600, ours"

# tcp_psql NAME CONNINFO SQL: psql as estrad over TCP with the password
# from the environment (never a command line); output in $WORK/NAME.out,
# errors in $WORK/NAME.err; returns psql's status.
tcp_psql() {
	PGPASSWORD=${T_PW-$PW} PGCONNECT_TIMEOUT=5 psql -X -q -A -t \
	    -d "$2" -c "$3" >"$WORK/$1.out" 2>"$WORK/$1.err"
}

CI="host=$PG_HOST port=$PG_PORT dbname=$PG_DB user=$PG_USER"
VF="sslmode=verify-full sslrootcert=$PG_CA"
pg_reset

# ---- verify-full by IP and by name, over TLS, as estrad.
tcp_psql ip "$CI $VF" \
    "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()" ||
    fail "verify-full to 127.0.0.1: $(cat "$WORK/ip.err")"
[ "$(cat "$WORK/ip.out")" = "estrad|t" ] ||
    fail "expected 'estrad|t' (user, TLS), got '$(cat "$WORK/ip.out")'"
tcp_psql dns "host=localhost port=$PG_PORT dbname=$PG_DB user=$PG_USER $VF" \
    "select 1" || fail "verify-full to localhost: $(cat "$WORK/dns.err")"

# ---- refusals.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/other.key" -subj "/CN=estrad pgcluster CA" -days 1 \
    -out "$WORK/other-ca.pem" 2>/dev/null || fail "cannot make another CA"
! tcp_psql wrongca "$CI sslmode=verify-full sslrootcert=$WORK/other-ca.pem" "select 1" ||
    fail "verify-full against another CA (same name) succeeded"
grep -q "certificate verify failed" "$WORK/wrongca.err" ||
    fail "wrong CA: expected 'certificate verify failed', got: $(cat "$WORK/wrongca.err")"
! tcp_psql plain "$CI sslmode=disable" "select 1" ||
    fail "a plain TCP connection was accepted"
grep -q "no pg_hba.conf entry" "$WORK/plain.err" ||
    fail "plain TCP: expected a pg_hba refusal, got: $(cat "$WORK/plain.err")"
! T_PW=wrong tcp_psql badpw "$CI $VF" "select 1" ||
    fail "a wrong password was accepted"
grep -q "password authentication failed" "$WORK/badpw.err" ||
    fail "wrong password: got: $(cat "$WORK/badpw.err")"

# ---- pg_store_json: the store section estrad reads.
pg_store_json '"lease": 5' >"$WORK/store.json"
python3 - "$WORK/store.json" "$PG_PORT" "$WORK/pg.password" "$PG_CA" \
    >"$WORK/store.check" 2>&1 <<'PY' || fail "pg_store_json: $(cat "$WORK/store.check")"
import json, sys
s = json.load(open(sys.argv[1]))
want = {"backend": "postgresql",
        "conninfo": "host=127.0.0.1 port=%s dbname=estrad user=estrad" % sys.argv[2],
        "password_file": sys.argv[3], "sslmode": "verify-full",
        "ssl_root_cert": sys.argv[4], "lease": 5}
if s != want:
    sys.exit("got %r, expected %r" % (s, want))
PY
cmp -s "$WORK/pg.password" "$PG_PASSWORD_FILE" ||
    fail "$WORK/pg.password is not a copy of $PG_PASSWORD_FILE"
[ "$(stat -c '%a %u' "$WORK/pg.password")" = "600 $(id -u)" ] ||
    fail "$WORK/pg.password is $(stat -c '%a, uid %u' "$WORK/pg.password")"
! grep -qF "$PW" "$WORK/store.json" || fail "the password is in the store JSON"
[ "$(pg_store_json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 5 ] ||
    fail "pg_store_json without members is not the five-member object"

# estrad reads it: `estrad -n` with the store section reaches the
# database (and refuses a copy of the password readable by others).
P_TOP_EXTRA="\"store\": $(pg_store_json)" proxy_config "$WORK/store-proxy.json"
"$ESTRAD_BIN" -n -c "$WORK/store-proxy.json" >"$WORK/store-n.out" 2>&1 ||
    fail "estrad -n with pg_store_json's store: $(head -c 600 "$WORK/store-n.out")"
grep -q "configuration OK" "$WORK/store-n.out" ||
    fail "estrad -n: $(head -c 600 "$WORK/store-n.out")"
chmod 644 "$WORK/pg.password"
! "$ESTRAD_BIN" -n -c "$WORK/store-proxy.json" >"$WORK/store-644.out" 2>&1 ||
    fail "estrad -n took a password file of mode 644"
grep -q "store.password_file" "$WORK/store-644.out" ||
    fail "estrad -n on a 644 password file: $(head -c 600 "$WORK/store-644.out")"
chmod 600 "$WORK/pg.password"

# ---- data as estrad over TLS; pg_psql as the superuser sees it.
tcp_psql create "$CI $VF" \
    "create table kept (v text); insert into kept values ('before restart')" ||
    fail "create as estrad: $(cat "$WORK/create.err")"
[ "$(pg_psql 'select v from kept' "select tableowner from pg_tables where tablename = 'kept'")" = \
    "before restart
estrad" ] || fail "pg_psql: $(pg_psql 'select v from kept' 2>&1)"

# ---- a restart: away for a second, back on the same port, data kept.
port=$PG_PORT
pg_outage 3
! tcp_psql during "$CI $VF" "select 1" || fail "the database answered while stopped"
pg_back
pg_env
[ "$PG_PORT" = "$port" ] || fail "the cluster came back on port $PG_PORT, not $port"
tcp_psql after "$CI $VF" "select v from kept" ||
    fail "after the restart: $(cat "$WORK/after.err")"
[ "$(cat "$WORK/after.out")" = "before restart" ] ||
    fail "after the restart the row is '$(cat "$WORK/after.out")'"
"$ESTRAD_PGCLUSTER" start "$ESTRAD_PG_DIR" >"$WORK/again.out" 2>&1 ||
    fail "pgcluster start on a running cluster: $(cat "$WORK/again.out")"
grep -q "already running on 127.0.0.1:$port" "$WORK/again.out" ||
    fail "pgcluster start again: $(cat "$WORK/again.out")"

# ---- pg_reset: an empty database for the next case.
pg_reset
[ "$(pg_psql "select count(*) from pg_tables where schemaname = 'public'")" = 0 ] ||
    fail "pg_reset left tables behind"
pass
