/* The main configuration file: values, defaults, and errors that name the
 * file, the line and the setting (an admin must be able to fix it from the
 * log line alone). */
#include "unit.h"
#include "config.h"

#define CLUSTER_UUID "02c9e252-41be-11e9-81d5-00a0986138f7"
#define SVM0_UUID    "11111111-2222-3333-4444-555555555555"
#define SVM1_UUID    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define CLUSTER_OK "cluster = { name = \"c1\"; uuid = \"" CLUSTER_UUID "\"; };\n"

struct fixture {
	char *dir;
	char *conf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = unit_tmpdir();
	f->conf = unit_path("%s/totp_profile.conf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->conf);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static struct tp_config *load_ok(const char *path, const char *text)
{
	struct tp_config *cfg = NULL;
	char *err = NULL;
	enum tp_status st;

	unit_write_file(path, text, 0600);
	st = tp_config_load(path, &cfg, &err);
	if (st != TP_OK)
		fail_msg("config refused (%s): %s", tp_status_str(st), err ? err : "");
	assert_null(err);
	assert_non_null(cfg);
	return cfg;
}

static const char full_config[] =
	"# every setting\n"
	"store = {\n"
	"  path = \"/srv/totp\";\n"
	"  user = \"root\";\n"
	"};\n"
	"admin_group = \"totpadmins\";\n"
	"issuer = \"Example Corp\";\n"
	"totp = {\n"
	"  algorithm = \"SHA256\";\n"
	"  digits = 8;\n"
	"  period = 60;\n"
	"  window = 2;\n"
	"};\n"
	"emergency_codes = { count = 7; warn_at = 3; };\n"
	"lockout = { max_failures = 4; seconds = 600; reveal = true; };\n"
	"disabled_profile = \"deny\";\n"
	"cluster = {\n"
	"  name = \"cluster1\";\n"
	"  uuid = \"" CLUSTER_UUID "\";\n"
	"  totp_group = \"totpusers\";\n"
	"  totp_accounts = [ \"root\", \"alice\" ];\n"
	"};\n"
	"svms = (\n"
	"  { name = \"vs0\"; uuid = \"" SVM0_UUID "\";\n"
	"    members = [ \"bob\", \"carol\" ]; totp_accounts = [ \"bob\" ]; },\n"
	"  { name = \"vs1\"; uuid = \"" SVM1_UUID "\";\n"
	"    members = [ \"dave\" ]; totp_group = \"vs1totp\"; }\n"
	");\n";

static void test_full_file(void **state)
{
	struct fixture *f = *state;
	struct tp_config *cfg = load_ok(f->conf, full_config);
	const struct tp_owner *o;

	assert_string_equal(cfg->path, f->conf);
	assert_string_equal(cfg->store_path, "/srv/totp");
	assert_string_equal(cfg->store_user, "root");
	assert_string_equal(cfg->admin_group, "totpadmins");
	assert_string_equal(cfg->issuer, "Example Corp");
	assert_int_equal(cfg->totp.alg, TP_SHA256);
	assert_int_equal(cfg->totp.digits, 8);
	assert_int_equal(cfg->totp.period, 60);
	assert_int_equal(cfg->window, 2);
	assert_int_equal(cfg->emergency_codes, 7);
	assert_int_equal(cfg->emergency_warn, 3);
	assert_int_equal(cfg->max_failures, 4);
	assert_int_equal(cfg->lockout_seconds, 600);
	assert_true(cfg->reveal_lockout);
	assert_int_equal(cfg->disabled_action, TP_DISABLED_DENY);

	assert_int_equal(cfg->n_owners, 3);
	o = &cfg->owners[0];
	assert_string_equal(o->name, "cluster1");
	assert_string_equal(o->uuid, CLUSTER_UUID);
	assert_int_equal(o->scope, TP_SCOPE_CLUSTER);
	assert_string_equal(o->totp_group, "totpusers");
	assert_int_equal(o->n_totp_accounts, 2);
	assert_string_equal(o->totp_accounts[0], "root");
	assert_string_equal(o->totp_accounts[1], "alice");
	assert_int_equal(o->n_members, 0);

	o = &cfg->owners[1];
	assert_string_equal(o->name, "vs0");
	assert_string_equal(o->uuid, SVM0_UUID);
	assert_int_equal(o->scope, TP_SCOPE_SVM);
	assert_int_equal(o->n_members, 2);
	assert_string_equal(o->members[0], "bob");
	assert_string_equal(o->members[1], "carol");
	assert_int_equal(o->n_totp_accounts, 1);
	assert_string_equal(o->totp_accounts[0], "bob");
	assert_null(o->totp_group);

	o = &cfg->owners[2];
	assert_string_equal(o->name, "vs1");
	assert_string_equal(o->uuid, SVM1_UUID);
	assert_int_equal(o->scope, TP_SCOPE_SVM);
	assert_int_equal(o->n_members, 1);
	assert_string_equal(o->members[0], "dave");
	assert_string_equal(o->totp_group, "vs1totp");
	assert_int_equal(o->n_totp_accounts, 0);
	tp_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct tp_config *cfg = load_ok(f->conf, CLUSTER_OK);
	char host[256] = "";

	assert_string_equal(cfg->store_path, TP_DEFAULT_STORE);
	assert_null(cfg->store_user);
	assert_null(cfg->admin_group);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(cfg->issuer, host);
	assert_int_equal(cfg->totp.alg, TP_SHA1);
	assert_int_equal(cfg->totp.digits, 6);
	assert_int_equal(cfg->totp.period, 30);
	assert_int_equal(cfg->window, 1);
	assert_int_equal(cfg->emergency_codes, 5);
	assert_int_equal(cfg->emergency_warn, 2);
	assert_int_equal(cfg->max_failures, 5);
	assert_int_equal(cfg->lockout_seconds, 300);
	assert_false(cfg->reveal_lockout);
	assert_int_equal(cfg->disabled_action, TP_DISABLED_ALLOW);
	assert_int_equal(cfg->n_owners, 1);
	assert_string_equal(cfg->owners[0].name, "c1");
	assert_int_equal(cfg->owners[0].scope, TP_SCOPE_CLUSTER);
	assert_null(cfg->owners[0].totp_group);
	assert_int_equal(cfg->owners[0].n_totp_accounts, 0);
	tp_config_free(cfg);

	/* "allow" spelled out, and an empty svms list */
	cfg = load_ok(f->conf, CLUSTER_OK "disabled_profile = \"allow\";\nsvms = ();\n");
	assert_int_equal(cfg->disabled_action, TP_DISABLED_ALLOW);
	assert_int_equal(cfg->n_owners, 1);
	tp_config_free(cfg);
}

/* A bad file: its status, and what the message must name.  line 0: the
 * problem has no line (something missing). */
static const struct bad_case {
	const char *what, *text;
	unsigned line;
	const char *setting;
} bad_cases[] = {
	{ "unknown top-level setting",
	  CLUSTER_OK "colour = \"blue\";\n", 2, "colour" },
	{ "unknown setting in a group",
	  "totp = {\n  algorithm = \"SHA1\";\n  colour = 3;\n};\n" CLUSTER_OK,
	  3, "totp.colour" },
	{ "unknown setting in store",
	  "store = { path = \"/srv/totp\"; mode = 448; };\n" CLUSTER_OK, 1, "store.mode" },
	{ "unknown setting in an svm",
	  CLUSTER_OK "svms = (\n { name = \"vs0\"; uuid = \"" SVM0_UUID "\";\n"
	  "   colour = \"red\"; }\n);\n", 4, "svms[0].colour" },
	{ "members on the cluster",
	  "cluster = {\n name = \"c1\";\n uuid = \"" CLUSTER_UUID "\";\n"
	  " members = [ \"bob\" ];\n};\n", 4, "cluster.members" },
	{ "wrong type: string for an integer",
	  CLUSTER_OK "totp = {\n  digits = \"six\";\n};\n", 3, "totp.digits" },
	{ "wrong type: integer for a string",
	  CLUSTER_OK "issuer = 42;\n", 2, "issuer" },
	{ "wrong type: integer for a boolean",
	  CLUSTER_OK "lockout = {\n  reveal = 1;\n};\n", 3, "lockout.reveal" },
	{ "wrong type: scalar for a group",
	  CLUSTER_OK "totp = 6;\n", 2, "totp" },
	{ "wrong type: group for svms list",
	  CLUSTER_OK "svms = { name = \"vs0\"; };\n", 2, "svms" },
	{ "digits 5",
	  CLUSTER_OK "totp = { digits = 5; };\n", 2, "totp.digits" },
	{ "digits 9",
	  CLUSTER_OK "\ntotp = { digits = 9; };\n", 3, "totp.digits" },
	{ "period 0",
	  CLUSTER_OK "totp = { period = 0; };\n", 2, "totp.period" },
	{ "negative window",
	  CLUSTER_OK "totp = { window = -1; };\n", 2, "totp.window" },
	{ "too many emergency codes",
	  CLUSTER_OK "emergency_codes = { count = 11; };\n", 2, "emergency_codes.count" },
	{ "bad algorithm",
	  CLUSTER_OK "totp = {\n  algorithm = \"MD5\";\n};\n", 3, "totp.algorithm" },
	{ "empty issuer",
	  CLUSTER_OK "issuer = \"\";\n", 2, "issuer" },
	{ "bad cluster uuid (upper case)",
	  "cluster = {\n  name = \"c1\";\n"
	  "  uuid = \"02C9E252-41BE-11E9-81D5-00A0986138F7\";\n};\n", 3, "cluster.uuid" },
	{ "bad svm uuid",
	  CLUSTER_OK "svms = (\n  {\n    name = \"vs0\";\n    uuid = \"not-a-uuid\";\n  }\n);\n",
	  5, "svms[0].uuid" },
	{ "bad owner name",
	  "cluster = {\n  name = \"../c1\";\n  uuid = \"" CLUSTER_UUID "\";\n};\n", 2,
	  "cluster.name" },
	{ "cluster without uuid",
	  "cluster = {\n  name = \"c1\";\n};\n", 1, "cluster" },
	{ "missing cluster",
	  "issuer = \"x\";\n", 0, "cluster" },
	{ "bad svm member name",
	  CLUSTER_OK "svms = (\n { name = \"vs0\"; uuid = \"" SVM0_UUID "\";\n"
	  "   members = [ \"bob\", \"../root\" ]; }\n);\n", 4, "svms[0].members[1]" },
	{ "duplicate svm name",
	  CLUSTER_OK "svms = (\n { name = \"vs0\"; uuid = \"" SVM0_UUID "\"; },\n"
	  " { name = \"vs0\"; uuid = \"" SVM1_UUID "\"; }\n);\n", 4, "svms[1]" },
	{ "svm named like the cluster",
	  CLUSTER_OK "svms = (\n { name = \"c1\"; uuid = \"" SVM0_UUID "\"; }\n);\n",
	  3, "svms[0]" },
	{ "duplicate uuid",
	  CLUSTER_OK "svms = (\n { name = \"vs0\"; uuid = \"" SVM0_UUID "\"; },\n"
	  " { name = \"vs1\"; uuid = \"" SVM0_UUID "\"; }\n);\n", 4, "svms[1]" },
	{ "svm with the cluster's uuid",
	  CLUSTER_OK "svms = (\n { name = \"vs0\"; uuid = \"" CLUSTER_UUID "\"; }\n);\n",
	  3, "svms[0]" },
	{ "relative store path",
	  CLUSTER_OK "store = {\n  path = \"var/lib/totp\";\n};\n", 3, "store.path" },
	{ "syntax error",
	  CLUSTER_OK "issuer = \"x\";\ntotp = { digits = ; };\n", 3, "" },
	{ "stray closing brace",
	  CLUSTER_OK "\n\n};\n", 4, "" },
	{ "bad disabled_profile",
	  CLUSTER_OK "disabled_profile = \"maybe\";\n", 2, "disabled_profile" },
};

static void test_bad_files(void **state)
{
	struct fixture *f = *state;
	unsigned failures = 0;

	/* every case is tried and reported, then the test fails if any did */
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct tp_config *cfg = (struct tp_config *)1;
		char *err = NULL, where[512];
		enum tp_status st;

		unit_write_file(f->conf, c->text, 0600);
		st = tp_config_load(f->conf, &cfg, &err);
		if (c->line > 0)
			snprintf(where, sizeof(where), "%s:%u:", f->conf, c->line);
		else
			snprintf(where, sizeof(where), "%s:", f->conf);
		if (st != TP_EINVAL || cfg != NULL) {
			print_error("%s: status %s, expected invalid\n", c->what,
				    tp_status_str(st));
			failures++;
			tp_config_free(cfg == (struct tp_config *)1 ? NULL : cfg);
		} else if (err == NULL || strstr(err, where) == NULL ||
			   strstr(err, c->setting) == NULL) {
			print_error("%s: message \"%s\" should contain \"%s\" and \"%s\"\n",
				    c->what, err ? err : "(none)", where, c->setting);
			failures++;
		}
		free(err);
	}
	assert_int_equal(failures, 0);
}

/* Whoever can write the file controls the second factor. */
static void test_file_checks(void **state)
{
	struct fixture *f = *state;
	struct tp_config *cfg = NULL;
	char *err = NULL;
	char *link = unit_path("%s/link.conf", f->dir);
	char *missing = unit_path("%s/missing.conf", f->dir);
	static const mode_t unsafe[] = { 0620, 0602, 0660, 0666, 0646 };

	/* a good file, then the same file with unsafe modes */
	tp_config_free(load_ok(f->conf, CLUSTER_OK));
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		assert_int_equal(chmod(f->conf, unsafe[i]), 0);
		assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_EPERM);
		assert_null(cfg);
		assert_contains(err, f->conf);
		assert_contains(err, "writable");
		free(err);
		err = NULL;
	}
	/* read-only for everybody is fine */
	assert_int_equal(chmod(f->conf, 0444), 0);
	assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_OK);
	tp_config_free(cfg);

	/* a symlink to a good file is refused, not followed */
	assert_int_equal(chmod(f->conf, 0600), 0);
	assert_int_equal(symlink(f->conf, link), 0);
	assert_int_equal(tp_config_load(link, &cfg, &err), TP_EPERM);
	assert_null(cfg);
	assert_contains(err, link);
	assert_contains(err, "symbolic link");
	free(err);

	/* missing */
	assert_int_equal(tp_config_load(missing, &cfg, &err), TP_ENOENT);
	assert_null(cfg);
	assert_contains(err, missing);
	free(err);

	/* a folder */
	assert_int_equal(tp_config_load(f->dir, &cfg, &err), TP_EPERM);
	assert_null(cfg);
	assert_contains(err, f->dir);
	free(err);

	/* err may be NULL */
	assert_int_equal(tp_config_load(missing, &cfg, NULL), TP_ENOENT);
	free(link);
	free(missing);
}

