/* HOTP/TOTP against the RFCs' own test vectors, and the verification rules
 * the module relies on: the window, the matched step, replay refusal and
 * malformed codes. */
#include "unit.h"
#include "totp.h"

static const unsigned char key_sha1[] = "12345678901234567890";
static const unsigned char key_sha256[] = "12345678901234567890123456789012";
static const unsigned char key_sha512[] =
	"1234567890123456789012345678901234567890123456789012345678901234";

/* RFC 4226 Appendix D: HOTP values for counters 0..9, 6 digits, SHA-1. */
static void test_rfc4226_hotp(void **state)
{
	static const char *const expect[10] = {
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	};
	char code[TP_CODE_MAX + 1];

	(void)state;
	for (uint64_t c = 0; c < 10; c++) {
		assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 6, c, code), TP_OK);
		assert_string_equal(code, expect[c]);
	}
}

/* RFC 6238 Appendix B: every row, 8 digits, period 30, T0 = 0. */
static const struct {
	int64_t time;
	enum tp_algorithm alg;
	const char *code;
} rfc6238[] = {
	{ 59,          TP_SHA1,   "94287082" },
	{ 59,          TP_SHA256, "46119246" },
	{ 59,          TP_SHA512, "90693936" },
	{ 1111111109,  TP_SHA1,   "07081804" },
	{ 1111111109,  TP_SHA256, "68084774" },
	{ 1111111109,  TP_SHA512, "25091201" },
	{ 1111111111,  TP_SHA1,   "14050471" },
	{ 1111111111,  TP_SHA256, "67062674" },
	{ 1111111111,  TP_SHA512, "99943326" },
	{ 1234567890,  TP_SHA1,   "89005924" },
	{ 1234567890,  TP_SHA256, "91819424" },
	{ 1234567890,  TP_SHA512, "93441116" },
	{ 2000000000,  TP_SHA1,   "69279037" },
	{ 2000000000,  TP_SHA256, "90698825" },
	{ 2000000000,  TP_SHA512, "38618901" },
	{ 20000000000, TP_SHA1,   "65353130" },
	{ 20000000000, TP_SHA256, "77737706" },
	{ 20000000000, TP_SHA512, "47863826" },
};

/* The RFC uses a key as long as the digest for each algorithm. */
static void rfc_key(enum tp_algorithm alg, const unsigned char **key, size_t *len)
{
	*key = key_sha1;
	*len = 20;
	if (alg == TP_SHA256) {
		*key = key_sha256;
		*len = 32;
	} else if (alg == TP_SHA512) {
		*key = key_sha512;
		*len = 64;
	}
}

static void test_rfc6238_vectors_hotp(void **state)
{
	char code[TP_CODE_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		const unsigned char *key;
		size_t len;
		rfc_key(rfc6238[i].alg, &key, &len);
		int64_t step = tp_totp_step(rfc6238[i].time, 30);
		assert_int_equal(tp_hotp(key, len, rfc6238[i].alg, 8, (uint64_t)step,
					 code), TP_OK);
		if (strcmp(code, rfc6238[i].code) != 0)
			fail_msg("time %lld %s: got %s, RFC 6238 says %s",
				 (long long)rfc6238[i].time,
				 tp_algorithm_name(rfc6238[i].alg), code, rfc6238[i].code);
	}
}

/* The same vectors through tp_totp_verify with a zero window. */
static void test_rfc6238_vectors_verify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		struct tp_totp_params p = { rfc6238[i].alg, 8, 30 };
		const unsigned char *key;
		size_t len;
		int64_t matched = -7;

		rfc_key(rfc6238[i].alg, &key, &len);
		assert_int_equal(tp_totp_verify(key, len, &p, rfc6238[i].time, 0,
						rfc6238[i].code, -1, &matched), TP_OK);
		assert_int_equal(matched, tp_totp_step(rfc6238[i].time, 30));
		/* a different time step does not accept it with a zero window */
		assert_int_equal(tp_totp_verify(key, len, &p, rfc6238[i].time + 60, 0,
						rfc6238[i].code, -1, &matched),
				 TP_EINVAL);
	}
}

