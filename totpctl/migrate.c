/* totpctl migrate: copy the file store (store.path) into the PostgreSQL
 * store the same config names (store.backend = "postgresql"), one
 * profile at a time through totp.admin_import: secret, parameters,
 * comment, enabled, creation time, emergency-code hashes, and the state
 * (last step, spent codes, failures, lock).  Idempotent: a profile
 * already there is "unchanged", or "merged" when the file holds a later
 * step or more spent codes (state only moves forward); a different
 * profile under the same name is a "conflict" and is left alone, and one
 * an admin deleted from the database is "deleted" (never brought back).
 *
 * Then, once every readable profile has been taken by the database (no
 * fault stopped the copy), the host's copies are removed from the file
 * store: a host of the fleet keeps no secret, so a stolen one yields none.
 * A conflict's or a deleted profile's copy goes too: the database's
 * decision stands, and no login on this host reads the file store any
 * more.  --keep-local keeps them all (the output says so), for a trial
 * run.  The file store is read and changed with the store user's
 * identity, as the other verbs do. */
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "store.h"
#include "totpctl.h"

struct migrate_ctx {
	const struct tp_config *cfg;
	struct tp_store *dst;
	json_t *records;
	unsigned count[5];          /* copied, merged, unchanged, conflict, deleted */
	enum tp_status failed;      /* a fault: stop */
	bool nomem;
};

static const char *const result_names[5] = { "copied", "merged", "unchanged", "conflict",
					     "deleted" };

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
	} else if (st == TP_ENOENT) {
		k = 4;
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

/* Every profile the database has taken, off this host: each record gets
 * "local": "removed" (or "kept"); false if one could not be removed. */
static bool remove_local(struct tp_store *src, json_t *records, bool keep,
			 unsigned *removed, struct ctl_result *r)
{
	size_t i;
	json_t *rec;

	json_array_foreach(records, i, rec) {
		const char *uuid = json_string_value(json_object_get(
					json_object_get(rec, "owner"), "uuid"));
		const char *account = json_string_value(json_object_get(
					json_object_get(rec, "account"), "name"));
		enum tp_status st = keep ? TP_OK : tp_store_delete(src, uuid, account);

		if (st != TP_OK && st != TP_ENOENT) {
			ctl_fail(r, TP_API_INTERNAL, "store.path",
				 "the database holds %s/%s, but its copy on this host could "
				 "not be removed: %s: %s", uuid, account, tp_status_str(st),
				 tp_store_detail(src));
			return false;
		}
		if (json_object_set_new(rec, "local", json_string(keep ? "kept" : "removed")) != 0)
			return false;
		if (!keep)
			(*removed)++;
	}
	return true;
}

void ctl_migrate(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct ctl_priv *pv, bool keep_local, struct ctl_result *r)
{
	struct migrate_ctx m = { .cfg = cfg };
	struct tp_store *src = NULL;
	char *err = NULL;
	enum tp_status st;
	unsigned removed = 0;

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
	else if (!remove_local(src, m.records, keep_local, &removed, r) && !r->failed)
		ctl_fail(r, TP_API_INTERNAL, NULL, "out of memory");
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
	/* a profile not taken, a secret kept on the host, an unreadable file
	 * (which may hold one) left in the store: no success */
	r->partial = m.count[3] > 0 || m.count[4] > 0 || r->skipped > 0;
	snprintf(r->done, sizeof(r->done),
		 "%u copied, %u merged, %u unchanged, %u conflict%s, %u deleted, %u unreadable; "
		 "%u removed from this host%s.",
		 m.count[0], m.count[1], m.count[2], m.count[3],
		 m.count[3] == 1 ? "" : "s", m.count[4], r->skipped, removed,
		 keep_local ? " (--keep-local: the secrets are still here)" : "");
}
