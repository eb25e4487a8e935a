/* Loading and validating the main configuration file. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <libconfig.h>

#include "config.h"
#include "names.h"
#include "pg_conninfo.h"
#include "secret.h"

/* Longest config file: far more than any real one (thousands of SVMs with
 * their member lists), small enough to read whole at every login. */
#define CONFIG_MAX (4u << 20)          /* "4 MiB" in the messages */

static const char *const top_keys[] = {
	"store", "admin_group", "issuer", "totp", "emergency_codes",
	"lockout", "disabled_profile", "api", "cluster", "svms", NULL };
static const char *const store_keys[] = { "path", "user", "backend", "conninfo",
					   "admin_conninfo", NULL };
static const char *const totp_keys[] = {
	"algorithm", "digits", "period", "window", NULL };
static const char *const ec_keys[] = { "count", "warn_at", NULL };
static const char *const lockout_keys[] = {
	"max_failures", "seconds", "reveal", NULL };
static const char *const api_keys[] = {
	"connections_per_user", "request_timeout", "lock_wait_ms", NULL };
static const char *const cluster_keys[] = {
	"name", "uuid", "totp_group", "totp_accounts", NULL };
static const char *const svm_keys[] = {
	"name", "uuid", "members", "totp_group", "totp_accounts", NULL };

const struct tp_config_group tp_config_settings[] = {
	{ "", top_keys },
	{ "store", store_keys },
	{ "totp", totp_keys },
	{ "emergency_codes", ec_keys },
	{ "lockout", lockout_keys },
	{ "api", api_keys },
	{ "cluster", cluster_keys },
	{ "svms[]", svm_keys },
	{ NULL, NULL },
};

struct loader {
	const char *path;
	char *err;
	mode_t mode;             /* the file's mode, as opened */
	bool window_set, lockout_set;
};

/* "a.b.[2].c" for a setting, for error messages. */
static void setting_path(const config_setting_t *s, char *buf, size_t len)
{
	char tmp[200];
	const config_setting_t *parent = config_setting_parent(s);
	const char *name = config_setting_name(s);

	buf[0] = '\0';
	if (parent == NULL)
		return;          /* the root has no name */
	setting_path(parent, tmp, sizeof(tmp));
	/* truncation of a very deep path only shortens an error message */
	if (name != NULL)
		(void)!snprintf(buf, len, "%.190s%s%.50s", tmp, tmp[0] ? "." : "", name);
	else
		(void)!snprintf(buf, len, "%.190s[%d]", tmp, config_setting_index(s));
}

__attribute__((format(printf, 3, 4)))
static enum tp_status fail(struct loader *ld, const config_setting_t *s,
			   const char *fmt, ...)
{
	char what[512], where[256];
	va_list ap;

	if (ld->err != NULL)
		return TP_EINVAL;        /* keep the first error */
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	setting_path(s, where, sizeof(where));
	if (asprintf(&ld->err, "%s:%u: %s: %s", ld->path,
		     config_setting_source_line(s), where[0] ? where : "(top)",
		     what) < 0)
		ld->err = NULL;
	return TP_EINVAL;
}

/* Every member of group `g` must be one of `allowed` (NULL-terminated). */
static enum tp_status only_known(struct loader *ld, const config_setting_t *g,
				 const char *const *allowed)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		bool known = false;
		for (const char *const *a = allowed; *a != NULL; a++)
			known = known || strcmp(*a, name) == 0;
		if (!known)
			return fail(ld, m, "unknown setting");
	}
	return TP_OK;
}

static enum tp_status get_group(struct loader *ld, const config_setting_t *parent,
				const char *name, const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(parent, name);

	*out = NULL;
	if (s == NULL)
		return TP_OK;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return fail(ld, s, "must be a group { ... }");
	*out = s;
	return TP_OK;
}

/* Optional string; *out keeps its value when absent. */
static enum tp_status get_string(struct loader *ld, const config_setting_t *g,
				 const char *name, char **out)
{
	const config_setting_t *s;
	char *copy;

	if (g == NULL || (s = config_setting_get_member(g, name)) == NULL)
		return TP_OK;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, "must be a string");
	const char *v = config_setting_get_string(s);
	if (v[0] == '\0')
		return fail(ld, s, "must not be empty");
	copy = strdup(v);
	if (copy == NULL)
		return TP_ENOMEM;
	free(*out);
	*out = copy;
	return TP_OK;
}

