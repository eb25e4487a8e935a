/* Names that become path components: nothing may address a file outside
 * its owner's folder. */
#include "unit.h"
#include "names.h"

static void test_valid_accounts(void **state)
{
	static const char *const good[] = {
		"a", "root", "joe.smith", "joe_smith", "joe-smith", "a$", "host01$",
		"A1", "a-", "a.", "a.b.c", "Z9_.-x",
		"abcdefghijklmnopqrstuvwxyz012345",            /* 32 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!tp_valid_account(good[i]))
			fail_msg("\"%s\" refused as an account", good[i]);
		assert_true(tp_valid_owner_name(good[i]));
	}
}

static void test_invalid_accounts(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", "a/b", "/a", "a/", "../x", "x/../y", "-x", ".x",
		".hidden", "a..b", "a..", "$", "a$b", "a$$", "$a", "a b", " a",
		"a\tb", "a\nb", "a\rb", "\x01", "a\x1b", "a\x7f", "j\xc3\xb6",
		"a:b", "a\\b", "a*", "a?", "a~", "a@b", "a%2f",
		"abcdefghijklmnopqrstuvwxyz0123456",           /* 33 */
		"abcdefghijklmnopqrstuvwxyz012345$",           /* 33 with '$' */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tp_valid_account(bad[i]))
			fail_msg("\"%s\" accepted as an account", bad[i]);
		assert_false(tp_valid_owner_name(bad[i]));
	}
	assert_false(tp_valid_account(NULL));
	assert_false(tp_valid_owner_name(NULL));
}

static void test_uuid(void **state)
{
	static const char *const good[] = {
		"02c9e252-41be-11e9-81d5-00a0986138f7",
		"00000000-0000-0000-0000-000000000000",
		"abcdef01-2345-6789-abcd-ef0123456789",
	};
	static const char *const bad[] = {
		"",
		"02C9E252-41BE-11E9-81D5-00A0986138F7",        /* upper case */
		"02c9e252-41be-11e9-81d5-00A0986138f7",        /* one upper */
		"02c9e252-41be-11e9-81d5-00a0986138f",         /* 35 */
		"02c9e252-41be-11e9-81d5-00a0986138f70",       /* 37 */
		"02c9e25241be11e981d500a0986138f7",            /* no dashes */
		"02c9e252_41be_11e9_81d5_00a0986138f7",
		"02c9e2524-1be-11e9-81d5-00a0986138f7",        /* dash moved */
		"02c9e252-41be-11e9-81d5-00a0986138g7",        /* not hex */
		"../../../../../../../../../../etc/x",
		"02c9e252-41be-11e9-81d5-00a0986138f/",
		" 2c9e252-41be-11e9-81d5-00a0986138f7",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(tp_valid_uuid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tp_valid_uuid(bad[i]))
			fail_msg("\"%s\" accepted as a uuid", bad[i]);
	}
	assert_false(tp_valid_uuid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_accounts),
		cmocka_unit_test(test_invalid_accounts),
		cmocka_unit_test(test_uuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
