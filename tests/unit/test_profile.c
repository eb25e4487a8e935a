/* The profile record: generation, emergency codes, fingerprint, install
 * URL and the strict file format. */
#include <dlfcn.h>
#include <sys/mman.h>
#include <openssl/evp.h>

#include "unit.h"
#include "profile.h"
#include "secret.h"

#define OWNER "02c9e252-41be-11e9-81d5-00a0986138f7"

static const struct tp_totp_params sha1_6_30 = { TP_SHA1, 6, 30 };

static bool all_digits(const char *s)
{
	return strspn(s, "0123456789") == strlen(s);
}

static void test_generate(void **state)
{
	struct tp_profile p, q;
	char codes[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	const unsigned char zero[TP_SECRET_MAX] = { 0 };
	time_t before = time(NULL);

	(void)state;
	memset(codes, 'x', sizeof(codes));
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 5,
					     codes), TP_OK);
	assert_string_equal(p.owner_uuid, OWNER);
	assert_string_equal(p.account, "alice");
	assert_int_equal(p.secret_len, 20);
	assert_memory_not_equal(p.secret, zero, 20);
	/* nothing beyond secret_len */
	assert_memory_equal(p.secret + 20, zero, TP_SECRET_MAX - 20);
	assert_int_equal(p.totp.alg, TP_SHA1);
	assert_int_equal(p.totp.digits, 6);
	assert_int_equal(p.totp.period, 30);
	assert_true(p.enabled);
	assert_int_equal(p.last_step, -1);
	assert_int_equal(p.failures, 0);
	assert_int_equal(p.lock_until, 0);
	assert_true(p.created >= (int64_t)before && p.created <= (int64_t)time(NULL));
	assert_int_equal(p.ec_count, 5);
	assert_int_equal(tp_profile_emergency_left(&p), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(strlen(codes[i]), TP_EMERGENCY_DIGITS);
		assert_true(all_digits(codes[i]));
		assert_false(p.ec_spent[i]);
	}
	/* only hashes are kept: no code appears in the record in clear */
	for (unsigned i = 0; i < 5; i++)
		assert_null(memmem(&p, sizeof(p), codes[i], TP_EMERGENCY_DIGITS));

	/* a second profile gets another secret, salt and codes */
	char codes2[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	struct tp_totp_params p8 = { TP_SHA512, 8, 60 };
	assert_int_equal(tp_profile_generate(&q, OWNER, "bob", &p8, 64, 10, codes2),
			 TP_OK);
	assert_int_equal(q.secret_len, 64);
	assert_int_equal(q.ec_count, 10);
	assert_int_equal(q.totp.alg, TP_SHA512);
	assert_memory_not_equal(p.secret, q.secret, 20);
	assert_memory_not_equal(p.ec_salt, q.ec_salt, TP_SALT_LEN);
	assert_string_not_equal(codes[0], codes2[0]);

	/* zero codes is allowed (count = 0 in the config) */
	assert_int_equal(tp_profile_generate(&q, OWNER, "bob", &p8, 16, 0, codes2),
			 TP_OK);
	assert_int_equal(q.ec_count, 0);
	assert_int_equal(tp_profile_emergency_left(&q), 0);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
	tp_wipe(codes, sizeof(codes));
}

static void test_generate_refuses(void **state)
{
	struct tp_profile p;
	char codes[TP_EMERGENCY_MAX + 1][TP_EMERGENCY_DIGITS + 1];

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 15, 5,
					     codes), TP_EINVAL);
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30,
					     TP_SECRET_MAX + 1, 5, codes), TP_EINVAL);
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20,
					     TP_EMERGENCY_MAX + 1, codes), TP_EINVAL);
	assert_int_equal(tp_profile_generate(&p, "02C9E252-41BE-11E9-81D5-00A0986138F7",
					     "alice", &sha1_6_30, 20, 5, codes), TP_EINVAL);
	assert_int_equal(tp_profile_generate(&p, OWNER, "../alice", &sha1_6_30, 20, 5,
					     codes), TP_EINVAL);
	assert_int_equal(tp_profile_generate(&p, OWNER, "", &sha1_6_30, 20, 5, codes),
			 TP_EINVAL);
}

static void test_emergency_codes_single_use(void **state)
{
	struct tp_profile p;
	char codes[5][TP_EMERGENCY_DIGITS + 1];
	unsigned slot;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 5,
					     codes), TP_OK);
	for (unsigned i = 0; i < 5; i++) {
		slot = 99;
		assert_int_equal(tp_profile_match_emergency(&p, codes[i], &slot), TP_OK);
		assert_int_equal(slot, i);
		/* matching alone does not spend it */
		assert_int_equal(tp_profile_match_emergency(&p, codes[i], &slot), TP_OK);
		p.ec_spent[slot] = true;
		slot = 99;
		/* spent: refused, and recognised as a reuse */
		assert_int_equal(tp_profile_match_emergency(&p, codes[i], &slot), TP_EEXIST);
		assert_int_equal(slot, 99);
		assert_int_equal(tp_profile_emergency_left(&p), 4 - i);
		/* the others still work */
		for (unsigned j = i + 1; j < 5; j++)
			assert_int_equal(tp_profile_match_emergency(&p, codes[j], &slot), TP_OK);
	}
	tp_profile_wipe(&p);
}

