/* The profile store interface.  Callers never see files: the one backend
 * today keeps an INI file per profile (store_files.c); a database backend
 * can be added behind the same operations. */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stdbool.h>
#include <sys/types.h>
#include "config.h"
#include "profile.h"
#include "tp_status.h"

struct tp_store;

/* What an update callback asks the store to do with the record. */
enum tp_update_action {
	TP_UPDATE_KEEP = 0,   /* nothing to write */
	TP_UPDATE_WRITE,      /* write *p (create or replace) */
	TP_UPDATE_DELETE      /* remove the record */
};

/* Called with the exclusive lock held and the record freshly re-read.
 * exists: whether the record was there (if not, *p is zeroed with owner
 * and account filled in).  Return an action; *fail (if set) is returned
 * by tp_store_update after the lock is released, with nothing written. */
typedef enum tp_update_action (*tp_update_fn)(struct tp_profile *p,
					      bool exists, void *ctx,
					      enum tp_status *fail);

typedef int (*tp_list_fn)(const struct tp_profile *p, void *ctx);

struct tp_store_ops {
	enum tp_status (*get)(struct tp_store *s, const char *owner_uuid,
			      const char *account, struct tp_profile *out);
	enum tp_status (*update)(struct tp_store *s, const char *owner_uuid,
				 const char *account, tp_update_fn fn,
				 void *ctx);
	enum tp_status (*remove)(struct tp_store *s, const char *owner_uuid,
				 const char *account);
	enum tp_status (*list)(struct tp_store *s, const char *owner_uuid,
			       tp_list_fn fn, void *ctx, unsigned *skipped);
	void (*close)(struct tp_store *s);
};

struct tp_store {
	const struct tp_store_ops *ops;
	char *detail;         /* last error, for logs: path and errno text */
};

/* Open the store named by the config.  May create the top folder when the
 * process is its owner.  *err gets a message on failure (free it). */
enum tp_status tp_store_open(const struct tp_config *cfg, struct tp_store **out,
			     char **err);
void tp_store_close(struct tp_store *s);

/* Read one record without locking (readers see the old or new version,
 * never a mix: writes are atomic renames). */
enum tp_status tp_store_get(struct tp_store *s, const char *owner_uuid,
			    const char *account, struct tp_profile *out);

/* Locked read-modify-write of one record. */
enum tp_status tp_store_update(struct tp_store *s, const char *owner_uuid,
			       const char *account, tp_update_fn fn, void *ctx);

/* Unconditional write, built on update. */
enum tp_status tp_store_put(struct tp_store *s, const struct tp_profile *p);

/* Remove a record under its lock, without parsing it (so a corrupt record
 * can still be deleted).  TP_ENOENT if absent. */
enum tp_status tp_store_delete(struct tp_store *s, const char *owner_uuid,
			       const char *account);

/* Every readable record of one owner (NULL: all owners).  Records that
 * fail to load are skipped and counted in *skipped if not NULL; fn
 * returning non-zero stops the walk. */
enum tp_status tp_store_list(struct tp_store *s, const char *owner_uuid,
			     tp_list_fn fn, void *ctx, unsigned *skipped);

/* Human-readable cause of the last failure ("" if none). */
const char *tp_store_detail(const struct tp_store *s);

/* Backend constructor (store_files.c). */
enum tp_status tp_store_files_open(const struct tp_config *cfg,
				   struct tp_store **out, char **err);

#endif
