/* libmicrohttpd glue.  No user can hold up another's request:
 *
 *  - a thread per connection (at most --max-connections of them): a verb
 *    waiting on a profile's lock, or a client that reads its answer
 *    slowly, holds only its own connection;
 *  - at most api.connections_per_user connections per uid, as the kernel
 *    reports the peer (SO_PEERCRED): one more is answered 503 at once and
 *    closed, before its request is read, so it never takes a thread;
 *  - deadlines, not idle timeouts: a connection has api.request_timeout
 *    seconds from its start, or from the end of its previous answer, to
 *    have its next request answered; the watchdog shuts down any that
 *    overstays, however many bytes it trickles.  libmicrohttpd's idle
 *    timeout (--timeout) cuts a silent one sooner;
 *  - a verb waits api.lock_wait_ms for a lock, then answers 503.
 *
 * Bounds besides: memory per connection (the request line and headers
 * must fit in it) and TOTPD_BODY_MAX for the body. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <microhttpd.h>

#include "secret.h"
#include "totpd.h"

/* One connection, from accept to close (libmicrohttpd's socket context). */
struct conn {
	uid_t uid;
	bool have_peer;
	bool refused;                 /* over its uid's cap: answered, shut */
	bool cut;                     /* shut down at its deadline */
	int fd;
	int64_t deadline_ms;          /* monotonic */
	struct conn *prev, *next;
};

struct server {
	const struct tp_config *cfg;
	pthread_mutex_t mu;           /* the list, deadlines and counts */
	pthread_cond_t wake;
	struct conn *conns;
	bool stopping;
	unsigned long cut, refused;   /* totals, for the log */
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

static bool peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return false;
	*uid = cred.uid;
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
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

static enum MHD_Result send_text(struct MHD_Connection *c, const struct totpd_response *r)
{
	static const char fallback[] =
		"{\n  \"error\": {\n    \"code\": \"5\",\n    \"message\": \"internal error\"\n  }\n}\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = r->status;

	if (r->text == NULL) {
		status = 500;
		resp = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)fallback,
						       MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer_with_free_callback(strlen(r->text),
									 r->text, free_text);
		if (resp == NULL)
			tp_free_str(r->text);
	}
	if (resp == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				      r->plain_json ? "application/json" : "application/hal+json");
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (r->allow != NULL)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->location[0] != '\0' && status == MHD_HTTP_CREATED)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
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
		const struct conn *cn = conn_of(c);
		const char *cl;
		bool gone;
		pthread_mutex_lock(&srv->mu);            /* cut is the watchdog's */
		gone = cn == NULL || cn->refused || cn->cut;
		pthread_mutex_unlock(&srv->mu);
		if (gone)
			return MHD_NO;
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return MHD_NO;
		*req_cls = p;
		p->have_peer = cn->have_peer;
		p->uid = cn->uid;
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
	rq.accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
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
	ret = send_text(c, &resp);
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

	struct conn *cn = conn_of(c);
	if (cn != NULL) {
		/* the next request's deadline runs from the end of this one */
		pthread_mutex_lock(&srv->mu);
		cn->deadline_ms = now_ms() + 1000 * (int64_t)srv->cfg->api_request_timeout;
		pthread_mutex_unlock(&srv->mu);
	}
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

/* The answer to a connection over its uid's cap, written straight to the
 * socket before anything is read: the API's error body with 503.  A
 * client that is still sending when the socket is shut may see a broken
 * pipe instead (totpd(8)). */