static void test_emergency_codes_refused(void **state)
{
	struct tp_profile p;
	char codes[3][TP_EMERGENCY_DIGITS + 1], other[TP_EMERGENCY_DIGITS + 1];
	unsigned slot = 99;
	static const char *const malformed[] = {
		"", "1234567", "123456789", "1234567a", " 1234567", "12345678 ",
		"-1234567", "１２３４５６７８",
	};

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 3,
					     codes), TP_OK);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(tp_profile_match_emergency(&p, malformed[i], &slot),
				 TP_EINVAL);
	assert_int_equal(tp_profile_match_emergency(&p, NULL, &slot), TP_EINVAL);
	/* a well-formed code that is not one of them */
	memcpy(other, codes[0], sizeof(other));
	other[7] = other[7] == '9' ? '0' : (char)(other[7] + 1);
	if (strcmp(other, codes[1]) != 0 && strcmp(other, codes[2]) != 0)
		assert_int_equal(tp_profile_match_emergency(&p, other, &slot), TP_EINVAL);
	assert_int_equal(slot, 99);
	/* another profile's salt: the same code does not match */
	struct tp_profile q;
	char qcodes[1][TP_EMERGENCY_DIGITS + 1];
	assert_int_equal(tp_profile_generate(&q, OWNER, "bob", &sha1_6_30, 20, 1,
					     qcodes), TP_OK);
	assert_int_equal(tp_profile_add_emergency(&p, qcodes[0]), TP_OK);
	assert_int_equal(tp_profile_match_emergency(&p, qcodes[0], &slot), TP_OK);
	assert_int_equal(slot, 3);
	assert_int_equal(tp_profile_match_emergency(&q, codes[0], &slot), TP_EINVAL);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
}

/* The same code twice: each slot is spent on its own. */
static void test_emergency_duplicate_code(void **state)
{
	struct tp_profile p;
	char none[1][TP_EMERGENCY_DIGITS + 1];
	unsigned slot = 99;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 0, none),
			 TP_OK);
	assert_int_equal(tp_profile_add_emergency(&p, "01234567"), TP_OK);
	assert_int_equal(tp_profile_add_emergency(&p, "01234567"), TP_OK);
	assert_int_equal(tp_profile_add_emergency(&p, "1234567"), TP_EINVAL);
	assert_int_equal(tp_profile_add_emergency(&p, "0123456x"), TP_EINVAL);
	assert_int_equal(p.ec_count, 2);
	assert_int_equal(tp_profile_match_emergency(&p, "01234567", &slot), TP_OK);
	assert_int_equal(slot, 0);
	p.ec_spent[0] = true;
	assert_int_equal(tp_profile_match_emergency(&p, "01234567", &slot), TP_OK);
	assert_int_equal(slot, 1);
	p.ec_spent[1] = true;
	assert_int_equal(tp_profile_match_emergency(&p, "01234567", &slot), TP_EEXIST);
	/* no more than TP_EMERGENCY_MAX */
	for (unsigned i = 2; i < TP_EMERGENCY_MAX; i++)
		assert_int_equal(tp_profile_add_emergency(&p, "76543210"), TP_OK);
	assert_int_equal(tp_profile_add_emergency(&p, "76543210"), TP_EINVAL);
	tp_profile_wipe(&p);
}

/* A stored hash that differs from hash(code) in any one byte -- the first,
 * the last, any in between -- or a salt that differs in one byte, is no
 * match: the whole 32-byte digest and the whole salt count. */
static void test_emergency_hash_every_byte(void **state)
{
	struct tp_profile p, q;
	char codes[1][TP_EMERGENCY_DIGITS + 1];
	unsigned slot = 99;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 1,
					     codes), TP_OK);
	assert_int_equal(tp_profile_match_emergency(&p, codes[0], &slot), TP_OK);
	assert_int_equal(slot, 0);
	for (unsigned b = 0; b < TP_HASH_LEN; b++) {
		q = p;
		q.ec_hash[0][b] ^= 0x01;
		if (tp_profile_match_emergency(&q, codes[0], &slot) != TP_EINVAL)
			fail_msg("hash differing in byte %u (of %u) accepted", b, TP_HASH_LEN);
		/* spent or not: a different hash is never "already used" either */
		q.ec_spent[0] = true;
		assert_int_equal(tp_profile_match_emergency(&q, codes[0], &slot), TP_EINVAL);
	}
	for (unsigned b = 0; b < TP_SALT_LEN; b++) {
		q = p;
		q.ec_salt[b] ^= 0x80;
		if (tp_profile_match_emergency(&q, codes[0], &slot) != TP_EINVAL)
			fail_msg("salt differing in byte %u (of %u) accepted", b, TP_SALT_LEN);
	}
	tp_profile_wipe(&q);
	tp_profile_wipe(&p);
	tp_wipe(codes, sizeof(codes));
}

static void test_fingerprint(void **state)
{
	struct tp_profile p;
	char codes[1][TP_EMERGENCY_DIGITS + 1];
	char fp[TP_FINGERPRINT_HEX + 1], expect[TP_FINGERPRINT_HEX + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 32, 1,
					     codes), TP_OK);
	assert_int_equal(EVP_Digest(p.secret, p.secret_len, md, &mdlen, EVP_sha256(),
				    NULL), 1);
	assert_int_equal(mdlen, 32);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(expect + 2 * i, 3, "%02x", md[i]);
	assert_int_equal(tp_profile_fingerprint(&p, fp), TP_OK);
	assert_int_equal(strlen(fp), TP_FINGERPRINT_HEX);
	assert_string_equal(fp, expect);

	/* a known value: printf 12345678901234567890 | sha256sum */
	memcpy(p.secret, "12345678901234567890", 20);
	p.secret_len = 20;
	assert_int_equal(tp_profile_fingerprint(&p, fp), TP_OK);
	assert_string_equal(fp, "6ed645ef0e1abea1bf1e4e935ff04f9e18d39812387f63cda3415b46240f0405");
	tp_profile_wipe(&p);
}

static void test_install_url(void **state)
{
	struct tp_profile p;
	char none[1][TP_EMERGENCY_DIGITS + 1];
	struct tp_totp_params params = { TP_SHA256, 8, 60 };
	char *url = NULL;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "joe.smith$", &params, 20, 0,
					     none), TP_OK);
	memcpy(p.secret, "12345678901234567890", 20);
	assert_int_equal(tp_profile_install_url(&p, "ACME Corp & Co:/?#=", &url), TP_OK);
	assert_non_null(url);
	assert_true(strncmp(url, "otpauth://totp/", 15) == 0);
	assert_contains(url, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_contains(url, "issuer=");
	assert_contains(url, "algorithm=SHA256");
	assert_contains(url, "digits=8");
	assert_contains(url, "period=60");
	assert_string_equal(url,
		"otpauth://totp/ACME%20Corp%20%26%20Co%3A%2F%3F%23%3D:joe.smith%24"
		"?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
		"&issuer=ACME%20Corp%20%26%20Co%3A%2F%3F%23%3D"
		"&algorithm=SHA256&digits=8&period=60");
	/* never a third-party chart URL */
	assert_not_contains(url, "http");
	assert_not_contains(url, "chart");
	free(url);

	/* unicode issuer: percent-encoded UTF-8 */
	assert_int_equal(tp_profile_install_url(&p, "M\xc3\xbcller", &url), TP_OK);
	assert_contains(url, "otpauth://totp/M%C3%BCller:joe.smith%24?");
	assert_contains(url, "&issuer=M%C3%BCller&");
	free(url);
	tp_profile_wipe(&p);
}

