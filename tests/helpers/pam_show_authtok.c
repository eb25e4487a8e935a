/* Test-only PAM module: logs the PAM_AUTHTOK it is handed, so a test can
 * check what the module before it passed on (forward_pass).  Never
 * installed; it logs a password on purpose. */
#include <stddef.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	const void *tok = NULL;

	(void)flags;
	(void)argc;
	(void)argv;
	if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || tok == NULL)
		tok = "(none)";
	pam_syslog(pamh, LOG_NOTICE, "next module sees PAM_AUTHTOK=[%s]", (const char *)tok);
	return PAM_SUCCESS;
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
