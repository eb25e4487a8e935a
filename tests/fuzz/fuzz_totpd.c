/* totpd's request parser and router (totpd_route) on arbitrary requests,
 * against a real file store in a temp folder.  Input: one byte picks the
 * method, one the caller (an admin or a user), then the path with its
 * query up to the first newline, then the body.  Whatever comes in, the
 * answer is one of the API's: a known status and a JSON body that is an
 * error body exactly when the status says failure. */
#include <pwd.h>
#include <sys/stat.h>
#include <jansson.h>

#include "fuzz.h"
#include "config.h"
#include "secret.h"
#include "totpd.h"

static struct tp_config *cfg;

static void setup(void)
{
	static char dir[] = "/tmp/fuzz_totpd.XXXXXX";
	char path[256];
	struct passwd *pw = getpwuid(geteuid());
	FILE *f;
	char *err = NULL;

	FUZZ_ASSERT(pw != NULL && mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/store", dir);
	FUZZ_ASSERT(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/totp_profile.conf", dir);
	f = fopen(path, "w");
	FUZZ_ASSERT(f != NULL);
	fprintf(f, "store = { path = \"%s/store\"; user = \"%s\"; };\n"
		"admin_group = \"root\";\nissuer = \"fuzz\";\n"
		"cluster = { name = \"cluster1\"; uuid = \"11111111-2222-4333-8444-555555555555\";"
		" totp_accounts = [ \"root\", \"bin\" ]; };\n"
		"svms = ( { name = \"vs0\"; uuid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\";"
		" members = [ \"bin\" ]; totp_accounts = [ \"bin\" ]; } );\n",
		dir, pw->pw_name);
	FUZZ_ASSERT(fclose(f) == 0);
	FUZZ_ASSERT(tp_config_load(path, &cfg, &err) == TP_OK);
}

static bool known_status(unsigned s)
{
	return s == 200 || s == 201 || s == 400 || s == 403 || s == 404 || s == 405 ||
	       s == 409 || s == 500;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD" };
	struct totpd_param query[TOTPD_QUERY_MAX];
	struct totpd_request rq;
	struct totpd_response out;
	struct ctl_caller caller;
	char *text, *nl, *qs, *tok, *save = NULL;
	json_t *body;

	if (cfg == NULL)
		setup();
	if (size < 2)
		return 0;
	memset(&rq, 0, sizeof(rq));
	memset(&caller, 0, sizeof(caller));
	rq.method = methods[data[0] % 6];
	caller.admin = data[1] & 1;
	caller.uid = caller.admin ? 0 : 2;
	strcpy(caller.name, caller.admin ? "root" : "bin");
	text = fuzz_string(data + 2, size - 2);
	nl = strchr(text, '\n');
	if (nl != NULL) {
		*nl = '\0';
		rq.body = nl + 1;
		rq.body_len = size - 2 - (size_t)(nl + 1 - text);
	}
	qs = strchr(text, '?');
	if (qs != NULL) {
		*qs++ = '\0';
		for (tok = strtok_r(qs, "&", &save); tok != NULL; tok = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(tok, '=');
			if (rq.n_query == TOTPD_QUERY_MAX) {
				rq.query_overflow = true;
				break;
			}
			if (eq != NULL)
				*eq++ = '\0';
			query[rq.n_query].key = tok;
			query[rq.n_query].value = eq;
			rq.n_query++;
		}
	}
	rq.path = text;
	rq.query = query;
	rq.body_too_large = rq.body_len > TOTPD_BODY_MAX;

	totpd_route(cfg, &caller, &rq, &out);
	FUZZ_ASSERT(known_status(out.status));
	FUZZ_ASSERT(out.text != NULL);
	body = json_loads(out.text, 0, NULL);
	FUZZ_ASSERT(json_is_object(body));
	FUZZ_ASSERT((json_object_get(body, "error") != NULL) == (out.status >= 400));
	if (out.status >= 400)
		FUZZ_ASSERT(json_is_string(json_object_get(json_object_get(body, "error"), "code")));
	json_decref(body);
	tp_free_str(out.text);
	free(text);
	return 0;
}
