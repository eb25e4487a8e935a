/* The profile record: generation, emergency codes, and its file format. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <iniparser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base32.h"
#include "names.h"
#include "profile.h"
#include "secret.h"

#define FORMAT_VERSION 1
#define PROFILE_KEYS 15     /* keys of [profile] in format 1 */
#define SPENT_PREFIX "spent:"
#define STR_(x) #x
#define STR(x) STR_(x)
/* The file's first lines, as the writer puts them and the login path's
 * reader expects them. */
#define INI_HEAD "# TOTP profile; written by pam_totp_profile. Do not edit.\n" \
		 "[profile]\n" \
		 "format = \"" STR(FORMAT_VERSION) "\"\n"

void tp_profile_wipe(struct tp_profile *p)
{
	tp_wipe(p, sizeof(*p));
}

static enum tp_status hash_code(const unsigned char salt[TP_SALT_LEN],
				const char *code, unsigned char out[TP_HASH_LEN])
{
	unsigned char buf[TP_SALT_LEN + TP_EMERGENCY_DIGITS];
	unsigned int len = 0;
	int ok;

	memcpy(buf, salt, TP_SALT_LEN);
	memcpy(buf + TP_SALT_LEN, code, TP_EMERGENCY_DIGITS);
	ok = EVP_Digest(buf, sizeof(buf), out, &len, EVP_sha256(), NULL);
	tp_wipe(buf, sizeof(buf));
	return ok == 1 && len == TP_HASH_LEN ? TP_OK : TP_ECRYPTO;
}

/* A uniformly random 8-digit code (leading zeros allowed). */
static enum tp_status random_code(char out[TP_EMERGENCY_DIGITS + 1])
{
	const uint32_t range = 100000000u;
	const uint32_t limit = UINT32_MAX - (UINT32_MAX % range);   /* reject above */
	uint32_t v;

	do {
		if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
			return TP_ECRYPTO;
	} while (v >= limit);
	v %= range;
	for (int i = TP_EMERGENCY_DIGITS - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10u);
		v /= 10u;
	}
	out[TP_EMERGENCY_DIGITS] = '\0';
	return TP_OK;
}

enum tp_status tp_profile_generate(struct tp_profile *p, const char *owner_uuid,
				   const char *account,
				   const struct tp_totp_params *params,
				   size_t secret_len, unsigned n_codes,
				   char codes[][TP_EMERGENCY_DIGITS + 1])
{
	enum tp_status st = TP_OK;

	memset(p, 0, sizeof(*p));
	if (!tp_valid_uuid(owner_uuid) || !tp_valid_account(account) ||
	    secret_len < 16 || secret_len > TP_SECRET_MAX ||
	    n_codes > TP_EMERGENCY_MAX)
		return TP_EINVAL;
	memcpy(p->owner_uuid, owner_uuid, TP_UUID_LEN + 1);
	strcpy(p->account, account);
	p->totp = *params;
	p->enabled = true;
	p->created = (int64_t)time(NULL);
	p->last_step = -1;
	p->secret_len = secret_len;
	if (RAND_bytes(p->secret, (int)secret_len) != 1 ||
	    RAND_bytes(p->ec_salt, TP_SALT_LEN) != 1)
		st = TP_ECRYPTO;
	for (unsigned i = 0; st == TP_OK && i < n_codes; i++) {
		st = random_code(codes[i]);
		if (st == TP_OK)
			st = tp_profile_add_emergency(p, codes[i]);
	}
	if (st != TP_OK)
		tp_profile_wipe(p);
	return st;
}

enum tp_status tp_profile_add_emergency(struct tp_profile *p, const char *code)
{
	enum tp_status st;

	if (p->ec_count >= TP_EMERGENCY_MAX ||
	    strnlen(code, TP_EMERGENCY_DIGITS + 1) != TP_EMERGENCY_DIGITS ||
	    strspn(code, "0123456789") != TP_EMERGENCY_DIGITS)
		return TP_EINVAL;
	st = hash_code(p->ec_salt, code, p->ec_hash[p->ec_count]);
	if (st == TP_OK) {
		p->ec_spent[p->ec_count] = false;
		p->ec_count++;
	}
	return st;
}

void tp_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15u];
	}
	out[2 * len] = '\0';
}

