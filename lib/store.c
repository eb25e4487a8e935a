/* Backend-independent front of the store interface. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "names.h"
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
	return tp_store_files_open(cfg, out, err);
}

void tp_store_close(struct tp_store *s)
{
	if (s != NULL)
		s->ops->close(s);
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