static enum tp_status get_uint(struct loader *ld, const config_setting_t *g,
			       const char *name, unsigned lo, unsigned hi,
			       unsigned *out)
{
	const config_setting_t *s;
	long long v;

	if (g == NULL || (s = config_setting_get_member(g, name)) == NULL)
		return TP_OK;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return fail(ld, s, "must be an integer");
	if (v < lo || v > hi)
		return fail(ld, s, "must be between %u and %u", lo, hi);
	*out = (unsigned)v;
	return TP_OK;
}

static enum tp_status get_bool(struct loader *ld, const config_setting_t *g,
			       const char *name, bool *out)
{
	const config_setting_t *s;

	if (g == NULL || (s = config_setting_get_member(g, name)) == NULL)
		return TP_OK;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(ld, s, "must be true or false");
	*out = config_setting_get_bool(s) != 0;
	return TP_OK;
}

/* Optional array of valid account names. */
static enum tp_status get_names(struct loader *ld, const config_setting_t *g,
				const char *name, char ***out, size_t *count)
{
	const config_setting_t *s;
	int n;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return TP_OK;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(ld, s, "must be a list of account names [ \"...\" ]");
	n = config_setting_length(s);
	*out = calloc((size_t)n + 1, sizeof(char *));
	if (*out == NULL)
		return TP_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || !tp_valid_account(v))
			return fail(ld, e, "not a valid account name");
		if (((*out)[i] = strdup(v)) == NULL)
			return TP_ENOMEM;
		*count = (size_t)i + 1;
	}
	return TP_OK;
}

static enum tp_status load_owner(struct loader *ld, const config_setting_t *g,
				 enum tp_scope scope, struct tp_owner *o)
{
	char *uuid = NULL;
	enum tp_status st;

	o->scope = scope;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(ld, g, "must be a group { name = ...; uuid = ...; }");
	st = only_known(ld, g, scope == TP_SCOPE_CLUSTER ? cluster_keys : svm_keys);
	if (st == TP_OK) st = get_string(ld, g, "name", &o->name);
	if (st == TP_OK) st = get_string(ld, g, "uuid", &uuid);
	if (st == TP_OK) st = get_string(ld, g, "totp_group", &o->totp_group);
	if (st == TP_OK)
		st = get_names(ld, g, "totp_accounts", &o->totp_accounts,
			       &o->n_totp_accounts);
	if (st == TP_OK && scope == TP_SCOPE_SVM)
		st = get_names(ld, g, "members", &o->members, &o->n_members);
	if (st != TP_OK)
		goto out;
	/* point at the bad setting itself (its line), or the group if absent */
	if (o->name == NULL || !tp_valid_owner_name(o->name))
		st = fail(ld, o->name ? config_setting_get_member(g, "name") : g,
			  "needs a valid name (letters, digits, '.', '_', '-')");
	else if (uuid == NULL || !tp_valid_uuid(uuid))
		st = fail(ld, uuid ? config_setting_get_member(g, "uuid") : g,
			  "needs a uuid like 02c9e252-41be-11e9-81d5-00a0986138f7 (lower case)");
	else
		memcpy(o->uuid, uuid, TP_UUID_LEN + 1);
out:
	free(uuid);
	return st;
}

static enum tp_status load_owners(struct loader *ld, const config_setting_t *root,
				  struct tp_config *cfg)
{
	const config_setting_t *cluster = config_setting_get_member(root, "cluster");
	const config_setting_t *svms = config_setting_get_member(root, "svms");
	int n_svms = 0;
	enum tp_status st;

	if (cluster == NULL)
		return fail(ld, root, "the 'cluster' owner { name; uuid; } is required");
	if (svms != NULL) {
		if (config_setting_type(svms) != CONFIG_TYPE_LIST)
			return fail(ld, svms, "must be a list ( { ... }, ... )");
		n_svms = config_setting_length(svms);
	}
	cfg->owners = calloc((size_t)n_svms + 1, sizeof(*cfg->owners));
	if (cfg->owners == NULL)
		return TP_ENOMEM;
	cfg->n_owners = 1;
	st = load_owner(ld, cluster, TP_SCOPE_CLUSTER, &cfg->owners[0]);
	for (int i = 0; st == TP_OK && i < n_svms; i++) {
		const config_setting_t *g = config_setting_get_elem(svms, (unsigned)i);
		struct tp_owner *o = &cfg->owners[cfg->n_owners++];
		st = load_owner(ld, g, TP_SCOPE_SVM, o);
		for (size_t j = 0; st == TP_OK && j + 1 < cfg->n_owners; j++) {
			if (strcmp(cfg->owners[j].name, o->name) == 0 ||
			    strcmp(cfg->owners[j].uuid, o->uuid) == 0)
				st = fail(ld, g, "name or uuid already used by owner '%s'",
					  cfg->owners[j].name);
		}
	}
	return st;
}

