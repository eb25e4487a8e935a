/* The collection's query syntax: filters with the API's operators,
 * order_by on several fields, and the next-page token.  See api_query.h. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "api_query.h"

static const char *const field_names[TP_Q_FIELDS] = {
	[TP_Q_ACCOUNT]     = "account.name",
	[TP_Q_OWNER_NAME]  = "owner.name",
	[TP_Q_OWNER_UUID]  = "owner.uuid",
	[TP_Q_COMMENT]     = "comment",
	[TP_Q_ENABLED]     = "enabled",
	[TP_Q_SCOPE]       = "scope",
	[TP_Q_FINGERPRINT] = "sha_fingerprint",
};

int tp_query_field(const char *name)
{
	for (int i = 0; i < TP_Q_FIELDS; i++)
		if (strcmp(field_names[i], name) == 0)
			return i;
	return -1;
}

const char *tp_query_field_name(enum tp_qfield f)
{
	return field_names[f];
}

/* One alternative of a filter: its operator and its operand. */
enum op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_NULL, OP_NOT_NULL };

static enum op split_op(const char *alt, size_t len, const char **operand, size_t *olen)
{
	static const struct { const char *text; enum op op; } ops[] = {
		{ "<=", OP_LE }, { ">=", OP_GE }, { "<", OP_LT }, { ">", OP_GT },
		{ "!", OP_NE },
	};

	if (len == 4 && strncmp(alt, "null", 4) == 0)
		return OP_NULL;
	if (len == 5 && strncmp(alt, "!null", 5) == 0)
		return OP_NOT_NULL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (len >= n && strncmp(alt, ops[i].text, n) == 0) {
			*operand = alt + n;
			*olen = len - n;
			return ops[i].op;
		}
	}
	*operand = alt;
	*olen = len;
	return OP_EQ;
}

/* A boolean operand, lower-cased into buf ("true"/"false"), or NULL. */
static const char *boolean(const char *s, size_t len, char buf[6])
{
	if (len == 4 && strncasecmp(s, "true", 4) == 0)
		return strcpy(buf, "true");
	if (len == 5 && strncasecmp(s, "false", 5) == 0)
		return strcpy(buf, "false");
	return NULL;
}

const char *tp_query_filter_problem(enum tp_qfield f, const char *expr)
{
	const char *alt = expr;

	if (expr[0] == '\0')
		return "an empty filter (use null for an empty value)";
	for (;;) {
		size_t len = strcspn(alt, "|"), olen = 0;
		const char *operand = NULL;
		char b[6];
		enum op op = split_op(alt, len, &operand, &olen);

		if (len == 0)
			return "an empty alternative between '|'";
		if (op != OP_NULL && op != OP_NOT_NULL) {
			if (olen == 0)
				return "an operator without a value";
			bool wild = memchr(operand, '*', olen) != NULL;
			if (f == TP_Q_ENABLED && !wild && boolean(operand, olen, b) == NULL)
				return "enabled is a boolean: true or false";
			if (f == TP_Q_SCOPE && !wild && (op == OP_EQ || op == OP_NE) &&
			    !(olen == 7 && strncmp(operand, "cluster", 7) == 0) &&
			    !(olen == 3 && strncmp(operand, "svm", 3) == 0))
				return "scope is cluster or svm";
		}
		if (alt[len] == '\0')
			return NULL;
		alt += len + 1;
	}
}

