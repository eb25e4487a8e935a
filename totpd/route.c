/* The request parser and router: which verb a method and path name, what
 * the query and the JSON body ask for, checked strictly (an unknown or
 * read-only field is the API's error 2), then the library's verb, and its
 * result as an HTTP status and the body totpctl --json prints.
 *
 * Nothing here reads the socket or knows the caller's credentials: the
 * caller comes in from http.c (SO_PEERCRED) and the fuzzer. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "api_json.h"
#include "names.h"
#include "secret.h"
#include "totpd.h"

#define COLLECTION "/api/security/login/totps"

unsigned totpd_status(enum tp_api_error e)
{
	switch (e) {
	case TP_API_DUPLICATE:           return 409;
	case TP_API_INVALID:             return 400;
	case TP_API_NOT_SUPPORTED:       return 405;
	case TP_API_NO_ENTRY:            return 404;
	case TP_API_PERMISSION:          return 403;
	case TP_API_TOTP_NOT_CONFIGURED: return 400;
	case TP_API_ENABLED_ADMIN_ONLY:  return 403;
	case TP_API_ENABLED_INVALID:     return 400;
	case TP_API_NOTHING_TO_MODIFY:   return 404;
	case TP_API_INTERNAL:
	case TP_API_ERROR_COUNT:
		break;
	}
	return 500;
}

bool totpd_caller(const struct tp_config *cfg, uid_t uid, struct ctl_caller *caller)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	memset(caller, 0, sizeof(*caller));
	caller->uid = uid;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL ||
	    strlen(pw.pw_name) > TP_NAME_MAX)
		return false;
	memcpy(caller->name, pw.pw_name, strlen(pw.pw_name) + 1);
	caller->admin = tp_config_is_admin(cfg, uid);
	return true;
}

/* What the router keeps while a request is decoded: the JSON body (the
 * request's strings point into it) and enabled's text when it is not a
 * string (so that the verb can refuse it with 144834565). */
struct decoded {
	json_t *body;
	char enabled_text[64];
	char owner_path[TP_UUID_LEN + TP_NAME_MAX + 2];
	char account_path[TP_NAME_MAX + 2];
};

static const char *const read_only[] = {
	"secret_key", "sha_fingerprint", "scope", "install_url",
	"verification_code", "emergency_codes", NULL,
};

