/* The five verbs.  Each one checks its input and the caller's rights
 * first, then touches the store with the store user's identity held only
 * around the store calls, and leaves either an API error or the API's
 * response body in the result.  Nothing is printed here: output happens
 * after the privilege is dropped for good (main.c). */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "api_json.h"
#include "api_query.h"
#include "api_verbs.h"
#include "base32.h"
#include "names.h"
#include "profile.h"
#include "secret.h"
#include "store.h"
#include "totp.h"

#define SECRET_BYTES 20              /* 160 bits, RFC 4226's recommendation */
#define LIST_HREF "/api/security/login/totps"

/* Printable ASCII only: details can carry user input and go to terminals
 * and into JSON (which must be valid UTF-8). */
static void safe_copy(char *out, size_t outsz, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)in; *c && o + 5 < outsz; c++) {
		if (*c >= 0x20 && *c < 0x7f) {
			out[o++] = (char)*c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*c >> 4];
			out[o++] = hex[*c & 15u];
		}
	}
	out[o] = '\0';
}

void ctl_fail(struct ctl_result *r, enum tp_api_error e, const char *target,
	      const char *fmt, ...)
{
	char raw[sizeof(r->detail)];
	va_list ap;

	if (r->failed)
		return;                  /* the first error is the one reported */
	r->failed = true;
	r->err = e;
	r->target = target;
	raw[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
	}
	safe_copy(r->detail, sizeof(r->detail), raw);
}

static void store_fail(struct ctl_result *r, enum tp_status st,
		       const struct tp_store *s, const char *what)
{
	const char *d = tp_store_detail(s);

	if (st == TP_EBUSY && !r->failed)
		r->busy = true;
	ctl_fail(r, TP_API_INTERNAL, NULL, "%s: %s%s%s", what, tp_status_str(st),
		 d[0] ? ": " : "", d);
}

/* The store, opened with the store user's identity. */
static struct tp_store *store_open(const struct tp_config *cfg,
				   const struct ctl_store_access *pv, struct ctl_result *r)
{
	struct tp_store *s = NULL;
	char *err = NULL;
	enum tp_status st;

	if (pv->enter != NULL && pv->enter(pv->ctx) != 0) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot switch to the store user");
		return NULL;
	}
	st = tp_store_open(cfg, &s, &err);
	if (st != TP_OK) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "%s", err ? err : tp_status_str(st));
		free(err);
		s = NULL;
	}
	return s;
}

static void store_close(struct tp_store *s, const struct ctl_store_access *pv,
			struct ctl_result *r)
{
	tp_store_close(s);
	if (pv->leave != NULL && pv->leave(pv->ctx) != 0)
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot switch back to the caller's uid");
}

static const struct tp_owner *find_owner(const struct tp_config *cfg,
					 const char *name, struct ctl_result *r)
{
	const struct tp_owner *owner = tp_config_owner(cfg, name);

	/* a well-formed uuid that names no owner is an entry that does not
	 * exist (the API's 404); anything else is not an owner at all */
	if (owner == NULL && tp_valid_uuid(name))
		ctl_fail(r, TP_API_NO_ENTRY, "owner.uuid", "no owner with uuid %s in %s",
			 name, cfg->path);
	else if (owner == NULL)
		ctl_fail(r, TP_API_INVALID, "owner.name",
			 "no owner named '%s' (the cluster or an SVM name or uuid from %s)",
			 name, cfg->path);
	return owner;
}

static bool valid_account(const char *account, struct ctl_result *r)
{
	if (tp_valid_account(account))
		return true;
	ctl_fail(r, TP_API_INVALID, "account.name",
		 "'%s' is not a valid account name", account);
	return false;
}

static bool valid_comment(const char *comment, struct ctl_result *r)
{
	if (comment == NULL || tp_valid_comment(comment))
		return true;
	ctl_fail(r, TP_API_INVALID, "comment",
		 "a comment is printable UTF-8 text of at most %d bytes", TP_COMMENT_MAX);
	return false;
}

