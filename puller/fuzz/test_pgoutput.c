/*-------------------------------------------------------------------------
 *
 * puller/fuzz/test_pgoutput.c
 *		pgpull: unit test of the pgoutput decoder (pgoutput.c).
 *
 *	 test_pgoutput			the unit tests, as TAP ("ok N - ..." lines)
 *	 test_pgoutput FILE		decodes FILE, a pgoutput message a line in
 *							hex (encode(data, 'hex') of the rows of
 *							pg_logical_slot_peek_binary_changes), and
 *							prints a line describing each (see describe)
 *
 * The unit tests build each message byte by byte as the protocol documents
 * it, check every field decoded, then cut it at every length and append a
 * byte to it, each of which must be an error.  tests/t/007_pgoutput.pl runs
 * both under valgrind, the second on a real server's output.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

static int	tests_run = 0;
static int	tests_failed = 0;

static void check(bool ok, const char *fmt,...) PP_PRINTF(2, 3);
static void put_u8(Buf *b, unsigned v);
static void put_u16(Buf *b, unsigned v);
static void put_u32(Buf *b, uint32_t v);
static void put_u64(Buf *b, uint64_t v);
static void put_str(Buf *b, const char *s);
static void put_text_col(Buf *b, const char *s);
static bool col_is(const PgoColumn *c, char kind, const char *text);
static bool decode_ok(const Buf *b, PgoMessage *m, const char *what);
static void check_cuts(const Buf *b, const char *what);
static void test_transaction(void);
static void test_relation_and_type(PgoRelCache *cache);
static void test_changes(void);
static void test_truncate_and_message(void);
static void test_malformed(void);
static void test_copy_messages(void);
static void test_lsn_and_time(void);
static void test_relcache(void);
static void describe(const PgoMessage *m);
static int	decode_file(const char *path);

/*
 * check: one TAP line.
 */
static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	tests_run++;
	if (!ok)
		tests_failed++;
	printf("%sok %d - ", ok ? "" : "not ", tests_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/*
 * put_u8, put_u16, put_u32, put_u64, put_str: append a field as the
 * protocol writes it (big-endian; strings NUL-terminated).
 */
static void
put_u8(Buf *b, unsigned v)
{
	char		c = (char) v;

	buf_append(b, &c, 1);
}

static void
put_u16(Buf *b, unsigned v)
{
	put_u8(b, (v >> 8) & 0xFF);
	put_u8(b, v & 0xFF);
}

static void
put_u32(Buf *b, uint32_t v)
{
	put_u16(b, v >> 16);
	put_u16(b, v & 0xFFFF);
}

static void
put_u64(Buf *b, uint64_t v)
{
	put_u32(b, (uint32_t) (v >> 32));
	put_u32(b, (uint32_t) v);
}

static void
put_str(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s) + 1);
}

/*
 * put_text_col: a TupleData column 't' holding s.
 */
static void
put_text_col(Buf *b, const char *s)
{
	put_u8(b, 't');
	put_u32(b, (uint32_t) strlen(s));
	buf_append(b, s, strlen(s));
}

/*
 * col_is: whether a decoded column is of kind, with text (for 't') as its
 * value.
 */
static bool
col_is(const PgoColumn *c, char kind, const char *text)
{
	if (c->kind != kind)
		return false;
	if (kind != 't')
		return c->value == NULL && c->len == 0;
	return c->len == strlen(text) && memcmp(c->value, text, c->len) == 0;
}

/*
 * decode_ok: decode b into m; one check that it worked.
 */
static bool
decode_ok(const Buf *b, PgoMessage *m, const char *what)
{
	PPError		err;
	int			rc;

	pp_error_init(&err);
	rc = pgo_decode(b->data, b->len, m, &err);
	check(rc == 0, "%s decodes%s%s", what, rc ? ": " : "",
		  rc ? err.message : "");
	pp_error_clear(&err);
	return rc == 0;
}

/*
 * check_cuts: b's message cut at every length, and with a byte more, is an
 * error of kind PPERR_STREAM naming the message, and leaves the message
 * struct zeroed.  One check for all.
 */
