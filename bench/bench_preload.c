/* LD_PRELOAD shim for the benchmarks, loaded after libpam_wrapper.so:
 *
 *  - fake users u0000000..u9999999 answered in O(1) by getpwnam/getpwuid
 *    (and their _r forms).  nss_wrapper scans its passwd file linearly,
 *    so at a million users it would time nss_wrapper, not the modules;
 *    a real site of that size uses sssd/LDAP with an indexed cache.
 *    Every other name goes to the real NSS.
 *  - a settable clock: when BENCH_TIME is set, time(), gettimeofday() and
 *    clock_gettime(CLOCK_REALTIME) report that second (plus the real
 *    sub-second part).  The in-process harness moves it forward with
 *    bench_clock_set() so that every profile accepts a fresh TOTP step
 *    in every round; whole-process runs get BENCH_TIME per process. */
#include <dlfcn.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "bench_common.h"

int bench_clock_set(long long now);

static long long fake_now = -1;
static int clock_init;

static void init_clock(void)
{
	const char *s;

	if (clock_init)
		return;
	clock_init = 1;
	s = getenv("BENCH_TIME");
	if (s != NULL && *s != '\0')
		fake_now = atoll(s);
}

int bench_clock_set(long long now)
{
	clock_init = 1;
	fake_now = now;
	return 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rv;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	rv = real(id, ts);
	init_clock();
	if (rv == 0 && fake_now >= 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec = (time_t)fake_now;
	return rv;
}

time_t time(time_t *t)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	if (t != NULL)
		*t = now;
	return now;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

/* ---- users ---- */

static int fill(unsigned i, struct passwd *pw, char *buf, size_t len)
{
	char name[16];
	const char *home = getenv("BENCH_HOME");
	int n;

	bench_user(i, name);
	if (home == NULL)
		home = "/nonexistent";
	n = snprintf(buf, len, "%s%c%s%c%s", name, 0, "x", 0, home);
	if (n < 0 || (size_t)n + 1 > len)
		return ERANGE;
	pw->pw_name = buf;
	pw->pw_passwd = buf + strlen(name) + 1;
	pw->pw_dir = pw->pw_passwd + 2;
	pw->pw_gecos = pw->pw_dir + strlen(pw->pw_dir);   /* "" */
	pw->pw_shell = (char *)"/bin/sh";
	pw->pw_uid = BENCH_UID_BASE + i;
	pw->pw_gid = BENCH_UID_BASE + i;
	return 0;
}

static struct passwd static_pw;
static char static_buf[512];

typedef struct passwd *(*getpwnam_fn)(const char *);
typedef int (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, struct passwd **);
typedef struct passwd *(*getpwuid_fn)(uid_t);
typedef int (*getpwuid_r_fn)(uid_t, struct passwd *, char *, size_t, struct passwd **);

#define NEXT(name) \
	static name##_fn real_##name; \
	if (real_##name == NULL) real_##name = (name##_fn)dlsym(RTLD_NEXT, #name)

struct passwd *getpwnam(const char *name)
{
	long i = bench_user_index(name);
	NEXT(getpwnam);

	if (i < 0)
		return real_getpwnam(name);
	return fill((unsigned)i, &static_pw, static_buf, sizeof(static_buf)) == 0
	       ? &static_pw : NULL;
}

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
	       struct passwd **res)
{
	long i = bench_user_index(name);
	int e;
	NEXT(getpwnam_r);

	if (i < 0)
		return real_getpwnam_r(name, pw, buf, len, res);
	e = fill((unsigned)i, pw, buf, len);
	*res = e == 0 ? pw : NULL;
	return e;
}

struct passwd *getpwuid(uid_t uid)
{
	NEXT(getpwuid);

	if (uid < BENCH_UID_BASE || uid >= BENCH_UID_BASE + 10000000u)
		return real_getpwuid(uid);
	return fill(uid - BENCH_UID_BASE, &static_pw, static_buf, sizeof(static_buf)) == 0
	       ? &static_pw : NULL;
}

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, struct passwd **res)
{
	int e;
	NEXT(getpwuid_r);

	if (uid < BENCH_UID_BASE || uid >= BENCH_UID_BASE + 10000000u)
		return real_getpwuid_r(uid, pw, buf, len, res);
	e = fill(uid - BENCH_UID_BASE, pw, buf, len);
	*res = e == 0 ? pw : NULL;
	return e;
}

/* ---- logging ----
 * Nothing listens on /dev/log on a bench machine, and glibc then falls
 * back to writing LOG_CONS messages to /dev/console, whose speed has
 * nothing to do with the module.  pam_wrapper already swallows
 * pam_syslog (ours, pam_oath); this swallows plain syslog
 * (pam_google_authenticator), so no module pays for logging. */
#include <stdarg.h>
#include <syslog.h>

void openlog(const char *ident, int option, int facility)
{
	(void)ident; (void)option; (void)facility;
}

void closelog(void)
{
}

void syslog(int prio, const char *fmt, ...)
{
	(void)prio; (void)fmt;
}

void vsyslog(int prio, const char *fmt, va_list ap)
{
	(void)prio; (void)fmt; (void)ap;
}

void __syslog_chk(int prio, int flag, const char *fmt, ...);
void __syslog_chk(int prio, int flag, const char *fmt, ...)
{
	(void)prio; (void)flag; (void)fmt;
}

void __vsyslog_chk(int prio, int flag, const char *fmt, va_list ap);
void __vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
{
	(void)prio; (void)flag; (void)fmt; (void)ap;
}
