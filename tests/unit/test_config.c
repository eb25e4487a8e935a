/* The main configuration file: values, defaults, and errors that name the
 * file, the line and the setting (an admin must be able to fix it from the
 * log line alone). */
#include <dlfcn.h>

#include "unit.h"
#include "config.h"
#include "pg_conninfo.h"
#include "store.h"

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
	assert_true(cfg->store_user_set);
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

	/* what the shipped example, the man page and `make install` say: a
	 * file without store.user must not make every login fail */
	assert_string_equal(cfg->store_path, TP_DEFAULT_STORE);
	assert_non_null(cfg->store_user);
	assert_string_equal(cfg->store_user, "_totp");
	assert_false(cfg->store_user_set);
	assert_non_null(cfg->admin_group);
	assert_string_equal(cfg->admin_group, "totpadmin");
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
	{ "unknown store backend",
	  "store = { backend = \"ldap\"; };\n" CLUSTER_OK, 1, "store.backend" },
	{ "conninfo for the file store",
	  "store = { conninfo = \"dbname=totp\"; };\n" CLUSTER_OK, 1, "store.conninfo" },
	{ "postgresql without a conninfo",
	  "store = { backend = \"postgresql\"; };\n" CLUSTER_OK, 1, "store.backend" },
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
	/* an issuer must fit an otpauth:// label and issuer= parameter */
	{ "issuer with ':' (ambiguous label issuer:account)",
	  CLUSTER_OK "issuer = \"Acme: Corp\";\n", 2, "issuer" },
	{ "issuer with an overlong UTF-8 ':'",
	  CLUSTER_OK "issuer = \"Acme\xc0\xba Corp\";\n", 2, "issuer" },
	{ "issuer of 65 bytes",
	  CLUSTER_OK "issuer = \"" "0123456789012345678901234567890123456789"
	  "0123456789012345678901234\";\n", 2, "issuer" },
	{ "issuer with a tab", CLUSTER_OK "issuer = \"Acme\\tCorp\";\n", 2, "issuer" },
	{ "issuer with a newline", CLUSTER_OK "\nissuer = \"Acme\nCorp\";\n", 3, "issuer" },
	{ "issuer with an escape sequence",
	  CLUSTER_OK "issuer = \"\x1b[31mAcme\";\n", 2, "issuer" },
	{ "issuer with DEL", CLUSTER_OK "issuer = \"Acme\x7f\";\n", 2, "issuer" },
	{ "issuer with a C1 control (U+0085)",
	  CLUSTER_OK "issuer = \"Acme\xc2\x85\";\n", 2, "issuer" },
	{ "issuer with a right-to-left override (U+202E)",
	  CLUSTER_OK "issuer = \"Acme\xe2\x80\xaeproC\";\n", 2, "issuer" },
	{ "issuer with a zero-width space (U+200B)",
	  CLUSTER_OK "issuer = \"Ac\xe2\x80\x8bme\";\n", 2, "issuer" },
	{ "issuer that is not UTF-8 (Latin-1)",
	  CLUSTER_OK "issuer = \"M\xfcller\";\n", 2, "issuer" },
	{ "issuer with a truncated UTF-8 sequence",
	  CLUSTER_OK "issuer = \"Acme\xe2\x82\";\n", 2, "issuer" },
	{ "issuer with a UTF-16 surrogate",
	  CLUSTER_OK "issuer = \"Acme\xed\xa0\x80\";\n", 2, "issuer" },
	{ "issuer with a leading space", CLUSTER_OK "issuer = \" Acme\";\n", 2, "issuer" },
	{ "issuer with a trailing space", CLUSTER_OK "issuer = \"Acme \";\n", 2, "issuer" },
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

	/* a conninfo with a password: readable by others is refused, by the
	 * owner (and group) only is fine; a passfile is no password */
	{
		static const char *const with_pw[] = {
			"host=db sslrootcert=/ca.pem dbname=totp user=h1 password=s3cret",
			"host=db sslrootcert=/ca.pem sslpassword = s3cret",
			"postgresql://h1:s3cret@db/totp?sslrootcert=/ca.pem",
			/* spellings libpq reads as a password too */
			"host=/tmp password\\f=s3cret",
			"postgresql:///totp?pass%77ord=s3cret",
			"host=/tmp sslpassword\\t=s3cret",
		};
		for (size_t i = 0; i < sizeof(with_pw) / sizeof(with_pw[0]); i++) {
			char *text = unit_path("store = { backend = \"postgresql\"; "
					       "conninfo = \"%s\"; };\n" CLUSTER_OK, with_pw[i]);
			unit_write_file(f->conf, text, 0644);
			assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_EINVAL);
			assert_null(cfg);
			assert_contains(err, "store.conninfo");
			assert_contains(err, "password");
			assert_null(strstr(err, "s3cret"));
			free(err);
			err = NULL;
			assert_int_equal(chmod(f->conf, 0640), 0);
			assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_OK);
			assert_int_equal(cfg->store_backend, TP_STORE_POSTGRESQL);
			assert_non_null(cfg->store_conninfo);
			tp_config_free(cfg);
			free(text);
		}
		unit_write_file(f->conf, "store = { backend = \"postgresql\"; admin_conninfo = "
				"\"dbname=totp passfile=/etc/totp_profile/pgpass\"; };\n"
				CLUSTER_OK, 0644);
		assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_OK);
		assert_null(cfg->store_conninfo);
		assert_false(cfg->policy_ignored);
		tp_config_free(cfg);
		/* the database's policy applies: a window or lockout here is
		 * flagged (the module warns), and only with the database */
		unit_write_file(f->conf, "store = { backend = \"postgresql\"; conninfo = "
				"\"dbname=totp\"; };\ntotp = { window = 2; };\n" CLUSTER_OK, 0600);
		assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_OK);
		assert_true(cfg->policy_ignored);
		tp_config_free(cfg);
		unit_write_file(f->conf, "lockout = { max_failures = 2; };\n" CLUSTER_OK, 0600);
		assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_OK);
		assert_false(cfg->policy_ignored);
		tp_config_free(cfg);
		unit_write_file(f->conf, CLUSTER_OK, 0600);
	}

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