static void
check_cuts(const Buf *b, const char *what)
{
	PgoMessage	m;
	PgoMessage	zero;
	PPError		err;
	char	   *longer = pp_malloc(b->len + 1);
	size_t		bad = SIZE_MAX;

	memset(&m, 0, sizeof(m));
	memset(&zero, 0, sizeof(zero));
	pp_error_init(&err);
	memcpy(longer, b->data, b->len);
	longer[b->len] = 0;
	for (size_t n = 0; n <= b->len + 1 && bad == SIZE_MAX; n++)
	{
		const char *data = n <= b->len ? b->data : longer;
		char	   *cut;

		if (n == b->len)
			continue;
		/* an allocation of its own, so that a read past it shows */
		cut = pp_malloc(n);
		memcpy(cut, data, n);
		if (pgo_decode(cut, n, &m, &err) != -1 || err.kind != PPERR_STREAM ||
			err.message == NULL || memcmp(&m, &zero, sizeof(m)) != 0 ||
			(n > 0 && strstr(err.message, " message") == NULL))
			bad = n;
		free(cut);
		pp_error_clear(&err);
		pgo_message_clear(&m);
	}
	check(bad == SIZE_MAX, "%s: cut at each of its %zu lengths or one byte longer, an error",
		  what, b->len);
	if (bad != SIZE_MAX)
		printf("# %s: not the error expected at length %zu\n", what, bad);
	free(longer);
}

/*
 * test_transaction: Begin, Commit, Origin.
 */
static void
test_transaction(void)
{
	Buf			b;
	PgoMessage	m;

	memset(&m, 0, sizeof(m));
	buf_init(&b);
	put_u8(&b, 'B');
	put_u64(&b, UINT64_C(0x0000000116B37480));
	put_u64(&b, (uint64_t) INT64_C(818035200123456));
	put_u32(&b, 0xFFFFFFF0u);
	if (decode_ok(&b, &m, "Begin"))
		check(m.type == PGO_BEGIN && m.final_lsn == UINT64_C(0x0000000116B37480) &&
			  m.commit_time == INT64_C(818035200123456) && m.xid == 0xFFFFFFF0u,
			  "Begin: final LSN, commit time, xid");
	check_cuts(&b, "Begin");

	buf_reset(&b);
	put_u8(&b, 'C');
	put_u8(&b, 0);
	put_u64(&b, UINT64_C(0x0000000116B37480));
	put_u64(&b, UINT64_C(0x0000000116B374B0));
	put_u64(&b, (uint64_t) INT64_C(-5));
	if (decode_ok(&b, &m, "Commit"))
		check(m.type == PGO_COMMIT && m.flags == 0 &&
			  m.commit_lsn == UINT64_C(0x0000000116B37480) &&
			  m.end_lsn == UINT64_C(0x0000000116B374B0) && m.commit_time == -5,
			  "Commit: flags, commit LSN, end LSN, commit time (negative)");
	check_cuts(&b, "Commit");

	buf_reset(&b);
	put_u8(&b, 'O');
	put_u64(&b, UINT64_C(0x1234));
	put_str(&b, "node_a");
	if (decode_ok(&b, &m, "Origin"))
		check(m.type == PGO_ORIGIN && m.origin_lsn == 0x1234 &&
			  strcmp(m.origin_name, "node_a") == 0,
			  "Origin: LSN and name");
	check_cuts(&b, "Origin");
	pgo_message_clear(&m);
	buf_free(&b);
}

/*
 * test_relation_and_type: Relation with three columns, one of them the
 * key, stored in cache; Type.
 */
