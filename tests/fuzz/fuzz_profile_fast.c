/* The login path's profile reader (tp_profile_parse_canonical) against
 * the iniparser reader (tp_profile_from_fd_ini).  Whatever the fast
 * reader accepts, iniparser's accepts too, as the very same record, and
 * it is exactly the text tp_profile_to_ini writes for that record: the
 * fast reader takes the canonical text and nothing else. */
#include <stdbool.h>

#include "fuzz.h"
#include "profile.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct tp_profile fast, slow;
	char *copy, *text = NULL;
	size_t len = 0;
	bool accepted;

	if (fd < 0) {
		fd = memfd_create("fuzz_profile_fast", MFD_CLOEXEC);
		FUZZ_ASSERT(fd >= 0);
	}
	/* its own allocation, so ASan sees a read past the end */
	copy = malloc(size + 1);
	FUZZ_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	accepted = tp_profile_parse_canonical(copy, size, &fast);
	free(copy);
	if (!accepted) {
		/* refused: the record is left wiped */
		static const struct tp_profile zero;
		FUZZ_ASSERT(memcmp(&fast, &zero, sizeof(zero)) == 0);
		return 0;
	}

	fuzz_fill_fd(fd, data, size);
	FUZZ_ASSERT(tp_profile_from_fd_ini(fd, &slow) == TP_OK);
	/* both were zeroed before parsing, padding included */
	FUZZ_ASSERT(memcmp(&fast, &slow, sizeof(fast)) == 0);
	FUZZ_ASSERT(tp_profile_to_ini(&fast, &text, &len) == TP_OK);
	FUZZ_ASSERT(len == size && memcmp(text, data, size) == 0);
	tp_wipe(text, len);
	free(text);
	tp_profile_wipe(&fast);
	tp_profile_wipe(&slow);
	return 0;
}
