/* Test helper for tests/integration/races.sh: one login through libpam,
 * like `pamtester -v SERVICE USER authenticate`, but with the service
 * files read from CONFDIR by libpam itself (pam_start_confdir) instead of
 * pam_wrapper, whose per-process copy of them lives in one of 36 shared
 * /tmp/pam.X folders: under load two logins pick the same folder and read
 * each other's half-copied files.
 *
 *   tp_pamrun CONFDIR SERVICE USER     answers to prompts on stdin, one a
 *                                      line; exit 0 if authenticated
 *
 * Output: "tp_pamrun: successfully authenticated" or
 * "tp_pamrun: <pam_strerror>", and every message the module shows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <security/pam_appl.h>

static int converse(int n, const struct pam_message **msg,
		    struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		char line[1024];
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			fputs(msg[i]->msg, stdout);
			if (fgets(line, sizeof(line), stdin) == NULL)
				goto fail;
			line[strcspn(line, "\n")] = '\0';
			if ((r[i].resp = strdup(line)) == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			printf("%s\n", msg[i]->msg);
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

int main(int argc, char **argv)
{
	struct pam_conv conv = { converse, NULL };
	pam_handle_t *pamh = NULL;
	int rv;

	if (argc != 4) {
		fprintf(stderr, "usage: tp_pamrun CONFDIR SERVICE USER\n");
		return 2;
	}
	rv = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
	if (rv != PAM_SUCCESS) {
		printf("tp_pamrun: pam_start: %s\n", pam_strerror(pamh, rv));
		return 2;
	}
	rv = pam_authenticate(pamh, 0);
	if (rv == PAM_SUCCESS)
		printf("tp_pamrun: successfully authenticated\n");
	else
		printf("tp_pamrun: %s\n", pam_strerror(pamh, rv));
	pam_end(pamh, rv);
	return rv == PAM_SUCCESS ? 0 : 1;
}