static void
test_relation_and_type(PgoRelCache *cache)
{
	Buf			b;
	PgoMessage	m;
	const PgoRelation *rel;

	memset(&m, 0, sizeof(m));
	buf_init(&b);
	put_u8(&b, 'R');
	put_u32(&b, 16384);
	put_str(&b, "public");
	put_str(&b, "items");
	put_u8(&b, 'd');
	put_u16(&b, 3);
	put_u8(&b, 1);
	put_str(&b, "id");
	put_u32(&b, 23);
	put_u32(&b, 0xFFFFFFFFu);
	put_u8(&b, 0);
	put_str(&b, "name");
	put_u32(&b, 25);
	put_u32(&b, 0xFFFFFFFFu);
	put_u8(&b, 0);
	put_str(&b, "");
	put_u32(&b, 1700);
	put_u32(&b, (10 << 16 | 2) + 4);
	if (decode_ok(&b, &m, "Relation"))
	{
		check(m.type == PGO_RELATION && m.relid == 16384 &&
			  strcmp(m.nspname, "public") == 0 && strcmp(m.relname, "items") == 0 &&
			  m.replident == 'd' && m.nrelcols == 3,
			  "Relation: relid, names, replica identity, column count");
		check(m.relcols[0].key && strcmp(m.relcols[0].name, "id") == 0 &&
			  m.relcols[0].type_oid == 23 && m.relcols[0].typmod == -1 &&
			  !m.relcols[1].key && strcmp(m.relcols[1].name, "name") == 0 &&
			  m.relcols[1].type_oid == 25 && m.relcols[1].typmod == -1 &&
			  !m.relcols[2].key && strcmp(m.relcols[2].name, "") == 0 &&
			  m.relcols[2].type_oid == 1700 && m.relcols[2].typmod == ((10 << 16 | 2) + 4),
			  "Relation: each column's key flag, name (one empty), type and typmod");
		rel = pgo_relcache_put(cache, &m);
		check(rel != NULL && rel == pgo_relcache_get(cache, 16384) &&
			  rel->generation == 1 && rel->ncols == 3 &&
			  rel->nspname != m.nspname && strcmp(rel->relname, "items") == 0 &&
			  strcmp(rel->cols[1].name, "name") == 0 && rel->cols[0].key,
			  "Relation: stored in the cache, copied, generation 1");
	}
	check_cuts(&b, "Relation");

	buf_reset(&b);
	put_u8(&b, 'Y');
	put_u32(&b, 16500);
	put_str(&b, "public");
	put_str(&b, "mood");
	if (decode_ok(&b, &m, "Type"))
		check(m.type == PGO_TYPE && m.type_oid == 16500 &&
			  strcmp(m.type_nspname, "public") == 0 &&
			  strcmp(m.type_name, "mood") == 0 && m.nspname == NULL,
			  "Type: OID, namespace, name; the Relation's fields freed and zeroed");
	check_cuts(&b, "Type");
	pgo_message_clear(&m);
	pgo_message_clear(&m);
	buf_free(&b);
}

/*
 * test_changes: Insert with n, u and t columns; Update with a key tuple and
 * without an old tuple; Delete with the old row.
 */
