/*-------------------------------------------------------------------------
 *
 * puller/extract.c
 *		pgpull: read the rows of an extraction query from COPY binary.
 *
 * The extension builds each row's JSON on the server; the puller only runs
 * COPY (query) TO STDOUT (FORMAT binary) and takes the fields of each
 * tuple apart: lossy int4, row_json text, cap text, then the text of each
 * position column, which it writes as the JSON array of the row's
 * position (cheaper here than building that array per row on the server).
 * Binary format spares un-escaping: a text field is its bytes as they are.
 *
 * The binary COPY stream is the 11-byte signature, a 32-bit flags field, a
 * 32-bit header extension length and that many bytes; then per tuple a
 * 16-bit field count (-1 ends the data) and per field a 32-bit length (-1
 * is NULL) and the bytes.  All integers are big-endian.  The server sends
 * one tuple per CopyData message (the header rides with the first one),
 * but nothing here depends on that: a tuple split across messages is
 * gathered in a carry buffer.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "extract.h"

#define COPY_SIGNATURE		"PGCOPY\n\377\r\n\0"
#define COPY_SIGNATURE_LEN	11
#define COPY_FIXED_FIELDS	3		/* lossy, row_json, cap */
#define COPY_MAX_POSITION	32		/* position columns: an index has at most 32 */

static uint32_t get_u32(const unsigned char *p);
static int	parse_header(const unsigned char *p, size_t avail, size_t *used,
						 PPError *err);
static int	parse_tuple(CopyReader *r, const unsigned char *p, size_t avail,
						size_t *used, CopyRow *row, bool *end, PPError *err);
static int	parse_some(CopyReader *r, CopyRow *row, bool *got_row, PPError *err);
static int	finish_copy(CopyReader *r, PPError *err);

/*
 * get_u32: a big-endian 32-bit integer.
 */
static uint32_t
get_u32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/*
 * parse_header: the file header.  Returns 1 with *used set when complete, 0
 * when more bytes are needed, -1 with err set when malformed.
 */
static int
parse_header(const unsigned char *p, size_t avail, size_t *used, PPError *err)
{
	uint32_t	flags;
	uint32_t	extlen;

	if (avail < COPY_SIGNATURE_LEN + 8)
		return 0;
	if (memcmp(p, COPY_SIGNATURE, COPY_SIGNATURE_LEN) != 0)
	{
		pp_error_set(err, PPERR_STREAM, "invalid COPY binary signature from the source");
		return -1;
	}
	flags = get_u32(p + COPY_SIGNATURE_LEN);
	if ((flags & 0xFFFF0000u) != 0)
	{
		pp_error_set(err, PPERR_STREAM, "unsupported COPY binary flags 0x%08x from the source", flags);
		return -1;
	}
	extlen = get_u32(p + COPY_SIGNATURE_LEN + 4);
	if (avail - (COPY_SIGNATURE_LEN + 8) < extlen)
		return 0;
	*used = COPY_SIGNATURE_LEN + 8 + extlen;
	return 1;
}

/*
 * parse_tuple: one tuple, or the end marker (*end set).  Returns 1 with
 * *used set when complete (row fields point into p, its position into the
 * reader), 0 when more bytes are needed, -1 with err set when malformed.
 */
static int
parse_tuple(CopyReader *r, const unsigned char *p, size_t avail, size_t *used,
			CopyRow *row, bool *end, PPError *err)
{
	size_t		pos = 2;
	int16_t		nfields;
	const unsigned char *field[COPY_FIXED_FIELDS + COPY_MAX_POSITION];
	int32_t		flen[COPY_FIXED_FIELDS + COPY_MAX_POSITION];

	*end = false;
	if (avail < 2)
		return 0;
	nfields = (int16_t) (((uint16_t) p[0] << 8) | p[1]);
	if (nfields == -1)
	{
		*end = true;
		*used = 2;
		return 1;
	}
	if (nfields < COPY_FIXED_FIELDS || nfields > COPY_FIXED_FIELDS + COPY_MAX_POSITION)
	{
		pp_error_set(err, PPERR_STREAM,
					 "extraction query returned %d columns instead of %d to %d", (int) nfields,
					 COPY_FIXED_FIELDS, COPY_FIXED_FIELDS + COPY_MAX_POSITION);
		pp_error_detail(err, "The columns are lossy integer, row_json text and cap text, then one text column per position column.");
		return -1;
	}
	for (int i = 0; i < nfields; i++)
	{
		if (avail - pos < 4)
			return 0;
		flen[i] = (int32_t) get_u32(p + pos);
		pos += 4;
		if (flen[i] < -1)
		{
			pp_error_set(err, PPERR_STREAM, "invalid field length %d in COPY data from the source",
						 (int) flen[i]);
			return -1;
		}
		field[i] = p + pos;
		if (flen[i] > 0)
		{
			if (avail - pos < (size_t) flen[i])
				return 0;
			pos += (size_t) flen[i];
		}
	}
	if (flen[0] != -1 && flen[0] != 4)
	{
		pp_error_set(err, PPERR_STREAM, "the lossy column of the extraction query is not an integer");
		return -1;
	}
	if (flen[1] == -1)
	{
		pp_error_set(err, PPERR_STREAM, "the extraction query returned a row whose row_json is NULL");
		return -1;
	}
	row->lossy = flen[0] == -1 ? 0 : (int32_t) get_u32(field[0]);
	row->sequence = 0;
	row->row_json = (const char *) field[1];
	row->row_json_len = (size_t) flen[1];
	row->cap = flen[2] == -1 ? NULL : (const char *) field[2];
	row->cap_len = flen[2] == -1 ? 0 : (size_t) flen[2];
	buf_reset(&r->position);
	buf_append(&r->position, "[", 1);
	for (int i = COPY_FIXED_FIELDS; i < nfields; i++)
	{
		if (i > COPY_FIXED_FIELDS)
			buf_append(&r->position, ",", 1);
		if (flen[i] == -1)
			buf_append(&r->position, "null", 4);
		else
			buf_append_json(&r->position, field[i], (size_t) flen[i]);
	}
	buf_append(&r->position, "]", 1);
	row->position = r->position.data;
	row->position_len = r->position.len;
	*used = pos;
	return 1;
}

