/* Test-only preload: a ^C in the fork window.  The first fork() of the
 * process has its child send SIGINT to the whole process group at once,
 * before the child has run a line of the caller's code (for totpctl
 * create: before the guard ignores the terminal's signals), and the
 * parent returns from fork() only after the signal was sent.  Never
 * installed. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

pid_t fork(void)
{
	static int fired;
	pid_t (*real)(void) = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	unsigned char b = 0;
	int p[2];
	pid_t pid;

	if (real == NULL)
		abort();
	if (fired || pipe2(p, O_CLOEXEC) != 0)
		return real();
	fired = 1;
	pid = real();
	if (pid == 0) {
		close(p[0]);
		(void)kill(0, SIGINT);
		(void)write(p[1], &b, 1);
		close(p[1]);
		return 0;
	}
	close(p[1]);
	if (pid > 0)
		while (read(p[0], &b, 1) < 0 && errno == EINTR)
			;
	close(p[0]);
	return pid;
}