static void
test_changes(void)
{
	Buf			b;
	PgoMessage	m;

	memset(&m, 0, sizeof(m));
	buf_init(&b);
	put_u8(&b, 'I');
	put_u32(&b, 16384);
	put_u8(&b, 'N');
	put_u16(&b, 4);
	put_text_col(&b, "42");
	put_u8(&b, 'n');
	put_u8(&b, 'u');
	put_text_col(&b, "");
	if (decode_ok(&b, &m, "Insert"))
		check(m.type == PGO_INSERT && m.relid == 16384 && !m.has_old &&
			  m.old_tuple.ncols == 0 && m.new_tuple.ncols == 4 &&
			  col_is(&m.new_tuple.cols[0], 't', "42") &&
			  col_is(&m.new_tuple.cols[1], 'n', NULL) &&
			  col_is(&m.new_tuple.cols[2], 'u', NULL) &&
			  col_is(&m.new_tuple.cols[3], 't', "") &&
			  m.new_tuple.cols[0].value > b.data && m.new_tuple.cols[0].value < b.data + b.len,
			  "Insert: relid and the columns t, n, u, empty t (pointing into the input)");
	check_cuts(&b, "Insert");

	buf_reset(&b);
	put_u8(&b, 'U');
	put_u32(&b, 16384);
	put_u8(&b, 'K');
	put_u16(&b, 3);
	put_text_col(&b, "41");
	put_u8(&b, 'n');
	put_u8(&b, 'n');
	put_u8(&b, 'N');
	put_u16(&b, 3);
	put_text_col(&b, "42");
	put_text_col(&b, "new name");
	put_u8(&b, 'u');
	if (decode_ok(&b, &m, "Update with a key tuple"))
		check(m.type == PGO_UPDATE && m.relid == 16384 && m.has_old &&
			  m.old_kind == 'K' && m.old_tuple.ncols == 3 &&
			  col_is(&m.old_tuple.cols[0], 't', "41") &&
			  col_is(&m.old_tuple.cols[1], 'n', NULL) &&
			  col_is(&m.old_tuple.cols[2], 'n', NULL) &&
			  m.new_tuple.ncols == 3 && col_is(&m.new_tuple.cols[0], 't', "42") &&
			  col_is(&m.new_tuple.cols[1], 't', "new name") &&
			  col_is(&m.new_tuple.cols[2], 'u', NULL),
			  "Update with a key tuple: old K tuple and new tuple");
	check_cuts(&b, "Update with a key tuple");

	buf_reset(&b);
	put_u8(&b, 'U');
	put_u32(&b, 16385);
	put_u8(&b, 'N');
	put_u16(&b, 2);
	put_text_col(&b, "7");
	put_u8(&b, 'u');
	if (decode_ok(&b, &m, "Update without an old tuple"))
		check(m.type == PGO_UPDATE && m.relid == 16385 && !m.has_old &&
			  m.old_kind == 0 && m.old_tuple.ncols == 0 && m.old_tuple.cols == NULL &&
			  m.new_tuple.ncols == 2 && col_is(&m.new_tuple.cols[0], 't', "7") &&
			  col_is(&m.new_tuple.cols[1], 'u', NULL),
			  "Update without an old tuple: new tuple only");
	check_cuts(&b, "Update without an old tuple");

	buf_reset(&b);
	put_u8(&b, 'D');
	put_u32(&b, 16386);
	put_u8(&b, 'O');
	put_u16(&b, 3);
	put_text_col(&b, "9");
	put_text_col(&b, "gone");
	put_u8(&b, 'n');
	if (decode_ok(&b, &m, "Delete with the old row"))
		check(m.type == PGO_DELETE && m.relid == 16386 && m.has_old &&
			  m.old_kind == 'O' && m.old_tuple.ncols == 3 &&
			  col_is(&m.old_tuple.cols[0], 't', "9") &&
			  col_is(&m.old_tuple.cols[1], 't', "gone") &&
			  col_is(&m.old_tuple.cols[2], 'n', NULL) && m.new_tuple.ncols == 0,
			  "Delete: old O tuple");
	check_cuts(&b, "Delete");

	buf_reset(&b);
	put_u8(&b, 'D');
	put_u32(&b, 16386);
	put_u8(&b, 'K');
	put_u16(&b, 0);
	if (decode_ok(&b, &m, "Delete with an empty key tuple"))
		check(m.old_kind == 'K' && m.old_tuple.ncols == 0 && m.old_tuple.cols == NULL,
			  "Delete: a tuple of no columns");
	pgo_message_clear(&m);
	buf_free(&b);
}

/*
 * test_truncate_and_message: Truncate of two relations; a logical decoding
 * message.
 */
