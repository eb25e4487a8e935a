#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "secret.h"
#include "totp.h"

static const char *const digest_names[] = {
	[TP_SHA1] = "SHA1", [TP_SHA256] = "SHA256", [TP_SHA512] = "SHA512",
};

enum tp_status tp_algorithm_parse(const char *s, enum tp_algorithm *out)
{
	static const struct { const char *name; enum tp_algorithm alg; } names[] = {
		{ "SHA1", TP_SHA1 }, { "SHA-1", TP_SHA1 },
		{ "SHA256", TP_SHA256 }, { "SHA-256", TP_SHA256 },
		{ "SHA512", TP_SHA512 }, { "SHA-512", TP_SHA512 },
	};
	for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].alg;
			return TP_OK;
		}
	}
	return TP_EINVAL;
}

const char *tp_algorithm_name(enum tp_algorithm alg)
{
	return (unsigned)alg <= TP_SHA512 ? digest_names[alg] : "?";
}

/* A keyed HMAC context, reset (same key) once per counter. */
static EVP_MAC_CTX *hmac_keyed(const unsigned char *key, size_t keylen,
			       enum tp_algorithm alg)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	int ok = 0;

	if ((unsigned)alg > TP_SHA512 || keylen == 0)
		return NULL;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		goto out;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)digest_names[alg], 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, keylen, params);
out:
	EVP_MAC_free(mac);
	if (ok != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static const unsigned powers[] = { 1u, 10u, 100u, 1000u, 10000u, 100000u,
				   1000000u, 10000000u, 100000000u };

/* ctx: keyed by hmac_keyed.  A NULL key re-initialises it with the same
 * key (the padded key blocks are kept), which costs less than a copy of
 * the context per counter. */
static enum tp_status hotp_with(EVP_MAC_CTX *ctx, unsigned digits,
				uint64_t counter, char out[TP_CODE_MAX + 1])
{
	unsigned char msg[8], md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	enum tp_status st = TP_ECRYPTO;
	int ok;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xffu);
		counter >>= 8;
	}
	ok = EVP_MAC_init(ctx, NULL, 0, NULL);
	if (ok == 1)
		ok = EVP_MAC_update(ctx, msg, sizeof(msg));
	if (ok == 1)
		ok = EVP_MAC_final(ctx, md, &mdlen, sizeof(md));
	if (ok == 1 && mdlen >= 20) {
		/* RFC 4226 section 5.3 dynamic truncation */
		unsigned off = md[mdlen - 1] & 0x0fu;
		uint32_t bin = ((uint32_t)(md[off] & 0x7fu) << 24) |
			       ((uint32_t)md[off + 1] << 16) |
			       ((uint32_t)md[off + 2] << 8) | md[off + 3];
		uint32_t code = bin % powers[digits];
		for (unsigned i = digits; i > 0; i--) {
			out[i - 1] = (char)('0' + code % 10u);
			code /= 10u;
		}
		out[digits] = '\0';
		st = TP_OK;
	}
	tp_wipe(md, sizeof(md));
	return st;
}

enum tp_status tp_hotp(const unsigned char *key, size_t keylen,
		       enum tp_algorithm alg, unsigned digits,
		       uint64_t counter, char out[TP_CODE_MAX + 1])
{
	EVP_MAC_CTX *keyed;
	enum tp_status st;

	if (digits < TP_DIGITS_MIN || digits > TP_DIGITS_MAX)
		return TP_EINVAL;
	keyed = hmac_keyed(key, keylen, alg);
	if (keyed == NULL)
		return TP_ECRYPTO;
	st = hotp_with(keyed, digits, counter, out);
	EVP_MAC_CTX_free(keyed);
	return st;
}

int64_t tp_totp_step(int64_t unix_time, unsigned period)
{
	if (period == 0)
		return 0;
	/* floor division, so times before 1970 do not round toward zero */
	int64_t q = unix_time / (int64_t)period;
	if (unix_time < 0 && unix_time % (int64_t)period != 0)
		q--;
	return q;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

enum tp_status tp_totp_verify(const unsigned char *key, size_t keylen,
			      const struct tp_totp_params *p, int64_t now,
			      unsigned window, const char *code,
			      int64_t after_step, int64_t *matched_step)
{
	char expect[TP_CODE_MAX + 1];
	EVP_MAC_CTX *keyed;
	enum tp_status st = TP_EINVAL;
	int64_t step, found = -1;
	bool replay = false;
	size_t n;

	if (p->digits < TP_DIGITS_MIN || p->digits > TP_DIGITS_MAX ||
	    p->period == 0 || code == NULL)
		return TP_EINVAL;
	n = strnlen(code, TP_CODE_MAX + 1);
	if (n != p->digits || !all_digits(code, n))
		return TP_EINVAL;
	keyed = hmac_keyed(key, keylen, p->alg);
	if (keyed == NULL)
		return TP_ECRYPTO;
	step = tp_totp_step(now, p->period);
	/* Every step is computed and compared: the work and the timing are the
	 * same whichever step (if any) matches. */
	for (int64_t s = step - (int64_t)window; s <= step + (int64_t)window; s++) {
		if (s < 0)
			continue;
		if (hotp_with(keyed, p->digits, (uint64_t)s, expect) != TP_OK) {
			st = TP_ECRYPTO;
			break;
		}
		if (tp_equal(expect, code, n)) {
			if (s > after_step) {
				if (found < 0)
					found = s;
			} else {
				replay = true;
			}
		}
	}
	tp_wipe(expect, sizeof(expect));
	EVP_MAC_CTX_free(keyed);
	if (st == TP_ECRYPTO)
		return st;
	if (found >= 0) {
		*matched_step = found;
		return TP_OK;
	}
	return replay ? TP_EEXIST : TP_EINVAL;
}
