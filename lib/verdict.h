/* The words of a login verdict, shared by the login decision (login.c)
 * and the store, whose backends may reach it themselves (a database that
 * keeps the secret judges the code where the secret is). */
#ifndef TP_VERDICT_H
#define TP_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

enum tp_login_outcome {
	TP_LOGIN_TOTP = 0,     /* accepted: TOTP code, its step recorded */
	TP_LOGIN_EMERGENCY,    /* accepted: emergency code, now spent */
	TP_LOGIN_REPLAY,       /* refused: TOTP step already used */
	TP_LOGIN_SPENT,        /* refused: emergency code already used */
	TP_LOGIN_WRONG,        /* refused: no match (or not a code at all) */
	TP_LOGIN_LOCKED,       /* refused: too many failures, lock running */
	TP_LOGIN_ERROR         /* refused: crypto failure */
};

struct tp_login_policy {
	unsigned window;           /* steps either side of now */
	unsigned max_failures;     /* 0: never lock */
	unsigned lockout_seconds;
};

/* What one attempt came to (tp_store_attempt). */
struct tp_attempt {
	enum tp_login_outcome outcome;
	size_t matched;            /* accepted: index of the candidate */
	unsigned emergency_left;   /* unspent emergency codes after it */
	bool disabled;             /* not tried: an admin disabled the profile */
};

#endif