/* An issuer of about 980 bytes overflowed the install URL; one with ':'
 * made a label that parsers split in the wrong place.  What an app can
 * show is accepted. */
static void test_issuer(void **state)
{
	struct fixture *f = *state;
	static const char *const good[] = {
		"Acme Corp", "M\xc3\xbcller GmbH", "\xe6\x97\xa5\xe6\x9c\xac",
		"ACME Corp & Co/?#=%+", "server1.example.com", "ops@example.com",
		"a", "\xf0\x9f\x94\x91 keys",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	char big[1200], *text, *err = NULL;
	struct tp_config *cfg = (struct tp_config *)1;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		text = unit_path(CLUSTER_OK "issuer = \"%s\";\n", good[i]);
		cfg = load_ok(f->conf, text);
		assert_string_equal(cfg->issuer, good[i]);
		tp_config_free(cfg);
		free(text);
	}
	/* the size that overflowed the install URL: refused at load, with
	 * the file, the line and the setting */
	memset(big, 'A', 1000);
	big[1000] = '\0';
	text = unit_path(CLUSTER_OK "\nissuer = \"%s\";\n", big);
	unit_write_file(f->conf, text, 0600);
	free(text);
	assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_EINVAL);
	assert_null(cfg);
	text = unit_path("%s:3: issuer: must be at most 64 bytes", f->conf);
	assert_contains(err, text);
	free(text);
	free(err);
}

/* @include: libconfig opens the named file relative to the working
 * directory, with no owner, mode or symlink check.  A user who runs
 * setuid totpctl from a folder of theirs must not be able to supply
 * settings; nor may an included file that others can write, or a
 * symlink.  Every @include is refused, naming the file and the line. */
static bool refused_include(struct fixture *f, const char *include_line)
{
	struct tp_config *cfg = (struct tp_config *)1;
	char *err = NULL, *where = unit_path("%s:3:", f->conf);
	char *text = unit_path(CLUSTER_OK "issuer = \"x\";\n%s\n", include_line);
	enum tp_status st;
	bool ok;

	unit_write_file(f->conf, text, 0600);
	st = tp_config_load(f->conf, &cfg, &err);
	ok = st == TP_EINVAL && cfg == NULL && err != NULL &&
	     strstr(err, where) != NULL && strstr(err, "@include") != NULL;
	if (!ok)
		print_error("%s: status %s, admin_group %s, message \"%s\"\n",
			    include_line, tp_status_str(st),
			    st == TP_OK ? cfg->admin_group : "-", err ? err : "");
	if (st == TP_OK)
		tp_config_free(cfg);
	free(err);
	free(where);
	free(text);
	return ok;
}

