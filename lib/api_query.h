/* The API's query syntax for the collection (GET /api/security/login/totps),
 * applied in the library over a store's list, so that every store gets it:
 *
 *   filters   FIELD=EXPR on every field of a record.  EXPR is one or more
 *             alternatives joined by '|' (any may match); each is a value
 *             (with '*' wildcards), '!' and a value (not), '<', '>',
 *             '<=' or '>=' and a value (byte order; false < true), or
 *             null / !null (empty or not: only a comment can be empty).
 *             Booleans are case-insensitive.
 *   order_by  "FIELD [asc|desc],FIELD [asc|desc],...": then by owner.uuid
 *             and account.name, so the order is total.
 *   paging    max_records, and a next token: the sort key of the last
 *             record given.  The next page starts after that key, so a
 *             profile added or deleted between two pages neither shifts
 *             another onto both pages nor off both. */
#ifndef TP_API_QUERY_H
#define TP_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "profile.h"

enum tp_qfield {
	TP_Q_ACCOUNT = 0,
	TP_Q_OWNER_NAME,
	TP_Q_OWNER_UUID,
	TP_Q_COMMENT,
	TP_Q_ENABLED,
	TP_Q_SCOPE,
	TP_Q_FINGERPRINT,
	TP_Q_FIELDS
};

#define TP_QUERY_TOKEN_MAX 4096      /* bytes of a next token */

struct tp_order {
	enum tp_qfield field;
	bool desc;
};

struct tp_query {
	const char *filter[TP_Q_FIELDS];           /* NULL: no filter */
	struct tp_order order[TP_Q_FIELDS];
	size_t n_order;
	bool have_after;                           /* a next token was given */
	char *after[TP_Q_FIELDS + 2];              /* its key (malloc'd) */
};

/* A record's values, as filters and order_by see them. */
struct tp_qvalues {
	const char *v[TP_Q_FIELDS];                /* "" for an empty comment */
	char fingerprint[TP_FINGERPRINT_HEX + 1];
};

/* The field a query parameter names, or -1. */
int tp_query_field(const char *name);
const char *tp_query_field_name(enum tp_qfield f);

/* Check a filter's syntax and values; NULL if good, else why (static). */
const char *tp_query_filter_problem(enum tp_qfield f, const char *expr);
/* Does the value match the filter? */
bool tp_query_match(enum tp_qfield f, const char *expr, const char *value);

/* Parse order_by; NULL if good, else why (static). */
const char *tp_query_order_parse(const char *s, struct tp_query *q);

/* A record's values (the fingerprint computed only if a filter or the
 * order uses it).  false: it could not be computed. */
bool tp_query_values(const struct tp_query *q, const struct tp_profile *p,
		     const struct tp_owner *owner, struct tp_qvalues *out);
/* Does the record pass every filter? */
bool tp_query_accepts(const struct tp_query *q, const struct tp_qvalues *vals);

/* Order two records' sort keys (n_order values then uuid and account). */
int tp_query_cmp(const struct tp_query *q, char *const *a, char *const *b);
/* The sort key of a record: n_order + 2 strings, malloc'd; NULL: no memory. */
char **tp_query_key(const struct tp_query *q, const struct tp_qvalues *vals);
void tp_query_key_free(const struct tp_query *q, char **key);

/* The opaque next token for a key (malloc'd hex), and back: false when
 * the token is not one of a query with this order. */
char *tp_query_token(const struct tp_query *q, char *const *key);
bool tp_query_set_after(struct tp_query *q, const char *token);
void tp_query_free(struct tp_query *q);

#endif