/* The URL has no length limit of its own: an issuer of any length (the
 * config may cap it; the library does not rely on that) gives the whole
 * URL, never an error that a caller might meet after writing a profile. */
static void test_install_url_long_issuer(void **state)
{
	static const size_t lengths[] = { 979, 980, 1000, 2048, 5000, 20000 };
	struct tp_profile p;
	char none[1][TP_EMERGENCY_DIGITS + 1];
	char *url = NULL, *issuer, *expect;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 0,
					     none), TP_OK);
	memcpy(p.secret, "12345678901234567890", 20);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t n = lengths[i];
		issuer = malloc(n + 1);
		assert_non_null(issuer);
		memset(issuer, 'i', n);
		issuer[n] = '\0';
		url = NULL;
		if (tp_profile_install_url(&p, issuer, &url) != TP_OK)
			fail_msg("issuer of %zu characters refused", n);
		expect = unit_path("otpauth://totp/%s:alice?secret="
				   "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=%s"
				   "&algorithm=SHA1&digits=6&period=30", issuer, issuer);
		assert_string_equal(url, expect);
		free(expect);
		free(url);
		/* every byte escaped (3 characters each): still whole */
		for (size_t k = 0; k + 1 < n; k += 2)
			memcpy(issuer + k, "\xc3\xbc", 2);
		issuer[n - n % 2] = '\0';
		url = NULL;
		assert_int_equal(tp_profile_install_url(&p, issuer, &url), TP_OK);
		assert_int_equal(strlen(url), strlen("otpauth://totp/:alice?secret="
			"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer="
			"&algorithm=SHA1&digits=6&period=30") + 2 * 3 * (n - n % 2));
		assert_contains(url, "&algorithm=SHA1&digits=6&period=30");
		free(url);
		free(issuer);
	}
	tp_profile_wipe(&p);
}

static void test_valid_comment(void **state)
{
	char long_ok[TP_COMMENT_MAX + 1], too_long[TP_COMMENT_MAX + 2];
	static const char *const good[] = {
		"", "work phone", "He said \"hi\"; #not = a comment",
		"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x91",
	};
	static const char *const bad[] = {
		"tab\there", "new\nline", "bell\a", "del\x7f", "\xc3", "\xc0\xaf",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc2\x9b" "31m", "\xff",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(tp_valid_comment(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tp_valid_comment(bad[i]))
			fail_msg("comment %zu accepted", i);
	}
	memset(long_ok, 'a', TP_COMMENT_MAX);
	long_ok[TP_COMMENT_MAX] = '\0';
	assert_true(tp_valid_comment(long_ok));
	memset(too_long, 'a', TP_COMMENT_MAX + 1);
	too_long[TP_COMMENT_MAX + 1] = '\0';
	assert_false(tp_valid_comment(too_long));
}

