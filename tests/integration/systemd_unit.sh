#!/usr/bin/env bash
# systemd_unit: contrib/systemd/estrad.service.in, filled in as cmake
# --install does, holds the directives docs/operations.md promises
# (Type=notify, the reload and stop commands, the sandbox, the state
# directory, TimeoutStopSec above shutdown_timeout's default), passes
# `systemd-analyze verify`, scores at most 2.0 ("OK") in `systemd-analyze
# security --offline`, and its ExecReload check command accepts a sound
# config and refuses a broken one. contrib/systemd/estrad.sysusers makes
# the estrad user (systemd-sysusers --root). The unit is not started: no
# systemd runs the test machine.
. "$(dirname "$0")/lib.sh"

SRC=${ESTRAD_SOURCE_DIR:?ESTRAD_SOURCE_DIR is not set}
IN=$SRC/contrib/systemd/estrad.service.in
UNIT=$WORK/estrad.service
BINDIR=$(cd "$(dirname "$ESTRAD_BIN")" && pwd)
sed "s|@ESTRAD_SBINDIR@|$BINDIR|g" "$IN" >"$UNIT"
! grep -n '@[A-Z_]*@' "$UNIT" || fail "placeholders left in the unit"

# has LINE: the unit has exactly this line.
has() {
	grep -qxF -- "$1" "$UNIT" || fail "estrad.service lacks '$1'"
}

has "Type=notify"
has "NotifyAccess=main"
has "ExecStart=$BINDIR/estrad -c /etc/estrad/estrad.json"
has "ExecReload=$BINDIR/estrad -n -c /etc/estrad/estrad.json"
has "ExecReload=/bin/kill -HUP \$MAINPID"
has "Restart=on-failure"
has "User=estrad"
has "AmbientCapabilities=CAP_NET_BIND_SERVICE"
has "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"
has "StateDirectory=estrad"
for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes \
    ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" RestrictNamespaces=yes \
    LockPersonality=yes MemoryDenyWriteExecute=yes RestrictRealtime=yes \
    SystemCallArchitectures=native; do
	has "$d"
done
# The daemon must be able to write its state_dir: /var/lib/estrad is the
# StateDirectory, and ProtectSystem=strict leaves nothing else writable.
grep -q '^ReadOnlyPaths=.*/var/lib' "$UNIT" && fail "/var/lib made read-only"
note "directives present"

# TimeoutStopSec above the default shutdown_timeout: read from
# docs/configuration.md's key table, which config_doc makes from the config
# rows (the docs_configuration test holds the two equal).
default=$(sed -n 's/^| `shutdown_timeout` | [^|]* | \([0-9][0-9]*\) |.*/\1/p' \
    "$SRC/docs/configuration.md")
[ -n "$default" ] ||
    fail "cannot read shutdown_timeout's default from docs/configuration.md"
stop=$(sed -n 's/^TimeoutStopSec=\([0-9][0-9]*\)$/\1/p' "$UNIT")
[ -n "$stop" ] || fail "no TimeoutStopSec=SECONDS"
[ "$stop" -gt "$default" ] ||
    fail "TimeoutStopSec=$stop is not above shutdown_timeout's default ($default s)"
note "TimeoutStopSec=$stop > shutdown_timeout $default"

# ExecReload's first command: a sound config passes, a broken one fails
# (so "systemctl reload" fails and shows why).
reload_check=$(sed -n 's/^ExecReload=\(.* -n \)-c .*/\1/p' "$UNIT")
proxy_config "$WORK/good.json"
$reload_check -c "$WORK/good.json" >"$WORK/check.out" 2>&1 ||
    fail "the reload check refuses a sound config: $(cat "$WORK/check.out")"
sed 's/"max_body_bytes": 65536/"max_body_bytes": 1/' "$WORK/good.json" >"$WORK/bad.json"
if $reload_check -c "$WORK/bad.json" >"$WORK/check.out" 2>&1; then
	fail "the reload check accepts a broken config"
fi
grep -q 'limits.max_body_bytes' "$WORK/check.out" ||
    fail "the reload check does not say why: $(cat "$WORK/check.out")"
note "ExecReload checks the config first"

if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze is not installed (Debian: systemd); the directives were checked"
fi
# --man=no: the page is not installed here (install_layout checks the
# installed unit with it).
systemd-analyze verify --man=no "$UNIT" >"$WORK/verify.out" 2>&1 ||
    fail "systemd-analyze verify: $(head -c 800 "$WORK/verify.out")"
[ ! -s "$WORK/verify.out" ] || fail "systemd-analyze verify warns: $(head -c 800 "$WORK/verify.out")"
note "systemd-analyze verify: clean"

systemd-analyze security --offline=yes --threshold=20 "$UNIT" \
    >"$WORK/security.out" 2>&1 ||
    fail "systemd-analyze security: $(tail -n 3 "$WORK/security.out")"
note "$(grep -o 'exposure level.*' "$WORK/security.out" | head -n 1)"

# The user the unit runs as.
mkdir -p "$WORK/sysroot/etc"
systemd-sysusers --root="$WORK/sysroot" "$SRC/contrib/systemd/estrad.sysusers" \
    >"$WORK/sysusers.out" 2>&1 || fail "systemd-sysusers: $(cat "$WORK/sysusers.out")"
grep -q '^estrad:x:[0-9]*:[0-9]*:[^:]*:/var/lib/estrad:/usr/sbin/nologin$' \
    "$WORK/sysroot/etc/passwd" ||
    fail "no estrad user made: $(cat "$WORK/sysroot/etc/passwd")"
note "sysusers.d: $(grep '^estrad:' "$WORK/sysroot/etc/passwd")"

pass