static void test_owner_lookup(void **state)
{
	struct fixture *f = *state;
	struct tp_config *cfg = load_ok(f->conf, full_config);
	const struct tp_owner *cluster, *vs0, *vs1;

	cluster = tp_config_owner(cfg, NULL);
	assert_non_null(cluster);
	assert_string_equal(cluster->name, "cluster1");
	assert_ptr_equal(tp_config_owner(cfg, "cluster1"), cluster);
	assert_ptr_equal(tp_config_owner(cfg, CLUSTER_UUID), cluster);
	vs0 = tp_config_owner(cfg, "vs0");
	assert_non_null(vs0);
	assert_string_equal(vs0->uuid, SVM0_UUID);
	assert_ptr_equal(tp_config_owner(cfg, SVM0_UUID), vs0);
	vs1 = tp_config_owner(cfg, SVM1_UUID);
	assert_non_null(vs1);
	assert_string_equal(vs1->name, "vs1");
	assert_null(tp_config_owner(cfg, "vs2"));
	assert_null(tp_config_owner(cfg, ""));
	assert_null(tp_config_owner(cfg, "VS0"));
	assert_null(tp_config_owner(cfg, "11111111-2222-3333-4444-555555555556"));

	/* membership: cluster accounts are local users, svm accounts listed */
	assert_true(tp_owner_has_account(cluster, "root"));
	assert_false(tp_owner_has_account(cluster, "no-such-user-tp-unit"));
	assert_false(tp_owner_has_account(cluster, "../root"));
	assert_true(tp_owner_has_account(vs0, "bob"));
	assert_true(tp_owner_has_account(vs0, "carol"));
	assert_false(tp_owner_has_account(vs0, "dave"));
	assert_false(tp_owner_has_account(vs0, "root"));
	assert_false(tp_owner_has_account(vs0, "bo"));
	assert_true(tp_owner_has_account(vs1, "dave"));
	assert_false(tp_owner_has_account(vs1, "bob"));

	/* TOTP as second factor: listed accounts (groups do not exist here) */
	assert_true(tp_owner_requires_totp(cluster, "root"));
	assert_false(tp_owner_requires_totp(cluster, "alice"));   /* no such user */
	assert_true(tp_owner_requires_totp(vs0, "bob"));
	assert_false(tp_owner_requires_totp(vs0, "carol"));
	assert_false(tp_owner_requires_totp(vs1, "bob"));

	assert_true(tp_config_is_admin(cfg, 0));
	tp_config_free(cfg);
}