/* UTF-8 of one code point, without any check (overlongs are built by hand). */
static size_t utf8(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* "a" U+cp "b": the character inside other text */
static bool comment_with(unsigned cp)
{
	char s[16] = "a";
	size_t n = 1 + utf8(cp, s + 1);

	s[n] = 'b';
	s[n + 1] = '\0';
	return tp_valid_comment(s);
}

/* Characters that reorder or hide text in a table (format characters,
 * category Cf), line and paragraph separators, C0/C1 controls and
 * noncharacters are refused, each class at its edges; the characters just
 * outside each range are accepted. */
static void test_valid_comment_invisible(void **state)
{
	static const struct { unsigned lo, hi; } refused[] = {
		/* C0, DEL, C1 */
		{ 0x01, 0x1f }, { 0x7f, 0x7f }, { 0x80, 0x9f },
		/* Cf, every range of Unicode 15 */
		{ 0xad, 0xad }, { 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd },
		{ 0x70f, 0x70f }, { 0x890, 0x891 }, { 0x8e2, 0x8e2 }, { 0x180e, 0x180e },
		{ 0x200b, 0x200f }, { 0x202a, 0x202e }, { 0x2060, 0x2064 },
		{ 0x2066, 0x206f }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
		{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
		{ 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
		{ 0xe0020, 0xe007f },
		/* line and paragraph separators */
		{ 0x2028, 0x2029 },
		/* noncharacters */
		{ 0xfdd0, 0xfdef }, { 0xfffe, 0xffff }, { 0x1fffe, 0x1ffff },
		{ 0x10fffe, 0x10ffff },
		/* surrogates: not characters at all in UTF-8 */
		{ 0xd800, 0xdfff },
	};
	/* just outside the ranges above: ordinary printable characters */
	static const unsigned accepted[] = {
		0x20, 0x7e, 0xa0, 0xac, 0xae, 0x5ff, 0x606, 0x61b, 0x61d, 0x6dc,
		0x6de, 0x70e, 0x710, 0x88f, 0x892, 0x8e1, 0x8e3, 0x180d, 0x180f,
		0x200a, 0x2010, 0x2027, 0x202f, 0x205f, 0x2070, 0xfdcf, 0xfdf0,
		0xfefe, 0xff00, 0xfff8, 0xfffc, 0xfffd, 0x110bc, 0x110be, 0x110cc,
		0x110ce, 0x1342f, 0x13440, 0x1bc9f, 0x1bca4, 0x1d172, 0x1d17b,
		0x1fffd, 0x20000, 0xe0000, 0xe0002, 0xe0080, 0x10fffd, 0xd7ff,
		0xe000,
	};
	static const char *const malformed[] = {
		/* overlong forms: "/" and NUL and the largest overlongs */
		"a\xc0\xafz", "a\xc0\x80z", "a\xc1\xbfz", "a\xe0\x80\xafz",
		"a\xe0\x9f\xbfz", "a\xf0\x80\x80\xafz", "a\xf0\x8f\xbf\xbfz",
		/* above U+10FFFF, bytes never used in UTF-8 */
		"a\xf4\x90\x80\x80z", "a\xf5\x80\x80\x80z", "a\xf8z", "a\xfez", "a\xffz",
		/* truncated sequences and stray continuation bytes */
		"a\xc3", "a\xe2\x80", "a\xf0\x9f\x94", "a\x80z", "a\xbfz",
		"a\xe2\x80z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		unsigned lo = refused[i].lo, hi = refused[i].hi;
		if (comment_with(lo))
			fail_msg("U+%04X accepted", lo);
		if (comment_with(hi))
			fail_msg("U+%04X accepted", hi);
		if (hi - lo > 1 && comment_with(lo + (hi - lo) / 2))
			fail_msg("U+%04X accepted", lo + (hi - lo) / 2);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		if (!comment_with(accepted[i]))
			fail_msg("U+%04X refused", accepted[i]);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		if (tp_valid_comment(malformed[i]))
			fail_msg("malformed UTF-8 #%zu accepted", i);
	/* a right-to-left override as the very first and very last character */
	assert_false(tp_valid_comment("\xe2\x80\xae" "evil"));
	assert_false(tp_valid_comment("evil" "\xe2\x80\xae"));
}

/* Serialise and parse back through a memory file: every field survives. */
static void test_ini_round_trip(void **state)
{
	struct tp_profile p, q;
	char codes[4][TP_EMERGENCY_DIGITS + 1];
	struct tp_totp_params params = { TP_SHA512, 7, 45 };
	char *text = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &params, 40, 4, codes),
			 TP_OK);
	strcpy(p.comment, "He said \"hi\"; #x = y [s] % caf\xc3\xa9 \xe2\x9c\x93  ");
	p.enabled = false;
	p.created = 1700000000;
	p.last_step = 56666666;
	p.failures = 3;
	p.lock_until = 1700000300;
	p.ec_spent[2] = true;
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	assert_int_equal(strlen(text), len);
	/* the secret is stored base32, never the emergency codes */
	for (unsigned i = 0; i < 4; i++)
		assert_not_contains(text, codes[i]);
	fd = unit_text_fd(text, len);
	assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
	close(fd);
	assert_string_equal(q.owner_uuid, p.owner_uuid);
	assert_string_equal(q.account, p.account);
	assert_int_equal(q.secret_len, 40);
	assert_memory_equal(q.secret, p.secret, 40);
	assert_int_equal(q.totp.alg, TP_SHA512);
	assert_int_equal(q.totp.digits, 7);
	assert_int_equal(q.totp.period, 45);
	assert_string_equal(q.comment, p.comment);
	assert_false(q.enabled);
	assert_int_equal(q.created, 1700000000);
	assert_int_equal(q.last_step, 56666666);
	assert_int_equal(q.failures, 3);
	assert_int_equal(q.lock_until, 1700000300);
	assert_memory_equal(q.ec_salt, p.ec_salt, TP_SALT_LEN);
	assert_int_equal(q.ec_count, 4);
	for (unsigned i = 0; i < 4; i++) {
		unsigned slot = 99;
		assert_int_equal(q.ec_spent[i], i == 2);
		assert_int_equal(tp_profile_match_emergency(&q, codes[i], &slot),
				 i == 2 ? TP_EEXIST : TP_OK);
		if (i != 2)
			assert_int_equal(slot, i);
	}
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
}

static void test_to_ini_refuses_bad_comment(void **state)
{
	struct tp_profile p;
	char none[1][TP_EMERGENCY_DIGITS + 1];
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 0, none),
			 TP_OK);
	strcpy(p.comment, "line\nbreak = injected");
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_EINVAL);
	assert_null(text);
	tp_profile_wipe(&p);
}

/* The comment as stored: %XX escapes decode, but not to a NUL (it would
 * cut the comment short and the record would not survive a rewrite) nor
 * to a control character. */
static enum tp_status parse_with_comment(const char *stored, char *comment_out)
{
	struct tp_profile p, q;
	char none[1][TP_EMERGENCY_DIGITS + 1];
	char *text = NULL, *edited, *at;
	size_t len = 0;
	enum tp_status st;
	int fd;

	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 0, none),
			 TP_OK);
	strcpy(p.comment, "XX");
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	at = strstr(text, "comment = \"XX\"\n");
	assert_non_null(at);
	edited = malloc(len + strlen(stored) + 1);
	assert_non_null(edited);
	sprintf(edited, "%.*scomment = %s\n%s", (int)(at - text), text, stored,
		at + strlen("comment = \"XX\"\n"));
	fd = unit_text_fd(edited, strlen(edited));
	st = tp_profile_from_fd(fd, &q);
	close(fd);
	if (st == TP_OK) {
		strcpy(comment_out, q.comment);
		tp_profile_wipe(&q);
	}
	free(edited);
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
	return st;
}

static void test_from_ini_comment_escapes(void **state)
{
	char c[TP_COMMENT_MAX + 1] = "";

	(void)state;
	assert_int_equal(parse_with_comment("a%20b%E2%9C%93", c), TP_OK);
	assert_string_equal(c, "a b\xe2\x9c\x93");
	/* a record saved before format characters were refused in new
	 * comments still loads (its user must still be able to log in) */
	assert_int_equal(parse_with_comment("a%E2%80%AEb", c), TP_OK);
	assert_string_equal(c, "a\xe2\x80\xae" "b");
	assert_false(tp_valid_comment(c));
	/* controls were never storable */
	assert_int_equal(parse_with_comment("a%C2%9Bb", c), TP_ECORRUPT);
	assert_int_equal(parse_with_comment("a%00b", c), TP_ECORRUPT);
	assert_int_equal(parse_with_comment("%00", c), TP_ECORRUPT);
	assert_int_equal(parse_with_comment("a%0Ab", c), TP_ECORRUPT);
	assert_int_equal(parse_with_comment("a%0", c), TP_ECORRUPT);
	assert_int_equal(parse_with_comment("a%zzb", c), TP_ECORRUPT);
}

