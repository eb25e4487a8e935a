/* The API's error table and JSON bodies: the codes and messages users and
 * scripts match on, and the records (which must never carry a secret). */
#include "unit.h"
#include "api_error.h"
#include "api_json.h"
#include "api_query.h"
#include "base32.h"
#include "secret.h"

#define OWNER "02c9e252-41be-11e9-81d5-00a0986138f7"
#define SVM   "11111111-2222-3333-4444-555555555555"

/* Codes and the message text SPEC.md quotes; NULL: SPEC gives only the
 * meaning, checked by `gist` instead. */
static const struct {
	enum tp_api_error e;
	const char *code, *message, *gist;
} table[] = {
	{ TP_API_DUPLICATE,           "1", NULL, "duplicate" },
	{ TP_API_INVALID,             "2", "invalid or missing field", NULL },
	{ TP_API_NOT_SUPPORTED,       "3", "operation not supported", NULL },
	{ TP_API_NO_ENTRY,            "4", "entry doesn't exist", NULL },
	{ TP_API_INTERNAL,            "5", NULL, "" },
	{ TP_API_PERMISSION,          "6", "permission denied", NULL },
	{ TP_API_TOTP_NOT_CONFIGURED, "144834561",
	  "TOTP is not configured for the user.", NULL },
	{ TP_API_ENABLED_ADMIN_ONLY,  "144834564",
	  "Only users with the admin role are allowed to modify the TOTP status.", NULL },
	{ TP_API_ENABLED_INVALID,     "144834565",
	  "Invalid option for the field -enabled", NULL },
	/* the PATCH page's text, exactly: no full stop, unlike 144834561 */
	{ TP_API_NOTHING_TO_MODIFY,   "144834566",
	  "TOTP is not configured for the user", NULL },
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

static void test_error_table(void **state)
{
	(void)state;
	assert_int_equal(N_TABLE, TP_API_ERROR_COUNT);
	for (size_t i = 0; i < N_TABLE; i++) {
		const char *msg = tp_api_error_message(table[i].e);
		assert_string_equal(tp_api_error_code(table[i].e), table[i].code);
		assert_non_null(msg);
		assert_true(msg[0] != '\0');
		if (table[i].message != NULL)
			assert_string_equal(msg, table[i].message);
		else
			assert_contains(msg, table[i].gist);
	}
	/* one row per code: no two errors share a code or a message */
	for (size_t i = 0; i < N_TABLE; i++) {
		for (size_t j = i + 1; j < N_TABLE; j++) {
			assert_string_not_equal(tp_api_error_code(table[i].e),
						tp_api_error_code(table[j].e));
			assert_string_not_equal(tp_api_error_message(table[i].e),
						tp_api_error_message(table[j].e));
		}
	}
}

static void test_error_from_status(void **state)
{
	(void)state;
	assert_int_equal(tp_api_error_from_status(TP_ENOENT), TP_API_NO_ENTRY);
	assert_int_equal(tp_api_error_from_status(TP_EEXIST), TP_API_DUPLICATE);
	assert_int_equal(tp_api_error_from_status(TP_EINVAL), TP_API_INVALID);
	assert_int_equal(tp_api_error_from_status(TP_EPERM), TP_API_PERMISSION);
	assert_int_equal(tp_api_error_from_status(TP_ECORRUPT), TP_API_INTERNAL);
	assert_int_equal(tp_api_error_from_status(TP_EIO), TP_API_INTERNAL);
	assert_int_equal(tp_api_error_from_status(TP_ENOSPC), TP_API_INTERNAL);
}

static void assert_json_is(json_t *got, const char *expect_text)
{
	json_error_t jerr;
	json_t *expect = json_loads(expect_text, 0, &jerr);

	assert_non_null(expect);
	assert_non_null(got);
	if (!json_equal(got, expect)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
		fail_msg("got %s\nexpected %s", g, expect_text);
	}
	json_decref(expect);
}

static void test_error_body(void **state)
{
	json_t *j;

	(void)state;
	j = tp_json_error(TP_API_NO_ENTRY, "uuid", NULL);
	assert_json_is(j, "{\"error\":{\"code\":\"4\",\"message\":\"entry doesn't exist\","
			  "\"target\":\"uuid\"}}");
	/* the code is a JSON string, as in the API */
	assert_true(json_is_string(json_object_get(json_object_get(j, "error"), "code")));
	json_decref(j);

	j = tp_json_error(TP_API_ENABLED_ADMIN_ONLY, "enabled", NULL);
	assert_json_is(j, "{\"error\":{\"code\":\"144834564\",\"message\":"
			  "\"Only users with the admin role are allowed to modify the TOTP status.\","
			  "\"target\":\"enabled\"}}");
	json_decref(j);

	/* no target: no "target" key */
	j = tp_json_error(TP_API_TOTP_NOT_CONFIGURED, NULL, NULL);
	assert_json_is(j, "{\"error\":{\"code\":\"144834561\","
			  "\"message\":\"TOTP is not configured for the user.\"}}");
	json_decref(j);

	j = tp_json_error(TP_API_NOTHING_TO_MODIFY, "account.name", NULL);
	assert_json_is(j, "{\"error\":{\"code\":\"144834566\","
			  "\"message\":\"TOTP is not configured for the user\","
			  "\"target\":\"account.name\"}}");
	json_decref(j);

	/* a detail goes into arguments, the message stays the table's */
	j = tp_json_error(TP_API_INTERNAL, "account.name", "store: disk full");
	json_t *err = json_object_get(j, "error");
	assert_non_null(err);
	assert_string_equal(json_string_value(json_object_get(err, "code")), "5");
	assert_string_equal(json_string_value(json_object_get(err, "message")),
			    tp_api_error_message(TP_API_INTERNAL));
	assert_string_equal(json_string_value(json_object_get(err, "target")),
			    "account.name");
	json_t *args = json_object_get(err, "arguments");
	assert_true(json_is_array(args));
	assert_int_equal(json_array_size(args), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(args, 0),
							      "message")),
			    "store: disk full");
	json_decref(j);
}

