/* Test helper for tests/pg/totpctl.sh: are copies of a secret left in this
 * process's memory after the PostgreSQL store handled it?  libpq keeps
 * what it sent and received in its connection buffers and frees them
 * without wiping, so the store must overwrite them itself.
 *
 *   tp_pg_residue ADMIN_CONNINFO OWNER_UUID ACCOUNT create
 *   tp_pg_residue ADMIN_CONNINFO OWNER_UUID ACCOUNT import
 *
 * create: a profile made in the database (its secret and codes come back
 * once); import: a profile with a known secret, salt and hashes copied in.
 * Prints "open N" (copies in writable memory other than the stack and the
 * helper's own record, the store still open) and "closed N" (after
 * tp_store_close), counting the secret in hex, as it crosses the wire, and
 * for create the first emergency code, for import the salt and first hash
 * in hex.  Exit 0 when the operation succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "profile.h"
#include "store.h"

static struct tp_created_profile created;   /* skipped: the caller's copy */
static struct tp_profile imported;

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* Occurrences of needle in readable and writable mappings, but for the
 * stack (the needles themselves live there) and [skip, skip + len). */
static int copies(const char *needle, const void *skip, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	size_t n = strlen(needle);
	char line[512];
	int hits = 0;

	if (maps == NULL)
		return -1;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long a, b;
		char perm[5];

		if (sscanf(line, "%lx-%lx %4s", &a, &b, perm) != 3 || perm[0] != 'r' ||
		    perm[1] != 'w' || strstr(line, "[stack]") || strstr(line, "[vvar]"))
			continue;
		for (const char *p = (const char *)a; p + n <= (const char *)b; p++) {
			if (p >= (const char *)skip && p < (const char *)skip + len)
				continue;
			if (p[0] == needle[0] && memcmp(p, needle, n) == 0)
				hits++;
		}
	}
	fclose(maps);
	return hits;
}

int main(int argc, char **argv)
{
	struct tp_config cfg;
	struct tp_store *s = NULL;
	char *err = NULL;
	char needles[3][2 * TP_HASH_LEN + 1];
	const void *own;
	size_t own_len;
	enum tp_status st;
	int n;

	if (argc != 5)
		return 2;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = (char *)"tp_pg_residue";
	cfg.store_backend = TP_STORE_POSTGRESQL;
	cfg.store_admin = true;
	cfg.store_admin_conninfo = argv[1];
	if (tp_store_open(&cfg, &s, &err) != TP_OK) {
		fprintf(stderr, "open: %s\n", err ? err : "?");
		return 1;
	}
	memset(needles, 0, sizeof(needles));
	if (strcmp(argv[4], "create") == 0) {
		struct tp_create_request rq = { .owner_uuid = argv[2], .account = argv[3],
			.totp = { .alg = TP_SHA1, .digits = 6, .period = 30 },
			.secret_len = 20, .n_codes = 5 };

		st = tp_store_create(s, &rq, &created);
		hex(created.fresh.secret, created.fresh.secret_len, needles[0]);
		memcpy(needles[1], created.codes[0], TP_EMERGENCY_DIGITS);
		own = &created;
		own_len = sizeof(created);
	} else {
		enum tp_import_result how;
		static const char key[] = "residue-secret-20byt";

		snprintf(imported.owner_uuid, sizeof(imported.owner_uuid), "%s", argv[2]);
		snprintf(imported.account, sizeof(imported.account), "%s", argv[3]);
		memcpy(imported.secret, key, 20);
		imported.secret_len = 20;
		imported.totp = (struct tp_totp_params){ .alg = TP_SHA1, .digits = 6, .period = 30 };
		imported.enabled = true;
		imported.created = 1;
		imported.last_step = -1;
		for (size_t i = 0; i < TP_SALT_LEN; i++)
			imported.ec_salt[i] = (unsigned char)(0xa0 + i);
		imported.ec_count = 2;
		for (size_t i = 0; i < TP_HASH_LEN; i++) {
			imported.ec_hash[0][i] = (unsigned char)(0x40 + i);
			imported.ec_hash[1][i] = (unsigned char)(0x80 + i);
		}
		st = tp_store_import(s, &imported, &how);
		hex(imported.secret, 20, needles[0]);
		hex(imported.ec_salt, TP_SALT_LEN, needles[1]);
		hex(imported.ec_hash[0], TP_HASH_LEN, needles[2]);
		own = &imported;
		own_len = sizeof(imported);
	}
	if (st != TP_OK) {
		fprintf(stderr, "%s: %s\n", argv[4], tp_store_detail(s));
		tp_store_close(s);
		return 1;
	}
	n = 0;
	for (int i = 0; i < 3; i++)
		if (needles[i][0] != '\0')
			n += copies(needles[i], own, own_len);
	printf("open %d\n", n);
	tp_store_close(s);
	n = 0;
	for (int i = 0; i < 3; i++)
		if (needles[i][0] != '\0')
			n += copies(needles[i], own, own_len);
	printf("closed %d\n", n);
	return 0;
}