/*
 * copy_start: run COPY (query) TO STDOUT (FORMAT binary) on conn, which
 * must be in a transaction.  Returns 0 when rows can be read with
 * copy_next, or -1 with err set (the server's error, for example a column
 * dropped since the query was built).
 */
int
copy_start(CopyReader *r, PGconn *conn, const char *query, PPError *err)
{
	PGresult   *res;
	char	   *sql;

	memset(r, 0, sizeof(*r));
	buf_init(&r->carry);
	buf_init(&r->position);
	r->conn = conn;
	sql = pp_psprintf("COPY (%s) TO STDOUT (FORMAT binary)", query);
	res = PQexec(conn, sql);
	free(sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT)
	{
		pp_error_from_pg(err, PPERR_STREAM, conn, res, NULL);
		if (pp_interrupted)
			err->kind = PPERR_INTERRUPTED;
		if (res)
			PQclear(res);
		/* a query that returned rows instead: drain it */
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
		return -1;
	}
	PQclear(res);
	r->active = true;
	return 0;
}

/*
 * parse_some: parse the header or one tuple from the carry buffer or the
 * current message.  Returns 1 when something was parsed (*got_row tells
 * whether it was a row), 0 when more data is needed (the unparsed rest of
 * the message is moved to the carry buffer), -1 on error.
 */
