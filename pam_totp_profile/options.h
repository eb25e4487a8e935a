/* Module arguments from the PAM configuration line. */
#ifndef PAM_TOTP_OPTIONS_H
#define PAM_TOTP_OPTIONS_H

#include <stdbool.h>
#include <security/pam_modules.h>

enum code_source {
	CODE_PROMPT = 0,     /* ask through the conversation (default) */
	CODE_TRY_FIRST,      /* try PAM_AUTHTOK, then ask */
	CODE_USE_FIRST,      /* PAM_AUTHTOK only, never ask */
	CODE_FORWARD         /* one prompt: password followed by the code */
};

struct module_options {
	bool debug;
	bool nullok;
	bool configured_only;    /* ask only accounts with TOTP configured */
	enum code_source source;
	const char *owner;       /* NULL: the cluster owner */
	const char *config;      /* NULL: TP_DEFAULT_CONFIG */
	const char *prompt;
	unsigned fail_delay_us;  /* asked of libpam on every call; 0: nodelay */
};

/* pam_unix's delay after a failed authentication; fail_delay=MS sets it,
 * nodelay turns it off. */
#define FAIL_DELAY_DEFAULT_MS 2000u
#define FAIL_DELAY_MAX_MS     60000u

/* Unknown or malformed arguments are logged and make this fail: a typo in
 * the PAM line must not quietly weaken the login. */
int parse_module_options(pam_handle_t *pamh, int argc, const char **argv,
			 struct module_options *opt);

#endif
