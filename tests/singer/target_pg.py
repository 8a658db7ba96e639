#!/usr/bin/python3
"""tests/singer/target_pg.py: a small Singer target that loads into PostgreSQL, for tests.

Usage: target_pg.py --dsn CONNINFO --schema DEST_SCHEMA [--batch-size N]
                    [--fail-after-records N] [--exit-code-on-fail N]
                    [--stop-reading-after-lines N] [--no-echo]

Reads Singer messages from standard input, one JSON object per line, and
loads them the way a Stitch-like destination would:

- SCHEMA creates DEST_SCHEMA and the table named after the stream, one
  column per property (integer -> bigint, integer/number -> numeric,
  boolean -> boolean, string with format date-time -> timestamptz, with
  format date -> date, other string -> text, anything else -> jsonb; "null"
  in a type list only makes it nullable) plus _sdc_table_version bigint and
  _sdc_extracted_at timestamptz; a later SCHEMA adds missing columns.  Key
  properties get a unique index.
- RECORD is checked against its stream's SCHEMA (Draft 4, formats date-time
  and date, no undeclared property, key properties present and not null) and
  buffered.  Streams with key properties are upserted on the key (the whole
  row is replaced), others appended.  `version` goes to _sdc_table_version,
  `time_extracted` to _sdc_extracted_at.
- ACTIVATE_VERSION writes the buffer, deletes the stream's rows whose
  _sdc_table_version is not the given version (NULL included) and flushes.
- STATE is remembered as the latest state.

A flush (every --batch-size records, default 100; at ACTIVATE_VERSION; at
the end of input) COMMITs the database transaction and only THEN, when a
STATE arrived since the last echo, prints that latest state's `value` as one
compact JSON line (ASCII, no blanks, numbers as received) on standard output
and flushes it, as Singer targets do: an echoed state never covers an
uncommitted record.  --no-echo suppresses these lines.

Failure injection: --fail-after-records N exits with --exit-code-on-fail
(default 1) as the N-th record arrives, without committing it or anything
buffered since the last flush (earlier flushes stay; the N-th record never
triggers a flush).  --stop-reading-after-lines N handles N lines, then
closes standard input and exits 1 without committing what is pending (a
target that stops reading).

Message types are matched case-insensitively, as the Singer spec allows
(validate_singer.py is stricter: pgpull writes them in upper case).

Exit status: 0 all loaded; 1 database error, --stop-reading-after-lines, or
the default --exit-code-on-fail; 2 usage error or malformed input (not a JSON
object, unknown type, missing or ill-typed member, RECORD before its SCHEMA,
a SCHEMA the destination cannot follow); 3 a record that does not match its
schema.  Messages go to standard error, prefixed "target_pg.py: error: ".
"""

import argparse
import json
import os
import sys

import jsonschema
import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values

sys.dont_write_bytecode = True     # no __pycache__ beside the sources
# shared helpers, from this directory
from validate_singer import (MessageError, is_integer,  # noqa: E402
                             is_rfc3339_date_time, parse_message,
                             record_format_checker)

PROG = "target_pg.py"
MAX_IDENT = 63      # NAMEDATALEN - 1: longer names would be truncated
SDC_COLUMNS = (("_sdc_table_version", "bigint"), ("_sdc_extracted_at", "timestamptz"))
# pg_catalog.format_type() spelling of the types we create
FORMAT_TYPE = {"bigint": "bigint", "numeric": "numeric", "boolean": "boolean",
               "timestamptz": "timestamp with time zone", "date": "date",
               "text": "text", "jsonb": "jsonb"}