/* store.backend: "files" (default) or "postgresql" with its conninfos. */
static enum tp_status load_backend(struct loader *ld, const config_setting_t *store,
				   struct tp_config *cfg)
{
	char *backend = NULL;
	const char *names[2] = { "conninfo", "admin_conninfo" };
	char **vals[2] = { &cfg->store_conninfo, &cfg->store_admin_conninfo };
	const char *problem;
	bool has_password;
	enum tp_status st;

	st = get_string(ld, store, "backend", &backend);
	if (st != TP_OK)
		return st;
	if (backend == NULL || strcmp(backend, "files") == 0) {
		cfg->store_backend = TP_STORE_FILES;
	} else if (strcmp(backend, "postgresql") == 0) {
		cfg->store_backend = TP_STORE_POSTGRESQL;
	} else {
		st = fail(ld, config_setting_get_member(store, "backend"),
			  "must be \"files\" or \"postgresql\"");
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		const config_setting_t *s = store ? config_setting_get_member(store, names[i]) : NULL;

		st = get_string(ld, store, names[i], vals[i]);
		if (st != TP_OK)
			goto out;
		if (*vals[i] != NULL && cfg->store_backend != TP_STORE_POSTGRESQL) {
			st = fail(ld, s, "is a setting of backend = \"postgresql\"");
			goto out;
		}
		if (*vals[i] == NULL)
			continue;
		/* read as libpq reads it: no spelling of a password, no
		 * plaintext path to a remote host gets past a string match */
		problem = tp_conninfo_problem(*vals[i], &has_password);
		if (problem != NULL) {
			st = fail(ld, s, "%s", problem);
			goto out;
		}
		if (has_password && (ld->mode & S_IROTH) != 0) {
			st = fail(ld, s, "holds a password, so the file must not be "
				  "readable by others (chmod o-r), or use passfile=");
			goto out;
		}
	}
	/* the database judges codes under its own policy (totp.set_policy):
	 * a host's window or lockout would mislead whoever reads this file */
	cfg->policy_ignored = cfg->store_backend == TP_STORE_POSTGRESQL &&
		(ld->lockout_set || ld->window_set);
	if (cfg->store_backend == TP_STORE_POSTGRESQL && cfg->store_conninfo == NULL &&
	    cfg->store_admin_conninfo == NULL)
		st = fail(ld, config_setting_get_member(store, "backend"),
			  "needs store.conninfo (the module) and/or store.admin_conninfo "
			  "(totpctl)");
out:
	free(backend);
	return st;
}

static enum tp_status load_root(struct loader *ld, const config_setting_t *root,
				struct tp_config *cfg)
{
	const config_setting_t *store, *totp, *ec, *lockout, *api, *s;
	char *alg = NULL, *disabled = NULL;
	enum tp_status st;

	st = only_known(ld, root, top_keys);
	if (st == TP_OK) st = get_group(ld, root, "store", &store);
	if (st == TP_OK) st = get_group(ld, root, "totp", &totp);
	if (st == TP_OK) st = get_group(ld, root, "emergency_codes", &ec);
	if (st == TP_OK) st = get_group(ld, root, "lockout", &lockout);
	if (st == TP_OK) st = get_group(ld, root, "api", &api);
	if (st != TP_OK)
		return st;
	if (store != NULL && (st = only_known(ld, store, store_keys)) != TP_OK)
		return st;
	ld->window_set = totp != NULL && config_setting_get_member(totp, "window") != NULL;
	ld->lockout_set = lockout != NULL;
	if (totp != NULL && (st = only_known(ld, totp, totp_keys)) != TP_OK)
		return st;
	if (ec != NULL && (st = only_known(ld, ec, ec_keys)) != TP_OK)
		return st;
	if (lockout != NULL && (st = only_known(ld, lockout, lockout_keys)) != TP_OK)
		return st;
	if (api != NULL && (st = only_known(ld, api, api_keys)) != TP_OK)
		return st;

