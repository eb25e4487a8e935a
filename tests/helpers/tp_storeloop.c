/* Test helper for tests/integration/crash.sh: locked store updates that
 * flip one profile between two known versions, to be killed at random
 * points while it writes.
 *
 *   tp_storeloop CONFIG OWNER_UUID ACCOUNT loop     flip until killed
 *   tp_storeloop CONFIG OWNER_UUID ACCOUNT once     flip once, print the
 *                                                   version written (A or B)
 *   tp_storeloop CONFIG OWNER_UUID ACCOUNT print A|B  the exact file text of
 *                                                   a version, for cmp(1)
 *
 * Every flip goes through tp_store_update, as totpctl does: lock, re-read,
 * write the temp file, fsync, rename, fsync the folder, then the state
 * record (the two versions have different salts, so each flip also binds
 * the record to a new profile).  A record that is neither version (or is
 * unreadable) stops the helper with status 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base32.h"
#include "config.h"
#include "profile.h"
#include "secret.h"
#include "store.h"

#define TEST_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
#define STEP_A 1001
#define STEP_B 2002

/* Version A is short; B is larger, so the two differ in size as well. */
static enum tp_status make_version(struct tp_profile *p, const char *owner,
				   const char *account, char which)
{
	static const char *const codes_a[] = { "11111111", "22222222" };
	static const char *const codes_b[] = { "33333333", "44444444", "55555555",
					       "66666666", "77777777" };
	const char *const *codes = which == 'A' ? codes_a : codes_b;
	unsigned n = which == 'A' ? 2 : 5;
	enum tp_status st;

	memset(p, 0, sizeof(*p));
	snprintf(p->owner_uuid, sizeof(p->owner_uuid), "%s", owner);
	snprintf(p->account, sizeof(p->account), "%s", account);
	st = tp_base32_decode(TEST_SECRET, p->secret, sizeof(p->secret), &p->secret_len);
	if (st != TP_OK)
		return st;
	p->totp.alg = TP_SHA1;
	p->totp.digits = 6;
	p->totp.period = 30;
	p->enabled = which == 'A';
	p->created = 1700000000;
	p->last_step = which == 'A' ? STEP_A : STEP_B;
	p->failures = which == 'A' ? 1 : 2;
	p->lock_until = 0;
	memset(p->ec_salt, which, sizeof(p->ec_salt));
	if (which == 'A')
		snprintf(p->comment, sizeof(p->comment), "version A");
	else
		snprintf(p->comment, sizeof(p->comment), "version B, %0200d", 0);
	for (unsigned i = 0; i < n; i++)
		if ((st = tp_profile_add_emergency(p, codes[i])) != TP_OK)
			return st;
	return TP_OK;
}

struct flip {
	char written;
	bool foreign;               /* the record was neither version */
};

static enum tp_update_action flip_locked(struct tp_profile *p, bool exists,
					 void *ctx, enum tp_status *fail)
{
	struct flip *f = ctx;
	char owner[sizeof(p->owner_uuid)], account[sizeof(p->account)];
	char next = 'A';

	if (exists) {
		if (p->last_step == STEP_A)
			next = 'B';
		else if (p->last_step != STEP_B) {
			f->foreign = true;
			*fail = TP_ECORRUPT;
			return TP_UPDATE_KEEP;
		}
	}
	memcpy(owner, p->owner_uuid, sizeof(owner));
	memcpy(account, p->account, sizeof(account));
	tp_profile_wipe(p);
	if ((*fail = make_version(p, owner, account, next)) != TP_OK)
		return TP_UPDATE_KEEP;
	f->written = next;
	return TP_UPDATE_WRITE;
}

static int die(const char *what, const char *detail, int status)
{
	fprintf(stderr, "tp_storeloop: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	return status;
}

int main(int argc, char **argv)
{
	struct tp_config *cfg;
	struct tp_store *store;
	struct tp_profile p;
	char *err = NULL, *text = NULL;
	size_t len = 0;
	enum tp_status st;

	if (argc < 5)
		return die("usage: see the comment at the top of tp_storeloop.c", NULL, 2);
	if (strcmp(argv[4], "print") == 0) {
		if (argc != 6 || (strcmp(argv[5], "A") != 0 && strcmp(argv[5], "B") != 0))
			return die("print A or print B", NULL, 2);
		if (make_version(&p, argv[2], argv[3], argv[5][0]) != TP_OK ||
		    tp_profile_to_ini(&p, &text, &len) != TP_OK)
			return die("cannot build the version", argv[5], 2);
		fwrite(text, 1, len, stdout);
		tp_wipe(text, len);
		free(text);
		tp_profile_wipe(&p);
		return 0;
	}
	if (tp_config_load(argv[1], &cfg, &err) != TP_OK)
		return die("config", err, 2);
	if (tp_store_open(cfg, &store, &err) != TP_OK)
		return die("store", err, 2);
	for (;;) {
		struct flip f = { 0, false };
		st = tp_store_update(store, argv[2], argv[3], flip_locked, &f);
		if (f.foreign)
			return die("the record is neither version A nor B", NULL, 3);
		if (st != TP_OK)
			return die(tp_status_str(st), tp_store_detail(store), 3);
		if (strcmp(argv[4], "once") == 0) {
			printf("%c\n", f.written);
			break;
		}
	}
	tp_store_close(store);
	tp_config_free(cfg);
	return 0;
}