static bool is_read_only(const char *key)
{
	for (const char *const *k = read_only; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

/* A string field of the body; *out stays NULL when absent. */
static bool body_string(const json_t *v, const char *name, const char **out,
			struct ctl_result *r)
{
	if (!json_is_string(v)) {
		ctl_fail(r, TP_API_INVALID, name, "'%s' must be a string", name);
		return false;
	}
	if (*out != NULL && strcmp(*out, json_string_value(v)) != 0) {
		ctl_fail(r, TP_API_INVALID, name, "'%s' is given twice, with two values",
			 name);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* "owner": {"name", "uuid", "_links"}, "account": {"name", "_links"} */
static bool body_object(const json_t *v, const char *obj, const char **name,
			const char **uuid, struct ctl_result *r)
{
	const char *key;
	const json_t *m;
	char full[64];

	if (!json_is_object(v)) {
		ctl_fail(r, TP_API_INVALID, obj, "'%s' must be an object", obj);
		return false;
	}
	json_object_foreach((json_t *)v, key, m) {
		snprintf(full, sizeof(full), "%s.%s", obj, key);
		if (strcmp(key, "name") == 0) {
			if (!body_string(m, obj[0] == 'o' ? "owner.name" : "account.name",
					 name, r))
				return false;
		} else if (uuid != NULL && strcmp(key, "uuid") == 0) {
			if (!body_string(m, "owner.uuid", uuid, r))
				return false;
		} else if (strcmp(key, "_links") != 0) {
			ctl_fail(r, TP_API_INVALID, obj, "unknown field '%s.%s'", obj, key);
			return false;
		}
	}
	return true;
}

/* owner.name and owner.uuid may both be given: they must name one owner. */
static bool one_owner(const struct tp_config *cfg, const char *name, const char *uuid,
		      const char **out, struct ctl_result *r)
{
	*out = name != NULL ? name : uuid;
	if (name == NULL || uuid == NULL)
		return true;
	const struct tp_owner *a = tp_config_owner(cfg, name), *b = tp_config_owner(cfg, uuid);
	if (a != NULL && a == b)
		return true;
	ctl_fail(r, TP_API_INVALID, "owner.uuid",
		 "owner.name and owner.uuid name different owners");
	return false;
}

/* The JSON body of POST (create) and PATCH (modify). */
static bool parse_body(const struct tp_config *cfg, const struct totpd_request *rq,
		       struct ctl_request *req, struct decoded *d, struct ctl_result *r)
{
	const char *owner_name = NULL, *owner_uuid = NULL, *account = NULL;
	const char *key;
	json_t *v;
	json_error_t jerr;

	if (rq->body_too_large) {
		ctl_fail(r, TP_API_INVALID, "body", "the request body is larger than %u bytes",
			 TOTPD_BODY_MAX);
		return false;
	}
	if (rq->body_len == 0) {
		ctl_fail(r, TP_API_INVALID, "body", "a JSON object is expected");
		return false;
	}
	d->body = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (d->body == NULL) {
		ctl_fail(r, TP_API_INVALID, "body", "malformed JSON at line %d, column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		return false;
	}
	if (!json_is_object(d->body)) {
		ctl_fail(r, TP_API_INVALID, "body", "a JSON object is expected");
		return false;
	}
	json_object_foreach(d->body, key, v) {
		if (is_read_only(key)) {
			ctl_fail(r, TP_API_INVALID, key, "'%s' is read-only", key);
			return false;
		}
		if (strcmp(key, "owner") == 0) {
			if (!body_object(v, "owner", &owner_name, &owner_uuid, r))
				return false;
		} else if (strcmp(key, "owner.name") == 0) {
			if (!body_string(v, key, &owner_name, r))
				return false;
		} else if (strcmp(key, "owner.uuid") == 0) {
			if (!body_string(v, key, &owner_uuid, r))
				return false;
		} else if (strcmp(key, "account") == 0) {
			if (!body_object(v, "account", &account, NULL, r))
				return false;
		} else if (strcmp(key, "account.name") == 0) {
			if (!body_string(v, key, &account, r))
				return false;
		} else if (strcmp(key, "comment") == 0) {
			if (!body_string(v, key, &req->comment, r))
				return false;
		} else if (strcmp(key, "enabled") == 0) {
			/* any value reaches the verb: a non-boolean is 144834565 */
			if (json_is_boolean(v)) {
				req->enabled = json_is_true(v) ? "true" : "false";
			} else {
				char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				snprintf(d->enabled_text, sizeof(d->enabled_text), "%s",
					 s ? s : "?");
				free(s);
				req->enabled = d->enabled_text;
			}
		} else if (strcmp(key, "_links") != 0) {
			ctl_fail(r, TP_API_INVALID, key, "unknown field '%s'", key);
			return false;
		}
	}
	if (!one_owner(cfg, owner_name, owner_uuid, &owner_name, r))
		return false;
	if (req->verb == CTL_CREATE) {
		req->owner = owner_name;
		req->account = account;
		return true;
	}
	/* modify: the path names the profile; owner and account cannot change */
	if (owner_name != NULL &&
	    (tp_config_owner(cfg, owner_name) == NULL ||
	     tp_config_owner(cfg, owner_name) != tp_config_owner(cfg, req->owner))) {
		ctl_fail(r, TP_API_INVALID, "owner.uuid", "the owner cannot be changed");
		return false;
	}
	if (account != NULL && strcmp(account, req->account) != 0) {
		ctl_fail(r, TP_API_INVALID, "account.name", "the account cannot be changed");
		return false;
	}
	return true;
}

/* An owner filter that uses the query syntax (operators, wildcards,
 * alternatives, null) filters the list; a plain value names one owner,
 * which must exist (and the store lists that owner's profiles only). */
static bool query_syntax(const char *v)
{
	return v[strcspn(v, "|!<>*")] != '\0' || strcmp(v, "null") == 0;
}

/* Query parameters: each verb takes its own; return_timeout is accepted
 * and has nothing to wait for. */
static bool parse_query(const struct tp_config *cfg, const struct totpd_request *rq,
			struct ctl_request *req, struct ctl_result *r)
{
	const char *owner_name = NULL, *owner_uuid = NULL;

	if (rq->query_overflow) {
		ctl_fail(r, TP_API_INVALID, NULL, "more than %d query parameters",
			 TOTPD_QUERY_MAX);
		return false;
	}
	for (size_t i = 0; i < rq->n_query; i++) {
		const char *k = rq->query[i].key, *v = rq->query[i].value;
		const char **slot = NULL;

		if (v == NULL)
			v = "";
		for (size_t j = 0; j < i; j++)
			if (strcmp(rq->query[j].key, k) == 0) {
				ctl_fail(r, TP_API_INVALID, k, "'%s' is given twice", k);
				return false;
			}
		if (strcmp(k, "return_timeout") == 0)
			continue;
		switch (req->verb) {
		case CTL_CREATE:
			if (strcmp(k, "return_records") == 0) {
				if (strcasecmp(v, "true") == 0)
					continue;
				/* the key and the codes are shown once, in this
				 * response: a create that returns nothing loses them */
				ctl_fail(r, TP_API_INVALID, k, "the new secret key and "
					 "emergency codes are shown only in the records: "
					 "return_records must be true");
				return false;
			}
			break;
		case CTL_SHOW:
			if (strcmp(k, "fields") == 0)
				slot = &req->fields;
			break;
		case CTL_LIST:
			if (strcmp(k, "fields") == 0)
				slot = &req->fields;
			else if (strcmp(k, "account.name") == 0)
				slot = &req->account;
			else if (strcmp(k, "owner.name") == 0)
				slot = query_syntax(v) ? &req->owner_filter : &owner_name;
			else if (strcmp(k, "owner.uuid") == 0)
				slot = query_syntax(v) ? &req->uuid_filter : &owner_uuid;
			else if (strcmp(k, "sha_fingerprint") == 0)
				slot = &req->fingerprint_filter;
			else if (strcmp(k, "next") == 0)
				slot = &req->next;
			else if (strcmp(k, "enabled") == 0)
				slot = &req->enabled;
			else if (strcmp(k, "scope") == 0)
				slot = &req->scope;
			else if (strcmp(k, "comment") == 0)
				slot = &req->comment;
			else if (strcmp(k, "order_by") == 0)
				slot = &req->order_by;
			else if (strcmp(k, "max_records") == 0) {
				char *end;
				errno = 0;
				unsigned long n = strtoul(v, &end, 10);
				if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 ||
				    n > 1000000000ul) {
					ctl_fail(r, TP_API_INVALID, k,
						 "'%s' is not a number of records", v);
					return false;
				}
				req->limit = true;
				req->max_records = n;
				continue;
			} else if (strcmp(k, "return_records") == 0) {
				/* booleans as clients send them: True, FALSE */
				if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) {
					req->no_records = v[0] == 'f' || v[0] == 'F';
					continue;
				}
				ctl_fail(r, TP_API_INVALID, k, "'%s' is not a boolean", v);
				return false;
			}
			break;
		case CTL_MODIFY:
		case CTL_DELETE:
		case CTL_MIGRATE:      /* not reachable over HTTP */
		case CTL_UNLOCK:
		case CTL_NONE:
			break;
		}
		if (slot == NULL) {
			ctl_fail(r, TP_API_INVALID, k, "unknown query parameter '%s'", k);
			return false;
		}
		*slot = v;
	}
	if (req->verb == CTL_LIST && !one_owner(cfg, owner_name, owner_uuid, &req->owner, r))
		return false;
	return true;
}

/* "/api/security/login/totps" -> 1, ".../{owner}/{account}" -> 2, else 0 */
static int parse_path(const char *path, struct decoded *d)
{
	size_t n = strlen(COLLECTION);
	const char *rest, *slash;

	if (strncmp(path, COLLECTION, n) != 0)
		return 0;
	if (path[n] == '\0')
		return 1;
	if (path[n] != '/')
		return 0;
	rest = path + n + 1;
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || slash[1] == '\0' || strchr(slash + 1, '/'))
		return 0;
	if ((size_t)(slash - rest) >= sizeof(d->owner_path) ||
	    strlen(slash + 1) >= sizeof(d->account_path))
		return 0;
	memcpy(d->owner_path, rest, (size_t)(slash - rest));
	d->owner_path[slash - rest] = '\0';
	memcpy(d->account_path, slash + 1, strlen(slash + 1) + 1);
	return 2;
}

static void respond(const struct ctl_result *r, unsigned ok_status,
		    struct totpd_response *out)
{
	json_t *body = ctl_result_json(r);

	/* a lock held elsewhere past api.lock_wait_ms: try again */
	out->status = !r->failed ? ok_status : r->busy ? 503 : totpd_status(r->err);
	if (body != NULL && out->plain_json)
		tp_json_drop_links(body);
	out->text = body ? ctl_body_text(body) : NULL;
	ctl_json_free(body);
}

/* Accept: application/json (and not hal+json) asks for the API's plain
 * JSON: no HAL links but the next page's. */
static bool wants_plain_json(const char *accept)
{
	return accept != NULL && strstr(accept, "application/json") != NULL &&
	       strstr(accept, "application/hal+json") == NULL;
}

static const char allow_collection[] = "GET, HEAD, POST, OPTIONS";
static const char allow_profile[] = "GET, HEAD, PATCH, DELETE, OPTIONS";

void totpd_route(const struct tp_config *cfg, const struct ctl_caller *caller,
		 const struct totpd_request *rq, struct totpd_response *out)
{
	struct ctl_request req = { .verb = CTL_NONE, .json = true };
	struct ctl_result r;
	struct decoded d;
	struct ctl_store_access direct = { NULL, NULL, NULL };   /* we are the store user */
	int kind = parse_path(rq->path, &d);
	unsigned ok = 200;

	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	out->plain_json = wants_plain_json(rq->accept);
	d.body = NULL;
	d.enabled_text[0] = '\0';
	if (kind == 0) {
		ctl_fail(&r, TP_API_NO_ENTRY, NULL, "no such resource; the API is %s "
			 "and %s/{owner.uuid}/{account.name}", COLLECTION, COLLECTION);
		goto out;
	}
	/* HEAD is GET without the body (libmicrohttpd leaves it out) */
	bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
	if (strcmp(rq->method, "OPTIONS") == 0) {
		out->allow = kind == 1 ? allow_collection : allow_profile;
		out->status = 200;
		out->text = ctl_body_text(r.body = json_object());
		goto done;
	}
	if (kind == 1 && strcmp(rq->method, "POST") == 0) {
		req.verb = CTL_CREATE;
		ok = 201;
	} else if (kind == 1 && get) {
		req.verb = CTL_LIST;
	} else if (kind == 2 && get) {
		req.verb = CTL_SHOW;
	} else if (kind == 2 && strcmp(rq->method, "PATCH") == 0) {
		req.verb = CTL_MODIFY;
	} else if (kind == 2 && strcmp(rq->method, "DELETE") == 0) {
		req.verb = CTL_DELETE;
	} else {
		/* the collection takes no query-based PATCH or DELETE: the
		 * file store has no transaction over several profiles, so
		 * one could not be all or nothing (docs/api.md) */
		out->allow = kind == 1 ? allow_collection : allow_profile;
		ctl_fail(&r, TP_API_NOT_SUPPORTED, NULL, "%s is not allowed here (%s)",
			 rq->method, out->allow);
		goto out;
	}
	if (kind == 2) {
		req.owner = d.owner_path;
		req.account = d.account_path;
	}
	if (!parse_query(cfg, rq, &req, &r))
		goto out;
	if (req.verb == CTL_CREATE || req.verb == CTL_MODIFY) {
		if (!parse_body(cfg, rq, &req, &d, &r))
			goto out;
	} else if (rq->body_len > 0 || rq->body_too_large) {
		ctl_fail(&r, TP_API_INVALID, "body", "%s takes no request body", rq->method);
		goto out;
	}
	if (caller->name[0] == '\0') {
		ctl_fail(&r, TP_API_PERMISSION, NULL, "uid %u has no (usable) user name",
			 (unsigned)caller->uid);
		goto out;
	}
	ctl_run(cfg, caller, &req, &direct, &r);
	/* a create that wrote its profile and then failed (building the
	 * body) answers with an error: the key is never shown, so the
	 * profile goes now, as totpctl takes it back */
	if (r.created.written && r.failed) {
		(void)ctl_undo_create(cfg, &direct, &r.created);
		r.created.written = false;
	}
	out->created = r.created;       /* taken back if the response is lost */
	if (ok == 201 && !r.failed && r.created.written) {
		char *href = tp_profile_href(r.created.owner_uuid, r.created.account);
		if (href != NULL)
			snprintf(out->location, sizeof(out->location), "%s", href);
		free(href);
	}
out:
	respond(&r, ok, out);
done:
	ctl_json_free(r.body);
	tp_profile_wipe(&r.created.old);
	json_decref(d.body);
}
