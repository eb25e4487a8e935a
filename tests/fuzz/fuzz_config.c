/* The configuration loader (tp_config_load) on arbitrary file content.
 * The loader takes a path and checks the file's owner and mode, so the
 * input goes to a 0600 file of our own in a private temp folder (the
 * loader refuses /proc/self/fd links, so a memfd will not do).  What it
 * accepts must satisfy what the module and totpctl rely on without
 * checking again. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "config.h"
#include "names.h"

static char path[64];

static void remove_file(void)
{
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct tp_config *cfg = NULL;
	char *err = NULL;
	enum tp_status st;

	if (fd < 0) {
		/* tmpfs if there is one: the file is rewritten on every run */
		const char *base = getenv("TMPDIR");
		if (base == NULL || base[0] != '/' || strlen(base) >= 30)
			base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(path, sizeof(path) - 20, "%s/tp_fuzz_config.XXXXXX", base);
		FUZZ_ASSERT(mkdtemp(path) != NULL);
		strcat(path, "/config");
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		FUZZ_ASSERT(fd >= 0);
		atexit(remove_file);
	}
	fuzz_fill_fd(fd, data, size);
	st = tp_config_load(path, &cfg, &err);
	if (st != TP_OK) {
		FUZZ_ASSERT(cfg == NULL);
		/* every refusal says why, with the file name */
		FUZZ_ASSERT(st == TP_ENOMEM || (err != NULL && strncmp(err, path, strlen(path)) == 0));
		free(err);
		return 0;
	}
	FUZZ_ASSERT(cfg != NULL && err == NULL);
	FUZZ_ASSERT(cfg->store_path != NULL && cfg->store_path[0] == '/');
	FUZZ_ASSERT(cfg->issuer != NULL && tp_issuer_problem(cfg->issuer) == NULL);
	FUZZ_ASSERT(cfg->store_user != NULL && cfg->store_user[0] != '\0');
	FUZZ_ASSERT(cfg->admin_group != NULL && cfg->admin_group[0] != '\0');
	FUZZ_ASSERT(cfg->totp.digits >= TP_DIGITS_MIN && cfg->totp.digits <= TP_DIGITS_MAX);
	FUZZ_ASSERT(cfg->totp.period >= 1 && cfg->totp.period <= 300);
	FUZZ_ASSERT(cfg->window <= 10 && cfg->emergency_codes <= TP_EMERGENCY_MAX);
	FUZZ_ASSERT(cfg->lockout_seconds >= 1);
	FUZZ_ASSERT(cfg->n_owners >= 1 && cfg->owners[0].scope == TP_SCOPE_CLUSTER);
	for (size_t i = 0; i < cfg->n_owners; i++) {
		const struct tp_owner *o = &cfg->owners[i];
		FUZZ_ASSERT(tp_valid_owner_name(o->name) && tp_valid_uuid(o->uuid));
		FUZZ_ASSERT(i == 0 || o->scope == TP_SCOPE_SVM);
		FUZZ_ASSERT(tp_config_owner(cfg, o->name) == o);
		FUZZ_ASSERT(tp_config_owner(cfg, o->uuid) == o);
		for (size_t j = 0; j < o->n_members; j++)
			FUZZ_ASSERT(tp_valid_account(o->members[j]));
		for (size_t j = 0; j < o->n_totp_accounts; j++)
			FUZZ_ASSERT(tp_valid_account(o->totp_accounts[j]));
	}
	FUZZ_ASSERT(tp_config_owner(cfg, NULL) == &cfg->owners[0]);
	tp_config_free(cfg);
	return 0;
}
