/* totpd: the API (POST/GET/PATCH/DELETE /api/security/login/totps) over
 * HTTP on a local unix socket.  The caller is who the kernel says
 * (SO_PEERCRED); the verbs, their rules and their bodies are the
 * library's (lib/api_verbs.c), the same code totpctl runs.
 *
 *   main.c   options, the listening socket (systemd's or its own),
 *            identity checks, signals
 *   http.c   libmicrohttpd glue: limits, peer credentials, log line
 *   route.c  the request parser and router: path, method, query and JSON
 *            body to a ctl_request, and the result to a status and body */
#ifndef TOTPD_H
#define TOTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api_verbs.h"

#define TOTPD_BODY_MAX   (16u * 1024u)    /* request body, bytes */
#define TOTPD_QUERY_MAX  32               /* query parameters */

struct totpd_param {
	const char *key, *value;
};

/* One HTTP request, as the router sees it. */
struct totpd_request {
	const char *method;
	const char *path;                 /* without the query string */
	const struct totpd_param *query;
	size_t n_query;
	bool query_overflow;              /* more than TOTPD_QUERY_MAX */
	const char *accept;               /* the Accept header, or NULL */
	const char *body;                 /* not NUL-terminated */
	size_t body_len;
	bool body_too_large;
};

struct totpd_response {
	unsigned status;
	char *text;                       /* the body; free with tp_free_str */
	const char *allow;                /* OPTIONS and 405: the path's methods */
	bool plain_json;                  /* application/json, not hal+json */
	char location[512];               /* 201: the new profile's href */
	struct ctl_created created;       /* create: what was written (wipe .old) */
};

/* route.c */
void totpd_route(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct totpd_request *rq, struct totpd_response *out);
unsigned totpd_status(enum tp_api_error e);
/* A caller from a uid: name from the user database, admin as totpctl
 * decides.  false: the uid has no usable name. */
bool totpd_caller(const struct tp_config *cfg, uid_t uid, struct ctl_caller *caller);

/* http.c */
struct totpd_limits {
	unsigned connections;             /* at once */
	unsigned timeout;                 /* seconds idle per connection */
	size_t memory;                    /* per connection: headers and buffers */
};
int totpd_serve(const struct tp_config *cfg, int listen_fd,
		const struct totpd_limits *lim);

#endif
