#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"

static const struct { const char *name; unsigned mask; } field_names[] = {
	{ "owner", TP_F_OWNER_NAME | TP_F_OWNER_UUID },
	{ "owner.name", TP_F_OWNER_NAME },
	{ "owner.uuid", TP_F_OWNER_UUID },
	{ "account", TP_F_ACCOUNT },
	{ "account.name", TP_F_ACCOUNT },
	{ "account._links", TP_F_ACCOUNT },
	{ "comment", TP_F_COMMENT },
	{ "enabled", TP_F_ENABLED },
	{ "scope", TP_F_SCOPE },
	{ "sha_fingerprint", TP_F_FINGERPRINT },
	{ "_links", TP_F_LINKS },
	{ "*", TP_F_ALL },
};

enum tp_status tp_fields_parse(const char *list, unsigned *mask, const char **bad)
{
	return tp_fields_parse_named(list, mask, NULL, bad);
}

enum tp_status tp_fields_parse_named(const char *list, unsigned *mask,
				     unsigned *named, const char **bad)
{
	static char badname[64];
	char *copy = strdup(list), *save = NULL;
	unsigned m = 0;

	if (copy == NULL)
		return TP_ENOMEM;
	for (char *f = strtok_r(copy, ",", &save); f != NULL;
	     f = strtok_r(NULL, ",", &save)) {
		bool known = false;
		for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
			if (strcmp(f, field_names[i].name) == 0) {
				m |= field_names[i].mask;
				known = true;
			}
		}
		if (!known) {
			snprintf(badname, sizeof(badname), "%s", f);
			*bad = badname;
			free(copy);
			return TP_EINVAL;
		}
	}
	free(copy);
	*mask = m | TP_F_KEYS;
	if (named != NULL)
		*named = m;
	return TP_OK;
}

char *tp_profile_href(const char *owner_uuid, const char *account)
{
	char *s = NULL;
	if (asprintf(&s, "/api/security/login/totps/%s/%s", owner_uuid, account) < 0)
		return NULL;
	return s;
}

static json_t *self_link(const char *href)
{
	return json_pack("{s:{s:s}}", "self", "href", href);
}

json_t *tp_json_profile(const struct tp_profile *p, const struct tp_owner *owner,
			unsigned fields)
{
	json_t *rec = json_object();
	char *href = NULL, fp[TP_FINGERPRINT_HEX + 1];

	if (rec == NULL)
		return NULL;
	if (fields & (TP_F_OWNER_NAME | TP_F_OWNER_UUID)) {
		json_t *o = json_object();
		char svm_href[80];
		if (fields & TP_F_OWNER_UUID)
			json_object_set_new(o, "uuid", json_string(p->owner_uuid));
		if (fields & TP_F_OWNER_NAME)
			json_object_set_new(o, "name", json_string(owner ? owner->name : ""));
		snprintf(svm_href, sizeof(svm_href), "/api/svm/svms/%s", p->owner_uuid);
		json_object_set_new(o, "_links", self_link(svm_href));
		json_object_set_new(rec, "owner", o);
	}
	if (fields & TP_F_ACCOUNT) {
		/* the API's account reference: name and its own link */
		char *acct_href = NULL;
		if (asprintf(&acct_href, "/api/security/accounts/%s/%s", p->owner_uuid,
			     p->account) < 0) {
			json_decref(rec);
			return NULL;
		}
		json_object_set_new(rec, "account",
				    json_pack("{s:s,s:o}", "name", p->account,
					      "_links", self_link(acct_href)));
		free(acct_href);
	}
	if (fields & TP_F_COMMENT)
		json_object_set_new(rec, "comment", json_string(p->comment));
	if (fields & TP_F_ENABLED)
		json_object_set_new(rec, "enabled", json_boolean(p->enabled));
	if (fields & TP_F_SCOPE)
		json_object_set_new(rec, "scope", json_string(
			owner && owner->scope == TP_SCOPE_SVM ? "svm" : "cluster"));
	if ((fields & TP_F_FINGERPRINT) && tp_profile_fingerprint(p, fp) == TP_OK)
		json_object_set_new(rec, "sha_fingerprint", json_string(fp));
	if (fields & TP_F_LINKS) {
		href = tp_profile_href(p->owner_uuid, p->account);
		if (href == NULL) {
			json_decref(rec);
			return NULL;
		}
		json_object_set_new(rec, "_links", self_link(href));
		free(href);
	}
	return rec;
}

json_t *tp_json_error(enum tp_api_error e, const char *target, const char *detail)
{
	json_t *err = json_pack("{s:s,s:s}", "code", tp_api_error_code(e),
				"message", tp_api_error_message(e));
	if (err == NULL)
		return NULL;
	if (target != NULL)
		json_object_set_new(err, "target", json_string(target));
	if (detail != NULL)
		json_object_set_new(err, "arguments",
				    json_pack("[{s:s,s:s}]", "code", tp_api_error_code(e),
					      "message", detail));
	return json_pack("{s:o}", "error", err);
}

static void drop_links(json_t *j, bool top)
{
	const char *key;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			drop_links(v, false);
		return;
	}
	if (!json_is_object(j))
		return;
	json_object_foreach_safe(j, tmp, key, v) {
		if (strcmp(key, "_links") != 0) {
			drop_links(v, false);
			continue;
		}
		json_t *next = top ? json_object_get(v, "next") : NULL;
		if (next != NULL && json_object_size(v) > 1) {
			json_incref(next);
			json_object_clear(v);
			(void)json_object_set_new(v, "next", next);
		} else if (next == NULL) {
			(void)json_object_del(j, key);
		}
	}
}

void tp_json_drop_links(json_t *j)
{
	drop_links(j, true);
}
