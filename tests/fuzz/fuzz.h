/* Shared by the libFuzzer targets: hand the input to an entry point that
 * reads a file, and stop loudly when a property does not hold. */
#ifndef TP_FUZZ_H
#define TP_FUZZ_H

#include <stddef.h>
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
