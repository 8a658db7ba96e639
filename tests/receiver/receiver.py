#!/usr/bin/python3
"""tests/receiver/receiver.py: the reference Import API receiver of pgpull's tests.

An HTTP(S) server that implements the Stitch Import API v2 batch contract as
the Stitch Import API reference documents it (bearer tokens, size and record
limits, JSON Schema typing, key rules, sequences, status codes and error
bodies) and loads every accepted batch into a real PostgreSQL database: one
schema per integration (named like pgpull.destination_schema_name does), one
table per table_name, upsert on key_names where the highest sequence wins,
append otherwise.  A test then compares source and destination in SQL.

Faults are injected on request through an unauthenticated control API
(/__control/...), served on the same listener and, with --control-listen, on
a second plain-HTTP loopback listener.  Everything binds to loopback only.

Runs with Debian's /usr/bin/python3 and only the standard library plus
python3-psycopg2 and python3-jsonschema.
"""

import argparse
import datetime
import decimal
import http.server
import io
import ipaddress
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import urllib.parse

import psycopg2
import psycopg2.sql as sql
from jsonschema import Draft4Validator, FormatChecker, RefResolver
from jsonschema.exceptions import RefResolutionError, SchemaError, best_match

SEQUENCE_MAX = 9223372036854775807
KEY_MAX_CHARS = 255                   # string key values must be < 256 chars
NAME_MAX_BYTES = 63                   # PostgreSQL identifiers (NAMEDATALEN - 1)
DRAIN_MAX = 1 << 30                   # read and discard at most 1 GiB of a refused body
SDC_COLUMNS = (                       # system columns the receiver adds to every table
    ("_sdc_sequence", "bigint"),
    ("_sdc_received_at", "timestamp with time zone"),
    ("_sdc_batched_at", "timestamp with time zone"),
    ("_sdc_table_version", "bigint"),
)
SDC_NAMES = frozenset(name for name, _ in SDC_COLUMNS)
TOP_REQUIRED = ("table_name", "schema", "messages")
TOP_ALLOWED = TOP_REQUIRED + ("key_names",)
MESSAGE_KEYS = ("action", "sequence", "data")
JSON_TYPES = frozenset(("null", "boolean", "integer", "number", "string", "object", "array"))
VALIDATION = "Request failed validation:"
STATUS_BODY = {"name": "pipeline.gate", "version": "0.3.3-SNAPSHOT",
               "revision": "pgpull-test-receiver", "status": "OK", "reason": None}

# JSON Schema type (with format) -> (PostgreSQL type as format_type() prints
# it, suffix of the split column used when an existing column has another type)
TYPE_INTEGER = ("bigint", "bi")
TYPE_NUMBER = ("numeric", "de")
TYPE_BOOLEAN = ("boolean", "bo")
TYPE_TIMESTAMP = ("timestamp with time zone", "ti")
TYPE_DATE = ("date", "da")
TYPE_TEXT = ("text", "st")
TYPE_JSON = ("jsonb", "js")

FAULT_KINDS = ("status", "retry_after", "drop", "slow", "accept_then_drop")

DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}(:?\d{2})?)$", re.ASCII)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_date_time(value):
    """RFC 3339 date-time with a UTC offset (the offset may omit its colon)."""
    return not isinstance(value, str) or DATE_TIME_RE.match(value) is not None


@FORMATS.checks("date")
def _is_date(value):
    """RFC 3339 full-date."""
    return not isinstance(value, str) or DATE_RE.match(value) is not None


class LocalOnlyResolver(RefResolver):
    """Resolves $ref inside the document only: nothing is fetched from anywhere."""

    def resolve_remote(self, uri):
        raise RefResolutionError("remote references are not supported: %s" % uri)


class BadRequest(Exception):
    """A 400 reply: the text goes into {"error": ...}."""


class LoadError(Exception):
    """The database refused the batch for its data (a 400 reply)."""


def log(msg):
    """One line on stderr with a timestamp."""
    now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    sys.stderr.write("%s receiver: %s\n" % (now, msg))
    sys.stderr.flush()


def destination_schema_name(integration):
    """The same rule as pgpull.destination_schema_name(text)."""
    name = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in integration)
    name = re.sub(r"[^a-z0-9_]+", "_", name)
    name = name.strip("_")
    if re.match(r"[0-9]", name):
        name = "_" + name
    name = name[:63].rstrip("_")           # only ASCII is left: chars are bytes
    if name == "":
        raise ValueError('integration name "%s" gives an empty destination schema name'
                         % integration)
    return name