static void
test_truncate_and_message(void)
{
	Buf			b;
	PgoMessage	m;

	memset(&m, 0, sizeof(m));
	buf_init(&b);
	put_u8(&b, 'T');
	put_u32(&b, 2);
	put_u8(&b, PGO_TRUNCATE_CASCADE | PGO_TRUNCATE_RESTART_IDENTITY);
	put_u32(&b, 16384);
	put_u32(&b, 0xFFFFFFFEu);
	if (decode_ok(&b, &m, "Truncate"))
		check(m.type == PGO_TRUNCATE && m.nrelids == 2 && m.relids[0] == 16384 &&
			  m.relids[1] == 0xFFFFFFFEu && m.truncate_options == 3,
			  "Truncate: relids and options");
	check_cuts(&b, "Truncate");

	buf_reset(&b);
	put_u8(&b, 'M');
	put_u8(&b, 1);
	put_u64(&b, UINT64_C(0xABCDEF0012345678));
	put_str(&b, "pfx");
	put_u32(&b, 6);
	buf_append(&b, "he\0llo", 6);
	if (decode_ok(&b, &m, "Message"))
		check(m.type == PGO_MESSAGE && m.msg_flags == 1 &&
			  m.msg_lsn == UINT64_C(0xABCDEF0012345678) &&
			  strcmp(m.msg_prefix, "pfx") == 0 && m.msg_len == 6 &&
			  memcmp(m.msg_content, "he\0llo", 6) == 0,
			  "Message: flags, LSN, prefix, content with a zero byte");
	check_cuts(&b, "Message");
	pgo_message_clear(&m);
	buf_free(&b);
}

/*
 * test_malformed: what the cuts do not reach: unknown types and kinds,
 * counts and lengths beyond the message.
 */
