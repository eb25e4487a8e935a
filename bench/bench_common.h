/* What the generator and the harness must agree on: user names, secrets
 * and emergency codes are pure functions of the user's index, so the
 * harness can compute a valid code for any of a million users without
 * reading the stores it is timing. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BENCH_SECRET_LEN 20             /* 160-bit SHA-1 key, like the peers */
#define BENCH_UID_BASE 200000u          /* fake users: uid = base + index */
#define BENCH_EMERGENCY 5               /* emergency/scratch codes per user */

static inline void bench_user(unsigned i, char out[16])
{
	snprintf(out, 16, "u%07u", i);
}

/* user index of "uNNNNNNN", or -1 */
static inline long bench_user_index(const char *name)
{
	long v = 0;

	if (name == NULL || name[0] != 'u' || strlen(name) != 8)
		return -1;
	for (int k = 1; k < 8; k++) {
		if (name[k] < '0' || name[k] > '9')
			return -1;
		v = v * 10 + (name[k] - '0');
	}
	return v;
}

static inline uint64_t bench_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Not random: a benchmark secret only has to differ between users. */
static inline void bench_secret(unsigned i, unsigned char out[BENCH_SECRET_LEN])
{
	for (unsigned k = 0; k < BENCH_SECRET_LEN; k++)
		out[k] = (unsigned char)(bench_mix(((uint64_t)i << 8) | k) >> 24);
}

/* 10000000..99999999: pam_google_authenticator ignores scratch codes with
 * a leading zero (its own tool never makes one). */
static inline void bench_emergency(unsigned i, unsigned k, char out[9])
{
	snprintf(out, 9, "%08u",
		 10000000u + (unsigned)(bench_mix(((uint64_t)i << 8) | (0x80u + k)) % 90000000u));
}

/* Monotonic time in microseconds, for latencies. */
static inline double bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* qsort comparator for latency samples. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