/* "true" or "false", as the API's boolean; anything else is refused. */
static bool parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* enabled's value, or the error e naming it. */
static bool enabled_value(const char *s, enum tp_api_error e, bool *out,
			  struct ctl_result *r)
{
	if (parse_bool(s, out))
		return true;
	ctl_fail(r, e, "enabled", "'%s' is not a boolean: use true or false", s);
	return false;
}

/* A non-admin acts only on their own account (in any owner). */
static bool may_touch(const struct ctl_caller *caller, const char *account,
		      struct ctl_result *r)
{
	if (caller->admin || strcmp(caller->name, account) == 0)
		return true;
	ctl_fail(r, TP_API_PERMISSION, "account.name",
		 "only an admin may act on another user's profile (you are '%s')",
		 caller->name);
	return false;
}

/* modify/show/delete/unlock name one profile: the owner (the cluster
 * when not given, as in create) and the account, which is required: a
 * command line without it is a usage error. */
static const struct tp_owner *profile_key(const struct tp_config *cfg,
					  const struct ctl_request *o,
					  struct ctl_result *r)
{
	if (o->account == NULL) {
		ctl_fail(r, TP_API_INVALID, "account.name",
			 "give --account NAME (or -username NAME)");
		r->usage = true;
		return NULL;
	}
	const struct tp_owner *owner = find_owner(cfg, o->owner, r);
	if (owner == NULL || !valid_account(o->account, r))
		return NULL;
	return owner;
}

/* ---- create (POST) ---- */

/* The totp_post record: the stored fields plus what is shown only once. */
static json_t *create_record(const struct tp_config *cfg, const struct tp_owner *owner,
			     const struct tp_profile *p,
			     char codes[][TP_EMERGENCY_DIGITS + 1], unsigned n_codes,
			     struct ctl_result *r)
{
	char secret[TP_SECRET_MAX * 2], now_code[TP_CODE_MAX + 1];
	char *url = NULL;
	json_t *rec = NULL, *ec = NULL;
	int64_t step = tp_totp_step((int64_t)time(NULL), p->totp.period);
	enum tp_status st;

	st = tp_base32_encode(p->secret, p->secret_len, secret, sizeof(secret));
	if (st == TP_OK)
		st = tp_profile_install_url(p, cfg->issuer, &url);
	if (st == TP_OK)
		st = tp_hotp(p->secret, p->secret_len, p->totp.alg, p->totp.digits,
			     (uint64_t)step, now_code);
	if (st != TP_OK) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot prepare the new key: %s",
			 tp_status_str(st));
		goto out;
	}
	rec = tp_json_profile(p, owner, TP_F_ALL);
	ec = json_array();
	if (rec == NULL || ec == NULL)
		goto nomem;
	for (unsigned i = 0; i < n_codes; i++)
		if (json_array_append_new(ec, json_string(codes[i])) != 0)
			goto nomem;
	if (json_object_set_new(rec, "secret_key", json_string(secret)) != 0 ||
	    json_object_set_new(rec, "install_url", json_string(url)) != 0 ||
	    json_object_set_new(rec, "verification_code", json_string(now_code)) != 0 ||
	    json_object_set(rec, "emergency_codes", ec) != 0)
		goto nomem;
	goto out;
nomem:
	ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
	ctl_json_free(rec);
	rec = NULL;
out:
	ctl_json_free(ec);
	tp_wipe(secret, sizeof(secret));
	tp_wipe(now_code, sizeof(now_code));
	tp_free_str(url);
	return rec;
}

/* All or nothing: the store makes the key (the file store here, the
 * database there) and writes the profile; if anything after that fails
 * (record, URL, code, JSON body, output), main.c takes it back. */
static void do_create(const struct tp_config *cfg, const struct ctl_caller *caller,
		      const struct ctl_request *o, const struct ctl_store_access *pv,
		      struct ctl_result *r)
{
	const struct tp_owner *owner = find_owner(cfg, o->owner, r);
	const char *account = o->account ? o->account : caller->name;
	struct tp_created_profile *made = calloc(1, sizeof(*made));
	struct tp_store *store = NULL;
	json_t *rec = NULL, *body = NULL;
	enum tp_status st;

