/* Test-only LD_PRELOAD shim: a case-insensitive user database, as SSSD and
 * winbind are.  getpwnam("CAROL") answers with carol's entry when there
 * is no account spelled "CAROL".  Goes before nss_wrapper in LD_PRELOAD,
 * whose getpwnam it asks. */
#include <ctype.h>
#include <dlfcn.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>

struct passwd *getpwnam(const char *name);

struct passwd *getpwnam(const char *name)
{
	static struct passwd *(*next)(const char *);
	char folded[256];
	size_t n;
	struct passwd *pw;

	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "getpwnam");
	if (next == NULL)
		return NULL;
	pw = next(name);
	if (pw != NULL || name == NULL)
		return pw;
	n = strlen(name);
	if (n >= sizeof(folded))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		folded[i] = (char)tolower((unsigned char)name[i]);
	return strcmp(folded, name) == 0 ? NULL : next(folded);
}
