/* The file store: round trips, update semantics, atomic replacement, and
 * every file it must refuse to trust.  Each test gets its own temp folder
 * with a config whose store.path points into it and no store.user, so the
 * effective uid owns everything. */
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

#include <dlfcn.h>

#include "unit.h"
#include "config.h"
#include "login.h"
#include "profile.h"
#include "secret.h"
#include "store.h"
#include "totp.h"

#define OWNER "02c9e252-41be-11e9-81d5-00a0986138f7"
#define SVM   "11111111-2222-3333-4444-555555555555"

struct fixture {
	char *dir, *store, *conf;
	struct tp_config *cfg;
	struct tp_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *text, *err = NULL;

	assert_non_null(f);
	f->dir = unit_tmpdir();
	f->store = unit_path("%s/store", f->dir);
	f->conf = unit_path("%s/totp_profile.conf", f->dir);
	assert_int_equal(mkdir(f->store, 0700), 0);
	assert_int_equal(chmod(f->store, 0700), 0);
	text = unit_path("store = { path = \"%s\"; user = \"%s\"; };\n"
			 "cluster = { name = \"c1\"; uuid = \"" OWNER "\"; };\n"
			 "svms = ( { name = \"vs0\"; uuid = \"" SVM "\";"
			 " members = [ \"bob\" ]; } );\n", f->store,
			 getpwuid(geteuid())->pw_name);
	unit_write_file(f->conf, text, 0600);
	free(text);
	if (tp_config_load(f->conf, &f->cfg, &err) != TP_OK)
		fail_msg("config: %s", err ? err : "?");
	if (tp_store_open(f->cfg, &f->s, &err) != TP_OK)
		fail_msg("store: %s", err ? err : "?");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tp_store_close(f->s);
	tp_config_free(f->cfg);
	free(f->store);
	free(f->conf);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static char *profile_path(const struct fixture *f, const char *owner,
			  const char *account)
{
	return unit_path("%s/%s/%s.ini", f->store, owner, account);
}

static void make_profile(struct tp_profile *p, const char *owner,
			 const char *account, const char *comment)
{
	static const struct tp_totp_params params = { TP_SHA1, 6, 30 };
	char codes[5][TP_EMERGENCY_DIGITS + 1];

	assert_int_equal(tp_profile_generate(p, owner, account, &params, 20, 5, codes),
			 TP_OK);
	snprintf(p->comment, sizeof(p->comment), "%s", comment);
	tp_wipe(codes, sizeof(codes));
}

static void put_profile(struct fixture *f, const char *owner, const char *account,
			const char *comment)
{
	struct tp_profile p;

	make_profile(&p, owner, account, comment);
	assert_int_equal(tp_store_put(f->s, &p), TP_OK);
	tp_profile_wipe(&p);
}

static void assert_same_profile(const struct tp_profile *a, const struct tp_profile *b)
{
	assert_string_equal(a->owner_uuid, b->owner_uuid);
	assert_string_equal(a->account, b->account);
	assert_int_equal(a->secret_len, b->secret_len);
	assert_memory_equal(a->secret, b->secret, a->secret_len);
	assert_int_equal(a->totp.alg, b->totp.alg);
	assert_int_equal(a->totp.digits, b->totp.digits);
	assert_int_equal(a->totp.period, b->totp.period);
	assert_string_equal(a->comment, b->comment);
	assert_int_equal(a->enabled, b->enabled);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->last_step, b->last_step);
	assert_int_equal(a->failures, b->failures);
	assert_int_equal(a->lock_until, b->lock_until);
	assert_memory_equal(a->ec_salt, b->ec_salt, TP_SALT_LEN);
	assert_int_equal(a->ec_count, b->ec_count);
	for (unsigned i = 0; i < a->ec_count; i++) {
		assert_int_equal(a->ec_spent[i], b->ec_spent[i]);
		if (!a->ec_spent[i])
			assert_memory_equal(a->ec_hash[i], b->ec_hash[i], TP_HASH_LEN);
	}
}

static void test_put_get_round_trip(void **state)
{
	struct fixture *f = *state;
	struct tp_profile p, q;
	static const struct tp_totp_params params = { TP_SHA256, 8, 60 };
	char codes[6][TP_EMERGENCY_DIGITS + 1];

	assert_int_equal(tp_profile_generate(&p, OWNER, "joe.smith$", &params, 32, 6,
					     codes), TP_OK);
	strcpy(p.comment, "\"quoted\" ; semi # hash = eq [sect] %41 caf\xc3\xa9 "
			  "\xe2\x9c\x93 \xf0\x9f\x94\x91 ");
	p.enabled = false;
	p.created = 1600000000;
	p.last_step = 53333333;
	p.failures = 4;
	p.lock_until = 1600000600;
	p.ec_spent[1] = true;
	p.ec_spent[5] = true;
	assert_int_equal(tp_store_put(f->s, &p), TP_OK);
	assert_int_equal(tp_store_get(f->s, OWNER, "joe.smith$", &q), TP_OK);
	assert_same_profile(&p, &q);
	/* the spent codes are recognised as spent, the others still match */
	for (unsigned i = 0; i < 6; i++) {
		unsigned slot;
		assert_int_equal(tp_profile_match_emergency(&q, codes[i], &slot),
				 i == 1 || i == 5 ? TP_EEXIST : TP_OK);
	}
	/* replace: the second put wins */
	p.enabled = true;
	strcpy(p.comment, "");
	p.last_step = -1;
	assert_int_equal(tp_store_put(f->s, &p), TP_OK);
	assert_int_equal(tp_store_get(f->s, OWNER, "joe.smith$", &q), TP_OK);
	assert_same_profile(&p, &q);
	/* the same account under another owner is another record */
	assert_int_equal(tp_store_get(f->s, SVM, "joe.smith$", &q), TP_ENOENT);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
	tp_wipe(codes, sizeof(codes));
}

static void test_file_properties(void **state)
{
	struct fixture *f = *state;
	char *path = profile_path(f, OWNER, "alice");
	char *tmp = unit_path("%s/%s/.alice.tmp", f->store, OWNER);
	char *dir = unit_path("%s/%s", f->store, OWNER);
	struct stat st;

	put_profile(f, OWNER, "alice", "x");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, geteuid());
	assert_false(unit_exists(tmp));
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	/* the same after a replace, whatever the umask */
	mode_t old = umask(0);
	put_profile(f, OWNER, "alice", "y");
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_false(unit_exists(tmp));
	free(path);
	free(tmp);
	free(dir);
}

/* What an update callback saw, and what it should do. */
struct update_ctx {
	unsigned calls;
	bool exists;
	struct tp_profile seen;
	enum tp_update_action action;
	enum tp_status fail;
	const struct tp_profile *replace;   /* write this record */
	const char *comment;                /* or set this comment */
};

static enum tp_update_action record_update(struct tp_profile *p, bool exists,
					   void *arg, enum tp_status *fail)
{
	struct update_ctx *c = arg;

	c->calls++;
	c->exists = exists;
	c->seen = *p;
	if (c->replace != NULL)
		*p = *c->replace;
	if (c->comment != NULL)
		snprintf(p->comment, sizeof(p->comment), "%s", c->comment);
	if (c->fail != TP_OK)
		*fail = c->fail;
	return c->action;
}

