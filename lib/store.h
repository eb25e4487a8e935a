/* The profile store interface.  Callers never see files: one backend
 * keeps an INI file per profile (store_files.c), the other keeps every
 * profile of a fleet in PostgreSQL (store_pg.c), where the secrets never
 * leave the database.  The callback operations (update, login) need the
 * secret in this process, so callers use the higher-level operations
 * (attempt, create, modify, take_back): a backend either implements them
 * itself or leaves them NULL and gets store.c's version, built on the
 * callback operations.
 *
 * A record has two parts.  The profile proper (secret, parameters,
 * comment, enabled, emergency-code hashes) changes only through update,
 * put and delete (totpctl).  The login state (last accepted step, spent
 * emergency codes, failure count, lock deadline: the tp_profile fields
 * last_step, ec_spent, failures, lock_until) changes on every login,
 * through tp_store_login, which writes that state and nothing else.
 * get, list and the update callbacks see both parts merged. */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stdbool.h>
#include <sys/types.h>
#include "config.h"
#include "profile.h"
#include "tp_status.h"
#include "verdict.h"

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

/* What a login callback asks the store to record of the state fields. */
enum tp_state_write {
	TP_STATE_KEEP = 0,    /* nothing changed */
	TP_STATE_WRITE,       /* record it; may be lost in a crash (a failure
			       * count, the end of a lock) */
	TP_STATE_FLUSH        /* record it durably before returning (an
			       * accepted step, a spent code, a new lock) */
};

/* Called with the profile and its current login state merged in *p.  It
 * may change only the state fields (the store writes nothing else) and
 * must decide from *p and ctx alone: a backend without locks may call it
 * again on a fresh *p when its conditional write finds the state changed
 * meanwhile (a database: UPDATE state SET ... WHERE id = $id AND
 * generation = $read_generation). */
typedef enum tp_state_write (*tp_login_fn)(struct tp_profile *p, void *ctx);

/* What create asks for: the profile's shape and comment; the store draws
 * the secret and the emergency codes. */
struct tp_create_request {
	const char *owner_uuid;
	const char *account;
	struct tp_totp_params totp;
	size_t secret_len;
	unsigned n_codes;
	const char *comment;         /* NULL: empty */
};

/* What create did: the new profile (with its secret, to be shown once),
 * the plaintext codes, and whether it replaced a disabled profile (kept
 * in old, to be put back if the key never reaches the caller). */
