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
#  - the counters are the rows a:127.0.0.5 and u:USER, count 3 or more;
#  - the windows ended (set so in the database): the right password
#    enrolls, and the next failure opens a new window counting from 1.
#  - a user name that is not UTF-8 (byte 0xff): 401, counted as u:gu%FFst;
#  - Basic on label "basic": a right password is counted ahead and
#    forgiven (its row back to 0); three wrong ones, one per replica, then
#    the right one from another address on each replica: 429.
# Counted in each replica's memory (before this change), no replica saw
# more than one failure: the right password would enroll.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
BASIC_USERS=$(dirname "$DIGEST_USERS")/basic
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"basic_users\": \"$BASIC_USERS\", \"max_failures\": 3, \"failure_window\": 60" \
    P_LABELS='"basic": { "upstream": "ca", "auth": { "simpleenroll": ["basic"] } }' \
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
	check_retry_after 1 60
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

# ---- Basic: counted ahead on the store, forgiven when the password was
# right (the count goes back to 0); three wrong ones on three replicas
# block the user on each.
T_AUTH=basic enroll_ok basic_ok "${REP_URL[1]}/basic/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" --interface 127.0.0.8
for ((k = 0; k < 20; k++)); do
	row=$(pg_psql "select count from estrad_counter where name = 'u:$BASIC_USER'")
	[ "$row" = 0 ] && break
	sleep 0.1
done
[ "$row" = 0 ] || fail "after a right Basic password, u:$BASIC_USER counts '$row', expected 0 (forgiven)"
for i in 1 2 3; do
	T_AUTH=none post_csr "bguess$i" "${REP_URL[i]}/basic/simpleenroll" "$WORK/dev.b64" \
	    --interface 127.0.0.8 --basic -u "$BASIC_USER:wrong-$i"
	check_error 401
	check_phrase "wrong user name or password"
done
for i in 1 2 3; do
	T_AUTH=basic post_csr "bblocked$i" "${REP_URL[i]}/basic/simpleenroll" "$WORK/dev.b64" \
	    --interface 127.0.0.9
	check_error 429
	check_body "too many failed attempts; retry later"
done

# ---- a user name that is not UTF-8 is a wrong password like any other
# (its counter's name escaped), not a statement the database refuses.
XURL=${REP_URL[2]} digest_from odd 127.0.0.10 "$(printf 'gu\xffst')" "x"
check_error 401
check_phrase "wrong user name or password"
[ "$(pg_psql "select count from estrad_counter where name = 'u:gu%FFst'")" = 1 ] ||
    fail "no counter u:gu%FFst for the user name that is not UTF-8"

# ---- the block lasts until the window ends (the database's clock): end
# it there, and the right password enrolls; the next failure opens a new
# 60 s window, counting from 1.
pg_psql "update estrad_counter set window_end = estrad_now() - 1 where name in ('a:127.0.0.6', 'u:$EST_USER')" ||
    fail "cannot end the windows"
XURL=${REP_URL[3]} digest_from_ok after 127.0.0.6 "$EST_USER" "$EST_PASS"
XURL=${REP_URL[1]} digest_from again 127.0.0.7 "$EST_USER" "wrong-again"
check_error 401
row=$(pg_psql "select count, window_end - window_start, window_start >= estrad_now() - 5 from estrad_counter where name = 'u:$EST_USER'")
[ "$row" = "1|60|t" ] || fail "after the window ended, u:$EST_USER is '$row', expected 1|60|t (a new window)"
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
pass