static void test_include_refused(void **state)
{
	struct fixture *f = *state;
	char *hostile = unit_path("%s/hostile", f->dir);
	char *planted = unit_path("%s/site-local.conf", hostile);
	char *writable = unit_path("%s/writable.conf", f->dir);
	char *good = unit_path("%s/good.conf", f->dir);
	char *link = unit_path("%s/link.conf", f->dir);
	char *line;
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned accepted = 0;

	assert_true(cwd >= 0);
	assert_int_equal(mkdir(hostile, 0700), 0);
	unit_write_file(planted, "admin_group = \"users\";\n", 0600);
	unit_write_file(writable, "admin_group = \"users\";\n", 0666);
	unit_write_file(good, "admin_group = \"users\";\n", 0600);
	assert_int_equal(symlink(good, link), 0);

	/* a relative name, from a hostile working directory */
	assert_int_equal(chdir(hostile), 0);
	accepted += !refused_include(f, "@include \"site-local.conf\"");
	accepted += !refused_include(f, " \t@include\t\"site-local.conf\"");
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	/* a file others can write, a symlink, and a safe file next to the
	 * config: one rule for all */
	line = unit_path("@include \"%s\"", writable);
	accepted += !refused_include(f, line);
	free(line);
	line = unit_path("@include \"%s\"", link);
	accepted += !refused_include(f, line);
	free(line);
	line = unit_path("@include \"%s\"", good);
	accepted += !refused_include(f, line);
	free(line);

	assert_int_equal(accepted, 0);

	/* the word in a comment, or inside a line, is not an include */
	tp_config_free(load_ok(f->conf, CLUSTER_OK "# @include \"x.conf\"\n"
			       "issuer = \"no @include here\";\n"));
	free(hostile);
	free(planted);
	free(writable);
	free(good);
	free(link);
}

/* A NUL byte used to end the text libconfig sees (the rest unread). */
static void test_nul_byte(void **state)
{
	struct fixture *f = *state;
	static const char text[] = CLUSTER_OK "issuer = \"x\";\n\0colour = 1;\n";
	struct tp_config *cfg = (struct tp_config *)1;
	char *err = NULL, *where = unit_path("%s:3:", f->conf);

	unit_write_bytes(f->conf, text, sizeof(text) - 1, 0600);
	assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_EINVAL);
	assert_null(cfg);
	assert_contains(err, where);
	assert_contains(err, "NUL");
	free(err);
	free(where);
}

/* read(), counted, and each cut to read_cap bytes if that is set (as a
 * FUSE or network filesystem may read short) */
static int read_calls;
static size_t read_cap;

ssize_t wrapped_read(int fd, void *buf, size_t n) __asm__("read");
ssize_t wrapped_read(int fd, void *buf, size_t n)
{
	static ssize_t (*real)(int, void *, size_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "read");
	read_calls++;
	if (read_cap > 0 && n > read_cap)
		n = read_cap;
	return real(fd, buf, n);
}

/* Files of every length around the first buffer's and far past it are
 * read whole (the setting at the very end counts), each with one read:
 * a read of the size fstat saw is the end of the file.  Reads that stop
 * short are not taken for the end. */
static void test_read_whole(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = { 200, 4093, 4094, 4095, 4096, 4097, 8190, 100000 };
	static const char tail[] = "issuer = \"end\";\n";

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t head = strlen(CLUSTER_OK), pad = sizes[i] - head - strlen(tail);
		char *text = malloc(sizes[i] + 1);
		struct tp_config *cfg;

		assert_non_null(text);
		memcpy(text, CLUSTER_OK, head);
		memset(text + head, '\n', pad);
		text[head] = '#';
		memcpy(text + head + pad, tail, sizeof(tail));
		assert_int_equal(strlen(text), sizes[i]);
		read_calls = 0;
		cfg = load_ok(f->conf, text);
		assert_int_equal(read_calls, 1);
		assert_string_equal(cfg->issuer, "end");
		tp_config_free(cfg);
		read_cap = sizes[i] / 3 + 1;
		cfg = load_ok(f->conf, text);
		read_cap = 0;
		assert_string_equal(cfg->issuer, "end");
		tp_config_free(cfg);
		free(text);
	}
}

