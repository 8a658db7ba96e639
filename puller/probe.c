/*-------------------------------------------------------------------------
 *
 * puller/probe.c
 *		pgpull: the streams of a run with nothing new.
 *
 * Before its streams, a run finds out which key_based streams have nothing
 * to send: the extension writes one statement for them all
 * (pgpull.probe_query, an index probe per stream past its bookmark), which
 * runs on the source connection as the puller's role, never on the state
 * database (the primary of a replica source is not the source).  The
 * streams it names are recorded with one call (pgpull.record_unchanged):
 * they succeed in the run without being taken, sending nothing and moving
 * no bookmark; the sink hears of each (a Singer STATE still carries their
 * bookmarks).  The run then syncs the others as usual.  When the probe
 * fails (a relation the puller's role may not read, say), a warning says
 * so and every stream is synced, whose own errors say what is wrong.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"

static int	run_probe(PGconn *source, const char *query, int64_t **ids, int *nids,
					  PPError *err);

/*
 * run_probe: run the probe's statement on the source; the stream IDs it
 * returns go to *ids (the caller frees them).  Returns 0, or -1 with err
 * set.
 */
static int
run_probe(PGconn *source, const char *query, int64_t **ids, int *nids,
		  PPError *err)
{
	PGresult   *res = PQexec(source, query);
	int			n;

	*ids = NULL;
	*nids = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		pp_error_from_pg(err, PPERR_STREAM, source, res, NULL);
		if (res)
			PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	*ids = pp_malloc(sizeof(int64_t) * (size_t) (n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
		(*ids)[i] = (int64_t) strtoll(PQgetvalue(res, i, 0), NULL, 10);
	*nids = n;
	PQclear(res);
	return 0;
}

/*
 * probe_unchanged: record the streams of the run with nothing new, and
 * set unchanged[i] for each of streams[0..nstreams-1] recorded.  Returns
 * how many were.  A failure is a warning and records none (a broken state
 * connection sets run->state_lost); the run syncs every stream then.
 */
int
probe_unchanged(PGconn *source, SinkRun *run, Sink *sink,
				const StreamInfo *streams, int nstreams, bool *unchanged)
{
	PPError		err;
	char	   *query = NULL;
	int64_t    *ids = NULL;
	int			nids = 0;
	UnchangedStream *done = NULL;
	int			ndone = 0;
	int			probed = 0;
	int			recorded = 0;

	for (int i = 0; i < nstreams; i++)
		if (strcmp(streams[i].method, "key_based") == 0 && streams[i].bookmark != NULL)
			probed++;
	if (probed == 0)
		return 0;

	pp_error_init(&err);
	if (state_probe_query(run->state, run->run_id, &query, &err) != 0)
	{
		if (err.kind == PPERR_CONNECT)
			run->state_lost = true;
		runlog("WARNING", "could not find the streams with nothing new, so every stream is synced: %s",
			   err.message);
		goto done;
	}
	if (query == NULL)
		goto done;
	if (run_probe(source, query, &ids, &nids, &err) != 0)
	{
		runlog("WARNING", "could not find the streams with nothing new, so every stream is synced: %s",
			   err.message);
		goto done;
	}
	runlog_print("DEBUG", "probe: %d of %d %s with a bookmark %s nothing new",
				 nids, probed, pp_plural(probed, "stream", "streams"),
				 nids == 1 ? "has" : "have");
	if (nids == 0)
		goto done;
	if (state_record_unchanged(run->state, run->run_id, ids, nids, &done, &ndone, &err) != 0)
	{
		if (err.kind == PPERR_CONNECT)
			run->state_lost = true;
		runlog("WARNING", "could not record the streams with nothing new, so every stream is synced: %s",
			   err.message);
		goto done;
	}
	for (int j = 0; j < ndone; j++)
	{
		for (int i = 0; i < nstreams; i++)
		{
			if (streams[i].stream_id != done[j].stream_id || unchanged[i])
				continue;
			unchanged[i] = true;
			recorded++;
			runlog_print_stream(streams[i].destination_table, "INFO", "%s",
								done[j].message ? done[j].message : "nothing new");
			if (sink->methods->unchanged_stream && done[j].entry &&
				sink->methods->unchanged_stream(sink, &streams[i], done[j].entry, &err) != 0)
			{
				runlog("WARNING", "%s", err.message);
				pp_error_clear(&err);
			}
			break;
		}
	}

done:
	pp_error_clear(&err);
	free(query);
	free(ids);
	state_free_unchanged(done, ndone);
	return recorded;
}
