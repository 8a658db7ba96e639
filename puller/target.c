/*-------------------------------------------------------------------------
 *
 * puller/target.c
 *		pgpull: where Singer messages go: standard output, or a target
 *		program run as a child.
 *
 * "--target -" writes the messages to standard output.  "--target-command
 * CMD" runs CMD through /bin/sh as a child in a process group of its own,
 * with a pipe for its standard input (the messages) and one for its
 * standard output (the states it echoes after storing rows); its standard
 * error is ours.  Every other descriptor is closed in the child, and its
 * environment is ours without the secrets a target has no use for
 * (CHILD_HIDDEN: the destination token and the database password).
 *
 * Messages are gathered in a buffer and written when the caller flushes:
 * after each STATE, and whenever the buffer holds more than TARGET_BUFFER
 * bytes (target_buffer_full).
 * Writing to a child polls both pipes: a target that prints states while
 * it reads never blocks on a full pipe, and each complete line it prints
 * goes to the echo callback as it arrives.  A target that stops reading
 * (EPIPE: SIGPIPE is ignored) makes the writes fail; nothing is retried.
 *
 * The child is reaped on every path: target_finish closes its standard
 * input, reads what it still prints and waits for it; target_kill (errors,
 * SIGINT and SIGTERM) sends SIGTERM to its process group, then SIGKILL
 * after KILL_GRACE seconds.  On Linux the child also gets SIGTERM when
 * pgpull dies without that.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "conn.h"
#include "log.h"
#include "target.h"

#define ECHO_READ		65536	/* bytes read from the target at once */
#define ECHO_LINE_MAX	(64 * 1024 * 1024)	/* longer echoed lines are dropped */
#define KILL_GRACE		5		/* seconds between SIGTERM and SIGKILL */

/* environment variables the child does not get */
static const char *const CHILD_HIDDEN[] = {"PGPULL_TOKEN=", "PGPASSWORD="};

extern char **environ;

static char **child_environment(void);
static void child_exec(const char *command, char **env, int in_fd,
					   int out_fd) __attribute__((noreturn));
static void set_nonblock(int fd);
static void read_echo(Target *t);
static void deliver_lines(Target *t);
static bool child_exited(Target *t, bool wait);
static int	write_some(Target *t, PPError *err);

/*
 * target_init_stdout: messages go to standard output.
 */
void
target_init_stdout(Target *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->out);
	buf_init(&t->echo);
	t->fd = STDOUT_FILENO;
	t->echo_fd = -1;
}

/*
 * child_environment: our environment without the CHILD_HIDDEN variables,
 * for the child (made before fork: the child only calls exec).  The
 * caller frees the array, not the strings, which are environ's.
 */
static char **
child_environment(void)
{
	size_t		n = 0;
	char	  **env;

	for (char **e = environ; *e; e++)
		n++;
	env = pp_malloc((n + 1) * sizeof(char *));
	n = 0;
	for (char **e = environ; *e; e++)
	{
		bool		hidden = false;

		for (size_t i = 0; i < sizeof(CHILD_HIDDEN) / sizeof(CHILD_HIDDEN[0]); i++)
			if (strncmp(*e, CHILD_HIDDEN[i], strlen(CHILD_HIDDEN[i])) == 0)
				hidden = true;
		if (!hidden)
			env[n++] = *e;
	}
	env[n] = NULL;
	return env;
}

/*
 * child_exec: in the child (pp_fork_child): the pipes as standard input
 * and output, nothing else open, then /bin/sh -c command with the
 * environment env.  Never returns.
 */