	if (made == NULL) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
		return;
	}
	if (owner == NULL || !valid_account(account, r) || !valid_comment(o->comment, r))
		goto out;
	/* the POST page lists "enabled": a new profile is enabled, so true
	 * is what it is anyway and false cannot be had */
	if (o->enabled != NULL) {
		bool en;
		if (!enabled_value(o->enabled, TP_API_ENABLED_INVALID, &en, r))
			goto out;
		if (!en) {
			ctl_fail(r, TP_API_INVALID, "enabled", "a new profile is enabled; "
				 "an admin disables it afterwards with modify (PATCH)");
			goto out;
		}
	}
	/* the API: "You are only allowed to create a TOTP profile for
	 * yourself, not for others.  Admin cannot create TOTP profiles for
	 * any users." */
	if (strcmp(account, caller->name) != 0) {
		ctl_fail(r, TP_API_PERMISSION, "account.name",
			 "a profile can only be created for yourself (you are '%s')",
			 caller->name);
		goto out;
	}
	if (!tp_owner_has_account(owner, account)) {
		ctl_fail(r, TP_API_INVALID, "account.name",
			 "'%s' is not an account of owner '%s'", account, owner->name);
		goto out;
	}
	if (!tp_owner_requires_totp(owner, account)) {
		ctl_fail(r, TP_API_TOTP_NOT_CONFIGURED, "account.name",
			 "TOTP is not a second factor of '%s' in owner '%s' (see %s)",
			 account, owner->name, cfg->path);
		goto out;
	}
	/* the key is shown once, on stdout: with stdout closed it would be
	 * lost, so nothing is created */
	if (caller->stdout_closed) {
		ctl_fail(r, TP_API_INTERNAL, NULL,
			 "cannot write the output: standard output is closed; nothing "
			 "was created (the new secret key and emergency codes could not "
			 "be shown)");
		goto out;
	}

	store = store_open(cfg, pv, r);
	if (store == NULL)
		goto out;
	st = tp_store_create(store, &(struct tp_create_request){
		.owner_uuid = owner->uuid, .account = account, .totp = cfg->totp,
		.secret_len = SECRET_BYTES, .n_codes = cfg->emergency_codes,
		.comment = o->comment }, made);
	if (st == TP_OK) {
		r->created.written = true;
		r->created.replaced = made->replaced;
		r->created.restorable = made->restorable;
		r->created.old = made->old;
		memcpy(r->created.owner_uuid, owner->uuid, sizeof(r->created.owner_uuid));
		memcpy(r->created.account, account, strlen(account) + 1);
		r->created.created = made->fresh.created;
		st = tp_profile_fingerprint(&made->fresh, r->created.fingerprint);
		if (st != TP_OK)
			ctl_fail(r, TP_API_INTERNAL, NULL, "cannot prepare the new key: %s",
				 tp_status_str(st));
	} else if (st == TP_EEXIST) {
		ctl_fail(r, TP_API_DUPLICATE, "account.name",
			 "'%s' already has an enabled profile in owner '%s'; an admin "
			 "must disable it before a new one can be created",
			 account, owner->name);
	} else {
		store_fail(r, st, store, "cannot write the profile");
	}
	store_close(store, pv, r);
	if (r->failed)
		goto out;              /* main.c takes back a written profile */

	rec = create_record(cfg, owner, &made->fresh, made->codes, cfg->emergency_codes, r);
	if (rec == NULL)
		goto out;
	body = json_pack("{s:i,s:[o]}", "num_records", 1, "records", rec);
	if (body == NULL) {
		ctl_json_free(rec);
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
		goto out;
	}
	r->body = body;
	body = NULL;
	r->fields = TP_F_ALL;
	snprintf(r->done, sizeof(r->done), "Created the TOTP profile of %s in %s%s.",
		 account, owner->name,
		 r->created.replaced ? " (it replaces the disabled one)" : "");
out:
	ctl_json_free(body);
	tp_profile_wipe(&made->fresh);
	tp_profile_wipe(&made->old);
	tp_wipe(made->codes, sizeof(made->codes));
	free(made);
}

/* ---- modify (PATCH) ---- */

struct modify_ctx {
	const char *comment;
	bool set_enabled, enabled;
};