static void
test_malformed(void)
{
	static const struct
	{
		const char *what;
		const char *bytes;
		size_t		len;
		const char *says;
	}			cases[] = {
		{"unknown message type", "X\0\0\0", 4, "type 'X'"},
		{"unknown message type 0", "\0", 1, "type 0x00"},
		{"streamed transaction start (version 2)", "S\0\0\0\1\1", 6, "type 'S'"},
		{"Insert tag K", "I\0\0\0\1K\0\0", 8, "instead of 'N'"},
		{"Update tag X", "U\0\0\0\1X\0\0", 8, "instead of 'N', 'K' or 'O'"},
		{"Update K then K", "U\0\0\0\1K\0\0K\0\0", 11, "instead of 'N'"},
		{"Delete tag N", "D\0\0\0\1N\0\0", 8, "instead of 'K' or 'O'"},
		{"binary column", "I\0\0\0\1N\0\1b\0\0\0\0", 13, "binary"},
		{"unknown column kind", "I\0\0\0\1N\0\1x", 9, "unknown kind 'x'"},
		{"negative column count", "I\0\0\0\1N\377\377", 8, "claims -1 columns"},
		{"column count beyond the message", "I\0\0\0\1N\0\3nn", 10, "claims 3 columns"},
		{"negative column length", "I\0\0\0\1N\0\1t\377\377\377\377", 13, "negative length -1"},
		{"column length beyond the message", "I\0\0\0\1N\0\1t\0\0\0\2x", 14, "claims 2 bytes, more than the 1 left"},
		{"huge relation count", "T\177\377\377\377\0\0\0\0\1", 10, "claims 2147483647 relations"},
		{"relation column count beyond the message", "R\0\0\0\1\0t\0d\0\1\0x\0\0\0\1\0\0\0", 20, "claims 1 column in"},
		{"unknown replica identity", "R\0\0\0\1\0t\0x\0\0", 11, "unknown replica identity 'x'"},
		{"unterminated name", "Y\0\0\0\1pub", 8, "no terminating zero byte"},
		{"message content beyond the message", "M\0\0\0\0\0\0\0\0\0p\0\0\0\0\5abc", 20, "claims 5 bytes"},
		{"empty", "", 0, "empty"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		PgoMessage	m;
		PPError		err;
		char	   *copy = pp_malloc(cases[i].len);
		int			rc;

		memset(&m, 0, sizeof(m));
		pp_error_init(&err);
		memcpy(copy, cases[i].bytes, cases[i].len);
		rc = pgo_decode(copy, cases[i].len, &m, &err);
		check(rc == -1 && err.kind == PPERR_STREAM && err.message != NULL &&
			  strstr(err.message, cases[i].says) != NULL,
			  "%s: an error saying \"%s\" (%s)", cases[i].what, cases[i].says,
			  err.message ? err.message : "no error");
		pp_error_clear(&err);
		pgo_message_clear(&m);
		free(copy);
	}
}

/*
 * test_copy_messages: XLogData, keepalive, the status update.
 */
static void
test_copy_messages(void)
{
	Buf			b;
	PgoCopyMsg	c;
	PPError		err;
	char		out[PGO_STATUS_UPDATE_LEN];
	static const unsigned char expected[PGO_STATUS_UPDATE_LEN] = {
		'r',
		0, 0, 0, 1, 0x16, 0xB3, 0x74, 0x80,
		0, 0, 0, 1, 0x16, 0xB3, 0x74, 0x81,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0, 0x02, 0xE7, 0x05, 0xA0, 0x84, 0x41, 0xC0,
		1
	};
	size_t		n;
	int			rc;
	bool		cuts_fail = true;

	pp_error_init(&err);
	buf_init(&b);
	put_u8(&b, 'w');
	put_u64(&b, 0x100);
	put_u64(&b, 0x200);
	put_u64(&b, 12345);
	put_u8(&b, 'B');
	rc = pgo_parse_copy(b.data, b.len, &c, &err);
	check(rc == 0 && c.kind == PGO_XLOGDATA && c.wal_start == 0x100 &&
		  c.wal_end == 0x200 && c.send_time == 12345 && !c.reply_requested &&
		  c.data == b.data + 25 && c.len == 1,
		  "XLogData: WAL start and end, send time, the payload");
	for (size_t i = 0; i < 25; i++)
		if (pgo_parse_copy(b.data, i, &c, &err) != -1 || err.kind != PPERR_STREAM)
			cuts_fail = false;
	pp_error_clear(&err);
	check(cuts_fail, "XLogData: cut short of its header, an error");
	rc = pgo_parse_copy(b.data, 25, &c, &err);
	check(rc == 0 && c.len == 0, "XLogData: an empty payload");

	buf_reset(&b);
	put_u8(&b, 'k');
	put_u64(&b, 0x300);
	put_u64(&b, (uint64_t) INT64_C(-1));
	put_u8(&b, 1);
	rc = pgo_parse_copy(b.data, b.len, &c, &err);
	check(rc == 0 && c.kind == PGO_KEEPALIVE && c.wal_end == 0x300 &&
		  c.send_time == -1 && c.reply_requested && c.data == NULL && c.len == 0,
		  "keepalive: WAL end, send time, reply requested");
	cuts_fail = true;
	for (size_t i = 0; i < b.len; i++)
		if (pgo_parse_copy(b.data, i, &c, &err) != -1 || err.kind != PPERR_STREAM)
			cuts_fail = false;
	put_u8(&b, 0);
	if (pgo_parse_copy(b.data, b.len, &c, &err) != -1)
		cuts_fail = false;
	check(cuts_fail, "keepalive: cut at every length or a byte longer, an error");
	rc = pgo_parse_copy("r", 1, &c, &err);
	check(rc == -1 && strstr(err.message, "type 'r'") != NULL,
		  "a status update from the server: an error (%s)", err.message);
	pp_error_clear(&err);

	n = pgo_status_update(out, UINT64_C(0x116B37480), UINT64_C(0x116B37481),
						  UINT64_MAX, INT64_C(0x2E705A08441C0), true);
	check(n == PGO_STATUS_UPDATE_LEN && memcmp(out, expected, n) == 0,
		  "status update: 'r', write, flush, apply, clock, reply flag");
	pgo_status_update(out, 0, 0, 0, 0, false);
	check(out[0] == 'r' && out[33] == 0, "status update: no reply asked");
	buf_free(&b);
}

/*
 * test_lsn_and_time: LSN text both ways; the clock and the epochs.
 */
static void
test_lsn_and_time(void)
{
	static const char *const bad[] = {"", "/", "0/", "/0", "0", "0/0/0",
		"123456789/0", "0/123456789", "0/0 ", " 0/0", "0/g", "-1/0", "0x1/0"};
	char		text[32];
	uint64_t	lsn = 1;
	bool		all_bad = true;
	int64_t		now = pgo_now();

	pgo_lsn_text(UINT64_C(0x16B374D848), text);
	check(strcmp(text, "16/B374D848") == 0, "LSN text: %s", text);
	pgo_lsn_text(0, text);
	check(strcmp(text, "0/0") == 0, "LSN text of 0: %s", text);
	pgo_lsn_text(UINT64_MAX, text);
	check(strcmp(text, "FFFFFFFF/FFFFFFFF") == 0 && pgo_parse_lsn(text, &lsn) &&
		  lsn == UINT64_MAX, "LSN text of the largest, and back");
	check(pgo_parse_lsn("16/b374d848", &lsn) && lsn == UINT64_C(0x16B374D848),
		  "LSN parsed, lower case");
	check(pgo_parse_lsn("00000000/00000001", &lsn) && lsn == 1,
		  "LSN parsed, eight digits each");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		lsn = 7;
		if (pgo_parse_lsn(bad[i], &lsn) || lsn != 7)
		{
			all_bad = false;
			printf("# \"%s\" parsed as an LSN\n", bad[i]);
		}
	}
	check(all_bad, "not LSNs: refused, the LSN left alone");
	check(pgo_to_unix_us(0) == INT64_C(946684800000000),
		  "2000-01-01 in Unix µs");
	/* 2026-01-01 and 2100-01-01 in PostgreSQL µs */
	check(now > INT64_C(820454400000000) && now < INT64_C(3155760000000000),
		  "the clock in PostgreSQL µs: %" PRId64, now);
}