static void
child_exec(const char *command, char **env, int in_fd, int out_fd)
{
	static const char failed[] = "pgpull: error: could not run /bin/sh for --target-command\n";

	/* above 2 first: a pipe may have got descriptor 0 or 1 */
	in_fd = fcntl(in_fd, F_DUPFD, 3);
	out_fd = fcntl(out_fd, F_DUPFD, 3);
	if (in_fd < 0 || out_fd < 0 ||
		dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	closefrom(3);
	execle("/bin/sh", "sh", "-c", command, (char *) NULL, env);
	if (write(STDERR_FILENO, failed, sizeof(failed) - 1) < 0)
		_exit(127);
	_exit(127);
}

/*
 * set_nonblock: make our end of a pipe non-blocking.
 */
static void
set_nonblock(int fd)
{
	int			flags = fcntl(fd, F_GETFL);

	if (flags >= 0)
		(void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * target_start: run command as the Singer target; on_echo gets each line
 * it prints.  Returns 0, or -1 with err set (the target is not running).
 */
int
target_start(Target *t, const char *command, TargetEchoFn on_echo, void *arg,
			 PPError *err)
{
	int			in[2];
	int			out[2];
	pid_t		pid;
	char	  **env;

	target_init_stdout(t);
	t->fd = -1;
	t->on_echo = on_echo;
	t->echo_arg = arg;
	if (pipe(in) != 0)
	{
		pp_error_set(err, PPERR_STREAM, "could not create a pipe for the Singer target: %s", strerror(errno));
		return -1;
	}
	if (pipe(out) != 0)
	{
		pp_error_set(err, PPERR_STREAM, "could not create a pipe for the Singer target: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	/* the child keeps only its own ends, as 0 and 1 */
	for (int i = 0; i < 2; i++)
	{
		(void) fcntl(in[i], F_SETFD, FD_CLOEXEC);
		(void) fcntl(out[i], F_SETFD, FD_CLOEXEC);
	}

	env = child_environment();
	pid = pp_fork_child();
	if (pid == 0)
		child_exec(command, env, in[0], out[1]);
	free(env);
	close(in[0]);
	close(out[1]);
	if (pid < 0)
	{
		pp_error_set(err, PPERR_STREAM, "could not start the Singer target: %s", strerror(errno));
		close(in[1]);
		close(out[0]);
		return -1;
	}
	t->pid = pid;
	t->fd = in[1];
	t->echo_fd = out[0];
	set_nonblock(t->fd);
	set_nonblock(t->echo_fd);
	return 0;
}

/*
 * deliver_lines: hand each complete line of the echo buffer to the
 * callback (without its line ending) and keep the rest.
 */
static void
deliver_lines(Target *t)
{
	size_t		start = 0;
	char	   *nl;

	while ((nl = memchr(t->echo.data + start, '\n', t->echo.len - start)) != NULL)
	{
		size_t		len = (size_t) (nl - (t->echo.data + start));

		if (t->echo_skip)
			t->echo_skip = false;
		else
		{
			if (len > 0 && t->echo.data[start + len - 1] == '\r')
				len--;
			t->echo.data[start + len] = '\0';
			if (t->on_echo)
				t->on_echo(t->echo_arg, t->echo.data + start, len);
		}
		start = (size_t) (nl - t->echo.data) + 1;
	}
	if (start > 0)
	{
		memmove(t->echo.data, t->echo.data + start, t->echo.len - start);
		t->echo.len -= start;
		t->echo.data[t->echo.len] = '\0';
	}
	if (t->echo.len > ECHO_LINE_MAX)
	{
		if (!t->echo_skip)
			runlog("WARNING", "the Singer target printed a line longer than %d bytes: skipped",
				   ECHO_LINE_MAX);
		t->echo_skip = true;
		buf_reset(&t->echo);
	}
}

/*
 * target_echo_data: take len bytes the target printed and deliver the
 * lines they complete.  read_echo's, and the fuzz harness's
 * (puller/fuzz/), way in.
 */
void
target_echo_data(Target *t, const char *data, size_t len)
{
	buf_append(&t->echo, data, len);
	deliver_lines(t);
}

/*
 * read_echo: read what the target printed (once; the descriptor is
 * non-blocking) and deliver the complete lines.  At its end, delivers an
 * unterminated last line and closes the descriptor.
 */
static void
read_echo(Target *t)
{
	char		chunk[ECHO_READ];
	ssize_t		n;

	if (t->echo_fd < 0)
		return;
	n = read(t->echo_fd, chunk, sizeof(chunk));
	if (n > 0)
	{
		target_echo_data(t, chunk, (size_t) n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	/* the end (or an error reading: the same for us) */
	if (n < 0)
		runlog("WARNING", "could not read the standard output of the Singer target: %s", strerror(errno));
	if (t->echo.len > 0)
		target_echo_data(t, "\n", 1);
	close(t->echo_fd);
	t->echo_fd = -1;
}

/*
 * target_poll_echo: deliver the lines the target has printed so far,
 * without waiting.
 */
void
target_poll_echo(Target *t)
{
	while (t->echo_fd >= 0)
	{
		struct pollfd p;

		p.fd = t->echo_fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 0) <= 0 || p.revents == 0)
			return;
		read_echo(t);
		if (t->echo_fd >= 0 && (p.revents & POLLIN) == 0)
			return;
	}
}

/*
 * write_some: one write() of the buffered messages.  Returns 0 (maybe
 * nothing written: EAGAIN or EINTR), or -1 with err set when the target no
 * longer reads.
 */
static int
write_some(Target *t, PPError *err)
{
	ssize_t		n;

	n = write(t->fd, t->out.data + t->out_pos, t->out.len - t->out_pos);
	if (n >= 0)
	{
		t->out_pos += (size_t) n;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	t->broken = true;
	if (errno == EPIPE)
		pp_error_set(err, PPERR_STREAM, "the Singer target stopped reading its input");
	else
		pp_error_set(err, PPERR_STREAM, "could not write to the Singer target: %s", strerror(errno));
	if (t->pid == 0)
		pp_error_detail(err, "Standard output was closed before pgpull wrote every message.");
	return -1;
}

/*
 * target_buffer_full: whether more than TARGET_BUFFER bytes of messages
 * wait to be written.
 */
bool
target_buffer_full(const Target *t)
{
	return t->out.len - t->out_pos > TARGET_BUFFER;
}

/*
 * target_flush: write the buffered messages.  Lines the target prints
 * meanwhile go to the echo callback.  Returns 0, or -1 with err set: the
 * target stopped reading (t->broken), or SIGINT/SIGTERM.
 */
int
target_flush(Target *t, PPError *err)
{
	if (t->broken || t->fd < 0)
	{
		pp_error_set(err, PPERR_STREAM, "the Singer target stopped reading its input");
		return -1;
	}
	while (t->out_pos < t->out.len)
	{
		if (pp_interrupted)
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while writing to the Singer target");
			return -1;
		}
		if (t->pid == 0)
		{
			/* standard output, blocking */
			if (write_some(t, err) != 0)
				return -1;
		}
		else
		{
			struct pollfd p[2];
			int			np = 1;

			p[0].fd = t->fd;
			p[0].events = POLLOUT;
			p[0].revents = 0;
			if (t->echo_fd >= 0)
			{
				p[1].fd = t->echo_fd;
				p[1].events = POLLIN;
				p[1].revents = 0;
				np = 2;
			}
			if (poll(p, np, 1000) < 0)
			{
				if (errno == EINTR)
					continue;
				pp_error_set(err, PPERR_STREAM, "could not wait for the Singer target: %s", strerror(errno));
				return -1;
			}
			if (np == 2 && p[1].revents != 0)
				read_echo(t);
			if (p[0].revents != 0 && write_some(t, err) != 0)
				return -1;
		}
	}
	buf_reset(&t->out);
	t->out_pos = 0;
	if (t->pid != 0)
		target_poll_echo(t);
	return 0;
}

/*
 * child_exited: whether the child has been reaped (waiting for it when
 * wait is true; interrupted waits return false).
 */
static bool
child_exited(Target *t, bool wait)
{
	pid_t		r;

	if (t->pid == 0 || t->reaped)
		return true;
	r = waitpid(t->pid, &t->wait_status, wait ? 0 : WNOHANG);
	if (r == t->pid)
	{
		t->reaped = true;
		return true;
	}
	if (r < 0 && errno == ECHILD)
	{
		t->reaped = true;
		t->wait_status = 0;
		return true;
	}
	return false;
}

/*
 * target_finish: the end of the messages.  Writes what is buffered; for a
 * child, closes its standard input, delivers what it still prints until it
 * ends, and waits for it.  Returns 0 when everything was written and the
 * child exited with status 0; -1 with err set otherwise (the child is
 * reaped in every case, killed when interrupted).
 */
int
target_finish(Target *t, PPError *err)
{
	int			rc = 0;
	PPError		werr;

	pp_error_init(&werr);
	if (!t->broken && t->fd >= 0 && t->out_pos < t->out.len &&
		target_flush(t, &werr) != 0)
		rc = -1;
	if (t->pid == 0)
	{
		if (rc != 0)
		{
			pp_error_clear(err);
			*err = werr;
		}
		return rc;
	}
	if (t->fd >= 0)
	{
		close(t->fd);
		t->fd = -1;
	}

	/*
	 * Read until the target closes its standard output, or, once it has
	 * exited, until nothing more comes (something it started may keep the
	 * pipe open).
	 */
	while (t->echo_fd >= 0 && !pp_interrupted)
	{
		struct pollfd p;
		int			n;

		p.fd = t->echo_fd;
		p.events = POLLIN;
		p.revents = 0;
		n = poll(&p, 1, 200);
		if (n > 0)
			read_echo(t);
		else if (n == 0 && child_exited(t, false))
			break;
	}
	if (t->echo_fd >= 0)
	{
		close(t->echo_fd);
		t->echo_fd = -1;
	}
	while (!pp_interrupted && !child_exited(t, true))
		;
	if (pp_interrupted && !t->reaped)
	{
		target_kill(t);
		pp_error_clear(&werr);
		pp_error_set(err, PPERR_INTERRUPTED, "interrupted while waiting for the Singer target");
		return -1;
	}

	if (WIFEXITED(t->wait_status) && WEXITSTATUS(t->wait_status) == 0)
	{
		if (rc != 0)
		{
			pp_error_clear(err);
			*err = werr;
		}
		return rc;
	}
	pp_error_clear(&werr);
	if (WIFEXITED(t->wait_status))
		pp_error_set(err, PPERR_STREAM, "the Singer target exited with status %d",
					 WEXITSTATUS(t->wait_status));
	else if (WIFSIGNALED(t->wait_status))
		pp_error_set(err, PPERR_STREAM, "the Singer target was terminated by signal %d: %s",
					 WTERMSIG(t->wait_status), strsignal(WTERMSIG(t->wait_status)));
	else
		pp_error_set(err, PPERR_STREAM, "the Singer target ended with wait status %d", t->wait_status);
	pp_error_detail(err, "What it confirmed before it ended stays confirmed; the next run sends the rest again.");
	return -1;
}

/*
 * target_kill: stop the child at once (after an error, or on SIGINT or
 * SIGTERM): close its pipes, SIGTERM to its process group, SIGKILL after
 * KILL_GRACE seconds, and reap it.  Nothing for standard output.
 */
void
target_kill(Target *t)
{
	struct timespec start;
	struct timespec now;

	if (t->fd >= 0 && t->pid != 0)
	{
		close(t->fd);
		t->fd = -1;
	}
	if (t->echo_fd >= 0)
	{
		close(t->echo_fd);
		t->echo_fd = -1;
	}
	if (t->pid == 0 || t->reaped)
		return;
	(void) kill(-t->pid, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!child_exited(t, false))
	{
		struct timespec nap = {0, 20 * 1000 * 1000};

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= KILL_GRACE)
		{
			(void) kill(-t->pid, SIGKILL);
			while (!child_exited(t, true))
				;
			break;
		}
		nanosleep(&nap, NULL);
	}
}

/*
 * target_free: release the buffers, and the child if it still runs.
 */
void
target_free(Target *t)
{
	target_kill(t);
	buf_free(&t->out);
	buf_free(&t->echo);
}
