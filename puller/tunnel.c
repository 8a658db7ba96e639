/*-------------------------------------------------------------------------
 *
 * puller/tunnel.c
 *		pgpull: reach the databases through an SSH tunnel (--ssh).
 *
 * With --ssh [USER@]HOST[:PORT], one OpenSSH client (sshproc.c) forwards
 * a port on 127.0.0.1 to each database host and port the connections would
 * go to (source and state: one forward when they are the same), which the
 * SSH server resolves and connects to.  conn.c asks for each connection's
 * route before connecting (tunnel_route), and for its forward's port when
 * it connects (tunnel_port), which starts ssh the first time; a forward's
 * port that another program took first makes ssh exit, and it is started
 * once more with new ports.
 *
 * libpq then connects to the forward's port on hostaddr 127.0.0.1 with
 * every other setting as given, host= included, so that
 * sslmode=verify-full checks the certificate against the database's real
 * name.  It would look up the password file with the forward's port, so
 * the password file is read here, with the database's own port, the way
 * libpq reads it.
 *
 * Any local user can connect to the forwards' ports while the run lasts.
 * ssh is stopped on every way out: by tunnel_stop (main calls it before
 * returning) and an atexit handler; on Linux it also gets SIGTERM when
 * pgpull dies without that (SIGKILL).
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <pg_config_manual.h>

#include "log.h"
#include "sshproc.h"
#include "tunnel.h"

#define START_TIMEOUT	60		/* seconds for ssh to connect, log in, listen */

static struct
{
	SshProc		ssh;			/* what ssh runs, and its process */
	bool		started;		/* ssh is started at most once */
	pid_t		owner;			/* pgpull, not a child of it */
	off_t		seen;			/* bytes of ssh's messages explained */
}			tunnel;

static bool readable(const char *file, const char *optname);
static void at_exit(void);
static int	add_forward(const char *host, const char *port);
static const char *setting(PQconninfoOption *opts, PQconninfoOption *defaults,
						   const char *keyword);
static char *pgpass_field(char *field, const char *value);
static char *password_from_file(const char *host, const char *port,
								const char *dbname, const char *user,
								const char *passfile);
static int	start_once(PPError *err);
static bool start(PPError *err);

/*
 * readable: a file an option names must be readable now (NULL is fine);
 * prints the error and returns false when it is not.
 */
static bool
readable(const char *file, const char *optname)
{
	if (file == NULL || access(file, R_OK) == 0)
		return true;
	pp_log_error("could not read %s file \"%s\": %s", optname, file, strerror(errno));
	return false;
}

/*
 * tunnel_check_options: check --ssh, --ssh-identity and --ssh-known-hosts
 * before anything runs.  Prints the usage error and returns false when they
 * are not acceptable (exit status 2).
 */
bool
tunnel_check_options(const char *dest, const char *identity,
					 const char *known_hosts)
{
	char	   *login;
	char	   *port;

	if (dest == NULL)
	{
		const char *alone = identity ? "--ssh-identity" :
			known_hosts ? "--ssh-known-hosts" : NULL;

		if (alone == NULL)
			return true;
		pp_usage_error("%s needs --ssh", alone);
		pp_log_hint("Give the SSH server to go through with --ssh [USER@]HOST[:PORT].");
		return false;
	}
	if (!sshproc_split_dest(dest, &login, &port))
	{
		pp_usage_error("invalid value \"%s\" for option --ssh", dest);
		pp_log_detail("The SSH server is given as [USER@]HOST[:PORT], an IPv6 address in brackets.");
		return false;
	}
	free(login);
	free(port);
	return readable(identity, "--ssh-identity") &&
		readable(known_hosts, "--ssh-known-hosts");
}

/*
 * tunnel_configure: the databases will be reached through the SSH server
 * dest (checked by tunnel_check_options).  Nothing runs yet.
 */
