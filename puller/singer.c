/*-------------------------------------------------------------------------
 *
 * puller/singer.c
 *		pgpull: Singer messages and the STATE value.
 *
 * One JSON object per line (the Singer specification, SPEC.md of
 * singer-io/getting-started):
 *
 *	 {"type":"SCHEMA","stream":S,"schema":{...},"key_properties":[...],
 *	  "bookmark_properties":[...]}
 *	 {"type":"RECORD","stream":S,"record":{...},"time_extracted":T[,"version":N]}
 *	 {"type":"STATE","value":{...}}
 *	 {"type":"ACTIVATE_VERSION","stream":S,"version":N}
 *
 * As for Import API batches, the row JSON and the JSON schema come from the
 * server and are spliced in verbatim, never parsed: a RECORD is a prefix
 * made once per stream, the row, and a suffix made once per chunk (the
 * chunk's extraction time, RFC 3339 UTC with milliseconds, and the table
 * version of a full_table stream).
 *
 * The STATE value is small and built with jansson:
 *
 *	 {"pgpull":{"version":1,"integration":I,"run_id":N},
 *	  "currently_syncing":S|null,"bookmarks":{S:ENTRY,...}}
 *
 * where each ENTRY is what pgpull.record_emitted returned for the stream
 * (pgpull.commit_state in extension/pgpull--1.0.sql describes it).  The value keeps every
 * stream sent so far in the run: a target echoes only its latest state.
 *
 * With --all-databases the value spans the runs of every database sent so
 * far: the header names each database's run instead of one run_id, and
 * each stream is named "<database>__<table>", as at the destination:
 *
 *	 {"pgpull":{"version":1,"integration":I,"databases":{D:N,...}},
 *	  "currently_syncing":S|null,"bookmarks":{S:ENTRY,...}}
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "singer.h"

static char *json_text(json_t *j);
static bool is_json_container(const char *text, char open);

/*
 * json_text: compact JSON text of j (which is consumed), or NULL.
 */
