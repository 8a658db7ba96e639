/*-------------------------------------------------------------------------
 *
 * puller/jobs.c
 *		pgpull: "sync --jobs N": streams and key ranges read by several
 *		processes at once.
 *
 * The run is one run: sync.c's sync_database begins it as with one
 * process, then jobs_begin forks N - 1 worker processes, and the puller
 * itself reads as the first.  A worker shares nothing of its parent's but
 * memory it does not use: it closes the parent's database sockets without
 * a word on them, opens its own source and state connections and makes its
 * own sink (sync_database again, which joins the parent's run through
 * jobs_join_run instead of beginning one), and dies with its parent
 * (PR_SET_PDEATHSIG, on Linux).
 *
 * The processes share, in anonymous MAP_SHARED memory, the next stream to
 * hand out and per stream whether it is read in key ranges and its
 * outcome.  Each process takes the streams one by one from the shared
 * counter, through pgpull.take_range, which cuts a large full_table stream
 * into key ranges and hands out a free one (72_ranges.sql); a stream read
 * in ranges is flagged, and every process comes back to it for another
 * free range before taking a new stream, until none is free.  A process
 * leaves when no stream is left to hand out and no first take of one is on
 * its way (one could flag a stream read in ranges).  The advisory locks of
 * the extension arbitrate the rest, between the processes of one puller as
 * between pullers on other hosts.
 *
 * At the end the workers report in the shared memory; the puller waits for
 * them (SIGINT and SIGTERM are passed on to them), counts the run's
 * streams by their worst outcome over the processes (failed, succeeded,
 * skipped), and ends the run.  With --jobs 1 there is no worker and the
 * same code hands out the streams in order, which leaves the sync as it
 * was, but that the key ranges of a stream another run cut are read one
 * after the other.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "conn.h"
#include "jobs.h"
#include "log.h"

#define JOBS_WAIT_SECONDS	0.05	/* between looks at the other processes */

/* outcomes of a stream, as bits: the worst one counts */
#define OUTCOME_SKIPPED		1
#define OUTCOME_SUCCEEDED	2
#define OUTCOME_FAILED		4
#define OUTCOME_NOT_STARTED	8

/* what the processes know of one stream of the run */
typedef struct JobsStream
{
	int			outcomes;		/* OUTCOME_ bits */
	int			ranged;			/* read in key ranges */
	int			exhausted;		/* no free range of it left for this puller */
} JobsStream;

/* a worker process, and its report */
typedef struct JobsWorker
{
	pid_t		pid;
	int			status;			/* from waitpid */
	bool		ended;
	bool		reported;
	bool		interrupted;
	bool		connect_failed;
	bool		failed;
	char		error[256];
} JobsWorker;

/* the memory the processes share */
typedef struct JobsShared
{
	int			next;			/* the next stream to hand out */
	int			resolving;		/* streams handed out whose first take is
								 * on its way */
	int			nworkers;
	JobsWorker	workers[JOBS_MAX];
	JobsStream	streams[];
} JobsShared;

static void take_ahead(SinkRun *run, const PullerOptions *o, const StreamInfo *s);
static void release_ahead(void);
static void wait_workers(void);
static void worker_outcome(JobsWorker *w, bool *connect_failed, bool *failed,
						   char **error);

static JobsShared *shared = NULL;
static size_t shared_size = 0;
static bool shared_mapped = false;

/* in a worker: its number (from 1), and the run of its parent */
static int	worker_no = 0;
static int64_t joined_run_id;
static StreamInfo *joined_streams;
static int	joined_nstreams;

/* the take jobs_next_stream made for the stream it returned */
static bool ahead = false;
static int64_t ahead_stream_id;
static int	ahead_rc;
static StreamPlan ahead_plan;
static PPError ahead_err;

/*
 * jobs_join_run: in a worker, the run its parent began and its streams
 * (returns true); in the puller itself, false.
 */
