#!/usr/bin/python3
"""tests/singer/validate_singer.py: check a Singer message stream written by pgpull.

Usage: validate_singer.py FILE|-

Reads one JSON object per line (FILE, or standard input for "-") and checks
it against the Singer specification (SPEC.md of singer-io/getting-started)
and pgpull's own contract for `pgpull sync --target -`:

- every line is a JSON object (no NaN/Infinity, no duplicate member names)
  with a known upper-case `type`: SCHEMA, RECORD, STATE, ACTIVATE_VERSION,
  and no members other than those the message type defines;
- SCHEMA: `stream` (non-empty string), `schema` (a valid Draft 4 JSON Schema
  of type object with `properties`, no `$ref`), `key_properties` (list of
  distinct strings, each a top-level property), optional
  `bookmark_properties` (list of strings, each a top-level property);
- RECORD: `stream`, `record` (object) after a SCHEMA for its stream; the
  record validates against that schema (formats date-time and date
  checked), declares no property the schema lacks, and has every key
  property, not null; `time_extracted` if present is RFC 3339 with `Z` or an
  offset; `version` if present an integer; `sequence` and `lsn` (a change
  of a log_based stream) if present a positive integer and a "X/X" string;
- STATE: `value` present; a STATE comes before the first RECORD; when values
  carry a `bookmarks` object, no later STATE of the run drops a stream's
  bookmark;
- ACTIVATE_VERSION: `stream` with a SCHEMA before it, integer `version`, not
  lower than an earlier activation of the stream; every RECORD of the stream
  since its SCHEMA (or its previous ACTIVATE_VERSION) carries that version;
  records of one stream between two such boundaries all carry the same
  version, or none.

Exit 0 with the summary line
  N messages: a SCHEMA, b RECORD, c STATE, d ACTIVATE_VERSION
on standard output; exit 1 with one line per violation on standard error
("line N: ...", the first 50, then a count); exit 2 on a usage error.

The helpers parse_message(), is_rfc3339_date_time(), is_date() and
record_format_checker() are shared with target_pg.py in this directory.
"""

import datetime
import decimal
import json
import re
import sys

import jsonschema

PROG = "validate_singer.py"
MAX_SHOWN = 50
TYPES = ("SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION")
FIELDS = {
    "SCHEMA": {"type", "stream", "schema", "key_properties", "bookmark_properties"},
    "RECORD": {"type", "stream", "record", "time_extracted", "version", "sequence", "lsn"},
    "STATE": {"type", "value"},
    "ACTIVATE_VERSION": {"type", "stream", "version"},
}

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"([Zz]|[+-](\d{2}):(\d{2}))$", re.ASCII)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)


class MessageError(ValueError):
    """A line that is not a well-formed JSON object."""


class Number(decimal.Decimal):
    """A JSON number with a fraction or exponent: exact, and keeping its text."""

    def __new__(cls, text):
        self = super().__new__(cls, text)
        self.text = text
        return self


def _reject_constant(name):
    raise MessageError("%s is not a JSON number" % name)


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise MessageError("duplicate member name %s" % json.dumps(key))
        obj[key] = value
    return obj


