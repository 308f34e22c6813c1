#!/usr/bin/env python3
"""Scrape a Prometheus endpoint with urllib, as a real client would.

Usage: scrape.py URL [PATH...]

Fetches URL + "/metrics", checks the status and content type, parses the
text exposition format 0.0.4 strictly (every sample belongs to the family
announced by the last "# TYPE" line, a family is announced once, names and
labels have the legal syntax, values are numbers) and prints one JSON
object: {"types": {family: type}, "samples": {"name{labels}": value},
"status": {PATH: code}} where each extra PATH was requested too and only its
status code is reported (urllib sends the path as given: no "../" folding).
Exit 0 when the scrape parsed, 1 otherwise (the reason on stderr).
"""
import json
import re
import sys
import urllib.error
import urllib.request

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def fail(why):
    print("scrape.py: " + why, file=sys.stderr)
    sys.exit(1)


def parse_labels(text):
    if not text:
        return ""
    inner = text[1:-1]
    pos = 0
    out = []
    while pos < len(inner):
        m = LABEL.match(inner, pos)
        if not m:
            fail("bad labels: " + text)
        out.append(m.group(0))
        pos = m.end()
        if pos < len(inner):
            if inner[pos] != ",":
                fail("bad label separator: " + text)
            pos += 1
    return "{" + ",".join(out) + "}"


def parse(body):
    types, samples = {}, {}
    family = None
    if not body.endswith("\n"):
        fail("body does not end with a newline")
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not NAME.match(parts[2]):
                fail("bad TYPE line: " + line)
            if parts[2] in types:
                fail("family announced twice: " + parts[2])
            if parts[3] not in ("counter", "gauge", "untyped", "summary", "histogram"):
                fail("bad type: " + line)
            family = parts[2]
            types[family] = parts[3]
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("bad sample line: " + repr(line))
        name, labels, value = m.group(1), parse_labels(m.group(2)), m.group(3)
        if name != family:
            fail("sample outside its family: " + line)
        key = name + labels
        if key in samples:
            fail("duplicate series: " + key)
        try:
            samples[key] = int(value)
        except ValueError:
            samples[key] = float(value)
    return types, samples


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    if len(sys.argv) < 2:
        fail("usage: scrape.py URL [PATH...]")
    base = sys.argv[1]
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        if r.status != 200:
            fail("status %d" % r.status)
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
            fail("content type " + ctype)
        body = r.read().decode("utf-8")
    types, samples = parse(body)
    status = {p: status_of(base + p) for p in sys.argv[2:]}
    print(json.dumps({"types": types, "samples": samples, "status": status}, sort_keys=True))


if __name__ == "__main__":
    main()
