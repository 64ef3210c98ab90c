#!/bin/sh
# estrad-healthcheck: the image's HEALTHCHECK. GET /healthz on the admin
# listener, found the way estrad finds it: $ESTRAD_ADMIN_LISTEN (the image
# sets 0.0.0.0:9090), a wildcard address meaning the loopback one.
# $ESTRAD_HEALTHCHECK_URL replaces the URL (an admin listener with TLS:
# https://127.0.0.1:9090/healthz, with CURL_CA_BUNDLE set).
set -eu
addr=${ESTRAD_ADMIN_LISTEN:-127.0.0.1:9090}
case $addr in
0.0.0.0:*) addr=127.0.0.1:${addr##*:} ;;
"[::]:"*) addr="[::1]:${addr##*:}" ;;
esac
exec curl -fsS -g --max-time 3 -o /dev/null \
    "${ESTRAD_HEALTHCHECK_URL:-http://$addr/healthz}"