def parse_message(line):
    """Parse one line (str, without its newline) into a dict.

    Numbers with a fraction or exponent become Number (a decimal.Decimal that
    keeps its text), so nothing is rounded.  Raises MessageError for anything but a strict JSON object.
    """
    try:
        value = json.loads(line, parse_float=Number,
                           parse_constant=_reject_constant,
                           object_pairs_hook=_no_duplicates)
    except MessageError:
        raise
    except ValueError as e:
        raise MessageError("not valid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise MessageError("not a JSON object")
    return value


def _valid_date(y, m, d):
    try:
        datetime.date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True


def is_rfc3339_date_time(s):
    """True when s is an RFC 3339 date-time with "Z" or a numeric offset."""
    if not isinstance(s, str):
        return False
    m = _DATE_TIME.match(s)
    if not m:
        return False
    y, mo, d, hh, mi, ss = m.group(1, 2, 3, 4, 5, 6)
    if not _valid_date(y, mo, d):
        return False
    if int(hh) > 23 or int(mi) > 59 or int(ss) > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def is_date(s):
    """True when s is an RFC 3339 full-date (YYYY-MM-DD)."""
    if not isinstance(s, str):
        return False
    m = _DATE.match(s)
    return bool(m) and _valid_date(*m.groups())


def record_format_checker():
    """A FormatChecker for records: checks only date-time and date strings."""
    fc = jsonschema.FormatChecker(formats=())
    fc.checks("date-time")(lambda v: not isinstance(v, str) or is_rfc3339_date_time(v))
    fc.checks("date")(lambda v: not isinstance(v, str) or is_date(v))
    return fc


def is_integer(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _has_ref(node):
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def _error_path(error):
    return "/".join(str(p) for p in error.absolute_path) or "(record)"


class Checker:
    """Checks messages one at a time; keeps O(streams) memory."""

    def __init__(self):
        self.violations = []
        self.counts = {t: 0 for t in TYPES}
        self.messages = 0
        self.seen_state = False
        self.seen_record = False
        self.streams = {}           # stream -> dict (see _check_schema)
        self.bookmark_keys = None   # keys of the last STATE's bookmarks
        self.bookmark_line = None
        self.fc = record_format_checker()

    def violation(self, lineno, text):
        self.violations.append("line %d: %s" % (lineno, text))

    def check_line(self, lineno, line):
        self.messages += 1
        try:
            msg = parse_message(line)
        except MessageError as e:
            self.violation(lineno, str(e))
            return
        mtype = msg.get("type")
        if not isinstance(mtype, str) or mtype not in TYPES:
            self.violation(lineno, "unrecognized message type: %s"
                           % json.dumps(mtype, default=str))
            return
        self.counts[mtype] += 1
        extra = sorted(set(msg) - FIELDS[mtype])
        if extra:
            self.violation(lineno, "%s has unexpected member(s): %s"
                           % (mtype, ", ".join(extra)))
        getattr(self, "_check_" + mtype.lower())(lineno, msg)

    def _stream_name(self, lineno, msg):
        stream = msg.get("stream")
        if not isinstance(stream, str) or stream == "":
            self.violation(lineno, "%s has no stream (a non-empty string)" % msg["type"])
            return None
        return stream

    def _check_schema(self, lineno, msg):
        stream = self._stream_name(lineno, msg)
        schema = msg.get("schema")
        ok = True
        if not isinstance(schema, dict):
            self.violation(lineno, "SCHEMA has no schema (a JSON object)")
            ok = False
        else:
            try:
                jsonschema.Draft4Validator.check_schema(schema)
            except jsonschema.SchemaError as e:
                self.violation(lineno, "schema is not a valid Draft 4 JSON Schema: %s at %s"
                               % (e.message, "/".join(str(p) for p in e.absolute_path) or "(root)"))
                ok = False
            if _has_ref(schema):
                self.violation(lineno, "schema contains $ref (Singer schemas must be resolved)")
            stype = schema.get("type")
            if not (stype == "object" or (isinstance(stype, list) and "object" in stype)):
                self.violation(lineno, "schema is not of type object")
            if not isinstance(schema.get("properties"), dict):
                self.violation(lineno, "schema has no properties object")
        props = schema.get("properties") if isinstance(schema, dict) else None
        props = props if isinstance(props, dict) else {}

        keys = msg.get("key_properties")
        if "key_properties" not in msg:
            self.violation(lineno, "SCHEMA has no key_properties")
            keys = []
        elif not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            self.violation(lineno, "key_properties is not a list of strings")
            keys = []
        else:
            if len(set(keys)) != len(keys):
                self.violation(lineno, "key_properties lists a property twice")
            for k in keys:
                if k not in props:
                    self.violation(lineno, "key property %s is not a property of the schema"
                                   % json.dumps(k))
        if "bookmark_properties" in msg:
            bms = msg["bookmark_properties"]
            if not isinstance(bms, list) or not all(isinstance(b, str) for b in bms):
                self.violation(lineno, "bookmark_properties is not a list of strings")
            else:
                for b in bms:
                    if b not in props:
                        self.violation(lineno, "bookmark property %s is not a property of the schema"
                                       % json.dumps(b))
        if stream is None:
            return
        validator = None
        if ok:
            validator = jsonschema.Draft4Validator(schema, format_checker=self.fc)
        old = self.streams.get(stream)
        if old is not None:
            self._end_segment(stream, old)
        self.streams[stream] = {
            "validator": validator,
            "props": set(props),
            "keys": [k for k in keys if k in props],
            "schema_line": lineno,
            # the current segment: records since SCHEMA or ACTIVATE_VERSION
            "seg_version": None, "seg_first": None, "seg_last": None,
            "activated": old["activated"] if old else None,
        }

    def _check_record(self, lineno, msg):
        if not self.seen_record and not self.seen_state:
            self.violation(lineno, "first RECORD comes before any STATE")
        self.seen_record = True
        stream = self._stream_name(lineno, msg)
        record = msg.get("record")
        if not isinstance(record, dict):
            self.violation(lineno, "RECORD has no record (a JSON object)")
            record = None
        if "time_extracted" in msg and not is_rfc3339_date_time(msg["time_extracted"]):
            self.violation(lineno, "time_extracted is not an RFC 3339 date-time with Z or an offset: %s"
                           % json.dumps(msg["time_extracted"], default=str))
        version = msg.get("version")
        if "version" in msg and not is_integer(version):
            self.violation(lineno, "version is not an integer: %s" % json.dumps(version, default=str))
            version = None
        if "sequence" in msg and not (is_integer(msg["sequence"]) and msg["sequence"] > 0):
            self.violation(lineno, "sequence is not a positive integer: %s" % json.dumps(msg["sequence"], default=str))
        if "lsn" in msg and not (isinstance(msg["lsn"], str) and re.fullmatch(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", msg["lsn"])):
            self.violation(lineno, "lsn is not an LSN such as \"0/16B3748\": %s" % json.dumps(msg["lsn"], default=str))
        if stream is None:
            return
        st = self.streams.get(stream)
        if st is None:
            self.violation(lineno, "RECORD for stream %s before any SCHEMA for it" % json.dumps(stream))
            return
        if record is not None:
            if st["validator"] is not None:
                errors = sorted(st["validator"].iter_errors(record),
                                key=lambda e: [str(p) for p in e.absolute_path])
                for e in errors:
                    self.violation(lineno, "record of stream %s does not match its schema: %s: %s"
                                   % (json.dumps(stream), _error_path(e), e.message))
            undeclared = sorted(set(record) - st["props"])
            if undeclared:
                self.violation(lineno, "record of stream %s has properties its schema does not declare: %s"
                               % (json.dumps(stream), ", ".join(undeclared)))
            for k in st["keys"]:
                if record.get(k) is None:
                    self.violation(lineno, "record of stream %s lacks key property %s (or it is null)"
                                   % (json.dumps(stream), json.dumps(k)))
        # versions of one segment must agree
        if st["seg_first"] is None:
            st["seg_first"] = lineno
            st["seg_version"] = version
        elif version != st["seg_version"]:
            self.violation(lineno, "record of stream %s carries version %s but the one on line %d carries %s"
                           % (json.dumps(stream), json.dumps(version), st["seg_first"],
                              json.dumps(st["seg_version"])))
        st["seg_last"] = lineno

    def _end_segment(self, stream, st):
        st["seg_version"] = None
        st["seg_first"] = None
        st["seg_last"] = None

    def _check_state(self, lineno, msg):
        self.seen_state = True
        if "value" not in msg:
            self.violation(lineno, "STATE has no value")
            return
        value = msg["value"]
        if isinstance(value, dict) and isinstance(value.get("bookmarks"), dict):
            keys = set(value["bookmarks"])
            if self.bookmark_keys is not None:
                lost = sorted(self.bookmark_keys - keys)
                if lost:
                    self.violation(lineno, "STATE drops the bookmark(s) of %s present on line %d"
                                   % (", ".join(json.dumps(k) for k in lost), self.bookmark_line))
            self.bookmark_keys = keys
            self.bookmark_line = lineno

    def _check_activate_version(self, lineno, msg):
        stream = self._stream_name(lineno, msg)
        version = msg.get("version")
        if not is_integer(version):
            self.violation(lineno, "ACTIVATE_VERSION has no integer version: %s"
                           % json.dumps(version, default=str))
            version = None
        if stream is None:
            return
        st = self.streams.get(stream)
        if st is None:
            self.violation(lineno, "ACTIVATE_VERSION for stream %s before any SCHEMA for it"
                           % json.dumps(stream))
            return
        if version is None:
            self._end_segment(stream, st)
            return
        if st["seg_first"] is not None and st["seg_version"] != version:
            self.violation(lineno, "ACTIVATE_VERSION %d for stream %s but its records on lines %d-%d carry version %s"
                           % (version, json.dumps(stream), st["seg_first"], st["seg_last"],
                              json.dumps(st["seg_version"])))
        if st["activated"] is not None and version < st["activated"][0]:
            self.violation(lineno, "ACTIVATE_VERSION %d for stream %s is lower than version %d activated on line %d"
                           % (version, json.dumps(stream), st["activated"][0], st["activated"][1]))
        st["activated"] = (version, lineno)
        self._end_segment(stream, st)

    def summary(self):
        return "%d messages: %d SCHEMA, %d RECORD, %d STATE, %d ACTIVATE_VERSION" % (
            self.messages, self.counts["SCHEMA"], self.counts["RECORD"],
            self.counts["STATE"], self.counts["ACTIVATE_VERSION"])


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        out = sys.stdout if len(argv) == 2 else sys.stderr
        print("Usage: %s FILE|-" % PROG, file=out)
        return 0 if len(argv) == 2 else 2
    try:
        f = sys.stdin.buffer if argv[1] == "-" else open(argv[1], "rb")
    except OSError as e:
        print("%s: error: could not open %s: %s" % (PROG, argv[1], e.strerror), file=sys.stderr)
        return 2
    checker = Checker()
    with f:
        for lineno, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                checker.messages += 1
                checker.violation(lineno, "not valid UTF-8: %s" % e)
                continue
            checker.check_line(lineno, line)
    if checker.violations:
        for v in checker.violations[:MAX_SHOWN]:
            print(v, file=sys.stderr)
        if len(checker.violations) > MAX_SHOWN:
            print("... and %d more" % (len(checker.violations) - MAX_SHOWN), file=sys.stderr)
        print("%s: %d violation(s) in %s" % (PROG, len(checker.violations), checker.summary()),
              file=sys.stderr)
        return 1
    print(checker.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
