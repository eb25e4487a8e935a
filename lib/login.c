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

static void count_failure(struct tp_profile *p, const struct tp_login_policy *policy,
			  int64_t now)
{
	p->failures++;
	if (policy->max_failures > 0 && p->failures >= policy->max_failures) {
		p->lock_until = now + (int64_t)policy->lockout_seconds;
		p->failures = 0;
	}
}

enum tp_login_outcome tp_login_attempt(struct tp_profile *p,
				       const struct tp_login_policy *policy,
				       const char *code, int64_t now,
				       bool *changed)
{
	enum tp_status st;
	int64_t step = -1;
	unsigned slot = 0;

	*changed = false;
	if (p->lock_until > now)
		return TP_LOGIN_LOCKED;          /* not even checked, not counted */
	if (p->lock_until != 0) {
		p->lock_until = 0;               /* the lock has run out */
		*changed = true;
	}
	st = tp_totp_verify(p->secret, p->secret_len, &p->totp, now, policy->window,
			    code, p->last_step, &step);
	if (st == TP_ECRYPTO)
		return TP_LOGIN_ERROR;
	if (st == TP_OK) {
		p->last_step = step;
		p->failures = 0;
		*changed = true;
		return TP_LOGIN_TOTP;
	}
	enum tp_status em = TP_EINVAL;
	if (st != TP_EEXIST) {
		em = tp_profile_match_emergency(p, code, &slot);
		if (em == TP_ECRYPTO)
			return TP_LOGIN_ERROR;
		if (em == TP_OK) {
			p->ec_spent[slot] = true;
			p->failures = 0;
			*changed = true;
			return TP_LOGIN_EMERGENCY;
		}
	}
	count_failure(p, policy, now);
	*changed = true;
	if (st == TP_EEXIST)
		return TP_LOGIN_REPLAY;
	return em == TP_EEXIST ? TP_LOGIN_SPENT : TP_LOGIN_WRONG;
}
