/* Test helper: write a profile with a known secret straight into a store,
 * and read profile state back, without going through totpctl.
 *
 *   tp_mkprofile CONFIG OWNER_UUID ACCOUNT BASE32_SECRET [key=value ...]
 *       keys: alg, digits, period, enabled (0/1), last_step, failures,
 *             lock_until, codes (comma-separated 8-digit emergency codes)
 *   tp_mkprofile --get CONFIG OWNER_UUID ACCOUNT
 *       prints: enabled last_step failures lock_until emergency_left
 *   tp_mkprofile --batch CONFIG < LINES
 *       one profile per line, its fields as in the first form but
 *       separated by tabs (OWNER_UUID ACCOUNT BASE32_SECRET [key=value
 *       ...]), all written through one open store: thousands in a
 *       second.  Key comment= (any text without a tab) here and above.
 *
 * On the PostgreSQL store (store.backend = "postgresql") it works through
 * the admin functions, as totpctl does (admin_conninfo): the profile is
 * deleted and imported (totp.admin_import), and read back through
 * totp.admin_show, where lock_until is 0 unless a lock is running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "base32.h"
#include "config.h"
#include "profile.h"
#include "store.h"

static int die(const char *what, const char *detail)
{
	fprintf(stderr, "tp_mkprofile: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	return 2;
}

/* One profile from its fields: OWNER_UUID ACCOUNT BASE32_SECRET key=value... */
static int write_profile(const struct tp_config *cfg, struct tp_store *store,
			 char **args, int n)
{
	struct tp_profile p;
	enum tp_status st;

	if (n < 3)
		return die("usage: see the comment at the top of tp_mkprofile.c", NULL);
	memset(&p, 0, sizeof(p));
	snprintf(p.owner_uuid, sizeof(p.owner_uuid), "%s", args[0]);
	snprintf(p.account, sizeof(p.account), "%s", args[1]);
	if (tp_base32_decode(args[2], p.secret, sizeof(p.secret), &p.secret_len) != TP_OK)
		return die("bad base32 secret", args[2]);
	p.totp = cfg->totp;
	p.enabled = true;
	p.created = 1;
	p.last_step = -1;
	if (RAND_bytes(p.ec_salt, TP_SALT_LEN) != 1)
		return die("RAND_bytes", NULL);
	for (int i = 3; i < n; i++) {
		char *eq = strchr(args[i], '=');
		if (eq == NULL)
			return die("expected key=value", args[i]);
		*eq = '\0';
		const char *k = args[i], *v = eq + 1;
		if (strcmp(k, "alg") == 0) {
			if (tp_algorithm_parse(v, &p.totp.alg) != TP_OK)
				return die("bad alg", v);
		} else if (strcmp(k, "digits") == 0) p.totp.digits = (unsigned)atoi(v);
		else if (strcmp(k, "period") == 0) p.totp.period = (unsigned)atoi(v);
		else if (strcmp(k, "enabled") == 0) p.enabled = atoi(v) != 0;
		else if (strcmp(k, "last_step") == 0) p.last_step = atoll(v);
		else if (strcmp(k, "failures") == 0) p.failures = (unsigned)atoi(v);
		else if (strcmp(k, "lock_until") == 0) p.lock_until = atoll(v);
		else if (strcmp(k, "comment") == 0) snprintf(p.comment, sizeof(p.comment), "%s", v);
		else if (strcmp(k, "codes") == 0) {
			char *save = NULL, *copy = strdup(v);
			for (char *c = strtok_r(copy, ",", &save); c != NULL;
			     c = strtok_r(NULL, ",", &save))
				if (tp_profile_add_emergency(&p, c) != TP_OK)
					return die("bad emergency code", c);
			free(copy);
		} else return die("unknown key", k);
	}
	if (cfg->store_backend == TP_STORE_POSTGRESQL) {
		enum tp_import_result how;

		/* the database takes a copy only over nothing (or the same) */
		st = tp_store_delete(store, p.owner_uuid, p.account);
		if (st == TP_OK || st == TP_ENOENT)
			st = tp_store_import(store, &p, &how);
	} else {
		st = tp_store_put(store, &p);
	}
	if (st != TP_OK)
		return die(tp_status_str(st), tp_store_detail(store));
	tp_profile_wipe(&p);
	return 0;
}

int main(int argc, char **argv)
{
	struct tp_config *cfg;
	struct tp_store *store;
	struct tp_profile p;
	char *err = NULL;
	bool get = argc > 1 && strcmp(argv[1], "--get") == 0;
	bool batch = argc > 1 && strcmp(argv[1], "--batch") == 0;
	int a = get || batch ? 2 : 1;
	enum tp_status st;

	if (argc < a + (get ? 3 : batch ? 1 : 4))
		return die("usage: see the comment at the top of tp_mkprofile.c", NULL);
	if (tp_config_load(argv[a], &cfg, &err) != TP_OK)
		return die("config", err);
	cfg->store_admin = true;     /* postgresql: admin_conninfo, totp_admin */
	if (tp_store_open(cfg, &store, &err) != TP_OK)
		return die("store", err);
	if (get) {
		st = tp_store_get(store, argv[a + 1], argv[a + 2], &p);
		if (st != TP_OK)
			return die(tp_status_str(st), tp_store_detail(store));
		printf("%d %lld %u %lld %u\n", p.enabled, (long long)p.last_step,
		       p.failures, (long long)p.lock_until, tp_profile_emergency_left(&p));
		return 0;
	}
	if (batch) {
		char line[4096];
		while (fgets(line, sizeof(line), stdin) != NULL) {
			char *args[32], *save = NULL;
			int n = 0;
			line[strcspn(line, "\n")] = '\0';
			for (char *f = strtok_r(line, "\t", &save); f != NULL && n < 32;
			     f = strtok_r(NULL, "\t", &save))
				args[n++] = f;
			if (n > 0 && write_profile(cfg, store, args, n) != 0)
				return 2;
		}
	} else if (write_profile(cfg, store, argv + a + 1, argc - a - 1) != 0) {
		return 2;
	}
	tp_store_close(store);
	tp_config_free(cfg);
	return 0;
}