bool
jobs_join_run(int64_t *run_id, StreamInfo **streams, int *nstreams)
{
	if (worker_no == 0)
		return false;
	*run_id = joined_run_id;
	*streams = joined_streams;
	*nstreams = joined_nstreams;
	return true;
}

/*
 * jobs_begin: after the run began (run, on the state connection; source,
 * the source connection), set up the shared memory and start the o->jobs
 * - 1 workers.  A worker runs worker (sync_database) and exits with its
 * status; it never returns from here.  Nothing to do in a worker.  When the memory
 * or a process cannot be had, the run goes on with the processes it has.
 */
void
jobs_begin(const SinkRun *run, PGconn *source, PullerOptions *o,
		   StreamInfo *streams, int nstreams, JobsWorkerMain worker)
{
	if (worker_no > 0)
		return;
	shared_size = offsetof(JobsShared, streams) + sizeof(JobsStream) * (size_t) nstreams;
	shared_mapped = false;
	if (o->jobs > 1)
	{
		shared = mmap(NULL, shared_size, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (shared == MAP_FAILED)
		{
			runlog("WARNING", "could not share memory between processes: %s; reading with one process",
				   strerror(errno));
			shared = NULL;
		}
		else
			shared_mapped = true;
	}
	if (shared == NULL)
		shared = pp_malloc(shared_size);
	memset(shared, 0, shared_size);
	if (!shared_mapped)
		return;

	fflush(stdout);
	fflush(stderr);
	for (int w = 1; w < o->jobs && !pp_interrupted; w++)
	{
		pid_t		parent = getpid();
		pid_t		pid = fork();

		if (pid < 0)
		{
			runlog("WARNING", "could not start process %d of %d: %s", w + 1, o->jobs,
				   strerror(errno));
			break;
		}
		if (pid == 0)
		{
#ifdef __linux__
			(void) prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(EXIT_STREAM_FAILED);
#endif
			/* the parent's connections are its own: close, never use */
			close(PQsocket(run->state));
			if (source != NULL && PQsocket(source) >= 0)
				close(PQsocket(source));
			runlog_close();
			worker_no = w;
			joined_run_id = run->run_id;
			joined_streams = streams;
			joined_nstreams = nstreams;
			_exit(worker(o, NULL));
		}
		shared->workers[w].pid = pid;
		shared->nworkers = w;
	}
	if (shared->nworkers > 0)
		runlog_print("INFO", "reading with %d processes", shared->nworkers + 1);
}

/*
 * take_ahead: take stream s now (pgpull.take_range), for jobs_take to
 * give to sync_stream.
 */
static void
take_ahead(SinkRun *run, const PullerOptions *o, const StreamInfo *s)
{
	release_ahead();
	runlog_set_stream(s->destination_table, s->stream_id);
	pp_error_init(&ahead_err);
	ahead_rc = state_take_range(run->state, run->run_id, s->stream_id, o->jobs,
								o->chunk_rows, &ahead_plan, &ahead_err);
	ahead_stream_id = s->stream_id;
	ahead = true;
}

/*
 * release_ahead: forget a take made ahead and not given out.
 */
static void
release_ahead(void)
{
	if (!ahead)
		return;
	state_free_plan(&ahead_plan);
	pp_error_clear(&ahead_err);
	ahead = false;
}

/*
 * jobs_next_stream: the index of the next stream this process syncs, or
 * -1 when there is none left.  First another free key range of a stream
 * read in ranges, then the next stream not yet handed out; each taken
 * already (jobs_take gives the take to sync_stream), unless stopping (the
 * run is ending: the caller records the stream as not synced).  Waits
 * while another process's first take of a stream is on its way, which
 * could make a stream one read in ranges.
 */
int
jobs_next_stream(SinkRun *run, const PullerOptions *o, const StreamInfo *streams,
				 int nstreams, bool stopping)
{
	JobsShared *sh = shared;

	release_ahead();
	for (;;)
	{
		bool		settled;
		int			k;

		/* read in this order: a first take counts as resolving before next moves */
		settled = __atomic_load_n(&sh->next, __ATOMIC_SEQ_CST) >= nstreams &&
			__atomic_load_n(&sh->resolving, __ATOMIC_SEQ_CST) == 0;
		for (int j = 0; j < nstreams && !stopping; j++)
		{
			if (!__atomic_load_n(&sh->streams[j].ranged, __ATOMIC_SEQ_CST) ||
				__atomic_load_n(&sh->streams[j].exhausted, __ATOMIC_SEQ_CST))
				continue;
			take_ahead(run, o, &streams[j]);
			if (ahead_rc != 0 || ahead_plan.taken)
				return j;
			release_ahead();
			__atomic_store_n(&sh->streams[j].exhausted, 1, __ATOMIC_SEQ_CST);
		}

		__atomic_add_fetch(&sh->resolving, 1, __ATOMIC_SEQ_CST);
		k = __atomic_fetch_add(&sh->next, 1, __ATOMIC_SEQ_CST);
		if (k < nstreams)
		{
			if (!stopping)
			{
				take_ahead(run, o, &streams[k]);
				if (ahead_rc == 0 && ahead_plan.taken && ahead_plan.range_no > 0)
					__atomic_store_n(&sh->streams[k].ranged, 1, __ATOMIC_SEQ_CST);
			}
			__atomic_sub_fetch(&sh->resolving, 1, __ATOMIC_SEQ_CST);
			return k;
		}
		__atomic_sub_fetch(&sh->resolving, 1, __ATOMIC_SEQ_CST);
		if (settled || stopping || !conn_sleep(JOBS_WAIT_SECONDS))
			return -1;
	}
}

/*
 * jobs_take: take a stream for sync_stream: the take jobs_next_stream made
 * for it, else pgpull.take_range now.  Returns as state_take_stream.
 */
int
jobs_take(SinkRun *run, const PullerOptions *o, int64_t stream_id,
		  StreamPlan *plan, PPError *err)
{
	int			rc;

	if (!ahead || ahead_stream_id != stream_id)
		return state_take_range(run->state, run->run_id, stream_id, o->jobs,
								o->chunk_rows, plan, err);
	*plan = ahead_plan;
	memset(&ahead_plan, 0, sizeof(ahead_plan));
	rc = ahead_rc;
	if (rc != 0)
	{
		pp_error_clear(err);
		*err = ahead_err;
		pp_error_init(&ahead_err);
	}
	ahead = false;
	return rc;
}

/*
 * jobs_outcome: note the outcome of stream i (of one of its ranges, or of
 * the stream) for the run's count; returns it.
 */
StreamOutcome
jobs_outcome(int i, StreamOutcome outcome)
{
	int			bit = outcome == STREAM_FAILED ? OUTCOME_FAILED :
		outcome == STREAM_SUCCEEDED ? OUTCOME_SUCCEEDED :
		outcome == STREAM_NOT_STARTED ? OUTCOME_NOT_STARTED : OUTCOME_SKIPPED;

	__atomic_or_fetch(&shared->streams[i].outcomes, bit, __ATOMIC_SEQ_CST);
	return outcome;
}

/*
 * wait_workers: wait for every worker to exit, passing SIGINT or SIGTERM
 * on to them as SIGTERM.
 */
static void
wait_workers(void)
{
	bool		passed_on = false;

	for (;;)
	{
		int			alive = 0;

		for (int w = 1; w <= shared->nworkers; w++)
		{
			JobsWorker *jw = &shared->workers[w];

			pid_t		r;

			if (jw->ended)
				continue;
			r = waitpid(jw->pid, &jw->status, WNOHANG);
			if (r == jw->pid || (r < 0 && errno == ECHILD))
				jw->ended = true;
			else
				alive++;
		}
		if (alive == 0)
			return;
		if (pp_interrupted && !passed_on)
		{
			for (int w = 1; w <= shared->nworkers; w++)
				if (!shared->workers[w].ended)
					(void) kill(shared->workers[w].pid, SIGTERM);
			passed_on = true;
		}
		{
			struct timespec ts = {0, (long) (JOBS_WAIT_SECONDS * 1e9)};

			nanosleep(&ts, NULL);
		}
	}
}

/*
 * worker_outcome: what a worker's report and exit status add to the run's
 * outcome.
 */
static void
worker_outcome(JobsWorker *w, bool *connect_failed, bool *failed, char **error)
{
	char	   *why = NULL;

	if (w->reported)
	{
		*connect_failed |= w->connect_failed;
		*failed |= w->failed;
		if (w->error[0] != '\0')
			why = pp_strdup(w->error);
	}
	if (WIFEXITED(w->status) && WEXITSTATUS(w->status) == EXIT_CONNECT)
		*connect_failed = true;
	else if (WIFSIGNALED(w->status))
	{
		*failed = true;
		free(why);
		why = pp_psprintf("process %d of the run was terminated by signal %d",
						  (int) w->pid, WTERMSIG(w->status));
		runlog("ERROR", "%s", why);
	}
	else if (!w->reported && (!WIFEXITED(w->status) || WEXITSTATUS(w->status) != EXIT_OK))
	{
		*failed = true;
		free(why);
		why = pp_psprintf("process %d of the run failed before reading (exit status %d)",
						  (int) w->pid, WEXITSTATUS(w->status));
		runlog("ERROR", "%s", why);
	}
	if (why != NULL && *error == NULL)
		*error = why;
	else
		free(why);
}

/*
 * jobs_wait: in the puller, wait until every worker has ended (before the
 * changes of log_based streams are streamed: the workers may be copying
 * some).  Nothing in a worker or without workers.
 */
void
jobs_wait(void)
{
	if (shared != NULL && worker_no == 0)
		wait_workers();
}

/*
 * jobs_end: the end of a process's part of the run.  In a worker: report
 * to the puller (interrupted, connect_failed, failed, error) and return
 * true: the puller ends the run.  In the puller: wait for the workers, add
 * their reports to the flags and *error (when NULL), count the streams by
 * their worst outcome over the processes into *n_ok, *n_failed,
 * *n_skipped and *n_not_started (a stream handed out without an outcome,
 * or left with some of its key ranges read and others not started,
 * failed), and return false.
 */
bool
jobs_end(int nstreams, int *n_ok, int *n_failed, int *n_skipped,
		 int *n_not_started, bool *interrupted, bool *connect_failed, bool *failed, char **error)
{
	release_ahead();
	if (worker_no > 0)
	{
		JobsWorker *w = &shared->workers[worker_no];

		w->interrupted = *interrupted;
		w->connect_failed = *connect_failed;
		w->failed = *failed;
		if (*error != NULL)
			strncpy(w->error, *error, sizeof(w->error) - 1);
		__atomic_store_n(&w->reported, true, __ATOMIC_SEQ_CST);
		return true;
	}

	wait_workers();
	for (int w = 1; w <= shared->nworkers; w++)
	{
		*interrupted |= shared->workers[w].interrupted;
		worker_outcome(&shared->workers[w], connect_failed, failed, error);
	}
	*n_ok = *n_failed = *n_skipped = *n_not_started = 0;
	for (int i = 0; i < nstreams; i++)
	{
		int			o = shared->streams[i].outcomes;

		if (o & OUTCOME_FAILED || o == 0 ||
			(o & OUTCOME_NOT_STARTED && o & OUTCOME_SUCCEEDED))
			(*n_failed)++;
		else if (o & OUTCOME_NOT_STARTED)
			(*n_not_started)++;
		else if (o & OUTCOME_SUCCEEDED)
			(*n_ok)++;
		else
			(*n_skipped)++;
	}
	if (shared_mapped)
		munmap(shared, shared_size);
	else
		free(shared);
	shared = NULL;
	return false;
}