static void test_hotp_bad_arguments(void **state)
{
	char code[TP_CODE_MAX + 1];

	(void)state;
	assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 5, 0, code), TP_EINVAL);
	assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 9, 0, code), TP_EINVAL);
	assert_int_not_equal(tp_hotp(key_sha1, 20, (enum tp_algorithm)7, 6, 0, code),
			     TP_OK);
}

/* 7 and 8 digits: the last digits of the truncated values RFC 4226
 * Appendix D lists ("Decimal"), all of them, leading digit included: a code
 * reduced modulo 10^6 would show as a 6-digit code padded with a 0. */
static void test_rfc4226_hotp_7_and_8_digits(void **state)
{
	static const char *const truncated[10] = {
		"1284755224", "1094287082", "137359152", "1726969429", "1640338314",
		"868254676", "1918287922", "82162583", "673399871", "645520489",
	};
	char code[TP_CODE_MAX + 1];
	struct tp_totp_params p7 = { TP_SHA1, 7, 30 };
	int64_t m = -1;

	(void)state;
	for (uint64_t c = 0; c < 10; c++) {
		size_t n = strlen(truncated[c]);

		assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 7, c, code), TP_OK);
		assert_string_equal(code, truncated[c] + n - 7);
		assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 8, c, code), TP_OK);
		assert_string_equal(code, truncated[c] + n - 8);
	}
	/* a 7-digit profile: the 7-digit code of step 0 is accepted, the
	 * 6-digit code padded with a 0 is not */
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p7, 0, 0, "4755224", -1, &m), TP_OK);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p7, 0, 0, "0755224", -1, &m),
			 TP_EINVAL);
}

static void test_algorithm_parse(void **state)
{
	static const struct { const char *s; enum tp_algorithm alg; } good[] = {
		{ "SHA1", TP_SHA1 }, { "sha1", TP_SHA1 }, { "SHA-1", TP_SHA1 },
		{ "SHA256", TP_SHA256 }, { "sha-256", TP_SHA256 },
		{ "SHA512", TP_SHA512 }, { "Sha-512", TP_SHA512 },
	};
	static const char *const bad[] = {
		"", "SHA", "MD5", "SHA384", "SHA-384", "SHA1 ", " SHA1", "SHA_1",
		"SHA2", "SHA1\n",
	};
	enum tp_algorithm alg;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		alg = (enum tp_algorithm)99;
		assert_int_equal(tp_algorithm_parse(good[i].s, &alg), TP_OK);
		assert_int_equal(alg, good[i].alg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tp_algorithm_parse(bad[i], &alg) != TP_EINVAL)
			fail_msg("\"%s\" accepted as an algorithm", bad[i]);
	}
	assert_int_equal(tp_algorithm_parse(NULL, &alg), TP_EINVAL);
	assert_string_equal(tp_algorithm_name(TP_SHA1), "SHA1");
	assert_string_equal(tp_algorithm_name(TP_SHA256), "SHA256");
	assert_string_equal(tp_algorithm_name(TP_SHA512), "SHA512");
}

/* Floor division: times before 1970 must not round toward zero. */
static void test_totp_step_floor(void **state)
{
	(void)state;
	assert_int_equal(tp_totp_step(0, 30), 0);
	assert_int_equal(tp_totp_step(29, 30), 0);
	assert_int_equal(tp_totp_step(30, 30), 1);
	assert_int_equal(tp_totp_step(59, 30), 1);
	assert_int_equal(tp_totp_step(60, 30), 2);
	assert_int_equal(tp_totp_step(1111111109, 30), 37037036);
	assert_int_equal(tp_totp_step(1111111111, 30), 37037037);
	assert_int_equal(tp_totp_step(20000000000, 30), 666666666);
	assert_int_equal(tp_totp_step(119, 60), 1);
	assert_int_equal(tp_totp_step(120, 60), 2);
	assert_int_equal(tp_totp_step(-1, 30), -1);
	assert_int_equal(tp_totp_step(-29, 30), -1);
	assert_int_equal(tp_totp_step(-30, 30), -1);
	assert_int_equal(tp_totp_step(-31, 30), -2);
	assert_int_equal(tp_totp_step(-60, 30), -2);
}