/* A config of 4 MiB loads, with its last setting; one byte more is
 * refused with the reason, not read into memory however large it is. */
static void test_size_limit(void **state)
{
	struct fixture *f = *state;
	static const char tail[] = "issuer = \"end\";\n";
	size_t limit = (size_t)4 << 20, head = strlen(CLUSTER_OK);
	char *text = malloc(limit + 2);
	struct tp_config *cfg = (struct tp_config *)1;
	char *err = NULL;

	assert_non_null(text);
	memcpy(text, CLUSTER_OK, head);
	memset(text + head, '\n', limit - head - strlen(tail));
	text[head] = '#';
	memcpy(text + limit - strlen(tail), tail, sizeof(tail));
	assert_int_equal(strlen(text), limit);
	cfg = load_ok(f->conf, text);
	assert_string_equal(cfg->issuer, "end");
	tp_config_free(cfg);
	memmove(text + head + 1, text + head, limit - head + 1);     /* one byte more */
	assert_int_equal(strlen(text), limit + 1);
	unit_write_bytes(f->conf, text, limit + 1, 0600);
	cfg = (struct tp_config *)1;
	assert_int_equal(tp_config_load(f->conf, &cfg, &err), TP_EPERM);
	assert_null(cfg);
	assert_contains(err, f->conf);
	assert_contains(err, "larger than 4 MiB");
	free(err);
	free(text);
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
	assert_non_null(def->store_user);
	assert_string_equal(ex->store_user, def->store_user);
	assert_non_null(def->admin_group);
	assert_string_equal(ex->admin_group, def->admin_group);
	assert_string_equal(ex->issuer, def->issuer);
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

/* Every setting the loader accepts is in the man page (as the error
 * messages name it, in bold) and in the shipped example (`name =`). */
static void test_settings_documented(void **state)
{
	size_t len = 0;
	char *man = unit_read_file("conf/totp_profile.conf.5", &len);
	char *example = unit_read_file("conf/totp_profile.conf", &len);
	unsigned missing = 0;

	(void)state;
	if (man == NULL || example == NULL)
		skip();              /* not run from the top of the source tree */
	for (const struct tp_config_group *g = tp_config_settings; g->name; g++) {
		for (const char *const *k = g->keys; *k != NULL; k++) {
			char *bold = unit_path("\\fB%s%s%s\\fR", g->name,
					       g->name[0] ? "." : "", *k);
			char *assign = unit_path("%s =", *k);
			if (strstr(man, bold) == NULL) {
				print_error("man page lacks %s\n", bold);
				missing++;
			}
			if (strstr(example, assign) == NULL) {
				print_error("conf/totp_profile.conf lacks '%s'\n", assign);
				missing++;
			}
			free(bold);
			free(assign);
		}
	}
	free(man);
	free(example);
	assert_int_equal(missing, 0);
}

/* A postgresql config with one conninfo (already escaped for libconfig). */
static enum tp_status load_conninfo(struct fixture *f, const char *setting,
				    const char *conninfo, char **err)
{
	struct tp_config *cfg = NULL;
	char *text = unit_path("store = { backend = \"postgresql\"; %s = \"%s\"; };\n"
			       CLUSTER_OK, setting, conninfo);
	enum tp_status st;

	unit_write_file(f->conf, text, 0600);
	free(text);
	*err = NULL;
	st = tp_config_load(f->conf, &cfg, err);
	tp_config_free(cfg);
	return st;
}

static void refused_with(struct fixture *f, const char *setting, const char *conninfo,
			 const char *why)
{
	char *err = NULL;

	if (load_conninfo(f, setting, conninfo, &err) != TP_EINVAL)
		fail_msg("accepted: %s = \"%s\"", setting, conninfo);
	assert_contains(err, f->conf);
	assert_contains(err, setting);
	assert_contains(err, why);
	free(err);
}

static void accepted(struct fixture *f, const char *conninfo)
{
	char *err = NULL;

	if (load_conninfo(f, "conninfo", conninfo, &err) != TP_OK)
		fail_msg("refused: %s: %s", conninfo, err ? err : "");
	assert_null(err);
}

/* A host beyond this machine is reached with TLS checked against an
 * explicit CA, or the config is refused: with sslmode=prefer (libpq's
 * default) a man in the middle answers the login "accepted". */
static void test_conninfo_tls_required(void **state)
{
	struct fixture *f = *state;
	static const char *const weak[] = {
		"host=db.example.com dbname=totp user=h1 sslrootcert=/ca.pem sslmode=require",
		"host=db.example.com sslrootcert=/ca.pem sslmode=prefer",
		"host=db.example.com sslrootcert=/ca.pem sslmode=allow",
		"host=db.example.com sslrootcert=/ca.pem sslmode=disable",
		"host=db.example.com sslrootcert=/ca.pem sslmode=verify-ca",
		"host=10.0.0.5 sslrootcert=/ca.pem sslmode=require",
		"host=/var/run/postgresql,db.example.com sslrootcert=/ca.pem sslmode=prefer",
		"host=localhost hostaddr=10.1.2.3 sslrootcert=/ca.pem sslmode=disable",
		"host=db.example.com hostaddr=127.0.0.1,10.1.2.3 sslrootcert=/ca.pem sslmode=require",
		"postgresql://db.example.com/totp?sslmode=require&sslrootcert=/ca.pem",
		"postgresql://127.0.0.1,db.example.com/totp?sslmode=disable&sslrootcert=/ca.pem",
	};
	static const char *const no_ca[] = {
		"host=db.example.com dbname=totp user=h1",
		"host=db.example.com sslmode=verify-full",
		"host=db.example.com sslmode=verify-full sslrootcert=",
		"host=fd00::5 sslmode=verify-full",
		"postgresql://db.example.com/totp",
	};
	static const char *const fine[] = {
		"host=db.example.com dbname=totp sslrootcert=/ca.pem",
		"host=db1.example.com,db2.example.com sslmode=verify-full sslrootcert=/ca.pem",
		"postgresql://db.example.com/totp?sslrootcert=/ca.pem",
		/* local: a unix socket, loopback (a pooler on this host) */
		"dbname=totp",
		"host=/var/run/postgresql dbname=totp sslmode=disable",
		"host=@abstract sslmode=disable",
		"host=127.0.0.1 port=6432 sslmode=disable",
		"host=127.5.6.7 sslmode=prefer",
		"host=::1 sslmode=require",
		"host=localhost",
		"host=LocalHost sslmode=allow",
		"host=db.example.com hostaddr=127.0.0.1 sslmode=disable",
		"host=/tmp,localhost port=5432,6432 sslmode=disable",
		"postgresql://localhost/totp?sslmode=disable",
		"postgresql:///totp?host=/tmp",
	};

	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++)
		refused_with(f, "conninfo", weak[i], "sslmode=verify-full");
	for (size_t i = 0; i < sizeof(no_ca) / sizeof(no_ca[0]); i++)
		refused_with(f, "conninfo", no_ca[i], "sslrootcert=FILE");
	/* the message names the setting with its group, for both */
	refused_with(f, "admin_conninfo", "host=db.example.com sslmode=require "
		     "sslrootcert=/ca.pem", "store.admin_conninfo");
	refused_with(f, "conninfo", "host=db.example.com sslrootcert=/ca.pem "
		     "gssencmode=prefer", "gssencmode");
	/* a service file is read from elsewhere: its settings belong here */
	refused_with(f, "conninfo", "service=totp", "service=");
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		accepted(f, fine[i]);
}