/* A right emergency code with anything after it is not that code. */
static void test_emergency_code_with_tail(void **state)
{
	struct tp_profile p;
	char codes[1][TP_EMERGENCY_DIGITS + 1], buf[32];
	static const char *const tails[] = { "0", "9", "12345678", " ", "\n", "x" };
	unsigned slot = 99;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 1,
					     codes), TP_OK);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", codes[0], tails[i]);
		if (tp_profile_match_emergency(&p, buf, &slot) != TP_EINVAL)
			fail_msg("emergency code followed by \"%s\" not refused", tails[i]);
	}
	assert_int_equal(slot, 99);
	assert_int_equal(tp_profile_emergency_left(&p), 1);
	assert_int_equal(tp_profile_match_emergency(&p, codes[0], &slot), TP_OK);
	tp_profile_wipe(&p);
}

/* A key given twice (iniparser would keep the last one silently) makes the
 * file corrupt, whichever key and whichever section: an attacker who can
 * append to a profile must not get to override its state that way. */
static void test_from_ini_duplicate_key(void **state)
{
	struct tp_profile p, q;
	char codes[2][TP_EMERGENCY_DIGITS + 1];
	static const char *const dups[] = {
		"last_step = -1\n", "enabled = true\n", "failures = 0\n", "lock_until = 0\n",
		"code1 = 0000000000000000000000000000000000000000000000000000000000000000\n",
	};
	char *text = NULL, *buf;
	size_t len = 0;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 2,
					     codes), TP_OK);
	p.enabled = false;
	p.last_step = 123;
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	buf = malloc(len + 200);
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		int fd;

		/* the duplicate at the end of its section */
		const char *sec = strncmp(dups[i], "code", 4) == 0 ? NULL : "[emergency]\n";
		if (sec == NULL) {
			snprintf(buf, len + 200, "%s%s", text, dups[i]);
		} else {
			const char *at = strstr(text, sec);
			assert_non_null(at);
			snprintf(buf, len + 200, "%.*s%s%s", (int)(at - text), text, dups[i], at);
		}
		fd = unit_text_fd(buf, strlen(buf));
		if (tp_profile_from_fd(fd, &q) != TP_ECORRUPT)
			fail_msg("a profile with a second \"%.*s\" was not refused",
				 (int)strcspn(dups[i], " "), dups[i]);
		close(fd);
	}
	/* and the file without the duplicate still reads */
	int fd = unit_text_fd(text, len);
	assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
	close(fd);
	assert_int_equal(q.last_step, 123);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
	tp_wipe(buf, len + 200);
	free(buf);
	tp_free_str(text);
}

/* ---- The login path's reader against iniparser's ---- */

/* Reads text with both readers.  Whatever the fast reader accepts, the
 * iniparser reader must accept too, as the very same record (both start
 * from a zeroed struct, padding included), and the text is exactly what
 * the writer writes for that record.  Returns whether the fast
 * reader accepted; *out (if not NULL) gets its record. */
static bool read_both(const char *text, size_t len, struct tp_profile *out)
{
	struct tp_profile fast, slow;
	char *copy = malloc(len + 1);
	bool accepted;

	assert_non_null(copy);
	memcpy(copy, text, len);
	accepted = tp_profile_parse_canonical(copy, len, &fast);
	tp_wipe(copy, len);
	free(copy);
	if (accepted) {
		int fd = unit_text_fd(text, len);
		enum tp_status st = tp_profile_from_fd_ini(fd, &slow);
		close(fd);
		if (st != TP_OK)
			fail_msg("the fast reader accepted a text iniparser's refuses (%s):\n%.*s",
				 tp_status_str(st), (int)len, text);
		if (memcmp(&fast, &slow, sizeof(fast)) != 0)
			fail_msg("the two readers give different profiles for:\n%.*s",
				 (int)len, text);
		tp_profile_wipe(&slow);
		/* and it is the writer's very text: nothing else is taken */
		char *again = NULL;
		size_t again_len = 0;
		assert_int_equal(tp_profile_to_ini(&fast, &again, &again_len), TP_OK);
		if (again_len != len || memcmp(again, text, len) != 0)
			fail_msg("the fast reader accepted a text the writer does not write:\n%.*s",
				 (int)len, text);
		tp_wipe(again, again_len);
		free(again);
	}
	if (out != NULL)
		*out = fast;
	tp_profile_wipe(&fast);
	return accepted;
}

/* p as written; the fast reader must take it, as p itself. */
static void canonical_round_trip(const struct tp_profile *p)
{
	struct tp_profile q;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(tp_profile_to_ini(p, &text, &len), TP_OK);
	if (!read_both(text, len, &q))
		fail_msg("the fast reader refused the writer's text:\n%s", text);
	if (memcmp(&q, p, sizeof(q)) != 0)
		fail_msg("the fast reader changed the record written as:\n%s", text);
	tp_profile_wipe(&q);
	tp_wipe(text, len);
	free(text);
}

static const char *const edge_comments[] = {
	"", "x", "-_.,:/()@+", "%", "%%41", "a b", "\"quoted\"", "; # = [s]",
	"\\", "trailing\\", "caf\xc3\xa9", "\xe2\x9c\x93\xf0\x9f\x98\x80",
	"a\xe2\x80\xae" "b",                    /* stored before Cf was refused */
	"\xef\xbb\xbf", "\x7e\x21\x24\x26\x27\x2a\x3b\x3c\x3e\x3f\x5b\x5d\x5e\x60\x7b\x7c\x7d",
};

