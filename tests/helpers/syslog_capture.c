/* LD_PRELOAD shim for tests: appends every syslog(3) message to the file
 * named by TP_TEST_SYSLOG, so tests can check what the module logged
 * without a syslog daemon.  Never installed. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

void vsyslog(int priority, const char *fmt, va_list ap);
void syslog(int priority, const char *fmt, ...);
void __syslog_chk(int priority, int flag, const char *fmt, ...);
void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap);

void vsyslog(int priority, const char *fmt, va_list ap)
{
	char msg[2048];
	const char *path = getenv("TP_TEST_SYSLOG");
	int fd, n;

	if (path == NULL)
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