/* libpq's parse errors quote the string, password and all: the config
 * loader and the store say only that it is invalid, and where. */
static void test_conninfo_invalid_quiet(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *conninfo, *secret;
	} bad[] = {
		{ "postgresql://u:Sup3r%zzSecret@db.example.com/totp", "zzSecret" },
		{ "host=/tmp password=hunter2 2ndhalfOfPw dbname=totp", "2ndhalf" },
		{ "host=/tmp password='hunter2", "hunter2" },
		{ "host=/tmp nosuchkeyword=hunter2", "hunter2" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tp_config cfg = { .path = f->conf, .store_backend = TP_STORE_POSTGRESQL };
		struct tp_store *s = NULL;
		char *err = NULL;

		assert_int_equal(load_conninfo(f, "conninfo", bad[i].conninfo, &err),
				 TP_EINVAL);
		assert_contains(err, "store.conninfo");
		assert_contains(err, "not a valid");
		if (strstr(err, bad[i].secret) != NULL)
			fail_msg("the config error shows the password: %s", err);
		free(err);
		err = NULL;
		/* the store too (a caller that builds its own config) */
		cfg.store_conninfo = (char *)bad[i].conninfo;
		assert_int_not_equal(tp_store_open(&cfg, &s, &err), TP_OK);
		assert_null(s);
		assert_non_null(err);
		assert_contains(err, "store.conninfo");
		if (strstr(err, bad[i].secret) != NULL)
			fail_msg("the store error shows the password: %s", err);
		free(err);
	}
}

