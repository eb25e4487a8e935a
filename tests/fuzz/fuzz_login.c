/* The code-input path: tp_login_attempt, which the module runs (inside the
 * store's locked update) with whatever the user typed.  The profile and the
 * policy come from the first HEADER bytes of the input, the typed answer
 * from the rest; every outcome is checked against an independent model of
 * the rules in lib/login.h, so an accepted non-code, a refused good code,
 * a missed replay or a wrong lock count all stop the run.
 *
 *   byte 0  algorithm        byte 1  digits           byte 2  period
 *   byte 3  window           bytes 4-7  clock (signed offset from NOW0)
 *   byte 8  last step, relative to the current one (-128: none)
 *   byte 9  failures so far and max_failures        byte 10  lock
 *   byte 11 emergency codes present and spent
 *   byte 12 what is typed: 0 the rest as is; 1 a genuine TOTP code of a
 *           step near now (byte 13) followed by the rest; 2 emergency code
 *           number byte 13 % 3 followed by the rest
 *           byte 12 / 3 odd: the answer goes in as forward_pass gives it,
 *           two candidates (all of it, and its last 8 characters) in one
 *           tp_login_attempt_any
 *   byte 13 see byte 12, then the rest: the typed bytes (cut at a NUL)
 */
#include <stdbool.h>

#include "fuzz.h"
#include "login.h"
#include "profile.h"

#define HEADER 14
#define NOW0 INT64_C(1800000000)
#define N_EMERGENCY 3

static const unsigned char key[20] = "12345678901234567890";   /* RFC 4226 */
static const char *const emergency[N_EMERGENCY] = { "12345678", "00000042", "99999999" };

/* What tp_login_attempt must do, worked out the long way. */
static enum tp_login_outcome model(const struct tp_profile *p,
				   const struct tp_login_policy *pol,
				   const char *code, int64_t now, int64_t *step_out,
				   unsigned *slot_out)
{
	int64_t step = tp_totp_step(now, p->totp.period);
	bool replay = false;

	if (p->lock_until > now)
		return TP_LOGIN_LOCKED;
	for (int64_t s = step - (int64_t)pol->window; s <= step + (int64_t)pol->window; s++) {
		char expect[TP_CODE_MAX + 1];
		if (s < 0)
			continue;
		FUZZ_ASSERT(tp_hotp(p->secret, p->secret_len, p->totp.alg, p->totp.digits,
				    (uint64_t)s, expect) == TP_OK);
		if (strcmp(expect, code) != 0)
			continue;
		if (s > p->last_step) {
			*step_out = s;
			return TP_LOGIN_TOTP;
		}
		replay = true;
	}
	if (replay)
		return TP_LOGIN_REPLAY;
	bool spent = false;
	for (unsigned i = 0; i < p->ec_count; i++) {
		if (strcmp(emergency[i], code) != 0)
			continue;
		if (!p->ec_spent[i]) {
			*slot_out = i;
			return TP_LOGIN_EMERGENCY;
		}
		spent = true;
	}
	return spent ? TP_LOGIN_SPENT : TP_LOGIN_WRONG;
}

/* The same for several candidates in one attempt: the first that gets in
 * wins; otherwise a replay says more than a spent code, which says more
 * than a wrong one. */
static enum tp_login_outcome model_any(const struct tp_profile *p,
				       const struct tp_login_policy *pol,
				       const char *const *codes, size_t n, int64_t now,
				       int64_t *step_out, unsigned *slot_out, size_t *matched)
{
	enum tp_login_outcome refusal = TP_LOGIN_WRONG;

	for (size_t i = 0; i < n; i++) {
		enum tp_login_outcome o = model(p, pol, codes[i], now, step_out, slot_out);

		if (o == TP_LOGIN_LOCKED || o == TP_LOGIN_TOTP || o == TP_LOGIN_EMERGENCY) {
			*matched = i;
			return o;
		}
		if (o == TP_LOGIN_REPLAY || (o == TP_LOGIN_SPENT && refusal == TP_LOGIN_WRONG))
			refusal = o;
	}
	return refusal;
}