def found_type(value):
    """The type name of a value, in the Import API's error style (a Java validator)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, decimal.Decimal):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    return "JSONObject"


def json_type(value):
    """The JSON Schema type name of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, decimal.Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_text(value):
    """Serialise a parsed JSON value, numbers exactly as they came."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return "{" + ",".join(json.dumps(k) + ":" + json_text(v) for k, v in value.items()) + "}"


def parse_json(data):
    """Parse bytes as strict JSON (no NaN/Infinity), numbers kept exact."""
    def reject_constant(name):
        raise ValueError("invalid JSON literal %s" % name)
    text = data.decode("utf-8")
    return json.loads(text, parse_float=decimal.Decimal, parse_int=int,
                      parse_constant=reject_constant)


def column_type(prop):
    """(PostgreSQL type, split suffix) of one property schema."""
    if not isinstance(prop, dict):
        return TYPE_JSON
    declared = prop.get("type")
    if isinstance(declared, str):
        types = [declared]
    elif isinstance(declared, list):
        types = list(dict.fromkeys(declared))
    else:
        return TYPE_JSON
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        return TYPE_JSON
    kind = types[0]
    if kind == "integer":
        return TYPE_INTEGER
    if kind == "number":
        return TYPE_NUMBER
    if kind == "boolean":
        return TYPE_BOOLEAN
    if kind == "string":
        fmt = prop.get("format")
        if fmt == "date-time":
            return TYPE_TIMESTAMP
        if fmt == "date":
            return TYPE_DATE
        return TYPE_TEXT
    return TYPE_JSON


def cell_text(value, pgtype):
    """The text PostgreSQL casts to pgtype, or None for SQL NULL."""
    if value is None:
        return None
    if pgtype == "jsonb":
        return json_text(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, decimal.Decimal, str)):
        return str(value)
    return json_text(value)


def csv_field(text):
    if text is None:
        return ""
    return '"' + text.replace('"', '""') + '"'


def bad_name(name):
    """Why a property name cannot be a column, or None."""
    encoded = name.encode("utf-8", "surrogatepass")
    if not name or len(encoded) > NAME_MAX_BYTES or "\x00" in name:
        return 'property name "%s" is not a valid column name (1 to %d bytes, no NUL)' \
            % (name, NAME_MAX_BYTES)
    if name in SDC_NAMES:
        return 'property name "%s" is reserved for the destination' % name
    return None


def find_unknown_type(node):
    """The first "type" naming no JSON Schema type, searched through a schema."""
    if isinstance(node, dict):
        declared = node.get("type")
        if isinstance(declared, str) and declared not in JSON_TYPES:
            return declared
        if isinstance(declared, list):
            for item in declared:
                if isinstance(item, str) and item not in JSON_TYPES:
                    return item
        for value in node.values():
            found = find_unknown_type(value)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = find_unknown_type(value)
            if found is not None:
                return found
    return None


def error_path(error):
    return "#" + "".join("/" + str(p) for p in error.absolute_path)


def record_error(index, error):
    path = error_path(error)
    if error.validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = "[" + ", ".join(str(t) for t in expected) + "]"
        why = "expected: %s, found: %s" % (expected, json_type(error.instance))
    else:
        why = re.sub(r"Decimal\('([^']*)'\)", r"\1", error.message)
    return "Record %d did not conform to schema: %s: %s" % (index, path, why)


class Batch:
    """A validated batch request."""

    def __init__(self, table_name, schema, key_names, records):
        self.table_name = table_name
        self.schema = schema
        self.key_names = key_names
        self.records = records            # [(sequence, data)]


def check_message(i, msg):
    """Shape of messages[i] and its sequence."""
    where = "%s#/messages/%d" % (VALIDATION, i)
    if not isinstance(msg, dict):
        raise BadRequest("%s: expected type: JSONObject, found: %s" % (where, found_type(msg)))
    one_of = "%s: #: 0 subschemas matched instead of one: " % where
    for key in MESSAGE_KEYS:
        if key not in msg:
            raise BadRequest(one_of + "required key [%s] not found" % key)
    for key in msg:
        if key not in MESSAGE_KEYS:
            raise BadRequest(one_of + "extraneous key [%s] is not permitted" % key)
    if msg["action"] != "upsert":
        raise BadRequest(one_of + "#/messages/%d/action: %s is not a valid enum value"
                         % (i, json_text(msg["action"])))
    seq = msg["sequence"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise BadRequest("%s/sequence: expected type: Integer, found: %s"
                         % (where, found_type(seq)))
    if seq > SEQUENCE_MAX:
        raise BadRequest("sequence can not be above %d" % SEQUENCE_MAX)
    if seq < 0:
        raise BadRequest("sequence can not be below 0")
    if not isinstance(msg["data"], dict):
        raise BadRequest("%s/data: expected type: JSONObject, found: %s"
                         % (where, found_type(msg["data"])))


def note_batch(doc, entry):
    """Copy what a request log entry shows of a parsed body, whatever its validity."""
    if not isinstance(doc, dict):
        return
    if isinstance(doc.get("table_name"), str):
        entry["table_name"] = doc["table_name"]
    if isinstance(doc.get("messages"), list):
        entry["records"] = len(doc["messages"])
        seqs = [m.get("sequence") for m in doc["messages"] if isinstance(m, dict)]
        seqs = [s for s in seqs if isinstance(s, int) and not isinstance(s, bool)]
        if seqs:
            entry["first_sequence"], entry["last_sequence"] = seqs[0], seqs[-1]
    if isinstance(doc.get("key_names"), list):
        entry["key_names"] = doc["key_names"]


def validate_batch(doc, max_records, entry):
    """Check a parsed body in the documented order; return a Batch or raise BadRequest.

    entry (the request log record) is filled in first.
    """
    note_batch(doc, entry)
    if not isinstance(doc, dict):
        raise BadRequest("%s#: expected type: JSONObject, found: %s"
                         % (VALIDATION, found_type(doc)))
    for key in TOP_REQUIRED:
        if key not in doc:
            raise BadRequest("%s#: required key [%s] not found" % (VALIDATION, key))
    for key in doc:
        if key not in TOP_ALLOWED:
            raise BadRequest("%s#: extraneous key [%s] is not permitted" % (VALIDATION, key))
    for key, want, pytype in (("table_name", "String", str), ("schema", "JSONObject", dict),
                              ("messages", "JSONArray", list)):
        if not isinstance(doc[key], pytype):
            raise BadRequest("%s#/%s: expected type: %s, found: %s"
                             % (VALIDATION, key, want, found_type(doc[key])))
    key_names = doc.get("key_names", [])
    if not isinstance(key_names, list):
        raise BadRequest("%s#/key_names: expected type: JSONArray, found: %s"
                         % (VALIDATION, found_type(key_names)))
    for i, name in enumerate(key_names):
        if not isinstance(name, str):
            raise BadRequest("%s#/key_names/%d: expected type: String, found: %s"
                             % (VALIDATION, i, found_type(name)))
    table_name = doc["table_name"]
    size = len(table_name.encode("utf-8", "surrogatepass"))
    if size == 0:
        raise BadRequest("%s#/table_name: expected minLength: 1, actual: 0" % VALIDATION)
    if size > NAME_MAX_BYTES or "\x00" in table_name:
        raise BadRequest("%s#/table_name: expected maxLength: %d, actual: %d"
                         % (VALIDATION, NAME_MAX_BYTES, size))
    messages = doc["messages"]
    if len(messages) == 0:
        raise BadRequest("%s#/messages: expected minimum item count: 1, found: 0" % VALIDATION)
    if len(messages) > max_records:
        raise BadRequest("%s#/messages: expected maximum item count: %d, found: %d"
                         % (VALIDATION, max_records, len(messages)))

    schema = doc["schema"]
    try:
        Draft4Validator.check_schema(schema)
    except SchemaError as e:
        unknown = find_unknown_type(schema)
        if unknown is not None:
            raise BadRequest("Invalid JSON schema: unknown type: [%s]" % unknown)
        raise BadRequest("Invalid JSON schema: %s: %s" % (error_path(e), e.message))
    properties = schema.get("properties", {})
    for name in properties:
        why = bad_name(name)
        if why:
            raise BadRequest("Invalid JSON schema: " + why)
    for name in key_names:
        if name not in properties:
            raise BadRequest("Key property %s is not a top-level property of the schema" % name)

    for i, msg in enumerate(messages):
        check_message(i, msg)

    validator = Draft4Validator(schema, format_checker=FORMATS,
                                resolver=LocalOnlyResolver.from_schema(schema))
    records = []
    with decimal.localcontext() as ctx:
        ctx.prec = 200000                 # multipleOf on numerics of any PostgreSQL size
        for i, msg in enumerate(messages):
            data = msg["data"]
            try:
                error = best_match(validator.iter_errors(data))
            except RefResolutionError as e:
                raise BadRequest("Invalid JSON schema: %s" % e)
            except decimal.DecimalException as e:
                raise BadRequest("Record %d did not conform to schema: %s" % (i, e))
            if error is not None:
                raise BadRequest(record_error(i, error))
            for name in data:
                if name not in properties:
                    why = bad_name(name)
                    if why:
                        raise BadRequest("Record %d did not conform to schema: #/%s: %s"
                                         % (i, name, why))
            for name in key_names:
                value = data.get(name)
                if value is None:
                    raise BadRequest("Record is missing key property %s" % name)
                if isinstance(value, str) and len(value) > KEY_MAX_CHARS:
                    raise BadRequest("Record %d key property %s: string keys cannot be longer"
                                     " than %d characters (found %d)"
                                     % (i, name, KEY_MAX_CHARS, len(value)))
            records.append((msg["sequence"], data))
    return Batch(table_name, schema, list(dict.fromkeys(key_names)), records)


# --------------------------------------------------------------------------
# Loading into PostgreSQL


def split_name(name, suffix):
    """name__suffix, the name cut (on a character boundary) to fit 63 bytes."""
    tail = "__" + suffix
    while len((name + tail).encode("utf-8")) > NAME_MAX_BYTES:
        name = name[:-1]
    return name + tail


def load_batch(conn, dest_schema, batch, received_at):
    """Load a validated batch in one transaction; returns the rows written.

    Raises LoadError when PostgreSQL refuses the data (classes 22 and 23),
    psycopg2.Error for anything else.
    """
    ident = sql.Identifier
    table = sql.SQL("{}.{}").format(ident(dest_schema), ident(batch.table_name))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [dest_schema])
            if cur.fetchone() is None:
                cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(%s))",
                            ["pgpull receiver schema " + dest_schema])
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(dest_schema)))
            cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(%s))",
                        ["pgpull receiver table %s.%s" % (dest_schema, batch.table_name)])
            existing = table_columns(cur, dest_schema, batch.table_name)
            created = existing is None
            if created:
                existing = {}

            # property -> (column, type); undeclared properties become jsonb
            plan = []
            properties = batch.schema.get("properties", {})
            wanted = [(name, column_type(prop)) for name, prop in properties.items()]
            extra = {}
            for _, data in batch.records:
                for name in data:
                    if name not in properties:
                        extra[name] = True
            wanted += [(name, TYPE_JSON) for name in extra]
            add = []
            used = {}
            for name, (pgtype, suffix) in wanted:
                column = name
                have = existing.get(name)
                if have is not None and have != pgtype:
                    column = split_name(name, suffix)
                    have = existing.get(column)
                    if have is not None and have != pgtype:
                        raise LoadError('column "%s" has type %s, property %s needs %s'
                                        % (column, have, name, pgtype))
                if column in used or column in SDC_NAMES:
                    raise LoadError('properties %s and %s both load into column "%s"'
                                    % (used.get(column, column), name, column))
                used[column] = name
                if have is None:
                    add.append((column, pgtype))
                    existing[column] = pgtype
                plan.append((name, column, pgtype))
            for column, pgtype in SDC_COLUMNS:
                if column not in existing:
                    add.append((column, pgtype))
                    existing[column] = pgtype

            if created:
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(
                    sql.SQL("{} {}").format(ident(c), sql.SQL(t)) for c, t in add)))
            elif add:
                cur.execute(sql.SQL("ALTER TABLE {} {}").format(table, sql.SQL(", ").join(
                    sql.SQL("ADD COLUMN {} {}").format(ident(c), sql.SQL(t)) for c, t in add)))

            key_columns = [column for name, column, _ in plan if name in batch.key_names]
            if key_columns and not has_unique_index(cur, dest_schema, batch.table_name,
                                                    key_columns):
                cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(
                    table, sql.SQL(", ").join(ident(c) for c in key_columns)))

            # the batch goes through a typed temporary table (COPY casts the text)
            temp = ident("pgpull_receiver_batch")
            temp_cols = [sql.SQL("ord integer"), sql.SQL("seq bigint")]
            temp_cols += [sql.SQL("{} {}").format(ident("c%d" % i), sql.SQL(t))
                          for i, (_, _, t) in enumerate(plan)]
            cur.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
                temp, sql.SQL(", ").join(temp_cols)))
            lines = []
            for ordinal, (seq, data) in enumerate(batch.records):
                fields = [str(ordinal), str(seq)]
                fields += [csv_field(cell_text(data.get(name), t)) for name, _, t in plan]
                lines.append(",".join(fields))
            try:
                payload = ("\n".join(lines) + "\n").encode("utf-8")
            except UnicodeEncodeError as e:
                raise LoadError("invalid Unicode in the batch: %s" % e.reason)
            cur.copy_expert(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(temp),
                            io.BytesIO(payload))

            target_cols = [ident(column) for _, column, _ in plan]
            target_cols += [ident(c) for c, _ in SDC_COLUMNS]
            source_cols = [ident("c%d" % i) for i in range(len(plan))]
            # no query parameters: "%" in an identifier would be taken for one
            source_cols += [sql.SQL("seq"),
                            sql.SQL("{}::timestamptz").format(sql.Literal(received_at.isoformat())),
                            sql.SQL("pg_catalog.now()"), sql.SQL("NULL::bigint")]
            if key_columns:
                key_src = [ident("c%d" % i) for i, (name, _, _) in enumerate(plan)
                           if name in batch.key_names]
                update = [c for c in existing if c not in key_columns]
                query = sql.SQL(
                    "INSERT INTO {table} AS t ({cols}) "
                    "SELECT DISTINCT ON ({keys}) {src} FROM {temp} "
                    "ORDER BY {keys}, seq DESC, ord "
                    "ON CONFLICT ({keycols}) DO UPDATE SET {sets} "
                    "WHERE t._sdc_sequence IS NULL OR t._sdc_sequence < EXCLUDED._sdc_sequence"
                ).format(table=table, cols=sql.SQL(", ").join(target_cols),
                         keys=sql.SQL(", ").join(key_src), src=sql.SQL(", ").join(source_cols),
                         temp=temp, keycols=sql.SQL(", ").join(ident(c) for c in key_columns),
                         sets=sql.SQL(", ").join(
                             sql.SQL("{c} = EXCLUDED.{c}").format(c=ident(c)) for c in update))
            else:
                query = sql.SQL("INSERT INTO {table} ({cols}) SELECT {src} FROM {temp} "
                                "ORDER BY ord").format(
                    table=table, cols=sql.SQL(", ").join(target_cols),
                    src=sql.SQL(", ").join(source_cols), temp=temp)
            cur.execute(query)
            written = cur.rowcount
        conn.commit()
        return written
    except psycopg2.Error as e:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass
        code = e.pgcode or ""
        if code[:2] in ("22", "23"):
            raise LoadError(e.diag.message_primary or str(e).strip())
        raise
    except BaseException:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass
        raise


def table_columns(cur, schema, table):
    """{column: type} of an existing table, or None when there is none."""
    cur.execute(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_catalog.pg_attribute a"
        "  ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')"
        " ORDER BY a.attnum", [schema, table])
    rows = cur.fetchall()
    if not rows:
        return None
    return {name: pgtype for name, pgtype in rows if name is not None}


def has_unique_index(cur, schema, table, columns):
    cur.execute(
        "SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname::text)"
        " FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.indrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
        " WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indisvalid"
        "  AND i.indpred IS NULL AND i.indexprs IS NULL"
        " GROUP BY i.indexrelid", [schema, table])
    want = sorted(columns)
    return any(sorted(row[0]) == want for row in cur.fetchall())


# --------------------------------------------------------------------------
# Shared state: tokens, faults, request log


class State:
    def __init__(self, args, tokens):
        self.args = args
        self.tokens = tokens              # token -> (integration, destination schema)
        self.lock = threading.Lock()
        self.faults = []                  # [[fault dict, remaining count]]
        self.requests = []
        self.busy = 0                     # batches being processed
        self.idle = threading.Condition(self.lock)

    def set_faults(self, faults):
        with self.lock:
            self.faults = [[f, f.get("count", 1)] for f in faults]

    def list_faults(self):
        with self.lock:
            return [dict(f, remaining=n) for f, n in self.faults]

    def next_fault(self):
        with self.lock:
            if not self.faults:
                return None
            item = self.faults[0]
            item[1] -= 1
            if item[1] <= 0:
                self.faults.pop(0)
            return item[0]

    def log_request(self, entry):
        with self.lock:
            if not entry.get("_logged"):
                entry["_logged"] = True
                self.requests.append(entry)

    def list_requests(self):
        with self.lock:
            return [{k: v for k, v in e.items() if k != "_logged"} for e in self.requests]

    def clear_requests(self):
        with self.lock:
            self.requests = []

    def enter(self):
        with self.lock:
            self.busy += 1

    def leave(self):
        with self.lock:
            self.busy -= 1
            self.idle.notify_all()

    def wait_idle(self, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.busy > 0 and time.monotonic() < deadline:
                self.idle.wait(0.1)


def check_faults(faults):
    """Validate a control list of faults; returns an error text or None."""
    if not isinstance(faults, list):
        return "expected a JSON list of faults"
    allowed = {"status": {"kind", "code", "body", "seconds", "count"},
               "retry_after": {"kind", "code", "body", "seconds", "count"},
               "drop": {"kind", "count"},
               "slow": {"kind", "seconds", "count"},
               "accept_then_drop": {"kind", "count"}}
    for i, f in enumerate(faults):
        if not isinstance(f, dict) or f.get("kind") not in FAULT_KINDS:
            return "fault %d: expected an object with kind one of %s" % (i, ", ".join(FAULT_KINDS))
        extra = set(f) - allowed[f["kind"]]
        if extra:
            return "fault %d: unknown field %s" % (i, sorted(extra)[0])
        if "count" in f and (not isinstance(f["count"], int) or isinstance(f["count"], bool)
                             or f["count"] < 1):
            return "fault %d: count must be an integer >= 1" % i
        if f["kind"] == "status" and "code" not in f:
            return "fault %d: a status fault needs a code" % i
        if "code" in f and (not isinstance(f["code"], int) or not 200 <= f["code"] <= 599):
            return "fault %d: code must be an integer from 200 to 599" % i
        if "body" in f and not isinstance(f["body"], str):
            return "fault %d: body must be a string" % i
        if f["kind"] == "slow" and "seconds" not in f:
            return "fault %d: a slow fault needs seconds" % i
        if "seconds" in f:
            s = f["seconds"]
            if f["kind"] == "slow":
                if not isinstance(s, (int, decimal.Decimal)) or isinstance(s, bool) or s < 0:
                    return "fault %d: seconds must be a number >= 0" % i
            elif not isinstance(s, int) or isinstance(s, bool) or s < 0:
                return "fault %d: seconds (Retry-After) must be an integer >= 0" % i
    return None


def plain_fault(f):
    """A fault as JSON-able data (Decimal seconds as float)."""
    return {k: (float(v) if isinstance(v, decimal.Decimal) else v) for k, v in f.items()}


# --------------------------------------------------------------------------
# HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pgpull-test-receiver"
    timeout = 120                         # idle keep-alive connections

    def setup(self):
        self.db = None
        if self.server.ssl_context is not None:
            self.request.settimeout(self.timeout)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            if self.db is not None:
                try:
                    self.db.close()
                except psycopg2.Error:
                    pass
            if self.server.ssl_context is not None:
                try:
                    self.request.close()
                except OSError:
                    pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        log("%s %s" % (self.client_address[1], fmt % args))

    def handle_expect_100(self):
        # 100 Continue is sent only when the body is wanted (see read_body)
        self.expect_continue = True
        return True

    def handle_one_request(self):
        self.expect_continue = False
        self.body_done = False
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.dispatch()
            self.wfile.flush()
        except (TimeoutError, socket.timeout, ConnectionError, ssl.SSLError):
            self.close_connection = True

    # -- bodies

    def send_continue(self):
        if self.expect_continue:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            self.expect_continue = False

    def content_length(self):
        """Content-Length as an int, None when absent; -1 when invalid."""
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        value = value.strip()
        return int(value) if value.isdigit() else -1

    def chunked(self):
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def read_body(self, limit):
        """Read the body; returns (bytes or None when over limit, size seen)."""
        self.send_continue()
        self.body_done = True
        if self.chunked():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1026)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise ConnectionError("bad chunk header")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                while size > 0:
                    piece = self.rfile.read(min(size, 1 << 20))
                    if not piece:
                        raise ConnectionError("body cut short")
                    size -= len(piece)
                    total += len(piece)
                    if total <= limit:
                        parts.append(piece)
                    elif parts:
                        parts = []
                    if total > DRAIN_MAX:
                        self.close_connection = True
                        return None, total
                self.rfile.readline(3)
            return (b"".join(parts) if total <= limit else None), total
        length = self.content_length() or 0
        if length > limit:
            self.drain(length)
            return None, length
        data = self.rfile.read(length)
        if len(data) < length:
            raise ConnectionError("body cut short")
        return data, length

    def drain(self, length):
        if length > DRAIN_MAX:
            self.close_connection = True
            return
        while length > 0:
            piece = self.rfile.read(min(length, 1 << 20))
            if not piece:
                raise ConnectionError("body cut short")
            length -= len(piece)

    def skip_body(self):
        """Before a reply that ignores the body: read it away, or close the connection."""
        if self.body_done:
            return
        self.body_done = True
        length = self.content_length()
        if self.expect_continue or self.chunked() or length == -1 or \
                (length or 0) > DRAIN_MAX:
            self.close_connection = True     # the body was not sent, or is not worth reading
            return
        if length:
            self.drain(length)

    # -- replies

    def reply(self, code, body, content_type="application/json", headers=()):
        self.skip_body()
        if isinstance(body, (dict, list)):
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        else:
            data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def drop(self):
        """Close the connection without a reply."""
        self.close_connection = True
        log("%s %s %s -> dropped without a reply" % (self.client_address[1], self.command,
                                                     self.path))
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def error(self, code, message, headers=()):
        self.reply(code, {"status": "ERROR", "message": message}, headers=headers)

    # -- routing

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        method = self.command
        if path.startswith("/__control/"):
            return self.control(method, path)
        if self.server.control_only:
            return self.error(404, "Not Found")
        if method not in ("GET", "POST"):
            return self.error(405, "Method Not Allowed", headers=[("Allow", "GET, POST")])
        if path == "/v2/import/batch":
            if method != "POST":
                return self.error(405, "Method Not Allowed", headers=[("Allow", "POST")])
            return self.batch()
        if path == "/v2/import/status":
            if method != "GET":
                return self.error(405, "Method Not Allowed", headers=[("Allow", "GET")])
            return self.reply(200, STATUS_BODY)
        return self.error(404, "Not Found")

    # -- control API

    def control(self, method, path):
        state = self.server.state
        if path == "/__control/faults":
            if method == "GET":
                return self.reply(200, [plain_fault(f) for f in state.list_faults()])
            if method == "DELETE":
                state.set_faults([])
                return self.reply(200, {"status": "OK", "faults": 0})
            if method == "POST":
                data, _ = self.read_body(1 << 20)
                try:
                    faults = parse_json(data or b"")
                except (ValueError, RecursionError) as e:
                    return self.error(400, "malformed JSON: %s" % e)
                why = check_faults(faults)
                if why:
                    return self.error(400, why)
                state.set_faults(faults)
                log("faults set: %s" % json_text(faults))
                return self.reply(200, {"status": "OK", "faults": len(faults)})
            return self.error(405, "Method Not Allowed", headers=[("Allow", "GET, POST, DELETE")])
        if path == "/__control/requests":
            if method == "GET":
                return self.reply(200, state.list_requests())
            if method == "DELETE":
                state.clear_requests()
                return self.reply(200, {"status": "OK"})
            return self.error(405, "Method Not Allowed", headers=[("Allow", "GET, DELETE")])
        return self.error(404, "Not Found")

    # -- the batch endpoint

    def batch(self):
        state = self.server.state
        received_at = datetime.datetime.now(datetime.timezone.utc)
        fault = state.next_fault()
        token = None
        auth = self.headers.get("Authorization", "")
        m = re.match(r"^\s*Bearer\s+(\S+)\s*$", auth, re.IGNORECASE)
        if m and m.group(1) in state.tokens:
            token = m.group(1)
        length = self.content_length()
        entry = {"status": None, "bytes": length if length is not None and length >= 0 else None,
                 "records": None, "table_name": None, "token_ok": token is not None,
                 "first_sequence": None, "last_sequence": None, "key_names": None,
                 "fault": plain_fault(fault) if fault else None, "replied": True,
                 "committed": False, "error": None}
        state.enter()
        try:
            if fault and fault["kind"] == "slow":
                time.sleep(float(fault["seconds"]))
            if fault and fault["kind"] in ("status", "retry_after", "drop"):
                return self.faulty_batch(fault, entry)
            try:
                code, body, headers = self.process_batch(token, entry, received_at)
            except (TimeoutError, socket.timeout, ConnectionError, ssl.SSLError):
                raise
            except Exception as e:          # a receiver bug: say so, loudly
                log("error in the receiver:\n" + traceback.format_exc())
                self.close_connection = True
                code, body, headers = 500, {"status": "ERROR",
                                            "message": "receiver error: %r" % e}, []
            entry["status"] = code
            if isinstance(body, dict):
                entry["error"] = body.get("error") or (body.get("message") if code >= 300
                                                       else None)
            elif code >= 300:
                entry["error"] = body
            if entry["error"]:
                log("%s batch refused: %d %s" % (self.client_address[1], code, entry["error"]))
            if fault and fault["kind"] == "accept_then_drop":
                entry["replied"] = False
                state.log_request(entry)
                return self.drop()
            state.log_request(entry)
            ctype = "application/json" if isinstance(body, dict) else "text/plain; charset=utf-8"
            return self.reply(code, body, content_type=ctype, headers=headers)
        except BaseException as e:
            # the connection went away under us: the log still shows the request
            entry["replied"] = False
            entry["error"] = entry["error"] or "connection lost: %s" % (e,)
            state.log_request(entry)
            raise
        finally:
            state.leave()

    def faulty_batch(self, fault, entry):
        """A fault that replaces the batch's processing: status, retry_after, drop."""
        state = self.server.state
        data = None
        if self.content_length() is not None or self.chunked():
            data, size = self.read_body(self.server.state.args.max_bytes)
            entry["bytes"] = size
        if data is not None:
            try:
                note_batch(parse_json(data), entry)
            except (ValueError, RecursionError):
                pass
        if fault["kind"] == "drop":
            entry["replied"] = False
            state.log_request(entry)
            return self.drop()
        code = fault.get("code", 429)
        headers = []
        if fault["kind"] == "retry_after" or "seconds" in fault:
            headers.append(("Retry-After", str(fault.get("seconds", 1))))
        body = fault.get("body")
        ctype = "application/json"
        if body is None:
            phrase = self.responses.get(code, ("Error",))[0]
            body = json.dumps({"status": "ERROR", "message": "%s (injected fault)" % phrase},
                              separators=(",", ":"))
        else:
            try:
                json.loads(body)
            except ValueError:
                ctype = "text/plain; charset=utf-8"
        entry["status"] = code
        state.log_request(entry)
        return self.reply(code, body, content_type=ctype, headers=headers)

    def process_batch(self, token, entry, received_at):
        """Validate and load one batch; returns (code, body, extra headers)."""
        args = self.server.state.args
        if token is None:
            return 401, {"message": "Not Authorized"}, []
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return 415, "Content-Type must be application/json", []
        length = self.content_length()
        if length is None and not self.chunked():
            self.close_connection = True
            return 411, {"status": "ERROR", "message": "Length Required"}, []
        if length == -1:
            self.close_connection = True
            return 400, {"error": "invalid Content-Length"}, []
        if length is not None and length > args.max_bytes:
            return 413, {"status": "ERROR", "message": "Request rejected: request size "
                         "(%d bytes) exceeds the maximum" % length}, []
        data, size = self.read_body(args.max_bytes)
        entry["bytes"] = size
        if data is None:
            return 413, {"status": "ERROR", "message": "Request rejected: request size "
                         "(%d bytes) exceeds the maximum" % size}, []
        try:
            doc = parse_json(data)
        except (ValueError, RecursionError) as e:
            return 400, {"error": "Unparseable request body: malformed JSON: %s" % e}, []
        try:
            batch = validate_batch(doc, args.max_records, entry)
        except BadRequest as e:
            return 400, {"error": str(e)}, []
        integration, dest_schema = self.server.state.tokens[token]
        try:
            if self.db is None:
                self.db = psycopg2.connect(args.dsn, application_name="pgpull-test-receiver")
                self.db.set_client_encoding("UTF8")
            written = load_batch(self.db, dest_schema, batch, received_at)
        except LoadError as e:
            return 400, {"error": "Batch could not be loaded: %s" % e}, []
        except psycopg2.Error as e:
            log("database error: %s" % str(e).strip())
            if self.db is not None:
                try:
                    self.db.close()
                except psycopg2.Error:
                    pass
                self.db = None
            return 503, {"status": "ERROR",
                         "message": "Service Unavailable: the batch could not be stored"}, []
        entry["committed"] = True
        log("%s.%s: %d records, %d rows written" % (dest_schema, batch.table_name,
                                                    len(batch.records), written))
        return 201, {"status": "OK", "message": "Batch Accepted!"}, []


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, state, ssl_context, control_only):
        self.state = state
        self.ssl_context = ssl_context
        self.control_only = control_only
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self):
        # no getfqdn(): nothing is looked up
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        log("connection from port %s: %s" % (client_address[1], sys.exc_info()[1]))