static void do_modify(const struct tp_config *cfg, const struct ctl_caller *caller,
		      const struct ctl_request *o, const struct ctl_store_access *pv,
		      struct ctl_result *r)
{
	const struct tp_owner *owner = profile_key(cfg, o, r);
	struct modify_ctx ctx = { .comment = o->comment };
	struct tp_store *store;
	enum tp_status st;

	if (owner == NULL)
		return;
	/* The value is checked before the caller's role: a malformed request
	 * is refused the same way whoever sends it. */
	if (o->enabled != NULL) {
		if (!enabled_value(o->enabled, TP_API_ENABLED_INVALID, &ctx.enabled, r))
			return;
		ctx.set_enabled = true;
	}
	if (!valid_comment(o->comment, r))
		return;
	if (o->comment == NULL && !ctx.set_enabled) {
		ctl_fail(r, TP_API_INVALID, "comment",
			 "nothing to modify: give a comment, an enabled state, or both");
		return;
	}
	if (ctx.set_enabled && !caller->admin) {
		ctl_fail(r, TP_API_ENABLED_ADMIN_ONLY, "enabled", NULL);
		return;
	}
	if (!may_touch(caller, o->account, r))
		return;

	store = store_open(cfg, pv, r);
	if (store == NULL)
		return;
	st = tp_store_modify(store, owner->uuid, o->account, ctx.comment,
			     ctx.set_enabled ? &ctx.enabled : NULL);
	if (st == TP_ENOENT)
		ctl_fail(r, TP_API_NOTHING_TO_MODIFY, "account.name",
			 "no profile for '%s' in owner '%s'", o->account, owner->name);
	else if (st != TP_OK)
		store_fail(r, st, store, "cannot modify the profile");
	store_close(store, pv, r);
	if (!r->failed)
		snprintf(r->done, sizeof(r->done), "Modified the TOTP profile of %s in %s.",
			 o->account, owner->name);
}

/* ---- show (GET one) ---- */

static bool parse_fields(const struct ctl_request *o, unsigned dflt, unsigned *mask,
			 struct ctl_result *r)
{
	const char *bad = NULL;

	*mask = dflt;
	r->named = 0;
	if (o->fields == NULL)
		return true;
	if (tp_fields_parse_named(o->fields, mask, &r->named, &bad) == TP_OK)
		return true;
	ctl_fail(r, TP_API_INVALID, "fields", "unknown field '%s' (known: owner, "
		 "owner.name, owner.uuid, account, account.name, account._links, comment, "
		 "enabled, "
		 "scope, sha_fingerprint, _links, *)", bad ? bad : "");
	return false;
}

static void do_show(const struct tp_config *cfg, const struct ctl_caller *caller,
		    const struct ctl_request *o, const struct ctl_store_access *pv,
		    struct ctl_result *r)
{
	const struct tp_owner *owner = profile_key(cfg, o, r);
	struct tp_profile p;
	struct tp_store *store;
	enum tp_status st;

	if (owner == NULL || !parse_fields(o, TP_F_ALL, &r->fields, r) ||
	    !may_touch(caller, o->account, r))
		return;
	store = store_open(cfg, pv, r);
	if (store == NULL)
		return;
	st = tp_store_get(store, owner->uuid, o->account, &p);
	if (st == TP_ENOENT)
		ctl_fail(r, TP_API_NO_ENTRY, "account.name",
			 "no profile for '%s' in owner '%s'", o->account, owner->name);
	else if (st != TP_OK)
		store_fail(r, st, store, "cannot read the profile");
	store_close(store, pv, r);
	if (st == TP_OK && !r->failed) {
		r->have_state = true;
		r->failures = p.failures;
		r->lock_until = p.lock_until > (int64_t)time(NULL) ? p.lock_until : 0;
		/* tp_json_profile never includes the secret or the codes */
		r->body = tp_json_profile(&p, owner, r->fields);
		if (r->body == NULL)
			ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
	}
	tp_profile_wipe(&p);
}

/* ---- list (GET collection) ---- */

/* One record of the list: its sort key and its JSON. */
struct entry {
	char **key;
	json_t *rec;
};

