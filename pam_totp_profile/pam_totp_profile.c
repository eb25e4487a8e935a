/* pam_totp_profile: the Linux-PAM glue.  Everything about profiles, codes
 * and files lives in the shared library; this file gets the user and the
 * code through PAM, runs one locked login attempt and reports it. */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "login.h"
#include "names.h"
#include "options.h"
#include "secret.h"
#include "store.h"

/* Answers longer than this are not codes; they are refused unread. */
#define ANSWER_MAX 256

struct attempt {
	const struct tp_login_policy *policy;
	const char *const *codes;   /* candidates of one answer */
	size_t ncodes, matched;
	int64_t now;
	enum tp_login_outcome outcome;
	bool disabled;              /* disabled between our read and the lock */
	unsigned emergency_left;
};

static enum tp_state_write attempt_locked(struct tp_profile *p, void *ctx)
{
	struct attempt *a = ctx;
	bool changed = false;

	if (!p->enabled) {
		a->disabled = true;
		return TP_STATE_KEEP;
	}
	a->outcome = tp_login_attempt_any(p, a->policy, a->codes, a->ncodes, a->now,
					  &a->matched, &changed);
	a->emergency_left = tp_profile_emergency_left(p);
	return tp_login_state_write(a->outcome, changed, p, a->now);
}

/* The user name as it may appear in a log line: attacker-chosen names
 * (sshd passes whatever the client sent) are not echoed raw. */
static const char *loggable(const char *user)
{
	return tp_valid_account(user) ? user : "(invalid user name)";
}

/* The account's own spelling of its name when the user database answers
 * for `user` with a differently spelled one; false when they agree or the
 * account is unknown. */
static bool canonical_name(const char *user, char *buf, size_t len)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL || strcmp(pw->pw_name, user) == 0 ||
	    strlen(pw->pw_name) >= len || !tp_valid_account(pw->pw_name))
		return false;
	memcpy(buf, pw->pw_name, strlen(pw->pw_name) + 1);
	return true;
}

static int converse(pam_handle_t *pamh, int style, const char *text, char **answer)
{
	char *resp = NULL;
	int rv = pam_prompt(pamh, style, &resp, "%s", text);

	if (answer != NULL)
		*answer = resp;
	else
		tp_free_str(resp);
	return rv;
}

/* Split "password123456" into password and code: the code is the last
 * `digits` characters.  Returns the code (inside buf) or NULL. */
static const char *split_forwarded(char *buf, unsigned digits)
{
	size_t n = strlen(buf);
	if (n < digits)
		return NULL;
	return buf + n - digits;
}

/* forward_pass: what precedes the code is the password of the next module. */
static void forward_password(pam_handle_t *pamh, char *answer, const char *code)
{
	answer[code - answer] = '\0';
	(void)pam_set_item(pamh, PAM_AUTHTOK, answer);
}

struct login {
	pam_handle_t *pamh;
	const struct module_options *opt;
	struct tp_config *cfg;
	const struct tp_owner *owner;
	struct tp_store *store;
	const char *user;
	unsigned digits;
};

/* One attempt with the candidate codes of one answer: the verdict in
 * *outcome, the candidate that matched in *matched.  Returns a PAM error
 * only for faults (store, lock, write). */
static int try_codes(struct login *l, const char *const *codes, size_t ncodes,
		     enum tp_login_outcome *outcome, size_t *matched,
		     unsigned *left, bool *disabled)
{
	struct tp_login_policy policy = {
		.window = l->cfg->window,
		.max_failures = l->cfg->max_failures,
		.lockout_seconds = l->cfg->lockout_seconds,
	};
	struct attempt a = {
		.policy = &policy, .codes = codes, .ncodes = ncodes,
		.now = (int64_t)time(NULL), .outcome = TP_LOGIN_WRONG,
	};
	enum tp_status st = tp_store_login(l->store, l->owner->uuid, l->user,
					   attempt_locked, &a);

	*outcome = a.outcome;
	if (matched != NULL)
		*matched = a.matched;
	*left = a.emergency_left;
	*disabled = a.disabled;
	if (st != TP_OK) {
		pam_syslog(l->pamh, LOG_ERR,
			   "user=%s owner=%s: login refused: cannot record the attempt: %s (%s)",
			   loggable(l->user), l->owner->name, tp_status_str(st),
			   tp_store_detail(l->store));
		return st == TP_ENOENT ? PAM_AUTH_ERR : PAM_AUTHINFO_UNAVAIL;
	}
	return PAM_SUCCESS;
}

static int try_code(struct login *l, const char *code, enum tp_login_outcome *outcome,
		    unsigned *left, bool *disabled)
{
	return try_codes(l, &code, 1, outcome, NULL, left, disabled);
}

