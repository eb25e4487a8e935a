/* totpctl: create, modify, show, list and delete TOTP profiles, with the
 * owner/account scoping and error codes of the storage OS REST API.
 *
 *   main.c       privilege setup, argument parsing, dispatch
 *   privilege.c  environment, standard fds, setuid handling
 *   lib/api_verbs.c  the five verbs (all store access happens there)
 *   guard.c      create's undo when its output does not reach the caller
 *                (the undo itself is lib/api_verbs.c's)
 *   migrate.c    the file store copied into the PostgreSQL store
 *   output.c     tables, JSON bodies, errors, the terminal QR code */
#ifndef TOTPCTL_H
#define TOTPCTL_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "api_verbs.h"

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
	OPT_KEEP_LOCAL = 1u << 10,
};

/* The command line; main.c hands the verbs a struct ctl_request. */
struct ctl_opts {
	enum ctl_verb verb;
	unsigned given;              /* enum ctl_opt bits */
	const char *owner, *account, *comment, *enabled, *fields, *scope, *config;
	bool json, no_qr, help, keep_local;
};

/* Saved identities of a setuid (or setpriv'd) process. */
struct ctl_priv {
	uid_t ruid, euid;
	gid_t rgid, egid;
	bool privileged;             /* real and effective ids differ */
};

/* privilege.c */
int ctl_ensure_std_fds(bool *stdout_lost);
void ctl_sanitize_env(void);
void ctl_no_core_dumps(void);
int ctl_priv_init(struct ctl_priv *pv, char *why, size_t whylen);
int ctl_priv_raise(const struct ctl_priv *pv);
int ctl_priv_lower(const struct ctl_priv *pv);
int ctl_priv_drop(const struct ctl_priv *pv);
/* the verbs' store access: raise and lower around each store call */
struct ctl_store_access ctl_priv_access(const struct ctl_priv *pv);

/* migrate.c */
void ctl_migrate(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct ctl_priv *pv, bool keep_local, struct ctl_result *r);

/* guard.c: after create wrote a profile, a child process keeps the store
 * user's identity while the parent drops it for good and prints; the
 * parent then tells it to keep the profile, or (also when the parent dies)
 * it takes the profile back. */
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

#endif
