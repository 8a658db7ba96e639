/*-------------------------------------------------------------------------
 *
 * puller/pgoutput.c
 *		pgpull: the streaming replication protocol's CopyData messages and
 *		the messages of the pgoutput plugin (protocol version 1).
 *
 * START_REPLICATION ... LOGICAL puts the connection in COPY BOTH mode; the
 * server's CopyData messages are XLogData ('w': WAL start, WAL end, send
 * time, then one pgoutput message) and primary keepalives ('k': WAL end,
 * send time, reply requested); the client answers with standby status
 * updates ('r').  A pgoutput message is a type byte and fields in network
 * byte order: integers of 1, 2, 4 and 8 bytes and NUL-terminated strings.
 * Protocol version 1 has no transaction ID in the messages of a
 * transaction (only streamed transactions, version 2, carry one), and a
 * tuple's columns come as text, never binary.
 *
 * The parsing reads through a cursor (Reader) whose every read checks what
 * is left of the message, and whose first failure sets the error; later
 * reads then fail at once, so a decoder checks r->failed once per loop
 * rather than after each read.  Counts are checked against the bytes left
 * before anything is allocated for them.
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

#include "pgoutput.h"

#define RELCACHE_MIN_SLOTS	16

/* a cursor over one message */
typedef struct Reader
{
	const unsigned char *p;
	size_t		len;
	size_t		pos;
	const char *what;			/* "Insert message", for errors */
	PPError    *err;
	bool		failed;
} Reader;

static void reader_init(Reader *r, const char *buf, size_t len, size_t pos,
						const char *what, PPError *err);
static void reader_fail(Reader *r, const char *fmt,...) PP_PRINTF(2, 3);
static bool reader_need(Reader *r, size_t n, const char *field);
static uint64_t read_be(Reader *r, size_t n, const char *field);
static uint8_t read_u8(Reader *r, const char *field);
static int16_t read_i16(Reader *r, const char *field);
static uint32_t read_u32(Reader *r, const char *field);
static uint64_t read_u64(Reader *r, const char *field);
static const char *read_string(Reader *r, const char *field);
static char *read_string_copy(Reader *r, const char *field);
static void read_end(Reader *r);
static void type_byte_text(unsigned char c, char out[8]);
static void put_u64(char *out, uint64_t v);
static void decode_tuple(Reader *r, PgoTuple *t, const char *which);
static void decode_relation(Reader *r, PgoMessage *m);
static void decode_update(Reader *r, PgoMessage *m);
static void decode_truncate(Reader *r, PgoMessage *m);
static const char *message_name(unsigned char type);
static void tuple_clear(PgoTuple *t);
static bool same_columns(const PgoRelation *a, const PgoMessage *m);
static size_t relcache_slot(const PgoRelCache *c, uint32_t relid);
static void relation_free(PgoRelation *rel);
static void relcache_grow(PgoRelCache *c);

/*
 * reader_init: a cursor over buf (len bytes) from pos on; what names the
 * message in errors.
 */
static void
reader_init(Reader *r, const char *buf, size_t len, size_t pos,
			const char *what, PPError *err)
{
	r->p = (const unsigned char *) buf;
	r->len = len;
	r->pos = pos;
	r->what = what;
	r->err = err;
	r->failed = false;
}

/*
 * reader_fail: the first failure sets the error, "invalid <what> in the
 * replication stream: <fmt>"; later ones change nothing.
 */
static void
reader_fail(Reader *r, const char *fmt,...)
{
	va_list		ap;
	char	   *why;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	why = pp_vpsprintf(fmt, ap);
	va_end(ap);
	pp_error_set(r->err, PPERR_STREAM, "invalid %s in the replication stream: %s",
				 r->what, why);
	free(why);
}

/*
 * reader_need: whether n more bytes are there for field; fails the reader
 * when not.
 */
static bool
reader_need(Reader *r, size_t n, const char *field)
{
	if (r->failed)
		return false;
	if (r->len - r->pos < n)
	{
		reader_fail(r, "the message ends (%zu bytes) before %s", r->len, field);
		return false;
	}
	return true;
}

/*
 * read_be: an n-byte big-endian unsigned integer (n at most 8); 0 when the
 * reader failed.
 */
static uint64_t
read_be(Reader *r, size_t n, const char *field)
{
	uint64_t	v = 0;

	if (!reader_need(r, n, field))
		return 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | r->p[r->pos + i];
	r->pos += n;
	return v;
}