static bool accepted(enum tp_login_outcome o)
{
	return o == TP_LOGIN_TOTP || o == TP_LOGIN_EMERGENCY;
}

/* Ask for (or fetch) the code and run the attempt(s). */
static int authenticate_code(struct login *l, bool known)
{
	const struct module_options *opt = l->opt;
	enum tp_login_outcome outcome = TP_LOGIN_WRONG;
	const void *item = NULL;
	char *answer = NULL;
	size_t answer_len = 0;
	const char *code = NULL;
	unsigned left = 0;
	bool disabled = false;
	int rv = PAM_AUTH_ERR;

	if (opt->source == CODE_TRY_FIRST || opt->source == CODE_USE_FIRST) {
		if (pam_get_item(l->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS)
			item = NULL;
		if (item != NULL && known && tp_login_code_shaped(item)) {
			rv = try_code(l, item, &outcome, &left, &disabled);
			if (rv != PAM_SUCCESS)
				goto out;
			rv = PAM_AUTH_ERR;
		}
		if (opt->source == CODE_USE_FIRST || accepted(outcome) || disabled ||
		    outcome == TP_LOGIN_LOCKED)
			goto verdict;
	}

	rv = converse(l->pamh, PAM_PROMPT_ECHO_OFF,
		      opt->source == CODE_FORWARD ? "Password & verification code: "
						   : opt->prompt, &answer);
	if (rv != PAM_SUCCESS || answer == NULL) {
		pam_syslog(l->pamh, LOG_NOTICE, "user=%s: no answer to the prompt",
			   loggable(l->user));
		rv = rv == PAM_SUCCESS ? PAM_CONV_ERR : rv;
		goto out;
	}
	answer_len = strlen(answer);        /* forward_pass cuts it: wipe all */
	if (answer_len > ANSWER_MAX)
		code = NULL;
	else if (opt->source == CODE_FORWARD)
		code = split_forwarded(answer, l->digits);
	else
		code = answer;
	if (!known) {
		/* asked only so nobody learns who exists; the next module gets
		 * its password exactly as it would for a real account */
		if (opt->source == CODE_FORWARD && code != NULL)
			forward_password(l->pamh, answer, code);
		goto verdict;
	}
	if (code == NULL)
		code = "";
	if (opt->source == CODE_FORWARD && code[0] != '\0' && l->digits != 8 &&
	    answer_len >= TP_EMERGENCY_DIGITS) {
		/* the tail may be a TOTP code or an 8-digit emergency code:
		 * both in one attempt, so a miss counts once */
		const char *tails[2] = { code, split_forwarded(answer, TP_EMERGENCY_DIGITS) };
		size_t matched = 0;

		rv = try_codes(l, tails, 2, &outcome, &matched, &left, &disabled);
		if (rv != PAM_SUCCESS)
			goto out;
		if (accepted(outcome))
			code = tails[matched];
	} else {
		rv = try_code(l, code, &outcome, &left, &disabled);
		if (rv != PAM_SUCCESS)
			goto out;
	}
	if (opt->source == CODE_FORWARD && code != NULL)
		forward_password(l->pamh, answer, code);

verdict:
	if (!known) {
		pam_syslog(l->pamh, LOG_NOTICE, "user=%s owner=%s: refused: no such account in this owner",
			   loggable(l->user), l->owner->name);
		rv = PAM_AUTH_ERR;
		goto out;
	}
	if (disabled) {
		rv = l->cfg->disabled_action == TP_DISABLED_ALLOW ? PAM_SUCCESS : PAM_AUTH_ERR;
		pam_syslog(l->pamh, LOG_NOTICE, "user=%s owner=%s: profile disabled by an admin: %s",
			   loggable(l->user), l->owner->name,
			   rv == PAM_SUCCESS ? "second factor skipped" : "refused");
		goto out;
	}
	pam_syslog(l->pamh, accepted(outcome) ? LOG_INFO : LOG_NOTICE,
		   "user=%s owner=%s: %s", loggable(l->user), l->owner->name,
		   tp_login_outcome_name(outcome));
	if (accepted(outcome)) {
		rv = PAM_SUCCESS;
		if (outcome == TP_LOGIN_EMERGENCY && left <= l->cfg->emergency_warn) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "Emergency code used. %u emergency code%s left; "
				 "ask an admin to reset your TOTP profile soon.",
				 left, left == 1 ? "" : "s");
			(void)converse(l->pamh, PAM_TEXT_INFO, msg, NULL);
		}
	} else {
		rv = PAM_AUTH_ERR;
		if (outcome == TP_LOGIN_LOCKED && l->cfg->reveal_lockout)
			(void)converse(l->pamh, PAM_ERROR_MSG,
				       "Too many failed verification codes; try again later.",
				       NULL);
	}
