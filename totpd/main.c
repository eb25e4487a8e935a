/* totpd: the TOTP profile API over HTTP on a local unix socket.
 * See totpd(8).
 *
 * It runs as the store user (never root): the store's files are its own,
 * so the verbs need no privilege switch.  The socket comes from systemd
 * (LISTEN_FDS, totpd.socket) or is bound here (--socket PATH). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "totpd.h"

#define SD_LISTEN_FDS_START 3

static void usage(FILE *f)
{
	fputs("usage: totpd [--config PATH] [--socket PATH] [--max-connections N]\n"
	      "             [--timeout SECONDS] [--header-bytes N]\n"
	      "Serves POST/GET /api/security/login/totps and GET/PATCH/DELETE\n"
	      "/api/security/login/totps/{owner.uuid}/{account.name} on a unix socket\n"
	      "(systemd's, or --socket PATH).  See totpd(8).\n", f);
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0 &&
	       *out >= min && *out <= max;
}

/* systemd's socket, if this process is the one it was passed to. */
static int activated_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	unsigned long n, p;
	int type = 0;
	socklen_t len = sizeof(type);

	if (pid == NULL || fds == NULL || !parse_uint(pid, 1, 1ul << 31, &p) ||
	    (pid_t)p != getpid() || !parse_uint(fds, 1, 64, &n))
		return -1;
	if (n != 1) {
		fprintf(stderr, "totpd: %lu sockets passed, expected one\n", n);
		return -2;
	}
	if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_STREAM) {
		fprintf(stderr, "totpd: the passed fd 3 is not a stream socket\n");
		return -2;
	}
	(void)fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
	return SD_LISTEN_FDS_START;
}

/* A socket of our own; any local user may connect (the kernel tells us
 * who they are), so mode 0666.  It is bound under a temporary name and
 * renamed into place once it listens: a client (or a script waiting for
 * the socket to appear) that connects as soon as the name exists would
 * otherwise be refused between bind() and listen(). */
static int bind_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char tmp[sizeof(sa.sun_path)];
	struct stat st;
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "totpd: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, tmp, (size_t)n + 1);
	(void)unlink(tmp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "totpd: socket: %s\n", strerror(errno));
		return -1;
	}
	mode_t old = umask(0111);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || chmod(tmp, 0666) != 0 || listen(fd, 128) != 0)
		goto fail;
	/* a stale socket of an earlier run is replaced; anything else is
	 * left alone */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		goto fail;
	}
	if (rename(tmp, path) != 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "totpd: cannot listen on %s: %s\n", path, strerror(errno));
	(void)unlink(tmp);
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",          required_argument, NULL, 'c' },
		{ "socket",          required_argument, NULL, 's' },
		{ "max-connections", required_argument, NULL, 'n' },
		{ "timeout",         required_argument, NULL, 't' },
		{ "header-bytes",    required_argument, NULL, 'm' },
		{ "help",            no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* 256: a thread is held only by a connection within its uid's cap
	 * (api.connections_per_user); one over it is refused at once */
	struct totpd_limits lim = { .connections = 256, .timeout = 10, .memory = 16384 };
	const char *config = TP_DEFAULT_CONFIG, *sock = NULL;
	struct tp_config *cfg = NULL;
	struct passwd *pw;
	struct rlimit nocore = { 0, 0 };
	sigset_t set;
	char *err = NULL;
	unsigned long v;
	bool own_socket = false;
	int c, fd, rv = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'n':
			if (!parse_uint(optarg, 1, 1000, &v))
				goto bad;
			lim.connections = (unsigned)v;
			break;
		case 't':
			if (!parse_uint(optarg, 1, 3600, &v))
				goto bad;
			lim.timeout = (unsigned)v;
			break;
		case 'm':
			if (!parse_uint(optarg, 4096, 1u << 20, &v))
				goto bad;
			lim.memory = v;
			break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	/* root could write any file the config names: refuse it */
	if (geteuid() == 0 || getuid() == 0) {
		fputs("totpd: refusing to run as root; run it as the store user "
		      "(User= in totpd.service)\n", stderr);
		return 1;
	}
	(void)setrlimit(RLIMIT_CORE, &nocore);   /* new keys pass through memory */
	umask(077);
	if (tp_config_load(config, &cfg, &err) != TP_OK) {
		fprintf(stderr, "totpd: %s\n", err ? err : "cannot load the configuration");
		goto out;
	}
	cfg->store_admin = true;     /* postgresql: admin_conninfo, totp_admin */
	cfg->store_lock_wait_ms = cfg->api_lock_wait_ms;
	pw = getpwnam(cfg->store_user);
	if (pw == NULL || pw->pw_uid != geteuid()) {
		fprintf(stderr, "totpd: running as uid %u, but the store user in %s is "
			"'%s': run totpd as that user\n", (unsigned)geteuid(), cfg->path,
			cfg->store_user);
		goto out;
	}
	fd = activated_socket();
	if (fd == -2)
		goto out;
	if (fd < 0 && sock == NULL) {
		fputs("totpd: no socket: start it from totpd.socket or give --socket PATH\n",
		      stderr);
		goto out;
	}
	if (fd < 0) {
		if ((fd = bind_socket(sock)) < 0)
			goto out;
		own_socket = true;
	}
	/* libpq must not take settings from our environment (the config's
	 * conninfo says all); without PG* variables the verbs' threads
	 * connect without serialising on the environment (pg_conninfo.c) */
	for (size_t i = 0; environ[i] != NULL;) {
		char name[256];
		size_t n = strcspn(environ[i], "=");
		if (strncmp(environ[i], "PG", 2) != 0 || n >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, environ[i], n);
		name[n] = '\0';
		if (unsetenv(name) != 0)
			i++;
	}
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");

	/* every thread inherits this mask: the signals go to sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);

	rv = totpd_serve(cfg, fd, &lim);
	if (own_socket)
		(void)unlink(sock);
out:
	tp_config_free(cfg);
	free(err);
	return rv;
bad:
	usage(stderr);
	return 2;
}
