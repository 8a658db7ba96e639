/*-------------------------------------------------------------------------
 *
 * puller/spool.c
 *		pgpull: keep a chunk's rows until its source transaction is over.
 *
 * No source transaction may wait on the destination: a slow destination
 * would hold the chunk's snapshot and its ACCESS SHARE lock on the table
 * (an ALTER TABLE queues behind it, and every query behind the ALTER), and
 * on a standby with hot_standby_feedback it would hold back vacuum on the
 * primary.  So sync.c reads a whole chunk into a spool, at the pace of the
 * source, commits, and only then hands the rows to the sink.
 *
 * The first SPOOL_MEMORY bytes of rows stay in memory; the rest go to a
 * temporary file in $TMPDIR (or /tmp), unlinked as soon as it is made so
 * that nothing is left behind however pgpull ends, and reused for every
 * chunk of the run.  Memory stays bounded whatever the chunk holds; the
 * file holds at most one chunk (--chunk-rows rows), or a whole relation
 * read in one pass (one without key columns).
 *
 * A row is kept as its sequence (64 bits) and four 32-bit integers in the
 * machine's own order (position length or -1 for NULL, lossy, cap length
 * or -1, row_json length), then the position, the cap and the row's JSON.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

typedef struct SpoolHeader
{
	int64_t		sequence;
	int32_t		position_len;
	int32_t		lossy;
	int32_t		cap_len;
	int32_t		row_json_len;
} SpoolHeader;

static const char *spool_dir(void);
static int	open_file(Spool *s, PPError *err);
static int	file_error(PPError *err, const char *what);
static size_t data_len(const SpoolHeader *h);
static void set_row(CopyRow *row, const SpoolHeader *h, const char *data);

/*
 * spool_dir: where the temporary file goes.
 */
static const char *
spool_dir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir != NULL && dir[0] != '\0' ? dir : "/tmp";
}

/*
 * file_error: set err for a failed write or read of the spool file.
 * Returns -1.
 */
static int
file_error(PPError *err, const char *what)
{
	pp_error_set(err, PPERR_STREAM, "could not %s the spool file in \"%s\": %s",
				 what, spool_dir(), strerror(errno != 0 ? errno : EIO));
	pp_error_detail(err, "pgpull keeps a chunk's rows in a temporary file until the source transaction is over.");
	pp_error_hint(err, "Free space there or point TMPDIR elsewhere; --chunk-rows bounds what a chunk keeps.");
	return -1;
}

/*
 * open_file: make the temporary file and unlink it at once.  Returns 0, or
 * -1 with err set.
 */
static int
open_file(Spool *s, PPError *err)
{
	char	   *path = pp_psprintf("%s/pgpull-spool-XXXXXX", spool_dir());
	int			fd = mkstemp(path);

	if (fd < 0)
	{
		free(path);
		return file_error(err, "create");
	}
	(void) unlink(path);
	free(path);
	s->file = fdopen(fd, "w+b");
	if (s->file == NULL)
	{
		close(fd);
		return file_error(err, "open");
	}
	return 0;
}

void
spool_init(Spool *s)
{
	memset(s, 0, sizeof(Spool));
	buf_init(&s->mem);
	s->mem_limit = SPOOL_MEMORY;
	buf_init(&s->row);
}

/*
 * spool_add: keep a copy of the row.  Returns 0, or -1 with err set (the
 * temporary file could not be made or written).
 */
int
spool_add(Spool *s, const CopyRow *row, PPError *err)
{
	SpoolHeader h;
	size_t		need = sizeof(h) + row->position_len + row->cap_len + row->row_json_len;

	h.position_len = row->position ? (int32_t) row->position_len : -1;
	h.sequence = row->sequence;
	h.lossy = row->lossy;
	h.cap_len = row->cap ? (int32_t) row->cap_len : -1;
	h.row_json_len = (int32_t) row->row_json_len;

	if (!s->to_file && s->mem.len + need > s->mem_limit && (s->mem.len > 0 || s->mem_limit == 0))
		s->to_file = true;
	if (!s->to_file)
	{
		buf_reserve(&s->mem, need);
		buf_append(&s->mem, &h, sizeof(h));
		if (row->position_len > 0)
			buf_append(&s->mem, row->position, row->position_len);
		if (row->cap_len > 0)
			buf_append(&s->mem, row->cap, row->cap_len);
		if (row->row_json_len > 0)
			buf_append(&s->mem, row->row_json, row->row_json_len);
	}
	else
	{
		if (s->file == NULL && open_file(s, err) != 0)
			return -1;
		errno = 0;
		if (fwrite(&h, sizeof(h), 1, s->file) != 1 ||
			(row->position_len > 0 &&
			 fwrite(row->position, row->position_len, 1, s->file) != 1) ||
			(row->cap_len > 0 && fwrite(row->cap, row->cap_len, 1, s->file) != 1) ||
			(row->row_json_len > 0 &&
			 fwrite(row->row_json, row->row_json_len, 1, s->file) != 1))
			return file_error(err, "write to");
		s->file_bytes += (int64_t) need;
	}
	s->nrows++;
	return 0;
}

