/* The PostgreSQL store's connection strings: checked and completed with
 * libpq's parser (PQconninfoParse), so that no spelling libpq accepts
 * (password\f=, ?pass%77ord=, a URI) escapes a check made here. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pg_conninfo.h"
#include "pq_dl.h"
#include "secret.h"

extern char **environ;

/* libpq (15) looks for these under the home directory when the conninfo
 * does not name them; a path under /dev/null cannot exist (ENOTDIR), which
 * libpq takes as "no such file": no password file, no client certificate,
 * no CRL, and no root certificate (so verify-ca/verify-full without an
 * explicit sslrootcert fail, and weaker modes check nothing, as before). */
static const struct {
	const char *key;
	const char *val;
} not_from_home[] = {
	{ "passfile", "/dev/null/pgpass" },
	{ "sslrootcert", "/dev/null/root.crt" },
	{ "sslcert", "/dev/null/postgresql.crt" },
	{ "sslkey", "/dev/null/postgresql.key" },
	{ "sslcrl", "/dev/null/root.crl" },
	/* GSSAPI encryption, when a Kerberos ticket is at hand, would be
	 * chosen before TLS and authenticate the server by other means */
	{ "gssencmode", "disable" },
};

static const char *opt_val(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
	return NULL;
}

static bool loopback_addr(const char *a)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, a, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6) ||
		       (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
	return false;
}

/* One entry of the host and hostaddr lists: where libpq connects is the
 * hostaddr if given, else the host; empty is the default unix socket. */
static bool local_target(const char *host, const char *addr)
{
	if (addr[0] != '\0')
		return loopback_addr(addr);
	if (host[0] == '\0' || host[0] == '/' || host[0] == '@')
		return true;
	return strcasecmp(host, "localhost") == 0 || loopback_addr(host);
}

/* The next comma-separated entry of *list into buf (truncated entries are
 * no loopback address nor "localhost", so they count as remote). */
static void next_entry(const char **list, char *buf, size_t cap)
{
	size_t n = strcspn(*list, ",");

	snprintf(buf, cap, "%.*s", (int)n, *list);
	if (n >= cap)
		snprintf(buf, cap, "%s", "remote");
	*list += n + ((*list)[n] == ',');
}

/* Does any host of the conninfo lie beyond this machine? */
static bool names_remote_host(const PQconninfoOption *opts)
{
	const char *hosts = opt_val(opts, "host"), *addrs = opt_val(opts, "hostaddr");
	char host[256], addr[256];

	if (hosts == NULL)
		hosts = "";
	if (addrs == NULL)
		addrs = "";
	do {
		next_entry(&hosts, host, sizeof(host));
		next_entry(&addrs, addr, sizeof(addr));
		if (!local_target(host, addr))
			return true;
	} while (*hosts != '\0' || *addrs != '\0');
	return false;
}

static const char *check(const PQconninfoOption *opts, bool *has_password)
{
	const char *mode = opt_val(opts, "sslmode"), *gss = opt_val(opts, "gssencmode");

	*has_password = opt_val(opts, "password") != NULL ||
			opt_val(opts, "sslpassword") != NULL;
	if (opt_val(opts, "service") != NULL)
		return "must not use service= (a service file lies outside this file's "
		       "checks): give its settings here";
	if (!names_remote_host(opts))
		return NULL;
	if (mode != NULL && strcmp(mode, "verify-full") != 0)
		return "names a host that is neither a unix socket nor a loopback address, "
		       "so it needs sslmode=verify-full (the default when not given): a "
		       "weaker mode lets a man in the middle answer for the database";
	if (opt_val(opts, "sslrootcert") == NULL)
		return "names a host that is neither a unix socket nor a loopback address, "
		       "so it needs sslrootcert=FILE, the CA that signed the server's "
		       "certificate";
	if (gss != NULL && strcmp(gss, "disable") != 0)
		return "names a host that is neither a unix socket nor a loopback address, "
		       "so gssencmode must be disable (TLS verify-full authenticates the server)";
	return NULL;
}

static PQconninfoOption *parse(const char *conninfo)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);

	/* libpq's message quotes the string, password and all: not kept */
	if (perr != NULL) {
		tp_wipe(perr, strlen(perr));
		PQfreemem(perr);
	}
	return opts;
}

static void free_opts(PQconninfoOption *opts)
{
	if (opts == NULL)
		return;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			tp_wipe(o->val, strlen(o->val));
	PQconninfoFree(opts);
}

static const char invalid[] = "is not a valid libpq connection string";

/* libpq is loaded here, on the first look at a conninfo (pq_dl.h) */
static char load_problem[320];

static const char *load_libpq(void)
{
	char why[280];

	if (tp_pq_load(why, sizeof(why)) == 0)
		return NULL;
	snprintf(load_problem, sizeof(load_problem), "cannot be used: %s", why);
	return load_problem;
}