static struct tp_config *make_config(char **dir)
{
	struct tp_config *cfg = NULL;
	char *conf, *err = NULL;

	*dir = unit_tmpdir();
	conf = unit_path("%s/c.conf", *dir);
	unit_write_file(conf,
		"cluster = { name = \"cluster1\"; uuid = \"" OWNER "\"; };\n"
		"svms = ( { name = \"vs0\"; uuid = \"" SVM "\"; members = [ \"bob\" ]; } );\n",
		0600);
	if (tp_config_load(conf, &cfg, &err) != TP_OK)
		fail_msg("config: %s", err ? err : "?");
	free(conf);
	return cfg;
}

static void make_profile(struct tp_profile *p, const char *owner, const char *account)
{
	static const struct tp_totp_params params = { TP_SHA1, 6, 30 };
	char codes[5][TP_EMERGENCY_DIGITS + 1];

	assert_int_equal(tp_profile_generate(p, owner, account, &params, 20, 5, codes),
			 TP_OK);
	strcpy(p->comment, "work \"phone\"");
	tp_wipe(codes, sizeof(codes));
}

static const char *str_at(json_t *j, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(j, a);
	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return json_string_value(v);
}

/* account._links.self.href, or a failure naming what is missing */
static const char *account_href(json_t *rec)
{
	json_t *links = json_object_get(json_object_get(rec, "account"), "_links");
	const char *href = json_string_value(json_object_get(json_object_get(links, "self"),
							     "href"));

	if (href == NULL)
		fail_msg("the record's account has no _links.self.href");
	return href;
}

