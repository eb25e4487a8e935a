/* The main configuration file (libconfig syntax).  totp_profile.conf(5)
 * (conf/totp_profile.conf.5) describes every setting; conf/totp_profile.conf
 * shows each with its default. */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "tp_status.h"
#include "totp.h"

#ifndef TP_DEFAULT_CONFIG
#define TP_DEFAULT_CONFIG "/etc/totp_profile/totp_profile.conf"
#endif
#define TP_DEFAULT_STORE  "/var/lib/totp_profile"
/* The system account `make install` creates (STORE_USER) and installs
 * totpctl setuid to, and the group whose members are admins. */
#ifndef TP_DEFAULT_STORE_USER
#define TP_DEFAULT_STORE_USER "_totp"
#endif
#define TP_DEFAULT_ADMIN_GROUP "totpadmin"
/* Longest issuer, in bytes.  As long as any host name (HOST_NAME_MAX, the
 * default issuer), longer than an authenticator app shows in a list row,
 * and short enough that the install URL (issuer twice, each byte up to 3
 * when percent-encoded) stays far below any buffer or QR code limit. */
#define TP_ISSUER_MAX 64
#define TP_UUID_LEN 36
#define TP_NAME_MAX 32              /* login and owner names */
#define TP_EMERGENCY_MAX 10

enum tp_scope { TP_SCOPE_CLUSTER = 0, TP_SCOPE_SVM };

/* Where profiles live: a folder of files (the default), or one PostgreSQL
 * database shared by a fleet of hosts (docs/fleet.md). */
enum tp_store_backend { TP_STORE_FILES = 0, TP_STORE_POSTGRESQL };

struct tp_owner {
	char *name;
	char uuid[TP_UUID_LEN + 1];
	enum tp_scope scope;
	char **members;             /* SVM: accounts that belong to it */
	size_t n_members;
	char *totp_group;           /* members of this group use TOTP */
	char **totp_accounts;       /* ... and these accounts */
	size_t n_totp_accounts;
};

/* What the module does with a profile an admin disabled. */
enum tp_disabled_action { TP_DISABLED_ALLOW = 0, TP_DISABLED_DENY };

struct tp_config {
	char *path;
	char *store_path;
	char *store_user;            /* owner of the store; never NULL */
	bool store_user_set;         /* false: TP_DEFAULT_STORE_USER, not in the file */
	enum tp_store_backend store_backend;
	char *store_conninfo;        /* postgresql: the module's libpq conninfo */
	char *store_admin_conninfo;  /* postgresql: totpctl's */
	bool store_admin;            /* set by totpctl: open with admin_conninfo */
	unsigned store_lock_wait_ms; /* set by totpd (api.lock_wait_ms): how long
				      * the file store waits for an account's
				      * lock; 0: its own default (10 s) */
	bool policy_ignored;         /* postgresql with totp.window or lockout set:
				      * the database's policy applies instead */
	char *admin_group;           /* never NULL */
	char *issuer;                /* default: host name; see tp_issuer_problem */
	struct tp_totp_params totp;  /* defaults for new profiles */
	unsigned window;
	unsigned emergency_codes;
	unsigned max_failures;       /* 0: never lock */
	unsigned lockout_seconds;
	enum tp_disabled_action disabled_action;
	bool reveal_lockout;         /* tell the user the profile is locked */
	unsigned emergency_warn;     /* warn when this many or fewer remain */
	/* totpd: connections one uid may hold at once, seconds a request may
	 * take from its headers to its response, and how long a verb waits
	 * for a profile's lock before it answers 503 */
	unsigned api_connections_per_user;
	unsigned api_request_timeout;
	unsigned api_lock_wait_ms;
	struct tp_owner *owners;     /* owners[0] is the cluster */
	size_t n_owners;
};

/* Every setting the loader accepts, by group ("" is the top level; the
 * svms entries are written "svms[]").  The man page and the shipped
 * example must show each one. */
struct tp_config_group {
	const char *name;
	const char *const *keys;     /* NULL-terminated */
};
extern const struct tp_config_group tp_config_settings[];   /* {NULL} ends */

/* Why `issuer` cannot go into an otpauth:// label and issuer= parameter,
 * or NULL if it can: at most TP_ISSUER_MAX bytes of printable UTF-8, no
 * ':' (the label's issuer:account separator), no leading or trailing
 * space, no control, format or bidirectional characters. */
const char *tp_issuer_problem(const char *issuer);

/* Load and validate.  On error, *err (if not NULL) receives a malloc'd
 * message naming the file, the line and the setting; free it.  The file
 * must be a regular file, not a symlink, owned by root or the effective
 * uid, and not writable by group or others.  `@include` is refused: an
 * included file would escape these checks. */
enum tp_status tp_config_load(const char *path, struct tp_config **out,
			      char **err);
void tp_config_free(struct tp_config *cfg);

/* An owner by name or uuid; NULL name: the cluster owner. */
const struct tp_owner *tp_config_owner(const struct tp_config *cfg,
				       const char *name_or_uuid);

/* Does `account` belong to `owner`?  (cluster: a local user, svm: listed) */
bool tp_owner_has_account(const struct tp_owner *owner, const char *account);

/* Is TOTP configured as this account's second factor? */
bool tp_owner_requires_totp(const struct tp_owner *owner, const char *account);

/* Is this uid an admin (uid 0 or member of admin_group)? */
bool tp_config_is_admin(const struct tp_config *cfg, uid_t uid);

/* Is `user` a member (primary or supplementary) of group `group`? */
bool tp_user_in_group(const char *user, const char *group);

#endif
