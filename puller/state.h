/*-------------------------------------------------------------------------
 *
 * puller/state.h
 *		pgpull: calls of the run protocol (README.md, "The run protocol").
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_STATE_H
#define PGPULL_STATE_H

#include <libpq-fe.h>

#include "error.h"

/* one stream of a run, from pgpull.begin_run */
typedef struct StreamInfo
{
	int64_t		stream_id;
	char	   *relation_name;
	char	   *destination_table;	/* with --all-databases, prefixed
									 * "<database>__" once the run began */
	char	   *method;
	char	   *replication_key;	/* NULL for full_table */
	char	   *bookmark;		/* NULL when none */
} StreamInfo;

/* what pgpull.take_stream (or pgpull.take_range) answers */
typedef struct StreamPlan
{
	bool		taken;
	char	   *json_schema;	/* JSON object text */
	char	   *key_names;		/* JSON array text of names */
	char	   *bookmark_properties;	/* JSON array text of names */
	bool		chunked;
	bool		has_table_version;
	int64_t		table_version;
	int			range_no;		/* take_range: the key range taken, from 1;
								 * 0 for the whole stream */
	int			range_count;	/* and how many the stream has */
	bool		changes;		/* log_based: rows of changes from the slot
								 * (position: the LSN), not of a copy */
	bool		more;			/* log_based: the stream goes on in the run
								 * (a window after the first, or a new column
								 * list): the sink keeps its counts */
} StreamPlan;

/* one stream of pgpull.plan: what a run would extract */
typedef struct PlanStream
{
	int64_t		stream_id;
	char	   *relation_name;
	char	   *destination_table;
	char	   *method;
	char	   *replication_key;	/* NULL for full_table */
	char	   *bookmark;		/* NULL when none */
	char	   *resume_position;	/* NULL when none */
	bool		chunked;
	int64_t		estimated_rows; /* -1 when unknown */
	char	   *query;			/* NULL when not asked for, or none */
	char	   *note;			/* why there is no query, or NULL */
} PlanStream;

extern int	state_version(PGconn *conn, const char *which, PPError *err);
extern int	state_plan(PGconn *conn, const char *integration, int chunk_rows,
					   bool queries, PlanStream **streams, int *nstreams,
					   PPError *err);
extern void state_free_plan_streams(PlanStream *streams, int nstreams);
extern int	state_begin_run(PGconn *conn, const char *integration,
							const char *puller_version, const char *target_kind,
							int64_t *run_id, StreamInfo **streams, int *nstreams,
							PPError *err);
extern void state_free_streams(StreamInfo *streams, int nstreams);
extern int	state_take_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
							  StreamPlan *plan, PPError *err);
extern int	state_take_range(PGconn *conn, int64_t run_id, int64_t stream_id,
							 int jobs, int chunk_rows, StreamPlan *plan,
							 PPError *err);
extern void state_free_plan(StreamPlan *plan);
extern int	state_extraction_query(PGconn *conn, int64_t run_id, int64_t stream_id,
								   const char *after_position, int chunk_rows,
								   char **query, PPError *err);
extern int	state_record_batch(PGconn *conn, int64_t run_id, int64_t stream_id,
							   int64_t rows, int64_t bytes,
							   const char *last_position, int64_t lossy,
							   PPError *err);
extern int	state_record_cap(PGconn *conn, int64_t run_id, int64_t stream_id,
							 const char *cap, int64_t rows, PPError *err);
/* a stream with nothing new, as pgpull.record_unchanged recorded it */
typedef struct UnchangedStream
{
	int64_t		stream_id;
	char	   *message;		/* its extraction log line */
	char	   *entry;			/* Singer: its STATE entry (JSON text), or NULL */
} UnchangedStream;

extern int	state_probe_query(PGconn *conn, int64_t run_id, char **query,
							  PPError *err);
extern int	state_record_unchanged(PGconn *conn, int64_t run_id,
								   const int64_t *ids, int n,
								   UnchangedStream **results, int *nresults,
								   PPError *err);
extern void state_free_unchanged(UnchangedStream *results, int nresults);
extern int	state_log(PGconn *conn, int64_t run_id, int64_t stream_id,
					  const char *level, const char *message, PPError *err);
extern int	state_end_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
							 const char *status, int64_t rows_extracted,
							 const char *error, PPError *err);
extern int	state_end_run(PGconn *conn, int64_t run_id, const char *status,
						  const char *error, PPError *err);

/* Singer: record_emitted, end_singer_stream, commit_state */
extern int	state_record_emitted(PGconn *conn, int64_t run_id, int64_t stream_id,
								 int64_t rows, int64_t bytes,
								 const char *last_position, int64_t lossy,
								 bool complete, char **entry, PPError *err);
extern int	state_end_singer_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
									const char *status, int64_t rows_extracted,
									const char *error, PPError *err);

/* one row of pgpull.commit_state */
typedef struct CommitResult
{
	char	   *stream;
	bool		moved;
	char	   *bookmark;		/* NULL when none */
	char	   *detail;
} CommitResult;

extern int	state_commit(PGconn *conn, const char *state_json, size_t len,
						 CommitResult **results, int *nresults, PPError *err);
extern void state_free_commit(CommitResult *results, int nresults);

/* log_based streams (README.md, "Log-based replication") */
typedef struct SlotPlan
{
	char	   *action;			/* none, create, recreate, stream, drop, busy */
	char	   *slot_name;
	char	   *publication_name;
	char	   *confirmed_lsn;	/* NULL when none */
	char	   *message;		/* for the run's log, or NULL */
} SlotPlan;

/* what pgpull.log_query answers for one column list of a relation */
typedef struct LogQuery
{
	char	   *query;
	char	   *json_schema;
	int		   *key_indexes;	/* where the key columns are in the list */
	int			nkeys;
} LogQuery;

extern int	state_slot_plan(PGconn *conn, int64_t run_id, SlotPlan *plan, PPError *err);
extern void state_free_slot_plan(SlotPlan *plan);
extern int	state_slot_call(PGconn *conn, const char *function, int64_t run_id,
							const char *lsn, PPError *err);
extern char *state_slot_blockers(PGconn *conn, int64_t run_id, PPError *err);
extern int	state_copy_sequence(PGconn *conn, int64_t run_id, int64_t stream_id,
								int64_t *sequence, PPError *err);
extern int	state_take_log_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
								  StreamPlan *plan, uint32_t *relid, PPError *err);
extern int	state_log_query(PGconn *conn, int64_t run_id, int64_t stream_id,
							const char *const *columns, int ncolumns, LogQuery *q,
							PPError *err);
extern void state_free_log_query(LogQuery *q);
extern int	state_slot_state_entry(PGconn *conn, int64_t run_id, const char *lsn,
								   char **entry, PPError *err);
extern PGresult *state_log_rows(PGconn *conn, const char *query, const char *changes,
								PPError *err);

#endif							/* PGPULL_STATE_H */