static int
parse_some(CopyReader *r, CopyRow *row, bool *got_row, PPError *err)
{
	const unsigned char *p;
	size_t		avail;
	size_t		used = 0;
	bool		end = false;
	bool		from_carry = r->carry.len > r->carry_pos;
	int			rc;

	*got_row = false;
	if (from_carry)
	{
		p = (const unsigned char *) r->carry.data + r->carry_pos;
		avail = r->carry.len - r->carry_pos;
	}
	else if (r->msg != NULL && r->msg_pos < r->msg_len)
	{
		p = (const unsigned char *) r->msg + r->msg_pos;
		avail = r->msg_len - r->msg_pos;
	}
	else
		return 0;

	if (r->trailer_seen)
	{
		pp_error_set(err, PPERR_STREAM, "unexpected COPY data after the end marker from the source");
		return -1;
	}
	if (!r->header_done)
		rc = parse_header(p, avail, &used, err);
	else
		rc = parse_tuple(r, p, avail, &used, row, &end, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
	{
		/* incomplete: keep the rest for the next message */
		if (!from_carry)
		{
			if (r->carry_pos > 0)
			{
				buf_reset(&r->carry);
				r->carry_pos = 0;
			}
			buf_append(&r->carry, p, avail);
			r->msg_pos = r->msg_len;
		}
		return 0;
	}
	if (from_carry)
		r->carry_pos += used;
	else
		r->msg_pos += used;
	if (!r->header_done)
		r->header_done = true;
	else if (end)
		r->trailer_seen = true;
	else
		*got_row = true;
	return 1;
}

/*
 * finish_copy: after the last CopyData: the COPY's own result must be
 * success.  Returns 0 or -1 with err set.
 */
static int
finish_copy(CopyReader *r, PPError *err)
{
	PGresult   *res;
	int			rc = 0;

	r->active = false;
	while ((res = PQgetResult(r->conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0)
		{
			pp_error_from_pg(err, PPERR_STREAM, r->conn, res, NULL);
			if (pp_interrupted)
				err->kind = PPERR_INTERRUPTED;
			rc = -1;
		}
		PQclear(res);
	}
	if (rc == 0 && !r->trailer_seen)
	{
		pp_error_set(err, PPERR_STREAM, "COPY data from the source ended without its end marker");
		rc = -1;
	}
	return rc;
}

/*
 * copy_parse: the next row of the COPY data handed over so far (by
 * copy_next, from the connection, or by copy_add_data).  Returns 1 with
 * row set (its pointers are valid until the next call), 0 when more data
 * is needed, -1 with err set when the data is malformed.  copy_next is this
 * fed from the connection; the fuzz harness (puller/fuzz/) feeds it
 * without one.
 */
int
copy_parse(CopyReader *r, CopyRow *row, PPError *err)
{
	for (;;)
	{
		bool		got_row;
		int			rc;

		/* what the previous call consumed is no longer needed */
		if (r->carry.len > 0 && r->carry_pos == r->carry.len)
		{
			buf_reset(&r->carry);
			r->carry_pos = 0;
		}
		if (r->msg != NULL && r->msg_pos == r->msg_len)
		{
			PQfreemem(r->msg);
			r->msg = NULL;
			r->msg_len = r->msg_pos = 0;
		}

		rc = parse_some(r, row, &got_row, err);
		if (rc <= 0)
			return rc;
		if (got_row)
			return 1;
	}
}

/*
 * copy_add_data: hand the reader one CopyData message of len > 0 bytes,
 * after copy_parse answered that it needs more.  The reader owns msg from
 * then on and frees it with PQfreemem.
 */
void
copy_add_data(CopyReader *r, char *msg, size_t len)
{
	if (r->carry.len > r->carry_pos)
	{
		/* a tuple continues: gather it in the carry buffer */
		if (r->carry_pos > 0)
		{
			memmove(r->carry.data, r->carry.data + r->carry_pos,
					r->carry.len - r->carry_pos);
			r->carry.len -= r->carry_pos;
			r->carry_pos = 0;
		}
		buf_append(&r->carry, msg, len);
		PQfreemem(msg);
	}
	else
	{
		r->msg = msg;
		r->msg_len = len;
		r->msg_pos = 0;
	}
}

/*
 * copy_next: the next row.  Returns 1 with row set (its pointers are valid
 * until the next call), 0 at the end of a COPY that succeeded, -1 with err
 * set (the server's error: for example a recovery conflict on a standby).
 * After 0 or -1 the connection is out of COPY mode, except when -1 came
 * from malformed data: then copy_abort ends it.
 */
int
copy_next(CopyReader *r, CopyRow *row, PPError *err)
{
	for (;;)
	{
		int			rc;
		char	   *buf = NULL;
		int			n;

		rc = copy_parse(r, row, err);
		if (rc != 0)
			return rc;

		/* need more data */
		if (!r->active)
			return -1;
		n = PQgetCopyData(r->conn, &buf, 0);
		if (n > 0)
		{
			copy_add_data(r, buf, (size_t) n);
			continue;
		}
		if (n == -1)
		{
			if (finish_copy(r, err) != 0)
				return -1;
			if (r->carry.len > r->carry_pos)
			{
				pp_error_set(err, PPERR_STREAM, "COPY data from the source ended in the middle of a row");
				return -1;
			}
			return 0;
		}
		/* n == -2: the connection failed */
		r->active = false;
		pp_error_from_pg(err, PPERR_STREAM, r->conn, NULL, "could not read COPY data from the source");
		if (pp_interrupted)
			err->kind = PPERR_INTERRUPTED;
		return -1;
	}
}

/*
 * copy_abort: stop a COPY that is still sending (after an error on our
 * side): cancel it on the server and discard what is still in flight.
 */
void
copy_abort(CopyReader *r)
{
	PGresult   *res;

	if (r->active)
	{
		PGcancel   *cancel = PQgetCancel(r->conn);
		char		errbuf[256];
		char	   *buf;
		int			n;

		if (cancel)
		{
			(void) PQcancel(cancel, errbuf, sizeof(errbuf));
			PQfreeCancel(cancel);
		}
		while ((n = PQgetCopyData(r->conn, &buf, 0)) > 0)
			PQfreemem(buf);
		while ((res = PQgetResult(r->conn)) != NULL)
			PQclear(res);
		r->active = false;
	}
	copy_finish(r);
}

/*
 * copy_finish: free the reader's buffers (the connection is left alone).
 */
void
copy_finish(CopyReader *r)
{
	if (r->msg)
		PQfreemem(r->msg);
	r->msg = NULL;
	r->msg_len = r->msg_pos = 0;
	buf_free(&r->carry);
	r->carry_pos = 0;
	buf_free(&r->position);
}
