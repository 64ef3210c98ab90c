#!/usr/bin/env bash
# Failed logins are counted by the group (issue 19): three replicas on
# one PostgreSQL database, auth max_failures 3 in a 60 s window.
#  - one wrong password for the lab user on each replica (from
#    127.0.0.5): 401 each;
#  - then, from 127.0.0.6 (an address with no failure), the right
#    password on each replica directly and through HAProxy: 429 "too many
#    failed attempts; retry later" with Retry-After 1..60; a wrong one:
#    429 too (a blocked guesser learns nothing);
#  - 127.0.0.5 itself is blocked (its own three failures), with another
#    user name in the answer too;
#  - the counters are the rows a:127.0.0.5 and u:USER, count 3 or more.
# Counted in each replica's memory (before this change), no replica saw
# more than one failure: the right password would enroll.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"max_failures\": 3, \"failure_window\": 60" \
    P_TOP_EXTRA="\"store\": $(pg_store_json)" proxy_config "$WORK/replica.json"
replicas_start 3 "$WORK/replica.json"
make_csr dev "/CN=lockout-replicas"

for i in 1 2 3; do
	XURL=${REP_URL[i]} digest_from "guess$i" 127.0.0.5 "$EST_USER" "wrong-$i"
	check_error 401
	check_phrase "wrong user name or password"
done

# blocked NAME URL ADDR PASS: 429 for the lab user.
blocked() {
	XURL=$2 digest_from "$1" "$3" "$EST_USER" "$4"
	check_error 429
	check_body "too many failed attempts; retry later"
	ra=$(header Retry-After)
	if ! [[ $ra =~ ^[0-9]+$ ]] || [ "$ra" -lt 1 ] || [ "$ra" -gt 60 ]; then
		fail "$1: 429 with Retry-After '$ra', expected 1..60"
	fi
}
before=$(ca_access_lines)
for i in 1 2 3; do
	blocked "right$i" "${REP_URL[i]}" 127.0.0.6 "$EST_PASS"
	blocked "wrong$i" "${REP_URL[i]}" 127.0.0.6 "still-wrong"
done
blocked ha "$HA_URL" 127.0.0.6 "$EST_PASS"
# The address that guessed is blocked whoever it names.
XURL=${REP_URL[2]} digest_from addr 127.0.0.5 nobody-else "x"
check_error 429
check_ca_unchanged "$before" "the blocked logins"

rows=$(pg_psql "select name, count >= 3 from estrad_counter where name in ('a:127.0.0.5', 'u:$EST_USER') order by name") ||
    fail "cannot read estrad_counter"
[ "$(tr '\n' ' ' <<<"$rows")" = "a:127.0.0.5|t u:$EST_USER|t " ] ||
    fail "estrad_counter holds '$rows', expected a:127.0.0.5 and u:$EST_USER at 3 or more"
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
pass