class TargetError(Exception):
    """Stops the target with an exit status and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def input_error(lineno, text):
    return TargetError(2, "line %d: %s" % (lineno, text))


def to_json(v):
    """Compact JSON text of a parsed value, numbers written as received."""
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + to_json(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if v is None or isinstance(v, (bool, int, str)):
        return json.dumps(v)
    return v.text       # validate_singer.Number: the number as received


def column_type(prop):
    """The destination column type of one JSON Schema property."""
    if not isinstance(prop, dict):
        return "jsonb"
    t = prop.get("type")
    if isinstance(t, str):
        types = {t}
    elif isinstance(t, list) and all(isinstance(x, str) for x in t):
        types = set(t)
    else:
        return "jsonb"
    types.discard("null")
    if any(k in prop for k in ("anyOf", "oneOf", "allOf")):
        return "jsonb"
    if types == {"integer"}:
        return "bigint"
    if types in ({"number"}, {"integer", "number"}):
        return "numeric"
    if types == {"boolean"}:
        return "boolean"
    if types == {"string"}:
        return {"date-time": "timestamptz", "date": "date"}.get(prop.get("format"), "text")
    return "jsonb"


class Stream:
    def __init__(self, name):
        self.name = name
        self.columns = []       # [(property, type)] of the current SCHEMA
        self.keys = []
        self.validator = None
        self.props = set()
        self.pending = []       # rows without keys, in order
        self.pending_keyed = {}  # key text -> row, last one wins


class Target:
    def __init__(self, args):
        self.args = args
        self.conn = psycopg2.connect(args.dsn, application_name="target_pg",
                                     client_encoding="UTF8")
        self.streams = {}
        self.pending_records = 0
        self.records = 0
        self.state = None
        self.state_unechoed = False
        self.echoed = 0
        self.fc = record_format_checker()

    # -- database -----------------------------------------------------------

    def table(self, stream):
        return sql.Identifier(self.args.schema, stream.name)

    def existing_columns(self, cur, stream):
        cur.execute("""
            SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
              FROM pg_catalog.pg_attribute a
              JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped""",
                    (self.args.schema, stream.name))
        return dict(cur.fetchall())

    def apply_schema(self, lineno, stream):
        """Create or widen the stream's table and its key index (uncommitted)."""
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.args.schema)))
            existing = self.existing_columns(cur, stream)
            if not existing:
                cols = [sql.SQL("{} {}").format(sql.Identifier(p), sql.SQL(t))
                        for p, t in list(stream.columns) + list(SDC_COLUMNS)]
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(
                    self.table(stream), sql.SQL(", ").join(cols)))
            else:
                for p, t in list(stream.columns) + list(SDC_COLUMNS):
                    have = existing.get(p)
                    if have is None:
                        cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                            self.table(stream), sql.Identifier(p), sql.SQL(t)))
                    elif have != FORMAT_TYPE[t]:
                        raise input_error(lineno, 'column "%s" of table "%s.%s" has type %s, the schema needs %s'
                                          % (p, self.args.schema, stream.name, have, FORMAT_TYPE[t]))
            if stream.keys:
                cur.execute("""
                    SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname)
                      FROM pg_catalog.pg_index i
                      JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                     WHERE n.nspname = %s AND c.relname = %s AND i.indisunique
                       AND i.indpred IS NULL AND i.indexprs IS NULL
                     GROUP BY i.indexrelid""", (self.args.schema, stream.name))
                if sorted(stream.keys) not in [r[0] for r in cur.fetchall()]:
                    cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(
                        self.table(stream),
                        sql.SQL(", ").join(sql.Identifier(k) for k in stream.keys)))

    def write_stream(self, cur, stream):
        """INSERT the stream's buffered rows (uncommitted) and empty its buffer."""
        if stream.keys:
            rows = list(stream.pending_keyed.values())
        else:
            rows = stream.pending
        stream.pending = []
        stream.pending_keyed = {}
        if not rows:
            return
        columns = list(stream.columns) + list(SDC_COLUMNS)
        names = [sql.Identifier(p) for p, _ in columns]
        template = sql.SQL("({})").format(sql.SQL(", ").join(
            sql.SQL("%s::" + t) for _, t in columns))
        query = sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
            self.table(stream), sql.SQL(", ").join(names))
        if stream.keys:
            query = query + sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in stream.keys),
                sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(n) for n in names))
        execute_values(cur, query.as_string(self.conn), rows,
                       template=template.as_string(self.conn), page_size=500)

    def write_pending(self):
        with self.conn.cursor() as cur:
            for stream in self.streams.values():
                self.write_stream(cur, stream)
        self.pending_records = 0

    def flush(self):
        """Write the buffer, COMMIT, then echo the latest state if not yet echoed."""
        self.write_pending()
        self.conn.commit()
        self.echo_state()

    def echo_state(self):
        if not self.state_unechoed:
            return
        self.state_unechoed = False
        if self.args.no_echo:
            return
        sys.stdout.buffer.write(to_json(self.state).encode("ascii") + b"\n")
        sys.stdout.buffer.flush()
        self.echoed += 1

    # -- messages -----------------------------------------------------------

    def stream_of(self, lineno, msg, mtype):
        name = msg.get("stream")
        if not isinstance(name, str) or name == "":
            raise input_error(lineno, "%s has no stream (a non-empty string)" % mtype)
        return name

    def known_stream(self, lineno, msg, mtype):
        name = self.stream_of(lineno, msg, mtype)
        stream = self.streams.get(name)
        if stream is None or stream.validator is None:
            raise input_error(lineno, "%s for stream %s before any SCHEMA for it"
                              % (mtype, json.dumps(name)))
        return stream

    def on_schema(self, lineno, msg):
        name = self.stream_of(lineno, msg, "SCHEMA")
        schema = msg.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            raise input_error(lineno, "SCHEMA has no schema object with properties")
        try:
            jsonschema.Draft4Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise input_error(lineno, "schema is not a valid Draft 4 JSON Schema: %s" % e.message)
        props = schema["properties"]
        keys = msg.get("key_properties")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise input_error(lineno, "SCHEMA has no key_properties (a list of strings)")
        for k in keys:
            if k not in props:
                raise input_error(lineno, "key property %s is not a property of the schema" % json.dumps(k))
        for ident in [name] + list(props):
            if ident == "" or len(ident.encode("utf-8")) > MAX_IDENT:
                raise input_error(lineno, "name %s is empty or longer than %d bytes, the destination's limit"
                                  % (json.dumps(ident), MAX_IDENT))
        for p in props:
            if p in dict(SDC_COLUMNS):
                raise input_error(lineno, "property %s collides with a system column" % json.dumps(p))
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = Stream(name)
        else:
            # rows buffered under the old schema go in first
            with self.conn.cursor() as cur:
                self.write_stream(cur, stream)
        stream.columns = [(p, column_type(s)) for p, s in props.items()]
        stream.keys = list(keys)
        stream.props = set(props)
        stream.validator = jsonschema.Draft4Validator(schema, format_checker=self.fc)
        self.apply_schema(lineno, stream)

    def on_record(self, lineno, msg):
        stream = self.known_stream(lineno, msg, "RECORD")
        record = msg.get("record")
        if not isinstance(record, dict):
            raise input_error(lineno, "RECORD has no record (a JSON object)")
        version = msg.get("version")
        if version is not None and not is_integer(version):
            raise input_error(lineno, "version is not an integer")
        extracted = msg.get("time_extracted")
        if extracted is not None and not is_rfc3339_date_time(extracted):
            raise input_error(lineno, "time_extracted is not an RFC 3339 date-time")
        problems = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(record)", e.message)
                    for e in stream.validator.iter_errors(record)]
        undeclared = sorted(set(record) - stream.props)
        if undeclared:
            problems.append("properties not in the schema: " + ", ".join(undeclared))
        for k in stream.keys:
            if record.get(k) is None:
                problems.append("key property %s is missing or null" % json.dumps(k))
        if problems:
            raise TargetError(3, "line %d: record of stream %s does not match its schema: %s"
                              % (lineno, json.dumps(stream.name), "; ".join(problems)))

        self.records += 1
        if self.args.fail_after_records is not None and self.records >= self.args.fail_after_records:
            raise TargetError(self.args.exit_code_on_fail,
                              "line %d: failing on record %d as asked (--fail-after-records), %d buffered record(s) not committed"
                              % (lineno, self.records, self.pending_records + 1))
        row = []
        for p, t in stream.columns:
            v = record.get(p)
            row.append(to_json(v) if t == "jsonb" and v is not None else v)
        row += [version, extracted]
        if stream.keys:
            # equal keys (1, 1.0) must meet in the buffer, as they would in the index
            key = tuple(record[k] for k in stream.keys)
            try:
                hash(key)
            except TypeError:
                key = to_json(list(key))
            stream.pending_keyed[key] = row
        else:
            stream.pending.append(row)
        self.pending_records += 1
        if self.pending_records >= self.args.batch_size:
            self.flush()

    def on_state(self, lineno, msg):
        if "value" not in msg:
            raise input_error(lineno, "STATE has no value")
        self.state = msg["value"]
        self.state_unechoed = True

    def on_activate_version(self, lineno, msg):
        stream = self.known_stream(lineno, msg, "ACTIVATE_VERSION")
        version = msg.get("version")
        if not is_integer(version):
            raise input_error(lineno, "ACTIVATE_VERSION has no integer version")
        self.write_pending()
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE _sdc_table_version IS DISTINCT FROM %s").format(
                self.table(stream)), (version,))
        self.flush()

    def run(self, infile):
        handlers = {"SCHEMA": self.on_schema, "RECORD": self.on_record,
                    "STATE": self.on_state, "ACTIVATE_VERSION": self.on_activate_version}
        lineno = 0
        for raw in infile:
            lineno += 1
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            try:
                msg = parse_message(raw.decode("utf-8"))
            except (UnicodeDecodeError, MessageError) as e:
                raise input_error(lineno, str(e))
            mtype = msg.get("type")
            if not isinstance(mtype, str) or mtype.upper() not in handlers:
                raise input_error(lineno, "unrecognized message type: %s" % json.dumps(mtype, default=str))
            handlers[mtype.upper()](lineno, msg)
            if self.args.stop_reading_after_lines is not None and \
                    lineno >= self.args.stop_reading_after_lines:
                infile.close()
                os.close(0)
                raise TargetError(1, "stopped reading input after %d lines as asked (--stop-reading-after-lines)"
                                  % lineno)
        self.flush()
        print("%s: %d record(s) in %d stream(s), %d state(s) echoed" % (
            PROG, self.records, len(self.streams), self.echoed), file=sys.stderr)


