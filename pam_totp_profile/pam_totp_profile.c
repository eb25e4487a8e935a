/* pam_totp_profile: the Linux-PAM glue.  Everything about profiles, codes
 * and stores lives in the shared library; this file gets the user and the
 * code through PAM, runs one atomic login attempt and reports it. */
#include <limits.h>
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

/* The user name as it may appear in a log line: attacker-chosen names
 * (sshd passes whatever the client sent) are not echoed raw. */
static const char *loggable(const char *user)
{
	return tp_valid_account(user) ? user : "(invalid user name)";
}

/* How the user database spells the name PAM gave us. */
enum name_spelling {
	NAME_SAME = 0,      /* the same, or the account is unknown */
	NAME_MAPPED,        /* another spelling of one account, copied to buf */
	NAME_UNUSABLE       /* another account whose name cannot have a profile */
};

/* A case-insensitive user database (SSSD, winbind) answers for "ALICE"
 * with alice: the login is alice's, whichever owner it is checked in. */
static enum name_spelling canonical_name(const char *user, char *buf, size_t len)
{
	struct passwd *pw = getpwnam(user);
	size_t n;

	if (pw == NULL || pw->pw_name == NULL || strcmp(pw->pw_name, user) == 0)
		return NAME_SAME;
	n = strlen(pw->pw_name);
	if (n >= len || !tp_valid_account(pw->pw_name))
		return NAME_UNUSABLE;
	memcpy(buf, pw->pw_name, n + 1);
	return NAME_MAPPED;
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

/* The candidate codes of one answer.  Offsets, never pointers computed
 * from a pointer that may not be inside the answer: forward_pass cuts the
 * password out of the answer in place. */
struct candidates {
	const char *codes[2];
	size_t pwlen[2];        /* forward_pass: the password before codes[i] */
	size_t n;
	bool forward;           /* forward_pass with a code tail: hand it on */
};

/* An answer over ANSWER_MAX is no code and hands nothing on.  forward_pass:
 * "password123456" is the password and a code of `digits` characters, or
 * the password and an 8-digit emergency code; an answer shorter than the
 * code has no code tail and hands nothing on. */
static void split_answer(const char *answer, size_t len, enum code_source source,
			 unsigned digits, struct candidates *c)
{
	memset(c, 0, sizeof(*c));
	if (len > ANSWER_MAX)
		return;
	if (source != CODE_FORWARD) {
		c->codes[c->n++] = answer;
		return;
	}
	if (digits == 0 || len < digits)
		return;
	c->forward = true;
	c->pwlen[c->n] = len - digits;
	c->codes[c->n++] = answer + (len - digits);
	if (digits != TP_EMERGENCY_DIGITS && len >= TP_EMERGENCY_DIGITS) {
		c->pwlen[c->n] = len - TP_EMERGENCY_DIGITS;
		c->codes[c->n++] = answer + (len - TP_EMERGENCY_DIGITS);
	}
}

/* forward_pass: the first pwlen bytes of the answer are the password of
 * the next module. */
static void forward_password(pam_handle_t *pamh, char *answer, size_t answer_len,
			     size_t pwlen)
{
	if (pwlen > answer_len)
		return;
	answer[pwlen] = '\0';
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
	bool refusal_logged;    /* the refusal's reason is logged already */
	bool few_codes;         /* emergency codes used and few left: say so */
	unsigned codes_left;
};

/* sshd (7.6 and later) puts the methods that already succeeded in the PAM
 * environment for keyboard-interactive: "publickey ssh-ed25519 ...". */
static bool first_factor_passed(pam_handle_t *pamh)
{
	const char *info = pam_getenv(pamh, "SSH_AUTH_INFO_0");

	return info != NULL && info[0] != '\0';
}

/* One attempt with the candidate codes of one answer: the verdict in
 * *outcome, the candidate that matched in *matched.  No candidate at all
 * is still one attempt (one failure).  Returns a PAM error only for
 * faults (store, lock, write). */
static int try_codes(struct login *l, const char *const *codes, size_t ncodes,
		     enum tp_login_outcome *outcome, size_t *matched,
		     unsigned *left, bool *disabled)
{
	struct tp_login_policy policy = {
		.window = l->cfg->window,
		.max_failures = l->cfg->max_failures,
		.lockout_seconds = l->cfg->lockout_seconds,
	};
	struct tp_attempt a;
	enum tp_status st = tp_store_attempt(l->store, l->owner->uuid, l->user, codes,
					     ncodes, &policy, (int64_t)time(NULL), &a);

	*outcome = a.outcome;
	if (matched != NULL)
		*matched = a.matched;
	*left = a.emergency_left;
	*disabled = a.disabled;
	if (st != TP_OK && tp_store_unavailable(l->store)) {
		/* the same line as before the prompt: one alert covers both */
		pam_syslog(l->pamh, LOG_ERR, "profile store unavailable, refusing login: %s",
			   tp_store_detail(l->store));
		return PAM_AUTHINFO_UNAVAIL;
	}
	if (st != TP_OK) {
		pam_syslog(l->pamh, LOG_ERR,
			   "user=%s owner=%s: login refused: cannot record the attempt: %s (%s)",
			   loggable(l->user), l->owner->name, tp_status_str(st),
			   tp_store_detail(l->store));
		return st == TP_ENOENT ? PAM_AUTH_ERR : PAM_AUTHINFO_UNAVAIL;
	}
	return PAM_SUCCESS;
}

/* For an account with no profile: the same code checks as for a real
 * profile of the configured shape (HMACs over the window, the emergency
 * code hash), on a throwaway record whose verdict is never used, so the
 * time of a refusal does not depend on whether a profile exists.  The
 * durable write of a real attempt is covered by the fail delay. */
static void decoy_attempt(const struct login *l, const char *const *codes, size_t ncodes)
{
	struct tp_login_policy policy = { .window = l->cfg->window };
	struct tp_profile *decoy = calloc(1, sizeof(*decoy));
	size_t matched = 0;
	bool changed = false;

	if (decoy == NULL)
		return;
	decoy->secret_len = 20;
	decoy->totp = l->cfg->totp;
	decoy->enabled = true;
	decoy->last_step = -1;
	decoy->ec_count = l->cfg->emergency_codes < TP_EMERGENCY_MAX
			  ? l->cfg->emergency_codes : TP_EMERGENCY_MAX;
	(void)tp_login_attempt_any(decoy, &policy, codes, ncodes, (int64_t)time(NULL),
				   &matched, &changed);
	tp_profile_wipe(decoy);
	free(decoy);
}

static bool accepted(enum tp_login_outcome o)
{
	return o == TP_LOGIN_TOTP || o == TP_LOGIN_EMERGENCY;
}

/* A profile an admin disabled, seen before the prompt or under the lock
 * after it: disabled_profile decides, and the log says which way. */
static int disabled_verdict(const struct login *l)
{
	int rv = l->cfg->disabled_action == TP_DISABLED_ALLOW ? PAM_SUCCESS : PAM_AUTH_ERR;

	pam_syslog(l->pamh, LOG_NOTICE, "user=%s owner=%s: profile disabled by an admin: %s",
		   loggable(l->user), l->owner->name,
		   rv == PAM_SUCCESS ? "second factor skipped" : "refused");
	return rv;
}

/* Ask for (or fetch) the code and run the attempt(s).  known: the account
 * belongs to the owner and has an enabled profile; otherwise the user is
 * asked all the same and refused. */
static int authenticate_code(struct login *l, bool known)
{
	const struct module_options *opt = l->opt;
	enum tp_login_outcome outcome = TP_LOGIN_WRONG;
	const void *item = NULL;
	char *answer = NULL;
	size_t answer_len = 0, matched = 0;
	struct candidates c;
	unsigned left = 0;
	bool disabled = false;
	int rv = PAM_AUTH_ERR;

	if (opt->source == CODE_TRY_FIRST || opt->source == CODE_USE_FIRST) {
		/* PAM_AUTHTOK is a string libpam copied; the shape check reads
		 * at most one byte past the longest code */
		if (pam_get_item(l->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS)
			item = NULL;
		if (item != NULL && tp_login_code_shaped(item)) {
			const char *code = item;

			if (known) {
				rv = try_codes(l, &code, 1, &outcome, NULL, &left, &disabled);
				if (rv != PAM_SUCCESS)
					goto out;
				rv = PAM_AUTH_ERR;
			} else {
				decoy_attempt(l, &code, 1);
			}
		}
		if (opt->source == CODE_USE_FIRST || accepted(outcome) || disabled ||
		    outcome == TP_LOGIN_LOCKED)
			goto verdict;
	}

	/* a person may take LoginGraceTime to answer: hold no connection
	 * to the profile database meanwhile (the attempt opens one) */
	tp_store_release(l->store);
	/* Said with the prompt as well as after the login: sshd shows text
	 * sent after a success only to a session with a terminal, so
	 * `ssh host cmd` would never see the warning.  Only once sshd says
	 * an earlier method (the key) authenticated the user: before that,
	 * anyone could learn from it that the account has a profile. */
	if (l->few_codes && first_factor_passed(l->pamh)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "%u emergency code%s left; ask an admin to "
			 "reset your TOTP profile soon.", l->codes_left,
			 l->codes_left == 1 ? "" : "s");
		(void)converse(l->pamh, PAM_TEXT_INFO, msg, NULL);
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
	split_answer(answer, answer_len, opt->source, l->digits, &c);
	if (!known) {
		/* asked only so nobody learns who exists; the next module gets
		 * its password exactly as it would for a real account */
		decoy_attempt(l, c.codes, c.n);
		if (c.forward)
			forward_password(l->pamh, answer, answer_len, c.pwlen[0]);
		goto verdict;
	}
	if (opt->source == CODE_FORWARD && !c.forward)
		pam_syslog(l->pamh, LOG_NOTICE,
			   "user=%s owner=%s: the answer has no code at its end; nothing handed on",
			   loggable(l->user), l->owner->name);
	/* both tails of a forwarded answer are one attempt: a miss counts
	 * once; no candidate at all is a miss too */
	rv = try_codes(l, c.codes, c.n, &outcome, &matched, &left, &disabled);
	if (rv != PAM_SUCCESS)
		goto out;
	rv = PAM_AUTH_ERR;
	if (c.forward)
		forward_password(l->pamh, answer, answer_len,
				 c.pwlen[accepted(outcome) && matched < c.n ? matched : 0]);

verdict:
	if (!known) {
		if (!l->refusal_logged)
			pam_syslog(l->pamh, LOG_NOTICE,
				   "user=%s owner=%s: refused: no such account in this owner",
				   loggable(l->user), l->owner->name);
		rv = PAM_AUTH_ERR;
		goto out;
	}
	if (disabled) {
		rv = disabled_verdict(l);
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
	enum name_spelling spelling;
	enum tp_status st;
	bool known;
	int rv = PAM_AUTH_ERR;

	(void)flags;
	memset(&p, 0, sizeof(p));
	if (parse_module_options(pamh, argc, argv, &opt) != 0)
		return PAM_SERVICE_ERR;
	/* as pam_unix: libpam waits this long (randomised) before it reports
	 * a failure of the stack, so the time of a refusal does not tell an
	 * unknown account, one without a profile and a wrong code apart */
	if (opt.fail_delay_us > 0)
		(void)pam_fail_delay(pamh, opt.fail_delay_us);
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
	if (l.cfg->store_backend == TP_STORE_POSTGRESQL) {
		char left[PATH_MAX];

		/* the secrets belong in the database only: a stolen host
		 * must not yield them */
		if (tp_store_files_left(l.cfg, left, sizeof(left)))
			pam_syslog(pamh, LOG_WARNING, "%s: TOTP secrets are still on this host "
				   "(%s), though store.backend is \"postgresql\": run "
				   "totpctl migrate, which removes them once the database "
				   "holds them", l.cfg->path, left);
	}
	if (l.cfg->policy_ignored)
		pam_syslog(pamh, LOG_WARNING, "%s: totp.window and lockout do not apply with "
			   "store.backend = \"postgresql\": the database's policy does "
			   "(totp.set_policy); remove them", l.cfg->path);
	spelling = canonical_name(user, canonical, sizeof(canonical));
	/* a name that cannot have a profile needs no database connection
	 * (a flood of such logins must not take the server's slots); the
	 * file store is opened as ever */
	if (l.cfg->store_backend != TP_STORE_POSTGRESQL ||
	    (spelling != NAME_UNUSABLE &&
	     tp_valid_account(spelling == NAME_MAPPED ? canonical : user))) {
		st = tp_store_open(l.cfg, &l.store, &err);
		if (st != TP_OK) {
			pam_syslog(pamh, LOG_ERR, "profile store unavailable, refusing login: %s",
				   err ? err : tp_status_str(st));
			goto out;
		}
	}
	if (spelling == NAME_MAPPED) {
		/* a case-insensitive user database takes "ALICE" for alice:
		 * her profile, not "no profile", in every owner */
		pam_syslog(pamh, LOG_INFO, "user=%s is account %s",
			   loggable(user), canonical);
		user = l.user = canonical;
	} else if (spelling == NAME_UNUSABLE) {
		pam_syslog(pamh, LOG_NOTICE,
			   "user=%s: the user database names another account, "
			   "not a valid login name; refused", loggable(user));
	}
	known = spelling != NAME_UNUSABLE && tp_owner_has_account(l.owner, user);
	/* nullok exempts only an account proven to have no profile here: the
	 * store is asked for every name that could have one, member or not */
	if (spelling == NAME_UNUSABLE || !tp_valid_account(user))
		st = TP_ENOENT;
	else
		st = tp_store_get(l.store, l.owner->uuid, user, &p);
	if (st != TP_OK && st != TP_ENOENT && tp_store_unavailable(l.store)) {
		pam_syslog(pamh, LOG_ERR, "profile store unavailable, refusing login: %s",
			   tp_store_detail(l.store));
		goto out;
	}
	if (st != TP_OK && st != TP_ENOENT) {
		pam_syslog(pamh, LOG_ERR, "user=%s owner=%s: profile unreadable, refusing login: %s (%s)",
			   loggable(user), l.owner->name, tp_status_str(st),
			   tp_store_detail(l.store));
		goto out;
	}
	if (st == TP_ENOENT) {
		/* configured_only: an account the config gives no TOTP (it
		 * could not enrol) is not asked; one with a profile always is */
		if (opt.configured_only && known && !tp_owner_requires_totp(l.owner, user)) {
			pam_syslog(pamh, LOG_INFO, "user=%s owner=%s: TOTP is not configured "
				   "for the account; not asked (configured_only)",
				   loggable(user), l.owner->name);
			rv = PAM_IGNORE;
			goto out;
		}
		if (opt.nullok && spelling != NAME_UNUSABLE) {
			/* the same answer for an unknown account as for one
			 * without a profile: nullok does not tell them apart */
			pam_syslog(pamh, LOG_INFO, "user=%s owner=%s: %s (nullok)",
				   loggable(user), l.owner->name,
				   known ? "no TOTP profile" : "no such account in this owner");
			rv = PAM_IGNORE;
			goto out;
		}
		if (known)
			pam_syslog(pamh, LOG_NOTICE, "user=%s owner=%s: refused: no TOTP profile",
				   loggable(user), l.owner->name);
		l.refusal_logged = known;       /* one line per decision */
		known = false;                  /* still prompt, then fail */
	} else if (!known) {
		/* a profile left behind for a name that is no account of this
		 * owner: neither checked nor exempt */
		pam_syslog(pamh, LOG_NOTICE,
			   "user=%s owner=%s: has a profile but is no account of this owner",
			   loggable(user), l.owner->name);
	} else {
		l.digits = p.totp.digits;
		l.codes_left = tp_profile_emergency_left(&p);
		l.few_codes = p.ec_count > 0 && l.codes_left < p.ec_count &&
			      l.codes_left <= l.cfg->emergency_warn;
		if (!p.enabled) {
			rv = disabled_verdict(&l);
			goto out;
		}
	}
	tp_profile_wipe(&p);
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
