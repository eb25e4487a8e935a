/* Enrol N benchmark users in each module's own store, written straight to
 * the files (no fsync: this is set-up, not the thing being timed).
 *
 *   gen_profiles N [--ours STORE OWNER_UUID] [--ga DIR] [--oath FILE]
 *
 *   --ours  pam_totp_profile: STORE/OWNER_UUID/uNNNNNNN.ini, 0600, built
 *           with the library (struct tp_profile + tp_profile_to_ini), with
 *           BENCH_EMERGENCY emergency codes each, and the lock file
 *           .uNNNNNNN.lock with both state slots laid out, as enrolment
 *           (a locked store update) leaves it
 *   --ga    pam_google_authenticator: DIR/uNNNNNNN, the file that
 *           `google-authenticator -t -d -r 3 -R 30 -w 3` writes (TOTP,
 *           disallow reuse, rate limit 3 per 30 s, window 3 = ±1 step,
 *           BENCH_EMERGENCY scratch codes), 0400
 *   --oath  pam_oath: one users file, a "HOTP/T30 uNNNNNNN - HEX" line each
 *   --pg    the PostgreSQL store: FILE, CSV rows for
 *           \copy totp.profiles (owner_uuid, account, secret, algorithm,
 *           digits, period, enabled, ec_salt, ec_hashes, ec_spent) FROM FILE
 *           WITH (FORMAT csv); the same secrets and emergency codes
 *
 * Users, secrets and codes come from bench_common.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base32.h"
#include "profile.h"
#include "bench_common.h"

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "gen_profiles: %s %s: %s\n", what, arg ? arg : "",
		errno ? strerror(errno) : "");
	exit(2);
}

static void write_file(int dirfd, const char *name, const char *text, size_t len,
		       mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		die("cannot create", name);
	if (fchmod(fd, mode) != 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
		die("cannot write", name);
}

static int open_dir(const char *path, mode_t mode)
{
	int fd;

	if (mkdir(path, mode) != 0 && errno != EEXIST)
		die("cannot create", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open", path);
	errno = 0;
	return fd;
}

static void gen_ours(unsigned n, const char *store, const char *owner)
{
	static const char zeros[512 + 64];
	char path[4096];
	struct tp_profile p;
	int dirfd;

	snprintf(path, sizeof(path), "%s/%s", store, owner);
	(void)open_dir(store, 0755);
	dirfd = open_dir(path, 0700);
	for (unsigned i = 0; i < n; i++) {
		char name[64], code[9];
		char *text = NULL;
		size_t len = 0;

		memset(&p, 0, sizeof(p));
		snprintf(p.owner_uuid, sizeof(p.owner_uuid), "%s", owner);
		bench_user(i, p.account);
		bench_secret(i, p.secret);
		p.secret_len = BENCH_SECRET_LEN;
		p.totp.alg = TP_SHA1;
		p.totp.digits = 6;
		p.totp.period = 30;
		p.enabled = true;
		p.created = (int64_t)time(NULL);
		p.last_step = -1;
		for (unsigned k = 0; k < TP_SALT_LEN; k++)
			p.ec_salt[k] = (unsigned char)bench_mix(((uint64_t)i << 8) | (0x40u + k));
		for (unsigned k = 0; k < BENCH_EMERGENCY; k++) {
			bench_emergency(i, k, code);
			if (tp_profile_add_emergency(&p, code) != TP_OK)
				die("emergency code", p.account);
		}
		if (tp_profile_to_ini(&p, &text, &len) != TP_OK)
			die("serialise", p.account);
		snprintf(name, sizeof(name), "%s.ini", p.account);
		write_file(dirfd, name, text, len, 0600);
		free(text);
		/* the lock file holds the login state record: enrolment lays
		 * out both slots (store_files.c), so no login extends it; zero
		 * bytes in slot 0 read as "the profile file's state" */
		snprintf(name, sizeof(name), ".%s.lock", p.account);
		write_file(dirfd, name, zeros, sizeof(zeros), 0600);
	}
	close(dirfd);
}

