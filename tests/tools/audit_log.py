#!/usr/bin/env python3
"""Read estrad's audit file (JSON lines) for the integration tests: one
reader behind lib.sh's audit_record, audit_queue_states and
audit_request_field.

  audit_log.py record FILE ID DEST
      Every line must be a JSON object ending in a newline; exactly one
      has "id" ID. It goes to DEST (compact JSON) and, one "KEY<TAB>VALUE"
      line per field, to DEST without ".json" plus ".kv".
  audit_log.py queue-states FILE QID
      Every line must be a JSON object; prints the "state" of the lines
      {"event":"queue","queue_id":QID}, in file order, space-separated.
  audit_log.py request-field FILE RID KEY
      Field KEY of the one request record (no "event") with "id" RID:
      strings as they are, null as "null", others as JSON; "<absent>"
      when it has no KEY, "<none>" or "<many>" when not exactly one
      record. Lines that are not JSON, or no file, count as no record.
"""
import json
import sys


def records(path, strict, need_newline=False):
    """The JSON objects of path, in order. strict: exit naming the first
    line that is not one; otherwise skip it."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if need_newline and not line.endswith("\n"):
                sys.exit(f"{path}:{n}: no newline at the end of the line")
            try:
                rec = json.loads(line)
            except ValueError as e:
                if strict:
                    sys.exit(f"{path}:{n}: not JSON ({e}): {line[:200]!r}")
                continue
            if not isinstance(rec, dict):
                if strict:
                    sys.exit(f"{path}:{n}: not a JSON object")
                continue
            yield rec


def text(v):
    return "null" if v is None else v if isinstance(v, str) else json.dumps(v)


def record(path, rid, dest):
    found = [r for r in records(path, True, True) if r.get("id") == rid]
    if len(found) != 1:
        sys.exit(f"{len(found)} audit records with id {rid}, expected 1")
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(found[0], f)
    # One "KEY<TAB>VALUE" line per field, for audit_field (no python per
    # field).
    with open(dest[:-5] + ".kv", "w", encoding="utf-8") as f:
        for k, v in found[0].items():
            f.write(k + "\t" + text(v).replace("\n", "\\n") + "\n")


def queue_states(path, qid):
    qid = int(qid)
    print(" ".join(str(r.get("state")) for r in records(path, True)
                   if r.get("event") == "queue" and r.get("queue_id") == qid))


def request_field(path, rid, key):
    try:
        found = [r for r in records(path, False)
                 if r.get("id") == rid and "event" not in r]
    except OSError:
        found = []
    if len(found) != 1:
        print("<none>" if not found else "<many>")
    elif key not in found[0]:
        print("<absent>")
    else:
        print(text(found[0][key]))


COMMANDS = {"record": (record, 3), "queue-states": (queue_states, 2),
            "request-field": (request_field, 3)}

if __name__ == "__main__":
    cmd = COMMANDS.get(sys.argv[1] if len(sys.argv) > 1 else "")
    if cmd is None or len(sys.argv) != 2 + cmd[1]:
        sys.exit(__doc__)
    cmd[0](*sys.argv[2:])
