/*-------------------------------------------------------------------------
 *
 * puller/sshproc.c
 *		pgpull: the OpenSSH client of the tunnel: its command line, its
 *		process and what it says.
 *
 * ssh never prompts (BatchMode), refuses unknown and changed host keys
 * (StrictHostKeyChecking), and exits when it cannot listen on a forward's
 * port (ExitOnForwardFailure).  Each forward's port on 127.0.0.1 is picked
 * free (bind to port 0, close); another program may take it before ssh
 * does.  ssh listens only once it has logged in, so the tunnel is up when
 * every forward accepts a connection.
 *
 * ssh is forked by pp_fork_child: in a process group of its own, so a
 * Ctrl-C at a terminal reaches pgpull alone, which still needs the tunnel
 * to record the interruption, and on Linux with SIGTERM when pgpull dies
 * (even by SIGKILL).  Its standard input and output are /dev/null
 * (standard output may carry Singer messages), its standard error an
 * unlinked temporary file: a pipe nobody reads during the run could fill
 * up and stall ssh, and what ssh said is what explains a failure.
 * sshproc_stop sends SIGTERM to its process group, SIGKILL after
 * KILL_GRACE seconds, and reaps it.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "sshproc.h"

#define KILL_GRACE		5		/* seconds between SIGTERM and SIGKILL */
#define MESSAGES_MAX	16384	/* bytes of ssh's messages read at most */

/* ssh's options that pgpull always gives */
static const char *const ssh_fixed[] = {
	"-N", "-T",
	"-o", "BatchMode=yes",
	"-o", "StrictHostKeyChecking=yes",
	"-o", "ExitOnForwardFailure=yes",
	"-o", "ConnectTimeout=15",
	"-o", "ServerAliveInterval=15",
	"-o", "ServerAliveCountMax=4",
	"-o", "ControlMaster=no",
	"-o", "ControlPath=none",
	"-o", "ForwardAgent=no",
	"-o", "ForwardX11=no",
	"-o", "PermitLocalCommand=no",
	NULL
};

/*
 * what ssh prints when it fails, in the order it is looked for: a changed
 * key also says "Host key verification failed", and a port taken also
 * fails the forwarding
 */
static const struct
{
	const char *needle;
	SshFailure	kind;
}			ssh_failures[] =
{
	{"has changed and you have requested strict checking", SSH_HOST_KEY_CHANGED},
	{"REMOTE HOST IDENTIFICATION HAS CHANGED", SSH_HOST_KEY_CHANGED},
	{"host key is known for", SSH_HOST_KEY_UNKNOWN},
	{"Host key verification failed", SSH_HOST_KEY_UNKNOWN},
	{"Permission denied", SSH_KEY_REFUSED},
	{"Too many authentication failures", SSH_KEY_REFUSED},
	{"cannot listen to port", SSH_FORWARD_FAILED},
	{"Could not request local forwarding", SSH_FORWARD_FAILED},
	{"Could not resolve hostname", SSH_UNREACHABLE},
	{"Connection refused", SSH_UNREACHABLE},
	{"timed out", SSH_UNREACHABLE},
	{"No route to host", SSH_UNREACHABLE},
	{"Network is unreachable", SSH_UNREACHABLE},
	{"Connection closed by", SSH_UNREACHABLE},
	{"Connection reset by", SSH_UNREACHABLE},
	{"kex_exchange_identification", SSH_UNREACHABLE}
};

static char *escape_percent(const char *s, bool quote);
static char **ssh_argv(const SshProc *p);
static void child_exec(char **argv, int err_fd) __attribute__((noreturn));
static struct sockaddr_in loopback(int port);
static bool free_ports(SshProc *p, PPError *err);
static bool accepts(int port);

/*
 * sshproc_split_dest: [USER@]HOST[:PORT] (an IPv6 address in brackets)
 * into the login ssh takes ([USER@]HOST, no brackets) and the port (NULL
 * when not given).  Returns false when dest is not of that shape, or could
 * be taken for an option.
 */
