/* The floor as a PAM module: what any module that keeps a durable
 * single-use record on a file must do per login at the least, and nothing
 * else.  It opens a record file laid out beforehand (another one each
 * login, as each login writes its own account's record), writes 64 bytes
 * in place, flushes them (fdatasync) and closes the file.  It asks for no
 * code, checks nothing and always succeeds.
 *
 * Timed through libpam by pam_bench like the real modules, so what every
 * module pays around the floor is in it too: the PAM framework (a stack of
 * pam_permit), the open and close, and whatever a process pays for having
 * slept through a disk flush.  A module can be no faster than this on the
 * same disk.
 *
 *   auth required pam_floor.so dir=DIR files=N
 *
 * DIR holds N laid-out files named 0 .. N-1 (bench/run.sh makes them);
 * logins take them in turn. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_modules.h>

static unsigned next_file;

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *dir = NULL;
	unsigned files = 0;
	char path[4096], rec[64];
	int fd, ok;

	(void)pamh;
	(void)flags;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "dir=", 4) == 0)
			dir = argv[i] + 4;
		else if (strncmp(argv[i], "files=", 6) == 0)
			files = (unsigned)strtoul(argv[i] + 6, NULL, 10);
	}
	if (dir == NULL || files == 0 || strlen(dir) > sizeof(path) - 16)
		return PAM_SERVICE_ERR;
	memcpy(path, dir, strlen(dir));
	{
		/* dir/NUMBER without snprintf's cost, as the store names files */
		char digits[12];
		unsigned v = next_file++ % files, n = 0;
		size_t at = strlen(dir);

		do
			digits[n++] = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		path[at++] = '/';
		while (n > 0)
			path[at++] = digits[--n];
		path[at] = '\0';
	}
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return PAM_SERVICE_ERR;
	memset(rec, (int)(next_file & 0xff), sizeof(rec));
	ok = pwrite(fd, rec, sizeof(rec), 0) == (ssize_t)sizeof(rec) && fdatasync(fd) == 0;
	close(fd);
	return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