void
tunnel_configure(const char *dest, const char *identity,
				 const char *known_hosts)
{
	if (!sshproc_split_dest(dest, &tunnel.ssh.login, &tunnel.ssh.port))
		abort();
	tunnel.ssh.dest = pp_strdup(dest);
	tunnel.ssh.identity = identity ? pp_strdup(identity) : NULL;
	tunnel.ssh.known_hosts = known_hosts ? pp_strdup(known_hosts) : NULL;
	tunnel.owner = getpid();
	atexit(at_exit);
}

/*
 * at_exit: stop ssh on every exit() of pgpull itself.
 */
static void
at_exit(void)
{
	if (getpid() == tunnel.owner)
		tunnel_stop();
}

/*
 * add_forward: forward a port on 127.0.0.1 to host and port, as the SSH
 * server sees them: a host name or address, or a socket directory there.
 * Returns the forward's number; the same host and port share one forward.
 */
static int
add_forward(const char *host, const char *port)
{
	SshProc    *p = &tunnel.ssh;
	char	   *remote;

	if (host[0] == '/')
		remote = pp_psprintf("%s/.s.PGSQL.%s", host, port);
	else if (strchr(host, ':') != NULL)
		remote = pp_psprintf("[%s]:%s", host, port);	/* IPv6 */
	else
		remote = pp_psprintf("%s:%s", host, port);
	for (int i = 0; i < p->nfwd; i++)
	{
		if (strcmp(p->remote[i], remote) == 0)
		{
			free(remote);
			return i;
		}
	}
	if (p->nfwd == SSH_MAX_FORWARDS)
		abort();
	p->remote[p->nfwd] = remote;
	return p->nfwd++;
}

/*
 * setting: a connection setting as libpq will use it: from the connection
 * string (opts, NULL for a bare database name), else from the environment
 * or libpq's default (defaults, from PQconndefaults); NULL when empty.
 */
static const char *
setting(PQconninfoOption *opts, PQconninfoOption *defaults, const char *keyword)
{
	PQconninfoOption *lists[2] = {opts, defaults};

	for (int i = 0; i < 2; i++)
		for (PQconninfoOption *o = lists[i]; o && o->keyword; o++)
			if (strcmp(o->keyword, keyword) == 0 && o->val && o->val[0])
				return o->val;
	return NULL;
}

/*
 * pgpass_field: whether the password file line at field begins with a
 * field matching value ("*", or value with ":" and "\\" escaped by "\\").
 * Returns the next field, or NULL.
 */
static char *
pgpass_field(char *field, const char *value)
{
	if (field[0] == '*' && field[1] == ':')
		return field + 2;
	for (; *field; field++, value++)
	{
		if (*field == '\\' && field[1] != '\0')
			field++;
		else if (*field == ':')
			return *value == '\0' ? field + 1 : NULL;
		if (*field != *value)
			return NULL;
	}
	return NULL;
}

/*
 * password_from_file: the password of the first line of the password file
 * (passfile, else ~/.pgpass) that matches host, port, dbname and user, the
 * way libpq matches them; NULL when none does, or when the file is not a
 * private plain file (libpq then says why when it reads it).  The caller
 * frees it.
 */
