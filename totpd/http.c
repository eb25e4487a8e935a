/* libmicrohttpd glue.  One internal polling thread serves every
 * connection: the verbs run one at a time (the store's locks order them
 * against logins and totpctl), while reads and writes of all connections
 * are non-blocking, so a slow client holds only its own connection, and
 * only until its idle timeout.  Bounds: connections at once, idle time,
 * memory per connection (the request line and headers must fit in it),
 * and TOTPD_BODY_MAX for the body.
 *
 * The caller is the peer of the unix socket as the kernel reports it
 * (SO_PEERCRED), read once per connection. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "secret.h"
#include "totpd.h"

struct server {
	const struct tp_config *cfg;
};

/* One request's state, from its first header to its response. */
struct pending {
	uid_t uid;
	bool have_peer;
	char *body;
	size_t len;
	bool too_large;
	struct totpd_param query[TOTPD_QUERY_MAX];
	size_t n_query;
	bool query_overflow;
	struct ctl_created created;   /* a create, until its response is sent */
	char method[16], url[256];    /* for the log line of an undo */
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	struct pending *p = cls;

	(void)kind;
	if (p->n_query >= TOTPD_QUERY_MAX) {
		p->query_overflow = true;
		return MHD_NO;
	}
	p->query[p->n_query].key = key;
	p->query[p->n_query].value = value;
	p->n_query++;
	return MHD_YES;
}

static bool peer_uid(struct MHD_Connection *c, uid_t *uid)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (ci == NULL ||
	    getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return false;
	*uid = cred.uid;
	return true;
}

/* Printable ASCII only, and short: the path comes from the client. */
static void log_safe(char *out, size_t outsz, const char *in)
{
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)in; *c && o + 1 < outsz; c++)
		out[o++] = *c > 0x20 && *c < 0x7f ? (char)*c : '?';
	out[o] = '\0';
}

static void log_request(const char *method, const char *url, const struct pending *p,
			unsigned status)
{
	char m[16], u[256];

	log_safe(m, sizeof(m), method ? method : "-");
	log_safe(u, sizeof(u), url ? url : "-");
	if (p != NULL && p->have_peer)
		fprintf(stderr, "totpd: %s %s uid=%u status=%u\n", m, u, (unsigned)p->uid,
			status);
	else
		fprintf(stderr, "totpd: %s %s uid=? status=%u\n", m, u, status);
}

/* The body may hold a new secret key and emergency codes. */
static void free_text(void *cls)
{
	tp_free_str(cls);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text)
{
	static const char fallback[] =
		"{\n  \"error\": {\n    \"code\": \"5\",\n    \"message\": \"internal error\"\n  }\n}\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (text == NULL) {
		status = 500;
		resp = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)fallback,
						       MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text,
									 free_text);
		if (resp == NULL)
			tp_free_str(text);
	}
	if (resp == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/hal+json");
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version,
			      const char *upload_data, size_t *upload_data_size,
			      void **req_cls)
{
	struct server *srv = cls;
	struct pending *p = *req_cls;
	struct totpd_request rq;
	struct totpd_response resp;
	struct ctl_caller caller;
	enum MHD_Result ret;

	(void)version;
	if (p == NULL) {
		const char *cl;
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return MHD_NO;
		*req_cls = p;
		p->have_peer = peer_uid(c, &p->uid);
		/* A body announced over the limit is read and thrown away, and
		 * refused once it is all in: answering while the client is
		 * still sending makes the close that follows reset its
		 * upload, and a client that meets the broken pipe before it
		 * reads (curl does) never sees the 413.  The request deadline
		 * bounds how long a body may keep coming. */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > TOTPD_BODY_MAX)
			p->too_large = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!p->too_large && p->len + *upload_data_size <= TOTPD_BODY_MAX) {
			char *nb = realloc(p->body, p->len + *upload_data_size);
			if (nb == NULL) {
				p->too_large = true;
			} else {
				p->body = nb;
				memcpy(p->body + p->len, upload_data, *upload_data_size);
				p->len += *upload_data_size;
			}
		} else {
			p->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	(void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, p);
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = url;
	rq.query = p->query;
	rq.n_query = p->n_query;
	rq.query_overflow = p->query_overflow;
	rq.body = p->body;
	rq.body_len = p->len;
	rq.body_too_large = p->too_large;
	if (!p->have_peer || !totpd_caller(srv->cfg, p->uid, &caller)) {
		memset(&caller, 0, sizeof(caller));
		caller.uid = p->have_peer ? p->uid : (uid_t)-1;
	}
	totpd_route(srv->cfg, &caller, &rq, &resp);
	p->created = resp.created;
	tp_profile_wipe(&resp.created.old);
	if (p->created.written) {
		snprintf(p->method, sizeof(p->method), "%s", method);
		snprintf(p->url, sizeof(p->url), "%s", url);
	}
	if (p->too_large)
		resp.status = 413;
	log_request(method, url, p, resp.text ? resp.status : 500);
	ret = send_text(c, resp.status, resp.text);
	return ret;
}

/* A new key is shown once, in the 201 response: when that response did
 * not go out whole, the create is taken back, as totpctl does when its
 * output is lost. */
static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct pending *p = *req_cls;
	struct ctl_store_access direct = { NULL, NULL, NULL };

	(void)c;
	if (p == NULL)
		return;
	if (p->created.written && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		enum ctl_undo u = ctl_undo_create(srv->cfg, &direct, &p->created);
		char m[16], url[256];
		log_safe(m, sizeof(m), p->method);
		log_safe(url, sizeof(url), p->url);
		fprintf(stderr, "totpd: %s %s uid=%u: the response was not delivered; the "
			"new profile %s\n", m, url, (unsigned)p->uid,
			u == CTL_UNDO_DONE ? "was taken back"
			: u == CTL_UNDO_CHANGED ? "had changed since and was left alone"
			: "could not be taken back");
	}
	tp_profile_wipe(&p->created.old);
	if (p->body != NULL) {
		tp_wipe(p->body, p->len);
		free(p->body);
	}
	free(p);
	*req_cls = NULL;
}

int totpd_serve(const struct tp_config *cfg, int listen_fd, const struct totpd_limits *lim)
{
	struct server srv = { .cfg = cfg };
	struct MHD_Daemon *d;
	sigset_t set;
	int sig = 0;

	d = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     handle, &srv,
			     MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_CONNECTION_LIMIT, lim->connections,
			     MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, lim->memory,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, &srv,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "totpd: cannot start the HTTP server\n");
		return 1;
	}
	fprintf(stderr, "totpd: serving the API (at most %u connections, %u s idle "
		"timeout, %zu bytes of headers, %u bytes of body)\n", lim->connections,
		lim->timeout, lim->memory, TOTPD_BODY_MAX);
	/* the signals are blocked in every thread (main.c); wait for one */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void)sigwait(&set, &sig);
	fprintf(stderr, "totpd: signal %d, stopping\n", sig);
	MHD_stop_daemon(d);
	return 0;
}