	st = get_string(ld, store, "path", &cfg->store_path);
	if (st == TP_OK) st = get_string(ld, store, "user", &cfg->store_user);
	cfg->store_user_set = store != NULL &&
			      config_setting_get_member(store, "user") != NULL;
	if (st == TP_OK) st = get_string(ld, root, "admin_group", &cfg->admin_group);
	if (st == TP_OK) st = get_string(ld, root, "issuer", &cfg->issuer);
	if (st == TP_OK && cfg->issuer != NULL && tp_issuer_problem(cfg->issuer) != NULL)
		st = fail(ld, config_setting_get_member(root, "issuer"), "%s",
			  tp_issuer_problem(cfg->issuer));
	if (st == TP_OK) st = get_string(ld, totp, "algorithm", &alg);
	if (st == TP_OK)
		st = get_uint(ld, totp, "digits", TP_DIGITS_MIN, TP_DIGITS_MAX,
			      &cfg->totp.digits);
	if (st == TP_OK) st = get_uint(ld, totp, "period", 1, 300, &cfg->totp.period);
	if (st == TP_OK) st = get_uint(ld, totp, "window", 0, 10, &cfg->window);
	if (st == TP_OK)
		st = get_uint(ld, ec, "count", 0, TP_EMERGENCY_MAX, &cfg->emergency_codes);
	if (st == TP_OK)
		st = get_uint(ld, ec, "warn_at", 0, TP_EMERGENCY_MAX, &cfg->emergency_warn);
	if (st == TP_OK)
		st = get_uint(ld, lockout, "max_failures", 0, 1000, &cfg->max_failures);
	if (st == TP_OK)
		st = get_uint(ld, lockout, "seconds", 1, 86400 * 7, &cfg->lockout_seconds);
	if (st == TP_OK) st = get_bool(ld, lockout, "reveal", &cfg->reveal_lockout);
	if (st == TP_OK)
		st = get_uint(ld, api, "connections_per_user", 1, 1000,
			      &cfg->api_connections_per_user);
	if (st == TP_OK)
		st = get_uint(ld, api, "request_timeout", 1, 3600, &cfg->api_request_timeout);
	if (st == TP_OK)
		st = get_uint(ld, api, "lock_wait_ms", 1, 10000, &cfg->api_lock_wait_ms);
	if (st == TP_OK) st = get_string(ld, root, "disabled_profile", &disabled);
	if (st != TP_OK)
		goto out;
	if (alg != NULL && tp_algorithm_parse(alg, &cfg->totp.alg) != TP_OK) {
		s = config_setting_get_member(totp, "algorithm");
		st = fail(ld, s, "must be \"SHA1\", \"SHA256\" or \"SHA512\"");
		goto out;
	}
	if (disabled != NULL) {
		s = config_setting_get_member(root, "disabled_profile");
		if (strcmp(disabled, "allow") == 0)
			cfg->disabled_action = TP_DISABLED_ALLOW;
		else if (strcmp(disabled, "deny") == 0)
			cfg->disabled_action = TP_DISABLED_DENY;
		else {
			st = fail(ld, s, "must be \"allow\" or \"deny\"");
			goto out;
		}
	}
	if (cfg->store_path[0] != '/') {
		st = fail(ld, config_setting_get_member(store, "path"),
			  "must be an absolute path");
		goto out;
	}
	st = load_backend(ld, store, cfg);
	if (st != TP_OK)
		goto out;
	st = load_owners(ld, root, cfg);
out:
	free(alg);
	free(disabled);
	return st;
}

static enum tp_status set_defaults(struct tp_config *cfg)
{
	cfg->totp.alg = TP_SHA1;
	cfg->totp.digits = 6;
	cfg->totp.period = 30;
	cfg->window = 1;
	cfg->emergency_codes = 5;
	cfg->emergency_warn = 2;
	cfg->max_failures = 5;
	cfg->lockout_seconds = 300;
	cfg->api_connections_per_user = 8;
	cfg->api_request_timeout = 10;
	cfg->api_lock_wait_ms = 2000;
	cfg->disabled_action = TP_DISABLED_ALLOW;
	cfg->store_path = strdup(TP_DEFAULT_STORE);
	cfg->store_user = strdup(TP_DEFAULT_STORE_USER);
	cfg->admin_group = strdup(TP_DEFAULT_ADMIN_GROUP);
	return cfg->store_path && cfg->store_user && cfg->admin_group
	       ? TP_OK : TP_ENOMEM;
}