static void gen_ga(unsigned n, const char *dir)
{
	int dirfd = open_dir(dir, 0700);

	for (unsigned i = 0; i < n; i++) {
		unsigned char key[BENCH_SECRET_LEN];
		char b32[64], name[16], code[9], text[512];
		int len;

		bench_secret(i, key);
		if (tp_base32_encode(key, sizeof(key), b32, sizeof(b32)) != TP_OK)
			die("base32", NULL);
		bench_user(i, name);
		len = snprintf(text, sizeof(text),
			       "%s\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n"
			       "\" TOTP_AUTH\n", b32);
		for (unsigned k = 0; k < BENCH_EMERGENCY; k++) {
			bench_emergency(i, k, code);
			len += snprintf(text + len, sizeof(text) - (size_t)len, "%s\n", code);
		}
		write_file(dirfd, name, text, (size_t)len, 0400);
	}
	close(dirfd);
}

static void gen_oath(unsigned n, const char *file)
{
	FILE *f = fopen(file, "w");

	if (f == NULL)
		die("cannot create", file);
	if (fchmod(fileno(f), 0600) != 0)
		die("chmod", file);
	for (unsigned i = 0; i < n; i++) {
		unsigned char key[BENCH_SECRET_LEN];
		char name[16];

		bench_secret(i, key);
		bench_user(i, name);
		fprintf(f, "HOTP/T30 %s - ", name);
		for (unsigned k = 0; k < BENCH_SECRET_LEN; k++)
			fprintf(f, "%02x", key[k]);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		die("cannot write", file);
}

static void put_hex(FILE *f, const unsigned char *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		fprintf(f, "%02x", b[k]);
}

static void gen_pg(unsigned n, const char *file, const char *owner)
{
	FILE *f = fopen(file, "w");
	struct tp_profile p;

	if (f == NULL)
		die("cannot create", file);
	for (unsigned i = 0; i < n; i++) {
		char code[9];

		memset(&p, 0, sizeof(p));
		bench_user(i, p.account);
		bench_secret(i, p.secret);
		for (unsigned k = 0; k < TP_SALT_LEN; k++)
			p.ec_salt[k] = (unsigned char)bench_mix(((uint64_t)i << 8) | (0x40u + k));
		for (unsigned k = 0; k < BENCH_EMERGENCY; k++) {
			bench_emergency(i, k, code);
			if (tp_profile_add_emergency(&p, code) != TP_OK)
				die("emergency code", p.account);
		}
		fprintf(f, "%s,%s,\\x", owner, p.account);
		put_hex(f, p.secret, BENCH_SECRET_LEN);
		fputs(",SHA1,6,30,t,\\x", f);
		put_hex(f, p.ec_salt, TP_SALT_LEN);
		fputs(",\"{", f);
		for (unsigned k = 0; k < p.ec_count; k++) {
			fputs(k ? ",\"\"\\\\x" : "\"\"\\\\x", f);
			put_hex(f, p.ec_hash[k], TP_HASH_LEN);
			fputs("\"\"", f);
		}
		fputs("}\",\"{", f);
		for (unsigned k = 0; k < p.ec_count; k++)
			fputs(k ? ",f" : "f", f);
		fputs("}\"\n", f);
	}
	if (fclose(f) != 0)
		die("cannot write", file);
}

int main(int argc, char **argv)
{
	unsigned n;

	if (argc < 2)
		die("usage: gen_profiles N [--ours STORE OWNER] [--ga DIR] [--oath FILE] "
		    "[--pg FILE OWNER]", NULL);
	n = (unsigned)strtoul(argv[1], NULL, 10);
	if (n == 0 || n > 10000000u)
		die("N must be 1..10000000", argv[1]);
	for (int a = 2; a < argc; a++) {
		if (strcmp(argv[a], "--ours") == 0 && a + 2 < argc) {
			gen_ours(n, argv[a + 1], argv[a + 2]);
			a += 2;
		} else if (strcmp(argv[a], "--ga") == 0 && a + 1 < argc) {
			gen_ga(n, argv[++a]);
		} else if (strcmp(argv[a], "--pg") == 0 && a + 2 < argc) {
			gen_pg(n, argv[a + 1], argv[a + 2]);
			a += 2;
		} else if (strcmp(argv[a], "--oath") == 0 && a + 1 < argc) {
			gen_oath(n, argv[++a]);
		} else {
			die("unknown argument", argv[a]);
		}
	}
	return 0;
}
