/* libpq loaded on first use (see pq_dl.h). */
#define TP_PQ_DL_SELF
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pq_dl.h"

/* the soname Debian's libpq5 installs; the loader finds it in the
 * system's library path only (a setuid totpctl ignores LD_LIBRARY_PATH) */
#define TP_LIBPQ "libpq.so.5"

struct tp_pq_table tp_pq;
/* loaded once per process, also when two threads of a PAM application
 * authenticate at once; a failure is kept, with its reason */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc = -1;
static char load_why[280];

static void load(void)
{
	struct tp_pq_table t;
	const char *missing = NULL;
	void *h;

	h = dlopen(TP_LIBPQ, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(load_why, sizeof(load_why), "cannot load %s, the PostgreSQL "
			 "client library (Debian package libpq5): %s", TP_LIBPQ,
			 e ? e : "not found");
		return;
	}
	memset(&t, 0, sizeof(t));
	/* POSIX's way to take a function pointer from dlsym */
#define TP_PQ_LOAD(f) \
	if (missing == NULL && (*(void **)(&t.f) = dlsym(h, #f)) == NULL) \
		missing = #f;
	TP_PQ_FUNCS(TP_PQ_LOAD)
#undef TP_PQ_LOAD
	if (missing != NULL) {
		snprintf(load_why, sizeof(load_why), "%s has no %s: too old a libpq",
			 TP_LIBPQ, missing);
		(void)dlclose(h);
		return;
	}
	/* kept loaded for the life of the process: libpq keeps state (its
	 * OpenSSL set-up) that must not go away under a later connection */
	tp_pq = t;
	load_rc = 0;
}

int tp_pq_load(char *why, size_t whylen)
{
	(void)pthread_once(&load_once, load);
	if (load_rc != 0)
		snprintf(why, whylen, "%s", load_why);
	return load_rc;
}
