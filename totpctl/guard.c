/* Create is all or nothing, output included.
 *
 * The secret key and the emergency codes are shown once, and output
 * happens only after the store user's identity is given up for good
 * (main.c).  So before giving it up, a create that wrote a profile forks
 * a guard: a child that keeps the store identity (in its saved ids) and
 * waits on a pipe for one byte.  The parent drops privilege for good,
 * prints, checks that every byte reached stdout, and sends "keep"; any
 * other outcome -- an output error, the parent killed, the pipe closed --
 * makes the child take the profile back under the account's lock, and
 * only if the stored profile is still the one this create wrote (same
 * fingerprint and creation time): a disabled profile it replaced is put
 * back, otherwise the profile is deleted.
 *
 * The child reads nothing the caller controls but that one byte: its
 * standard fds are /dev/null, its environment was cleared in main, it is
 * not dumpable (no ptrace, no core), and it ignores the terminal's and
 * the session's signals so that ^C or a hang-up undoes the create through
 * the parent's death rather than leaving the profile behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profile.h"
#include "secret.h"
#include "store.h"
#include "totpctl.h"

#define KEEP_BYTE 'K'

/* The undo itself is the library's (totpd takes back a create whose
 * response was not delivered the same way). */
enum ctl_undo ctl_create_undo(const struct tp_config *cfg, const struct ctl_priv *pv,
			      const struct ctl_created *c)
{
	struct ctl_store_access a = ctl_priv_access(pv);

	return ctl_undo_create(cfg, &a, c);
}

static const int ignored[] = {
	SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE,
};

/* old: the mask to put back once the child ignores these signals */
__attribute__((noreturn))
static void guard_child(const struct tp_config *cfg, const struct ctl_priv *pv,
			const struct ctl_created *c, int fd, const sigset_t *old)
{
	unsigned char b = 0;
	ssize_t n;
	int null;

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		(void)signal(ignored[i], SIG_IGN);
	/* one that came since the fork was held, and is dropped now */
	(void)sigprocmask(SIG_SETMASK, old, NULL);
	/* nothing of the caller's terminal or pipes: a reader waiting for
	 * the end of our output must not wait for this process */
	null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(ctl_create_undo(cfg, pv, c));
	if (null > 2)
		close(null);
	do
		n = read(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && b == KEEP_BYTE)
		_exit(CTL_UNDO_KEPT);
	_exit(ctl_create_undo(cfg, pv, c));
}

int ctl_guard_start(const struct tp_config *cfg, const struct ctl_priv *pv,
		    const struct ctl_created *c, struct ctl_guard *g)
{
	sigset_t held, old;
	int fds[2];
	pid_t pid;

	g->pid = -1;
	g->fd = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	/* held from before the fork until the child ignores them: a ^C that
	 * lands between the two would otherwise kill the guard with us */
	sigemptyset(&held);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaddset(&held, ignored[i]);
	(void)sigprocmask(SIG_BLOCK, &held, &old);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		guard_child(cfg, pv, c, fds[0], &old);
	}
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	close(fds[0]);
	g->pid = pid;
	g->fd = fds[1];
	return 0;
}

enum ctl_undo ctl_guard_finish(struct ctl_guard *g, bool keep)
{
	unsigned char b = KEEP_BYTE;
	int status = 0;
	pid_t w;

	if (g->pid < 0)
		return keep ? CTL_UNDO_KEPT : CTL_UNDO_FAILED;
	if (keep) {
		ssize_t n;
		do
			n = write(g->fd, &b, 1);
		while (n < 0 && errno == EINTR);
	}
	close(g->fd);
	g->fd = -1;
	do
		w = waitpid(g->pid, &status, 0);
	while (w < 0 && errno == EINTR);
	g->pid = -1;
	if (w < 0 || !WIFEXITED(status))
		/* killed: it undid nothing, so what was written stays */
		return keep ? CTL_UNDO_KEPT : CTL_UNDO_FAILED;
	switch (WEXITSTATUS(status)) {
	case CTL_UNDO_KEPT:    return CTL_UNDO_KEPT;
	case CTL_UNDO_DONE:    return CTL_UNDO_DONE;
	case CTL_UNDO_CHANGED: return CTL_UNDO_CHANGED;
	default:               return CTL_UNDO_FAILED;
	}
}
