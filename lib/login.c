#include <string.h>

#include "login.h"
#include "totp.h"

bool tp_login_code_shaped(const char *code)
{
	size_t n;

	if (code == NULL)
		return false;
	n = strnlen(code, TP_CODE_MAX + 1);
	return n >= TP_DIGITS_MIN && n <= TP_CODE_MAX &&
	       strspn(code, "0123456789") == n;
}

const char *tp_login_outcome_name(enum tp_login_outcome o)
{
	switch (o) {
	case TP_LOGIN_TOTP:      return "accepted TOTP code";
	case TP_LOGIN_EMERGENCY: return "accepted emergency code";
	case TP_LOGIN_REPLAY:    return "refused: replayed TOTP code";
	case TP_LOGIN_SPENT:     return "refused: emergency code already used";
	case TP_LOGIN_WRONG:     return "refused: wrong code";
	case TP_LOGIN_LOCKED:    return "refused: profile locked after repeated failures";
	case TP_LOGIN_ERROR:     return "refused: internal error";
	}
	return "?";
}

/* The counter saturates: with max_failures = 0 (never lock) it must not
 * grow past what a profile file may hold, or the profile would become
 * unreadable and lock its owner out for good. */
static void count_failure(struct tp_profile *p, const struct tp_login_policy *policy,
			  int64_t now)
{
	if (p->failures < TP_FAILURES_MAX)
		p->failures++;
	if (policy->max_failures > 0 && p->failures >= policy->max_failures) {
		p->lock_until = now + (int64_t)policy->lockout_seconds;
		p->failures = 0;
	}
}

/* One candidate: accepted (p updated), or why not. */
static enum tp_login_outcome try_one(struct tp_profile *p,
				     const struct tp_login_policy *policy,
				     const char *code, int64_t now)
{
	int64_t step = -1;
	unsigned slot = 0;
	enum tp_status st, em;

	st = tp_totp_verify(p->secret, p->secret_len, &p->totp, now, policy->window,
			    code, p->last_step, &step);
	if (st == TP_ECRYPTO)
		return TP_LOGIN_ERROR;
	if (st == TP_OK) {
		p->last_step = step;
		return TP_LOGIN_TOTP;
	}
	if (st == TP_EEXIST)
		return TP_LOGIN_REPLAY;
	em = tp_profile_match_emergency(p, code, &slot);
	if (em == TP_ECRYPTO)
		return TP_LOGIN_ERROR;
	if (em == TP_OK) {
		p->ec_spent[slot] = true;
		return TP_LOGIN_EMERGENCY;
	}
	return em == TP_EEXIST ? TP_LOGIN_SPENT : TP_LOGIN_WRONG;
}

enum tp_login_outcome tp_login_attempt_any(struct tp_profile *p,
					   const struct tp_login_policy *policy,
					   const char *const *codes, size_t ncodes,
					   int64_t now, size_t *matched, bool *changed)
{
	enum tp_login_outcome refusal = TP_LOGIN_WRONG;

	*changed = false;
	if (p->lock_until > now)
		return TP_LOGIN_LOCKED;          /* not even checked, not counted */
	if (p->lock_until != 0) {
		p->lock_until = 0;               /* the lock has run out */
		*changed = true;
	}
	for (size_t i = 0; i < ncodes; i++) {
		enum tp_login_outcome o = try_one(p, policy, codes[i], now);

		if (o == TP_LOGIN_ERROR)
			return o;
		if (o == TP_LOGIN_TOTP || o == TP_LOGIN_EMERGENCY) {
			p->failures = 0;
			*changed = true;
			if (matched != NULL)
				*matched = i;
			return o;
		}
		/* a replay or a spent code says more than "wrong" */
		if (o == TP_LOGIN_REPLAY || (o == TP_LOGIN_SPENT && refusal == TP_LOGIN_WRONG))
			refusal = o;
	}
	count_failure(p, policy, now);       /* one attempt, one failure */
	*changed = true;
	return refusal;
}

enum tp_login_outcome tp_login_attempt(struct tp_profile *p,
				       const struct tp_login_policy *policy,
				       const char *code, int64_t now,
				       bool *changed)
{
	return tp_login_attempt_any(p, policy, &code, 1, now, NULL, changed);
}

enum tp_state_write tp_login_state_write(enum tp_login_outcome o, bool changed,
					 const struct tp_profile *p, int64_t now)
{
	if (!changed)
		return TP_STATE_KEEP;
	if (o == TP_LOGIN_TOTP || o == TP_LOGIN_EMERGENCY || p->lock_until > now)
		return TP_STATE_FLUSH;
	return TP_STATE_WRITE;
}