/*
 * test_relcache: generations, many relations, reuse of a message struct.
 */
static void
test_relcache(void)
{
	PgoRelCache cache;
	PgoMessage	m;
	PgoRelColumn cols[2] = {{true, "id", 23, -1}, {false, "v", 25, -1}};
	const PgoRelation *rel;
	bool		all_found = true;

	pgo_relcache_init(&cache);
	check(pgo_relcache_get(&cache, 1) == NULL, "relcache: empty");
	memset(&m, 0, sizeof(m));
	m.type = PGO_RELATION;
	m.relid = 5;
	m.nspname = "s";
	m.relname = "t";
	m.replident = 'f';
	m.nrelcols = 2;
	m.relcols = cols;
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 1 && rel->replident == 'f', "relcache: first entry, generation 1");
	m.relname = "t_renamed";
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 1 && strcmp(rel->relname, "t_renamed") == 0,
		  "relcache: same columns, renamed: generation 1, new name");
	cols[1].typmod = 8;
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 2, "relcache: typmod changed: generation 2");
	cols[1].key = true;
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 3, "relcache: key flag changed: generation 3");
	cols[1].name = "w";
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 4, "relcache: name changed: generation 4");
	cols[0].type_oid = 20;
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 5, "relcache: type changed: generation 5");
	m.nrelcols = 1;
	rel = pgo_relcache_put(&cache, &m);
	check(rel->generation == 6 && rel->ncols == 1, "relcache: a column dropped: generation 6");
	m.nrelcols = 0;
	m.relcols = NULL;
	for (uint32_t id = 100; id < 1100; id++)
	{
		m.relid = id * 16;
		pgo_relcache_put(&cache, &m);
	}
	for (uint32_t id = 100; id < 1100; id++)
	{
		rel = pgo_relcache_get(&cache, id * 16);
		if (rel == NULL || rel->relid != id * 16 || rel->generation != 1)
			all_found = false;
	}
	rel = pgo_relcache_get(&cache, 5);
	check(all_found && cache.count == 1001 && rel != NULL && rel->generation == 6 &&
		  pgo_relcache_get(&cache, 17) == NULL,
		  "relcache: 1001 relations, each found, others not");
	m.type = PGO_INSERT;
	check(pgo_relcache_put(&cache, &m) == NULL, "relcache: an Insert is not stored");
	pgo_relcache_free(&cache);
	pgo_relcache_free(&cache);
	check(cache.count == 0 && pgo_relcache_get(&cache, 5) == NULL,
		  "relcache: freed twice, empty");
}

/*
 * describe: one line for a decoded message, as 007_pgoutput.pl reads it:
 * the type letter and its fields; a tuple as its column kinds, "t" with
 * its length ("t5").
 */
