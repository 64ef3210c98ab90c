#!/usr/bin/env bash
# The policy rate is the group's (issue 19): three replicas behind
# HAProxy on one PostgreSQL database, the default route's policy "rated"
# at most 3 enrollments per identity per 60 s.
#  - three Digest enrollments through HAProxy (round robin: each on
#    another replica): 200;
#  - the 4th through HAProxy and then one on each replica directly: 429,
#    Retry-After 1..60, body "policy rate: at most 3 enrollments per 60 s
#    for this identity; retry later", nothing more at the CA;
#  - another identity (the lab client certificate) still enrolls;
#  - the counter is one row, rate::digest:USER, its count past 3.
# Counted in each replica's memory (before this change), the user would
# get 3 per replica: 9.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
P_DEFAULT_EXTRA='"policy": "rated"' \
    P_TOP_EXTRA="\"policies\": { \"rated\": { \"rate\": { \"max\": 3, \"window\": 60 } } }, \"store\": $(pg_store_json)" \
    proxy_config "$WORK/replica.json"
replicas_start 3 "$WORK/replica.json"
make_csr dev "/CN=rated-replicas"

SEQ=''
for i in 1 2 3; do
	enroll_ok "ok$i" "$HA_URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
	replica_served "ok$i"
	SEQ="$SEQ $R"
done
note "three enrollments served by$SEQ"
[ "$(tr ' ' '\n' <<<"$SEQ" | sed '/^$/d' | sort -u | wc -l)" -ge 2 ] ||
    fail "all three enrollments went to one replica ($SEQ): the test proves nothing"

# over NAME URL: refused by the rate.
over() {
	post_csr "$1" "$2/simpleenroll" "$WORK/dev.b64"
	check_error 429
	check_body "policy rate: at most 3 enrollments per 60 s for this identity; retry later"
	check_retry_after 1 60
}
before=$(ca_access_lines)
over fourth "$HA_URL"
for i in 1 2 3; do
	over "direct$i" "${REP_URL[i]}"
done
check_ca_unchanged "$before" "the enrollments over the rate"

# Per identity: the client certificate is another one.
T_AUTH=none enroll_ok cert "$HA_URL/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"

row=$(pg_psql "select count, window_end - window_start from estrad_counter where name = 'rate::digest:$EST_USER'") ||
    fail "cannot read estrad_counter"
[ "$row" = "7|60" ] || fail "the rate row of $EST_USER is '$row', expected 7|60 (3 + 4 counted, a 60 s window)"
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
pass