static void test_fast_reader_canonical(void **state)
{
	static const enum tp_algorithm algs[] = { TP_SHA1, TP_SHA256, TP_SHA512 };
	static const unsigned periods[] = { 1, 9, 10, 30, 45, 99, 100, 300 };
	static const char *const accounts[] = {
		"a", "alice", "A.b-c_d", "host$", "x12345678901234567890123456789012" + 1,
	};
	char codes[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	char big[TP_COMMENT_MAX + 1];
	struct tp_profile p;
	unsigned n = 0;

	(void)state;
	/* every algorithm, digits, period; 0..max codes; secret sizes */
	for (size_t a = 0; a < 3; a++)
		for (unsigned d = TP_DIGITS_MIN; d <= TP_DIGITS_MAX; d++)
			for (size_t k = 0; k < sizeof(periods) / sizeof(periods[0]); k++) {
				struct tp_totp_params tp = { algs[a], d, periods[k] };
				unsigned ncodes = (unsigned)(n % (TP_EMERGENCY_MAX + 1));
				size_t slen = 16 + n % (TP_SECRET_MAX - 16 + 1);
				assert_int_equal(tp_profile_generate(&p, OWNER,
						 accounts[n % 5], &tp, slen, ncodes, codes), TP_OK);
				/* spent codes: every pattern of the low bits of n */
				for (unsigned i = 0; i < ncodes; i++)
					p.ec_spent[i] = (n >> i) & 1u;
				p.enabled = n % 2;
				canonical_round_trip(&p);
				tp_profile_wipe(&p);
				n++;
			}
	/* the number fields at their bounds */
	static const int64_t i64s[][3] = {   /* created, last_step, lock_until */
		{ 0, -1, 0 }, { 1, 0, 1 }, { INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2 },
		{ 1700000000, 56666666, 1700000300 }, { 10, 9, 100 },
	};
	static const unsigned failures[] = { 0, 1, 10, TP_FAILURES_MAX - 1, TP_FAILURES_MAX };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20,
						     TP_EMERGENCY_MAX, codes), TP_OK);
		p.created = i64s[i][0];
		p.last_step = i64s[i][1];
		p.lock_until = i64s[i][2];
		p.failures = failures[i];
		for (unsigned k = 0; k < TP_EMERGENCY_MAX; k++)
			p.ec_spent[k] = true;
		canonical_round_trip(&p);
		tp_profile_wipe(&p);
	}
	/* every comment edge case, and every single byte a comment may hold */
	for (size_t i = 0; i < sizeof(edge_comments) / sizeof(edge_comments[0]) + 256 + 3; i++) {
		assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 1,
						     codes), TP_OK);
		if (i < sizeof(edge_comments) / sizeof(edge_comments[0])) {
			strcpy(p.comment, edge_comments[i]);
		} else if (i < sizeof(edge_comments) / sizeof(edge_comments[0]) + 256) {
			unsigned b = (unsigned)(i - sizeof(edge_comments) / sizeof(edge_comments[0]));
			if (b < 0x20 || b >= 0x7f) {           /* not storable alone */
				tp_profile_wipe(&p);
				continue;
			}
			p.comment[0] = (char)b;
		} else {
			/* the longest: all plain, all escaped, all multibyte */
			size_t kind = i % 3;
			for (size_t k = 0; k < TP_COMMENT_MAX; k++)
				big[k] = kind == 0 ? 'z' : kind == 1 ? '!' : "\xc3\xa9"[k % 2];
			big[TP_COMMENT_MAX] = '\0';
			strcpy(p.comment, big);
		}
		canonical_round_trip(&p);
		tp_profile_wipe(&p);
	}
	tp_wipe(codes, sizeof(codes));
}

/* Near-canonical texts: each byte of a few written profiles deleted,
 * doubled, or replaced.  Each one either reads the same through both
 * readers or is left to iniparser's; the fast reader never accepts a
 * different record. */
static void test_fast_reader_mutations(void **state)
{
	static const char repl[] = " \t\n\r\"0159aAfFzZ=#;%-:$[]\\";
	char codes[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	struct tp_profile p;
	unsigned accepted = 0, refused = 0;

	(void)state;
	for (unsigned sample = 0; sample < 3; sample++) {
		char *text = NULL, *m;
		size_t len = 0;

		assert_int_equal(tp_profile_generate(&p, OWNER, sample == 2 ? "host$" : "alice",
						     &sha1_6_30, 20 + sample, 1 + 4 * sample,
						     codes), TP_OK);
		strcpy(p.comment, sample == 0 ? "" : "a b%c\xc3\xa9");
		p.ec_spent[0] = sample == 1;
		p.last_step = sample == 0 ? -1 : 10;
		p.failures = sample;
		assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
		m = malloc(len + 2);
		assert_non_null(m);
		for (size_t i = 0; i < len; i++) {
			/* deleted */
			memcpy(m, text, i);
			memcpy(m + i, text + i + 1, len - i - 1);
			read_both(m, len - 1, NULL) ? accepted++ : refused++;
			/* doubled */
			memcpy(m, text, i + 1);
			memcpy(m + i + 1, text + i, len - i);
			read_both(m, len + 1, NULL) ? accepted++ : refused++;
			/* replaced, by each of repl, a NUL, and its neighbours */
			for (size_t r = 0; r < sizeof(repl) + 3; r++) {
				char c = r < sizeof(repl) - 1 ? repl[r] :
					 r == sizeof(repl) - 1 ? '\0' :
					 (char)(text[i] + (r == sizeof(repl) ? 1 : r == sizeof(repl) + 1 ? -1 : 0x20));
				if (c == text[i])
					continue;
				memcpy(m, text, len);
				m[i] = c;
				read_both(m, len, NULL) ? accepted++ : refused++;
			}
		}
		/* cut short at every length */
		for (size_t i = 0; i < len; i++)
			read_both(text, i, NULL) ? accepted++ : refused++;
		/* anything after the end */
		memcpy(m, text, len);
		m[len] = '\n';
		assert_false(read_both(m, len + 1, NULL));
		tp_wipe(m, len + 2);
		free(m);
		tp_wipe(text, len);
		free(text);
		tp_profile_wipe(&p);
	}
	/* both outcomes occur: changes inside a hex value or a number stay
	 * canonical (and must read as iniparser reads them) */
	assert_true(accepted > 0);
	assert_true(refused > 0);
	tp_wipe(codes, sizeof(codes));
}

/* Texts the fast reader leaves to iniparser's, which reads them as ever:
 * the unquoted files of earlier releases, and hand edits. */
static void test_fast_reader_falls_back(void **state)
{
	static const char *const edits[][2] = {
		{ "\"", "" },                           /* d2ecf9a: unquoted values */
		{ " = ", "=" },                         /* no spaces */
		{ " = ", "  =  " },
		{ "\n", "\r\n" },                       /* CRLF */
		{ "\n[emergency]", "\n\n[emergency]" }, /* a blank line */
		{ "# TOTP", "; TOTP" },
		{ "[profile]\n", "[profile]\n# note\n" },
		{ "algorithm = \"SHA1\"", "algorithm = \"sha1\"" },
		{ "digits = \"6\"", "digits = \"06\"" },
		{ "failures = \"0\"", "failures = \"00\"" },
		{ "[profile]", "[Profile]" },
		{ "owner", "OWNER" },
	};
	char codes[2][TP_EMERGENCY_DIGITS + 1];
	struct tp_profile p, q;
	char *text = NULL, out[4096];
	size_t len = 0;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 2, codes),
			 TP_OK);
	p.ec_spent[1] = true;
	p.last_step = 77;
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		const char *from = edits[e][0], *to = edits[e][1];
		size_t o = 0, fl = strlen(from), tl = strlen(to);
		bool all = e < 4;               /* the first four: every occurrence */
		bool done = false;
		int fd;

		for (size_t i = 0; i < len;) {
			if (!done && strncmp(text + i, from, fl) == 0) {
				memcpy(out + o, to, tl);
				o += tl;
				i += fl;
				done = !all;
			} else {
				out[o++] = text[i++];
			}
		}
		assert_true(o < sizeof(out));
		if (read_both(out, o, NULL))
			fail_msg("edit %zu is not canonical yet was read by the fast reader", e);
		/* the reader every caller uses still reads it, as before */
		fd = unit_text_fd(out, o);
		assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
		close(fd);
		if (memcmp(&p, &q, sizeof(p)) != 0)
			fail_msg("edit %zu read as another record:\n%.*s", e, (int)o, out);
		tp_profile_wipe(&q);
	}
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
}

