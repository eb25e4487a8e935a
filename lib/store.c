/* Backend-independent front of the store interface. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "login.h"
#include "names.h"
#include "secret.h"
#include "store.h"

enum tp_status tp_store_open(const struct tp_config *cfg, struct tp_store **out,
			     char **err)
{
	/* The store is the first user of libcrypto in the module and in
	 * totpctl.  In a process that has not set OpenSSL up itself (a
	 * pamtester, su; not sshd, which has), the first use would read the
	 * system's openssl.cnf: milliseconds per login, for nothing we use.
	 * A no-op where OpenSSL is initialised already. */
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if (cfg->store_backend == TP_STORE_POSTGRESQL)
		return tp_store_pg_open(cfg, out, err);
	return tp_store_files_open(cfg, out, err);
}

void tp_store_close(struct tp_store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

void tp_store_release(struct tp_store *s)
{
	if (s != NULL && s->ops->release != NULL)
		s->ops->release(s);
}

static bool valid_key(const char *owner_uuid, const char *account)
{
	return tp_valid_uuid(owner_uuid) && tp_valid_account(account);
}

enum tp_status tp_store_get(struct tp_store *s, const char *owner_uuid,
			    const char *account, struct tp_profile *out)
{
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	return s->ops->get(s, owner_uuid, account, out);
}

enum tp_status tp_store_update(struct tp_store *s, const char *owner_uuid,
			       const char *account, tp_update_fn fn, void *ctx)
{
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	return s->ops->update(s, owner_uuid, account, fn, ctx);
}

enum tp_status tp_store_login(struct tp_store *s, const char *owner_uuid,
			      const char *account, tp_login_fn fn, void *ctx)
{
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	return s->ops->login(s, owner_uuid, account, fn, ctx);
}

static enum tp_update_action replace_with(struct tp_profile *p, bool exists,
					  void *ctx, enum tp_status *fail)
{
	(void)exists;
	(void)fail;
	*p = *(const struct tp_profile *)ctx;
	return TP_UPDATE_WRITE;
}

enum tp_status tp_store_put(struct tp_store *s, const struct tp_profile *p)
{
	return tp_store_update(s, p->owner_uuid, p->account, replace_with,
			       (void *)p);
}

/* The login state only: a count and a lock to clear, flushed (an unlock
 * that a crash could take back would have to be done again). */
static enum tp_state_write unlock_state(struct tp_profile *p, void *ctx)
{
	(void)ctx;
	if (p->failures == 0 && p->lock_until == 0)
		return TP_STATE_KEEP;
	p->failures = 0;
	p->lock_until = 0;
	return TP_STATE_FLUSH;
}

enum tp_status tp_store_unlock(struct tp_store *s, const char *owner_uuid,
			       const char *account)
{
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	if (s->ops->unlock != NULL)
		return s->ops->unlock(s, owner_uuid, account);
	return s->ops->login(s, owner_uuid, account, unlock_state, NULL);
}

enum tp_status tp_store_delete(struct tp_store *s, const char *owner_uuid,
			       const char *account)
{
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	return s->ops->remove(s, owner_uuid, account);
}

enum tp_status tp_store_list(struct tp_store *s, const char *owner_uuid,
			     tp_list_fn fn, void *ctx, unsigned *skipped)
{
	unsigned dummy = 0;

	/* an out-parameter: this walk's count, whatever the caller left in it */
	if (skipped != NULL)
		*skipped = 0;
	if (owner_uuid != NULL && !tp_valid_uuid(owner_uuid))
		return TP_EINVAL;
	return s->ops->list(s, owner_uuid, fn, ctx, skipped ? skipped : &dummy);
}

const char *tp_store_detail(const struct tp_store *s)
{
	return s != NULL && s->detail != NULL ? s->detail : "";
}

bool tp_store_unavailable(const struct tp_store *s)
{
	return s != NULL && s->unavailable;
}

/* ---- the higher-level operations, over update and login ---- */

struct attempt_ctx {
	const struct tp_login_policy *policy;
	const char *const *codes;
	size_t ncodes;
	int64_t now;
	struct tp_attempt *out;
};

static enum tp_state_write attempt_locked(struct tp_profile *p, void *ctx)
{
	struct attempt_ctx *a = ctx;
	bool changed = false;

	if (!p->enabled) {
		a->out->disabled = true;
		return TP_STATE_KEEP;
	}
	a->out->disabled = false;
	a->out->outcome = tp_login_attempt_any(p, a->policy, a->codes, a->ncodes,
					       a->now, &a->out->matched, &changed);
	a->out->emergency_left = tp_profile_emergency_left(p);
	return tp_login_state_write(a->out->outcome, changed, p, a->now);
}

enum tp_status tp_store_attempt(struct tp_store *s, const char *owner_uuid,
				const char *account, const char *const *codes,
				size_t ncodes, const struct tp_login_policy *policy,
				int64_t now, struct tp_attempt *out)
{
	struct attempt_ctx a = { .policy = policy, .codes = codes, .ncodes = ncodes,
				 .now = now, .out = out };

	memset(out, 0, sizeof(*out));
	out->outcome = TP_LOGIN_WRONG;
	if (!valid_key(owner_uuid, account))
		return TP_EINVAL;
	if (s->ops->attempt != NULL)
		return s->ops->attempt(s, owner_uuid, account, codes, ncodes, policy,
				       now, out);
	return s->ops->login(s, owner_uuid, account, attempt_locked, &a);
}

/* Under the account's lock: a duplicate check and the write are atomic. */
static enum tp_update_action create_locked(struct tp_profile *p, bool exists,
					   void *ctx, enum tp_status *fail)
{
	struct tp_created_profile *c = ctx;

	if (exists && p->enabled) {
		*fail = TP_EEXIST;
		return TP_UPDATE_KEEP;
	}
	c->replaced = exists;
	c->restorable = exists;
	if (exists)
		c->old = *p;
	*p = c->fresh;
	return TP_UPDATE_WRITE;
}

enum tp_status tp_store_create(struct tp_store *s, const struct tp_create_request *rq,
			       struct tp_created_profile *out)
{
	enum tp_status st;

	memset(out, 0, sizeof(*out));
	if (!valid_key(rq->owner_uuid, rq->account) ||
	    (rq->comment != NULL && strlen(rq->comment) > TP_COMMENT_MAX))
		return TP_EINVAL;
	if (s->ops->create != NULL)
		return s->ops->create(s, rq, out);
	st = tp_profile_generate(&out->fresh, rq->owner_uuid, rq->account, &rq->totp,
				 rq->secret_len, rq->n_codes, out->codes);
	if (st != TP_OK)
		return st;
	if (rq->comment != NULL)
		memcpy(out->fresh.comment, rq->comment, strlen(rq->comment) + 1);
	st = s->ops->update(s, rq->owner_uuid, rq->account, create_locked, out);
	if (st != TP_OK) {
		tp_profile_wipe(&out->fresh);
		tp_profile_wipe(&out->old);
		tp_wipe(out->codes, sizeof(out->codes));
		out->replaced = false;
		out->restorable = false;
	}
	return st;
}

struct modify_ctx {
	const char *comment;
	const bool *enabled;
};

static enum tp_update_action modify_locked(struct tp_profile *p, bool exists,
					   void *ctx, enum tp_status *fail)
{
	const struct modify_ctx *c = ctx;

	if (!exists) {
		*fail = TP_ENOENT;
		return TP_UPDATE_KEEP;
	}
	if (c->comment != NULL)
		memcpy(p->comment, c->comment, strlen(c->comment) + 1);
	if (c->enabled != NULL)
		p->enabled = *c->enabled;
	return TP_UPDATE_WRITE;
}

enum tp_status tp_store_modify(struct tp_store *s, const char *owner_uuid,
			       const char *account, const char *comment,
			       const bool *enabled)
{
	struct modify_ctx c = { .comment = comment, .enabled = enabled };

	if (!valid_key(owner_uuid, account) ||
	    (comment != NULL && strlen(comment) > TP_COMMENT_MAX))
		return TP_EINVAL;
	if (s->ops->modify != NULL)
		return s->ops->modify(s, owner_uuid, account, comment, enabled);
	return s->ops->update(s, owner_uuid, account, modify_locked, &c);
}

struct take_back_ctx {
	const struct tp_created_profile *c;
	char fingerprint[TP_FINGERPRINT_HEX + 1];
	bool changed;
};

static enum tp_update_action take_back_locked(struct tp_profile *p, bool exists,
					      void *ctx, enum tp_status *fail)
{
	struct take_back_ctx *u = ctx;
	char fp[TP_FINGERPRINT_HEX + 1];
	bool ours;

	(void)fail;
	ours = exists && p->created == u->c->fresh.created &&
	       tp_profile_fingerprint(p, fp) == TP_OK &&
	       tp_equal(fp, u->fingerprint, TP_FINGERPRINT_HEX);
	tp_wipe(fp, sizeof(fp));
	if (!ours) {
		/* deleted, or replaced since: not ours to touch */
		u->changed = true;
		return TP_UPDATE_KEEP;
	}
	if (u->c->replaced) {
		*p = u->c->old;
		return TP_UPDATE_WRITE;
	}
	return TP_UPDATE_DELETE;
}

enum tp_status tp_store_take_back(struct tp_store *s, const struct tp_created_profile *c,
				  bool *changed)
{
	struct take_back_ctx u = { .c = c };
	enum tp_status st;

	*changed = false;
	if (!valid_key(c->fresh.owner_uuid, c->fresh.account))
		return TP_EINVAL;
	if (s->ops->take_back != NULL)
		return s->ops->take_back(s, c, changed);
	st = tp_profile_fingerprint(&c->fresh, u.fingerprint);
	if (st == TP_OK)
		st = s->ops->update(s, c->fresh.owner_uuid, c->fresh.account,
				    take_back_locked, &u);
	tp_wipe(u.fingerprint, sizeof(u.fingerprint));
	*changed = u.changed;
	return st;
}

enum tp_status tp_store_import(struct tp_store *s, const struct tp_profile *p,
			       enum tp_import_result *how)
{
	if (!valid_key(p->owner_uuid, p->account))
		return TP_EINVAL;
	if (s->ops->import == NULL)
		return TP_EINVAL;
	return s->ops->import(s, p, how);
}