static void test_profile_record(void **state)
{
	char *dir, *text, fp[TP_FINGERPRINT_HEX + 1], b32[TP_SECRET_MAX * 2];
	struct tp_config *cfg = make_config(&dir);
	const struct tp_owner *cluster = tp_config_owner(cfg, NULL);
	const struct tp_owner *vs0 = tp_config_owner(cfg, "vs0");
	struct tp_profile p;
	json_t *j;

	(void)state;
	make_profile(&p, OWNER, "alice");
	j = tp_json_profile(&p, cluster, TP_F_ALL);
	assert_non_null(j);
	assert_string_equal(str_at(j, "_links", "self", "href"),
			    "/api/security/login/totps/" OWNER "/alice");
	assert_string_equal(str_at(j, "owner", "uuid", NULL), OWNER);
	assert_string_equal(str_at(j, "owner", "name", NULL), "cluster1");
	assert_string_equal(str_at(j, "account", "name", NULL), "alice");
	/* the API's account reference: /api/security/accounts/{owner.uuid}/{name} */
	assert_string_equal(account_href(j),
			    "/api/security/accounts/" OWNER "/alice");
	assert_int_equal(json_object_size(json_object_get(j, "account")), 2);
	assert_string_equal(str_at(j, "comment", NULL, NULL), "work \"phone\"");
	assert_true(json_is_true(json_object_get(j, "enabled")));
	assert_string_equal(str_at(j, "scope", NULL, NULL), "cluster");
	assert_int_equal(tp_profile_fingerprint(&p, fp), TP_OK);
	assert_string_equal(str_at(j, "sha_fingerprint", NULL, NULL), fp);
	/* never a secret: no such keys, and the key's text nowhere */
	static const char *const secret_keys[] = {
		"secret_key", "secret", "install_url", "verification_code",
		"emergency_codes",
	};
	for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++)
		assert_null(json_object_get(j, secret_keys[i]));
	assert_int_equal(tp_base32_encode(p.secret, p.secret_len, b32, sizeof(b32)), TP_OK);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	assert_not_contains(text, b32);
	assert_not_contains(text, "otpauth");
	free(text);
	json_decref(j);

	/* an svm record */
	make_profile(&p, SVM, "bob");
	p.enabled = false;
	j = tp_json_profile(&p, vs0, TP_F_ALL);
	assert_string_equal(str_at(j, "scope", NULL, NULL), "svm");
	assert_string_equal(str_at(j, "owner", "name", NULL), "vs0");
	assert_string_equal(str_at(j, "owner", "uuid", NULL), SVM);
	assert_true(json_is_false(json_object_get(j, "enabled")));
	assert_string_equal(str_at(j, "_links", "self", "href"),
			    "/api/security/login/totps/" SVM "/bob");
	assert_string_equal(account_href(j),
			    "/api/security/accounts/" SVM "/bob");
	json_decref(j);

	/* only the selected fields (the keys always) */
	j = tp_json_profile(&p, vs0, TP_F_KEYS | TP_F_COMMENT);
	assert_non_null(json_object_get(j, "owner"));
	assert_non_null(json_object_get(j, "account"));
	assert_non_null(json_object_get(j, "_links"));
	assert_non_null(json_object_get(j, "comment"));
	assert_null(json_object_get(j, "enabled"));
	assert_null(json_object_get(j, "scope"));
	assert_null(json_object_get(j, "sha_fingerprint"));
	json_decref(j);

	char *href = tp_profile_href(OWNER, "joe.smith");
	assert_string_equal(href, "/api/security/login/totps/" OWNER "/joe.smith");
	free(href);
	tp_profile_wipe(&p);
	tp_config_free(cfg);
	unit_rmtree(dir);
}

