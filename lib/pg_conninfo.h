/* The PostgreSQL store's connection strings (store.conninfo,
 * store.admin_conninfo), read with libpq's own parser so that what the
 * config loader checks is what libpq will do.
 *
 * A connection takes every setting from the conninfo and nothing else:
 * not from PG* environment variables (under su or sudo the environment is
 * the caller's), not from a service file, not from the files libpq looks
 * for under the home directory (~/.pgpass, ~/.postgresql/root.crt, ...).
 * A host that is not local (not a unix socket, not loopback) must be
 * reached over TLS with the server's certificate checked against an
 * explicit CA (sslmode=verify-full, the default here, and sslrootcert):
 * otherwise a man in the middle could answer a login with "accepted". */
#ifndef TP_PG_CONNINFO_H
#define TP_PG_CONNINFO_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "tp_status.h"

/* connect_timeout bounds, seconds: each statement gets the same bound */
#define TP_PG_TIMEOUT_DEFAULT 5
#define TP_PG_TIMEOUT_MIN 2      /* libpq takes 1 as 2 */
#define TP_PG_TIMEOUT_MAX 60

/* NULL if the conninfo may be used; else why not, as a phrase that follows
 * the setting's name ("store.conninfo: <problem>").  Never quotes the
 * conninfo (it may hold a password).  *has_password: it carries password=
 * or sslpassword= (in any spelling libpq accepts). */
const char *tp_conninfo_problem(const char *conninfo, bool *has_password);

/* The keywords and values for PQconnectdbParams: the conninfo's own, the
 * file keywords pointed at a path that cannot exist when not given, sslmode
 * verify-full for a host that is not local, gssencmode disable,
 * connect_timeout clamped, statement_timeout through options. */
struct tp_conninfo {
	PQconninfoOption *opts;
	const char **keys;
	const char **vals;
	char *options;
	char timeout[16];
	int timeout_s;            /* connect and statement bound, seconds */
	char *rotated[3];         /* tp_conninfo_prefer's lists */
};

/* TP_EINVAL with *problem set (see tp_conninfo_problem), TP_ENOMEM, TP_OK. */
enum tp_status tp_conninfo_build(struct tp_conninfo *c, const char *conninfo,
				 const char *application_name, const char **problem);

/* Which server of the conninfo's list (0-based) a connection reached, by
 * the host and port libpq says it is connected to; -1 if none matches. */
int tp_conninfo_server(const struct tp_conninfo *c, const char *host, const char *port);

/* Try server `first` (0-based) before the others, which keep their order:
 * after a prompt, the server that answered before it is tried first, so a
 * hung first server of the list does not cost its timeout twice. */
enum tp_status tp_conninfo_prefer(struct tp_conninfo *c, int first);

/* Wipes the values (they may hold a password) and frees. */
void tp_conninfo_free(struct tp_conninfo *c);

/* PQconnectdbParams with no PG* variable in the environment for its
 * duration; the caller's environment is exactly as it was afterwards. */
PGconn *tp_pq_connect(const struct tp_conninfo *c);

#endif
