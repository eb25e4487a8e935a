/* Running setuid and setgid to the store user.
 *
 * totpctl is installed setuid to a dedicated non-root account that owns
 * the profile store (never root), and setgid to that account's group so
 * that every file it creates carries the store's group, not the caller's.
 * It holds that identity only while it touches the store: from the first
 * lines of main the effective uid and gid are the caller's,
 * ctl_priv_raise() switches both to the store user's around store calls,
 * and ctl_priv_drop() gives them up for good before anything is printed.  Models: shadow's chsh.c (environment, caller from getuid()),
 * linux-pam's unix_chkpwd.c and OpenSSH's uidswap.c (check that a dropped
 * privilege cannot be regained). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "totpctl.h"

/* fds 0-2 must be open, or a file we open could become "stdout" and
 * receive our output (or an attacker's input).  A closed one is pointed
 * at /dev/null.  *stdout_lost: output to fd 1 cannot reach anyone -- it
 * was closed, or is open read-only (what the C library of a setuid
 * program makes of a closed stdout) -- which create must not pretend
 * went well. */
int ctl_ensure_std_fds(bool *stdout_lost)
{
	int fl;

	*stdout_lost = false;
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (fd == STDOUT_FILENO)
			*stdout_lost = true;
		int nfd = open("/dev/null", O_RDWR | O_NOCTTY);
		if (nfd != fd) {
			if (nfd >= 0)
				close(nfd);
			return -1;
		}
	}
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl == -1 || (fl & O_ACCMODE) == O_RDONLY)
		*stdout_lost = true;
	return 0;
}

static bool plain_value(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		      c == '+'))
			return false;
	}
	return true;
}

/* Nothing from the caller's environment reaches the process except TERM
 * (used only to decide whether the QR code gets colours). */
void ctl_sanitize_env(void)
{
	char term[65] = "";
	const char *t = getenv("TERM");

	if (t != NULL && plain_value(t, sizeof(term) - 1))
		memcpy(term, t, strlen(t) + 1);
	(void)clearenv();
	(void)setenv("PATH", "/usr/bin:/bin", 1);
	if (term[0] != '\0')
		(void)setenv("TERM", term, 1);
}

/* Secrets live in memory for a moment: keep them out of core files. */
void ctl_no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
}

int ctl_priv_init(struct ctl_priv *pv, char *why, size_t whylen)
{
	pv->ruid = getuid();
	pv->euid = geteuid();
	pv->rgid = getgid();
	pv->egid = getegid();
	pv->privileged = pv->ruid != pv->euid || pv->rgid != pv->egid;
	if (!pv->privileged)
		return 0;
	if (pv->euid == 0) {
		snprintf(why, whylen, "totpctl must not be installed setuid root; "
			 "make it setuid to the store user (see totpctl(1))");
		return -1;
	}
	/* setgid root: root's group is not the store's (root running the
	 * program has gid 0 as its real gid; that is not this case) */
	if (pv->egid == 0 && pv->rgid != 0) {
		snprintf(why, whylen, "totpctl must not be installed setgid root; "
			 "make it setgid to the store user's group (see totpctl(1))");
		return -1;
	}
	/* Caller's identity until the store is needed; the saved ids keep
	 * the store user's so ctl_priv_raise() can switch back. */
	if (setresgid((gid_t)-1, pv->rgid, pv->egid) != 0) {
		snprintf(why, whylen, "cannot switch to the caller's gid: %s",
			 strerror(errno));
		return -1;
	}
	if (setresuid((uid_t)-1, pv->ruid, pv->euid) != 0) {
		snprintf(why, whylen, "cannot switch to the caller's uid: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The gid too: a file the store user creates gets the effective gid. */
int ctl_priv_raise(const struct ctl_priv *pv)
{
	if (!pv->privileged)
		return 0;
	return setresgid((gid_t)-1, pv->egid, (gid_t)-1) == 0 &&
	       setresuid((uid_t)-1, pv->euid, (uid_t)-1) == 0 &&
	       getegid() == pv->egid && geteuid() == pv->euid ? 0 : -1;
}

int ctl_priv_lower(const struct ctl_priv *pv)
{
	if (!pv->privileged)
		return 0;
	return setresuid((uid_t)-1, pv->ruid, (uid_t)-1) == 0 &&
	       setresgid((gid_t)-1, pv->rgid, (gid_t)-1) == 0 &&
	       geteuid() == pv->ruid && getegid() == pv->rgid ? 0 : -1;
}

/* For good: real, effective and saved ids all become the caller's. */
int ctl_priv_drop(const struct ctl_priv *pv)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (!pv->privileged)
		return 0;
	if (setresgid(pv->rgid, pv->rgid, pv->rgid) != 0 ||
	    setresuid(pv->ruid, pv->ruid, pv->ruid) != 0)
		return -1;
	if (getresuid(&r, &e, &s) != 0 || r != pv->ruid || e != pv->ruid ||
	    s != pv->ruid || getresgid(&rg, &eg, &sg) != 0 || rg != pv->rgid ||
	    eg != pv->rgid || sg != pv->rgid)
		return -1;
	/* root who ran a setuid-to-store-user copy is still root: fine */
	if (pv->ruid != 0 && pv->euid != pv->ruid &&
	    (setuid(pv->euid) == 0 || seteuid(pv->euid) == 0))
		return -1;
	if (pv->ruid != 0 && pv->egid != pv->rgid &&
	    (setgid(pv->egid) == 0 || setegid(pv->egid) == 0 ||
	     setresgid((gid_t)-1, pv->egid, (gid_t)-1) == 0))
		return -1;
	return 0;
}

static int access_enter(const void *ctx)
{
	return ctl_priv_raise(ctx);
}

static int access_leave(const void *ctx)
{
	return ctl_priv_lower(ctx);
}

struct ctl_store_access ctl_priv_access(const struct ctl_priv *pv)
{
	struct ctl_store_access a = { access_enter, access_leave, pv };

	return a;
}
