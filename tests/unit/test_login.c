/* The login decision on one profile record: what is accepted, what each
 * refusal counts, and the lock. */
#include "unit.h"
#include "login.h"
#include "profile.h"
#include "secret.h"
#include "totp.h"

#define NOW 1800000000
#define OWNER "02c9e252-41be-11e9-81d5-00a0986138f7"

struct fixture {
	struct tp_profile p;
	char codes[5][TP_EMERGENCY_DIGITS + 1];
};

static int setup(void **state)
{
	static const struct tp_totp_params params = { TP_SHA1, 6, 30 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tp_profile_generate(&f->p, OWNER, "alice", &params, 20, 5,
					     f->codes), TP_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tp_profile_wipe(&f->p);
	tp_wipe(f->codes, sizeof(f->codes));
	free(f);
	return 0;
}

static void code_now(const struct tp_profile *p, char out[TP_CODE_MAX + 1])
{
	assert_int_equal(tp_hotp(p->secret, p->secret_len, p->totp.alg, p->totp.digits,
				 (uint64_t)tp_totp_step(NOW, p->totp.period), out), TP_OK);
}

/* A code that is not this step's (nor a neighbour's) */
static void wrong_code(const struct tp_profile *p, char out[TP_CODE_MAX + 1])
{
	char near[3][TP_CODE_MAX + 1];

	for (int d = -1; d <= 1; d++)
		assert_int_equal(tp_hotp(p->secret, p->secret_len, p->totp.alg,
					 p->totp.digits,
					 (uint64_t)(tp_totp_step(NOW, p->totp.period) + d),
					 near[d + 1]), TP_OK);
	for (unsigned v = 0;; v++) {
		snprintf(out, TP_CODE_MAX + 1, "%06u", v);
		if (strcmp(out, near[0]) && strcmp(out, near[1]) && strcmp(out, near[2]))
			return;
	}
}

static const struct tp_login_policy never_lock = { 1, 0, 300 };
static const struct tp_login_policy lock_at_5 = { 1, 5, 300 };

/* With max_failures = 0 the counter stops at what a profile file holds:
 * the profile stays readable and the right code still works. */
static void test_failure_counter_saturates(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1], right[TP_CODE_MAX + 1], *text = NULL;
	size_t len = 0;
	bool changed;

	wrong_code(&f->p, wrong);
	f->p.failures = TP_FAILURES_MAX;
	assert_int_equal(tp_login_attempt(&f->p, &never_lock, wrong, NOW, &changed),
			 TP_LOGIN_WRONG);
	assert_int_equal(f->p.failures, TP_FAILURES_MAX);

	/* it still round-trips through the file format */
	assert_int_equal(tp_profile_to_ini(&f->p, &text, &len), TP_OK);
	int fd = unit_text_fd(text, len);
	struct tp_profile q;
	assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
	assert_int_equal(q.failures, TP_FAILURES_MAX);
	tp_profile_wipe(&q);
	close(fd);
	tp_free_str(text);

	code_now(&f->p, right);
	assert_int_equal(tp_login_attempt(&f->p, &never_lock, right, NOW, &changed),
			 TP_LOGIN_TOTP);
	assert_int_equal(f->p.failures, 0);
}

/* One answer with two candidates (forward_pass): a miss is one failure,
 * not two, so it cannot lock the profile one step early. */
static void test_any_counts_one_failure(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1];
	const char *cands[2] = { wrong, "12345678" };
	size_t matched = 9;
	bool changed;

	wrong_code(&f->p, wrong);
	f->p.failures = 3;
	assert_int_equal(tp_login_attempt_any(&f->p, &lock_at_5, cands, 2, NOW,
					      &matched, &changed), TP_LOGIN_WRONG);
	assert_true(changed);
	assert_int_equal(f->p.failures, 4);
	assert_int_equal(f->p.lock_until, 0);
	assert_int_equal(matched, 9);                  /* untouched on refusal */
}

/* The 8-digit candidate is an emergency code: accepted in the same
 * attempt although the first candidate missed, even one failure short of
 * the lock. */
static void test_any_accepts_later_candidate(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1];
	const char *cands[2] = { wrong, f->codes[2] };
	size_t matched = 9;
	bool changed;

	wrong_code(&f->p, wrong);
	f->p.failures = 4;
	assert_int_equal(tp_login_attempt_any(&f->p, &lock_at_5, cands, 2, NOW,
					      &matched, &changed), TP_LOGIN_EMERGENCY);
	assert_int_equal(matched, 1);
	assert_int_equal(f->p.failures, 0);
	assert_int_equal(f->p.lock_until, 0);
	assert_true(f->p.ec_spent[2]);
	/* and only once */
	assert_int_equal(tp_login_attempt_any(&f->p, &lock_at_5, cands, 2, NOW,
					      &matched, &changed), TP_LOGIN_SPENT);
}

