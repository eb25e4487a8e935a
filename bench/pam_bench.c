/* The benchmark driver.  Runs K logins through libpam and prints one
 * RESULT line: logins/s, p50/p99 latency, peak RSS, how many succeeded.
 *
 *   pam_bench [options] SERVICE
 *     --users N        enrolled users u0000000..u(N-1)          (required)
 *     --kind K         accept (fresh TOTP code), emergency (unspent
 *                      emergency/scratch code), reject (wrong code)
 *     --iters K        logins to run (default 1000)
 *     --budget S       stop after S seconds once 20 logins are done
 *     --time T         the fake clock's start (Unix seconds)
 *     --slot I         emergency code index to use (0..4)
 *     --seed X         which users, in which order
 *     --skip K         start K users into that order (runs that must not
 *                      share a user, e.g. within one TOTP step)
 *     --module PATH    keep this module loaded between logins
 *     --exec PROG      whole-process mode: run `PROG SERVICE USER
 *                      authenticate` (pamtester) once per login, with
 *                      LD_PRELOAD=$BENCH_EXEC_PRELOAD; its output goes to
 *                      the file --out and must say success or failure
 *     --out FILE       (--exec) where the child's output goes
 *     --label TEXT     copied into the RESULT line
 *
 * In-process mode needs bench_preload.so in LD_PRELOAD (after
 * libpam_wrapper.so): every round of N logins gives each user one login,
 * and the clock moves one TOTP period per round, so every accepted login
 * uses a fresh step and writes state as in production.  Codes are
 * computed before the login starts, outside the timed part. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <security/pam_appl.h>

#include "totp.h"
#include "bench_common.h"

#define PERIOD 30

enum kind { KIND_ACCEPT, KIND_EMERGENCY, KIND_REJECT };

struct answer {
	char code[16];
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp,
		void *data)
{
	const struct answer *a = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup(a->code);
			if (r[i].resp == NULL) {
				for (int k = 0; k < i; k++)
					free(r[k].resp);
				free(r);
				return PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "pam_bench: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void totp_code(unsigned user, long long t, long long offset_steps, char out[16])
{
	unsigned char key[BENCH_SECRET_LEN];
	char code[TP_CODE_MAX + 1];

	bench_secret(user, key);
	if (tp_hotp(key, sizeof(key), TP_SHA1, 6,
		    (uint64_t)(tp_totp_step(t, PERIOD) + offset_steps), code) != TP_OK)
		die("tp_hotp failed", NULL);
	snprintf(out, 16, "%s", code);
}

/* A 6-digit code that matches no step within ±2 of t. */
static void wrong_code(unsigned user, long long t, char out[16])
{
	char near[5][16];
	unsigned v;

	for (int k = 0; k < 5; k++)
		totp_code(user, t, k - 2, near[k]);
	v = (unsigned)(atoi(near[2]) + 500000) % 1000000u;
	for (;;) {
		int clash = 0;
		snprintf(out, 16, "%06u", v);
		for (int k = 0; k < 5; k++)
			clash |= strcmp(out, near[k]) == 0;
		if (!clash)
			return;
		v = (v + 1) % 1000000u;
	}
}

/* pamtester's verdict from its output: PAM_SUCCESS, PAM_AUTH_ERR, or -1
 * when it failed some other way (then the run measured the wrong thing) */
