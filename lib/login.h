/* The login decision: one attempt applied to one profile record.  Pure
 * (no I/O): the caller runs it inside the store's locked update, so the
 * record it sees is current and its changes are written before anyone
 * else can try. */
#ifndef TP_LOGIN_H
#define TP_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "profile.h"
#include "store.h"
#include "verdict.h"

/* Try `code` against p at time `now`; updates p (last step, spent code,
 * failure count, lock) as the outcome requires.  *changed tells whether
 * p must be written back. */
enum tp_login_outcome tp_login_attempt(struct tp_profile *p,
				       const struct tp_login_policy *policy,
				       const char *code, int64_t now,
				       bool *changed);

/* The same for one answer that may hold several candidate codes (a
 * forwarded "password+code" whose tail may be a TOTP code or an 8-digit
 * emergency code): the lock is checked once, the first candidate that
 * matches is accepted (*matched = its index), and a refusal counts one
 * failure, not one per candidate. */
enum tp_login_outcome tp_login_attempt_any(struct tp_profile *p,
					   const struct tp_login_policy *policy,
					   const char *const *codes, size_t ncodes,
					   int64_t now, size_t *matched, bool *changed);

/* Is this string shaped like a code this profile could accept (6-8
 * digits)?  Used to decide whether a PAM_AUTHTOK is worth trying. */
bool tp_login_code_shaped(const char *code);

const char *tp_login_outcome_name(enum tp_login_outcome o);

/* How the store must record p's state after an attempt that ended in o
 * (changed as the attempt reported): an acceptance, a spent code and the
 * start of a lock are flushed before the login returns; a failure count
 * or the end of a lock is written without a flush (a crash may lose it:
 * fewer than max_failures failures, see docs/SECURITY.md). */
enum tp_state_write tp_login_state_write(enum tp_login_outcome o, bool changed,
					 const struct tp_profile *p, int64_t now);

#endif
