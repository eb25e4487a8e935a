/* LD_PRELOAD shim for tests: appends every syslog(3) and pam_syslog(3)
 * message to the file named by TP_TEST_SYSLOG, so tests can check what the
 * module logged without a syslog daemon.  Preload it before pam_wrapper so
 * its pam_syslog wins (pam_wrapper's drops messages once sshd's PAM child
 * has emptied the environment).  Never installed. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <security/pam_ext.h>

void vsyslog(int priority, const char *fmt, va_list ap);
void syslog(int priority, const char *fmt, ...);
void __syslog_chk(int priority, int flag, const char *fmt, ...);
void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap);

/* Read once at load: sshd's PAM child empties environ before calling PAM. */
static char log_path[4096];

__attribute__((constructor))
static void remember_path(void)
{
	const char *p = getenv("TP_TEST_SYSLOG");
	if (p != NULL)
		snprintf(log_path, sizeof(log_path), "%s", p);
}

void vsyslog(int priority, const char *fmt, va_list ap)
{
	char msg[2048];
	const char *path = log_path;
	int fd, n;

	if (path[0] == '\0')
		return;
	n = snprintf(msg, sizeof(msg), "<%d> ", priority);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	strcat(msg, "\n");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, msg, strlen(msg));
		close(fd);
	}
}

void syslog(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(priority, fmt, ap);
}

void __syslog_chk(int priority, int flag, const char *fmt, ...)
{
	va_list ap;
	(void)flag;
	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

void pam_vsyslog(const pam_handle_t *pamh, int priority, const char *fmt, va_list ap)
{
	(void)pamh;
	vsyslog(LOG_AUTHPRIV | priority, fmt, ap);
}

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pam_vsyslog(pamh, priority, fmt, ap);
	va_end(ap);
}
