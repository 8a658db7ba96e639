/*-------------------------------------------------------------------------
 *
 * puller/spool.h
 *		pgpull: keep a chunk's rows until its source transaction is over.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SPOOL_H
#define PGPULL_SPOOL_H

#include <stdio.h>

#include "error.h"
#include "extract.h"

/* rows kept in memory before the spool goes on in a temporary file */
#define SPOOL_MEMORY	(4 * 1024 * 1024)

typedef struct Spool
{
	Buf			mem;			/* the first rows, up to mem_limit bytes */
	size_t		mem_limit;		/* SPOOL_MEMORY unless set after spool_init */
	FILE	   *file;			/* the rest, in an unlinked temporary file */
	bool		to_file;		/* rows now go to the file */
	int64_t		nrows;
	int64_t		file_bytes;		/* written to the file */
	/* reading back */
	size_t		mem_pos;
	bool		reading_file;
	Buf			row;			/* a row read back from the file */
} Spool;

extern void spool_init(Spool *s);
extern int	spool_add(Spool *s, const CopyRow *row, PPError *err);
extern int	spool_rewind(Spool *s, PPError *err);
extern int	spool_next(Spool *s, CopyRow *row, PPError *err);
extern void spool_reset(Spool *s);
extern void spool_free(Spool *s);

#endif							/* PGPULL_SPOOL_H */
