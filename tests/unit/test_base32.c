/* Base32 (RFC 4648): the secrets users type into authenticator apps. */
#include <openssl/rand.h>

#include "unit.h"
#include "base32.h"

/* RFC 4648 section 10; our encoder emits no padding. */
static const struct {
	const char *plain, *padded, *bare;
} rfc4648[] = {
	{ "",       "",                 "" },
	{ "f",      "MY======",         "MY" },
	{ "fo",     "MZXQ====",         "MZXQ" },
	{ "foo",    "MZXW6===",         "MZXW6" },
	{ "foob",   "MZXW6YQ=",         "MZXW6YQ" },
	{ "fooba",  "MZXW6YTB",         "MZXW6YTB" },
	{ "foobar", "MZXW6YTBOI======", "MZXW6YTBOI" },
};
#define N_RFC (sizeof(rfc4648) / sizeof(rfc4648[0]))

static void test_encode_rfc4648(void **state)
{
	char out[64];

	(void)state;
	for (size_t i = 0; i < N_RFC; i++) {
		size_t len = strlen(rfc4648[i].plain);
		assert_int_equal(tp_base32_encoded_len(len), strlen(rfc4648[i].bare));
		memset(out, 'x', sizeof(out));
		assert_int_equal(tp_base32_encode((const unsigned char *)rfc4648[i].plain,
						  len, out, sizeof(out)), TP_OK);
		assert_string_equal(out, rfc4648[i].bare);
	}
}

static void expect_decode(const char *in, const char *plain)
{
	unsigned char out[64];
	size_t outlen = 999;

	memset(out, 0xaa, sizeof(out));
	if (tp_base32_decode(in, out, sizeof(out), &outlen) != TP_OK)
		fail_msg("\"%s\" not decoded", in);
	assert_int_equal(outlen, strlen(plain));
	assert_memory_equal(out, plain, outlen);
}

static void expect_refused(const char *in)
{
	unsigned char out[64];
	size_t outlen = 999;

	if (tp_base32_decode(in, out, sizeof(out), &outlen) != TP_EINVAL)
		fail_msg("\"%s\" accepted by the decoder", in);
}

static void test_decode_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_RFC; i++) {
		expect_decode(rfc4648[i].padded, rfc4648[i].plain);
		expect_decode(rfc4648[i].bare, rfc4648[i].plain);
	}
}

/* What users paste: lower case, groups separated by spaces or dashes. */
static void test_decode_lenient_input(void **state)
{
	(void)state;
	expect_decode("mzxw6ytboi", "foobar");
	expect_decode("MzXw6YtBoI", "foobar");
	expect_decode("MZXW 6YTB OI", "foobar");
	expect_decode("MZXW-6YTB-OI", "foobar");
	expect_decode(" mzxw-6ytb oi ", "foobar");
	expect_decode("mzxw 6ytb oi== ====", "foobar");
	expect_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "12345678901234567890");
}

static void test_decode_refuses(void **state)
{
	(void)state;
	/* characters outside the alphabet (0, 1, 8, 9 look like O, I, B, g) */
	expect_refused("MZXW6YT0");
	expect_refused("MZXW6YT1");
	expect_refused("MZXW6YT8");
	expect_refused("MZXW6YT9");
	expect_refused("MZXW6YT!");
	expect_refused("MZXW6YT_");
	expect_refused("MZXW6YT\t");
	expect_refused("MZXW6YT\xc3\x84");
	/* padding in the middle, or too much/too little of it */
	expect_refused("MY======MZXQ====");
	expect_refused("MZ=XW6YTB");
	expect_refused("MZXQ=A==");
	expect_refused("MY=");
	/* impossible lengths: 1, 3 or 6 symbols in the last group */
	expect_refused("M");
	expect_refused("MZX");
	expect_refused("MZXW6Y");
	expect_refused("MZXW6YTBM");
	expect_refused("MZXW6YTBMZX");
	expect_refused("MZXW6YTBMZXW6Y");
	expect_refused("M=======");
	/* non-zero trailing bits: "MZ" carries 2 bits beyond 'f' */
	expect_refused("MZ");
	expect_refused("MZXR");
	expect_refused("MZXW7");
	expect_refused("MZXW6YR");
	expect_refused("MZXW6YTBOJ");
}

static void test_decode_output_too_small(void **state)
{
	unsigned char out[6];
	size_t outlen = 0;

	(void)state;
	assert_int_equal(tp_base32_decode("MZXW6YTBOI", out, 5, &outlen), TP_EINVAL);
	assert_int_equal(tp_base32_decode("MZXW6YTBOI", out, 0, &outlen), TP_EINVAL);
	assert_int_equal(tp_base32_decode("MZXW6YTBOI", out, 6, &outlen), TP_OK);
	assert_int_equal(outlen, 6);
	assert_memory_equal(out, "foobar", 6);
}

static void test_encode_output_too_small(void **state)
{
	char out[16];

	(void)state;
	/* "foobar" needs 10 symbols and the NUL */
	memset(out, 'x', sizeof(out));
	assert_int_equal(tp_base32_encode((const unsigned char *)"foobar", 6, out, 10),
			 TP_EINVAL);
	assert_int_equal(out[10], 'x');     /* nothing written past the buffer */
	assert_int_equal(tp_base32_encode((const unsigned char *)"foobar", 6, out, 11),
			 TP_OK);
	assert_string_equal(out, "MZXW6YTBOI");
}

/* Every length a secret can have, random contents: decode(encode(x)) == x. */
static void test_round_trip_random(void **state)
{
	unsigned char in[64], back[64];
	char text[128];

	(void)state;
	for (size_t len = 0; len <= sizeof(in); len++) {
		size_t outlen = 999;
		assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
		assert_int_equal(tp_base32_encode(in, len, text, sizeof(text)), TP_OK);
		assert_int_equal(strlen(text), tp_base32_encoded_len(len));
		assert_int_equal(tp_base32_decode(text, back, sizeof(back), &outlen), TP_OK);
		assert_int_equal(outlen, len);
		assert_memory_equal(back, in, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_rfc4648),
		cmocka_unit_test(test_decode_rfc4648),
		cmocka_unit_test(test_decode_lenient_input),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_decode_output_too_small),
		cmocka_unit_test(test_encode_output_too_small),
		cmocka_unit_test(test_round_trip_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