#define A8 "AAAAAAAA"
#define A24 A8 A8 A8
#define A32 A8 A8 A8 A8

/* Values out of range, in the canonical form otherwise, at both ends of
 * each number's range: neither reader takes them (the fast reader has each
 * range check of the other). */
static void test_fast_reader_ranges(void **state)
{
	static const char *const edits[][2] = {
		{ "digits = \"6\"", "digits = \"5\"" },
		{ "digits = \"6\"", "digits = \"9\"" },
		{ "period = \"30\"", "period = \"0\"" },
		{ "period = \"30\"", "period = \"301\"" },
		{ "failures = \"0\"", "failures = \"1000001\"" },
		{ "last_step = \"-1\"", "last_step = \"-2\"" },
		{ "last_step = \"-1\"", "last_step = \"4611686018427387904\"" },
		{ "created = \"1\"", "created = \"4611686018427387904\"" },
		{ "lock_until = \"0\"", "lock_until = \"-1\"" },
		{ "lock_until = \"0\"", "lock_until = \"4611686018427387904\"" },
		{ "account = \"alice\"", "account = \"a..b\"" },
		{ "account = \"alice\"", "account = \"\"" },
		{ "owner = \"02c9e252", "owner = \"02C9E252" },
		{ "enabled = \"true\"", "enabled = \"yes\"" },
		{ "algorithm = \"SHA1\"", "algorithm = \"MD5\"" },
		{ "secret = \"" A32 "\"", "secret = \"" A24 "\"" },  /* 15 bytes */
		{ "secret = \"" A32 "\"", "secret = \"" A32 A32 A32 A8 "\"" },   /* 65 */
		{ "emergency_count = \"10\"", "emergency_count = \"11\"" },
		{ "emergency_count = \"10\"", "emergency_count = \"9\"" },
		{ "emergency_salt = \"", "emergency_salt = \"00" },
		{ "emergency_salt = \"00", "emergency_salt = \"0g" },    /* not hex */
		{ "emergency_salt = \"00", "emergency_salt = \"g0" },
		{ "emergency_salt = \"00", "emergency_salt = \"0A" },    /* uppercase */
		{ "comment = \"\"", "comment = \"%0A\"" },
		{ "comment = \"\"", "comment = \"%C2%9B\"" },
		{ "comment = \"\"", "comment = \"%C3\"" },           /* cut UTF-8 */
		{ "comment = \"\"", "comment = \"%00\"" },
		{ "comment = \"\"", "comment = \"%4\"" },
		{ "comment = \"\"", "comment = \"LONG\"" },
		{ "code10 = \"", "code10 = \"spent:spent:" },
		{ "code10 = \"", "code10 = \"00" },
		/* each number's other end: below its least, past int64_t */
		{ "created = \"1\"", "created = \"-1\"" },
		{ "created = \"1\"", "created = \"9223372036854775808\"" },
		{ "last_step = \"-1\"", "last_step = \"-9223372036854775808\"" },
		{ "lock_until = \"0\"", "lock_until = \"-9223372036854775809\"" },
		{ "failures = \"0\"", "failures = \"-1\"" },
		{ "digits = \"6\"", "digits = \"-6\"" },
		{ "period = \"30\"", "period = \"-30\"" },
		{ "emergency_count = \"10\"", "emergency_count = \"-1\"" },
	};
	char codes[TP_EMERGENCY_MAX][TP_EMERGENCY_DIGITS + 1];
	char out[8192], longc[TP_COMMENT_MAX + 2];
	struct tp_profile p, q;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	memset(longc, 'z', TP_COMMENT_MAX + 1);
	longc[TP_COMMENT_MAX + 1] = '\0';
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20,
					     TP_EMERGENCY_MAX, codes), TP_OK);
	p.created = 1;
	memset(p.secret, 0, p.secret_len);      /* base32: all A */
	memset(p.ec_salt, 0, TP_SALT_LEN);      /* hex: all 0 */
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		const char *from = edits[e][0], *to = edits[e][1];
		const char *at = strstr(text, from);
		int n, fd;

		assert_non_null(at);
		if (strcmp(to, "comment = \"LONG\"") == 0)
			n = snprintf(out, sizeof(out), "%.*scomment = \"%s\"%s", (int)(at - text),
				     text, longc, at + strlen(from));
		else
			n = snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to,
				     at + strlen(from));
		assert_true(n > 0 && (size_t)n < sizeof(out));
		if (e == 17) {          /* an eleventh code, its line too */
			n += snprintf(out + n, sizeof(out) - (size_t)n, "code11 = \"%064d\"\n", 0);
		}
		if (read_both(out, (size_t)n, NULL))
			fail_msg("edit %zu (%s) was read by the fast reader", e, to);
		fd = unit_text_fd(out, (size_t)n);
		if (tp_profile_from_fd(fd, &q) != TP_ECORRUPT)
			fail_msg("edit %zu (%s) was not refused", e, to);
		close(fd);
	}
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
	tp_wipe(codes, sizeof(codes));
}