/*
 * read_u8, read_i16, read_u32, read_u64: the protocol's integers.
 */
static uint8_t
read_u8(Reader *r, const char *field)
{
	return (uint8_t) read_be(r, 1, field);
}

static int16_t
read_i16(Reader *r, const char *field)
{
	return (int16_t) (uint16_t) read_be(r, 2, field);
}

static uint32_t
read_u32(Reader *r, const char *field)
{
	return (uint32_t) read_be(r, 4, field);
}

static uint64_t
read_u64(Reader *r, const char *field)
{
	return read_be(r, 8, field);
}

/*
 * read_string: a NUL-terminated string, pointing into the message; NULL
 * when the reader failed or no NUL ends it within the message.
 */
static const char *
read_string(Reader *r, const char *field)
{
	const unsigned char *s;
	const unsigned char *nul;

	if (!reader_need(r, 1, field))
		return NULL;
	s = r->p + r->pos;
	nul = memchr(s, '\0', r->len - r->pos);
	if (nul == NULL)
	{
		reader_fail(r, "%s has no terminating zero byte", field);
		return NULL;
	}
	r->pos += (size_t) (nul - s) + 1;
	return (const char *) s;
}

/*
 * read_string_copy: read_string, allocated.
 */
static char *
read_string_copy(Reader *r, const char *field)
{
	const char *s = read_string(r, field);

	return s == NULL ? NULL : pp_strdup(s);
}

/*
 * read_end: fail unless the whole message was read.
 */
static void
read_end(Reader *r)
{
	if (!r->failed && r->pos != r->len)
		reader_fail(r, "%zu bytes are left over after its last field",
					r->len - r->pos);
}

/*
 * type_byte_text: a message or column type byte for an error: 'X' when
 * printable, else 0xNN.
 */
static void
type_byte_text(unsigned char c, char out[8])
{
	if (c > 0x20 && c < 0x7F && c != '\'')
		snprintf(out, 8, "'%c'", c);
	else
		snprintf(out, 8, "0x%02X", c);
}

/*
 * pgo_parse_copy: a CopyData message of the replication stream from the
 * server, XLogData or primary keepalive.  Returns 0 with *m set (its data
 * pointing into buf), or -1 with err set.
 */
int
pgo_parse_copy(const char *buf, size_t len, PgoCopyMsg *m, PPError *err)
{
	Reader		r;
	char		type[8];

	memset(m, 0, sizeof(*m));
	if (len == 0)
	{
		pp_error_set(err, PPERR_STREAM, "empty message in the replication stream");
		return -1;
	}
	switch (buf[0])
	{
		case 'w':
			reader_init(&r, buf, len, 1, "XLogData message", err);
			m->kind = PGO_XLOGDATA;
			m->wal_start = read_u64(&r, "the start of the WAL data");
			m->wal_end = read_u64(&r, "the end of WAL");
			m->send_time = (int64_t) read_u64(&r, "the send time");
			if (r.failed)
				break;
			m->data = buf + r.pos;
			m->len = len - r.pos;
			return 0;
		case 'k':
			reader_init(&r, buf, len, 1, "keepalive message", err);
			m->kind = PGO_KEEPALIVE;
			m->wal_end = read_u64(&r, "the end of WAL");
			m->send_time = (int64_t) read_u64(&r, "the send time");
			m->reply_requested = read_u8(&r, "the reply flag") != 0;
			read_end(&r);
			if (r.failed)
				break;
			return 0;
		default:
			type_byte_text((unsigned char) buf[0], type);
			pp_error_set(err, PPERR_STREAM,
						 "unexpected message type %s in the replication stream", type);
			pp_error_detail(err, "The server sends XLogData ('w') and keepalive ('k') messages.");
			return -1;
	}
	memset(m, 0, sizeof(*m));
	return -1;
}

/*
 * put_u64: v big-endian into out[0..7].
 */
