/* Shared by the libFuzzer targets: hand the input to an entry point that
 * reads a file, and stop loudly when a property does not hold. */
#ifndef TP_FUZZ_H
#define TP_FUZZ_H

#include <stddef.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the target checks, not an input error: abort so libFuzzer
 * keeps the input as a crash. */
#define FUZZ_ASSERT(cond)                                                   \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n",     \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

/* A scratch folder NAME.XXXXXX on tmpfs when there is one (else /tmp),
 * removed with all it holds when the target exits: one per process. */
static char fuzz_scratch_[128];

static inline int fuzz_scratch_remove_one_(const char *path, const struct stat *st,
					  int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	(void)remove(path);
	return 0;
}

static inline void fuzz_scratch_remove_(void)
{
	(void)nftw(fuzz_scratch_, fuzz_scratch_remove_one_, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *fuzz_scratch_dir(const char *name)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	FUZZ_ASSERT(fuzz_scratch_[0] == '\0');
	snprintf(fuzz_scratch_, sizeof(fuzz_scratch_), "%s/%s.XXXXXX", base, name);
	FUZZ_ASSERT(mkdtemp(fuzz_scratch_) != NULL);
	FUZZ_ASSERT(atexit(fuzz_scratch_remove_) == 0);
	return fuzz_scratch_;
}

/* Write all of data to fd from offset 0 and cut the file there. */
static inline void fuzz_fill_fd(int fd, const uint8_t *data, size_t size)
{
	size_t done = 0;

	FUZZ_ASSERT(ftruncate(fd, 0) == 0);
	while (done < size) {
		ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
		FUZZ_ASSERT(w > 0);
		done += (size_t)w;
	}
}

/* data as a NUL-terminated string (cut at its first NUL), malloc'd so
 * ASan sees reads past the end. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_ASSERT(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