bool
sshproc_split_dest(const char *dest, char **login, char **port)
{
	const char *at = strrchr(dest, '@');
	const char *host = at ? at + 1 : dest;
	size_t		userlen = (size_t) (host - dest);	/* "USER@" */
	const char *host_end;
	const char *colon;

	if (dest[0] == '-' || dest[0] == '@')
		return false;
	for (const char *p = dest; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			return false;
	if (*host == '[')
	{
		host_end = strchr(++host, ']');
		if (host_end == NULL || (host_end[1] != '\0' && host_end[1] != ':'))
			return false;
		colon = host_end[1] == ':' ? host_end + 1 : NULL;
	}
	else
	{
		colon = strchr(host, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL;		/* an IPv6 address without brackets */
		host_end = colon ? colon : host + strlen(host);
	}
	if (host_end == host || *host == '-')
		return false;
	if (colon != NULL)
	{
		const char *d = colon + 1;
		long		n = 0;

		for (; *d >= '0' && *d <= '9' && n <= 65535; d++)
			n = n * 10 + (*d - '0');
		if (*d != '\0' || d == colon + 1 || n < 1 || n > 65535)
			return false;
	}
	*login = pp_psprintf("%.*s%.*s", (int) userlen, dest, (int) (host_end - host), host);
	*port = colon ? pp_strdup(colon + 1) : NULL;
	return true;
}

/*
 * escape_percent: a file name for ssh, which expands %-tokens in it; quote
 * also puts it in double quotes for an -o option, whose value ssh splits
 * at spaces.
 */
static char *
escape_percent(const char *s, bool quote)
{
	Buf			b;

	buf_init(&b);
	buf_append_str(&b, quote ? "\"" : "");
	for (; *s; s++)
	{
		if (*s == '%')
			buf_append_str(&b, "%");
		else if (quote && (*s == '"' || *s == '\\'))
			buf_append_str(&b, "\\");
		buf_append(&b, s, 1);
	}
	if (quote)
		buf_append_str(&b, "\"");
	return b.data;
}

/*
 * ssh_argv: the command line of ssh, NULL-terminated; every string is the
 * caller's to free.  No secret is ever on it.
 */
static char **
ssh_argv(const SshProc *p)
{
	char	  **argv = pp_malloc(sizeof(char *) * (40 + 2 * SSH_MAX_FORWARDS));
	int			n = 0;

	argv[n++] = pp_strdup("ssh");
	for (int i = 0; ssh_fixed[i]; i++)
		argv[n++] = pp_strdup(ssh_fixed[i]);
	if (p->known_hosts)
	{
		char	   *file = escape_percent(p->known_hosts, true);

		argv[n++] = pp_strdup("-o");
		argv[n++] = pp_psprintf("UserKnownHostsFile=%s", file);
		free(file);
	}
	if (p->identity)
	{
		argv[n++] = pp_strdup("-i");
		argv[n++] = escape_percent(p->identity, false);
		argv[n++] = pp_strdup("-o");
		argv[n++] = pp_strdup("IdentitiesOnly=yes");
	}
	if (p->port)
	{
		argv[n++] = pp_strdup("-p");
		argv[n++] = pp_strdup(p->port);
	}
	for (int i = 0; i < p->nfwd; i++)
	{
		argv[n++] = pp_strdup("-L");
		argv[n++] = pp_psprintf("127.0.0.1:%d:%s", p->local_port[i], p->remote[i]);
	}
	argv[n++] = pp_strdup("--");
	argv[n++] = pp_strdup(p->login);
	argv[n] = NULL;
	return argv;
}

/*
 * child_exec: in the child (pp_fork_child): /dev/null as standard input
 * and output, err_fd as standard error, nothing else open, no token or
 * password in the environment, then argv.  Never returns.
 */
static void
child_exec(char **argv, int err_fd)
{
	int			null_fd;
	static const char failed[] = "pgpull: could not run ssh\n";

	/* above 2 first: the file may have got descriptor 0, 1 or 2 */
	err_fd = fcntl(err_fd, F_DUPFD, 3);
	null_fd = open("/dev/null", O_RDWR);
	if (err_fd < 0 || null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
		dup2(null_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	closefrom(3);
	/* ssh needs no secret of pgpull's, and a SendEnv line could pass it on */
	unsetenv("PGPULL_TOKEN");
	unsetenv("PGPASSWORD");
	execvp(argv[0], argv);
	if (write(STDERR_FILENO, failed, sizeof(failed) - 1) < 0)
		_exit(127);
	_exit(127);
}

/*
 * loopback: the address 127.0.0.1:port.
 */
static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/*
 * free_ports: a different port on 127.0.0.1 that nothing uses now for each
 * forward.  Returns false with err set when there are none.
 */
static bool
free_ports(SshProc *p, PPError *err)
{
	int			fds[SSH_MAX_FORWARDS];
	int			i;
	bool		ok = true;

	for (i = 0; i < p->nfwd && ok; i++)
	{
		struct sockaddr_in a = loopback(0);
		socklen_t	len = sizeof(a);

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
			bind(fds[i], (struct sockaddr *) &a, sizeof(a)) != 0 ||
			getsockname(fds[i], (struct sockaddr *) &a, &len) != 0)
		{
			pp_error_set(err, PPERR_CONNECT, "could not find a free port on 127.0.0.1 for the ssh tunnel: %s",
						 strerror(errno));
			ok = false;
		}
		p->local_port[i] = ntohs(a.sin_port);
	}
	while (i-- > 0)
		if (fds[i] >= 0)
			close(fds[i]);
	return ok;
}

/*
 * sshproc_start: pick the forwards' ports and start ssh, its standard
 * error in a new temporary file (what an earlier ssh said is forgotten).
 * Returns false with err set when it cannot be started.
 */
bool
sshproc_start(SshProc *p, PPError *err)
{
	char	  **argv;
	Buf			line;

	if (!free_ports(p, err))
		return false;
	if (p->messages)
		fclose(p->messages);
	p->status = 0;
	p->messages = tmpfile();
	if (p->messages == NULL)
	{
		pp_error_set(err, PPERR_CONNECT, "could not create a temporary file for the messages of ssh: %s",
					 strerror(errno));
		return false;
	}
	argv = ssh_argv(p);
	p->pid = pp_fork_child();
	if (p->pid == 0)
		child_exec(argv, fileno(p->messages));
	if (p->pid < 0)
	{
		p->pid = 0;
		pp_error_set(err, PPERR_CONNECT, "could not start ssh: %s", strerror(errno));
	}
	buf_init(&line);
	for (int i = 0; argv[i]; i++)
	{
		buf_appendf(&line, "%s%s", i ? " " : "", argv[i]);
		free(argv[i]);
	}
	free(argv);
	if (p->pid > 0)
		runlog_print("DEBUG", "ssh tunnel: process %d: %s", (int) p->pid, line.data);
	buf_free(&line);
	return p->pid > 0;
}

/*
 * accepts: whether something accepts connections on 127.0.0.1:port.
 */
static bool
accepts(int port)
{
	struct sockaddr_in a = loopback(port);
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool		ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/*
 * sshproc_wait_listening: wait at most timeout seconds until every forward
 * accepts connections, or ssh ends.  Each test connection ssh accepts goes
 * through the tunnel and is closed at once.
 */
SshWait
sshproc_wait_listening(SshProc *p, int timeout)
{
	struct timespec start;
	int			ready = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;)
	{
		struct timespec now;
		struct timespec nap = {0, 50 * 1000 * 1000};

		if (sshproc_ended(p))
			return SSH_EXITED;
		while (ready < p->nfwd && accepts(p->local_port[ready]))
			ready++;
		if (ready == p->nfwd)
			return SSH_LISTENING;
		if (pp_interrupted)
			return SSH_INTERRUPTED;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout)
			return SSH_TIMED_OUT;
		nanosleep(&nap, NULL);
	}
}

/*
 * sshproc_ended: whether ssh has ended (reaping it, its wait status in
 * p->status).
 */
bool
sshproc_ended(SshProc *p)
{
	pid_t		r;

	if (p->pid <= 0)
		return true;
	while ((r = waitpid(p->pid, &p->status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return false;
	p->pid = 0;
	return true;
}

/*
 * sshproc_stop: stop ssh if it still runs: SIGTERM to its process group,
 * SIGKILL after KILL_GRACE seconds; reap it and close its messages.
 */
void
sshproc_stop(SshProc *p)
{
	struct timespec start;

	if (p->pid > 0)
	{
		(void) kill(-p->pid, SIGTERM);
		clock_gettime(CLOCK_MONOTONIC, &start);
	}
	while (!sshproc_ended(p))
	{
		struct timespec now;
		struct timespec nap = {0, 20 * 1000 * 1000};

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= KILL_GRACE)
		{
			(void) kill(-p->pid, SIGKILL);
			while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
				;
			p->pid = 0;
		}
		else
			nanosleep(&nap, NULL);
	}
	if (p->messages)
		fclose(p->messages);
	p->messages = NULL;
}

/*
 * sshproc_messages: what ssh printed on its standard error from offset
 * from on, at most MESSAGES_MAX bytes.  The caller frees it.
 */
char *
sshproc_messages(const SshProc *p, off_t from)
{
	Buf			b;
	char		chunk[4096];
	ssize_t		n;

	buf_init(&b);
	buf_append(&b, "", 0);		/* "" when ssh said nothing */
	while (p->messages != NULL && b.len < MESSAGES_MAX &&
		   (n = pread(fileno(p->messages), chunk, sizeof(chunk), from)) > 0)
	{
		buf_append(&b, chunk, (size_t) n);
		from += n;
	}
	return b.data;
}

/*
 * sshproc_line: a copy of the first line of text that contains needle, or
 * of the last line that is not empty when needle is NULL, without ssh's
 * own "ssh: " prefix; NULL when there is none.
 */
char *
sshproc_line(const char *text, const char *needle)
{
	const char *begin;

	if (needle != NULL)
	{
		begin = strstr(text, needle);
		if (begin == NULL)
			return NULL;
	}
	else
	{
		begin = text + strlen(text);
		while (begin > text && (begin[-1] == '\n' || begin[-1] == '\r'))
			begin--;
		if (begin == text)
			return NULL;
	}
	while (begin > text && begin[-1] != '\n')
		begin--;
	if (strncmp(begin, "ssh: ", 5) == 0)
		begin += 5;
	return pp_strndup(begin, strcspn(begin, "\r\n"));
}

/*
 * sshproc_failure: ssh exited before the tunnel was up: set err to say why
 * and what to do, from what ssh printed.  Returns why.
 */
SshFailure
sshproc_failure(SshProc *p, PPError *err)
{
	static const char *const what[] = {
		[SSH_HOST_KEY_CHANGED] = "the host key of the ssh server has changed",
		[SSH_HOST_KEY_UNKNOWN] = "the host key of the ssh server is not known",
		[SSH_KEY_REFUSED] = "the ssh server refused the key",
		[SSH_FORWARD_FAILED] = "ssh could not listen on a port of 127.0.0.1",
		[SSH_UNREACHABLE] = "the ssh server is unreachable",
		[SSH_OTHER] = NULL
	};
	int			status = p->status;
	char	   *text = sshproc_messages(p, 0);
	char	   *line = NULL;
	SshFailure	kind = SSH_OTHER;
	const char *host = strrchr(p->login, '@') ? strrchr(p->login, '@') + 1 : p->login;
	const char *file = p->known_hosts ? p->known_hosts : "~/.ssh/known_hosts";
	bool		bracket = p->port && strcmp(p->port, "22") != 0;	/* as known_hosts names it */
	const char *refused_hint = "  A key protected by a passphrase must be loaded in ssh-agent: pgpull never prompts.";

	for (size_t i = 0; i < sizeof(ssh_failures) / sizeof(ssh_failures[0]) && line == NULL; i++)
	{
		line = sshproc_line(text, ssh_failures[i].needle);
		kind = line ? ssh_failures[i].kind : SSH_OTHER;
	}
	if (line == NULL)
		line = sshproc_line(text, NULL);
	if (what[kind] != NULL)
		pp_error_set(err, PPERR_CONNECT, "could not open the ssh tunnel to %s: %s", p->dest, what[kind]);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		pp_error_set(err, PPERR_CONFIG, "could not run ssh for the tunnel to %s", p->dest);
	else
		pp_error_set(err, PPERR_CONNECT, "could not open the ssh tunnel to %s: ssh ended with %s %d",
					 p->dest, WIFEXITED(status) ? "status" : "signal",
					 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (line != NULL)
		pp_error_detail(err, "ssh: %s", line);
	if (kind == SSH_HOST_KEY_CHANGED)
		pp_error_hint(err, "If the server's key was replaced on purpose, remove the old one with \"ssh-keygen -R '%s%s%s%s' -f %s\", add the new one as for a new server and check its fingerprint.  Otherwise do not connect: someone may be intercepting the connection.",
					  bracket ? "[" : "", host, bracket ? "]:" : "", bracket ? p->port : "", file);
	else if (kind == SSH_HOST_KEY_UNKNOWN)
		pp_error_hint(err, "Add the server's key with \"ssh-keyscan %s%s%s%s >> %s\", then check that \"ssh-keygen -lf %s\" shows the fingerprint the server has (\"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\" there).",
					  p->port ? "-p " : "", p->port ? p->port : "",
					  p->port ? " " : "", host, file, file);
	else if (kind == SSH_KEY_REFUSED && p->identity)
		pp_error_hint(err, "Check that the public key of %s is in ~/.ssh/authorized_keys of the user on the ssh server.%s",
					  p->identity, refused_hint);
	else if (kind == SSH_KEY_REFUSED)
		pp_error_hint(err, "Name the private key with --ssh-identity, and check that its public key is in ~/.ssh/authorized_keys of the user on the ssh server.%s",
					  refused_hint);
	else if (kind == SSH_FORWARD_FAILED)
		pp_error_hint(err, "Another program took the port: run pgpull again.");
	else if (kind == SSH_UNREACHABLE)
		pp_error_hint(err, "Check the host and port given with --ssh, and that this machine may connect to them.");
	else if (err->kind == PPERR_CONFIG)
		pp_error_hint(err, "Install the OpenSSH client: pgpull runs \"ssh\" from the PATH.");
	free(line);
	free(text);
	return kind;
}
