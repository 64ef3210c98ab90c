#!/usr/bin/env bash
# src/pg.c against the fixture's PostgreSQL: tests/unit/test_pg (cmocka),
# given the cluster's address, the password file and the CA (PG_HOST,
# PG_PORT, PG_DB, PG_USER, PG_PASSWORD_FILE, PG_CA from pg.env), on an
# empty database; every one of its tests must pass.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "${TEST_PG:-}" ] || fail "no test_pg binary (TEST_PG='${TEST_PG:-}')"
pg_reset
export PG_HOST PG_PORT PG_DB PG_USER PG_PASSWORD_FILE PG_CA
T_LOGS+=("$WORK/test_pg.out")
timeout 100 "$TEST_PG" >"$WORK/test_pg.out" 2>&1 ||
    fail "test_pg exited $?: $(grep -E 'FAILED|ERROR|Error|error' "$WORK/test_pg.out" | head -n 10)"
grep -q '^\[  PASSED  \]' "$WORK/test_pg.out" ||
    fail "test_pg printed no PASSED line: $(tail -n 5 "$WORK/test_pg.out")"
! grep -q '^\[  FAILED  \]' "$WORK/test_pg.out" ||
    fail "test_pg: $(grep -A 5 '^\[  FAILED  \]' "$WORK/test_pg.out")"
note "$(grep '^\[  PASSED  \]' "$WORK/test_pg.out")"
pass