static bool match_one(enum tp_qfield f, const char *alt, size_t len, const char *value)
{
	const char *operand = NULL;
	size_t olen = 0;
	enum op op = split_op(alt, len, &operand, &olen);
	char pat[TP_QUERY_TOKEN_MAX], b[6];
	int c;

	if (op == OP_NULL)
		return value[0] == '\0';
	if (op == OP_NOT_NULL)
		return value[0] != '\0';
	if (olen >= sizeof(pat))
		return false;
	memcpy(pat, operand, olen);
	pat[olen] = '\0';
	if (f == TP_Q_ENABLED && boolean(pat, olen, b) != NULL)
		strcpy(pat, b);
	switch (op) {
	case OP_EQ: return fnmatch(pat, value, 0) == 0;
	case OP_NE: return fnmatch(pat, value, 0) != 0;
	default:    break;
	}
	c = strcmp(value, pat);
	switch (op) {
	case OP_LT: return c < 0;
	case OP_GT: return c > 0;
	case OP_LE: return c <= 0;
	case OP_GE: return c >= 0;
	default:    return false;
	}
}

bool tp_query_match(enum tp_qfield f, const char *expr, const char *value)
{
	const char *alt = expr;

	for (;;) {
		size_t len = strcspn(alt, "|");
		if (match_one(f, alt, len, value))
			return true;
		if (alt[len] == '\0')
			return false;
		alt += len + 1;
	}
}

