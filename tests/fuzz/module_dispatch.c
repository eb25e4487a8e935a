/* Stacked by fuzz_module's PAM service: hands the call to the fuzz binary,
 * whose pam_sm_authenticate is the module's own (linked in).  Going through
 * pam_authenticate lets the binary set PAM_AUTHTOK, which libpam allows
 * from a module only. */
#include <dlfcn.h>
#include <stddef.h>
#include <security/pam_modules.h>

typedef int (*entry_fn)(pam_handle_t *pamh, int flags);

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	entry_fn entry = (entry_fn)dlsym(RTLD_DEFAULT, "fuzz_module_entry");

	(void)argc;
	(void)argv;
	return entry != NULL ? entry(pamh, flags) : PAM_SYSTEM_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