/* The shipped example documents every setting with its default: it must
 * load, and the values it shows must be the built-in defaults. */
static void test_example_matches_defaults(void **state)
{
	struct fixture *f = *state;
	struct tp_config *ex, *def;
	size_t len = 0;
	char *text = unit_read_file("conf/totp_profile.conf", &len);

	if (text == NULL)
		skip();              /* not run from the top of the source tree */
	ex = load_ok(f->conf, text);
	free(text);
	def = load_ok(f->conf, CLUSTER_OK);
	assert_string_equal(ex->store_path, def->store_path);
	assert_int_equal(ex->totp.alg, def->totp.alg);
	assert_int_equal(ex->totp.digits, def->totp.digits);
	assert_int_equal(ex->totp.period, def->totp.period);
	assert_int_equal(ex->window, def->window);
	assert_int_equal(ex->emergency_codes, def->emergency_codes);
	assert_int_equal(ex->emergency_warn, def->emergency_warn);
	assert_int_equal(ex->max_failures, def->max_failures);
	assert_int_equal(ex->lockout_seconds, def->lockout_seconds);
	assert_int_equal(ex->reveal_lockout, def->reveal_lockout);
	assert_int_equal(ex->disabled_action, def->disabled_action);
	tp_config_free(ex);
	tp_config_free(def);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_matches_defaults, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