struct list_ctx {
	const struct tp_config *cfg;
	const struct ctl_caller *caller;
	const struct tp_query *q;
	unsigned fields;
	struct entry *v;
	size_t n, cap;
	bool nomem;
};

static int list_cb(const struct tp_profile *p, void *ctx)
{
	struct list_ctx *c = ctx;
	const struct tp_owner *owner = tp_config_owner(c->cfg, p->owner_uuid);
	struct tp_qvalues vals;
	struct entry e = { NULL, NULL };

	/* who may see what: a user their own profiles only */
	if (!c->caller->admin && strcmp(p->account, c->caller->name) != 0)
		return 0;
	if (!tp_query_values(c->q, p, owner, &vals)) {
		c->nomem = true;
		return 1;
	}
	if (!tp_query_accepts(c->q, &vals))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct entry *nv = realloc(c->v, cap * sizeof(*nv));
		if (nv == NULL) {
			c->nomem = true;
			return 1;
		}
		c->v = nv;
		c->cap = cap;
	}
	e.key = tp_query_key(c->q, &vals);
	e.rec = e.key ? tp_json_profile(p, owner, c->fields) : NULL;
	if (e.rec == NULL) {
		tp_query_key_free(c->q, e.key);
		c->nomem = true;
		return 1;
	}
	c->v[c->n++] = e;
	return 0;
}

/* A user sees only their own profiles: fetch the caller's record of each
 * owner instead of reading everyone's (O(owners), not O(profiles)). */
static enum tp_status list_own(const struct tp_config *cfg,
			       const struct ctl_caller *caller,
			       const struct tp_owner *only, struct tp_store *store,
			       struct list_ctx *ctx, unsigned *skipped)
{
	for (size_t i = 0; i < cfg->n_owners; i++) {
		const struct tp_owner *owner = &cfg->owners[i];
		struct tp_profile p;
		enum tp_status st;

		if (only != NULL && only != owner)
			continue;
		st = tp_store_get(store, owner->uuid, caller->name, &p);
		if (st == TP_ENOENT)
			continue;
		if (st != TP_OK) {
			(*skipped)++;       /* warned about, like an admin's list */
			continue;
		}
		(void)list_cb(&p, ctx);
		tp_profile_wipe(&p);
		if (ctx->nomem)
			break;
	}
	return TP_OK;
}

static int entry_cmp(const void *pa, const void *pb, void *arg)
{
	const struct entry *a = pa, *b = pb;

	return tp_query_cmp(arg, a->key, b->key);
}

/* key=value&, the value percent-encoded but for unreserved characters */
static bool href_param(char *buf, size_t len, size_t *o, const char *key,
		       const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int n = snprintf(buf + *o, len - *o, "%s%s=", *o ? "&" : "?", key);

	if (n < 0 || (size_t)n >= len - *o)
		return false;
	*o += (size_t)n;
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if (*o + 4 >= len)
			return false;
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL) {
			buf[(*o)++] = (char)*c;
		} else {
			buf[(*o)++] = '%';
			buf[(*o)++] = hex[*c >> 4];
			buf[(*o)++] = hex[*c & 15u];
		}
	}
	buf[*o] = '\0';
	return true;
}

/* The next page: the same query, after the last record given.  Only the
 * request's own parameters are repeated (the owner it named, its filters,
 * fields, order, page size); the token carries the position. */
