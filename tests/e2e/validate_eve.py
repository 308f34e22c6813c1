#!/usr/bin/python3
"""Validate darter's EVE JSON output, line by line.

usage: validate_eve.py SCHEMA EVE_JSON...

Every line of every EVE_JSON file must be one JSON object, newline-terminated,
valid against SCHEMA (engine/eve-flow.schema.json: JSON Schema draft 2020-12
or draft-07, picked from its "$schema"). Stricter than the schema alone:

- a JSON integer type means an int: 1.0 is rejected (jsonschema's default
  "integer" accepts floats with no fraction); NaN/Infinity are not JSON;
- duplicate keys in an object are errors (json.loads keeps the last one);
- flow_id is checked against its literal digits, so it is exact;
- flow events: tcp_flags == tcp_flags_ts | tcp_flags_tc, a "true" key exactly
  for each flag set, and flow.age == end seconds - start seconds.

Prints "N lines valid" and exits 0, or prints the first errors as
FILE:LINE: message and exits 1. Usage errors exit 2. Needs only the standard
library and python3-jsonschema (Debian 12 ships 4.10).
"""

import json
import re
import sys
from datetime import datetime

try:
    import jsonschema
    from jsonschema import validators
except ImportError:
    sys.stderr.write("validate_eve.py: python3-jsonschema is not installed\n")
    sys.exit(2)

MAX_ERRORS = 20
TCP_FLAGS = (("syn", 0x02), ("fin", 0x01), ("rst", 0x04), ("psh", 0x08),
             ("ack", 0x10), ("urg", 0x20), ("ecn", 0x40), ("cwr", 0x80))
FLOW_ID_RE = re.compile(rb'"flow_id":(-?[0-9]+)(?=[,}])')
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


class LineError(Exception):
    pass


def strict_validator(schema):
    """The schema's validator class, with "integer" meaning int (never float or bool)."""
    base = validators.validator_for(schema)
    base.check_schema(schema)
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool))
    return validators.extend(base, type_checker=checker)(schema)


def no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise LineError("duplicate key %s" % json.dumps(key))
        obj[key] = value
    return obj


def not_json(token):
    raise LineError("%s is not JSON" % token)


def parse(raw):
    if not raw.endswith(b"\n"):
        raise LineError("no newline at the end (truncated write?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LineError("not UTF-8: %s" % e)
    try:
        obj = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=not_json)
    except ValueError as e:
        raise LineError("not JSON: %s" % e)
    if not isinstance(obj, dict):
        raise LineError("not a JSON object")
    return obj


def check_flow_id(raw, obj):
    if "flow_id" not in obj:
        return
    m = FLOW_ID_RE.findall(raw)
    if len(m) != 1 or int(m[0]) != obj["flow_id"] or type(obj["flow_id"]) is not int:
        raise LineError("flow_id is not one exact integer")


def check_tcp(tcp):
    try:
        ts, tc, all_ = (int(tcp[k], 16) for k in ("tcp_flags_ts", "tcp_flags_tc", "tcp_flags"))
    except (KeyError, TypeError, ValueError):
        return  # the schema reports it
    if all_ != ts | tc:
        raise LineError("tcp.tcp_flags %02x != tcp_flags_ts | tcp_flags_tc (%02x)" % (all_, ts | tc))
    for name, bit in TCP_FLAGS:
        if bool(all_ & bit) != (name in tcp):
            raise LineError("tcp.%s does not match tcp_flags %02x" % (name, all_))


def check_age(flow):
    try:
        start = datetime.strptime(flow["start"], TIME_FORMAT)
        end = datetime.strptime(flow["end"], TIME_FORMAT)
    except (KeyError, TypeError, ValueError):
        return  # the schema reports it
    want = max(0, int(end.timestamp()) - int(start.timestamp()))
    if flow.get("age") != want:
        raise LineError("flow.age %r, end - start is %d s" % (flow.get("age"), want))


def describe(e):
    """A short message for a schema error (the default can print the whole line)."""
    inst = e.instance
    if e.validator == "not" and isinstance(inst, dict):
        subs = e.validator_value.get("anyOf", [e.validator_value])
        keys = [k for sub in subs for k in sub.get("required", []) if k in inst]
        proto = " for proto %s" % json.dumps(inst["proto"]) if "proto" in inst else ""
        return "must not have %s%s" % (", ".join(keys), proto)
    msg = e.message
    return msg if len(msg) <= 200 else msg[:200] + "..."


def check_line(validator, raw):
    """Error messages for one raw line (bytes), [] when it is valid."""
    try:
        obj = parse(raw)
        check_flow_id(raw, obj)
    except LineError as e:
        return [str(e)]
    errors = []
    for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(line)"
        errors.append("%s: %s" % (where, describe(e)))
    if errors or obj.get("event_type") != "flow":
        return errors
    try:
        if isinstance(obj.get("tcp"), dict):
            check_tcp(obj["tcp"])
        check_age(obj["flow"])
    except LineError as e:
        return [str(e)]
    return []


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: validate_eve.py SCHEMA EVE_JSON...\n")
        return 2
    try:
        with open(argv[1], "rb") as fh:
            validator = strict_validator(json.load(fh))
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        sys.stderr.write("validate_eve.py: %s: %s\n" % (argv[1], e))
        return 2
    lines = bad = shown = unreadable = 0
    for path in argv[2:]:
        try:
            fh = open(path, "rb")
        except OSError as e:
            print("%s: %s" % (path, e.strerror))
            unreadable += 1
            continue
        with fh:
            for n, raw in enumerate(fh, 1):
                lines += 1
                errors = check_line(validator, raw)
                if not errors:
                    continue
                bad += 1
                for msg in errors:
                    if shown < MAX_ERRORS:
                        print("%s:%d: %s" % (path, n, msg))
                    shown += 1
    if bad or unreadable:
        more = " (%d more errors not shown)" % (shown - MAX_ERRORS) if shown > MAX_ERRORS else ""
        print("%d of %d lines invalid%s" % (bad, lines, more))
        return 1
    print("%d lines valid" % lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