/* Codes for steps now-2 .. now+2 of a fixed key, 6 digits. */
#define NOW ((int64_t)1111111111)
static const struct tp_totp_params p6 = { TP_SHA1, 6, 30 };

static void code_at(int64_t step, char code[TP_CODE_MAX + 1])
{
	assert_int_equal(tp_hotp(key_sha1, 20, TP_SHA1, 6, (uint64_t)step, code), TP_OK);
}

static void test_verify_window(void **state)
{
	const int64_t now_step = tp_totp_step(NOW, 30);
	char codes[5][TP_CODE_MAX + 1];

	(void)state;
	for (int i = 0; i < 5; i++)
		code_at(now_step - 2 + i, codes[i]);
	/* the test is only meaningful if the five codes differ */
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			assert_string_not_equal(codes[i], codes[j]);

	for (int i = 0; i < 5; i++) {
		int64_t off = i - 2, matched = -7;
		enum tp_status st = tp_totp_verify(key_sha1, 20, &p6, NOW, 1, codes[i],
						   -1, &matched);
		if (off >= -1 && off <= 1) {
			assert_int_equal(st, TP_OK);
			assert_int_equal(matched, now_step + off);
		} else {
			assert_int_equal(st, TP_EINVAL);
			assert_int_equal(matched, -7);      /* untouched */
		}
	}
	/* window 2 takes the outer ones too; window 0 only the current step */
	int64_t matched = 0;
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 2, codes[0], -1,
					&matched), TP_OK);
	assert_int_equal(matched, now_step - 2);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 2, codes[4], -1,
					&matched), TP_OK);
	assert_int_equal(matched, now_step + 2);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 0, codes[1], -1,
					&matched), TP_EINVAL);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 0, codes[2], -1,
					&matched), TP_OK);
	assert_int_equal(matched, now_step);
	/* last second of the previous step / first of the next one */
	int64_t start = now_step * 30;
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, start - 1, 0, codes[1], -1,
					&matched), TP_OK);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, start + 30, 0, codes[3], -1,
					&matched), TP_OK);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, start + 29, 0, codes[3], -1,
					&matched), TP_EINVAL);
}

/* RFC 6238 section 5.2: a step at or before the last accepted one is a
 * replay, reported as TP_EEXIST so the module can log it as such. */
static void test_verify_replay(void **state)
{
	const int64_t now_step = tp_totp_step(NOW, 30);
	char prev[TP_CODE_MAX + 1], cur[TP_CODE_MAX + 1], next[TP_CODE_MAX + 1];
	int64_t matched = -7;

	(void)state;
	code_at(now_step - 1, prev);
	code_at(now_step, cur);
	code_at(now_step + 1, next);

	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, cur, now_step - 1,
					&matched), TP_OK);
	assert_int_equal(matched, now_step);
	matched = -7;
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, cur, now_step,
					&matched), TP_EEXIST);
	assert_int_equal(matched, -7);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, cur, now_step + 1,
					&matched), TP_EEXIST);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, prev, now_step - 1,
					&matched), TP_EEXIST);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, prev, now_step,
					&matched), TP_EEXIST);
	/* a later step is still fine after the current one was used */
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, next, now_step,
					&matched), TP_OK);
	assert_int_equal(matched, now_step + 1);
	/* a replayed code outside the window is just wrong, not a replay */
	code_at(now_step - 5, prev);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, prev, now_step,
					&matched), TP_EINVAL);
}

