/*-------------------------------------------------------------------------
 *
 * puller/tunnel.h
 *		pgpull: reach the databases through an SSH tunnel (--ssh).
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_TUNNEL_H
#define PGPULL_TUNNEL_H

#include "error.h"

/* how a connection goes through the tunnel */
typedef struct TunnelRoute
{
	int			forward;		/* its forward, for tunnel_port */
	char	   *host;			/* host= for libpq: what TLS and .pgpass see */
	char	   *port;			/* the port the ssh server connects to */
	char	   *password;		/* from the password file, or NULL */
} TunnelRoute;

extern bool tunnel_check_options(const char *dest, const char *identity,
								 const char *known_hosts);
extern void tunnel_configure(const char *dest, const char *identity,
							 const char *known_hosts);
extern TunnelRoute *tunnel_route(const char *conninfo, const char *optname);
extern void tunnel_route_free(TunnelRoute *route);
extern int	tunnel_port(int forward, PPError *err);
extern void tunnel_explain(PPError *err);
extern void tunnel_stop(void);

#endif							/* PGPULL_TUNNEL_H */