static char *next_href(const struct ctl_request *o, const char *token)
{
	const struct { const char *key, *value; } params[] = {
		{ "owner.name", o->owner }, { "owner.name", o->owner_filter },
		{ "owner.uuid", o->uuid_filter }, { "account.name", o->account },
		{ "comment", o->comment }, { "enabled", o->enabled },
		{ "scope", o->scope }, { "sha_fingerprint", o->fingerprint_filter },
		{ "fields", o->fields }, { "order_by", o->order_by },
	};
	size_t len = strlen(LIST_HREF) + 3 * TP_QUERY_TOKEN_MAX + 4096, off = 0;
	char *buf = malloc(len), num[32];
	bool ok = buf != NULL;

	if (!ok)
		return NULL;
	memcpy(buf, LIST_HREF, strlen(LIST_HREF) + 1);
	char *q = buf + strlen(LIST_HREF);
	size_t qlen = len - strlen(LIST_HREF);
	q[0] = '\0';
	for (size_t i = 0; ok && i < sizeof(params) / sizeof(params[0]); i++)
		if (params[i].value != NULL)
			ok = href_param(q, qlen, &off, params[i].key, params[i].value);
	snprintf(num, sizeof(num), "%zu", o->max_records);
	if (ok)
		ok = href_param(q, qlen, &off, "max_records", num);
	if (ok)
		ok = href_param(q, qlen, &off, "next", token);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool set_filter(struct tp_query *q, enum tp_qfield f, const char *expr,
		       struct ctl_result *r)
{
	const char *why;

	if (expr == NULL)
		return true;
	why = tp_query_filter_problem(f, expr);
	if (why != NULL) {
		ctl_fail(r, TP_API_INVALID, tp_query_field_name(f), "%s=%s: %s",
			 tp_query_field_name(f), expr, why);
		return false;
	}
	q->filter[f] = expr;
	return true;
}

static void do_list(const struct tp_config *cfg, const struct ctl_caller *caller,
		    const struct ctl_request *o, const struct ctl_store_access *pv,
		    struct ctl_result *r)
{
	struct tp_query q;
	struct list_ctx ctx = { .cfg = cfg, .caller = caller, .q = &q };
	const struct tp_owner *owner = NULL;
	struct tp_store *store;
	json_t *records = NULL, *links = NULL;
	char *token = NULL, *href = NULL;
	size_t start = 0, end;
	enum tp_status st;
	/* JSON: the API lists the keys (plus the scope); a person gets a
	 * more useful table by default */
	unsigned dflt = o->json ? TP_F_KEYS | TP_F_SCOPE
				: TP_F_KEYS | TP_F_SCOPE | TP_F_ENABLED | TP_F_COMMENT;

	memset(&q, 0, sizeof(q));
	if (o->owner != NULL && (owner = find_owner(cfg, o->owner, r)) == NULL)
		return;
	if (!set_filter(&q, TP_Q_ACCOUNT, o->account, r) ||
	    !set_filter(&q, TP_Q_OWNER_NAME, o->owner_filter, r) ||
	    !set_filter(&q, TP_Q_OWNER_UUID, o->uuid_filter, r) ||
	    !set_filter(&q, TP_Q_COMMENT, o->comment, r) ||
	    !set_filter(&q, TP_Q_ENABLED, o->enabled, r) ||
	    !set_filter(&q, TP_Q_SCOPE, o->scope, r) ||
	    !set_filter(&q, TP_Q_FINGERPRINT, o->fingerprint_filter, r))
		return;
	if (!parse_fields(o, dflt, &ctx.fields, r))
		return;
	r->fields = ctx.fields;
	if (o->order_by != NULL) {
		const char *why = tp_query_order_parse(o->order_by, &q);
		if (why != NULL) {
			ctl_fail(r, TP_API_INVALID, "order_by", "cannot order by '%s': %s "
				 "(fields: account.name, owner.name, owner.uuid, comment, "
				 "enabled, scope, sha_fingerprint; each then asc or desc; "
				 "several joined by ',')", o->order_by, why);
			return;
		}
	}
	if (o->next != NULL && !tp_query_set_after(&q, o->next)) {
		ctl_fail(r, TP_API_INVALID, "next", "not a next token of this query (from "
			 "_links.next of a list with the same order_by)");
		return;
	}
	store = store_open(cfg, pv, r);
	if (store == NULL)
		goto out;
	if (caller->admin)
		st = tp_store_list(store, owner ? owner->uuid : NULL, list_cb, &ctx,
				   &r->skipped);
	else
		st = list_own(cfg, caller, owner, store, &ctx, &r->skipped);
	/* an owner that has no profile yet has no folder: an empty list */
	if (st != TP_OK && !(st == TP_ENOENT && owner != NULL))
		store_fail(r, st, store, "cannot list the profiles");
	else if (ctx.nomem)
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
	store_close(store, pv, r);
	if (r->failed)
		goto out;

	/* sorted by the order asked for, then owner.uuid and account.name:
	 * a total order, so a page starts exactly after the previous one */
	if (ctx.n > 1)
		qsort_r(ctx.v, ctx.n, sizeof(*ctx.v), entry_cmp, &q);
	if (q.have_after)
		while (start < ctx.n && tp_query_cmp(&q, ctx.v[start].key, q.after) <= 0)
			start++;
	end = ctx.n;
	if (o->limit && end - start > o->max_records)
		end = start + o->max_records;
	records = json_array();
	if (records == NULL)
		goto nomem;
	for (size_t i = start; i < end; i++)
		if (json_array_append(records, ctx.v[i].rec) != 0)
			goto nomem;
	links = json_pack("{s:{s:s}}", "self", "href", LIST_HREF);
	if (links == NULL)
		goto nomem;
	if (end < ctx.n && end > start) {
		token = tp_query_token(&q, ctx.v[end - 1].key);
		href = token ? next_href(o, token) : NULL;
		if (href == NULL ||
		    json_object_set_new(links, "next", json_pack("{s:s}", "href", href)) != 0)
			goto nomem;
	}
	if (o->no_records)
		r->body = json_pack("{s:I,s:O}", "num_records", (json_int_t)(end - start),
				    "_links", links);
	else
		r->body = json_pack("{s:O,s:I,s:O}", "records", records,
				    "num_records", (json_int_t)(end - start), "_links", links);
	if (r->body == NULL)
		goto nomem;
	goto out;
nomem:
	ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
out:
	for (size_t i = 0; i < ctx.n; i++) {
		tp_query_key_free(&q, ctx.v[i].key);
		ctl_json_free(ctx.v[i].rec);
	}
	free(ctx.v);
	ctl_json_free(records);
	json_decref(links);
	free(token);
	free(href);
	tp_query_free(&q);
}

/* ---- delete (DELETE) ---- */

static void do_delete(const struct tp_config *cfg, const struct ctl_caller *caller,
		      const struct ctl_request *o, const struct ctl_store_access *pv,
		      struct ctl_result *r)
{
	const struct tp_owner *owner = profile_key(cfg, o, r);
	struct tp_store *store;
	enum tp_status st;

	if (owner == NULL || !may_touch(caller, o->account, r))
		return;
	store = store_open(cfg, pv, r);
	if (store == NULL)
		return;
	st = tp_store_delete(store, owner->uuid, o->account);
	if (st == TP_ENOENT)
		ctl_fail(r, TP_API_NO_ENTRY, "account.name",
			 "no profile for '%s' in owner '%s'", o->account, owner->name);
	else if (st != TP_OK)
		store_fail(r, st, store, "cannot delete the profile");
	store_close(store, pv, r);
	if (r->failed)
		return;
	snprintf(r->done, sizeof(r->done), "Deleted the TOTP profile of %s in %s.",
		 o->account, owner->name);
	if (strcmp(caller->name, o->account) == 0)
		snprintf(r->warning, sizeof(r->warning), "you deleted your own profile: "
			 "until you run 'totpctl create' again, a login that asks for "
			 "a code refuses you");
}

/* ---- unlock (totpctl's own) ---- */

/* An admin ends a lockout: the failure count back to 0, no lock.  Logged
 * (authpriv), as the module logs the lock itself. */
static void do_unlock(const struct tp_config *cfg, const struct ctl_caller *caller,
		      const struct ctl_request *o, const struct ctl_store_access *pv,
		      struct ctl_result *r)
{
	const struct tp_owner *owner = profile_key(cfg, o, r);
	struct tp_store *store;
	enum tp_status st;

	if (owner == NULL)
		return;
	if (!caller->admin) {
		ctl_fail(r, TP_API_PERMISSION, "account.name",
			 "only an admin may unlock a profile (you are '%s')", caller->name);
		return;
	}
	store = store_open(cfg, pv, r);
	if (store == NULL)
		return;
	st = tp_store_unlock(store, owner->uuid, o->account);
	if (st == TP_ENOENT)
		ctl_fail(r, TP_API_NO_ENTRY, "account.name",
			 "no profile for '%s' in owner '%s'", o->account, owner->name);
	else if (st != TP_OK)
		store_fail(r, st, store, "cannot unlock the profile");
	store_close(store, pv, r);
	if (r->failed)
		return;
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "user=%s owner=%s: failures cleared and lock "
	       "ended by admin %s", o->account, owner->name, caller->name);
	snprintf(r->done, sizeof(r->done), "Unlocked the TOTP profile of %s in %s "
		 "(failure count 0, no lock).", o->account, owner->name);
}

