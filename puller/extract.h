/*-------------------------------------------------------------------------
 *
 * puller/extract.h
 *		pgpull: read the rows of an extraction query from COPY binary.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_EXTRACT_H
#define PGPULL_EXTRACT_H

#include <libpq-fe.h>

#include "error.h"

/*
 * one row: (lossy integer, row_json text, cap text, then one text field
 * per position column), the position given as the JSON array of those
 * fields (NULL as null)
 */
typedef struct CopyRow
{
	const char *position;		/* the JSON array; not NUL-terminated */
	size_t		position_len;
	int32_t		lossy;
	const char *row_json;		/* not NUL-terminated */
	size_t		row_json_len;
	const char *cap;			/* the commit-safe cap, on rows at or after
								 * it; NULL otherwise; not NUL-terminated */
	size_t		cap_len;
	int64_t		sequence;		/* the row's Import API sequence: 0 for the
								 * puller's own (next_sequence); a log_based
								 * stream's rows carry theirs */
} CopyRow;

/* reads one COPY ... TO STDOUT (FORMAT binary) */
typedef struct CopyReader
{
	PGconn	   *conn;
	bool		active;			/* COPY OUT in progress on conn */
	bool		header_done;
	bool		trailer_seen;
	char	   *msg;			/* current CopyData message (libpq's) */
	size_t		msg_len;
	size_t		msg_pos;
	Buf			carry;			/* bytes of a tuple spanning messages */
	size_t		carry_pos;
	Buf			position;		/* the position of the last row parsed */
} CopyReader;

extern int	copy_start(CopyReader *r, PGconn *conn, const char *query, PPError *err);
extern int	copy_next(CopyReader *r, CopyRow *row, PPError *err);
extern int	copy_parse(CopyReader *r, CopyRow *row, PPError *err);
extern void copy_add_data(CopyReader *r, char *msg, size_t len);
extern void copy_abort(CopyReader *r);
extern void copy_finish(CopyReader *r);

#endif							/* PGPULL_EXTRACT_H */