static void
put_u64(char *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
	{
		out[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

/*
 * pgo_status_update: the standby status update: 'r', the LSNs written,
 * flushed and applied, the client's clock and whether the server should
 * answer at once.  The LSNs go as given (the protocol wants the last byte
 * plus one: the end LSN of a transaction is that).
 */
size_t
pgo_status_update(char out[PGO_STATUS_UPDATE_LEN], uint64_t write,
				  uint64_t flush, uint64_t apply, int64_t now_pg_us, bool reply)
{
	out[0] = 'r';
	put_u64(out + 1, write);
	put_u64(out + 9, flush);
	put_u64(out + 17, apply);
	put_u64(out + 25, (uint64_t) now_pg_us);
	out[33] = reply ? 1 : 0;
	return PGO_STATUS_UPDATE_LEN;
}

/*
 * pgo_now: the wall clock in µs since 2000-01-01.
 */
int64_t
pgo_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PGO_EPOCH_OFFSET_US;
}

/*
 * pgo_to_unix_us: µs since 2000-01-01 to µs since 1970-01-01.
 */
int64_t
pgo_to_unix_us(int64_t pg_us)
{
	return pg_us + PGO_EPOCH_OFFSET_US;
}

/*
 * pgo_lsn_text: lsn as PostgreSQL writes a pg_lsn, "16/B374D848".
 */
void
pgo_lsn_text(uint64_t lsn, char out[32])
{
	snprintf(out, 32, "%" PRIX32 "/%" PRIX32, (uint32_t) (lsn >> 32),
			 (uint32_t) lsn);
}

/*
 * pgo_parse_lsn: a pg_lsn's text, two groups of 1 to 8 hex digits (either
 * case) around a slash and nothing else; false when it is not one.
 */
bool
pgo_parse_lsn(const char *text, uint64_t *lsn)
{
	uint64_t	v = 0;
	const char *s = text;

	for (int half = 0; half < 2; half++)
	{
		int			digits = 0;
		uint32_t	part = 0;

		for (; digits < 9; s++, digits++)
		{
			int			d;

			if (*s >= '0' && *s <= '9')
				d = *s - '0';
			else if (*s >= 'a' && *s <= 'f')
				d = *s - 'a' + 10;
			else if (*s >= 'A' && *s <= 'F')
				d = *s - 'A' + 10;
			else
				break;
			part = (part << 4) | (uint32_t) d;
		}
		if (digits < 1 || digits > 8)
			return false;
		v = (v << 32) | part;
		if (half == 0 && *s++ != '/')
			return false;
	}
	if (*s != '\0')
		return false;
	*lsn = v;
	return true;
}

/*
 * decode_tuple: TupleData into t (which names it in errors: "new tuple").
 */
static void
decode_tuple(Reader *r, PgoTuple *t, const char *which)
{
	int16_t		ncols = read_i16(r, "the column count");

	if (r->failed)
		return;
	/* a column is one byte at least */
	if (ncols < 0 || (size_t) ncols > r->len - r->pos)
	{
		reader_fail(r, "the %s claims %d %s in %zu bytes", which, (int) ncols,
					pp_plural(ncols, "column", "columns"), r->len - r->pos);
		return;
	}
	t->ncols = ncols;
	if (ncols > 0)
	{
		t->cols = pp_malloc(sizeof(PgoColumn) * (size_t) ncols);
		memset(t->cols, 0, sizeof(PgoColumn) * (size_t) ncols);
	}
	for (int i = 0; i < ncols && !r->failed; i++)
	{
		PgoColumn  *col = &t->cols[i];
		unsigned char kind = read_u8(r, "a column's kind");
		uint32_t	len;
		char		text[8];

		if (r->failed)
			return;
		col->kind = (char) kind;
		switch (kind)
		{
			case 'n':
			case 'u':
				break;
			case 't':
				len = read_u32(r, "a column's length");
				if (r->failed)
					return;
				if (len > INT32_MAX)
				{
					reader_fail(r, "column %d of the %s has the negative length %" PRId32,
								i + 1, which, (int32_t) len);
					return;
				}
				if (len > r->len - r->pos)
				{
					reader_fail(r, "column %d of the %s claims %" PRIu32 " bytes, more than the %zu left",
								i + 1, which, len, r->len - r->pos);
					return;
				}
				col->value = (const char *) r->p + r->pos;
				col->len = len;
				r->pos += len;
				break;
			case 'b':
				reader_fail(r, "column %d of the %s is binary, which was not asked for",
							i + 1, which);
				return;
			default:
				type_byte_text(kind, text);
				reader_fail(r, "column %d of the %s has the unknown kind %s",
							i + 1, which, text);
				return;
		}
	}
}

/*
 * decode_relation: the fields of a Relation message.
 */
static void
decode_relation(Reader *r, PgoMessage *m)
{
	int16_t		ncols;

	m->relid = read_u32(r, "the relation ID");
	m->nspname = read_string_copy(r, "the namespace");
	m->relname = read_string_copy(r, "the relation name");
	m->replident = (char) read_u8(r, "the replica identity");
	ncols = read_i16(r, "the column count");
	if (r->failed)
		return;
	if (strchr("dnfi", m->replident) == NULL || m->replident == '\0')
	{
		char		text[8];

		type_byte_text((unsigned char) m->replident, text);
		reader_fail(r, "unknown replica identity %s", text);
		return;
	}
	/* a column is 10 bytes at least: flags, "", type, typmod */
	if (ncols < 0 || (size_t) ncols > (r->len - r->pos) / 10)
	{
		reader_fail(r, "it claims %d %s in %zu bytes", (int) ncols,
					pp_plural(ncols, "column", "columns"), r->len - r->pos);
		return;
	}
	m->nrelcols = ncols;
	if (ncols > 0)
	{
		m->relcols = pp_malloc(sizeof(PgoRelColumn) * (size_t) ncols);
		memset(m->relcols, 0, sizeof(PgoRelColumn) * (size_t) ncols);
	}
	for (int i = 0; i < ncols && !r->failed; i++)
	{
		PgoRelColumn *col = &m->relcols[i];

		col->key = (read_u8(r, "a column's flags") & 1) != 0;
		col->name = read_string_copy(r, "a column's name");
		col->type_oid = read_u32(r, "a column's type");
		col->typmod = (int32_t) read_u32(r, "a column's type modifier");
	}
}

/*
 * decode_update: the fields of an Update message after the relation ID: an
 * optional old tuple ('K' or 'O'), then the new one ('N').
 */
static void
decode_update(Reader *r, PgoMessage *m)
{
	unsigned char tag = read_u8(r, "the tuple tag");
	char		text[8];

	if (!r->failed && (tag == 'K' || tag == 'O'))
	{
		m->has_old = true;
		m->old_kind = (char) tag;
		decode_tuple(r, &m->old_tuple, "old tuple");
		tag = read_u8(r, "the new tuple's tag");
	}
	if (r->failed)
		return;
	if (tag != 'N')
	{
		type_byte_text(tag, text);
		reader_fail(r, "the tuple tag is %s instead of 'N'%s", text,
					m->has_old ? "" : ", 'K' or 'O'");
		return;
	}
	decode_tuple(r, &m->new_tuple, "new tuple");
}

/*
 * decode_truncate: the fields of a Truncate message.
 */
static void
decode_truncate(Reader *r, PgoMessage *m)
{
	uint32_t	n = read_u32(r, "the relation count");

	m->truncate_options = read_u8(r, "the options");
	if (r->failed)
		return;
	if (n > (r->len - r->pos) / 4)
	{
		reader_fail(r, "it claims %" PRIu32 " %s in %zu bytes", n,
					pp_plural(n, "relation", "relations"), r->len - r->pos);
		return;
	}
	m->nrelids = (int) n;
	m->relids = n ? pp_malloc(sizeof(uint32_t) * n) : NULL;
	for (uint32_t i = 0; i < n; i++)
		m->relids[i] = read_u32(r, "a relation ID");
}

/*
 * message_name: the name of a pgoutput message type for errors, NULL when
 * unknown.
 */
static const char *
message_name(unsigned char type)
{
	switch (type)
	{
		case PGO_BEGIN:
			return "Begin message";
		case PGO_COMMIT:
			return "Commit message";
		case PGO_ORIGIN:
			return "Origin message";
		case PGO_RELATION:
			return "Relation message";
		case PGO_TYPE:
			return "Type message";
		case PGO_INSERT:
			return "Insert message";
		case PGO_UPDATE:
			return "Update message";
		case PGO_DELETE:
			return "Delete message";
		case PGO_TRUNCATE:
			return "Truncate message";
		case PGO_MESSAGE:
			return "logical decoding message";
	}
	return NULL;
}

/*
 * pgo_decode: one pgoutput message.  Returns 0 with m set, or -1 with err
 * set and m cleared.
 */
int
pgo_decode(const char *data, size_t len, PgoMessage *m, PPError *err)
{
	Reader		r;
	unsigned char type;
	const char *name;
	unsigned char tag;
	char		text[8];

	pgo_message_clear(m);
	if (len == 0)
	{
		pp_error_set(err, PPERR_STREAM, "empty logical replication message in the replication stream");
		return -1;
	}
	type = (unsigned char) data[0];
	name = message_name(type);
	if (name == NULL)
	{
		type_byte_text(type, text);
		pp_error_set(err, PPERR_STREAM,
					 "unknown logical replication message type %s in the replication stream",
					 text);
		pp_error_detail(err, "pgpull reads pgoutput's protocol version 1.");
		return -1;
	}
	reader_init(&r, data, len, 1, name, err);
	m->type = (PgoMsgType) type;
	switch (type)
	{
		case PGO_BEGIN:
			m->final_lsn = read_u64(&r, "the final LSN");
			m->commit_time = (int64_t) read_u64(&r, "the commit time");
			m->xid = read_u32(&r, "the transaction ID");
			break;
		case PGO_COMMIT:
			m->flags = read_u8(&r, "the flags");
			m->commit_lsn = read_u64(&r, "the commit LSN");
			m->end_lsn = read_u64(&r, "the end LSN");
			m->commit_time = (int64_t) read_u64(&r, "the commit time");
			break;
		case PGO_ORIGIN:
			m->origin_lsn = read_u64(&r, "the origin's commit LSN");
			m->origin_name = read_string(&r, "the origin name");
			break;
		case PGO_RELATION:
			decode_relation(&r, m);
			break;
		case PGO_TYPE:
			m->type_oid = read_u32(&r, "the type ID");
			m->type_nspname = read_string_copy(&r, "the namespace");
			m->type_name = read_string_copy(&r, "the type name");
			break;
		case PGO_INSERT:
			m->relid = read_u32(&r, "the relation ID");
			tag = read_u8(&r, "the tuple tag");
			if (!r.failed && tag != 'N')
			{
				type_byte_text(tag, text);
				reader_fail(&r, "the tuple tag is %s instead of 'N'", text);
			}
			if (!r.failed)
				decode_tuple(&r, &m->new_tuple, "new tuple");
			break;
		case PGO_UPDATE:
			m->relid = read_u32(&r, "the relation ID");
			if (!r.failed)
				decode_update(&r, m);
			break;
		case PGO_DELETE:
			m->relid = read_u32(&r, "the relation ID");
			tag = read_u8(&r, "the tuple tag");
			if (!r.failed && tag != 'K' && tag != 'O')
			{
				type_byte_text(tag, text);
				reader_fail(&r, "the tuple tag is %s instead of 'K' or 'O'", text);
			}
			if (r.failed)
				break;
			m->has_old = true;
			m->old_kind = (char) tag;
			decode_tuple(&r, &m->old_tuple, "old tuple");
			break;
		case PGO_TRUNCATE:
			decode_truncate(&r, m);
			break;
		case PGO_MESSAGE:
			m->msg_flags = read_u8(&r, "the flags");
			m->msg_lsn = read_u64(&r, "the message's LSN");
			m->msg_prefix = read_string(&r, "the prefix");
			m->msg_len = read_u32(&r, "the content's length");
			if (!r.failed && m->msg_len > r.len - r.pos)
				reader_fail(&r, "the content claims %" PRIu32 " bytes, more than the %zu left",
							m->msg_len, r.len - r.pos);
			if (r.failed)
				break;
			m->msg_content = data + r.pos;
			r.pos += m->msg_len;
			break;
	}
	read_end(&r);
	if (r.failed)
	{
		pgo_message_clear(m);
		return -1;
	}
	return 0;
}

/*
 * tuple_clear: free a tuple's columns.
 */
static void
tuple_clear(PgoTuple *t)
{
	free(t->cols);
	t->cols = NULL;
	t->ncols = 0;
}

/*
 * pgo_message_clear: free what pgo_decode allocated in m and zero it.
 */
void
pgo_message_clear(PgoMessage *m)
{
	free(m->nspname);
	free(m->relname);
	for (int i = 0; i < m->nrelcols; i++)
		free(m->relcols[i].name);
	free(m->relcols);
	free(m->type_nspname);
	free(m->type_name);
	tuple_clear(&m->old_tuple);
	tuple_clear(&m->new_tuple);
	free(m->relids);
	memset(m, 0, sizeof(*m));
}

/*
 * same_columns: whether the Relation message m has the columns of a.
 */
static bool
same_columns(const PgoRelation *a, const PgoMessage *m)
{
	if (a->ncols != m->nrelcols)
		return false;
	for (int i = 0; i < a->ncols; i++)
	{
		const PgoRelColumn *x = &a->cols[i];
		const PgoRelColumn *y = &m->relcols[i];

		if (x->key != y->key || x->type_oid != y->type_oid ||
			x->typmod != y->typmod || strcmp(x->name, y->name) != 0)
			return false;
	}
	return true;
}

/*
 * pgo_relcache_init: an empty cache.
 */
void
pgo_relcache_init(PgoRelCache *c)
{
	c->slots = NULL;
	c->nslots = 0;
	c->count = 0;
}

/*
 * relcache_slot: the slot of relid: its entry's, or the free one where it
 * would go.  The table has a free slot (it is at most half full).
 */
static size_t
relcache_slot(const PgoRelCache *c, uint32_t relid)
{
	size_t		mask = c->nslots - 1;
	size_t		i = (size_t) ((relid * UINT32_C(2654435761)) & mask);

	while (c->slots[i] != NULL && c->slots[i]->relid != relid)
		i = (i + 1) & mask;
	return i;
}

/*
 * relation_free: an entry and what it holds.
 */
static void
relation_free(PgoRelation *rel)
{
	if (rel == NULL)
		return;
	free(rel->nspname);
	free(rel->relname);
	for (int i = 0; i < rel->ncols; i++)
		free(rel->cols[i].name);
	free(rel->cols);
	free(rel);
}

/*
 * relcache_grow: twice the slots (RELCACHE_MIN_SLOTS at first), the entries
 * moved over.
 */
static void
relcache_grow(PgoRelCache *c)
{
	PgoRelation **old = c->slots;
	size_t		nold = c->nslots;

	c->nslots = nold ? nold * 2 : RELCACHE_MIN_SLOTS;
	c->slots = pp_malloc(sizeof(PgoRelation *) * c->nslots);
	memset(c->slots, 0, sizeof(PgoRelation *) * c->nslots);
	for (size_t i = 0; i < nold; i++)
	{
		if (old[i] != NULL)
			c->slots[relcache_slot(c, old[i]->relid)] = old[i];
	}
	free(old);
}

/*
 * pgo_relcache_put: store the relation of a Relation message, replacing the
 * entry of its relid.
 */
const PgoRelation *
pgo_relcache_put(PgoRelCache *c, const PgoMessage *relation_msg)
{
	const PgoMessage *m = relation_msg;
	PgoRelation *rel;
	size_t		slot;

	if (m->type != PGO_RELATION)
		return NULL;
	if ((c->count + 1) * 2 > c->nslots)
		relcache_grow(c);
	rel = pp_malloc(sizeof(PgoRelation));
	rel->relid = m->relid;
	rel->nspname = pp_strdup(m->nspname);
	rel->relname = pp_strdup(m->relname);
	rel->replident = m->replident;
	rel->ncols = m->nrelcols;
	rel->cols = m->nrelcols ? pp_malloc(sizeof(PgoRelColumn) * (size_t) m->nrelcols) : NULL;
	for (int i = 0; i < m->nrelcols; i++)
	{
		rel->cols[i] = m->relcols[i];
		rel->cols[i].name = pp_strdup(m->relcols[i].name);
	}
	slot = relcache_slot(c, m->relid);
	if (c->slots[slot] == NULL)
	{
		rel->generation = 1;
		c->count++;
	}
	else
	{
		rel->generation = c->slots[slot]->generation +
			(same_columns(c->slots[slot], m) ? 0 : 1);
		relation_free(c->slots[slot]);
	}
	c->slots[slot] = rel;
	return rel;
}

/*
 * pgo_relcache_get: the entry of relid, or NULL.
 */
const PgoRelation *
pgo_relcache_get(const PgoRelCache *c, uint32_t relid)
{
	if (c->nslots == 0)
		return NULL;
	return c->slots[relcache_slot(c, relid)];
}

/*
 * pgo_relcache_free: every entry; the cache is empty after.
 */
void
pgo_relcache_free(PgoRelCache *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		relation_free(c->slots[i]);
	free(c->slots);
	pgo_relcache_init(c);
}