# --------------------------------------------------------------------------
# Command line


def loopback(value):
    """Parse HOST:PORT, loopback only."""
    m = re.match(r"^\[?([^\]]*?)\]?:(\d+)$", value)
    if not m:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got \"%s\"" % value)
    host, port = m.group(1), int(m.group(2))
    try:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            "\"%s\" is not a loopback address (use 127.0.0.1 or ::1)" % host)
    if port > 65535:
        raise argparse.ArgumentTypeError("port %d out of range" % port)
    return host, port


def positive(value):
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def write_atomically(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(
        description="Reference Stitch Import API receiver for pgpull's tests.")
    p.add_argument("--listen", type=loopback, required=True,
                   help="loopback HOST:PORT to serve the API on (port 0 picks a free one)")
    p.add_argument("--dsn", required=True, help="libpq conninfo of the destination database")
    p.add_argument("--tokens", required=True,
                   help="JSON file mapping each accepted token to an integration name")
    p.add_argument("--tls-cert", help="server certificate (PEM): serve HTTPS")
    p.add_argument("--tls-key", help="private key of --tls-cert")
    p.add_argument("--max-bytes", type=positive, default=20000000)
    p.add_argument("--max-records", type=positive, default=20000)
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--control-listen", type=loopback,
                   help="loopback HOST:PORT of a plain-HTTP listener for /__control/ only")
    p.add_argument("--control-port-file", help="write the control port here")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the parent process goes away")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")

    try:
        with open(args.tokens) as f:
            raw = json.load(f)
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ValueError("expected a JSON object of token to integration name")
        tokens = {tok: (name, destination_schema_name(name)) for tok, name in raw.items()}
    except (OSError, ValueError) as e:
        p.error("cannot use tokens file %s: %s" % (args.tokens, e))

    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    state = State(args, tokens)
    servers = [Server(args.listen, state, context, False)]
    if args.control_listen:
        servers.append(Server(args.control_listen, state, None, True))

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                daemon=True) for s in servers]
    for t in threads:
        t.start()
    parent = os.getppid()
    scheme = "https" if context else "http"
    host = args.listen[0] if ":" not in args.listen[0] else "[%s]" % args.listen[0]
    port = servers[0].server_port
    if args.control_listen and args.control_port_file:
        write_atomically(args.control_port_file, "%d\n" % servers[1].server_port)
    if args.port_file:
        write_atomically(args.port_file, "%d\n" % port)
    print("listening on %s://%s:%d" % (scheme, host, port), flush=True)
    if args.control_listen:
        print("control on http://%s:%d" % (args.control_listen[0], servers[1].server_port),
              flush=True)
    for token, (name, schema) in sorted(tokens.items(), key=lambda kv: kv[1]):
        log('integration "%s" loads into schema %s' % (name, schema))

    while not stop.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            log("parent process gone")
            break
    log("stopping")
    for s in servers:
        s.shutdown()
        s.server_close()
    state.wait_idle(10)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