/* A wiped record holds nothing of what it held: no byte of the secret,
 * the hashes or anything else. */
static void test_wipe_clears(void **state)
{
	static const unsigned char zero[sizeof(struct tp_profile)];
	struct tp_profile p;
	unsigned char buf[100];

	(void)state;
	memset(&p, 0xa5, sizeof(p));
	tp_profile_wipe(&p);
	assert_memory_equal(&p, zero, sizeof(p));
	memset(buf, 0x5a, sizeof(buf));
	tp_wipe(buf + 1, sizeof(buf) - 2);
	assert_int_equal(buf[0], 0x5a);
	assert_memory_equal(buf + 1, zero, sizeof(buf) - 2);
	assert_int_equal(buf[sizeof(buf) - 1], 0x5a);
}

/* A canonical file is read with one pread, never through iniparser (which
 * reads the file from its path and leaves the offset at the end). */
static void test_fast_reader_used(void **state)
{
	char codes[1][TP_EMERGENCY_DIGITS + 1];
	struct tp_profile p, q;
	char *text = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 1, codes),
			 TP_OK);
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	fd = unit_text_fd(text, len);
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	assert_memory_equal(&p, &q, sizeof(p));
	/* the other reader, for comparison, does move it */
	assert_int_equal(tp_profile_from_fd_ini(fd, &q), TP_OK);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)len);
	close(fd);
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
}

/* pread, counted, and cut short on one descriptor: a read of more than
 * short_len bytes at offset 0 of short_fd returns short_len bytes (as a
 * FUSE or network filesystem may). */
static int pread_calls, short_fd = -1;
static size_t short_len;

ssize_t wrapped_pread(int fd, void *buf, size_t n, off_t off) __asm__("pread");
ssize_t wrapped_pread(int fd, void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, void *, size_t, off_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pread");
	pread_calls++;
	if (fd == short_fd && off == 0 && n > short_len)
		n = short_len;
	return real(fd, buf, n, off);
}

/* Told the size an fstat just saw, the reader takes a first read of
 * exactly that size as the whole file (one pread); told nothing, it reads
 * once more to see the end.  A first read cut short where a canonical
 * file would end is never taken for the whole file: what follows it is
 * read, and here refused. */
static void test_fast_reader_size(void **state)
{
	char codes[1][TP_EMERGENCY_DIGITS + 1];
	struct tp_profile p, q;
	char *text = NULL, *twice;
	size_t len = 0;
	int fd;

	(void)state;
	assert_int_equal(tp_profile_generate(&p, OWNER, "alice", &sha1_6_30, 20, 1, codes),
			 TP_OK);
	assert_int_equal(tp_profile_to_ini(&p, &text, &len), TP_OK);
	fd = unit_text_fd(text, len);
	pread_calls = 0;
	assert_int_equal(tp_profile_from_fd_sized(fd, (off_t)len, &q), TP_OK);
	assert_int_equal(pread_calls, 1);
	assert_memory_equal(&p, &q, sizeof(p));
	tp_profile_wipe(&q);
	pread_calls = 0;
	assert_int_equal(tp_profile_from_fd(fd, &q), TP_OK);
	assert_int_equal(pread_calls, 2);
	tp_profile_wipe(&q);
	close(fd);

	/* the text twice (repeated keys: refused by the careful reader),
	 * its first read stopping where the first copy ends */
	twice = malloc(2 * len);
	assert_non_null(twice);
	memcpy(twice, text, len);
	memcpy(twice + len, text, len);
	fd = unit_text_fd(twice, 2 * len);
	short_fd = fd;
	short_len = len;
	assert_int_equal(tp_profile_from_fd_sized(fd, (off_t)(2 * len), &q), TP_ECORRUPT);
	assert_int_equal(tp_profile_from_fd_sized(fd, -1, &q), TP_ECORRUPT);
	short_fd = -1;
	close(fd);
	tp_wipe(twice, 2 * len);
	free(twice);
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_refuses),
		cmocka_unit_test(test_emergency_codes_single_use),
		cmocka_unit_test(test_emergency_codes_refused),
		cmocka_unit_test(test_emergency_duplicate_code),
		cmocka_unit_test(test_emergency_hash_every_byte),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_install_url),
		cmocka_unit_test(test_install_url_long_issuer),
		cmocka_unit_test(test_valid_comment),
		cmocka_unit_test(test_valid_comment_invisible),
		cmocka_unit_test(test_ini_round_trip),
		cmocka_unit_test(test_to_ini_refuses_bad_comment),
		cmocka_unit_test(test_from_ini_comment_escapes),
		cmocka_unit_test(test_emergency_code_with_tail),
		cmocka_unit_test(test_from_ini_duplicate_key),
		cmocka_unit_test(test_fast_reader_canonical),
		cmocka_unit_test(test_fast_reader_mutations),
		cmocka_unit_test(test_fast_reader_falls_back),
		cmocka_unit_test(test_fast_reader_ranges),
		cmocka_unit_test(test_fast_reader_used),
		cmocka_unit_test(test_fast_reader_size),
		cmocka_unit_test(test_wipe_clears),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