out:
	if (answer != NULL) {
		tp_wipe(answer, answer_len > 0 ? answer_len : strlen(answer));
		free(answer);
	}
	return rv;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct module_options opt;
	struct login l = { .pamh = pamh, .opt = &opt };
	struct tp_profile p;
	char *err = NULL;
	const char *user = NULL;
	char canonical[TP_NAME_MAX + 1];
	enum tp_status st;
	bool known;
	int rv = PAM_AUTH_ERR;

	(void)flags;
	memset(&p, 0, sizeof(p));
	if (parse_module_options(pamh, argc, argv, &opt) != 0)
		return PAM_SERVICE_ERR;
	rv = pam_get_user(pamh, &user, NULL);
	if (rv != PAM_SUCCESS || user == NULL || *user == '\0') {
		pam_syslog(pamh, LOG_NOTICE, "cannot determine the user name");
		return rv == PAM_SUCCESS ? PAM_USER_UNKNOWN : rv;
	}
	l.user = user;
	rv = PAM_AUTHINFO_UNAVAIL;
	st = tp_config_load(opt.config ? opt.config : TP_DEFAULT_CONFIG, &l.cfg, &err);
	if (st != TP_OK) {
		pam_syslog(pamh, LOG_ERR, "configuration error, refusing login: %s",
			   err ? err : tp_status_str(st));
		goto out;
	}
	l.owner = tp_config_owner(l.cfg, opt.owner);
	if (l.owner == NULL) {
		pam_syslog(pamh, LOG_ERR, "owner=%s is not in %s; refusing login",
			   tp_valid_owner_name(opt.owner) || tp_valid_uuid(opt.owner)
			   ? opt.owner : "(invalid)", l.cfg->path);
		rv = PAM_SERVICE_ERR;
		goto out;
	}
	l.digits = l.cfg->totp.digits;
	st = tp_store_open(l.cfg, &l.store, &err);
	if (st != TP_OK) {
		pam_syslog(pamh, LOG_ERR, "profile store unavailable, refusing login: %s",
			   err ? err : tp_status_str(st));
		goto out;
	}
	if (l.owner->scope == TP_SCOPE_CLUSTER &&
	    canonical_name(user, canonical, sizeof(canonical))) {
		/* a case-insensitive user database (SSSD, winbind) takes
		 * "ALICE" for alice: her profile, not "no profile" */
		pam_syslog(pamh, LOG_INFO, "user=%s is account %s",
			   loggable(user), canonical);
		user = l.user = canonical;
	}
	known = tp_owner_has_account(l.owner, user);
	if (!known && opt.nullok) {
		/* the same answer as for an account without a profile, so
		 * nullok does not tell real accounts from made-up ones */
		pam_syslog(pamh, LOG_NOTICE, "user=%s owner=%s: no such account in this owner (nullok)",
			   loggable(user), l.owner->name);
		rv = PAM_IGNORE;
		goto out;
	}
	if (known) {
		st = tp_store_get(l.store, l.owner->uuid, user, &p);
		if (st == TP_ENOENT) {
			if (opt.nullok) {
				pam_syslog(pamh, LOG_INFO, "user=%s owner=%s: no TOTP profile (nullok)",
					   loggable(user), l.owner->name);
				rv = PAM_IGNORE;
				goto out;
			}
			pam_syslog(pamh, LOG_NOTICE, "user=%s owner=%s: refused: no TOTP profile",
				   loggable(user), l.owner->name);
			known = false;          /* still prompt, then fail */
		} else if (st != TP_OK) {
			pam_syslog(pamh, LOG_ERR, "user=%s owner=%s: profile unreadable, refusing login: %s (%s)",
				   loggable(user), l.owner->name, tp_status_str(st),
				   tp_store_detail(l.store));
			goto out;
		} else {
			l.digits = p.totp.digits;
			if (!p.enabled) {
				rv = l.cfg->disabled_action == TP_DISABLED_ALLOW
				     ? PAM_SUCCESS : PAM_AUTH_ERR;
				pam_syslog(pamh, LOG_NOTICE,
					   "user=%s owner=%s: profile disabled by an admin: %s",
					   loggable(user), l.owner->name,
					   rv == PAM_SUCCESS ? "second factor skipped" : "refused");
				goto out;
			}
		}
		tp_profile_wipe(&p);
	}
	if (opt.debug)
		pam_syslog(pamh, LOG_DEBUG, "user=%s owner=%s: asking for a code",
			   loggable(user), l.owner->name);
	rv = authenticate_code(&l, known);
out:
	tp_profile_wipe(&p);
	tp_store_close(l.store);
	tp_config_free(l.cfg);
	free(err);
	return rv;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