/* Without an issuer in the file: the kernel's node name (what
 * gethostname(3) returns), if an authenticator app can show it;
 * sethostname(2) takes any bytes.  Set after the file is read, so that a
 * config naming its issuer costs a login no uname(2). */
static enum tp_status default_issuer(struct tp_config *cfg)
{
	struct utsname host;

	cfg->issuer = strdup(uname(&host) == 0 && tp_issuer_problem(host.nodename) == NULL
			     ? host.nodename : "localhost");
	return cfg->issuer != NULL ? TP_OK : TP_ENOMEM;
}

#define STR(x) STR_(x)
#define STR_(x) #x

/* Characters an authenticator app cannot show or that change how the
 * rest is shown: C0/C1 controls, DEL, and the format characters (soft
 * hyphen, zero-width, bidirectional overrides and isolates, line and
 * paragraph separators, BOM, interlinear annotation, tags) that could make
 * one issuer look like another; and noncharacters. */
static bool unprintable(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x61c ||
	       (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2060 && c <= 0x206f) || c == 0xfeff ||
	       (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xfdd0 && c <= 0xfdef) ||
	       (c & 0xfffe) == 0xfffe || (c >= 0xe0000 && c <= 0xe007f);
}

const char *tp_issuer_problem(const char *issuer)
{
	static const char bad_utf8[] = "must be valid UTF-8";
	const unsigned char *s = (const unsigned char *)issuer;
	size_t n = strlen(issuer);

	if (n == 0)
		return "must not be empty";
	if (n > TP_ISSUER_MAX)
		return "must be at most " STR(TP_ISSUER_MAX) " bytes";
	if (s[0] == ' ' || s[n - 1] == ' ')
		return "must not start or end with a space";
	for (size_t i = 0; i < n;) {
		static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
		size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2
			   : (s[i] & 0xf0) == 0xe0 ? 3 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t c;

		if (len == 0 || len > n - i)
			return bad_utf8;
		c = len == 1 ? s[i] : s[i] & (0x7fu >> len);
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return bad_utf8;
			c = c << 6 | (s[i + k] & 0x3fu);
		}
		if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return bad_utf8;
		if (c == ':')
			return "must not contain ':' (it ends the issuer in an otpauth:// label)";
		if (unprintable(c))
			return "must be printable: no control, format or bidirectional characters";
		i += len;
	}
	return NULL;
}

/* Open the file safely: no symlink, regular, trusted owner, not writable
 * by group or others (anyone who can write it controls the second factor). */
static enum tp_status open_checked(const char *path, int *out, mode_t *mode,
				   off_t *size, char **err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	const char *why = NULL;

	*out = -1;
	if (fd < 0) {
		int e = errno;
		if (asprintf(err, "%s: cannot open: %s", path,
			     e == ELOOP ? "is a symbolic link" : strerror(e)) < 0)
			*err = NULL;
		return e == ENOENT ? TP_ENOENT : TP_EPERM;
	}
	if (fstat(fd, &st) != 0)
		why = "cannot stat";
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		why = "must be owned by root";
	else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		why = "must not be writable by group or others";
	else if (st.st_size > (off_t)CONFIG_MAX)
		why = "larger than 4 MiB";
	if (why != NULL) {
		close(fd);
		if (asprintf(err, "%s: %s", path, why) < 0)
			*err = NULL;
		return TP_EPERM;
	}
	if (mode != NULL)
		*mode = st.st_mode;
	*size = st.st_size;
	*out = fd;
	return TP_OK;
}

/* The whole file, NUL-terminated.  size: its length at the fstat just
 * done.  A first read that returns exactly that many bytes is the whole
 * file, as far as any read can tell (a file written meanwhile could grow
 * after a read that returned 0 just as well): no second read to see 0.
 * Any other count, the file changed size: read on until 0. */
static enum tp_status read_all(const char *path, int fd, off_t size, char **out, char **err)
{
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;