void ctl_run(const struct tp_config *cfg, const struct ctl_caller *caller,
	     const struct ctl_request *o, const struct ctl_store_access *pv,
	     struct ctl_result *r)
{
	switch (o->verb) {
	case CTL_CREATE: do_create(cfg, caller, o, pv, r); break;
	case CTL_MODIFY: do_modify(cfg, caller, o, pv, r); break;
	case CTL_SHOW:   do_show(cfg, caller, o, pv, r); break;
	case CTL_LIST:   do_list(cfg, caller, o, pv, r); break;
	case CTL_DELETE: do_delete(cfg, caller, o, pv, r); break;
	case CTL_UNLOCK: do_unlock(cfg, caller, o, pv, r); break;
	case CTL_MIGRATE:
	case CTL_NONE:   break;
	}
}

json_t *ctl_result_json(const struct ctl_result *r)
{
	if (r->failed)
		return tp_json_error(r->err, r->target, r->detail[0] ? r->detail : NULL);
	/* modify and delete answer with an empty body in the API */
	if (r->body == NULL)
		return json_object();
	return json_incref(r->body);
}

char *ctl_body_text(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *out;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	out = malloc(n + 2);
	if (out != NULL) {
		memcpy(out, s, n);
		out[n] = '\n';
		out[n + 1] = '\0';
	}
	tp_free_str(s);
	return out;
}