static int exec_verdict(const char *out)
{
	char buf[4096];
	ssize_t n;
	int fd = open(out, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (strstr(buf, "successfully authenticated") != NULL)
		return PAM_SUCCESS;
	if (strstr(buf, "Authentication failure") != NULL)
		return PAM_AUTH_ERR;
	return -1;
}

static int run_exec(const char *prog, const char *service, const char *user,
		    const struct answer *a, long long t, const char *out, long *maxrss)
{
	int fds[2], status = 0;
	struct rusage ru;
	pid_t pid;
	char tbuf[32];

	if (pipe(fds) != 0)
		die("pipe", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int null = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		const char *pre = getenv("BENCH_EXEC_PRELOAD");
		if (null < 0)
			_exit(126);
		dup2(fds[0], 0);
		dup2(null, 1);
		dup2(null, 2);
		if (pre != NULL)
			setenv("LD_PRELOAD", pre, 1);
		close(fds[0]);
		close(fds[1]);
		snprintf(tbuf, sizeof(tbuf), "%lld", t);
		setenv("BENCH_TIME", tbuf, 1);
		execlp(prog, prog, service, user, "authenticate", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (write(fds[1], a->code, strlen(a->code)) < 0 || write(fds[1], "\n", 1) < 0)
		{ /* the child may not read: that is its verdict */ }
	close(fds[1]);
	if (wait4(pid, &status, 0, &ru) != pid)
		die("wait4", strerror(errno));
	if (ru.ru_maxrss > *maxrss)
		*maxrss = ru.ru_maxrss;
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
}

int main(int argc, char **argv)
{
	unsigned users = 0, iters = 1000, slot = 0, seed = 1, skip = 0;
	double budget = 0;
	long long t0 = 0;
	const char *service = NULL, *module = NULL, *exec = NULL, *label = "";
	const char *confdir = getenv("BENCH_CONFDIR");
	const char *out = "/dev/null";
	enum kind kind = KIND_ACCEPT;
	int (*clock_set)(long long) = NULL;
	unsigned *perm;
	double *lat, start, total;
	unsigned done = 0, ok = 0, errors = 0;
	long maxrss = 0;
	struct rusage self;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (o[0] != '-') { service = o; continue; }
		if (v == NULL)
			die("missing value for", o);
		i++;
		if (strcmp(o, "--users") == 0) users = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--iters") == 0) iters = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--budget") == 0) budget = atof(v);
		else if (strcmp(o, "--time") == 0) t0 = atoll(v);
		else if (strcmp(o, "--slot") == 0) slot = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--seed") == 0) seed = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--skip") == 0) skip = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(o, "--module") == 0) module = v;
		else if (strcmp(o, "--exec") == 0) exec = v;
		else if (strcmp(o, "--label") == 0) label = v;
		else if (strcmp(o, "--out") == 0) out = v;
		else if (strcmp(o, "--kind") == 0) {
			if (strcmp(v, "accept") == 0) kind = KIND_ACCEPT;
			else if (strcmp(v, "emergency") == 0) kind = KIND_EMERGENCY;
			else if (strcmp(v, "reject") == 0) kind = KIND_REJECT;
			else die("unknown kind", v);
		} else die("unknown option", o);
	}
	if (service == NULL || users == 0 || iters == 0 || t0 <= 0)
		die("usage: pam_bench --users N --time T [options] SERVICE", NULL);
	if (kind == KIND_EMERGENCY && iters > users)
		die("emergency: at most one login per user and slot", NULL);
	if (exec == NULL) {
		clock_set = (int (*)(long long))dlsym(RTLD_DEFAULT, "bench_clock_set");
		if (clock_set == NULL)
			die("bench_preload.so is not in LD_PRELOAD", NULL);
		if (module != NULL && dlopen(module, RTLD_NOW | RTLD_NODELETE) == NULL)
			die("dlopen", dlerror());
	}

	/* a seeded shuffle: which users log in, in which order */
	perm = malloc(users * sizeof(*perm));
	lat = malloc(iters * sizeof(*lat));
	if (perm == NULL || lat == NULL)
		die("out of memory", NULL);
	for (unsigned i = 0; i < users; i++)
		perm[i] = i;
	for (unsigned i = users - 1; i > 0; i--) {
		unsigned j = (unsigned)(bench_mix(((uint64_t)seed << 32) | i) % (i + 1));
		unsigned x = perm[i]; perm[i] = perm[j]; perm[j] = x;
	}

	start = bench_now_us();
	for (unsigned j = 0; j < iters; j++) {
		unsigned u = perm[(j + skip) % users];
		long long t = t0 + (long long)(j / users) * PERIOD;
		struct answer a;
		char name[16];
		pam_handle_t *pamh = NULL;
		struct pam_conv pc = { conv, &a };
		double t1;
		int rv;

		bench_user(u, name);
		if (kind == KIND_ACCEPT)
			totp_code(u, t, 0, a.code);
		else if (kind == KIND_EMERGENCY)
			bench_emergency(u, slot, a.code);
		else
			wrong_code(u, t, a.code);
		if (exec != NULL) {
			t1 = bench_now_us();
			rv = run_exec(exec, service, name, &a, t, out, &maxrss);
		} else {
			clock_set(t);
			t1 = bench_now_us();
			/* BENCH_CONFDIR: the service files read by libpam from
			 * there, not through pam_wrapper's copy in a /tmp/pam.X
			 * folder that every process on the machine competes for */
			rv = confdir != NULL
			     ? pam_start_confdir(service, name, &pc, confdir, &pamh)
			     : pam_start(service, name, &pc, &pamh);
			if (rv == PAM_SUCCESS)
				rv = pam_authenticate(pamh, 0);
			if (pamh != NULL)
				pam_end(pamh, rv);
		}
		lat[j] = bench_now_us() - t1;
		if (exec != NULL && rv != -1) {
			int said = exec_verdict(out);     /* outside the timed part */
			rv = said == rv ? rv : -1;
		}
		if (rv != PAM_SUCCESS && rv != PAM_AUTH_ERR)
			errors++;
		done++;
		ok += rv == PAM_SUCCESS;
		if (budget > 0 && j >= 19 && (bench_now_us() - start) / 1e6 > budget)
			break;
	}
	total = bench_now_us() - start;
	qsort(lat, done, sizeof(*lat), bench_cmp_double);
	getrusage(RUSAGE_SELF, &self);
	if (exec == NULL)
		maxrss = self.ru_maxrss;
	printf("RESULT %s mode=%s kind=%s users=%u logins=%u ok=%u logins_s=%.1f "
	       "p50_us=%.1f p99_us=%.1f rss_kb=%ld errors=%u\n", label, exec ? "process" : "inproc",
	       kind == KIND_ACCEPT ? "accept" : kind == KIND_EMERGENCY ? "emergency" : "reject",
	       users, done, ok, done / (total / 1e6), lat[done / 2],
	       lat[done * 99 / 100 < done ? done * 99 / 100 : done - 1], maxrss, errors);
	free(perm);
	free(lat);
	/* a run whose logins did not all succeed (or fail) measured the wrong path */
	if (errors != 0 || (kind == KIND_REJECT ? ok != 0 : ok != done)) {
		fprintf(stderr, "pam_bench: %s: %u of %u logins succeeded, %u errors\n",
			label, ok, done, errors);
		return 1;
	}
	return 0;
}