	*out = NULL;
	/* room for size bytes, the NUL and one more: a first read that
	 * could have returned more, but returned size, is the end */
	if (size > 0 && (size_t)size + 2 > cap)
		cap = (size_t)size + 2;
	buf = malloc(cap);
	if (buf == NULL)
		return TP_ENOMEM;
	for (;;) {
		if (len + 1 == cap) {
			char *bigger = cap > CONFIG_MAX ? NULL : realloc(buf, cap * 2);
			if (bigger == NULL) {
				free(buf);
				if (cap > CONFIG_MAX &&
				    asprintf(err, "%s: larger than 4 MiB", path) < 0)
					*err = NULL;
				return cap > CONFIG_MAX ? TP_EPERM : TP_ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			if (asprintf(err, "%s: cannot read: %s", path, strerror(e)) < 0)
				*err = NULL;
			return TP_EPERM;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == (size_t)n && size > 0 && n == size)
			break;
	}
	buf[len] = '\0';
	/* a NUL would end libconfig's string reader early: the rest unread */
	if (strlen(buf) != len) {
		unsigned line = 1;
		for (const char *c = buf; *c; c++)
			line += *c == '\n';
		free(buf);
		if (asprintf(err, "%s:%u: contains a NUL byte", path, line) < 0)
			*err = NULL;
		return TP_EINVAL;
	}
	*out = buf;
	return TP_OK;
}

/* libconfig 1.5 opens `@include "file"` (a line of blanks, "@include",
 * blanks and a quote) with fopen: relative to the caller's working
 * directory, following symlinks, with none of the checks open_checked
 * makes.  In setuid totpctl that lets any user supply settings (an
 * admin_group of their own).  1.5 has no hook to check an included file,
 * so every setting lives in this one file: refuse any line that starts
 * with @include, even inside a comment or a string. */
static enum tp_status refuse_includes(const char *path, const char *text,
				      char **err)
{
	unsigned line = 1;

	for (const char *c = text; *c != '\0'; line++) {
		const char *eol = strchr(c, '\n');
		c += strspn(c, " \t");
		if (strncmp(c, "@include", 8) == 0) {
			if (asprintf(err, "%s:%u: @include is not allowed: put every "
				     "setting in this file (an included file would "
				     "escape its owner and mode checks)", path, line) < 0)
				*err = NULL;
			return TP_EINVAL;
		}
		if (eol == NULL)
			break;
		c = eol + 1;
	}
	return TP_OK;
}

enum tp_status tp_config_load(const char *path, struct tp_config **out,
			      char **err)
{
	struct loader ld = { .path = path, .err = NULL };
	struct tp_config *cfg = NULL;
	int fd = -1;
	off_t size = -1;
	char *text = NULL;
	config_t lc;
	enum tp_status st;

	*out = NULL;
	if (err != NULL)
		*err = NULL;
	config_init(&lc);
	/* and should an include ever get past refuse_includes: every name
	 * under a file opens nothing */
	config_set_include_dir(&lc, "/dev/null");
	st = open_checked(path, &fd, &ld.mode, &size, &ld.err);
	if (st == TP_OK)
		st = read_all(path, fd, size, &text, &ld.err);
	if (st == TP_OK)
		st = refuse_includes(path, text, &ld.err);
	if (st != TP_OK)
		goto out;
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		if (asprintf(&ld.err, "%s:%d: %s", path, config_error_line(&lc),
			     config_error_text(&lc)) < 0)
			ld.err = NULL;
		st = TP_EINVAL;
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		st = TP_ENOMEM;
		goto out;
	}
	st = set_defaults(cfg);
	if (st == TP_OK)
		st = load_root(&ld, config_root_setting(&lc), cfg);
	if (st == TP_OK && cfg->issuer == NULL)
		st = default_issuer(cfg);
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL)
		tp_wipe(text, strlen(text));    /* the file may hold a conninfo password */
	free(text);
	config_destroy(&lc);
	if (st != TP_OK) {
		tp_config_free(cfg);
		cfg = NULL;
		if (ld.err == NULL && st == TP_ENOMEM)
			ld.err = strdup("out of memory");
	}
	if (err != NULL)
		*err = ld.err;
	else
		free(ld.err);
	*out = cfg;
	return st;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void tp_config_free(struct tp_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_owners; i++) {
		struct tp_owner *o = &cfg->owners[i];
		free(o->name);
		free(o->totp_group);
		free_names(o->members, o->n_members);
		free_names(o->totp_accounts, o->n_totp_accounts);
	}
	free(cfg->owners);
	free(cfg->path);
	free(cfg->store_path);
	free(cfg->store_user);
	/* a conninfo may hold a password */
	if (cfg->store_conninfo != NULL)
		tp_wipe(cfg->store_conninfo, strlen(cfg->store_conninfo));
	if (cfg->store_admin_conninfo != NULL)
		tp_wipe(cfg->store_admin_conninfo, strlen(cfg->store_admin_conninfo));
	free(cfg->store_conninfo);
	free(cfg->store_admin_conninfo);
	free(cfg->admin_group);
	free(cfg->issuer);
	free(cfg);
}

