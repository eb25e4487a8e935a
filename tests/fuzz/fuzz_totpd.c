/* totpd's request parser and router (totpd_route) on arbitrary requests,
 * against a real file store in a temp folder.  Input: one byte picks the
 * method, one the caller (an admin or a user) and the Accept header, then
 * the path with its query (filters in the API's query syntax, order_by,
 * max_records, next tokens) up to the first newline, then the body.
 * Whatever comes in, the answer is one of the API's: a known status and a
 * JSON body that is an error body exactly when the status says failure;
 * application/json has no HAL link but next; and a list's next link,
 * followed as given, answers 200 with none of the first page's records. */
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
	const char *dir = fuzz_scratch_dir("tp-fuzz-totpd");
	char path[256];
	struct passwd *pw = getpwuid(geteuid());
	FILE *f;
	char *err = NULL;

	FUZZ_ASSERT(pw != NULL);
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
	       s == 409 || s == 500 || s == 503;
}

/* Only the collection's next link may be left in application/json. */
static bool links_only_next(const json_t *j, bool top)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach((json_t *)j, i, v)
			if (!links_only_next(v, false))
				return false;
		return true;
	}
	if (!json_is_object(j))
		return true;
	json_object_foreach((json_t *)j, key, v) {
		if (strcmp(key, "_links") == 0) {
			if (!top || json_object_size(v) != 1 || json_object_get(v, "next") == NULL)
				return false;
		} else if (!links_only_next(v, false)) {
			return false;
		}
	}
	return true;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
	     : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %XX in place, as libmicrohttpd hands the router its query values */
static void url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && unhex(s[1]) >= 0 && unhex(s[2]) >= 0) {
			*o++ = (char)(unhex(s[1]) << 4 | unhex(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* path?k=v&k=v into rq (the strings point into text) */
static void split_query(char *text, struct totpd_request *rq, struct totpd_param *query)
{
	char *qs = strchr(text, '?'), *tok, *save = NULL;

	rq->path = text;
	rq->query = query;
	if (qs == NULL)
		return;
	*qs++ = '\0';
	for (tok = strtok_r(qs, "&", &save); tok != NULL; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (rq->n_query == TOTPD_QUERY_MAX) {
			rq->query_overflow = true;
			break;
		}
		if (eq != NULL)
			*eq++ = '\0';
		query[rq->n_query].key = tok;
		query[rq->n_query].value = eq;
		rq->n_query++;
	}
}

/* The next page of a list, by its link as given: 200, and none of the
 * first page's records again. */
static void follow_next(const struct ctl_caller *caller, const json_t *first,
			const char *href, const char *accept)
{
	struct totpd_param query[TOTPD_QUERY_MAX];
	struct totpd_request rq;
	struct totpd_response out;
	char *copy = strdup(href);
	json_t *body, *rec;
	size_t i;

	FUZZ_ASSERT(copy != NULL);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.accept = accept;
	split_query(copy, &rq, query);
	for (size_t k = 0; k < rq.n_query; k++)
		if (query[k].value != NULL)
			url_decode((char *)query[k].value);
	totpd_route(cfg, caller, &rq, &out);
	FUZZ_ASSERT(out.status == 200 && out.text != NULL);
	body = json_loads(out.text, 0, NULL);
	FUZZ_ASSERT(json_is_object(body));
	json_array_foreach(json_object_get(body, "records"), i, rec) {
		const json_t *a = json_object_get(rec, "account"), *o = json_object_get(rec, "owner");
		const json_t *r2;
		size_t j;
		json_array_foreach(json_object_get(first, "records"), j, r2)
			FUZZ_ASSERT(!json_equal(json_object_get(r2, "account"), (json_t *)a) ||
				    !json_equal(json_object_get(r2, "owner"), (json_t *)o));
	}
	json_decref(body);
	tp_free_str(out.text);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "PUT",
					       "HEAD", "OPTIONS" };
	static const char *const accepts[] = { NULL, "application/json",
					       "application/hal+json", "*/*" };
	struct totpd_param query[TOTPD_QUERY_MAX];
	struct totpd_request rq;
	struct totpd_response out;
	struct ctl_caller caller;
	char *text, *nl;
	json_t *body, *next;

	if (cfg == NULL)
		setup();
	if (size < 2)
		return 0;
	memset(&rq, 0, sizeof(rq));
	memset(&caller, 0, sizeof(caller));
	rq.method = methods[data[0] % 7];
	caller.admin = data[1] & 1;
	caller.uid = caller.admin ? 0 : 2;
	strcpy(caller.name, caller.admin ? "root" : "bin");
	rq.accept = accepts[(data[1] >> 1) & 3];
	text = fuzz_string(data + 2, size - 2);
	nl = strchr(text, '\n');
	if (nl != NULL) {
		*nl = '\0';
		rq.body = nl + 1;
		rq.body_len = size - 2 - (size_t)(nl + 1 - text);
	}
	split_query(text, &rq, query);
	rq.body_too_large = rq.body_len > TOTPD_BODY_MAX;

	totpd_route(cfg, &caller, &rq, &out);
	FUZZ_ASSERT(known_status(out.status));
	FUZZ_ASSERT(out.text != NULL);
	body = json_loads(out.text, 0, NULL);
	FUZZ_ASSERT(json_is_object(body));
	FUZZ_ASSERT((json_object_get(body, "error") != NULL) == (out.status >= 400));
	if (out.status >= 400)
		FUZZ_ASSERT(json_is_string(json_object_get(json_object_get(body, "error"), "code")));
	if (out.plain_json)
		FUZZ_ASSERT(links_only_next(body, true));
	/* Allow: on a 405, and on OPTIONS of a path that exists */
	FUZZ_ASSERT((out.allow != NULL) == (out.status == 405 ||
					    (strcmp(rq.method, "OPTIONS") == 0 &&
					     out.status == 200)));
	next = json_object_get(json_object_get(json_object_get(body, "_links"), "next"), "href");
	if (out.status == 200 && json_is_string(next))
		follow_next(&caller, body, json_string_value(next), rq.accept);
	json_decref(body);
	tp_free_str(out.text);
	free(text);
	return 0;
}