static void test_update_semantics(void **state)
{
	struct fixture *f = *state;
	struct tp_profile p, q;
	const struct tp_profile zero = { 0 };
	struct update_ctx c;
	char *path = profile_path(f, OWNER, "alice");
	char *before, *after;
	struct stat st1, st2;

	/* missing record: exists is false, *p zeroed but for the key */
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_KEEP;
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_OK);
	assert_int_equal(c.calls, 1);
	assert_false(c.exists);
	assert_string_equal(c.seen.owner_uuid, OWNER);
	assert_string_equal(c.seen.account, "alice");
	assert_int_equal(c.seen.secret_len, 0);
	assert_memory_equal(c.seen.secret, zero.secret, TP_SECRET_MAX);
	assert_int_equal(c.seen.ec_count, 0);
	assert_string_equal(c.seen.comment, "");
	assert_false(c.seen.enabled);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_ENOENT);
	assert_false(unit_exists(path));

	/* WRITE creates it */
	make_profile(&p, OWNER, "alice", "first");
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.replace = &p;
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_OK);
	assert_int_equal(c.calls, 1);
	assert_false(c.exists);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_same_profile(&p, &q);

	/* an existing record is handed over as stored; WRITE replaces it */
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.comment = "second";
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_OK);
	assert_true(c.exists);
	assert_same_profile(&c.seen, &p);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "second");
	assert_memory_equal(q.secret, p.secret, p.secret_len);

	/* KEEP: changes made by the callback are not written */
	before = unit_read_file(path, NULL);
	assert_int_equal(lstat(path, &st1), 0);
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_KEEP;
	c.comment = "not written";
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_OK);
	assert_true(c.exists);
	after = unit_read_file(path, NULL);
	assert_string_equal(before, after);
	free(after);

	/* *fail wins over the action, and nothing is written or removed */
	static const enum tp_update_action actions[] = { TP_UPDATE_WRITE, TP_UPDATE_DELETE };
	for (size_t i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		c.action = actions[i];
		c.fail = TP_EEXIST;
		c.comment = "must not appear";
		assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c),
				 TP_EEXIST);
		assert_int_equal(c.calls, 1);
		after = unit_read_file(path, NULL);
		assert_non_null(after);
		assert_string_equal(before, after);
		free(after);
		assert_int_equal(lstat(path, &st2), 0);
		assert_int_equal(st1.st_ino, st2.st_ino);
	}
	free(before);

	/* DELETE removes it; DELETE of a missing record is TP_ENOENT */
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_DELETE;
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_OK);
	assert_true(c.exists);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_ENOENT);
	assert_false(unit_exists(path));
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_DELETE;
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c),
			 TP_ENOENT);
	assert_int_equal(c.calls, 1);
	assert_false(c.exists);
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
	free(path);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct tp_profile q;
	char *bob = profile_path(f, OWNER, "bob");

	put_profile(f, OWNER, "alice", "x");
	assert_int_equal(tp_store_delete(f->s, OWNER, "alice"), TP_OK);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_ENOENT);
	assert_int_equal(tp_store_delete(f->s, OWNER, "alice"), TP_ENOENT);
	/* an owner that has no folder yet */
	assert_int_equal(tp_store_delete(f->s, SVM, "alice"), TP_ENOENT);
	/* a corrupt record can still be deleted */
	unit_write_file(bob, "garbage\n", 0600);
	assert_int_equal(tp_store_get(f->s, OWNER, "bob", &q), TP_ECORRUPT);
	assert_int_equal(tp_store_delete(f->s, OWNER, "bob"), TP_OK);
	assert_false(unit_exists(bob));
	/* and re-created afterwards */
	put_profile(f, OWNER, "alice", "again");
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "again");
	tp_profile_wipe(&q);
	free(bob);
}

struct list_ctx {
	char names[1024];
	unsigned calls, stop_after;
};

static int collect(const struct tp_profile *p, void *arg)
{
	struct list_ctx *c = arg;
	size_t n = strlen(c->names);

	snprintf(c->names + n, sizeof(c->names) - n, "%s%.4s/%s",
		 n ? "," : "", p->owner_uuid, p->account);
	c->calls++;
	return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct list_ctx c;
	unsigned skipped;
	char *eve = profile_path(f, OWNER, "eve");
	char *stray = unit_path("%s/%s/notes.txt", f->store, OWNER);

	/* nothing yet */
	memset(&c, 0, sizeof(c));
	skipped = 7;
	assert_int_equal(tp_store_list(f->s, NULL, collect, &c, &skipped), TP_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(skipped, 0);

	put_profile(f, OWNER, "carol", "c");
	put_profile(f, OWNER, "alice", "a");
	put_profile(f, OWNER, "bob", "b");
	put_profile(f, SVM, "bob", "svm bob");
	unit_write_file(eve, "[profile]\nformat = 1\n", 0600);     /* corrupt */
	unit_write_file(stray, "not a profile\n", 0600);            /* ignored */

	memset(&c, 0, sizeof(c));
	skipped = 0;
	assert_int_equal(tp_store_list(f->s, OWNER, collect, &c, &skipped), TP_OK);
	assert_string_equal(c.names, "02c9/alice,02c9/bob,02c9/carol");
	assert_int_equal(skipped, 1);

	memset(&c, 0, sizeof(c));
	skipped = 0;
	assert_int_equal(tp_store_list(f->s, SVM, collect, &c, &skipped), TP_OK);
	assert_string_equal(c.names, "1111/bob");
	assert_int_equal(skipped, 0);

	/* all owners, in uuid order */
	memset(&c, 0, sizeof(c));
	skipped = 0;
	assert_int_equal(tp_store_list(f->s, NULL, collect, &c, &skipped), TP_OK);
	assert_string_equal(c.names, "02c9/alice,02c9/bob,02c9/carol,1111/bob");
	assert_int_equal(skipped, 1);

	/* skipped may be NULL; the callback can stop the walk */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(tp_store_list(f->s, NULL, collect, &c, NULL), TP_OK);
	assert_string_equal(c.names, "02c9/alice,02c9/bob");

	/* an owner without a folder has no records; a bad uuid is refused */
	memset(&c, 0, sizeof(c));
	assert_int_equal(tp_store_list(f->s, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
				       collect, &c, NULL), TP_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(tp_store_list(f->s, "../store", collect, &c, NULL), TP_EINVAL);
	assert_int_equal(c.calls, 0);
	free(eve);
	free(stray);
}

/* A crash between creating the temp file and the rename leaves it behind;
 * the next write under the lock removes it, without following it. */
static void test_stale_tmp_removed(void **state)
{
	struct fixture *f = *state;
	struct tp_profile q;
	char *tmp = unit_path("%s/%s/.alice.tmp", f->store, OWNER);
	char *outside = unit_path("%s/outside", f->dir);
	char *content;

	/* first write of the account, stale file already there */
	put_profile(f, OWNER, "zed", "creates the owner folder");
	unit_write_file(tmp, "half-written junk", 0600);
	put_profile(f, OWNER, "alice", "one");
	assert_false(unit_exists(tmp));
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "one");

	/* a stale temp that is a symlink: removed, its target untouched */
	unit_write_file(outside, "do not touch", 0600);
	assert_int_equal(symlink(outside, tmp), 0);
	put_profile(f, OWNER, "alice", "two");
	assert_false(unit_exists(tmp));
	content = unit_read_file(outside, NULL);
	assert_string_equal(content, "do not touch");
	free(content);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "two");
	tp_profile_wipe(&q);
	free(tmp);
	free(outside);
}

/* Store refusals share this: get and update both refuse with `want`, the
 * callback never runs, and the file is left as it was. */
static void expect_refused(struct fixture *f, const char *owner, const char *account,
			   enum tp_status want)
{
	struct tp_profile q;
	struct update_ctx c;
	enum tp_status st;

	st = tp_store_get(f->s, owner, account, &q);
	if (st != want)
		fail_msg("get %s/%s: %s, expected %s", owner, account, tp_status_str(st),
			 tp_status_str(want));
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.comment = "overwritten";
	st = tp_store_update(f->s, owner, account, record_update, &c);
	if (st != want)
		fail_msg("update %s/%s: %s, expected %s", owner, account,
			 tp_status_str(st), tp_status_str(want));
	assert_int_equal(c.calls, 0);
}

