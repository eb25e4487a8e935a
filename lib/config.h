/* The main configuration file (libconfig syntax).  See conf/totp_profile.conf
 * for every setting with its default. */
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
#define TP_UUID_LEN 36
#define TP_NAME_MAX 32              /* login and owner names */
#define TP_EMERGENCY_MAX 10

enum tp_scope { TP_SCOPE_CLUSTER = 0, TP_SCOPE_SVM };

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
	char *store_user;            /* owner of the store; NULL: effective uid */
	char *admin_group;
	char *issuer;                /* default: host name */
	struct tp_totp_params totp;  /* defaults for new profiles */
	unsigned window;
	unsigned emergency_codes;
	unsigned max_failures;       /* 0: never lock */
	unsigned lockout_seconds;
	enum tp_disabled_action disabled_action;
	bool reveal_lockout;         /* tell the user the profile is locked */
	unsigned emergency_warn;     /* warn when this many or fewer remain */
	struct tp_owner *owners;     /* owners[0] is the cluster */
	size_t n_owners;
};

/* Load and validate.  On error, *err (if not NULL) receives a malloc'd
 * message naming the file, the line and the setting; free it.  The file
 * must be a regular file, not a symlink, owned by root or the effective
 * uid, and not writable by group or others. */
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
