/* totpctl: create, modify, show, list and delete TOTP profiles, with the
 * owner/account scoping and error codes of the storage OS REST API.
 *
 *   main.c       privilege setup, argument parsing, dispatch
 *   privilege.c  environment, standard fds, setuid handling
 *   verbs.c      the five verbs (all store access happens here)
 *   output.c     tables, JSON bodies, errors, the terminal QR code */
#ifndef TOTPCTL_H
#define TOTPCTL_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "api_error.h"
#include "config.h"

enum ctl_verb { CTL_NONE = 0, CTL_CREATE, CTL_MODIFY, CTL_SHOW, CTL_LIST, CTL_DELETE };

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
};

/* Saved identities of a setuid (or setpriv'd) process. */
struct ctl_priv {
	uid_t ruid, euid;
	gid_t rgid, egid;
	bool privileged;             /* real and effective ids differ */
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
	unsigned skipped;            /* list: unreadable profiles */
	char done[160];              /* modify/delete: human success line */
};

/* privilege.c */
int ctl_ensure_std_fds(void);
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

/* output.c */
void ctl_output_init(void);
void ctl_output_done(void);
void ctl_print_result(const struct ctl_opts *o, const struct ctl_result *r);
void ctl_print_help(void);
void ctl_json_free(json_t *j);

#endif