static void test_fields_parse(void **state)
{
	unsigned mask = 0;
	const char *bad = NULL;

	(void)state;
	assert_int_equal(tp_fields_parse("comment,enabled", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_KEYS | TP_F_COMMENT | TP_F_ENABLED);
	assert_int_equal(tp_fields_parse("*", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_ALL);
	assert_int_equal(tp_fields_parse("scope", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_KEYS | TP_F_SCOPE);
	assert_int_equal(tp_fields_parse("sha_fingerprint,owner.name", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_KEYS | TP_F_FINGERPRINT);
	/* the account reference's link, as the API names it */
	bad = NULL;
	assert_int_equal(tp_fields_parse("account._links", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_KEYS);
	assert_int_equal(tp_fields_parse("account._links,comment", &mask, &bad), TP_OK);
	assert_int_equal(mask, TP_F_KEYS | TP_F_COMMENT);

	/* secrets are never selectable, unknown names are refused by name */
	static const char *const refused[] = {
		"secret_key", "install_url", "emergency_codes", "verification_code",
		"bogus", "Comment", "comment ",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		mask = 12345;
		bad = NULL;
		if (tp_fields_parse(refused[i], &mask, &bad) != TP_EINVAL)
			fail_msg("fields=\"%s\" accepted", refused[i]);
		assert_string_equal(bad, refused[i]);
		assert_int_equal(mask, 12345);
	}
	assert_int_equal(tp_fields_parse("comment,secret_key", &mask, &bad), TP_EINVAL);
	assert_string_equal(bad, "secret_key");
}

/* The collection's query operators, one value at a time. */
static void test_query_match(void **state)
{
	(void)state;
	assert_true(tp_query_match(TP_Q_ACCOUNT, "alice", "alice"));
	assert_false(tp_query_match(TP_Q_ACCOUNT, "alice", "alice2"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, "al*", "alice"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, "bob|alice", "alice"));
	assert_false(tp_query_match(TP_Q_ACCOUNT, "bob|carol", "alice"));
	assert_false(tp_query_match(TP_Q_ACCOUNT, "!alice", "alice"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, "!al*x", "alice"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, "<bob", "alice"));
	assert_false(tp_query_match(TP_Q_ACCOUNT, ">bob", "bob"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, ">=bob", "bob"));
	assert_true(tp_query_match(TP_Q_ACCOUNT, "<=bob", "bob"));
	assert_true(tp_query_match(TP_Q_COMMENT, "null", ""));
	assert_false(tp_query_match(TP_Q_COMMENT, "null", "phone"));
	assert_true(tp_query_match(TP_Q_COMMENT, "!null", "phone"));
	assert_true(tp_query_match(TP_Q_ENABLED, "TRUE", "true"));
	assert_true(tp_query_match(TP_Q_ENABLED, "False|x", "false"));
	assert_true(tp_query_match(TP_Q_ENABLED, "<true", "false"));
	assert_null(tp_query_filter_problem(TP_Q_ENABLED, "False|!TRUE|null"));
	assert_non_null(tp_query_filter_problem(TP_Q_ENABLED, "maybe"));
	assert_non_null(tp_query_filter_problem(TP_Q_ACCOUNT, "a||b"));
	assert_non_null(tp_query_filter_problem(TP_Q_ACCOUNT, "!"));
	assert_non_null(tp_query_filter_problem(TP_Q_ACCOUNT, ""));
	assert_non_null(tp_query_filter_problem(TP_Q_SCOPE, "tenant"));
	assert_null(tp_query_filter_problem(TP_Q_SCOPE, "!svm|clu*"));
}

/* order_by lists, and a next token bound to its order. */
static void test_query_order_token(void **state)
{
	struct tp_query q, other;
	char *a[] = { "x", "u1", "alice" }, *b[] = { "x", "u1", "bob" }, *c[] = { "y", "u0", "a" };
	char *tok;

	(void)state;
	memset(&q, 0, sizeof(q));
	memset(&other, 0, sizeof(other));
	assert_null(tp_query_order_parse("comment desc", &q));
	assert_int_equal(q.n_order, 1);
	assert_true(q.order[0].desc);
	/* comment desc first, then owner.uuid, account.name ascending */
	assert_true(tp_query_cmp(&q, a, b) < 0);
	assert_true(tp_query_cmp(&q, c, a) < 0);
	assert_int_equal(tp_query_cmp(&q, a, a), 0);
	tok = tp_query_token(&q, a);
	assert_non_null(tok);
	assert_true(tp_query_set_after(&q, tok));
	assert_string_equal(q.after[2], "alice");
	assert_null(tp_query_order_parse("comment asc", &other));
	assert_false(tp_query_set_after(&other, tok));      /* another order */
	tok[3] ^= 1;
	assert_false(tp_query_set_after(&other, tok));      /* altered */
	assert_false(tp_query_set_after(&other, "zz"));
	free(tok);
	tp_query_free(&q);
	tp_query_free(&other);
	assert_null(tp_query_order_parse("account.name,enabled desc, owner.name asc", &q));
	assert_int_equal(q.n_order, 3);
	assert_non_null(tp_query_order_parse("account.name,account.name", &q));
	assert_non_null(tp_query_order_parse("secret_key", &q));
	assert_non_null(tp_query_order_parse("comment up", &q));
	assert_non_null(tp_query_order_parse("comment,", &q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_error_from_status),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_profile_record),
		cmocka_unit_test(test_fields_parse),
		cmocka_unit_test(test_query_match),
		cmocka_unit_test(test_query_order_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
