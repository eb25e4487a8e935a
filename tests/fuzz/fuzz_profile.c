/* The profile file parser (tp_profile_from_fd) on arbitrary file content.
 * Whatever it accepts must be a profile the store can write back: the
 * fields in range, and serialising then parsing again gives the very same
 * record. */
#include <stdbool.h>

#include "fuzz.h"
#include "names.h"
#include "profile.h"

static int memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	FUZZ_ASSERT(fd >= 0);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int in_fd = -1, out_fd = -1;
	struct tp_profile p, again;
	char *text = NULL;
	size_t len = 0;

	if (in_fd < 0) {
		in_fd = memfd("fuzz_profile_in");
		out_fd = memfd("fuzz_profile_out");
	}
	fuzz_fill_fd(in_fd, data, size);
	if (tp_profile_from_fd(in_fd, &p) != TP_OK)
		return 0;

	FUZZ_ASSERT(tp_valid_uuid(p.owner_uuid));
	FUZZ_ASSERT(tp_valid_account(p.account));
	FUZZ_ASSERT(p.secret_len >= 16 && p.secret_len <= TP_SECRET_MAX);
	FUZZ_ASSERT(p.totp.digits >= TP_DIGITS_MIN && p.totp.digits <= TP_DIGITS_MAX);
	FUZZ_ASSERT(p.totp.period >= 1 && p.totp.period <= 300);
	FUZZ_ASSERT(p.ec_count <= TP_EMERGENCY_MAX);
	FUZZ_ASSERT(tp_profile_emergency_left(&p) <= p.ec_count);
	FUZZ_ASSERT(tp_valid_comment(p.comment));
	FUZZ_ASSERT(p.last_step >= -1);

	FUZZ_ASSERT(tp_profile_to_ini(&p, &text, &len) == TP_OK);
	FUZZ_ASSERT(len <= TP_PROFILE_FILE_MAX);
	fuzz_fill_fd(out_fd, (const uint8_t *)text, len);
	free(text);
	FUZZ_ASSERT(tp_profile_from_fd(out_fd, &again) == TP_OK);
	/* both were zeroed before parsing, padding included */
	FUZZ_ASSERT(memcmp(&p, &again, sizeof(p)) == 0);
	tp_profile_wipe(&p);
	tp_profile_wipe(&again);
	return 0;
}