static void test_refuse_symlinked_profile(void **state)
{
	struct fixture *f = *state;
	char *path = profile_path(f, OWNER, "alice");
	char *outside = unit_path("%s/outside.ini", f->dir);
	char *text, *after;
	struct tp_profile p;
	struct stat st;
	unsigned skipped = 0;
	struct list_ctx c;

	put_profile(f, OWNER, "alice", "real");
	text = unit_read_file(path, NULL);
	/* the link points at a perfectly valid profile: still refused */
	unit_write_file(outside, text, 0600);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(outside, path), 0);

	expect_refused(f, OWNER, "alice", TP_EPERM);
	assert_contains(tp_store_detail(f->s), "alice.ini");
	/* put does not replace it either */
	make_profile(&p, OWNER, "alice", "put over a link");
	assert_int_equal(tp_store_put(f->s, &p), TP_EPERM);
	tp_profile_wipe(&p);
	/* list skips it */
	memset(&c, 0, sizeof(c));
	assert_int_equal(tp_store_list(f->s, OWNER, collect, &c, &skipped), TP_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(skipped, 1);

	after = unit_read_file(outside, NULL);
	assert_string_equal(after, text);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(after);
	free(text);
	free(path);
	free(outside);
}

static void test_refuse_symlinked_owner_dir(void **state)
{
	struct fixture *f = *state;
	char *owner_dir = unit_path("%s/%s", f->store, SVM);
	char *elsewhere = unit_path("%s/elsewhere", f->dir);
	char *moved = unit_path("%s/elsewhere/bob.ini", f->dir);
	char *before, *after;
	struct list_ctx c;

	put_profile(f, SVM, "bob", "real");
	assert_int_equal(rename(owner_dir, elsewhere), 0);
	assert_int_equal(symlink(elsewhere, owner_dir), 0);
	before = unit_read_file(moved, NULL);

	expect_refused(f, SVM, "bob", TP_EPERM);
	/* the detail (logged by the module) names the real reason */
	assert_contains(tp_store_detail(f->s), "is a symbolic link");
	assert_int_equal(tp_store_delete(f->s, SVM, "bob"), TP_EPERM);
	memset(&c, 0, sizeof(c));
	assert_int_not_equal(tp_store_list(f->s, SVM, collect, &c, NULL), TP_OK);
	assert_int_equal(c.calls, 0);
	/* listing everything never reports a record through the link, and
	 * the refused folder does not hide the other owners' profiles */
	put_profile(f, OWNER, "alice", "a");
	memset(&c, 0, sizeof(c));
	unsigned skipped = 0;
	assert_int_equal(tp_store_list(f->s, NULL, collect, &c, &skipped), TP_OK);
	assert_not_contains(c.names, "1111/");
	assert_int_equal(c.calls, 1);
	assert_int_equal(skipped, 1);

	after = unit_read_file(moved, NULL);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(owner_dir);
	free(elsewhere);
	free(moved);
}

static void test_refuse_modes(void **state)
{
	struct fixture *f = *state;
	char *path = profile_path(f, OWNER, "alice");
	char *dir = unit_path("%s/%s", f->store, OWNER);
	static const mode_t bad[] = { 0644, 0640, 0604, 0400, 0700, 0660, 04600 };
	struct tp_profile q;

	put_profile(f, OWNER, "alice", "x");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		expect_refused(f, OWNER, "alice", TP_EPERM);
	}
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);

	/* the owner folder must be 0700 */
	assert_int_equal(chmod(dir, 0755), 0);
	expect_refused(f, OWNER, "alice", TP_EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	tp_profile_wipe(&q);
	free(path);
	free(dir);
}

static void test_refuse_hard_link(void **state)
{
	struct fixture *f = *state;
	char *path = profile_path(f, OWNER, "alice");
	char *alias = unit_path("%s/alias", f->dir);
	struct tp_profile q;

	put_profile(f, OWNER, "alice", "x");
	assert_int_equal(link(path, alias), 0);
	expect_refused(f, OWNER, "alice", TP_EPERM);
	assert_int_equal(unlink(alias), 0);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	tp_profile_wipe(&q);
	free(path);
	free(alias);
}

/* Replace the first occurrence of `from` in text by `to`. */
static char *edited(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);

	assert_non_null(at);
	return unit_path("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

static void test_refuse_corrupt(void **state)
{
	struct fixture *f = *state;
	char *path = profile_path(f, OWNER, "alice");
	char *valid, *cases[12];
	size_t len = 0, n = 0;
	unsigned failures = 0;

	put_profile(f, OWNER, "alice", "x");
	valid = unit_slurp(path, &len);
	cases[n++] = unit_path("%s", "");
	cases[n++] = unit_path("%.*s", (int)(len / 2), valid);             /* truncated */
	cases[n++] = unit_path("%.*s", (int)(strrchr(valid, '\n') -        /* last line cut */
					     valid) - 3, valid);
	cases[n++] = unit_path("%s", "hello world\n");
	cases[n++] = unit_path("%s", "\x7f" "ELF\x02\x01\x01\xff\xfe garbage");
	cases[n++] = edited(valid, "[profile]\n", "[profile]\nenabled = true\n");
	cases[n++] = unit_path("%scode1 = spent\n", valid);                /* dup in [emergency] */
	cases[n++] = edited(valid, "[profile]\n", "[profile]\ncolour = red\n");
	cases[n++] = edited(valid, "digits = \"6\"", "digits = \"9\"");
	cases[n++] = edited(valid, "[emergency]", "[other]");
	{
		/* over-large: the valid text padded with comments past 8192 bytes */
		char *big = malloc(TP_PROFILE_FILE_MAX + 200);
		assert_non_null(big);
		strcpy(big, valid);
		while (strlen(big) <= TP_PROFILE_FILE_MAX)
			strcat(big, "# padding padding padding padding padding\n");
		cases[n++] = big;
	}
	for (size_t i = 0; i < n; i++) {
		struct tp_profile q;
		struct update_ctx c;
		enum tp_status st1, st2;

		unit_write_file(path, cases[i], 0600);
		st1 = tp_store_get(f->s, OWNER, "alice", &q);
		memset(&c, 0, sizeof(c));
		c.action = TP_UPDATE_WRITE;
		st2 = tp_store_update(f->s, OWNER, "alice", record_update, &c);
		if (st1 != TP_ECORRUPT || st2 != TP_ECORRUPT || c.calls != 0) {
			print_error("corrupt case %zu: get %s, update %s, %u calls\n", i,
				    tp_status_str(st1), tp_status_str(st2), c.calls);
			failures++;
		}
		free(cases[i]);
	}
	/* the valid text again: accepted, so the cases above failed for cause */
	unit_write_file(path, valid, 0600);
	struct tp_profile q;
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	tp_profile_wipe(&q);
	free(valid);
	free(path);
	assert_int_equal(failures, 0);
}

/* A file copied under another name or owner is not that profile. */
static void test_refuse_misplaced(void **state)
{
	struct fixture *f = *state;
	char *alice = profile_path(f, OWNER, "alice");
	char *bob = profile_path(f, OWNER, "bob");
	char *svm_alice = profile_path(f, SVM, "alice");
	char *text;

	put_profile(f, OWNER, "alice", "x");
	put_profile(f, SVM, "carol", "creates the svm folder");
	text = unit_read_file(alice, NULL);
	unit_write_file(bob, text, 0600);
	unit_write_file(svm_alice, text, 0600);
	expect_refused(f, OWNER, "bob", TP_ECORRUPT);
	expect_refused(f, SVM, "alice", TP_ECORRUPT);
	free(text);
	free(alice);
	free(bob);
	free(svm_alice);
}

static void test_refuse_bad_names(void **state)
{
	struct fixture *f = *state;
	static const char *const accounts[] = {
		"../x", "a/b", "", ".x", "-x", "..", "x/../../y", "a\nb",
	};
	static const char *const owners[] = {
		"../store", "02C9E252-41BE-11E9-81D5-00A0986138F7", "", "..",
		"02c9e252-41be-11e9-81d5-00a0986138f7/..",
	};
	struct tp_profile p;
	DIR *d;
	struct dirent *e;
	unsigned entries = 0;

	for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
		expect_refused(f, OWNER, accounts[i], TP_EINVAL);
		assert_int_equal(tp_store_delete(f->s, OWNER, accounts[i]), TP_EINVAL);
	}
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		expect_refused(f, owners[i], "alice", TP_EINVAL);
		assert_int_equal(tp_store_delete(f->s, owners[i], "alice"), TP_EINVAL);
	}
	/* put checks the record's own key */
	make_profile(&p, OWNER, "alice", "x");
	strcpy(p.account, "../x");
	assert_int_equal(tp_store_put(f->s, &p), TP_EINVAL);
	tp_profile_wipe(&p);
	/* nothing was created anywhere */
	char *x = unit_path("%s/x", f->dir);
	assert_false(unit_exists(x));
	free(x);
	d = opendir(f->store);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	assert_int_equal(entries, 0);
}