const char *tp_query_order_parse(const char *s, struct tp_query *q)
{
	const char *p = s;

	q->n_order = 0;
	for (;;) {
		size_t len = strcspn(p, ","), n;
		char item[64], *dir;
		int f;

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		if (len == 0 || len >= sizeof(item))
			return "an empty or overlong item";
		memcpy(item, p, len);
		item[len] = '\0';
		while (len > 0 && item[len - 1] == ' ')
			item[--len] = '\0';
		n = strcspn(item, " ");
		dir = item + n + strspn(item + n, " ");
		item[n] = '\0';
		f = tp_query_field(item);
		if (f < 0)
			return "an unknown field";
		for (size_t i = 0; i < q->n_order; i++)
			if ((int)q->order[i].field == f)
				return "a field named twice";
		if (q->n_order >= TP_Q_FIELDS)
			return "too many fields";
		q->order[q->n_order].field = (enum tp_qfield)f;
		if (*dir == '\0' || strcmp(dir, "asc") == 0)
			q->order[q->n_order].desc = false;
		else if (strcmp(dir, "desc") == 0)
			q->order[q->n_order].desc = true;
		else
			return "a direction other than asc or desc";
		q->n_order++;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return NULL;
}

static bool uses(const struct tp_query *q, enum tp_qfield f)
{
	if (q->filter[f] != NULL)
		return true;
	for (size_t i = 0; i < q->n_order; i++)
		if (q->order[i].field == f)
			return true;
	return false;
}

bool tp_query_values(const struct tp_query *q, const struct tp_profile *p,
		     const struct tp_owner *owner, struct tp_qvalues *out)
{
	out->v[TP_Q_ACCOUNT] = p->account;
	out->v[TP_Q_OWNER_NAME] = owner != NULL ? owner->name : "";
	out->v[TP_Q_OWNER_UUID] = p->owner_uuid;
	out->v[TP_Q_COMMENT] = p->comment;
	out->v[TP_Q_ENABLED] = p->enabled ? "true" : "false";
	out->v[TP_Q_SCOPE] = owner != NULL && owner->scope == TP_SCOPE_SVM ? "svm" : "cluster";
	out->fingerprint[0] = '\0';
	out->v[TP_Q_FINGERPRINT] = out->fingerprint;
	if (uses(q, TP_Q_FINGERPRINT) && tp_profile_fingerprint(p, out->fingerprint) != TP_OK)
		return false;
	return true;
}

bool tp_query_accepts(const struct tp_query *q, const struct tp_qvalues *vals)
{
	for (int f = 0; f < TP_Q_FIELDS; f++)
		if (q->filter[f] != NULL && !tp_query_match((enum tp_qfield)f, q->filter[f],
							    vals->v[f]))
			return false;
	return true;
}

int tp_query_cmp(const struct tp_query *q, char *const *a, char *const *b)
{
	for (size_t i = 0; i < q->n_order + 2; i++) {
		int c = strcmp(a[i], b[i]);
		if (c != 0)
			return i < q->n_order && q->order[i].desc ? -c : c;
	}
	return 0;
}

char **tp_query_key(const struct tp_query *q, const struct tp_qvalues *vals)
{
	size_t n = q->n_order + 2;
	char **key = calloc(n, sizeof(*key));

	if (key == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *v = i < q->n_order ? vals->v[q->order[i].field]
			      : vals->v[i == q->n_order ? TP_Q_OWNER_UUID : TP_Q_ACCOUNT];
		key[i] = strdup(v);
		if (key[i] == NULL) {
			tp_query_key_free(q, key);
			return NULL;
		}
	}
	return key;
}

void tp_query_key_free(const struct tp_query *q, char **key)
{
	if (key == NULL)
		return;
	for (size_t i = 0; i < q->n_order + 2; i++)
		free(key[i]);
	free(key);
}

/* "account.name asc,enabled desc": what a token was made for. */
static void order_text(const struct tp_query *q, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < q->n_order && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s %s", i ? "," : "",
				 field_names[q->order[i].field], q->order[i].desc ? "desc" : "asc");
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

char *tp_query_token(const struct tp_query *q, char *const *key)
{
	static const char hex[] = "0123456789abcdef";
	char order[256], *text, *out = NULL;
	json_t *k = json_array(), *j = NULL;
	size_t n;

	if (k == NULL)
		return NULL;
	for (size_t i = 0; i < q->n_order + 2; i++)
		if (json_array_append_new(k, json_string(key[i])) != 0)
			goto out;
	order_text(q, order, sizeof(order));
	j = json_pack("{s:s,s:O}", "o", order, "k", k);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text == NULL)
		goto out;
	n = strlen(text);
	if (2 * n < TP_QUERY_TOKEN_MAX && (out = malloc(2 * n + 1)) != NULL) {
		for (size_t i = 0; i < n; i++) {
			out[2 * i] = hex[(unsigned char)text[i] >> 4];
			out[2 * i + 1] = hex[(unsigned char)text[i] & 15u];
		}
		out[2 * n] = '\0';
	}
	free(text);
out:
	json_decref(k);
	json_decref(j);
	return out;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool tp_query_set_after(struct tp_query *q, const char *token)
{
	size_t n = strlen(token), m = n / 2;
	char order[256], *text = NULL;
	json_t *j = NULL, *k;
	bool ok = false;

	if (n == 0 || n % 2 != 0 || n >= TP_QUERY_TOKEN_MAX || (text = malloc(m + 1)) == NULL)
		goto out;
	for (size_t i = 0; i < m; i++) {
		int hi = unhex(token[2 * i]), lo = unhex(token[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto out;
		text[i] = (char)(hi << 4 | lo);
	}
	text[m] = '\0';
	j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	k = json_object_get(j, "k");
	order_text(q, order, sizeof(order));
	if (!json_is_string(json_object_get(j, "o")) ||
	    strcmp(json_string_value(json_object_get(j, "o")), order) != 0 ||
	    !json_is_array(k) || json_array_size(k) != q->n_order + 2 || json_object_size(j) != 2)
		goto out;
	for (size_t i = 0; i < q->n_order + 2; i++) {
		if (!json_is_string(json_array_get(k, i)))
			goto out;
		q->after[i] = strdup(json_string_value(json_array_get(k, i)));
		if (q->after[i] == NULL)
			goto out;
	}
	q->have_after = true;
	ok = true;
out:
	if (!ok)
		for (size_t i = 0; i < TP_Q_FIELDS + 2; i++) {
			free(q->after[i]);
			q->after[i] = NULL;
		}
	json_decref(j);
	free(text);
	return ok;
}

void tp_query_free(struct tp_query *q)
{
	for (size_t i = 0; i < TP_Q_FIELDS + 2; i++) {
		free(q->after[i]);
		q->after[i] = NULL;
	}
	q->have_after = false;
}
