/* The API's five operations (create, modify, show, list, delete): who may
 * do what, which error, and the response bodies.  totpctl and totpd both
 * run them; only how a request arrives and how the result is shown
 * differ. */
#ifndef TP_API_VERBS_H
#define TP_API_VERBS_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "api_error.h"
#include "config.h"
#include "profile.h"

/* CTL_MIGRATE (file store to database) and CTL_UNLOCK (an admin ends a
 * lockout) are totpctl's own, not API verbs. */
enum ctl_verb { CTL_NONE = 0, CTL_CREATE, CTL_MODIFY, CTL_SHOW, CTL_LIST, CTL_DELETE,
		CTL_MIGRATE, CTL_UNLOCK };

/* One request, however it arrived (command line or HTTP): the values as
 * text, checked here.  NULL: not given. */
struct ctl_request {
	enum ctl_verb verb;
	const char *owner, *account, *comment, *enabled, *fields, *scope;
	/* account and comment are fnmatch patterns in a list */
	bool json;                   /* the API's bodies (list: the API's fields) */
	/* list only (the API's query parameters): account, comment, enabled,
	 * scope and these are filters in the API's query syntax (api_query.h) */
	const char *owner_filter, *uuid_filter, *fingerprint_filter;
	const char *next;            /* the token of _links.next */
	const char *order_by;        /* "FIELD [asc|desc],..." */
	bool limit;                  /* max_records given */
	size_t max_records;
	bool no_records;             /* return_records=false: the count only */
};

struct ctl_caller {
	uid_t uid;
	char name[TP_NAME_MAX + 2];
	bool admin;
	bool stdout_closed;          /* fd 1 closed (or read-only) at start */
};

/* How the verbs reach the store: totpctl takes the store user's identity
 * around each store call (enter, leave); totpd already runs as the store
 * user and passes no hooks.  A hook returns 0 on success. */
struct ctl_store_access {
	int (*enter)(const void *ctx);
	int (*leave)(const void *ctx);
	const void *ctx;
};

/* What create wrote, so that it can be taken back if the new key never
 * reaches the caller: the profile is recognised by its fingerprint and
 * creation time, and a disabled profile it replaced is put back. */
struct ctl_created {
	bool written;
	bool replaced;               /* `old` holds the replaced profile */
	bool restorable;             /* ... and the undo puts it back (else the
				      * new one is disabled: the database) */
	char owner_uuid[TP_UUID_LEN + 1];
	char account[TP_NAME_MAX + 2];
	char fingerprint[TP_FINGERPRINT_HEX + 1];
	int64_t created;
	struct tp_profile old;
};

/* What a verb produced: an API error, or a body to print. */
struct ctl_result {
	bool failed;
	bool usage;                  /* command-line error: exit status 2 */
	enum tp_api_error err;
	const char *target;
	char detail[512];
	json_t *body;                /* the API's response body; may hold secrets */
	unsigned fields;             /* record fields shown (enum tp_field) */
	unsigned named;              /* fields named in --fields (no keys added) */
	struct ctl_created created;  /* create: what was written */
	unsigned skipped;            /* list: unreadable profiles */
	char done[160];              /* modify/delete/unlock: human success line */
	/* show: the login state, for the human output only (the API's body
	 * has no such fields) */
	bool have_state;
	unsigned failures;
	int64_t lock_until;          /* Unix time; 0: no lock running */
	bool partial;                /* migrate: printed, but not all copied */
	char warning[200];           /* said after a success (totpctl: stderr) */
	bool busy;                   /* the store was locked past the wait
				      * allowed: try again (totpd: 503) */
};

/* api_verbs.c */
__attribute__((format(printf, 4, 5)))
void ctl_fail(struct ctl_result *r, enum tp_api_error e, const char *target,
	      const char *fmt, ...);
void ctl_run(const struct tp_config *cfg, const struct ctl_caller *caller,
	     const struct ctl_request *o, const struct ctl_store_access *pv,
	     struct ctl_result *r);

/* The body a result stands for: the API's error body, the response body,
 * or {} (modify and delete).  A new reference, or NULL (out of memory). */
json_t *ctl_result_json(const struct ctl_result *r);
/* A body as totpctl --json prints it and totpd sends it: indented, in the
 * API's key order, with a final newline.  Free with tp_free_str. */
char *ctl_body_text(const json_t *j);
/* What became of a create that is taken back. */
enum ctl_undo {
	CTL_UNDO_KEPT = 0,           /* the profile stays */
	CTL_UNDO_DONE = 10,          /* taken back (the replaced one restored) */
	CTL_UNDO_CHANGED = 11,       /* no longer this create's: left alone */
	CTL_UNDO_FAILED = 12,        /* could not be taken back */
};
/* Take back what create wrote (its key never reached the caller), under
 * the account's lock and only if the stored profile is still that one:
 * the disabled profile it replaced is put back, or it is deleted. */
enum ctl_undo ctl_undo_create(const struct tp_config *cfg,
			      const struct ctl_store_access *sa, const struct ctl_created *c);
/* Wipe every string of a body (it may hold secrets), then free it. */
void ctl_json_free(json_t *j);


#endif