def positive(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description="Load Singer messages into PostgreSQL (test target).")
    p.add_argument("--dsn", required=True, help="libpq connection string of the destination database")
    p.add_argument("--schema", required=True, help="destination schema (created when missing)")
    p.add_argument("--batch-size", type=positive, default=100, help="records per commit (default 100)")
    p.add_argument("--fail-after-records", type=positive, metavar="N",
                   help="exit with --exit-code-on-fail when the N-th record arrives")
    p.add_argument("--exit-code-on-fail", type=int, default=1, metavar="N", help="default 1")
    p.add_argument("--stop-reading-after-lines", type=positive, metavar="N",
                   help="close standard input and exit 1 after N lines")
    p.add_argument("--no-echo", action="store_true", help="do not echo committed states")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.schema == "" or len(args.schema.encode("utf-8")) > MAX_IDENT:
        print("%s: error: --schema must be 1 to %d bytes long" % (PROG, MAX_IDENT), file=sys.stderr)
        return 2
    target = None
    try:
        target = Target(args)
        target.run(sys.stdin.buffer)
        status = 0
    except TargetError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        status = e.status
    except psycopg2.Error as e:
        print("%s: error: %s" % (PROG, str(e).strip()), file=sys.stderr)
        status = 1
    except UnicodeEncodeError:
        print("%s: error: input holds a string that is not valid Unicode" % PROG, file=sys.stderr)
        status = 2
    except BrokenPipeError:
        print("%s: error: standard output closed" % PROG, file=sys.stderr)
        status = 1
    finally:
        if target is not None and not target.conn.closed:
            target.conn.close()      # rolls back whatever was not committed
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