static void
describe(const PgoMessage *m)
{
	const PgoTuple *tuples[2] = {&m->old_tuple, &m->new_tuple};
	const char *labels[2] = {"old", "new"};

	printf("%c", (char) m->type);
	switch (m->type)
	{
		case PGO_BEGIN:
			printf(" xid=%" PRIu32, m->xid);
			break;
		case PGO_COMMIT:
			printf(" end=%" PRIX64, m->end_lsn);
			break;
		case PGO_RELATION:
			printf(" %" PRIu32 " %s.%s %c", m->relid, m->nspname, m->relname,
				   m->replident);
			for (int i = 0; i < m->nrelcols; i++)
				printf(" %s:%" PRIu32 "%s", m->relcols[i].name,
					   m->relcols[i].type_oid, m->relcols[i].key ? ":key" : "");
			break;
		case PGO_INSERT:
		case PGO_UPDATE:
		case PGO_DELETE:
			printf(" %" PRIu32, m->relid);
			if (m->has_old)
				printf(" %c", m->old_kind);
			for (int t = 0; t < 2; t++)
			{
				if (tuples[t]->ncols == 0 && !(t == 0 ? m->has_old : m->type != PGO_DELETE))
					continue;
				printf(" %s=", labels[t]);
				for (int i = 0; i < tuples[t]->ncols; i++)
				{
					const PgoColumn *c = &tuples[t]->cols[i];

					printf(i ? ",%c" : "%c", c->kind);
					if (c->kind == 't')
						printf("%" PRIu32, c->len);
				}
			}
			break;
		case PGO_TYPE:
			printf(" %" PRIu32 " %s.%s", m->type_oid, m->type_nspname, m->type_name);
			break;
		case PGO_TRUNCATE:
			printf(" options=%u", m->truncate_options);
			for (int i = 0; i < m->nrelids; i++)
				printf(" %" PRIu32, m->relids[i]);
			break;
		case PGO_MESSAGE:
			printf(" %s %" PRIu32, m->msg_prefix, m->msg_len);
			break;
		default:
			break;
	}
	printf("\n");
}

/*
 * decode_file: decode each hex line of path, describing it; 0 when every
 * line decoded, else 1.
 */
static int
decode_file(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		got;
	PgoMessage	m;
	PPError		err;
	PgoRelCache cache;
	int			status = 0;

	if (f == NULL)
	{
		perror(path);
		return 1;
	}
	memset(&m, 0, sizeof(m));
	pp_error_init(&err);
	pgo_relcache_init(&cache);
	while ((got = getline(&line, &cap, f)) > 0)
	{
		size_t		n = 0;
		char	   *bytes;

		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		bytes = pp_malloc((size_t) got / 2);
		for (ssize_t i = 0; i + 1 < got; i += 2)
		{
			unsigned	v;

			if (sscanf(line + i, "%2x", &v) != 1)
				break;
			bytes[n++] = (char) v;
		}
		if (pgo_decode(bytes, n, &m, &err) == 0)
		{
			describe(&m);
			if (m.type == PGO_RELATION)
				pgo_relcache_put(&cache, &m);
			else if ((m.type == PGO_INSERT || m.type == PGO_UPDATE) &&
					 pgo_relcache_get(&cache, m.relid) == NULL)
			{
				printf("error: a change of relation %" PRIu32 " before its Relation message\n",
					   m.relid);
				status = 1;
			}
		}
		else
		{
			printf("error: %s\n", err.message);
			status = 1;
		}
		free(bytes);
	}
	free(line);
	fclose(f);
	pgo_message_clear(&m);
	pp_error_clear(&err);
	pgo_relcache_free(&cache);
	return status;
}

int
main(int argc, char **argv)
{
	PgoRelCache cache;

	if (argc == 2)
		return decode_file(argv[1]);
	pgo_relcache_init(&cache);
	test_transaction();
	test_relation_and_type(&cache);
	test_changes();
	test_truncate_and_message();
	test_malformed();
	test_copy_messages();
	test_lsn_and_time();
	test_relcache();
	pgo_relcache_free(&cache);
	printf("1..%d\n", tests_run);
	return tests_failed ? 1 : 0;
}
