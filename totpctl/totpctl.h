/* totpctl: create, modify, show, list and delete TOTP profiles, with the
 * owner/account scoping and error codes of the storage OS REST API.
 *
 *   main.c       privilege setup, argument parsing, dispatch
 *   privilege.c  environment, standard fds, setuid handling
 *   verbs.c      the five verbs (all store access happens here)
 *   guard.c      create's undo when its output does not reach the caller
 *   migrate.c    the file store copied into the PostgreSQL store
 *   output.c     tables, JSON bodies, errors, the terminal QR code */
#ifndef TOTPCTL_H
#define TOTPCTL_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "api_error.h"
#include "config.h"
#include "profile.h"

enum ctl_verb { CTL_NONE = 0, CTL_CREATE, CTL_MODIFY, CTL_SHOW, CTL_LIST, CTL_DELETE,
		CTL_MIGRATE };

/* Options, as bits: which ones a verb accepts and which were given. */
enum ctl_opt {
	OPT_OWNER   = 1u << 0,
	OPT_ACCOUNT = 1u << 1,
	OPT_COMMENT = 1u << 2,
	OPT_ENABLED = 1u << 3,
	OPT_FIELDS  = 1u << 4,
	OPT_SCOPE   = 1u << 5,
	OPT_JSON    = 1u << 6,
	OPT_NO_QR   = 1u << 7,
	OPT_CONFIG  = 1u << 8,
	OPT_HELP    = 1u << 9,
};

struct ctl_opts {
	enum ctl_verb verb;
	unsigned given;              /* enum ctl_opt bits */
	const char *owner, *account, *comment, *enabled, *fields, *scope, *config;
	bool json, no_qr, help;
};

struct ctl_caller {
	uid_t uid;
	char name[TP_NAME_MAX + 2];
	bool admin;
	bool stdout_closed;          /* fd 1 closed (or read-only) at start */
};

/* Saved identities of a setuid (or setpriv'd) process. */
struct ctl_priv {
	uid_t ruid, euid;
	gid_t rgid, egid;
	bool privileged;             /* real and effective ids differ */
};

/* What create wrote, so that it can be taken back if the new key never
 * reaches the caller: the profile is recognised by its fingerprint and
 * creation time, and a disabled profile it replaced is put back. */
struct ctl_created {
	bool written;
	bool replaced;               /* `old` holds the replaced profile */
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
	char done[160];              /* modify/delete: human success line */
	bool partial;                /* migrate: printed, but not all copied */
};

/* privilege.c */
int ctl_ensure_std_fds(bool *stdout_lost);
void ctl_sanitize_env(void);
void ctl_no_core_dumps(void);
int ctl_priv_init(struct ctl_priv *pv, char *why, size_t whylen);
int ctl_priv_raise(const struct ctl_priv *pv);
int ctl_priv_lower(const struct ctl_priv *pv);
int ctl_priv_drop(const struct ctl_priv *pv);

/* verbs.c */
__attribute__((format(printf, 4, 5)))
void ctl_fail(struct ctl_result *r, enum tp_api_error e, const char *target,
	      const char *fmt, ...);
void ctl_run(const struct tp_config *cfg, const struct ctl_caller *caller,
	     const struct ctl_opts *o, const struct ctl_priv *pv,
	     struct ctl_result *r);

/* migrate.c */
void ctl_migrate(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct ctl_priv *pv, struct ctl_result *r);

/* guard.c: after create wrote a profile, a child process keeps the store
 * user's identity while the parent drops it for good and prints; the
 * parent then tells it to keep the profile, or (also when the parent dies)
 * it takes the profile back. */
enum ctl_undo {
	CTL_UNDO_KEPT = 0,           /* the profile stays */
	CTL_UNDO_DONE = 10,          /* taken back (the replaced one restored) */
	CTL_UNDO_CHANGED = 11,       /* no longer this create's: left alone */
	CTL_UNDO_FAILED = 12,        /* could not be taken back */
};
struct ctl_guard {
	pid_t pid;
	int fd;                      /* write end of the pipe to the child */
};
enum ctl_undo ctl_create_undo(const struct tp_config *cfg, const struct ctl_priv *pv,
			      const struct ctl_created *c);
int ctl_guard_start(const struct tp_config *cfg, const struct ctl_priv *pv,
		    const struct ctl_created *c, struct ctl_guard *g);
enum ctl_undo ctl_guard_finish(struct ctl_guard *g, bool keep);

/* output.c */
void ctl_output_init(void);
int ctl_output_done(bool durable);
void ctl_print_output_failure(const struct ctl_opts *o, const struct ctl_result *r,
			      const char *cause, bool guarded, enum ctl_undo undo);
void ctl_print_result(const struct ctl_opts *o, const struct ctl_result *r);
void ctl_print_help(void);
void ctl_json_free(json_t *j);

#endif