const struct tp_owner *tp_config_owner(const struct tp_config *cfg,
				       const char *name_or_uuid)
{
	if (name_or_uuid == NULL)
		return &cfg->owners[0];
	for (size_t i = 0; i < cfg->n_owners; i++) {
		if (strcmp(cfg->owners[i].name, name_or_uuid) == 0 ||
		    strcmp(cfg->owners[i].uuid, name_or_uuid) == 0)
			return &cfg->owners[i];
	}
	return NULL;
}

static bool listed(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* The user database through the reentrant calls: totpd runs verbs in
 * several threads at once, and getpwnam's shared buffer, overwritten by
 * another thread between the call and the read, could make one user's
 * request see another user's name or group.  The buffer grows on ERANGE
 * (a group with many members); NULL: no such entry or no memory. */
#define NSS_BUF_MIN 1024
#define NSS_BUF_MAX (1u << 24)

static char *nss_lookup(int (*fn)(const void *key, void *ent, char *buf, size_t len,
				  void **res),
			const void *key, void *ent)
{
	size_t len = NSS_BUF_MIN;
	void *res = NULL;

	for (;;) {
		char *buf = malloc(len);
		if (buf == NULL)
			return NULL;
		int e = fn(key, ent, buf, len, &res);
		if (e == 0 && res != NULL)
			return buf;
		free(buf);
		if (e != ERANGE || len >= NSS_BUF_MAX)
			return NULL;
		len *= 2;
	}
}

static int pw_by_name(const void *key, void *ent, char *buf, size_t len, void **res)
{
	return getpwnam_r(key, ent, buf, len, (struct passwd **)res);
}

static int pw_by_uid(const void *key, void *ent, char *buf, size_t len, void **res)
{
	return getpwuid_r(*(const uid_t *)key, ent, buf, len, (struct passwd **)res);
}

static int gr_by_name(const void *key, void *ent, char *buf, size_t len, void **res)
{
	return getgrnam_r(key, ent, buf, len, (struct group **)res);
}

bool tp_owner_has_account(const struct tp_owner *owner, const char *account)
{
	struct passwd pw;
	char *buf;

	if (!tp_valid_account(account))
		return false;
	if (owner->scope == TP_SCOPE_SVM)
		return listed(owner->members, owner->n_members, account);
	buf = nss_lookup(pw_by_name, account, &pw);
	free(buf);
	return buf != NULL;
}

bool tp_owner_requires_totp(const struct tp_owner *owner, const char *account)
{
	if (!tp_owner_has_account(owner, account))
		return false;
	if (listed(owner->totp_accounts, owner->n_totp_accounts, account))
		return true;
	return owner->totp_group != NULL && tp_user_in_group(account, owner->totp_group);
}

bool tp_user_in_group(const char *user, const char *group)
{
	struct group gr;
	struct passwd pw;
	char *gbuf = nss_lookup(gr_by_name, group, &gr), *pbuf = NULL;
	bool in = false;

	if (gbuf == NULL)
		goto out;
	for (char **m = gr.gr_mem; m != NULL && *m != NULL; m++)
		if (strcmp(*m, user) == 0) {
			in = true;
			goto out;
		}
	pbuf = nss_lookup(pw_by_name, user, &pw);
	in = pbuf != NULL && pw.pw_gid == gr.gr_gid;
out:
	free(gbuf);
	free(pbuf);
	return in;
}

bool tp_config_is_admin(const struct tp_config *cfg, uid_t uid)
{
	struct passwd pw;
	char *buf;
	bool admin = false;

	if (uid == 0)
		return true;
	if (cfg->admin_group == NULL || (buf = nss_lookup(pw_by_uid, &uid, &pw)) == NULL)
		return false;
	if (strlen(pw.pw_name) <= TP_NAME_MAX)
		admin = tp_user_in_group(pw.pw_name, cfg->admin_group);
	free(buf);
	return admin;
}
