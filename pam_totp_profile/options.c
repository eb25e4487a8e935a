#include <stdbool.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>

#include "options.h"

#define DEFAULT_PROMPT "Verification code: "

/* A delay in milliseconds: decimal digits only, 0..FAIL_DELAY_MAX_MS. */
static bool parse_delay_ms(const char *v, unsigned *us)
{
	unsigned long ms = 0;

	if (*v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 5)
		return false;
	for (; *v != '\0'; v++)
		ms = ms * 10 + (unsigned long)(*v - '0');
	if (ms > FAIL_DELAY_MAX_MS)
		return false;
	*us = (unsigned)ms * 1000u;
	return true;
}

static const char *value_of(const char *arg, const char *key)
{
	size_t n = strlen(key);
	return strncmp(arg, key, n) == 0 ? arg + n : NULL;
}

int parse_module_options(pam_handle_t *pamh, int argc, const char **argv,
			 struct module_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->prompt = DEFAULT_PROMPT;
	opt->fail_delay_us = FAIL_DELAY_DEFAULT_MS * 1000u;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;

		if (strcmp(a, "debug") == 0)
			opt->debug = true;
		else if (strcmp(a, "nullok") == 0)
			opt->nullok = true;
		else if (strcmp(a, "configured_only") == 0)
			opt->configured_only = true;
		else if (strcmp(a, "try_first_pass") == 0)
			opt->source = CODE_TRY_FIRST;
		else if (strcmp(a, "use_first_pass") == 0)
			opt->source = CODE_USE_FIRST;
		else if (strcmp(a, "forward_pass") == 0)
			opt->source = CODE_FORWARD;
		else if (strcmp(a, "nodelay") == 0)
			opt->fail_delay_us = 0;
		else if ((v = value_of(a, "fail_delay=")) != NULL &&
			 parse_delay_ms(v, &opt->fail_delay_us)) {
			/* set by the parser */
		} else if ((v = value_of(a, "owner=")) != NULL && *v != '\0')
			opt->owner = v;
		else if ((v = value_of(a, "config=")) != NULL && *v == '/')
			opt->config = v;
		else if ((v = value_of(a, "prompt=")) != NULL && *v != '\0')
			opt->prompt = v;
		else {
			pam_syslog(pamh, LOG_ERR,
				   "unknown or malformed module option \"%s\"; refusing all logins",
				   a);
			return -1;
		}
	}
	return 0;
}