static int hex_lower(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool from_hex(const char *in, unsigned char *out, size_t len)
{
	if (strlen(in) != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_lower(in[2 * i]), lo = hex_lower(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

enum tp_status tp_profile_fingerprint(const struct tp_profile *p,
				      char out[TP_FINGERPRINT_HEX + 1])
{
	unsigned char md[TP_HASH_LEN];
	unsigned int len = 0;

	if (p->secret_len == 0 && p->fingerprint[0] != '\0') {
		memcpy(out, p->fingerprint, TP_FINGERPRINT_HEX + 1);
		return TP_OK;
	}
	if (EVP_Digest(p->secret, p->secret_len, md, &len, EVP_sha256(), NULL) != 1)
		return TP_ECRYPTO;
	tp_hex_encode(md, sizeof(md), out);
	return TP_OK;
}

enum tp_status tp_profile_match_emergency(const struct tp_profile *p,
					  const char *code, unsigned *slot)
{
	unsigned char h[TP_HASH_LEN];
	bool found = false, spent = false;
	enum tp_status st;

	if (code == NULL || strnlen(code, TP_EMERGENCY_DIGITS + 1) != TP_EMERGENCY_DIGITS)
		return TP_EINVAL;
	for (unsigned i = 0; i < TP_EMERGENCY_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return TP_EINVAL;
	st = hash_code(p->ec_salt, code, h);
	if (st != TP_OK)
		return st;
	/* compare against every slot; no early exit */
	for (unsigned i = 0; i < p->ec_count && i < TP_EMERGENCY_MAX; i++) {
		int eq = tp_equal(h, p->ec_hash[i], TP_HASH_LEN);
		if (eq && !p->ec_spent[i] && !found) {
			*slot = i;
			found = true;
		} else if (eq && p->ec_spent[i]) {
			spent = true;
		}
	}
	tp_wipe(h, sizeof(h));
	if (found)
		return TP_OK;
	return spent ? TP_EEXIST : TP_EINVAL;
}

unsigned tp_profile_emergency_left(const struct tp_profile *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->ec_count && i < TP_EMERGENCY_MAX; i++)
		n += !p->ec_spent[i];
	return n;
}

/* Characters a comment may not hold although they are valid UTF-8:
 * controls (C0, DEL, C1), format characters (Unicode category Cf: bidi
 * overrides and isolates, zero-width characters, the BOM, tags...),
 * which reorder or hide text in an admin's table, the line and paragraph
 * separators, and noncharacters. */
static bool comment_char_refused(uint32_t cp, bool strict)
{
	static const struct { uint32_t lo, hi; } ranges[] = {
		{ 0x0000, 0x001f }, { 0x007f, 0x009f },          /* C0, DEL, C1 */
		/* Cf (Unicode 15.1) */
		{ 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c },
		{ 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x0890, 0x0891 },
		{ 0x08e2, 0x08e2 }, { 0x180e, 0x180e }, { 0x200b, 0x200f },
		{ 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x2066, 0x206f },
		{ 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd },
		{ 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
		{ 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
		{ 0x2028, 0x2029 },                              /* Zl, Zp */
		{ 0xfdd0, 0xfdef },                              /* noncharacters */
	};

	if (!strict)
		return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
	if ((cp & 0xfffeu) == 0xfffeu)      /* U+xxFFFE, U+xxFFFF: noncharacters */
		return true;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cp >= ranges[i].lo && cp <= ranges[i].hi)
			return true;
	return false;
}

/* strict: a new comment (tp_valid_comment).  Not strict: what a stored
 * record may hold -- the rules before format characters were refused, so
 * that a profile saved then still loads, logs in and can be rewritten. */
static bool comment_ok(const char *s, bool strict)
{
	size_t n = strlen(s);
	const unsigned char *u = (const unsigned char *)s;

	if (n > TP_COMMENT_MAX)
		return false;
	for (size_t i = 0; i < n;) {
		unsigned c = u[i];
		uint32_t cp;
		size_t extra;
		if (c < 0x80) {
			if (comment_char_refused(c, strict))
				return false;
			i++;
			continue;
		}
		/* strict UTF-8 (RFC 3629): no overlong forms, no surrogates,
		 * nothing above U+10FFFF -- JSON encoders refuse those */
		unsigned lo = 0x80u, hi = 0xbfu;      /* range of the 2nd byte */
		if (c >= 0xc2 && c <= 0xdf) extra = 1, cp = c & 0x1fu;
		else if (c >= 0xe0 && c <= 0xef) extra = 2, cp = c & 0x0fu;
		else if (c >= 0xf0 && c <= 0xf4) extra = 3, cp = c & 0x07u;
		else return false;
		if (c == 0xe0) lo = 0xa0u;
		else if (c == 0xed) hi = 0x9fu;
		else if (c == 0xf0) lo = 0x90u;
		else if (c == 0xf4) hi = 0x8fu;
		if (i + 1 >= n || u[i + 1] < lo || u[i + 1] > hi)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if (i + k >= n || (u[i + k] & 0xc0u) != 0x80u)
				return false;
			cp = cp << 6 | (u[i + k] & 0x3fu);
		}
		if (comment_char_refused(cp, strict))
			return false;
		i += extra + 1;
	}
	return true;
}

bool tp_valid_comment(const char *s)
{
	return comment_ok(s, true);
}

/* The bytes of a comment stored as they are; every other byte is %XX. */
static bool comment_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != '\0' && strchr("-_.,:/()@+", c) != NULL);
}

/* The comment is stored percent-encoded so that no INI syntax (quotes,
 * ';', '#', '=', surrounding spaces) can reach the parser. */
static void comment_encode(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
		if (comment_plain(*c)) {
			*out++ = (char)*c;
		} else {
			*out++ = '%';
			*out++ = hex[*c >> 4];
			*out++ = hex[*c & 15u];
		}
	}
	*out = '\0';
}

static bool comment_decode(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (const char *c = in; *c; c++) {
		char ch = *c;
		if (ch == '%') {
			unsigned v = 0;
			for (int k = 1; k <= 2; k++) {
				char h = c[k];
				v <<= 4;
				if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
				else return false;
			}
			if (v == 0)         /* a NUL would cut the comment short */
				return false;
			ch = (char)v;
			c += 2;
		}
		if (o + 1 >= outsz)
			return false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return comment_ok(out, false);
}

/* Appends into one fixed allocation: no realloc leaves a stray copy of the
 * secret in freed memory. */
struct text {
	char *buf;
	size_t len, cap;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

enum tp_status tp_profile_to_ini(const struct tp_profile *p, char **text,
				 size_t *len)
{
	char secret[TP_SECRET_MAX * 2];
	char comment[TP_COMMENT_MAX * 3 + 1];
	char salt[TP_SALT_LEN * 2 + 1], hash[TP_HASH_LEN * 2 + 1];
	struct text t = { .cap = TP_PROFILE_FILE_MAX };
	enum tp_status st;

	if (!comment_ok(p->comment, false) || p->ec_count > TP_EMERGENCY_MAX)
		return TP_EINVAL;
	st = tp_base32_encode(p->secret, p->secret_len, secret, sizeof(secret));
	if (st != TP_OK)
		return st;
	t.buf = malloc(t.cap);
	if (t.buf == NULL) {
		tp_wipe(secret, sizeof(secret));
		return TP_ENOMEM;
	}
	comment_encode(p->comment, comment);
	tp_hex_encode(p->ec_salt, TP_SALT_LEN, salt);
	/* Every value is quoted: iniparser 4.1 then matches each line with its
	 * first pattern instead of its third, which is half of what a login
	 * spends reading the file.  No value can hold a quote (the comment is
	 * %-encoded), and readers of unquoted files (every earlier release)
	 * read these the same. */
	put(&t, INI_HEAD
		"owner = \"%s\"\naccount = \"%s\"\nsecret = \"%s\"\n"
		"algorithm = \"%s\"\ndigits = \"%u\"\nperiod = \"%u\"\ncomment = \"%s\"\n"
		"enabled = \"%s\"\ncreated = \"%" PRId64 "\"\nlast_step = \"%" PRId64 "\"\n"
		"failures = \"%u\"\nlock_until = \"%" PRId64 "\"\n"
		"emergency_salt = \"%s\"\nemergency_count = \"%u\"\n"
		"[emergency]\n",
		p->owner_uuid, p->account, secret,
		tp_algorithm_name(p->totp.alg), p->totp.digits, p->totp.period,
		comment, p->enabled ? "true" : "false", p->created,
		p->last_step, p->failures, p->lock_until, salt, p->ec_count);
	for (unsigned i = 0; i < p->ec_count; i++) {
		tp_hex_encode(p->ec_hash[i], TP_HASH_LEN, hash);
		/* a spent code keeps its hash so a second use can be told apart */
		put(&t, "code%u = \"%s%s\"\n", i + 1, p->ec_spent[i] ? SPENT_PREFIX : "", hash);
	}
	tp_wipe(secret, sizeof(secret));
	if (t.overflow) {
		tp_wipe(t.buf, t.cap);
		free(t.buf);
		return TP_EINVAL;
	}
	*text = t.buf;
	*len = t.len;
	return TP_OK;
}

static int ini_quiet(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	int64_t v;
	if (!parse_i64(s, lo, hi, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

/* Number of "key = value" lines: iniparser keeps the last of duplicate
 * keys silently, so a count mismatch reveals duplicates. */
static int count_key_lines(const char *text, size_t len)
{
	int n = 0;
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		size_t k = i;
		while (k < j && (text[k] == ' ' || text[k] == '\t'))
			k++;
		if (k < j && text[k] != '#' && text[k] != ';' && text[k] != '[' &&
		    text[k] != '\r')
			n++;
		i = j + 1;
	}
	return n;
}

static enum tp_status parse_dict(const dictionary *d, struct tp_profile *p)
{
	const char *v;
	char key[32];
	unsigned format;
	size_t slen = 0;

	if (iniparser_getnsec(d) != 2 ||
	    iniparser_find_entry(d, "profile") == 0 ||
	    iniparser_find_entry(d, "emergency") == 0 ||
	    iniparser_getsecnkeys(d, "profile") != PROFILE_KEYS)
		return TP_ECORRUPT;
#define GET(k) iniparser_getstring(d, "profile:" k, NULL)
	if (!parse_uint(GET("format"), FORMAT_VERSION, FORMAT_VERSION, &format))
		return TP_ECORRUPT;
	v = GET("owner");
	if (!tp_valid_uuid(v))
		return TP_ECORRUPT;
	memcpy(p->owner_uuid, v, TP_UUID_LEN + 1);
	v = GET("account");
	if (!tp_valid_account(v))
		return TP_ECORRUPT;
	strcpy(p->account, v);
	v = GET("secret");
	if (v == NULL || tp_base32_decode(v, p->secret, sizeof(p->secret), &slen) != TP_OK ||
	    slen < 16)
		return TP_ECORRUPT;
	p->secret_len = slen;
	if (tp_algorithm_parse(GET("algorithm"), &p->totp.alg) != TP_OK ||
	    !parse_uint(GET("digits"), TP_DIGITS_MIN, TP_DIGITS_MAX, &p->totp.digits) ||
	    !parse_uint(GET("period"), 1, 300, &p->totp.period))
		return TP_ECORRUPT;
	v = GET("comment");
	if (v == NULL || !comment_decode(v, p->comment, sizeof(p->comment)))
		return TP_ECORRUPT;
	v = GET("enabled");
	if (v != NULL && strcmp(v, "true") == 0)
		p->enabled = true;
	else if (v != NULL && strcmp(v, "false") == 0)
		p->enabled = false;
	else
		return TP_ECORRUPT;
	if (!parse_i64(GET("created"), 0, INT64_MAX / 2, &p->created) ||
	    !parse_i64(GET("last_step"), -1, INT64_MAX / 2, &p->last_step) ||
	    !parse_uint(GET("failures"), 0, TP_FAILURES_MAX, &p->failures) ||
	    !parse_i64(GET("lock_until"), 0, INT64_MAX / 2, &p->lock_until) ||
	    !from_hex(GET("emergency_salt") ? GET("emergency_salt") : "",
		      p->ec_salt, TP_SALT_LEN) ||
	    !parse_uint(GET("emergency_count"), 0, TP_EMERGENCY_MAX, &p->ec_count))
		return TP_ECORRUPT;
#undef GET
	if (iniparser_getsecnkeys(d, "emergency") != (int)p->ec_count)
		return TP_ECORRUPT;
	for (unsigned i = 0; i < p->ec_count; i++) {
		snprintf(key, sizeof(key), "emergency:code%u", i + 1);
		v = iniparser_getstring(d, key, NULL);
		if (v != NULL && strncmp(v, SPENT_PREFIX, strlen(SPENT_PREFIX)) == 0) {
			p->ec_spent[i] = true;
			v += strlen(SPENT_PREFIX);
		}
		if (v == NULL || !from_hex(v, p->ec_hash[i], TP_HASH_LEN))
			return TP_ECORRUPT;
	}
	return TP_OK;
}

enum tp_status tp_profile_from_fd_ini(int fd, struct tp_profile *p)
{
	char text[TP_PROFILE_FILE_MAX + 1];
	char procpath[64];
	size_t len = 0;
	dictionary *d;
	enum tp_status st;

	memset(p, 0, sizeof(*p));
	if (lseek(fd, 0, SEEK_SET) != 0)
		return TP_EIO;
	for (;;) {
		ssize_t r = read(fd, text + len, sizeof(text) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return TP_EIO;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > TP_PROFILE_FILE_MAX) {
			tp_wipe(text, sizeof(text));
			return TP_ECORRUPT;         /* over-large */
		}
	}
	if (len == 0 || memchr(text, '\0', len) != NULL) {
		tp_wipe(text, len);
		return TP_ECORRUPT;
	}
	int key_lines = count_key_lines(text, len);
	tp_wipe(text, len);

	/* iniparser 4.1 only loads from a path: reopen this very inode */
	snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", fd);
	iniparser_set_error_callback(ini_quiet);
	d = iniparser_load(procpath);
	if (d == NULL)
		return TP_ECORRUPT;
	st = iniparser_getsecnkeys(d, "profile") + iniparser_getsecnkeys(d, "emergency") ==
	     key_lines ? parse_dict(d, p) : TP_ECORRUPT;
	/* the dictionary held the secret: wipe its values before freeing */
	for (ssize_t i = 0; i < d->size; i++)
		if (d->val != NULL && d->val[i] != NULL)
			tp_wipe(d->val[i], strlen(d->val[i]));
	iniparser_freedict(d);
	if (st != TP_OK)
		tp_profile_wipe(p);
	return st;
}

/* ---- The login path's reader: the canonical text only ----
 *
 * A login reads the file tp_profile_to_ini wrote, so it is parsed here
 * without iniparser: the lines in the writer's order, byte for byte, each
 * value in the form the writer prints it.  Anything else (files of earlier
 * releases, hand edits, spaces, unknown or repeated keys, a number with a
 * leading zero, lowercase base32...) is "not canonical" and goes to
 * tp_profile_from_fd_ini, with all its checks: either reader gives the
 * same profile for any text this one accepts (tests/unit/test_profile.c,
 * tests/fuzz/fuzz_profile_fast.c). */

struct cursor {
	char *s, *end;
};

static bool take(struct cursor *c, const char *lit, size_t n)
{
	if ((size_t)(c->end - c->s) < n || memcmp(c->s, lit, n) != 0)
		return false;
	c->s += n;
	return true;
}

/* `KEY = "VALUE"\n`, KEY given with its ` = "`: the value, NUL-terminated
 * in place of its closing quote; NULL if the line is not there. */
static char *value_at(struct cursor *c, const char *key, size_t n)
{
	char *v, *q;

	if (!take(c, key, n))
		return NULL;
	v = c->s;
	q = memchr(v, '"', (size_t)(c->end - v));
	if (q == NULL || c->end - q < 2 || q[1] != '\n')
		return NULL;
	*q = '\0';
	c->s = q + 2;
	return v;
}
#define VALUE(c, key) value_at((c), key " = \"", sizeof(key " = \"") - 1)

/* A number as printf's %d, %u or PRId64 writes it: no '+', no leading
 * zero, no "-0". */
static bool canon_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;

	if (d[0] == '0' ? d[1] != '\0' || d != s : d[0] < '1' || d[0] > '9')
		return false;
	return parse_i64(s, lo, hi, out);
}

static bool canon_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	int64_t v;

	if (!canon_i64(s, lo, hi, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

static int hex_upper(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'A' && h <= 'F')
		return h - 'A' + 10;
	return -1;
}

/* The comment as comment_encode writes it: plain bytes as they are, every
 * other byte (and only those) as %XX in uppercase hex. */
static bool canon_comment(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (const char *c = in; *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '%') {
			int hi = hex_upper(c[1]), lo = hi < 0 ? -1 : hex_upper(c[2]);
			if (lo < 0)
				return false;
			ch = (unsigned char)(hi << 4 | lo);
			if (ch == '\0' || comment_plain(ch))
				return false;
			c += 2;
		} else if (!comment_plain(ch)) {
			return false;
		}
		if (o + 1 >= outsz)
			return false;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return comment_ok(out, false);
}

bool tp_profile_parse_canonical(char *text, size_t len, struct tp_profile *p)
{
	struct cursor c = { text, text + len };
	char *v, key[32];
	size_t slen = 0;

	memset(p, 0, sizeof(*p));
	if (len > TP_PROFILE_FILE_MAX || memchr(text, '\0', len) != NULL ||
	    !take(&c, INI_HEAD, sizeof(INI_HEAD) - 1))
		goto refused;
	if ((v = VALUE(&c, "owner")) == NULL || !tp_valid_uuid(v))
		goto refused;
	memcpy(p->owner_uuid, v, TP_UUID_LEN + 1);
	if ((v = VALUE(&c, "account")) == NULL || !tp_valid_account(v))
		goto refused;
	strcpy(p->account, v);
	/* the writer's base32: uppercase, unpadded (decoding refuses a
	 * length or leftover bits no encoding has) */
	if ((v = VALUE(&c, "secret")) == NULL ||
	    v[strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")] != '\0' ||
	    tp_base32_decode(v, p->secret, sizeof(p->secret), &slen) != TP_OK || slen < 16)
		goto refused;
	p->secret_len = slen;
	if ((v = VALUE(&c, "algorithm")) == NULL ||
	    tp_algorithm_parse(v, &p->totp.alg) != TP_OK ||
	    strcmp(v, tp_algorithm_name(p->totp.alg)) != 0)
		goto refused;
	if ((v = VALUE(&c, "digits")) == NULL ||
	    !canon_uint(v, TP_DIGITS_MIN, TP_DIGITS_MAX, &p->totp.digits) ||
	    (v = VALUE(&c, "period")) == NULL || !canon_uint(v, 1, 300, &p->totp.period) ||
	    (v = VALUE(&c, "comment")) == NULL ||
	    !canon_comment(v, p->comment, sizeof(p->comment)) ||
	    (v = VALUE(&c, "enabled")) == NULL)
		goto refused;
	if (strcmp(v, "true") == 0)
		p->enabled = true;
	else if (strcmp(v, "false") != 0)
		goto refused;
	if ((v = VALUE(&c, "created")) == NULL ||
	    !canon_i64(v, 0, INT64_MAX / 2, &p->created) ||
	    (v = VALUE(&c, "last_step")) == NULL ||
	    !canon_i64(v, -1, INT64_MAX / 2, &p->last_step) ||
	    (v = VALUE(&c, "failures")) == NULL ||
	    !canon_uint(v, 0, TP_FAILURES_MAX, &p->failures) ||
	    (v = VALUE(&c, "lock_until")) == NULL ||
	    !canon_i64(v, 0, INT64_MAX / 2, &p->lock_until) ||
	    (v = VALUE(&c, "emergency_salt")) == NULL ||
	    !from_hex(v, p->ec_salt, TP_SALT_LEN) ||
	    (v = VALUE(&c, "emergency_count")) == NULL ||
	    !canon_uint(v, 0, TP_EMERGENCY_MAX, &p->ec_count) ||
	    !take(&c, "[emergency]\n", sizeof("[emergency]\n") - 1))
		goto refused;
	for (unsigned i = 0; i < p->ec_count; i++) {
		/* code1 .. code10, as the writer's "code%u" */
		unsigned n = i + 1, k = 4;
		memcpy(key, "code", 4);
		if (n >= 10)
			key[k++] = (char)('0' + n / 10);
		key[k++] = (char)('0' + n % 10);
		memcpy(key + k, " = \"", 4);
		if ((v = value_at(&c, key, k + 4)) == NULL)
			goto refused;
		bool spent = strncmp(v, SPENT_PREFIX, sizeof(SPENT_PREFIX) - 1) == 0;
		p->ec_spent[i] = spent;
		if (!from_hex(spent ? v + sizeof(SPENT_PREFIX) - 1 : v, p->ec_hash[i], TP_HASH_LEN))
			goto refused;
	}
	if (c.s == c.end)
		return true;
refused:
	tp_profile_wipe(p);
	return false;
}

enum tp_status tp_profile_from_fd(int fd, struct tp_profile *p)
{
	return tp_profile_from_fd_sized(fd, -1, p);
}

enum tp_status tp_profile_from_fd_sized(int fd, off_t size, struct tp_profile *p)
{
	char text[TP_PROFILE_FILE_MAX + 1];
	ssize_t r;
	bool ok = false;

	/* one read, from offset 0: a regular file's pread stops short only at
	 * its end.  A file over the limit fills the buffer, which the strict
	 * reader refuses, and so does the careful reader after it. */
	do
		r = pread(fd, text, sizeof(text), 0);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		ok = tp_profile_parse_canonical(text, (size_t)r, p);
		tp_wipe(text, (size_t)r);
	}
	/* a short read that happened to end where a canonical file ends
	 * (a FUSE or network filesystem may read short) must not hide what
	 * follows: the file ends there, or the careful reader decides.  A
	 * read of exactly the size the caller's fstat saw, with room left in
	 * the buffer, was not short: the file (replaced only by rename, never
	 * written in place) ends there, no second read needed. */
	if (ok && !(size > 0 && r == size && (size_t)size < sizeof(text))) {
		char more;
		ssize_t m;

		do
			m = pread(fd, &more, 1, (off_t)r);
		while (m < 0 && errno == EINTR);
		if (m != 0) {
			tp_profile_wipe(p);
			ok = false;
		}
	}
	return ok ? TP_OK : tp_profile_from_fd_ini(fd, p);
}

static bool url_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~", c) != NULL);
}

/* Length of s once percent-encoded. */
static size_t url_escaped_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		n += url_plain(*c) ? 1 : 3;
	return n;
}

static void url_escape(struct text *t, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (url_plain(*c))
			put(t, "%c", *c);
		else
			put(t, "%%%02X", *c);
	}
}

/* The buffer is sized from the issuer and account first, so the URL is
 * whole for an issuer of any length (and one allocation holds the secret:
 * nothing to realloc, no stray copy). */
enum tp_status tp_profile_install_url(const struct tp_profile *p,
				      const char *issuer, char **url)
{
	static const char fixed[] = "otpauth://totp/:?secret=&issuer="
				    "&algorithm=SHA512&digits=4294967295&period=4294967295";
	char secret[TP_SECRET_MAX * 2];
	struct text t = { 0 };
	size_t issuer_len = url_escaped_len(issuer);

	if (tp_base32_encode(p->secret, p->secret_len, secret, sizeof(secret)) != TP_OK)
		return TP_EINVAL;
	if (issuer_len > (SIZE_MAX - sizeof(fixed) - sizeof(secret) - 3 * sizeof(p->account)) / 2) {
		tp_wipe(secret, sizeof(secret));
		return TP_EINVAL;
	}
	t.cap = sizeof(fixed) + strlen(secret) + 2 * issuer_len +
		url_escaped_len(p->account) + 1;
	t.buf = malloc(t.cap);
	if (t.buf == NULL) {
		tp_wipe(secret, sizeof(secret));
		return TP_ENOMEM;
	}
	put(&t, "otpauth://totp/");
	url_escape(&t, issuer);
	put(&t, ":");
	url_escape(&t, p->account);
	put(&t, "?secret=%s&issuer=", secret);
	url_escape(&t, issuer);
	put(&t, "&algorithm=%s&digits=%u&period=%u",
	    tp_algorithm_name(p->totp.alg), p->totp.digits, p->totp.period);
	tp_wipe(secret, sizeof(secret));
	if (t.overflow) {               /* cannot happen: the size is exact */
		tp_wipe(t.buf, t.cap);
		free(t.buf);
		return TP_EINVAL;
	}
	*url = t.buf;
	return TP_OK;
}