static void test_verify_malformed(void **state)
{
	const int64_t now_step = tp_totp_step(NOW, 30);
	char cur[TP_CODE_MAX + 1], buf[32];
	int64_t matched = -7;
	static const char *const bad[] = {
		"", "1", "12345", "1234567", "12345678", "123456789",
		"abcdef", "12345a", "a12345", " 12345", "12345 ", "-12345", "+12345",
		"12 345", "１２３４５６",
	};

	(void)state;
	code_at(now_step, cur);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tp_totp_verify(key_sha1, 20, &p6, NOW, 1, bad[i], -1, &matched) !=
		    TP_EINVAL)
			fail_msg("malformed code \"%s\" not refused", bad[i]);
	}
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, NULL, -1, &matched),
			 TP_EINVAL);
	/* the right code with something appended or cut short */
	snprintf(buf, sizeof(buf), "%s0", cur);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, buf, -1, &matched),
			 TP_EINVAL);
	snprintf(buf, sizeof(buf), "%.5s", cur);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, buf, -1, &matched),
			 TP_EINVAL);
	snprintf(buf, sizeof(buf), "%s\n", cur);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, buf, -1, &matched),
			 TP_EINVAL);
	assert_int_equal(matched, -7);
	/* bad parameters */
	struct tp_totp_params bad_digits = { TP_SHA1, 5, 30 };
	struct tp_totp_params bad_period = { TP_SHA1, 6, 0 };
	assert_int_equal(tp_totp_verify(key_sha1, 20, &bad_digits, NOW, 1, "12345", -1,
					&matched), TP_EINVAL);
	assert_int_equal(tp_totp_verify(key_sha1, 20, &bad_period, NOW, 1, cur, -1,
					&matched), TP_EINVAL);
	/* sanity: the well-formed code itself passes */
	assert_int_equal(tp_totp_verify(key_sha1, 20, &p6, NOW, 1, cur, -1, &matched),
			 TP_OK);
}

/* 8-digit SHA-512 profile with a 60 s period, as a non-default config. */
static void test_verify_other_params(void **state)
{
	struct tp_totp_params p = { TP_SHA512, 8, 60 };
	char code[TP_CODE_MAX + 1];
	int64_t matched = 0, step = tp_totp_step(NOW, 60);

	(void)state;
	assert_int_equal(tp_hotp(key_sha512, 64, TP_SHA512, 8, (uint64_t)step, code),
			 TP_OK);
	assert_int_equal(tp_totp_verify(key_sha512, 64, &p, NOW, 1, code, -1, &matched),
			 TP_OK);
	assert_int_equal(matched, step);
	/* the same key with another algorithm does not accept it */
	p.alg = TP_SHA1;
	assert_int_equal(tp_totp_verify(key_sha512, 64, &p, NOW, 1, code, -1, &matched),
			 TP_EINVAL);
}

/* Every digit counts: the right code with only its last digit changed is
 * refused, at every step of the window. */
static void test_verify_last_digit(void **state)
{
	const int64_t now_step = tp_totp_step(NOW, 30);
	char cur[TP_CODE_MAX + 1];
	int64_t matched = -7;

	(void)state;
	for (int64_t s = now_step - 1; s <= now_step + 1; s++) {
		code_at(s, cur);
		for (char d = '0'; d <= '9'; d++) {
			if (d == cur[5])
				continue;
			cur[5] = d;
			if (tp_totp_verify(key_sha1, 20, &p6, NOW, 1, cur, -1, &matched) == TP_OK)
				fail_msg("code %s with a wrong last digit accepted", cur);
			code_at(s, cur);
		}
	}
	assert_int_equal(matched, -7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4226_hotp),
		cmocka_unit_test(test_rfc4226_hotp_7_and_8_digits),
		cmocka_unit_test(test_rfc6238_vectors_hotp),
		cmocka_unit_test(test_rfc6238_vectors_verify),
		cmocka_unit_test(test_hotp_bad_arguments),
		cmocka_unit_test(test_algorithm_parse),
		cmocka_unit_test(test_totp_step_floor),
		cmocka_unit_test(test_verify_window),
		cmocka_unit_test(test_verify_replay),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_verify_other_params),
		cmocka_unit_test(test_verify_last_digit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
