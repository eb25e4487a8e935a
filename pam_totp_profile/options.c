#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>

#include "options.h"

#define DEFAULT_PROMPT "Verification code: "

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
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;

		if (strcmp(a, "debug") == 0)
			opt->debug = true;
		else if (strcmp(a, "nullok") == 0)
			opt->nullok = true;
		else if (strcmp(a, "try_first_pass") == 0)
			opt->source = CODE_TRY_FIRST;
		else if (strcmp(a, "use_first_pass") == 0)
			opt->source = CODE_USE_FIRST;
		else if (strcmp(a, "forward_pass") == 0)
			opt->source = CODE_FORWARD;
		else if ((v = value_of(a, "owner=")) != NULL && *v != '\0')
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