/* Locked: nothing is checked, nothing counted, right codes refused. */
static void test_locked_refuses_right_code(void **state)
{
	struct fixture *f = *state;
	char right[TP_CODE_MAX + 1];
	bool changed;

	code_now(&f->p, right);
	f->p.lock_until = NOW + 1;
	f->p.failures = 0;
	assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, right, NOW, &changed),
			 TP_LOGIN_LOCKED);
	assert_false(changed);
	assert_int_equal(f->p.failures, 0);
	assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, right, NOW + 1, &changed),
			 TP_LOGIN_TOTP);
	assert_int_equal(f->p.lock_until, 0);
	/* the same step again is a replay, and counts */
	assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, right, NOW + 1, &changed),
			 TP_LOGIN_REPLAY);
	assert_int_equal(f->p.failures, 1);
}

/* The fifth miss starts the lock. */
static void test_lock_starts_at_max(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1];
	bool changed;

	wrong_code(&f->p, wrong);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed),
				 TP_LOGIN_WRONG);
	assert_int_equal(f->p.lock_until, 0);
	assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed),
			 TP_LOGIN_WRONG);
	assert_int_equal(f->p.lock_until, NOW + 300);
}

/* A lock that ran out starts a fresh count: the misses that caused it
 * are not carried into the next round, so max_failures - 1 misses after
 * it do not lock again. */
static void test_lock_resets_the_count(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1], right[TP_CODE_MAX + 1];
	bool changed;

	wrong_code(&f->p, wrong);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed),
				 TP_LOGIN_WRONG);
	assert_int_equal(f->p.lock_until, NOW + 300);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, wrong, NOW + 300, &changed),
				 TP_LOGIN_WRONG);
	assert_int_equal(f->p.lock_until, 0);
	code_now(&f->p, right);
	/* the right code of a later step still gets in: not locked */
	assert_int_equal(tp_hotp(f->p.secret, f->p.secret_len, f->p.totp.alg, f->p.totp.digits,
				 (uint64_t)tp_totp_step(NOW + 300, f->p.totp.period), right), TP_OK);
	assert_int_equal(tp_login_attempt(&f->p, &lock_at_5, right, NOW + 300, &changed),
			 TP_LOGIN_TOTP);
}

/* What the store must flush before the login returns: an acceptance, a
 * spent code and a new lock; a miss and the end of a lock may wait. */
static void test_state_write_kind(void **state)
{
	struct fixture *f = *state;
	char wrong[TP_CODE_MAX + 1], right[TP_CODE_MAX + 1];
	bool changed;
	enum tp_login_outcome o;

	wrong_code(&f->p, wrong);
	code_now(&f->p, right);
	o = tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed);
	assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_WRITE);
	o = tp_login_attempt(&f->p, &lock_at_5, right, NOW, &changed);
	assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_FLUSH);
	o = tp_login_attempt(&f->p, &lock_at_5, f->codes[0], NOW, &changed);
	assert_int_equal(o, TP_LOGIN_EMERGENCY);
	assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_FLUSH);
	for (int i = 0; i < 4; i++) {
		o = tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed);
		assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_WRITE);
	}
	o = tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed);
	assert_int_equal(f->p.lock_until, NOW + 300);
	assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_FLUSH);
	o = tp_login_attempt(&f->p, &lock_at_5, wrong, NOW, &changed);
	assert_int_equal(o, TP_LOGIN_LOCKED);
	assert_int_equal(tp_login_state_write(o, changed, &f->p, NOW), TP_STATE_KEEP);
}

/* What try_first_pass and use_first_pass take from PAM_AUTHTOK as a code
 * (anything else is a password: the module asks for the code): 6 to 8
 * digits and nothing else. */
static void test_code_shaped(void **state)
{
	static const char *const codes[] = { "123456", "1234567", "12345678", "000000" };
	static const char *const not_codes[] = {
		"", "1", "12345", "123456789", "12345a", "a12345", " 123456", "123456 ",
		"-12345", "+123456", "hunter2",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!tp_login_code_shaped(codes[i]))
			fail_msg("\"%s\" is a code", codes[i]);
	for (size_t i = 0; i < sizeof(not_codes) / sizeof(not_codes[0]); i++)
		if (tp_login_code_shaped(not_codes[i]))
			fail_msg("\"%s\" was taken for a code", not_codes[i]);
	assert_false(tp_login_code_shaped(NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_failure_counter_saturates),
		T(test_any_counts_one_failure),
		T(test_any_accepts_later_candidate),
		T(test_locked_refuses_right_code),
		T(test_lock_starts_at_max),
		T(test_lock_resets_the_count),
		T(test_state_write_kind),
		cmocka_unit_test(test_code_shaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
