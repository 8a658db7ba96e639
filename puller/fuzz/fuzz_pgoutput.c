/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_pgoutput.c
 *		pgpull: libFuzzer harness of the replication stream's decoder
 *		(pgoutput.c).
 *
 * The input is read three ways.  Whole, as one pgoutput message and as one
 * CopyData message of the replication stream (whose XLogData payload is
 * decoded in turn); as the text of an LSN; and as a sequence of messages,
 * each a 2-byte big-endian length and that many bytes (the last one what
 * is left), decoded into one message struct in turn, as the puller does,
 * the Relation messages kept in a relation cache that the changes look up.
 * Each message is copied into an allocation of its own size, so that a
 * read past its end shows in AddressSanitizer's report, and libFuzzer's
 * leak check sees what a decode leaves behind.
 *
 * What a decode gives must hold together: an error is PPERR_STREAM with a
 * message and leaves the struct zeroed; a decoded tuple's text values lie
 * inside the message, and 'n' and 'u' columns have none; an LSN that
 * parses writes back to text that parses to the same LSN.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"
#include "pieces.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *copy_input(const void *data, size_t size, bool terminate);
static void check_tuple(const PgoTuple *t, const char *msg, size_t len);
static void decode_one(const char *data, size_t len, PgoMessage *m,
					   PgoRelCache *cache);
static void parse_copy(const uint8_t *data, size_t size);
static void parse_lsn(const uint8_t *data, size_t size);

/*
 * copy_input: size bytes of data in an allocation of their own, just as
 * large (one byte when size is 0) or with a zero byte after them when
 * terminate; the caller frees it.
 */
static char *
copy_input(const void *data, size_t size, bool terminate)
{
	char	   *copy = malloc(size + (terminate || size == 0));

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	if (terminate)
		copy[size] = '\0';
	return copy;
}

/*
 * check_tuple: abort unless t's columns are what pgo_decode promises.
 */
static void
check_tuple(const PgoTuple *t, const char *msg, size_t len)
{
	if (t->ncols < 0 || (t->ncols == 0) != (t->cols == NULL))
		abort();
	for (int i = 0; i < t->ncols; i++)
	{
		const PgoColumn *c = &t->cols[i];

		if (c->kind == 't')
		{
			if (c->value < msg || c->len > len ||
				(size_t) (c->value - msg) > len - c->len)
				abort();
			(void) fuzz_hash(FUZZ_HASH_INIT, c->value, c->len);
		}
		else if ((c->kind != 'n' && c->kind != 'u') || c->value != NULL ||
				 c->len != 0)
			abort();
	}
}

/*
 * decode_one: decode data (len bytes) into m, copied into an allocation of
 * its own; check what came out, and keep a Relation in cache.
 */
static void
decode_one(const char *data, size_t len, PgoMessage *m, PgoRelCache *cache)
{
	static const PgoMessage zero;
	char	   *msg = copy_input(data, len, false);
	PPError		err;

	pp_error_init(&err);
	if (pgo_decode(msg, len, m, &err) != 0)
	{
		if (err.kind != PPERR_STREAM || err.message == NULL ||
			memcmp(m, &zero, sizeof(*m)) != 0)
			abort();
	}
	else
	{
		if (len == 0 || (char) m->type != msg[0])
			abort();
		check_tuple(&m->old_tuple, msg, len);
		check_tuple(&m->new_tuple, msg, len);
		if (m->type == PGO_RELATION)
		{
			const PgoRelation *rel = pgo_relcache_put(cache, m);

			if (rel == NULL || rel != pgo_relcache_get(cache, m->relid) ||
				rel->ncols != m->nrelcols || rel->generation < 1)
				abort();
		}
		else if (m->type == PGO_INSERT || m->type == PGO_UPDATE ||
				 m->type == PGO_DELETE)
			(void) pgo_relcache_get(cache, m->relid);
		if (m->type == PGO_MESSAGE)
			(void) fuzz_hash(FUZZ_HASH_INIT, m->msg_content, m->msg_len);
	}
	pp_error_clear(&err);
	free(msg);
}

/*
 * parse_copy: the input as a CopyData message; an XLogData's payload is
 * decoded too.
 */
static void
parse_copy(const uint8_t *data, size_t size)
{
	char	   *buf = copy_input(data, size, false);
	PgoCopyMsg	c;
	PgoMessage	m;
	PgoRelCache cache;
	PPError		err;

	pp_error_init(&err);
	memset(&m, 0, sizeof(m));
	pgo_relcache_init(&cache);
	if (pgo_parse_copy(buf, size, &c, &err) == 0)
	{
		if (c.kind == PGO_XLOGDATA)
		{
			if (c.data != buf + 25 || c.len != size - 25)
				abort();
			decode_one(c.data, c.len, &m, &cache);
		}
		else if (c.kind != PGO_KEEPALIVE || size != 18 || c.data != NULL)
			abort();
	}
	else if (err.kind != PPERR_STREAM || err.message == NULL)
		abort();
	pgo_message_clear(&m);
	pgo_relcache_free(&cache);
	pp_error_clear(&err);
	free(buf);
}

/*
 * parse_lsn: the input as the text of an LSN (up to its first zero byte).
 */
static void
parse_lsn(const uint8_t *data, size_t size)
{
	char	   *text = copy_input(data, size, true);
	char		back[32];
	uint64_t	lsn;
	uint64_t	again;

	if (pgo_parse_lsn(text, &lsn))
	{
		pgo_lsn_text(lsn, back);
		if (!pgo_parse_lsn(back, &again) || again != lsn)
			abort();
	}
	free(text);
}

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PgoMessage	m;
	PgoRelCache cache;
	size_t		pos = 0;

	memset(&m, 0, sizeof(m));
	pgo_relcache_init(&cache);
	decode_one((const char *) data, size, &m, &cache);
	parse_copy(data, size);
	parse_lsn(data, size);

	/* a sequence of messages into the same struct and cache */
	while (pos < size)
	{
		size_t		len = size - pos;

		if (len >= 2)
		{
			size_t		want = ((size_t) data[pos] << 8) | data[pos + 1];

			pos += 2;
			len = want < size - pos ? want : size - pos;
		}
		decode_one((const char *) data + pos, len, &m, &cache);
		pos += len;
	}
	pgo_message_clear(&m);
	pgo_relcache_free(&cache);
	return 0;
}