static char *
password_from_file(const char *host, const char *port, const char *dbname,
				   const char *user, const char *passfile)
{
	const char *home = getenv("HOME");
	char	   *path = NULL;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	char	   *found = NULL;
	struct stat st;
	FILE	   *f = NULL;

	if (passfile == NULL)
	{
		struct passwd *pw = home && home[0] ? NULL : getpwuid(geteuid());

		if (pw != NULL || (home && home[0]))
			passfile = path = pp_psprintf("%s/.pgpass", pw ? pw->pw_dir : home);
	}
	if (strcmp(host, DEFAULT_PGSOCKET_DIR) == 0)
		host = "localhost";
	if (passfile != NULL && stat(passfile, &st) == 0 && S_ISREG(st.st_mode) &&
		(st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
		f = fopen(passfile, "r");
	while (f != NULL && found == NULL && (len = getline(&line, &cap, f)) >= 0)
	{
		char	   *t = line;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if ((t = pgpass_field(t, host)) != NULL && (t = pgpass_field(t, port)) != NULL &&
			(t = pgpass_field(t, dbname)) != NULL && (t = pgpass_field(t, user)) != NULL)
		{
			char	   *out = found = pp_malloc(strlen(t) + 1);

			for (; *t && *t != ':'; t++)
				*out++ = (*t == '\\' && t[1] != '\0') ? *++t : *t;
			*out = '\0';
		}
	}
	if (f != NULL)
		fclose(f);
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	free(path);
	return found;
}

/*
 * tunnel_route: how a connection string (conninfo, given with optname)
 * goes through the tunnel: the host (or hostaddr) and port libpq would
 * connect to, with its defaults and service file, become a forward.
 * Returns NULL after printing a usage error when it names several hosts.
 * The caller frees the route with tunnel_route_free.
 */
TunnelRoute *
tunnel_route(const char *conninfo, const char *optname)
{
	PQconninfoOption *opts = pp_is_conninfo(conninfo) ? PQconninfoParse(conninfo, NULL) : NULL;
	PQconninfoOption *defaults;
	const char *service = setting(opts, NULL, "service");
	char	   *env_service = getenv("PGSERVICE") ? pp_strdup(getenv("PGSERVICE")) : NULL;
	TunnelRoute *route = NULL;
	const char *host;
	const char *hostaddr;
	const char *port;
	const char *dbname;
	const char *user;

	/*
	 * libpq's defaults: the environment's, and those of the service that
	 * PGSERVICE names; the connection string's service, if any, for a
	 * moment
	 */
	if (service != NULL)
		setenv("PGSERVICE", service, 1);
	defaults = PQconndefaults();
	if (service != NULL && env_service != NULL)
		setenv("PGSERVICE", env_service, 1);
	else if (service != NULL)
		unsetenv("PGSERVICE");
	free(env_service);
	host = setting(opts, defaults, "host");
	hostaddr = setting(opts, defaults, "hostaddr");
	port = setting(opts, defaults, "port");
	if ((host && strchr(host, ',')) || (hostaddr && strchr(hostaddr, ',')) ||
		(port && strchr(port, ',')))
	{
		pp_usage_error("%s lists several hosts: --ssh forwards one", optname);
		pp_log_hint("Give the one host to reach through the ssh server.");
		goto done;
	}
	if (host == NULL)
		host = hostaddr ? hostaddr : "localhost";	/* the ssh server's own */
	if (port == NULL)
		port = "5432";
	route = pp_malloc(sizeof(TunnelRoute));
	route->host = pp_strdup(host);
	route->port = pp_strdup(port);
	route->forward = add_forward(hostaddr ? hostaddr : host, port);
	route->password = NULL;
	user = setting(opts, defaults, "user");
	dbname = setting(opts, defaults, "dbname");
	if (opts == NULL && conninfo[0] != '\0')
		dbname = conninfo;
	if (setting(opts, defaults, "password") == NULL)
		route->password = password_from_file(host, port, dbname ? dbname : user, user,
											 setting(opts, defaults, "passfile"));
done:
	if (opts)
		PQconninfoFree(opts);
	if (defaults)
		PQconninfoFree(defaults);
	return route;
}

/*
 * tunnel_route_free: free a route (NULL is fine), wiping its password.
 */
void
tunnel_route_free(TunnelRoute *route)
{
	if (route == NULL)
		return;
	if (route->password)
		explicit_bzero(route->password, strlen(route->password));
	free(route->password);
	free(route->host);
	free(route->port);
	free(route);
}

/*
 * start_once: start ssh and wait until it listens.  Returns 0 then, 1 when
 * ssh exited (sshproc_failure says why), -1 with err set (ssh stopped)
 * else.
 */
static int
start_once(PPError *err)
{
	char	   *text;
	char	   *last;

	if (!sshproc_start(&tunnel.ssh, err))
		return -1;
	switch (sshproc_wait_listening(&tunnel.ssh, START_TIMEOUT))
	{
		case SSH_LISTENING:
			return 0;
		case SSH_EXITED:
			return 1;
		case SSH_INTERRUPTED:
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while opening the ssh tunnel to %s",
						 tunnel.ssh.dest);
			break;
		case SSH_TIMED_OUT:
			pp_error_set(err, PPERR_CONNECT, "could not open the ssh tunnel to %s: it was not up after %d seconds",
						 tunnel.ssh.dest, START_TIMEOUT);
			text = sshproc_messages(&tunnel.ssh, 0);
			last = sshproc_line(text, NULL);
			if (last != NULL)
				pp_error_detail(err, "ssh: %s", last);
			free(last);
			free(text);
			break;
	}
	sshproc_stop(&tunnel.ssh);
	return -1;
}

/*
 * start: start ssh and wait until every forward listens, trying once more
 * when another program took a port.  Returns false with err set when the
 * tunnel could not be opened.
 */
static bool
start(PPError *err)
{
	int			rc = start_once(err);
	Buf			line;

	if (rc == 1 && sshproc_failure(&tunnel.ssh, err) == SSH_FORWARD_FAILED)
	{
		pp_error_clear(err);
		rc = start_once(err);
		if (rc == 1)
			(void) sshproc_failure(&tunnel.ssh, err);
	}
	if (rc != 0)
		return false;

	buf_init(&line);
	for (int i = 0; i < tunnel.ssh.nfwd; i++)
		buf_appendf(&line, "%s127.0.0.1:%d -> %s", i ? ", " : "",
					tunnel.ssh.local_port[i], tunnel.ssh.remote[i]);
	runlog_print("INFO", "ssh tunnel to %s: %s", tunnel.ssh.dest, line.data);
	buf_free(&line);
	return true;
}

/*
 * tunnel_port: the port on 127.0.0.1 of a route's forward, starting
 * ssh the first time and waiting until it is up.  Returns -1 with err set
 * (PPERR_CONNECT: exit status 3) when the tunnel cannot be opened.
 */
int
tunnel_port(int forward, PPError *err)
{
	if (!tunnel.started)
	{
		tunnel.started = true;
		if (!start(err))
			return -1;
	}
	else if (tunnel.ssh.pid == 0)
	{
		pp_error_set(err, PPERR_CONNECT, "the ssh tunnel to %s is not open", tunnel.ssh.dest);
		return -1;
	}
	return tunnel.ssh.local_port[forward];
}

/*
 * tunnel_explain: a connection through the tunnel failed: add what ssh
 * said since the last call when that explains it (the SSH server could
 * not or would not reach the database, or ssh ended).
 */
void
tunnel_explain(PPError *err)
{
	char	   *text;
	char	   *line;
	struct stat st;

	if (tunnel.ssh.messages == NULL)
		return;
	text = sshproc_messages(&tunnel.ssh, tunnel.seen);
	if (fstat(fileno(tunnel.ssh.messages), &st) == 0)
		tunnel.seen = st.st_size;
	line = sshproc_line(text, "open failed");
	if (line != NULL)
	{
		if (err->detail == NULL)
			pp_error_detail(err, "ssh: %s", line);
		if (strstr(line, "administratively prohibited") != NULL)
			pp_error_hint(err, "The ssh server does not allow forwarding to this host and port: see AllowTcpForwarding in its sshd_config and permitopen in the key's line of authorized_keys.");
		else
			pp_error_hint(err, "The ssh server could not reach the database: the host and port of the connection string are the ones the ssh server connects to.");
	}
	else if (sshproc_ended(&tunnel.ssh) && err->detail == NULL)
	{
		line = sshproc_line(text, NULL);
		pp_error_detail(err, "The ssh tunnel ended%s%s", line ? ": " : ".", line ? line : "");
	}
	free(line);
	free(text);
}

/*
 * tunnel_stop: stop ssh if it runs and forget the tunnel.  Safe to call
 * more than once.
 */
void
tunnel_stop(void)
{
	SshProc    *p = &tunnel.ssh;

	sshproc_stop(p);
	for (int i = 0; i < p->nfwd; i++)
		free(p->remote[i]);
	free(p->dest);
	free(p->login);
	free(p->port);
	free(p->identity);
	free(p->known_hosts);
	memset(&tunnel, 0, sizeof(tunnel));
}