static char *
json_text(json_t *j)
{
	char	   *text = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

/*
 * is_json_container: whether text (from the server) starts, after blanks,
 * with open ('{' or '[').
 */
static bool
is_json_container(const char *text, char open)
{
	while (text && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r'))
		text++;
	return text != NULL && *text == open;
}

/*
 * singer_stream_start: set up the messages of a stream.  Returns 0, or -1
 * with err set when the name cannot be encoded.
 */
int
singer_stream_start(SingerStream *ss, const char *name, bool has_version,
					int64_t version, PPError *err)
{
	memset(ss, 0, sizeof(*ss));
	buf_init(&ss->record_head);
	buf_init(&ss->record_tail);
	ss->name_json = json_text(json_string(name));
	if (ss->name_json == NULL)
	{
		pp_error_set(err, PPERR_STREAM, "cannot encode stream name \"%s\" as JSON", name);
		return -1;
	}
	ss->has_version = has_version;
	ss->version = version;
	buf_append_str(&ss->record_head, "{\"type\":\"RECORD\",\"stream\":");
	buf_append_str(&ss->record_head, ss->name_json);
	buf_append_str(&ss->record_head, ",\"record\":");
	singer_set_time_extracted(ss);
	return 0;
}

/*
 * singer_stream_free: release what singer_stream_start set up.
 */
void
singer_stream_free(SingerStream *ss)
{
	free(ss->name_json);
	buf_free(&ss->record_head);
	buf_free(&ss->record_tail);
	memset(ss, 0, sizeof(*ss));
}

/*
 * singer_set_time_extracted: the RECORDs from now on were extracted now
 * (called as each chunk starts).
 */
void
singer_set_time_extracted(SingerStream *ss)
{
	struct timespec ts;
	struct tm	tm;
	char		stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_reset(&ss->record_tail);
	buf_appendf(&ss->record_tail, ",\"time_extracted\":\"%s.%03dZ\"", stamp,
				(int) (ts.tv_nsec / 1000000));
	if (ss->has_version)
		buf_appendf(&ss->record_tail, ",\"version\":%" PRId64, ss->version);
	buf_append_str(&ss->record_tail, "}\n");
}

/*
 * singer_schema: append the SCHEMA message of the stream.  json_schema is
 * a JSON object text, key_names and bookmark_properties JSON array texts
 * (NULL: empty), all from the server.  Returns 0, or -1 with err set when
 * they do not have that shape.
 */
int
singer_schema(Buf *out, const SingerStream *ss, const char *json_schema,
			  const char *key_names, const char *bookmark_properties,
			  PPError *err)
{
	if (!is_json_container(json_schema, '{'))
	{
		pp_error_set(err, PPERR_STREAM, "the JSON schema of the stream is not a JSON object");
		return -1;
	}
	if ((key_names && !is_json_container(key_names, '[')) ||
		(bookmark_properties && !is_json_container(bookmark_properties, '[')))
	{
		pp_error_set(err, PPERR_STREAM, "the key names or bookmark properties of the stream are not a JSON array");
		return -1;
	}
	buf_append_str(out, "{\"type\":\"SCHEMA\",\"stream\":");
	buf_append_str(out, ss->name_json);
	buf_append_str(out, ",\"schema\":");
	buf_append_str(out, json_schema);
	buf_append_str(out, ",\"key_properties\":");
	buf_append_str(out, key_names ? key_names : "[]");
	buf_append_str(out, ",\"bookmark_properties\":");
	buf_append_str(out, bookmark_properties ? bookmark_properties : "[]");
	buf_append_str(out, "}\n");
	return 0;
}

/*
 * singer_record_size: the size of the RECORD line of a row.
 */
size_t
singer_record_size(const SingerStream *ss, size_t row_json_len)
{
	return ss->record_head.len + row_json_len + ss->record_tail.len;
}

/*
 * singer_record: append the RECORD message of a row.
 */
void
singer_record(Buf *out, const SingerStream *ss, const char *row_json,
			  size_t row_json_len)
{
	buf_reserve(out, singer_record_size(ss, row_json_len));
	buf_append(out, ss->record_head.data, ss->record_head.len);
	buf_append(out, row_json, row_json_len);
	buf_append(out, ss->record_tail.data, ss->record_tail.len);
}

/*
 * singer_record_extra: singer_record with members of the message after the
 * record (extra: ",\"key\":value..." text).
 */
void
singer_record_extra(Buf *out, const SingerStream *ss, const char *row_json,
					size_t row_json_len, const char *extra)
{
	buf_reserve(out, singer_record_size(ss, row_json_len) + strlen(extra));
	buf_append(out, ss->record_head.data, ss->record_head.len);
	buf_append(out, row_json, row_json_len);
	buf_append_str(out, extra);
	buf_append(out, ss->record_tail.data, ss->record_tail.len);
}

/*
 * singer_state_slot: the "slot" member of the state's "pgpull" object
 * (entry: JSON text, from pgpull.slot_state_entry).  Returns 0, or -1 with
 * err set.
 */
int
singer_state_slot(SingerState *st, const char *entry, PPError *err)
{
	json_error_t jerr;
	json_t	   *j = entry ? json_loads(entry, 0, &jerr) : NULL;

	if (j == NULL || !json_is_object(j))
	{
		json_decref(j);
		pp_error_set(err, PPERR_STREAM, "pgpull.slot_state_entry returned no object");
		return -1;
	}
	json_object_set_new(json_object_get(st->value, "pgpull"), "slot", j);
	return 0;
}

/*
 * singer_activate_version: append the ACTIVATE_VERSION message of a
 * full_table stream sent to its end.
 */
void
singer_activate_version(Buf *out, const SingerStream *ss)
{
	buf_append_str(out, "{\"type\":\"ACTIVATE_VERSION\",\"stream\":");
	buf_append_str(out, ss->name_json);
	buf_appendf(out, ",\"version\":%" PRId64 "}\n", ss->version);
}

/*
 * singer_state_init: the STATE value of a run, with no stream yet.
 */
void
singer_state_init(SingerState *st, const char *integration, int64_t run_id)
{
	json_t	   *header;

	st->value = json_object();
	st->bookmarks = json_object();
	header = json_object();
	st->nstreams = 0;
	if (st->value == NULL || st->bookmarks == NULL || header == NULL)
	{
		fprintf(stderr, "pgpull: error: out of memory\n");
		exit(EXIT_STREAM_FAILED);
	}
	json_object_set_new(header, "version", json_integer(1));
	json_object_set_new(header, "integration", json_string(integration));
	json_object_set_new(header, "run_id", json_integer((json_int_t) run_id));
	json_object_set_new(st->value, "pgpull", header);
	json_object_set_new(st->value, "currently_syncing", json_null());
	json_object_set_new(st->value, "bookmarks", st->bookmarks);
}

/*
 * singer_state_add_database: with --all-databases, the value spans the run
 * of this database too: the header names the runs of its databases
 * instead of one run.
 */
void
singer_state_add_database(SingerState *st, const char *database, int64_t run_id)
{
	json_t	   *header = json_object_get(st->value, "pgpull");
	json_t	   *databases = json_object_get(header, "databases");

	if (databases == NULL)
	{
		databases = json_object();
		json_object_del(header, "run_id");
		json_object_set_new(header, "databases", databases);
	}
	json_object_set_new(databases, database, json_integer((json_int_t) run_id));
}

/*
 * singer_state_set: the bookmark entry of a stream (JSON object text from
 * pgpull.record_emitted) replaces its previous one.  Returns 0, or -1 with
 * err set when it is not a JSON object.
 */
int
singer_state_set(SingerState *st, const char *stream, const char *entry,
				 PPError *err)
{
	json_error_t jerr;
	json_t	   *j = entry ? json_loads(entry, 0, &jerr) : NULL;

	if (j == NULL || !json_is_object(j))
	{
		json_decref(j);
		pp_error_set(err, PPERR_STREAM, "pgpull.record_emitted returned no bookmark object for stream \"%s\"", stream);
		return -1;
	}
	if (json_object_get(st->bookmarks, stream) == NULL)
		st->nstreams++;
	json_object_set_new(st->bookmarks, stream, j);
	return 0;
}

/*
 * singer_state_write: append a STATE message with the current value;
 * currently_syncing is the stream being sent, or NULL.  Returns 0, or -1
 * with err set when it cannot be encoded.
 */
int
singer_state_write(Buf *out, SingerState *st, const char *currently_syncing,
				   PPError *err)
{
	char	   *text;

	json_object_set_new(st->value, "currently_syncing",
						currently_syncing ? json_string(currently_syncing) : json_null());
	text = json_dumps(st->value, JSON_COMPACT);
	if (text == NULL)
	{
		pp_error_set(err, PPERR_STREAM, "could not encode the STATE message");
		return -1;
	}
	buf_append_str(out, "{\"type\":\"STATE\",\"value\":");
	buf_append_str(out, text);
	buf_append_str(out, "}\n");
	free(text);
	return 0;
}

/*
 * singer_state_free: release the value.
 */
void
singer_state_free(SingerState *st)
{
	json_decref(st->value);
	memset(st, 0, sizeof(*st));
}
