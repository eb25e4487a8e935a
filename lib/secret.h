/* Secret hygiene: one place that wipes keys, codes and response buffers,
 * and one constant-time comparison. */
#ifndef TP_SECRET_H
#define TP_SECRET_H

#include <stddef.h>

/* Overwrite n bytes so the compiler cannot elide it. */
void tp_wipe(void *p, size_t n);

/* Wipe a NUL-terminated string and free it.  NULL is fine. */
void tp_free_str(char *s);

/* Constant-time equality of two buffers of the same length: 1 if equal. */
int tp_equal(const void *a, const void *b, size_t n);

#endif
