/* totpctl migrate: copy the file store (store.path) into the PostgreSQL
 * store the same config names (store.backend = "postgresql"), one
 * profile at a time through totp.admin_import: secret, parameters,
 * comment, enabled, creation time, emergency-code hashes, and the state
 * (last step, spent codes, failures, lock).  Idempotent: a profile
 * already there is "unchanged", or "merged" when the file holds a later
 * step or more spent codes (state only moves forward); a different
 * profile under the same name is a "conflict" and is left alone.
 *
 * The file store is read with the store user's identity, as the other
 * verbs do; nothing is written to it. */
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "store.h"
#include "totpctl.h"

struct migrate_ctx {
	const struct tp_config *cfg;
	struct tp_store *dst;
	json_t *records;
	unsigned count[4];          /* copied, merged, unchanged, conflict */
	enum tp_status failed;      /* a fault: stop */
	bool nomem;
};

static const char *const result_names[4] = { "copied", "merged", "unchanged", "conflict" };

static int migrate_one(const struct tp_profile *p, void *ctx)
{
	struct migrate_ctx *m = ctx;
	const struct tp_owner *owner = tp_config_owner(m->cfg, p->owner_uuid);
	enum tp_import_result how = TP_IMPORT_COPIED;
	enum tp_status st = tp_store_import(m->dst, p, &how);
	unsigned k;
	json_t *rec;

	if (st == TP_EEXIST) {
		k = 3;
	} else if (st != TP_OK) {
		m->failed = st;
		return 1;
	} else {
		k = (unsigned)how;
	}
	m->count[k]++;
	rec = json_pack("{s:{s:s,s:s?},s:{s:s},s:s}",
			"owner", "uuid", p->owner_uuid, "name", owner ? owner->name : NULL,
			"account", "name", p->account, "result", result_names[k]);
	if (rec == NULL || json_array_append_new(m->records, rec) != 0) {
		m->nomem = true;
		return 1;
	}
	return 0;
}

void ctl_migrate(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct ctl_priv *pv, struct ctl_result *r)
{
	struct migrate_ctx m = { .cfg = cfg };
	struct tp_store *src = NULL;
	char *err = NULL;
	enum tp_status st;

	if (!caller->admin) {
		ctl_fail(r, TP_API_PERMISSION, NULL, "only an admin may migrate the store");
		return;
	}
	if (cfg->store_backend != TP_STORE_POSTGRESQL) {
		ctl_fail(r, TP_API_INVALID, "store.backend",
			 "migrate copies the file store (store.path) into the postgresql "
			 "store: set store.backend = \"postgresql\" and store.admin_conninfo "
			 "in %s", cfg->path);
		return;
	}
	m.records = json_array();
	if (m.records == NULL) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
		return;
	}
	if (ctl_priv_raise(pv) != 0) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot switch to the store user");
		goto out;
	}
	st = tp_store_open(cfg, &m.dst, &err);
	if (st != TP_OK) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "%s", err ? err : tp_status_str(st));
		goto lower;
	}
	free(err);
	err = NULL;
	st = tp_store_files_open(cfg, &src, &err);
	if (st != TP_OK) {
		ctl_fail(r, TP_API_INTERNAL, "store.path", "the file store: %s",
			 err ? err : tp_status_str(st));
		goto lower;
	}
	st = tp_store_list(src, NULL, migrate_one, &m, &r->skipped);
	if (m.failed != TP_OK)
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot copy a profile in: %s: %s",
			 tp_status_str(m.failed), tp_store_detail(m.dst));
	else if (m.nomem)
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
	else if (st != TP_OK)
		ctl_fail(r, TP_API_INTERNAL, "store.path", "cannot list the file store: %s: %s",
			 tp_status_str(st), tp_store_detail(src));
lower:
	tp_store_close(src);
	tp_store_close(m.dst);
	free(err);
	if (ctl_priv_lower(pv) != 0)
		ctl_fail(r, TP_API_INTERNAL, NULL, "cannot switch back to the caller's uid");
out:
	if (r->failed) {
		json_decref(m.records);
		return;
	}
	r->body = json_pack("{s:o,s:I}", "records", m.records,
			    "num_records", (json_int_t)json_array_size(m.records));
	if (r->body == NULL) {
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
		return;
	}
	/* a profile left behind is no success */
	r->partial = m.count[3] > 0 || r->skipped > 0;
	snprintf(r->done, sizeof(r->done),
		 "%u copied, %u merged, %u unchanged, %u conflict%s, %u unreadable.",
		 m.count[0], m.count[1], m.count[2], m.count[3],
		 m.count[3] == 1 ? "" : "s", r->skipped);
}
