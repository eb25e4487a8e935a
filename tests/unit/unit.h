/* Small helpers shared by the cmocka unit tests: temporary folders, files
 * with an exact mode, and reading a file back.  Everything is static inline
 * so a test that does not use a helper gets no unused-function warning. */
#ifndef TP_UNIT_H
#define TP_UNIT_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* "dir/name", malloc'd; the test fails if memory runs out. */
__attribute__((format(printf, 1, 2)))
static inline char *unit_path(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

/* A fresh 0700 folder under $TMPDIR (or /tmp); free with unit_rmtree(). */
static inline char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = unit_path("%s/tp_unit.XXXXXX",
			      base != NULL && base[0] == '/' ? base : "/tmp");

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	return dir;
}

static inline int unit_rm_one(const char *path, const struct stat *st,
			      int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* rm -rf without following symlinks; frees dir. */
static inline void unit_rmtree(char *dir)
{
	if (dir == NULL)
		return;
	(void)nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Write len bytes (strlen(text) if len is (size_t)-1) and set the exact
 * mode, whatever the umask. */
static inline void unit_write_bytes(const char *path, const char *text,
				    size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0600);

	assert_true(fd >= 0);
	while (len > 0) {
		ssize_t w = write(fd, text, len);
		assert_true(w > 0);
		text += w;
		len -= (size_t)w;
	}
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static inline void unit_write_file(const char *path, const char *text, mode_t mode)
{
	unit_write_bytes(path, text, strlen(text), mode);
}

/* Whole file as a NUL-terminated malloc'd string (NULL if it cannot be
 * opened); *len (if not NULL) gets its size. */
static inline char *unit_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, cap = 4096;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		ssize_t r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = read(fd, buf + n, cap - n);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

/* The same for a file that must exist: the test fails otherwise. */
__attribute__((returns_nonnull))
static inline char *unit_slurp(const char *path, size_t *len)
{
	char *s = unit_read_file(path, len);

	if (s == NULL) {
		fail_msg("cannot read %s: %s", path, strerror(errno));
		abort();            /* not reached: fail_msg leaves the test */
	}
	return s;
}

/* A memory file holding text, for parsers that read a descriptor. */
static inline int unit_text_fd(const char *text, size_t len)
{
	int fd = memfd_create("unit", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

static inline bool unit_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Does s contain sub?  For messages that must name something. */
#define assert_contains(s, sub) do {                                        \
		const char *s_ = (s), *sub_ = (sub);                        \
		if (s_ == NULL || strstr(s_, sub_) == NULL)                 \
			fail_msg("\"%s\" does not contain \"%s\"",          \
				 s_ ? s_ : "(null)", sub_);                 \
	} while (0)

#define assert_not_contains(s, sub) do {                                    \
		const char *s_ = (s), *sub_ = (sub);                        \
		if (s_ != NULL && strstr(s_, sub_) != NULL)                 \
			fail_msg("\"%s\" must not contain \"%s\"", s_, sub_); \
	} while (0)

#endif
