/*-------------------------------------------------------------------------
 *
 * puller/singer.h
 *		pgpull: Singer messages and the STATE value.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SINGER_H
#define PGPULL_SINGER_H

#include <jansson.h>

#include "error.h"

/* the stream whose messages are being written */
typedef struct SingerStream
{
	char	   *name_json;		/* the stream name as a JSON string */
	bool		has_version;	/* full_table: RECORDs carry the table version */
	int64_t		version;
	Buf			record_head;	/* {"type":"RECORD","stream":...,"record": */
	Buf			record_tail;	/* ,"time_extracted":...[,"version":N]}\n */
} SingerStream;

/* the STATE value: every stream sent so far in the run */
typedef struct SingerState
{
	json_t	   *value;
	json_t	   *bookmarks;		/* borrowed from value */
	int			nstreams;
} SingerState;

extern int	singer_stream_start(SingerStream *ss, const char *name,
								bool has_version, int64_t version, PPError *err);
extern void singer_stream_free(SingerStream *ss);
extern void singer_set_time_extracted(SingerStream *ss);
extern int	singer_schema(Buf *out, const SingerStream *ss, const char *json_schema,
						  const char *key_names, const char *bookmark_properties,
						  PPError *err);
extern void singer_record(Buf *out, const SingerStream *ss, const char *row_json,
						  size_t row_json_len);
extern size_t singer_record_size(const SingerStream *ss, size_t row_json_len);
extern void singer_record_extra(Buf *out, const SingerStream *ss, const char *row_json,
								size_t row_json_len, const char *extra);
extern int	singer_state_slot(SingerState *st, const char *entry, PPError *err);
extern void singer_activate_version(Buf *out, const SingerStream *ss);

extern void singer_state_init(SingerState *st, const char *integration, int64_t run_id);
extern void singer_state_add_database(SingerState *st, const char *database,
									  int64_t run_id);
extern int	singer_state_set(SingerState *st, const char *stream, const char *entry,
							 PPError *err);
extern int	singer_state_write(Buf *out, SingerState *st, const char *currently_syncing,
							   PPError *err);
extern void singer_state_free(SingerState *st);

#endif							/* PGPULL_SINGER_H */