struct tp_created_profile {
	struct tp_profile fresh;
	char codes[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	bool replaced;
	bool restorable;      /* replaced, and take_back can put the old one back
			       * (the database cannot: it keeps no old secret,
			       * so it disables the new profile instead) */
	struct tp_profile old;
};

/* One row of a migration: how the destination took a profile. */
enum tp_import_result { TP_IMPORT_COPIED = 0, TP_IMPORT_MERGED, TP_IMPORT_UNCHANGED };

struct tp_store_ops {
	enum tp_status (*get)(struct tp_store *s, const char *owner_uuid,
			      const char *account, struct tp_profile *out);
	enum tp_status (*update)(struct tp_store *s, const char *owner_uuid,
				 const char *account, tp_update_fn fn,
				 void *ctx);
	enum tp_status (*login)(struct tp_store *s, const char *owner_uuid,
				const char *account, tp_login_fn fn, void *ctx);
	enum tp_status (*remove)(struct tp_store *s, const char *owner_uuid,
				 const char *account);
	enum tp_status (*list)(struct tp_store *s, const char *owner_uuid,
			       tp_list_fn fn, void *ctx, unsigned *skipped);
	void (*close)(struct tp_store *s);
	/* optional (NULL: store.c's version over update/login) */
	enum tp_status (*attempt)(struct tp_store *s, const char *owner_uuid,
				  const char *account, const char *const *codes,
				  size_t ncodes, const struct tp_login_policy *policy,
				  int64_t now, struct tp_attempt *out);
	enum tp_status (*create)(struct tp_store *s, const struct tp_create_request *rq,
				 struct tp_created_profile *out);
	enum tp_status (*modify)(struct tp_store *s, const char *owner_uuid,
				 const char *account, const char *comment,
				 const bool *enabled);
	enum tp_status (*take_back)(struct tp_store *s, const struct tp_created_profile *c,
				    bool *changed);
	/* optional (NULL: the backend cannot take a copy) */
	enum tp_status (*import)(struct tp_store *s, const struct tp_profile *p,
				 enum tp_import_result *how);
	/* optional (NULL: nothing held) */
	void (*release)(struct tp_store *s);
	/* optional (NULL: store.c's version over login) */
	enum tp_status (*unlock)(struct tp_store *s, const char *owner_uuid,
				 const char *account);
};

struct tp_store {
	const struct tp_store_ops *ops;
	char *detail;         /* last error, for logs: path and errno text */
	bool unavailable;     /* the last error was the whole store's (a host's
				 first statement found the database's schema
				 or the role's right wrong), not a profile's */
};

/* Open the store named by the config.  May create the top folder when the
 * process is its owner.  *err gets a message on failure (free it). */
enum tp_status tp_store_open(const struct tp_config *cfg, struct tp_store **out,
			     char **err);
void tp_store_close(struct tp_store *s);

/* Read one record without locking (readers see the old or new version,
 * never a mix: profile writes are atomic renames, state writes are
 * checksummed).  A login's later tp_store_login on the same record reuses
 * what this read when the profile has not changed since. */
enum tp_status tp_store_get(struct tp_store *s, const char *owner_uuid,
			    const char *account, struct tp_profile *out);

/* Locked read-modify-write of one record. */
enum tp_status tp_store_update(struct tp_store *s, const char *owner_uuid,
			       const char *account, tp_update_fn fn, void *ctx);

/* One login attempt, atomic per record: the current profile and login
 * state go to fn, and the state it leaves is recorded as it asks (flushed
 * to disk before this returns when it asks TP_STATE_FLUSH).  TP_ENOENT:
 * no such profile; TP_ECORRUPT: profile or state unreadable (a torn or
 * damaged state is never taken for "nothing spent"). */
enum tp_status tp_store_login(struct tp_store *s, const char *owner_uuid,
			      const char *account, tp_login_fn fn, void *ctx);

/* One login attempt with the candidate codes of one answer (see
 * tp_login_attempt_any): the verdict in *out.  TP_ENOENT: no profile.
 * The file store runs tp_login_attempt_any under tp_store_login; the
 * database judges the codes itself, on its clock and under its policy
 * (policy and now are then unused). */
enum tp_status tp_store_attempt(struct tp_store *s, const char *owner_uuid,
				const char *account, const char *const *codes,
				size_t ncodes, const struct tp_login_policy *policy,
				int64_t now, struct tp_attempt *out);

/* A new profile with a fresh secret and emergency codes, atomically:
 * TP_EEXIST if an enabled profile is there (a disabled one is replaced). */
enum tp_status tp_store_create(struct tp_store *s, const struct tp_create_request *rq,
			       struct tp_created_profile *out);

/* Change the comment (NULL: keep) and/or enabled (NULL: keep).
 * TP_ENOENT: no such profile. */
enum tp_status tp_store_modify(struct tp_store *s, const char *owner_uuid,
			       const char *account, const char *comment,
			       const bool *enabled);

/* Undo a create whose key never reached its caller, only if the stored
 * profile is still the one it made (same fingerprint and creation time):
 * put back the disabled profile it replaced, else remove it.  *changed:
 * it was deleted or replaced since, and left alone. */
enum tp_status tp_store_take_back(struct tp_store *s, const struct tp_created_profile *c,
				  bool *changed);

/* Copy one profile (secret, state, comment, enabled) in, losslessly and
 * idempotently.  TP_EEXIST: a different profile is there (left alone);
 * TP_EINVAL: this backend does not take copies. */
enum tp_status tp_store_import(struct tp_store *s, const struct tp_profile *p,
			       enum tp_import_result *how);

/* The caller is about to wait for a person (a prompt): let go of what
 * the store holds that others need (the database's connection, which the
 * next operation opens again).  The file store holds nothing. */
void tp_store_release(struct tp_store *s);

/* An admin's unlock: the failure count back to 0 and no lock running,
 * durably; nothing else of the record changes (the last accepted step
 * and the spent codes stay).  TP_ENOENT: no such profile. */
enum tp_status tp_store_unlock(struct tp_store *s, const char *owner_uuid,
			       const char *account);

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
/* Whether the last failure was the whole store's, not one profile's: the
 * PostgreSQL store checks the schema in a host's first statement (the
 * probe), not when it opens; the detail then reads as tp_store_open's. */
bool tp_store_unavailable(const struct tp_store *s);

/* Backend constructors (store_files.c, store_pg.c).  The PostgreSQL one
 * connects with cfg->store_admin ? admin_conninfo : conninfo, checks the
 * schema version, and fails closed: *err says why, without a password. */
enum tp_status tp_store_files_open(const struct tp_config *cfg,
				   struct tp_store **out, char **err);
enum tp_status tp_store_pg_open(const struct tp_config *cfg,
				struct tp_store **out, char **err);

/* Whether the file store (store.path) still holds a profile of one of the
 * config's owners: on a host whose store.backend is "postgresql" that is
 * a secret left behind (totpctl migrate removes them).  *where: the first
 * one found. */
bool tp_store_files_left(const struct tp_config *cfg, char *where, size_t cap);

#endif