/*
 * spool_rewind: read the rows back from the first one.  Returns 0, or -1
 * with err set.
 */
int
spool_rewind(Spool *s, PPError *err)
{
	s->mem_pos = 0;
	s->reading_file = false;
	if (s->file != NULL && s->file_bytes > 0)
	{
		errno = 0;
		if (fflush(s->file) != 0 || fseeko(s->file, 0, SEEK_SET) != 0)
			return file_error(err, "write to");
	}
	return 0;
}

/*
 * data_len: how many bytes follow header h.
 */
static size_t
data_len(const SpoolHeader *h)
{
	return (h->position_len < 0 ? 0 : (size_t) h->position_len) +
		(h->cap_len < 0 ? 0 : (size_t) h->cap_len) + (size_t) h->row_json_len;
}

/*
 * set_row: the row of header h whose bytes start at data.
 */
static void
set_row(CopyRow *row, const SpoolHeader *h, const char *data)
{
	size_t		pos_len = h->position_len < 0 ? 0 : (size_t) h->position_len;
	size_t		cap_len = h->cap_len < 0 ? 0 : (size_t) h->cap_len;

	row->position = h->position_len < 0 ? NULL : data;
	row->position_len = pos_len;
	row->lossy = h->lossy;
	row->sequence = h->sequence;
	row->cap = h->cap_len < 0 ? NULL : data + pos_len;
	row->cap_len = cap_len;
	row->row_json = data + pos_len + cap_len;
	row->row_json_len = (size_t) h->row_json_len;
}

/*
 * spool_next: the next row kept (its pointers are valid until the next
 * call).  Returns 1, 0 after the last, or -1 with err set.
 */
int
spool_next(Spool *s, CopyRow *row, PPError *err)
{
	SpoolHeader h;
	size_t		len;

	if (!s->reading_file)
	{
		if (s->mem_pos < s->mem.len)
		{
			memcpy(&h, s->mem.data + s->mem_pos, sizeof(h));
			set_row(row, &h, s->mem.data + s->mem_pos + sizeof(h));
			s->mem_pos += sizeof(h) + data_len(&h);
			return 1;
		}
		if (s->file == NULL || s->file_bytes == 0)
			return 0;
		s->reading_file = true;
	}
	errno = 0;
	if (fread(&h, sizeof(h), 1, s->file) != 1)
	{
		if (feof(s->file))
			return 0;
		return file_error(err, "read");
	}
	len = data_len(&h);
	buf_reset(&s->row);
	buf_reserve(&s->row, len);
	if (len > 0 && fread(s->row.data, len, 1, s->file) != 1)
		return file_error(err, "read");
	set_row(row, &h, s->row.data);
	return 1;
}

/*
 * spool_reset: forget the rows (the file is kept, emptied, for the next
 * chunk).
 */
void
spool_reset(Spool *s)
{
	buf_reset(&s->mem);
	if (s->file != NULL && s->file_bytes > 0)
	{
		rewind(s->file);
		if (ftruncate(fileno(s->file), 0) != 0)
		{
			/* a file that cannot shrink is dropped; the next chunk makes one */
			fclose(s->file);
			s->file = NULL;
		}
	}
	s->to_file = false;
	s->nrows = 0;
	s->file_bytes = 0;
	s->mem_pos = 0;
	s->reading_file = false;
}

void
spool_free(Spool *s)
{
	if (s->file != NULL)
		fclose(s->file);
	s->file = NULL;
	buf_free(&s->mem);
	buf_free(&s->row);
}