extern char **environ;

/* Under su or sudo the environment is the caller's: PG* variables must
 * not steer the connection (here they would send it to 127.0.0.1:4), and
 * the process's environment is left exactly as it was. */
static void test_conninfo_environment_ignored(void **state)
{
	struct fixture *f = *state;
	char *conninfo = unit_path("host=%s dbname=totp user=nobody connect_timeout=2", f->dir);
	struct tp_config cfg = { .path = f->conf, .store_backend = TP_STORE_POSTGRESQL,
				 .store_conninfo = conninfo };
	static const char *const vars[][2] = {
		{ "PGHOSTADDR", "127.0.0.1" }, { "PGHOST", "127.0.0.1" }, { "PGPORT", "4" },
		{ "PGSSLMODE", "disable" }, { "PGSERVICEFILE", "/nonexistent" },
		{ "PGSYSCONFDIR", "/nonexistent" }, { "PGCONNECT_TIMEOUT", "1" },
	};
	struct tp_store *s = NULL;
	char *err = NULL, **env_before;
	char *socket = unit_path("%s/.s.PGSQL.5432", f->dir);

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		assert_int_equal(setenv(vars[i][0], vars[i][1], 1), 0);
	env_before = environ;
	assert_int_equal(tp_store_open(&cfg, &s, &err), TP_EIO);
	assert_null(s);
	assert_non_null(err);
	/* the conninfo's socket (no server there), not the environment's */
	assert_contains(err, socket);
	if (strstr(err, "127.0.0.1") != NULL)
		fail_msg("PGHOSTADDR steered the connection: %s", err);
	assert_true(environ == env_before);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		assert_non_null(getenv(vars[i][0]));
		assert_string_equal(getenv(vars[i][0]), vars[i][1]);
		unsetenv(vars[i][0]);
	}
	free(err);
	free(socket);
	free(conninfo);
}

static const char *param(const struct tp_conninfo *c, const char *key)
{
	for (size_t i = 0; c->keys[i] != NULL; i++)
		if (strcmp(c->keys[i], key) == 0)
			return c->vals[i];
	return NULL;
}

/* What libpq is given: TLS verify-full to a remote host when the conninfo
 * names no mode, no file from the home directory, the timeout bounded. */
