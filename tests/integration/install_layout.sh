#!/usr/bin/env bash
# install_layout: `cmake --install` lays out the binary (sbin), the man page
# (share/man/man8), the example configs and docs (share/doc/estrad), the
# systemd unit (lib/systemd/system) naming the installed binary, and the
# sysusers.d file; the installed estrad runs, `man` finds the page, and the
# installed unit passes `systemd-analyze verify` (its man: link resolved).
# A DESTDIR install (the Dockerfile's, same command) stages under DESTDIR
# but names the final path in the unit.
. "$(dirname "$0")/lib.sh"

BUILD=${ESTRAD_BUILD_DIR:?ESTRAD_BUILD_DIR is not set}
ROOT=$WORK/root

cmake --install "$BUILD" --prefix "$ROOT" >"$WORK/install.out" 2>&1 ||
    fail "cmake --install: $(tail -n 5 "$WORK/install.out")"

for f in sbin/estrad share/man/man8/estrad.8 \
    share/doc/estrad/examples/estrad.json \
    share/doc/estrad/examples/branch-office.json \
    share/doc/estrad/examples/policy-enterprise.json \
    share/doc/estrad/examples/policy-lab.json \
    share/doc/estrad/README.md share/doc/estrad/configuration.md \
    share/doc/estrad/operations.md \
    lib/systemd/system/estrad.service lib/sysusers.d/estrad.conf; do
	[ -f "$ROOT/$f" ] || fail "cmake --install made no $f: $(find "$ROOT" -type f | sed "s|$ROOT/||" | tr '\n' ' ')"
	grep -qF "$ROOT/$f" "$BUILD/install_manifest.txt" ||
	    fail "$f is not in install_manifest.txt"
done
[ -x "$ROOT/sbin/estrad" ] || fail "sbin/estrad is not executable"
note "layout: sbin, share/man/man8, share/doc/estrad, lib/systemd/system, lib/sysusers.d"

want=$("$ESTRAD_BIN" --version)
got=$("$ROOT/sbin/estrad" --version) || fail "the installed estrad --version failed"
[ "$got" = "$want" ] || fail "installed --version '$got', built '$want'"

UNIT=$ROOT/lib/systemd/system/estrad.service
grep -qxF "ExecStart=$ROOT/sbin/estrad -c /etc/estrad/estrad.json" "$UNIT" ||
    fail "the unit's ExecStart is '$(grep '^ExecStart=' "$UNIT")', not $ROOT/sbin/estrad"
! grep -n '@[A-Z_]*@' "$UNIT" || fail "placeholders left in the installed unit"
note "unit: ExecStart=$ROOT/sbin/estrad"

# man finds the page under the prefix, and renders it.
if command -v man >/dev/null; then
	MANPATH=$ROOT/share/man man -w estrad >"$WORK/man.where" 2>&1 ||
	    fail "man -w estrad with MANPATH=$ROOT/share/man: $(cat "$WORK/man.where")"
	MANPATH=$ROOT/share/man MANWIDTH=80 man estrad 2>/dev/null |
	    grep -q 'registration-authority proxy' ||
	    fail "man estrad does not render the page"
	note "man finds and renders the installed page"
fi

if command -v systemd-analyze >/dev/null && command -v man >/dev/null; then
	MANPATH=$ROOT/share/man systemd-analyze verify "$UNIT" >"$WORK/verify.out" 2>&1 ||
	    fail "systemd-analyze verify (installed): $(head -c 800 "$WORK/verify.out")"
	note "installed unit verifies, man:estrad(8) included"
fi

# The Dockerfile's install: staged under DESTDIR, the unit names the final
# path.
grep -qF 'DESTDIR=/staging cmake --install build --prefix /usr/local --strip' \
    "$ESTRAD_SOURCE_DIR/docker/Dockerfile" ||
    fail "docker/Dockerfile does not install as this case does"
DESTDIR=$WORK/stage cmake --install "$BUILD" --prefix /usr/local --strip \
    >"$WORK/stage.out" 2>&1 || fail "DESTDIR install: $(tail -n 5 "$WORK/stage.out")"
[ -x "$WORK/stage/usr/local/sbin/estrad" ] || fail "no DESTDIR/usr/local/sbin/estrad"
"$WORK/stage/usr/local/sbin/estrad" --version >/dev/null ||
    fail "the stripped estrad does not run"
grep -qxF "ExecStart=/usr/local/sbin/estrad -c /etc/estrad/estrad.json" \
    "$WORK/stage/usr/local/lib/systemd/system/estrad.service" ||
    fail "the staged unit's ExecStart: $(grep '^ExecStart=' "$WORK/stage/usr/local/lib/systemd/system/estrad.service")"
note "DESTDIR install: staged, unit names /usr/local/sbin/estrad, stripped binary runs"

pass
