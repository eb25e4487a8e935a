#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "secret.h"

/* explicit_bzero: a memset the compiler may not drop, at memset's speed
 * (OPENSSL_cleanse goes a byte at a time: a login wipes a few KB) */
void tp_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

void tp_free_str(char *s)
{
	if (s == NULL)
		return;
	tp_wipe(s, strlen(s));
	free(s);
}

int tp_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