static void test_conninfo_parameters(void **state)
{
	struct tp_conninfo c;
	const char *problem = NULL;

	(void)state;
	assert_int_equal(tp_conninfo_build(&c, "host=db.example.com dbname=totp "
					   "sslrootcert=/ca.pem connect_timeout=99999999999999",
					   "test", &problem), TP_OK);
	assert_null(problem);
	assert_string_equal(param(&c, "sslmode"), "verify-full");
	assert_string_equal(param(&c, "sslrootcert"), "/ca.pem");
	assert_string_equal(param(&c, "gssencmode"), "disable");
	assert_string_equal(param(&c, "passfile"), "/dev/null/pgpass");
	assert_string_equal(param(&c, "sslcert"), "/dev/null/postgresql.crt");
	assert_string_equal(param(&c, "sslkey"), "/dev/null/postgresql.key");
	assert_string_equal(param(&c, "sslcrl"), "/dev/null/root.crl");
	assert_string_equal(param(&c, "connect_timeout"), "60");
	assert_int_equal(c.timeout_s, 60);
	assert_string_equal(param(&c, "options"), "-c statement_timeout=60000");
	assert_null(param(&c, "service"));
	tp_conninfo_free(&c);

	/* local: libpq's default mode, the files still not from $HOME */
	assert_int_equal(tp_conninfo_build(&c, "host=/tmp passfile=/etc/pgpass "
					   "options='-c work_mem=1MB' connect_timeout=1",
					   "test", &problem), TP_OK);
	assert_null(param(&c, "sslmode"));
	assert_string_equal(param(&c, "passfile"), "/etc/pgpass");
	assert_string_equal(param(&c, "sslrootcert"), "/dev/null/root.crt");
	assert_string_equal(param(&c, "connect_timeout"), "2");
	assert_string_equal(param(&c, "options"), "-c work_mem=1MB -c statement_timeout=2000");
	tp_conninfo_free(&c);
	for (size_t i = 0; i < 4; i++) {
		static const char *const t[][2] = { { "0", "5" }, { "-3", "5" },
			{ "61", "60" }, { "2147483648", "60" } };
		char *ci = unit_path("dbname=totp connect_timeout=%s", t[i][0]);

		assert_int_equal(tp_conninfo_build(&c, ci, "test", &problem), TP_OK);
		assert_string_equal(param(&c, "connect_timeout"), t[i][1]);
		tp_conninfo_free(&c);
		free(ci);
	}
	assert_int_equal(tp_conninfo_build(&c, "host=db.example.com sslmode=require "
					   "sslrootcert=/ca.pem", "test", &problem), TP_EINVAL);
	assert_non_null(problem);
	tp_conninfo_free(&c);
}

/* After a prompt the server that answered before it is tried first: the
 * host, hostaddr and port lists turn so it leads, the others in order;
 * a single port, which applies to every server, stays. */
static void test_conninfo_prefer(void **state)
{
	struct tp_conninfo c;
	const char *problem = NULL;

	(void)state;
	assert_int_equal(tp_conninfo_build(&c, "host=/a,/b,/c port=5433,5434,5435 dbname=totp",
					   "test", &problem), TP_OK);
	assert_int_equal(tp_conninfo_server(&c, "/b", "5434"), 1);
	assert_int_equal(tp_conninfo_server(&c, "/c", "5435"), 2);
	assert_int_equal(tp_conninfo_server(&c, "/d", "5435"), -1);
	assert_int_equal(tp_conninfo_prefer(&c, 2), TP_OK);
	assert_string_equal(param(&c, "host"), "/c,/a,/b");
	assert_string_equal(param(&c, "port"), "5435,5433,5434");
	/* the answered server is named in the conninfo's own order */
	assert_int_equal(tp_conninfo_server(&c, "/c", "5435"), 2);
	tp_conninfo_free(&c);

	assert_int_equal(tp_conninfo_build(&c, "host=/a,/a,/b port=1,2,3", "test", &problem),
			 TP_OK);
	assert_int_equal(tp_conninfo_server(&c, "/a", "2"), 1);   /* the port tells */
	assert_int_equal(tp_conninfo_prefer(&c, 1), TP_OK);
	assert_string_equal(param(&c, "host"), "/a,/a,/b");
	assert_string_equal(param(&c, "port"), "2,1,3");
	tp_conninfo_free(&c);

	assert_int_equal(tp_conninfo_build(&c, "host=/a,/b port=5432", "test", &problem), TP_OK);
	assert_int_equal(tp_conninfo_server(&c, "/b", "5432"), 1);
	assert_int_equal(tp_conninfo_prefer(&c, 1), TP_OK);
	assert_string_equal(param(&c, "host"), "/b,/a");
	assert_string_equal(param(&c, "port"), "5432");
	/* the first, or one out of range: nothing turns */
	tp_conninfo_free(&c);
	assert_int_equal(tp_conninfo_build(&c, "host=/a,/b", "test", &problem), TP_OK);
	assert_int_equal(tp_conninfo_prefer(&c, 0), TP_OK);
	assert_int_equal(tp_conninfo_prefer(&c, 7), TP_OK);
	assert_string_equal(param(&c, "host"), "/a,/b");
	tp_conninfo_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issuer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_matches_defaults, setup, teardown),
		cmocka_unit_test(test_settings_documented),
		cmocka_unit_test_setup_teardown(test_conninfo_tls_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conninfo_invalid_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conninfo_environment_ignored, setup, teardown),
		cmocka_unit_test(test_conninfo_parameters),
		cmocka_unit_test(test_conninfo_prefer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
