#!/usr/bin/env bash
# "log_format": "json" (docs/operations.md, Logs): a proxy of this case's
# own writes nothing on stderr but JSON objects, one per line, each with
# exactly "time" (UTC, YYYY-MM-DDTHH:MM:SS.mmmZ), "level" (error, warn,
# info, debug) and "msg" (a string); among them "listening on
# 127.0.0.1:PORT" and, after an enrollment, one access line for its
# X-Request-Id, still the one key=value message of the text format (its
# reason="..." quotes escaped, not breaking the object); a request that is
# refused adds a warn or info line that parses too. The text format is
# checked by every other case.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to read the JSON log"

P_TOP_EXTRA='"log_format": "json"' proxy_config "$WORK/proxy.json"
start_estrad json "$WORK/proxy.json"

make_csr dev "/CN=log-json-device"
enroll_ok enroll "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
rid=$(header X-Request-Id)
[ -n "$rid" ] || fail "no X-Request-Id"
# A refusal (wrong password) and a bad path: more lines, other reasons.
T_AUTH=none post_csr wrong "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "$EST_USER:wrong\"pw"
check_status 401
req badpath GET "$XURL/no-such-op"
wait_grep 2 "$XLOG" "\"msg\":\"access id=$rid " || fail "no JSON access line for $rid in $XLOG"
sleep 0.2

python3 - "$XLOG" "$rid" "$EST_USER" <<'PY' || fail "the JSON log does not hold up (above); log in $XLOG"
import json, re, sys

log, rid, user = sys.argv[1:4]
stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
levels = {"error", "warn", "info", "debug"}
bad, msgs = [], []
with open(log, "rb") as f:
    for n, raw in enumerate(f, 1):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            bad.append(f"line {n} is not JSON ({e}): {raw[:200]!r}")
            continue
        if not isinstance(obj, dict) or set(obj) != {"time", "level", "msg"}:
            bad.append(f"line {n} is not {{time, level, msg}}: {raw[:200]!r}")
            continue
        if not isinstance(obj["time"], str) or not stamp.match(obj["time"]):
            bad.append(f"line {n}: time {obj['time']!r}")
        if obj["level"] not in levels:
            bad.append(f"line {n}: level {obj['level']!r}")
        if not isinstance(obj["msg"], str):
            bad.append(f"line {n}: msg {obj['msg']!r}")
        else:
            msgs.append((obj["level"], obj["msg"]))
if not any(l == "info" and re.match(r"^listening on 127\.0\.0\.1:\d+$", m) for l, m in msgs):
    bad.append("no info 'listening on 127.0.0.1:PORT' message")
access = [m for l, m in msgs if m.startswith(f"access id={rid} ")]
if len(access) != 1:
    bad.append(f"{len(access)} access messages for id={rid}, expected 1")
else:
    a = access[0]
    for field in ("auth=digest", f"user={user}", "status=200", "upstream=200",
                  "op=simpleenroll", 'reason="'):
        if f" {field}" not in a:
            bad.append(f"access message lacks {field!r}: {a}")
    if not a.endswith('"'):
        bad.append(f"access message does not end in reason=\"...\": {a}")
if not any(m.startswith("access ") and " status=401 " in m for l, m in msgs):
    bad.append("no access message for the 401")
if not any(m.startswith("access ") and " status=404 " in m for l, m in msgs):
    bad.append("no access message for the 404")
for b in bad:
    print(b, file=sys.stderr)
print(f"{len(msgs)} JSON lines checked")
sys.exit(1 if bad else 0)
PY
pass