/* A record that cannot be serialised is not written, and the old one stays. */
static void test_put_invalid_record(void **state)
{
	struct fixture *f = *state;
	struct tp_profile p, q;

	put_profile(f, OWNER, "alice", "kept");
	make_profile(&p, OWNER, "alice", "");
	strcpy(p.comment, "bad\ncomment");
	assert_int_equal(tp_store_put(f->s, &p), TP_EINVAL);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "kept");
	tp_profile_wipe(&p);
	tp_profile_wipe(&q);
}

static void test_store_open_refuses(void **state)
{
	struct fixture *f = *state;
	struct tp_store *s = NULL;
	char *err = NULL, *saved = f->cfg->store_path;
	char *link = unit_path("%s/storelink", f->dir);
	char *missing = unit_path("%s/missing", f->dir);

	assert_int_equal(chmod(f->store, 0770), 0);
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_EPERM);
	assert_null(s);
	assert_contains(err, f->store);
	free(err);
	assert_int_equal(chmod(f->store, 0757), 0);
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_EPERM);
	free(err);
	assert_int_equal(chmod(f->store, 0755), 0);
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_OK);
	tp_store_close(s);

	assert_int_equal(symlink(f->store, link), 0);
	f->cfg->store_path = link;
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_EPERM);
	assert_contains(err, link);
	free(err);
	f->cfg->store_path = missing;
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_ENOENT);
	assert_contains(err, missing);
	free(err);
	f->cfg->store_path = saved;
	free(link);
	free(missing);
}

/* Lock exclusion: a child holds the account's lock (its callback signals
 * through a pipe, then sleeps); the parent's update must wait for it and
 * then see the child's write, because the record is re-read under the
 * lock. */
#define CHILD_HOLD_MS 300

struct child_ctx { int signal_fd; };

static enum tp_update_action child_slow_write(struct tp_profile *p, bool exists,
					      void *arg, enum tp_status *fail)
{
	struct child_ctx *c = arg;
	struct timespec hold = { 0, CHILD_HOLD_MS * 1000000L };
	char b = exists ? 'L' : 'N';

	(void)fail;
	if (write(c->signal_fd, &b, 1) != 1)
		_exit(3);
	while (nanosleep(&hold, &hold) != 0 && errno == EINTR)
		;
	strcpy(p->comment, "written by child");
	return TP_UPDATE_WRITE;
}

struct parent_ctx {
	char comment[TP_COMMENT_MAX + 1];
	struct timespec at;
};

static enum tp_update_action parent_look(struct tp_profile *p, bool exists,
					 void *arg, enum tp_status *fail)
{
	struct parent_ctx *c = arg;

	(void)exists;
	(void)fail;
	clock_gettime(CLOCK_MONOTONIC, &c->at);
	strcpy(c->comment, p->comment);
	return TP_UPDATE_KEEP;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

static void test_lock_exclusion(void **state)
{
	struct fixture *f = *state;
	struct parent_ctx pc;
	struct tp_profile q;
	struct timespec t0;
	int fds[2], status = 0;
	char b = 0;
	pid_t pid;

	put_profile(f, OWNER, "alice", "before");
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct child_ctx cc = { fds[1] };
		close(fds[0]);
		_exit(tp_store_update(f->s, OWNER, "alice", child_slow_write, &cc) == TP_OK
		      ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &b, 1), 1);     /* the child holds the lock */
	close(fds[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(b, 'L');

	/* an unlocked read still sees the old version, never a mix */
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "before");
	tp_profile_wipe(&q);

	memset(&pc, 0, sizeof(pc));
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", parent_look, &pc), TP_OK);
	assert_string_equal(pc.comment, "written by child");
	long waited = ms_between(&t0, &pc.at);
	if (waited < CHILD_HOLD_MS - 100)
		fail_msg("parent's update ran after %ld ms, before the child released "
			 "the lock", waited);

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "written by child");
	tp_profile_wipe(&q);
}

/* A lock file that is a hard link to someone else's file is refused
 * before anything is done to it: root writing for the store user must not
 * chown it (that would hand the linked file to the store user). */
static void test_planted_lock_link_not_chowned(void **state)
{
	struct fixture *f = *state;
	struct tp_config *cfg = NULL;
	struct tp_store *s = NULL;
	struct update_ctx c;
	struct stat st;
	char *conf, *text, *err = NULL, *odir, *lock, *victim;

	if (geteuid() != 0)
		skip();                 /* only root chowns to the store user */
	conf = unit_path("%s/daemon.conf", f->dir);
	text = unit_path("store = { path = \"%s\"; user = \"daemon\"; };\n"
			 "cluster = { name = \"c1\"; uuid = \"" OWNER "\"; };\n", f->store);
	unit_write_file(conf, text, 0600);
	assert_int_equal(chown(f->store, 1, 1), 0);     /* daemon's store */
	if (tp_config_load(conf, &cfg, &err) != TP_OK || tp_store_open(cfg, &s, &err) != TP_OK)
		fail_msg("store for daemon: %s", err ? err : "?");
	struct tp_profile p;
	make_profile(&p, OWNER, "alice", "x");
	assert_int_equal(tp_store_put(s, &p), TP_OK);
	tp_profile_wipe(&p);

	odir = unit_path("%s/%s", f->store, OWNER);
	lock = unit_path("%s/.alice.lock", odir);
	victim = unit_path("%s/victim", odir);        /* root's file, same fs */
	unit_write_file(victim, "root's secret\n", 0600);
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(link(victim, lock), 0);

	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.comment = "overwritten";
	assert_int_equal(tp_store_update(s, OWNER, "alice", record_update, &c), TP_EPERM);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_uid, 0);                 /* not handed over */
	assert_int_equal(st.st_mode & 07777, 0600);

	tp_store_close(s);
	tp_config_free(cfg);
	free(conf); free(text); free(odir); free(lock); free(victim);
}

/* A lock held by a stuck process makes the update give up, not hang. */
static void test_lock_wait_bounded(void **state)
{
	struct fixture *f = *state;
	struct update_ctx c;
	struct timespec t0, t1;
	char *lock;
	int fd;

	put_profile(f, OWNER, "alice", "before");
	lock = unit_path("%s/%s/.alice.lock", f->store, OWNER);
	fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);        /* the stuck holder */

	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.comment = "after";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tp_store_update(f->s, OWNER, "alice", record_update, &c), TP_EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(tp_store_detail(f->s), "still locked"));
	assert_true(t1.tv_sec - t0.tv_sec < 60);
	close(fd);

	struct tp_profile q;                            /* nothing written */
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_OK);
	assert_string_equal(q.comment, "before");
	tp_profile_wipe(&q);
	free(lock);
}


/* totpd's shorter bound (api.lock_wait_ms): the verb gives up after it,
 * with TP_EBUSY, which totpd answers 503, and names the lock. */
