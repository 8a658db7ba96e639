/*-------------------------------------------------------------------------
 *
 * puller/pgoutput.h
 *		pgpull: the streaming replication protocol's CopyData messages and
 *		the messages of the pgoutput plugin (protocol version 1).
 *
 * Everything here parses bytes from the server and trusts none of them:
 * every read is bounds-checked against the message, every count and length
 * against what is left of it, and a message with bytes left over is an
 * error too.  Errors are PPERR_STREAM, their message naming the message
 * type and what was wrong.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_PGOUTPUT_H
#define PGPULL_PGOUTPUT_H

#include "error.h"

/* seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch, in µs */
#define PGO_EPOCH_OFFSET_US	INT64_C(946684800000000)

/* the length of a standby status update ('r') */
#define PGO_STATUS_UPDATE_LEN	34

/* the replication protocol's CopyData messages from the server */
typedef enum PgoKind
{
	PGO_XLOGDATA,				/* 'w' */
	PGO_KEEPALIVE				/* 'k' */
} PgoKind;

typedef struct PgoCopyMsg
{
	PgoKind		kind;
	uint64_t	wal_start;		/* XLogData: start of the WAL data; keepalive:
								 * 0 */
	uint64_t	wal_end;		/* the server's current end of WAL */
	int64_t		send_time;		/* µs since 2000-01-01 */
	bool		reply_requested;	/* keepalive: reply now; XLogData: false */
	const char *data;			/* XLogData payload (one pgoutput message),
								 * pointing into the input; keepalive: NULL */
	size_t		len;
} PgoCopyMsg;

/* a CopyData message 'w' or 'k' (anything else is an error) */
extern int	pgo_parse_copy(const char *buf, size_t len, PgoCopyMsg *m,
						   PPError *err);

/*
 * the standby status update ('r'): write/flush/apply LSNs as given, the
 * client's clock and the reply flag; writes PGO_STATUS_UPDATE_LEN bytes
 * into out and returns that
 */
extern size_t pgo_status_update(char out[PGO_STATUS_UPDATE_LEN], uint64_t write,
								uint64_t flush, uint64_t apply,
								int64_t now_pg_us, bool reply);

/* µs since 2000-01-01 (PostgreSQL's epoch), from the wall clock */
extern int64_t pgo_now(void);

/* PostgreSQL epoch µs to Unix epoch µs */
extern int64_t pgo_to_unix_us(int64_t pg_us);

/* LSN text "X/X" (upper-case hex, as PostgreSQL writes it) both ways */
extern void pgo_lsn_text(uint64_t lsn, char out[32]);
extern bool pgo_parse_lsn(const char *text, uint64_t *lsn);

/*
 * one column of a tuple: kind 'n' (NULL), 'u' (unchanged TOASTed value, not
 * sent) or 't' (text: value/len point into the input, not NUL-terminated;
 * value is NULL and len 0 for 'n' and 'u')
 */
typedef struct PgoColumn
{
	char		kind;
	const char *value;
	uint32_t	len;
} PgoColumn;

/* a tuple: cols owned by the message struct (NULL when ncols is 0) */
typedef struct PgoTuple
{
	int			ncols;
	PgoColumn  *cols;
} PgoTuple;

/* a column of a Relation message */
typedef struct PgoRelColumn
{
	bool		key;			/* part of the replica identity */
	char	   *name;
	uint32_t	type_oid;
	int32_t		typmod;
} PgoRelColumn;

typedef enum PgoMsgType
{
	PGO_BEGIN = 'B',
	PGO_COMMIT = 'C',
	PGO_ORIGIN = 'O',
	PGO_RELATION = 'R',
	PGO_TYPE = 'Y',
	PGO_INSERT = 'I',
	PGO_UPDATE = 'U',
	PGO_DELETE = 'D',
	PGO_TRUNCATE = 'T',
	PGO_MESSAGE = 'M'
} PgoMsgType;

/* the truncate_options bits of a Truncate message */
#define PGO_TRUNCATE_CASCADE			1
#define PGO_TRUNCATE_RESTART_IDENTITY	2

/*
 * one pgoutput message; the fields of its type are set, the others are 0.
 * char * fields are allocated (freed by pgo_message_clear); const char *
 * fields point into the input.
 */
typedef struct PgoMessage
{
	PgoMsgType	type;
	/* B */
	uint64_t	final_lsn;
	int64_t		commit_time;	/* B and C: µs since 2000-01-01 */
	uint32_t	xid;
	/* C */
	uint8_t		flags;
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	/* R; relid for I, U, D too */
	uint32_t	relid;
	char	   *nspname;		/* "" for pg_catalog */
	char	   *relname;
	char		replident;		/* 'd', 'n', 'f' or 'i' */
	int			nrelcols;
	PgoRelColumn *relcols;
	/* Y */
	uint32_t	type_oid;
	char	   *type_nspname;
	char	   *type_name;
	/* I, U, D */
	bool		has_old;		/* U: an old tuple came; D: always */
	char		old_kind;		/* 'K' (key columns only) or 'O' (whole row) */
	PgoTuple	old_tuple;
	PgoTuple	new_tuple;		/* I, U */
	/* T */
	int			nrelids;
	uint32_t   *relids;
	uint8_t		truncate_options;	/* PGO_TRUNCATE_* bits */
	/* O */
	uint64_t	origin_lsn;
	const char *origin_name;	/* NUL-terminated, in the input */
	/* M */
	uint8_t		msg_flags;		/* 1: transactional */
	uint64_t	msg_lsn;
	const char *msg_prefix;		/* NUL-terminated, in the input */
	const char *msg_content;	/* msg_len bytes, in the input */
	uint32_t	msg_len;
} PgoMessage;

/*
 * pgo_decode: one pgoutput message (an XLogData payload, or a row's data of
 * pg_logical_slot_*_binary_changes).  m must be zeroed before its first use;
 * what an earlier decode left in it is freed first.  Returns 0, or -1 with
 * err set and m cleared.
 */
extern int	pgo_decode(const char *data, size_t len, PgoMessage *m,
					   PPError *err);

/* frees what pgo_decode allocated and zeroes m; safe to call twice */
extern void pgo_message_clear(PgoMessage *m);

/* a relation as the last Relation message for its relid described it */
typedef struct PgoRelation
{
	uint32_t	relid;
	char	   *nspname;
	char	   *relname;
	char		replident;
	int			ncols;
	PgoRelColumn *cols;
	uint64_t	generation;		/* 1 at first; +1 each time the column set
								 * changes */
} PgoRelation;

/* the relations seen, by relid (an open-addressing hash table) */
typedef struct PgoRelCache
{
	PgoRelation **slots;		/* NULL: free */
	size_t		nslots;			/* a power of two, or 0 */
	size_t		count;
} PgoRelCache;

extern void pgo_relcache_init(PgoRelCache *c);

/*
 * pgo_relcache_put: store a Relation message's relation (copying it),
 * replacing the entry of its relid; returns the stored entry, valid until the
 * next put of the same relid or pgo_relcache_free.  The generation goes up by
 * one when the column set (count, names, types, typmods, key flags) differs
 * from the entry's it replaces.  NULL when relation_msg is not a Relation
 * message.
 */
extern const PgoRelation *pgo_relcache_put(PgoRelCache *c,
										   const PgoMessage *relation_msg);

/* the entry of relid, or NULL */
extern const PgoRelation *pgo_relcache_get(const PgoRelCache *c,
										   uint32_t relid);

extern void pgo_relcache_free(PgoRelCache *c);

#endif							/* PGPULL_PGOUTPUT_H */