const char *tp_conninfo_problem(const char *conninfo, bool *has_password)
{
	PQconninfoOption *opts;
	const char *problem;

	*has_password = false;
	if ((problem = load_libpq()) != NULL)
		return problem;
	opts = parse(conninfo);
	if (opts == NULL)
		return invalid;
	problem = check(opts, has_password);
	free_opts(opts);
	return problem;
}

/* connect_timeout as libpq reads it, then bounded: 0 or less means "wait
 * forever" to libpq (not for a login), more than the maximum would hold
 * every login that long, and the bound is multiplied into milliseconds. */
static int timeout_seconds(const char *v)
{
	char *end;
	long t;

	if (v == NULL)
		return TP_PG_TIMEOUT_DEFAULT;
	errno = 0;
	t = strtol(v, &end, 10);
	if (end == v)
		return TP_PG_TIMEOUT_DEFAULT;
	if (errno == ERANGE)
		return t > 0 ? TP_PG_TIMEOUT_MAX : TP_PG_TIMEOUT_DEFAULT;
	if (t <= 0)
		return TP_PG_TIMEOUT_DEFAULT;
	if (t < TP_PG_TIMEOUT_MIN)
		return TP_PG_TIMEOUT_MIN;
	return t > TP_PG_TIMEOUT_MAX ? TP_PG_TIMEOUT_MAX : (int)t;
}

/* How many servers libpq will try in turn: the entries of host= (or of
 * hostaddr= when host= is not given), at least one. */
static int host_count(const PQconninfoOption *opts)
{
	const char *v = opt_val(opts, "host");
	int n = 1;

	if (v == NULL || *v == '\0')
		v = opt_val(opts, "hostaddr");
	for (; v != NULL && *v != '\0'; v++)
		if (*v == ',')
			n++;
	return n;
}

enum tp_status tp_conninfo_build(struct tp_conninfo *c, const char *conninfo,
				 const char *application_name, const char **problem)
{
	const PQconninfoOption *o;
	const char *given_options;
	bool has_password, remote;
	size_t n = 0, k = 0;
	int per_server;

	memset(c, 0, sizeof(*c));
	if ((*problem = load_libpq()) != NULL)
		return TP_EINVAL;
	c->opts = parse(conninfo);
	if (c->opts == NULL) {
		*problem = invalid;
		return TP_EINVAL;
	}
	*problem = check(c->opts, &has_password);
	if (*problem != NULL)
		return TP_EINVAL;
	remote = names_remote_host(c->opts);
	c->timeout_s = timeout_seconds(opt_val(c->opts, "connect_timeout"));
	/* libpq gives each server in turn the whole connect_timeout: shared
	 * out among them, connecting to a list of which the first ones do
	 * not answer still ends within the bound (but for libpq's own
	 * 2-second floor per server) */
	per_server = c->timeout_s / host_count(c->opts);
	snprintf(c->timeout, sizeof(c->timeout), "%d",
		 per_server > TP_PG_TIMEOUT_MIN ? per_server : TP_PG_TIMEOUT_MIN);
	given_options = opt_val(c->opts, "options");
	if (asprintf(&c->options, "%s%s-c statement_timeout=%d",
		     given_options ? given_options : "", given_options ? " " : "",
		     c->timeout_s * 1000) < 0) {
		c->options = NULL;
		return TP_ENOMEM;
	}
	for (o = c->opts; o->keyword != NULL; o++)
		n++;
	c->keys = calloc(n + 5, sizeof(*c->keys));
	c->vals = calloc(n + 5, sizeof(*c->vals));
	if (c->keys == NULL || c->vals == NULL)
		return TP_ENOMEM;
	for (o = c->opts; o->keyword != NULL; o++) {
		const char *v = o->val != NULL && o->val[0] != '\0' ? o->val : NULL;

		if (strcmp(o->keyword, "connect_timeout") == 0 ||
		    strcmp(o->keyword, "options") == 0)
			continue;
		for (size_t i = 0; v == NULL && i < sizeof(not_from_home) /
		     sizeof(not_from_home[0]); i++)
			if (strcmp(o->keyword, not_from_home[i].key) == 0)
				v = not_from_home[i].val;
		if (v == NULL && remote && strcmp(o->keyword, "sslmode") == 0)
			v = "verify-full";
		if (v == NULL)
			continue;
		c->keys[k] = o->keyword;
		c->vals[k++] = v;
	}
	c->keys[k] = "connect_timeout";
	c->vals[k++] = c->timeout;
	c->keys[k] = "options";
	c->vals[k++] = c->options;
	c->keys[k] = "fallback_application_name";
	c->vals[k++] = application_name;
	return TP_OK;
}

