/* HOTP (RFC 4226) and TOTP (RFC 6238) on OpenSSL 3's EVP_MAC. */
#ifndef TP_TOTP_H
#define TP_TOTP_H

#include <stdint.h>
#include <stddef.h>
#include "tp_status.h"

enum tp_algorithm { TP_SHA1 = 0, TP_SHA256, TP_SHA512 };

#define TP_DIGITS_MIN 6
#define TP_DIGITS_MAX 8
#define TP_CODE_MAX   TP_DIGITS_MAX

/* "SHA1"/"SHA256"/"SHA512" (case-insensitive, "SHA-1" also accepted). */
enum tp_status tp_algorithm_parse(const char *s, enum tp_algorithm *out);
const char *tp_algorithm_name(enum tp_algorithm alg);

/* The code for one counter, as a zero-padded decimal string. */
enum tp_status tp_hotp(const unsigned char *key, size_t keylen,
		       enum tp_algorithm alg, unsigned digits,
		       uint64_t counter, char out[TP_CODE_MAX + 1]);

/* Time step of a Unix time for a period (T0 = 0). */
int64_t tp_totp_step(int64_t unix_time, unsigned period);

struct tp_totp_params {
	enum tp_algorithm alg;
	unsigned digits;
	unsigned period;
};

/* Check `code` against steps [now-window, now+window] of the current step.
 * Every step of the window is computed and compared in constant time, so
 * timing does not reveal which step matched.  Only steps > after_step are
 * acceptable.
 *   TP_OK      : matched; *matched_step is the step
 *   TP_EEXIST  : matched only a step <= after_step (a replay)
 *   TP_EINVAL  : no match (or malformed code) */
enum tp_status tp_totp_verify(const unsigned char *key, size_t keylen,
			      const struct tp_totp_params *p, int64_t now,
			      unsigned window, const char *code,
			      int64_t after_step, int64_t *matched_step);

#endif