/* Every string of a JSON value is wiped before it is freed. */
static void wipe_strings(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		tp_wipe((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			wipe_strings(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			wipe_strings(v);
	}
}

void ctl_json_free(json_t *j)
{
	if (j == NULL)
		return;
	if (j->refcount == 1)
		wipe_strings(j);
	json_decref(j);
}


/* ---- taking back a create whose key did not reach the caller ---- */

enum ctl_undo ctl_undo_create(const struct tp_config *cfg,
			      const struct ctl_store_access *sa, const struct ctl_created *c)
{
	struct tp_created_profile *made = NULL;
	struct tp_store *store = NULL;
	bool changed = false;
	enum ctl_undo rv = CTL_UNDO_FAILED;
	char *err = NULL;
	enum tp_status st;

	if (!c->written)
		return CTL_UNDO_CHANGED;
	if (sa->enter != NULL && sa->enter(sa->ctx) != 0)
		return CTL_UNDO_FAILED;
	if (tp_store_open(cfg, &store, &err) != TP_OK)
		goto out;
	/* the store recognises its profile by fingerprint and creation time */
	made = calloc(1, sizeof(*made));
	if (made == NULL)
		goto out;
	memcpy(made->fresh.owner_uuid, c->owner_uuid, sizeof(c->owner_uuid));
	memcpy(made->fresh.account, c->account, sizeof(c->account));
	memcpy(made->fresh.fingerprint, c->fingerprint, sizeof(c->fingerprint));
	made->fresh.created = c->created;
	made->replaced = c->replaced;
	made->restorable = c->restorable;
	made->old = c->old;
	st = tp_store_take_back(store, made, &changed);
	if (st == TP_OK)
		rv = changed ? CTL_UNDO_CHANGED : CTL_UNDO_DONE;
	else if (st == TP_ENOENT)
		rv = CTL_UNDO_CHANGED;  /* deleted meanwhile: nothing left to undo */
out:
	if (made != NULL) {
		tp_profile_wipe(&made->old);
		free(made);
	}
	tp_store_close(store);
	free(err);
	if (sa->leave != NULL && sa->leave(sa->ctx) != 0)
		rv = CTL_UNDO_FAILED;
	return rv;
}