static void test_lock_wait_configured(void **state)
{
	struct fixture *f = *state;
	struct tp_store *s = NULL;
	struct update_ctx c;
	struct timespec t0, t1;
	char *lock, *err = NULL;
	int fd;
	long ms;

	put_profile(f, OWNER, "alice", "before");
	lock = unit_path("%s/%s/.alice.lock", f->store, OWNER);
	fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	f->cfg->store_lock_wait_ms = 300;
	assert_int_equal(tp_store_open(f->cfg, &s, &err), TP_OK);
	memset(&c, 0, sizeof(c));
	c.action = TP_UPDATE_WRITE;
	c.comment = "after";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tp_store_update(s, OWNER, "alice", record_update, &c), TP_EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 290 && ms < 1500);
	assert_non_null(strstr(tp_store_detail(s), "still locked after 300 ms"));
	tp_store_close(s);
	f->cfg->store_lock_wait_ms = 0;
	close(fd);
	free(lock);
}

/* ---- the login state record ------------------------------------------ */

#define NOW 1800000000          /* step 60000000 at 30 s */
#define STATE_LEN 64            /* store_files.c: one slot */
#define STATE_GAP 512           /* store_files.c: slot 1's offset */

/* A profile file exactly as the release before the state record wrote it
 * (tp_profile_to_ini of d2ecf9a): secret GEZDGNBV..., last step 60000000,
 * 3 failures, emergency codes 11111111, 22222222 (spent) and 33333333. */
static const char legacy_ini[] =
	"# TOTP profile; written by pam_totp_profile. Do not edit.\n"
	"[profile]\n"
	"format = 1\n"
	"owner = " OWNER "\n"
	"account = alice\n"
	"secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
	"algorithm = SHA1\n"
	"digits = 6\n"
	"period = 30\n"
	"comment = written%20by%20d2ecf9a\n"
	"enabled = true\n"
	"created = 1700000000\n"
	"last_step = 60000000\n"
	"failures = 3\n"
	"lock_until = 0\n"
	"emergency_salt = 0102030405060708090a0b0c0d0e0f10\n"
	"emergency_count = 3\n"
	"[emergency]\n"
	"code1 = dae67281f0b61e4628affbf7a7546011bd5aef060b88cf1e292fbca4467a328d\n"
	"code2 = spent:17f7d502f756e093e2987ce89a98e128429d9a0658120ef93ddd4192e9a9d353\n"
	"code3 = 195532482dee5da565e2f31baf79251540514753249889d7989b0986894031a1\n";

static void write_legacy(struct fixture *f, bool with_lock)
{
	char *dir = unit_path("%s/%s", f->store, OWNER);
	char *ini = unit_path("%s/alice.ini", dir), *lock = unit_path("%s/.alice.lock", dir);

	assert_int_equal(mkdir(dir, 0700), 0);
	unit_write_file(ini, legacy_ini, 0600);
	if (with_lock)                   /* what a login of that release left */
		unit_write_bytes(lock, "", 0, 0600);
	free(dir);
	free(ini);
	free(lock);
}

struct try_ctx {
	const char *code;
	int64_t now;
	enum tp_login_outcome outcome;
	bool called;
};

/* The module's login callback, in short. */
static enum tp_state_write try_login(struct tp_profile *p, void *ctx)
{
	static const struct tp_login_policy policy = { 1, 5, 300 };
	struct try_ctx *c = ctx;
	bool changed = false;

	c->called = true;
	c->outcome = tp_login_attempt(p, &policy, c->code, c->now, &changed);
	return tp_login_state_write(c->outcome, changed, p, c->now);
}

static enum tp_login_outcome login_with(struct fixture *f, const char *code, int64_t now,
					enum tp_status want)
{
	struct try_ctx c = { code, now, TP_LOGIN_ERROR, false };

	assert_int_equal(tp_store_login(f->s, OWNER, "alice", try_login, &c), want);
	if (want != TP_OK)
		assert_false(c.called);
	return c.outcome;
}

static void code_at_step(const struct tp_profile *p, int64_t step, char out[TP_CODE_MAX + 1])
{
	assert_int_equal(tp_hotp(p->secret, p->secret_len, p->totp.alg, p->totp.digits,
				 (uint64_t)step, out), TP_OK);
}

static void get_alice(struct fixture *f, struct tp_profile *q)
{
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", q), TP_OK);
}

/* A store written by the release before: its accepted step, failure
 * count and spent code hold, with or without a lock file, and carry into
 * the new record at the first login. */
static void test_upgrade_keeps_state(void **state)
{
	struct fixture *f = *state;
	char code[TP_CODE_MAX + 1];
	struct tp_profile q;
	char *ini = unit_path("%s/%s/alice.ini", f->store, OWNER);

	for (int with_lock = 0; with_lock <= 1; with_lock++) {
		unit_rmtree(unit_path("%s/%s", f->store, OWNER));      /* frees */
		write_legacy(f, with_lock);
		get_alice(f, &q);
		assert_int_equal(q.last_step, 60000000);
		assert_int_equal(q.failures, 3);
		assert_true(q.ec_spent[1]);
		assert_false(q.ec_spent[0]);
		assert_int_equal(tp_profile_emergency_left(&q), 2);
		/* the accepted step and the spent code stay refused */
		code_at_step(&q, 60000000, code);
		assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_REPLAY);
		assert_int_equal(login_with(f, "22222222", NOW, TP_OK), TP_LOGIN_SPENT);
		get_alice(f, &q);
		assert_int_equal(q.failures, 5 - 5);           /* 3 + 2: locked */
		assert_true(q.lock_until > NOW);
		tp_profile_wipe(&q);
		/* after the lock: a new code works once, the profile file unchanged */
		assert_int_equal(login_with(f, "11111111", NOW + 300, TP_OK), TP_LOGIN_EMERGENCY);
		assert_int_equal(login_with(f, "11111111", NOW + 300, TP_OK), TP_LOGIN_SPENT);
		size_t len = 0;
		char *text = unit_read_file(ini, &len);
		assert_int_equal(len, strlen(legacy_ini));
		assert_memory_equal(text, legacy_ini, len);
		free(text);
		get_alice(f, &q);
		assert_int_equal(tp_profile_emergency_left(&q), 1);
		assert_int_equal(q.last_step, 60000000);
		tp_profile_wipe(&q);
	}
	free(ini);
}

static char *lock_path(struct fixture *f)
{
	return unit_path("%s/%s/.alice.lock", f->store, OWNER);
}

/* The lock file's bytes after a login with `code` at `now`. */
static char *state_after(struct fixture *f, const char *code, int64_t now,
			 enum tp_login_outcome want, size_t *len)
{
	char *lock = lock_path(f), *bytes;

	assert_int_equal(login_with(f, code, now, TP_OK), want);
	bytes = unit_read_file(lock, len);
	free(lock);
	return bytes;
}

/* Put `old` back, then the first k bytes of what `new` wrote over it: a
 * write torn after k bytes. */
static void tear(struct fixture *f, const char *old, size_t old_len,
		 const char *new, size_t new_len, size_t at, size_t k)
{
	char *lock = lock_path(f);
	char *buf = calloc(1, new_len > old_len ? new_len : old_len);

	assert_non_null(buf);
	memcpy(buf, old, old_len);
	memcpy(buf + at, new + at, k);
	unit_write_bytes(lock, buf, at + k > old_len ? at + k : old_len, 0600);
	free(buf);
	free(lock);
}

/* Where two versions of the lock file differ: one slot. */
static size_t slot_written(const char *a, size_t alen, const char *b, size_t blen)
{
	for (size_t i = 0; i < blen; i++)
		if ((i < alen ? a[i] : 0) != b[i])
			return i < STATE_GAP ? 0 : STATE_GAP;
	fail_msg("the login wrote nothing");
	return 0;
}

/* A write torn at any byte: the next reader finds the state before or
 * after it, never less; and a login then still refuses what was spent. */
