/* libpq loaded on first use (see pq_dl.h). */
#define TP_PQ_DL_SELF
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "pq_dl.h"

/* the soname Debian's libpq5 installs; the loader finds it in the
 * system's library path only (a setuid totpctl ignores LD_LIBRARY_PATH) */
#define TP_LIBPQ "libpq.so.5"

struct tp_pq_table tp_pq;
static int loaded;

int tp_pq_load(char *why, size_t whylen)
{
	struct tp_pq_table t;
	const char *missing = NULL;
	void *h;

	if (loaded)
		return 0;
	h = dlopen(TP_LIBPQ, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(why, whylen, "cannot load %s, the PostgreSQL client library "
			 "(Debian package libpq5): %s", TP_LIBPQ, e ? e : "not found");
		return -1;
	}
	memset(&t, 0, sizeof(t));
	/* POSIX's way to take a function pointer from dlsym */
#define TP_PQ_LOAD(f) \
	if (missing == NULL && (*(void **)(&t.f) = dlsym(h, #f)) == NULL) \
		missing = #f;
	TP_PQ_FUNCS(TP_PQ_LOAD)
#undef TP_PQ_LOAD
	if (missing != NULL) {
		snprintf(why, whylen, "%s has no %s: too old a libpq", TP_LIBPQ, missing);
		(void)dlclose(h);
		return -1;
	}
	/* kept loaded for the life of the process: libpq keeps state (its
	 * OpenSSL set-up) that must not go away under a later connection */
	tp_pq = t;
	loaded = 1;
	return 0;
}