static void refuse(const struct server *srv, int fd, uid_t uid)
{
	struct ctl_result r;
	json_t *body;
	char *text = NULL, head[256];
	int n;

	memset(&r, 0, sizeof(r));
	ctl_fail(&r, TP_API_INTERNAL, NULL, "too many connections from uid %u: at most %u "
		 "at once (api.connections_per_user); try again", (unsigned)uid,
		 srv->cfg->api_connections_per_user);
	body = ctl_result_json(&r);
	if (body != NULL)
		text = ctl_body_text(body);
	json_decref(body);
	if (text != NULL) {
		n = snprintf(head, sizeof(head), "HTTP/1.1 503 Service Unavailable\r\n"
			     "Content-Type: application/hal+json\r\nCache-Control: no-store\r\n"
			     "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
			     strlen(text));
		if (n > 0 && (size_t)n < sizeof(head) &&
		    send(fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
			(void)send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
		tp_free_str(text);
	}
	(void)shutdown(fd, SHUT_RDWR);
}

/* Each connection is counted against its uid when it starts; the one
 * over the cap is refused there, in the listening thread, so that it
 * never holds a thread or a slot beyond this moment. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;
	struct conn *cn = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (cn == NULL)
			return;
		pthread_mutex_lock(&srv->mu);
		if (cn->prev != NULL)
			cn->prev->next = cn->next;
		else
			srv->conns = cn->next;
		if (cn->next != NULL)
			cn->next->prev = cn->prev;
		pthread_mutex_unlock(&srv->mu);
		free(cn);
		*socket_context = NULL;
		return;
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	unsigned same = 0;

	cn = calloc(1, sizeof(*cn));
	if (cn == NULL)
		return;                   /* handle() closes a connection without one */
	cn->fd = ci != NULL ? ci->connect_fd : -1;
	cn->have_peer = peer_uid(cn->fd, &cn->uid);
	if (!cn->have_peer)
		cn->uid = (uid_t)-1;      /* all such peers share one count */
	pthread_mutex_lock(&srv->mu);
	for (const struct conn *o = srv->conns; o != NULL; o = o->next)
		if (o->uid == cn->uid && !o->refused)
			same++;
	cn->refused = same >= srv->cfg->api_connections_per_user;
	cn->deadline_ms = now_ms() + 1000 * (int64_t)srv->cfg->api_request_timeout;
	cn->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = cn;
	srv->conns = cn;
	if (cn->refused)
		srv->refused++;
	pthread_mutex_unlock(&srv->mu);
	*socket_context = cn;
	if (cn->refused) {
		fprintf(stderr, "totpd: uid=%u: connection refused: %u already open "
			"(api.connections_per_user)\n", (unsigned)cn->uid, same);
		refuse(srv, cn->fd, cn->uid);
	}
}

/* Shuts down every connection past its deadline.  A connection leaves
 * the list (NOTIFY_CLOSED, under the same mutex) before libmicrohttpd
 * closes its fd, so the fd shut here is still that connection's. */
static void *watchdog(void *arg)
{
	struct server *srv = arg;

	pthread_mutex_lock(&srv->mu);
	while (!srv->stopping) {
		struct timespec until;
		int64_t now = now_ms();

		for (struct conn *cn = srv->conns; cn != NULL; cn = cn->next) {
			if (cn->cut || cn->refused || now < cn->deadline_ms)
				continue;
			cn->cut = true;
			srv->cut++;
			(void)shutdown(cn->fd, SHUT_RDWR);
			fprintf(stderr, "totpd: uid=%u: connection cut at its deadline "
				"(api.request_timeout %u s)\n", (unsigned)cn->uid,
				srv->cfg->api_request_timeout);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&srv->wake, &srv->mu, &until);
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

int totpd_serve(const struct tp_config *cfg, int listen_fd, const struct totpd_limits *lim)
{
	struct server srv = { .cfg = cfg, .mu = PTHREAD_MUTEX_INITIALIZER,
			      .wake = PTHREAD_COND_INITIALIZER };
	struct MHD_Daemon *d;
	pthread_t wd;
	sigset_t set;
	int sig = 0;

	if (pthread_create(&wd, NULL, watchdog, &srv) != 0) {
		fprintf(stderr, "totpd: cannot start the deadline watchdog\n");
		return 1;
	}
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     handle, &srv,
			     MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_CONNECTION_LIMIT, lim->connections,
			     MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, lim->memory,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, &srv,
			     MHD_OPTION_NOTIFY_CONNECTION, notify_connection, &srv,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "totpd: cannot start the HTTP server\n");
		goto stop_watchdog;
	}
	fprintf(stderr, "totpd: serving the API (a thread per connection, at most %u, "
		"%u per user; %u s idle timeout, %u s request deadline, %u ms lock wait; "
		"%zu bytes of headers, %u bytes of body)\n", lim->connections,
		cfg->api_connections_per_user, lim->timeout, cfg->api_request_timeout,
		cfg->api_lock_wait_ms, lim->memory, TOTPD_BODY_MAX);
	/* the signals are blocked in every thread (main.c); wait for one */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void)sigwait(&set, &sig);
	fprintf(stderr, "totpd: signal %d, stopping (%lu connections refused over a "
		"user's cap, %lu cut at their deadline)\n", sig, srv.refused, srv.cut);
	MHD_stop_daemon(d);
stop_watchdog:
	pthread_mutex_lock(&srv.mu);
	srv.stopping = true;
	pthread_cond_signal(&srv.wake);
	pthread_mutex_unlock(&srv.mu);
	pthread_join(wd, NULL);
	return d == NULL ? 1 : 0;
}