static void test_state_torn_every_offset(void **state)
{
	struct fixture *f = *state;
	char code[TP_CODE_MAX + 1];
	struct tp_profile q;
	size_t l0 = 0, l1 = 0, l2 = 0;
	char *s0, *s1, *s2;

	write_legacy(f, true);
	/* first record (gen 0): from the empty lock file */
	char *first = lock_path(f);
	s0 = unit_read_file(first, &l0);               /* "" */
	free(first);
	s1 = state_after(f, "11111111", NOW, TP_LOGIN_EMERGENCY, &l1);
	/* second record (gen 1): the other slot */
	get_alice(f, &q);
	code_at_step(&q, 60000001, code);
	tp_profile_wipe(&q);
	s2 = state_after(f, code, NOW, TP_LOGIN_TOTP, &l2);
	assert_int_equal(slot_written(s0, l0, s1, l1), 0);
	assert_int_equal(slot_written(s1, l1, s2, l2), STATE_GAP);

	for (size_t k = 0; k <= STATE_LEN; k++) {
		/* torn first write: nothing of it (the profile file's state),
		 * all of it, or refused as corrupt; never less than the file's */
		tear(f, s0, l0, s1, l1, 0, k);
		enum tp_status st = tp_store_get(f->s, OWNER, "alice", &q);
		if (k == 0 || k == STATE_LEN) {
			assert_int_equal(st, TP_OK);
			assert_true(q.ec_spent[1]);
			assert_int_equal(q.ec_spent[0], k == STATE_LEN);
			assert_int_equal(q.last_step, 60000000);
			tp_profile_wipe(&q);
			assert_int_equal(login_with(f, "22222222", NOW, TP_OK), TP_LOGIN_SPENT);
		} else {
			assert_int_equal(st, TP_ECORRUPT);
			login_with(f, "22222222", NOW, TP_ECORRUPT);
			login_with(f, "11111111", NOW, TP_ECORRUPT);
		}
		/* torn second write: the first record or the second */
		tear(f, s1, l1, s2, l2, STATE_GAP, k);
		get_alice(f, &q);
		assert_true(q.ec_spent[0] && q.ec_spent[1]);
		assert_int_equal(q.last_step, k == STATE_LEN ? 60000001 : 60000000);
		tp_profile_wipe(&q);
		assert_int_equal(login_with(f, "11111111", NOW, TP_OK), TP_LOGIN_SPENT);
		if (k == STATE_LEN)
			assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_REPLAY);
	}
	/* the third write tears slot 0, the second record stays */
	tear(f, s1, l1, s2, l2, STATE_GAP, STATE_LEN);
	for (size_t k = 0; k < STATE_LEN; k++) {
		char *lock = lock_path(f);
		int fd = open(lock, O_RDWR);
		unsigned char junk = 0x5a;
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, &junk, 1, (off_t)k), 1);
		close(fd);
		free(lock);
		assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_REPLAY);
		tear(f, s1, l1, s2, l2, STATE_GAP, STATE_LEN);
	}
	free(s0);
	free(s1);
	free(s2);
}

/* Both slots damaged: refused, never read as "nothing spent". */
static void test_state_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	struct tp_profile q;
	char *lock = lock_path(f);
	unsigned char junk = 0xff;
	int fd;

	write_legacy(f, true);
	assert_int_equal(login_with(f, "11111111", NOW, TP_OK), TP_LOGIN_EMERGENCY);
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &junk, 1, 20), 1);
	assert_int_equal(pwrite(fd, &junk, 1, STATE_GAP + 40), 1);
	close(fd);
	assert_int_equal(tp_store_get(f->s, OWNER, "alice", &q), TP_ECORRUPT);
	assert_non_null(strstr(tp_store_detail(f->s), "state record corrupt"));
	login_with(f, "11111111", NOW, TP_ECORRUPT);
	/* delete, then create: a fresh profile, a fresh record */
	assert_int_equal(tp_store_delete(f->s, OWNER, "alice"), TP_OK);
	assert_false(unit_exists(lock));
	put_profile(f, OWNER, "alice", "new");
	get_alice(f, &q);
	assert_int_equal(tp_profile_emergency_left(&q), 5);
	tp_profile_wipe(&q);
	free(lock);
}

/* A new profile over an old one's record (create over a disabled
 * profile; a create that crashed before writing the record) starts with
 * its own state, not the old profile's spent codes; the same profile
 * keeps its record. */
static void test_state_bound_to_profile(void **state)
{
	struct fixture *f = *state;
	struct tp_profile a, b, q;
	char *lock = lock_path(f), *old;
	size_t len = 0;
	char codes[5][TP_EMERGENCY_DIGITS + 1];
	static const struct tp_totp_params params = { TP_SHA1, 6, 30 };

	assert_int_equal(tp_profile_generate(&a, OWNER, "alice", &params, 20, 5, codes), TP_OK);
	assert_int_equal(tp_store_put(f->s, &a), TP_OK);
	assert_int_equal(login_with(f, codes[0], NOW, TP_OK), TP_LOGIN_EMERGENCY);
	old = unit_read_file(lock, &len);                /* a's record */

	make_profile(&b, OWNER, "alice", "b");
	assert_int_equal(tp_store_put(f->s, &b), TP_OK);
	get_alice(f, &q);
	assert_int_equal(tp_profile_emergency_left(&q), 5);
	tp_profile_wipe(&q);
	/* b's file with a's record, as a crash between the two would leave */
	unit_write_bytes(lock, old, len, 0600);
	get_alice(f, &q);
	assert_int_equal(tp_profile_emergency_left(&q), 5);
	assert_memory_equal(q.secret, b.secret, b.secret_len);
	tp_profile_wipe(&q);
	/* a again (a backup put back): its own record still counts */
	char *text = NULL;
	size_t tlen = 0;
	char *ini = unit_path("%s/%s/alice.ini", f->store, OWNER);
	char *tmp = unit_path("%s/%s/restored", f->store, OWNER);
	a.ec_spent[0] = false;                   /* even a file that says unspent */
	assert_int_equal(tp_profile_to_ini(&a, &text, &tlen), TP_OK);
	unit_write_bytes(tmp, text, tlen, 0600);
	assert_int_equal(rename(tmp, ini), 0);
	free(tmp);
	assert_int_equal(login_with(f, codes[0], NOW, TP_OK), TP_LOGIN_SPENT);
	tp_wipe(text, tlen);
	free(text);
	free(ini);
	free(old);
	free(lock);
	tp_wipe(codes, sizeof(codes));
	tp_profile_wipe(&a);
	tp_profile_wipe(&b);
}

/* ---- flushes: counted by wrapping fsync and fdatasync ----------------- */

static int flush_file, flush_dir;

static void count_flush(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		flush_dir++;
	else
		flush_file++;
}

int fsync(int fd);
int fdatasync(int fd);
int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	count_flush(fd);
	return real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	count_flush(fd);
	return real(fd);
}

/* An acceptance and a spent code are on disk before the login returns; a
 * miss costs no flush and no folder flush; a profile write flushes the
 * file and its folder. */
static void test_flushes(void **state)
{
	struct fixture *f = *state;
	struct tp_profile q;
	char code[TP_CODE_MAX + 1];

	put_profile(f, OWNER, "alice", "x");       /* the owner folder exists */
	flush_file = flush_dir = 0;
	put_profile(f, OWNER, "alice", "x");
	assert_true(flush_dir >= 1);               /* the rename is durable */
	assert_true(flush_file >= 2);              /* the file and its record */
	get_alice(f, &q);
	code_at_step(&q, tp_totp_step(NOW, 30), code);
	tp_profile_wipe(&q);

	flush_file = flush_dir = 0;
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	assert_int_equal(flush_file + flush_dir, 0);
	assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_TOTP);
	assert_int_equal(flush_file, 1);
	assert_int_equal(flush_dir, 0);
	/* the same code again: refused, nothing flushed */
	assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_REPLAY);
	assert_int_equal(flush_file, 1);
}

/* ---- the lock file replaced while a login waits on it ----------------- */