/* The list's entries; a list of one entry applies to every server. */
static int list_len(const char *v)
{
	int n = 1;

	for (; v != NULL && *v != '\0'; v++)
		if (*v == ',')
			n++;
	return n;
}

int tp_conninfo_server(const struct tp_conninfo *c, const char *host, const char *port)
{
	const char *hosts = opt_val(c->opts, "host"), *ports = opt_val(c->opts, "port");
	int n = host_count(c->opts), found = -1;
	char h[256], p[32];

	if (hosts == NULL)
		hosts = opt_val(c->opts, "hostaddr");
	if (hosts == NULL || host == NULL)
		return n == 1 ? 0 : -1;
	for (int i = 0; i < n; i++) {
		next_entry(&hosts, h, sizeof(h));
		if (ports == NULL || list_len(ports) == 1)
			snprintf(p, sizeof(p), "%s", ports != NULL ? ports : "");
		else
			next_entry(&ports, p, sizeof(p));
		if (strcmp(h, host) != 0)
			continue;
		/* the same host twice in the list: the port tells them apart */
		if (port == NULL || p[0] == '\0' || strcmp(p, port) == 0)
			return i;
		if (found < 0)
			found = i;
	}
	return found;
}

/* "a,b,c" with entry first moved to the front: "b,a,c" for first = 1 */
static char *rotate_list(const char *v, int first)
{
	size_t len = strlen(v);
	char *out = malloc(len + 1), *o = out;
	const char *start = v;

	if (out == NULL)
		return NULL;
	for (int i = 0; i < first; i++)
		start = strchr(start, ',') + 1;
	o += snprintf(o, len + 1, "%.*s", (int)strcspn(start, ","), start);
	for (const char *e = v; ; e = strchr(e, ',') + 1) {
		if (e != start)
			o += snprintf(o, len + 1 - (size_t)(o - out), ",%.*s",
				      (int)strcspn(e, ","), e);
		if (strchr(e, ',') == NULL)
			break;
	}
	return out;
}

enum tp_status tp_conninfo_prefer(struct tp_conninfo *c, int first)
{
	static const char *const lists[3] = { "host", "hostaddr", "port" };
	int n = host_count(c->opts);

	if (first <= 0 || first >= n)
		return TP_OK;
	for (int l = 0; l < 3; l++) {
		for (size_t k = 0; c->keys[k] != NULL; k++) {
			if (strcmp(c->keys[k], lists[l]) != 0 || list_len(c->vals[k]) != n)
				continue;
			if ((c->rotated[l] = rotate_list(c->vals[k], first)) == NULL)
				return TP_ENOMEM;
			c->vals[k] = c->rotated[l];
		}
	}
	return TP_OK;
}

void tp_conninfo_free(struct tp_conninfo *c)
{
	for (int l = 0; l < 3; l++)
		tp_free_str(c->rotated[l]);
	free_opts(c->opts);
	tp_free_str(c->options);
	free(c->keys);
	free(c->vals);
	memset(c, 0, sizeof(*c));
}

/* libpq reads PG* variables (PGHOST, PGHOSTADDR, PGPORT, PGSSLMODE,
 * PGSERVICEFILE, PGSYSCONFDIR, ...) for every keyword the parameters leave
 * out.  In someone else's process (the module runs in sshd, su, sudo) the
 * environment must stay as it was: libpq gets a copy without them, and
 * the caller's array (its pointer and its strings) comes back untouched.
 * Another thread that calls setenv meanwhile would lose its change; PAM
 * applications do not change the environment while authenticating.
 * Swapping environ is process-wide: two of our threads doing it at once
 * would restore each other's freed copy, so the swap is serialised, and
 * skipped when there is nothing to hide (totpd, with its threads, clears
 * the PG* variables at start and so connects without the lock). */
static pthread_mutex_t environ_lock = PTHREAD_MUTEX_INITIALIZER;

PGconn *tp_pq_connect(const struct tp_conninfo *c)
{
	char **saved, **clean;
	size_t n = 0, k = 0, pg = 0;
	PGconn *conn = NULL;

	for (char **e = environ; e != NULL && *e != NULL; e++)
		pg += strncmp(*e, "PG", 2) == 0;
	if (pg == 0)
		return PQconnectdbParams(c->keys, c->vals, 0);
	pthread_mutex_lock(&environ_lock);
	saved = environ;
	for (char **e = saved; e != NULL && *e != NULL; e++)
		n++;
	clean = calloc(n + 1, sizeof(*clean));
	if (clean == NULL)
		goto out;
	for (char **e = saved; e != NULL && *e != NULL; e++)
		if (strncmp(*e, "PG", 2) != 0)
			clean[k++] = *e;
	environ = clean;
	conn = PQconnectdbParams(c->keys, c->vals, 0);
	environ = saved;
	free(clean);
out:
	pthread_mutex_unlock(&environ_lock);
	return conn;
}