static bool all_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_profile p, before;
	struct tp_login_policy pol;
	char genuine[TP_CODE_MAX + 1] = "";
	const char *prefix = "";
	int64_t now, step, model_step = -1;
	unsigned model_slot = 0;
	bool changed = true;

	if (size < HEADER)
		return 0;
	memset(&p, 0, sizeof(p));
	memcpy(p.secret, key, sizeof(key));
	p.secret_len = sizeof(key);
	p.totp.alg = (enum tp_algorithm)(data[0] % 3);
	p.totp.digits = TP_DIGITS_MIN + data[1] % (TP_DIGITS_MAX - TP_DIGITS_MIN + 1);
	p.totp.period = 1u + data[2] % 300u;
	pol.window = data[3] % 11u;                   /* the config's range */
	now = NOW0 + (int32_t)((uint32_t)data[4] | (uint32_t)data[5] << 8 |
			       (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24);
	step = tp_totp_step(now, p.totp.period);
	p.last_step = (int8_t)data[8] == INT8_MIN ? -1 : step + (int8_t)data[8];
	p.failures = data[9] % 8u;
	pol.max_failures = (data[9] >> 3) % 8u;
	pol.lockout_seconds = 1u + data[9] / 64u * 100u;
	p.lock_until = data[10] == 0 ? 0 : now + (int8_t)data[10];
	memset(p.ec_salt, 0x5a, sizeof(p.ec_salt));
	for (unsigned i = 0; i < data[11] % (N_EMERGENCY + 1); i++) {
		FUZZ_ASSERT(tp_profile_add_emergency(&p, emergency[i]) == TP_OK);
		p.ec_spent[i] = (data[11] >> (2 + i)) & 1u;
	}
	p.enabled = true;
	if (data[12] % 3 == 1) {
		int64_t s = step + (int8_t)data[13] % 13;
		if (s >= 0)
			FUZZ_ASSERT(tp_hotp(p.secret, p.secret_len, p.totp.alg, p.totp.digits,
					    (uint64_t)s, genuine) == TP_OK);
		prefix = genuine;
	} else if (data[12] % 3 == 2) {
		prefix = emergency[data[13] % N_EMERGENCY];
	}

	char *rest = fuzz_string(data + HEADER, size - HEADER);
	size_t plen = strlen(prefix);
	char *code = malloc(plen + strlen(rest) + 1);
	FUZZ_ASSERT(code != NULL);
	memcpy(code, prefix, plen);
	strcpy(code + plen, rest);
	free(rest);

	memcpy(&before, &p, sizeof(p));      /* padding too: compared below */
	const char *cands[2] = { code, NULL };
	size_t ncands = 1, want_matched = 0, matched = 0;
	enum tp_login_outcome want, got;
	if ((data[12] / 3) % 2 == 1 && strlen(code) >= TP_EMERGENCY_DIGITS)
		cands[ncands++] = code + strlen(code) - TP_EMERGENCY_DIGITS;
	want = model_any(&p, &pol, cands, ncands, now, &model_step, &model_slot, &want_matched);
	if (ncands == 1)
		got = tp_login_attempt(&p, &pol, code, now, &changed);
	else
		got = tp_login_attempt_any(&p, &pol, cands, ncands, now, &matched, &changed);
	if (got != want)
		fprintf(stderr, "code \"%s\" (%zu candidates): %s, expected %s\n", code, ncands,
			tp_login_outcome_name(got), tp_login_outcome_name(want));
	FUZZ_ASSERT(got == want);
	if (got == TP_LOGIN_TOTP || got == TP_LOGIN_EMERGENCY)
		FUZZ_ASSERT(matched == want_matched);
	const char *accepted_code = cands[want_matched];

	/* the state each outcome leaves behind */
	struct tp_profile expect;
	memcpy(&expect, &before, sizeof(p));
	switch (got) {
	case TP_LOGIN_LOCKED:
		break;
	case TP_LOGIN_TOTP:
	case TP_LOGIN_EMERGENCY:
		FUZZ_ASSERT(all_digits(accepted_code));
		FUZZ_ASSERT(strlen(accepted_code) == (got == TP_LOGIN_TOTP ? p.totp.digits
									   : TP_EMERGENCY_DIGITS));
		FUZZ_ASSERT(tp_login_code_shaped(accepted_code));
		expect.lock_until = 0;
		expect.failures = 0;
		if (got == TP_LOGIN_TOTP)
			expect.last_step = model_step;
		else
			expect.ec_spent[model_slot] = true;
		break;
	default:
		FUZZ_ASSERT(got != TP_LOGIN_ERROR);
		expect.lock_until = 0;
		expect.failures = before.failures + 1;
		if (pol.max_failures > 0 && expect.failures >= pol.max_failures) {
			expect.lock_until = now + (int64_t)pol.lockout_seconds;
			expect.failures = 0;
		}
		break;
	}
	FUZZ_ASSERT(memcmp(&p, &expect, sizeof(p)) == 0);
	FUZZ_ASSERT(changed == (got != TP_LOGIN_LOCKED));
	free(code);
	tp_profile_wipe(&p);
	return 0;
}