/* Has process pid an open file with this inode? */
static bool has_open(pid_t pid, const struct stat *want)
{
	char *dir = unit_path("/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	while (d != NULL && !found && (e = readdir(d)) != NULL) {
		char *fd = unit_path("%s/%s", dir, e->d_name);
		struct stat st;
		found = e->d_name[0] != '.' && stat(fd, &st) == 0 &&
			st.st_dev == want->st_dev && st.st_ino == want->st_ino;
		free(fd);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	return found;
}

/* Wait (at most 20 s) until the child has that inode open; false if it
 * ended first. */
static bool wait_open(pid_t pid, const struct stat *want)
{
	for (int i = 0; i < 20000; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fail_msg("the waiting login ended early (status %d)", status);
			return false;
		}
		if (has_open(pid, want))
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	fail_msg("the waiting login never opened the lock file");
	return false;
}

/* shared[0]: C holds the new lock; shared[1]: B got in meanwhile */
static enum tp_state_write note_entry(struct tp_profile *p, void *ctx)
{
	volatile int *shared = ctx;

	(void)p;
	if (shared[0])
		shared[1] = 1;
	return TP_STATE_KEEP;
}

/* A holds the lock and B waits on it; A deletes the profile, unlinking
 * the lock file, and C creates a new lock file and holds it.  When A lets
 * go, B holds the old inode, which no longer guards anything: it must
 * notice and wait for C's lock, not get in beside C. */
static void test_lock_file_replaced_while_waiting(void **state)
{
	struct fixture *f = *state;
	char *lock = lock_path(f);
	volatile int *c_holds = mmap(NULL, 2 * sizeof(int), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct stat old_st, new_st;
	int a, c, go[2], status = 0;
	pid_t b;

	assert_true(c_holds != MAP_FAILED);
	c_holds[0] = c_holds[1] = 0;
	put_profile(f, OWNER, "alice", "x");
	assert_int_equal(pipe(go), 0);
	b = fork();
	assert_true(b >= 0);
	if (b == 0) {
		char x;
		/* B starts once A holds the lock, and has no copy of A's fd:
		 * the old inode open in B is B's own open */
		close(go[1]);
		if (read(go[0], &x, 1) != 1)
			_exit(3);
		enum tp_status st = tp_store_login(f->s, OWNER, "alice", note_entry,
						   (void *)c_holds);
		_exit(st == TP_OK ? 0 : 2);
	}
	close(go[0]);
	a = open(lock, O_RDWR | O_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(flock(a, LOCK_EX), 0);
	assert_int_equal(fstat(a, &old_st), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	assert_true(wait_open(b, &old_st));             /* B waits on A's lock */
	assert_int_equal(unlink(lock), 0);               /* A deletes */
	c = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(c >= 0);
	assert_int_equal(flock(c, LOCK_EX), 0);          /* C holds the new lock */
	assert_int_equal(fstat(c, &new_st), 0);
	*c_holds = 1;
	close(a);                                        /* A lets go */
	assert_true(wait_open(b, &new_st));              /* B waits on C's lock */
	*c_holds = 0;
	close(c);
	assert_int_equal(waitpid(b, &status, 0), b);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(c_holds[1], 0);                 /* B never got in beside C */
	munmap((void *)c_holds, 2 * sizeof(int));
	free(lock);
}

/* CRC-32 (IEEE 802.3, as zlib's crc32), one bit at a time. */
static uint32_t crc32_ieee(const unsigned char *b, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

/* The slot's checksum is CRC-32 of its first 60 bytes, little-endian in
 * the last 4: records written by earlier releases must still verify. */
static void test_state_checksum_format(void **state)
{
	struct fixture *f = *state;
	char code[TP_CODE_MAX + 1];
	struct tp_profile q;
	size_t len = 0;
	char *bytes;

	assert_int_equal(crc32_ieee((const unsigned char *)"123456789", 9), 0xcbf43926u);
	write_legacy(f, true);
	bytes = state_after(f, "11111111", NOW, TP_LOGIN_EMERGENCY, &len);
	free(bytes);
	get_alice(f, &q);
	code_at_step(&q, 60000001, code);
	tp_profile_wipe(&q);
	bytes = state_after(f, code, NOW, TP_LOGIN_TOTP, &len);
	assert_true(len >= STATE_GAP + STATE_LEN);
	for (size_t off = 0; off <= STATE_GAP; off += STATE_GAP) {
		const unsigned char *slot = (const unsigned char *)bytes + off;
		uint32_t stored = (uint32_t)slot[60] | (uint32_t)slot[61] << 8 |
				  (uint32_t)slot[62] << 16 | (uint32_t)slot[63] << 24;
		assert_memory_equal(slot, "TPs1", 4);
		assert_int_equal(stored, crc32_ieee(slot, 60));
	}
	free(bytes);
}

/* ---- get keeps the owner folder and the lock file for the login ------- */

/* A second handle on the store: totpctl, acting while a user is at the
 * prompt (the login's handle keeps what its get opened). */
static struct tp_store *other_handle(struct fixture *f)
{
	struct tp_store *s = NULL;
	char *err = NULL;

	if (tp_store_open(f->cfg, &s, &err) != TP_OK)
		fail_msg("store: %s", err ? err : "?");
	return s;
}

static void put_with(struct tp_store *s, const char *account, const char *comment,
		     struct tp_profile *keep)
{
	struct tp_profile p;

	make_profile(&p, OWNER, account, comment);
	assert_int_equal(tp_store_put(s, &p), TP_OK);
	if (keep != NULL)
		*keep = p;
	else
		tp_profile_wipe(&p);
}

/* Deleted and created again while the user is at the prompt: the login
 * neither uses the lock file get opened (unlinked by the delete, it no
 * longer guards anything) nor loses its outcome there: the failure is
 * in the new profile's record. */
static void test_login_after_reenrol_during_prompt(void **state)
{
	struct fixture *f = *state;
	struct tp_store *ctl = other_handle(f);
	struct tp_profile q;
	char *lock = lock_path(f);
	struct stat before, after;

	put_profile(f, OWNER, "alice", "a");
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	assert_int_equal(stat(lock, &before), 0);
	get_alice(f, &q);                               /* the prompt */
	assert_int_equal(q.failures, 1);
	tp_profile_wipe(&q);
	assert_int_equal(tp_store_delete(ctl, OWNER, "alice"), TP_OK);
	put_with(ctl, "alice", "b", NULL);
	assert_int_equal(stat(lock, &after), 0);
	assert_true(after.st_ino != before.st_ino);    /* a new lock file */
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	get_alice(f, &q);
	assert_string_equal(q.comment, "b");
	assert_int_equal(q.failures, 1);                /* b's first, recorded */
	tp_profile_wipe(&q);
	/* the lock file moved aside (still one link, right mode) and a new
	 * one made under its name: the login locks and writes the new one */
	char *aside = unit_path("%s/%s/.alice.old", f->store, OWNER);
	get_alice(f, &q);
	tp_profile_wipe(&q);
	assert_int_equal(rename(lock, aside), 0);
	assert_int_equal(tp_store_delete(ctl, OWNER, "alice"), TP_OK);
	put_with(ctl, "alice", "c", NULL);
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	get_alice(f, &q);
	assert_string_equal(q.comment, "c");
	assert_int_equal(q.failures, 1);
	tp_profile_wipe(&q);
	assert_int_equal(unlink(aside), 0);
	free(aside);
	/* and deleted for good during the prompt: refused, nothing called */
	get_alice(f, &q);
	tp_profile_wipe(&q);
	assert_int_equal(tp_store_delete(ctl, OWNER, "alice"), TP_OK);
	login_with(f, "000000", NOW, TP_ENOENT);
	tp_store_close(ctl);
	free(lock);
}

/* The lock file given a wrong mode, or the owner folder a wrong mode or
 * another folder in its place, while the user is at the prompt: the
 * login refuses or uses what is there now, as one that opened them anew. */
static void test_login_checks_what_get_kept(void **state)
{
	struct fixture *f = *state;
	struct tp_store *ctl = other_handle(f);
	struct tp_profile a, q;
	char code[TP_CODE_MAX + 1];
	char *lock = lock_path(f);
	char *odir = unit_path("%s/%s", f->store, OWNER);
	char *moved = unit_path("%s/moved", f->store);

	put_profile(f, OWNER, "alice", "a");
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	get_alice(f, &q);
	tp_profile_wipe(&q);
	assert_int_equal(chmod(lock, 0644), 0);
	login_with(f, "000000", NOW, TP_EPERM);
	assert_contains(tp_store_detail(f->s), "mode 0600");
	assert_int_equal(chmod(lock, 0600), 0);

	get_alice(f, &q);
	tp_profile_wipe(&q);
	assert_int_equal(chmod(odir, 0755), 0);
	login_with(f, "000000", NOW, TP_EPERM);
	assert_contains(tp_store_detail(f->s), "mode 0700");
	assert_int_equal(chmod(odir, 0700), 0);

	/* the folder moved away and another put in its place: a's code is
	 * not accepted against b's profile */
	get_alice(f, &a);
	code_at_step(&a, tp_totp_step(NOW, 30), code);
	assert_int_equal(rename(odir, moved), 0);
	put_with(ctl, "alice", "b", NULL);
	assert_int_equal(login_with(f, code, NOW, TP_OK), TP_LOGIN_WRONG);
	get_alice(f, &q);
	assert_string_equal(q.comment, "b");
	assert_int_equal(q.failures, 1);
	tp_profile_wipe(&q);
	tp_profile_wipe(&a);
	tp_store_close(ctl);
	unit_rmtree(moved);
	free(odir);
	free(lock);
}

/* ---- a lock file get may only read ----------------------------------- */

/* While set, opening this name for writing fails as on a read-only
 * mount (the store's own handle: the test wraps openat).  Every openat
 * is counted. */
static const char *rofs_name;
static int openat_calls;

int wrapped_openat(int dirfd, const char *path, int flags, ...) __asm__("openat");
int wrapped_openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;

	openat_calls++;
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, unsigned int);
		va_end(ap);
	}
	if (rofs_name != NULL && strcmp(path, rofs_name) == 0 && (flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "openat");
	return real(dirfd, path, flags, mode);
}

/* get on a lock file it may not write still reads the state; the login
 * after it (when it may write) opens the file again, and records its
 * outcome in it.  When get could open it to write, the login after it
 * opens nothing: get's folder, profile and lock file serve. */
static void test_get_lock_read_only(void **state)
{
	struct fixture *f = *state;
	struct tp_profile q;

	put_profile(f, OWNER, "alice", "a");
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	rofs_name = ".alice.lock";
	get_alice(f, &q);
	rofs_name = NULL;
	assert_int_equal(q.failures, 1);
	tp_profile_wipe(&q);
	openat_calls = 0;
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	assert_int_equal(openat_calls, 1);              /* the lock file */
	get_alice(f, &q);
	assert_int_equal(q.failures, 2);
	tp_profile_wipe(&q);
	openat_calls = 0;
	assert_int_equal(login_with(f, "000000", NOW, TP_OK), TP_LOGIN_WRONG);
	assert_int_equal(openat_calls, 0);
	get_alice(f, &q);
	assert_int_equal(q.failures, 3);
	tp_profile_wipe(&q);
}

/* ---- no descriptor outlives a login ---------------------------------- */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;                   /* the folder's own */
}

/* Many logins on one handle, as a process running the module for one
 * user after another: every way through get and login (accepted,
 * refused, for another account, without a get, a get with no login
 * after it, the lock file replaced or the profile gone meanwhile, a
 * profile or lock file refused) leaves no descriptor open after the
 * login, and none after the store is closed. */
static void test_no_fd_left(void **state)
{
	struct fixture *f = *state;
	struct tp_store *ctl = other_handle(f);
	struct tp_store *s;
	struct tp_profile q;
	char code[TP_CODE_MAX + 1];
	char *lock = lock_path(f), *bob_ini = profile_path(f, OWNER, "bob");
	struct try_ctx c = { "000000", NOW, TP_LOGIN_ERROR, false };
	int base, with_store;

	put_profile(f, OWNER, "alice", "a");
	put_profile(f, OWNER, "bob", "b");
	base = open_fds();
	s = other_handle(f);
	with_store = open_fds();
	assert_int_equal(with_store, base + 1);              /* the store's folder */
	for (int i = 0; i < 40; i++) {
		int64_t now = NOW + 30 * i;
		c.now = now;
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
		code_at_step(&q, tp_totp_step(now, 30), code);
		tp_profile_wipe(&q);
		c.code = i % 2 ? code : "000000";
		assert_int_equal(tp_store_login(s, OWNER, "alice", try_login, &c), TP_OK);
		assert_int_equal(open_fds(), with_store);
		c.code = "000000";
		/* a login without a get, and one for another account */
		assert_int_equal(tp_store_login(s, OWNER, "bob", try_login, &c), TP_OK);
		assert_int_equal(open_fds(), with_store);
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(tp_store_login(s, OWNER, "bob", try_login, &c), TP_OK);
		assert_int_equal(open_fds(), with_store);
		/* gets with no login after them, then one with */
		assert_int_equal(tp_store_get(s, OWNER, "bob", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(tp_store_get(s, OWNER, "carol", &q), TP_ENOENT);
		assert_int_equal(tp_store_login(s, OWNER, "alice", try_login, &c), TP_OK);
		assert_int_equal(open_fds(), with_store);
		/* the lock file replaced during the prompt */
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(tp_store_delete(ctl, OWNER, "alice"), TP_OK);
		put_with(ctl, "alice", "a", NULL);
		assert_int_equal(tp_store_login(s, OWNER, "alice", try_login, &c), TP_OK);
		assert_int_equal(open_fds(), with_store);
		/* refused: the lock file's mode, the profile gone */
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(chmod(lock, 0640), 0);
		assert_int_equal(tp_store_login(s, OWNER, "alice", try_login, &c), TP_EPERM);
		assert_int_equal(open_fds(), with_store);
		assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_EPERM);
		assert_int_equal(open_fds(), with_store);
		assert_int_equal(chmod(lock, 0600), 0);
		assert_int_equal(tp_store_get(s, OWNER, "bob", &q), TP_OK);
		tp_profile_wipe(&q);
		assert_int_equal(tp_store_delete(ctl, OWNER, "bob"), TP_OK);
		assert_int_equal(tp_store_login(s, OWNER, "bob", try_login, &c), TP_ENOENT);
		assert_int_equal(open_fds(), with_store);
		assert_false(unit_exists(bob_ini));
		put_with(ctl, "bob", "b", NULL);
	}
	/* a get left without its login: closed with the store */
	assert_int_equal(tp_store_get(s, OWNER, "alice", &q), TP_OK);
	tp_profile_wipe(&q);
	tp_store_close(s);
	tp_store_close(ctl);
	assert_int_equal(open_fds(), base - 1);         /* ctl's folder too */
	free(lock);
	free(bob_ini);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_put_get_round_trip),
		T(test_file_properties),
		T(test_update_semantics),
		T(test_delete),
		T(test_list),
		T(test_stale_tmp_removed),
		T(test_planted_lock_link_not_chowned),
		T(test_lock_wait_bounded),
		T(test_lock_wait_configured),
		T(test_refuse_symlinked_profile),
		T(test_refuse_symlinked_owner_dir),
		T(test_refuse_modes),
		T(test_refuse_hard_link),
		T(test_refuse_corrupt),
		T(test_refuse_misplaced),
		T(test_refuse_bad_names),
		T(test_put_invalid_record),
		T(test_store_open_refuses),
		T(test_lock_exclusion),
		T(test_upgrade_keeps_state),
		T(test_state_torn_every_offset),
		T(test_state_checksum_format),
		T(test_state_corrupt_refused),
		T(test_state_bound_to_profile),
		T(test_flushes),
		T(test_lock_file_replaced_while_waiting),
		T(test_login_after_reenrol_during_prompt),
		T(test_login_checks_what_get_kept),
		T(test_get_lock_read_only),
		T(test_no_fd_left),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
