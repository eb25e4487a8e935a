/* The module's real entry point: pam_sm_authenticate on a real libpam
 * handle (pam_start_confdir), with fuzzed module arguments, user, PAM_AUTHTOK
 * and conversation answers, under every code source (prompt,
 * try_first_pass, use_first_pass, forward_pass).  The module's objects are
 * linked in and called from a stacked stub module (module_dispatch.c), so
 * this binary may set PAM_AUTHTOK as an earlier module would; libpam's fail
 * delay goes to a no-op PAM_FAIL_DELAY function.  LLVMFuzzerInitialize builds a throwaway world in /dev/shm: a
 * config (and one with a lockout), a store with an enabled profile, a
 * disabled one and a missing one, in the cluster and in an SVM.
 *
 * Property checked beyond "no crash, no leak, no undefined behaviour": an
 * account with no enabled profile of its owner is never authenticated, and
 * the result is always one of the PAM codes the man page lists.
 *
 *   byte 0  code source (bits 0-1), nullok (2), debug (3), the config with
 *           a lockout of 1 s after 3 failures (4), owner vs0 (5), owner
 *           given by uuid (6), no config= (7)
 *   byte 1  user: root, daemon, bin, nosuchuser, ROOT, the fuzzed name,
 *           none (libpam asks through the conversation)
 *   byte 2  answer: as is; + the current code; the current code alone;
 *           + an emergency code; repeated to 70 kB; none (NULL response);
 *           the conversation fails
 *   byte 3  how many prompts get a fuzzed answer before the rest fail
 *   then four fields, each a 1-byte length and its bytes: PAM_AUTHTOK
 *   (length 0: not set), the answer, extra module arguments (NUL-separated),
 *   the fuzzed user name.  Answers keep their NUL bytes: the module sees a
 *   C string whose buffer holds more.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "fuzz.h"
#include "config.h"
#include "profile.h"
#include "store.h"
#include "totp.h"

#define HUGE_ANSWER (70 * 1024)
#define SVM_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define CLUSTER_UUID "11111111-2222-4333-8444-555555555555"

static const unsigned char key[20] = "12345678901234567890";   /* RFC 4226 */
static const char *const emergency[] = { "12345678", "00000042", "99999999" };
static char dir[64], conf[96], conf_lock[96], confdir[96];
static unsigned runs;

/* pam_syslog would write every line to /dev/log: swallow them, or show
 * them on stderr with FUZZ_MODULE_LOG=1 (to see what a seed reaches). */
void __syslog_chk(int pri, int flag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	if (getenv("FUZZ_MODULE_LOG") == NULL)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "syslog <%d> ", pri);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(fputs(text, f) >= 0);
	FUZZ_ASSERT(fclose(f) == 0);
	FUZZ_ASSERT(chmod(path, 0644) == 0);
}

static void put_profile(struct tp_store *s, const char *owner, const char *account,
			bool enabled, enum tp_algorithm alg, unsigned digits)
{
	struct tp_profile p;

	memset(&p, 0, sizeof(p));
	snprintf(p.owner_uuid, sizeof(p.owner_uuid), "%s", owner);
	snprintf(p.account, sizeof(p.account), "%s", account);
	memcpy(p.secret, key, sizeof(key));
	p.secret_len = sizeof(key);
	p.totp.alg = alg;
	p.totp.digits = digits;
	p.totp.period = 30;
	p.enabled = enabled;
	p.created = 1;
	p.last_step = -1;
	for (size_t i = 0; i < sizeof(emergency) / sizeof(emergency[0]); i++)
		FUZZ_ASSERT(tp_profile_add_emergency(&p, emergency[i]) == TP_OK);
	FUZZ_ASSERT(tp_store_put(s, &p) == TP_OK);
	tp_profile_wipe(&p);
}

/* Fresh profiles: spent codes, steps and locks of earlier runs gone.
 * root: enabled in both owners; daemon: disabled in the cluster, none in
 * vs0; bin: a local user with no profile anywhere. */
static void reset_store(void)
{
	struct tp_config *cfg = NULL;
	struct tp_store *s = NULL;
	char *err = NULL;

	FUZZ_ASSERT(tp_config_load(conf, &cfg, &err) == TP_OK);
	FUZZ_ASSERT(tp_store_open(cfg, &s, &err) == TP_OK);
	put_profile(s, CLUSTER_UUID, "root", true, TP_SHA1, 6);
	put_profile(s, CLUSTER_UUID, "daemon", false, TP_SHA1, 6);
	put_profile(s, SVM_UUID, "root", true, TP_SHA256, 8);
	tp_store_close(s);
	tp_config_free(cfg);
}

/* What the stub module hands to the module for one run. */
static struct {
	int argc;
	const char **argv;
	const char *authtok;       /* NULL: PAM_AUTHTOK not set */
	int rv;
	bool called;
} call;

int fuzz_module_entry(pam_handle_t *pamh, int flags);
int fuzz_module_entry(pam_handle_t *pamh, int flags)
{
	/* NULL clears what an earlier run left */
	FUZZ_ASSERT(pam_set_item(pamh, PAM_AUTHTOK, call.authtok) == PAM_SUCCESS);
	call.rv = pam_sm_authenticate(pamh, flags, call.argc, call.argv);
	call.called = true;
	return call.rv;
}

static void no_delay(int status, unsigned delay_us, void *appdata)
{
	(void)status;
	(void)delay_us;
	(void)appdata;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[1024], path[128];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s", fuzz_scratch_dir("tp-fuzz-module"));
	FUZZ_ASSERT(chmod(dir, 0755) == 0);
	snprintf(path, sizeof(path), "%s/store", dir);
	FUZZ_ASSERT(mkdir(path, 0755) == 0);
	snprintf(confdir, sizeof(confdir), "%s/pam.d", dir);
	FUZZ_ASSERT(mkdir(confdir, 0755) == 0);
	{
		char exe[512], line[600], *slash;
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		FUZZ_ASSERT(n > 0);
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		FUZZ_ASSERT(slash != NULL);
		*slash = '\0';
		snprintf(line, sizeof(line), "auth required %s/module_dispatch.so\n", exe);
		snprintf(text, sizeof(text), "%s/fuzz", confdir);
		write_file(text, line);
	}
	for (int lock = 0; lock < 2; lock++) {
		snprintf(lock ? conf_lock : conf, sizeof(conf), "%s/%s", dir,
			 lock ? "lock.conf" : "tp.conf");
		snprintf(text, sizeof(text),
			 "store = { path = \"%s/store\"; user = \"root\"; };\n"
			 "issuer = \"fuzz\";\n"
			 "lockout = { max_failures = %d; seconds = 1; };\n"
			 "cluster = { name = \"cluster1\"; uuid = \"" CLUSTER_UUID "\";"
			 " totp_accounts = [ \"root\", \"daemon\", \"bin\" ]; };\n"
			 "svms = ( { name = \"vs0\"; uuid = \"" SVM_UUID "\";"
			 " members = [ \"root\", \"daemon\", \"erin\" ]; } );\n",
			 dir, lock ? 3 : 0);
		write_file(lock ? conf_lock : conf, text);
	}
	reset_store();
	return 0;
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_byte(struct reader *r)
{
	uint8_t b = 0;

	if (r->left > 0) {
		b = *r->p++;
		r->left--;
	}
	return b;
}

/* One field: a length byte and up to that many bytes. */
static void take_field(struct reader *r, const uint8_t **data, size_t *len)
{
	size_t n = take_byte(r);

	if (n > r->left)
		n = r->left;
	*data = r->p;
	*len = n;
	r->p += n;
	r->left -= n;
}

struct conv_state {
	const uint8_t *answer;
	size_t answer_len;
	unsigned mode, answers_left;
	const char *code;            /* the current code of the user's profile */
};

enum answer_mode { ANS_RAW, ANS_PLUS_CODE, ANS_CODE, ANS_PLUS_EMERGENCY, ANS_HUGE,
		   ANS_NULL, ANS_CONV_ERR, ANS_MODES };

/* A response buffer that keeps the answer's NUL bytes after the C string. */
static char *make_answer(const struct conv_state *c)
{
	const char *tail = c->mode == ANS_PLUS_CODE || c->mode == ANS_CODE ? c->code
			   : c->mode == ANS_PLUS_EMERGENCY ? emergency[c->answer_len % 3] : "";
	size_t head = c->mode == ANS_CODE ? 0 : c->answer_len;
	size_t total = c->mode == ANS_HUGE ? HUGE_ANSWER : head + strlen(tail);
	char *s = malloc(total + 1);

	FUZZ_ASSERT(s != NULL);
	if (c->mode == ANS_HUGE) {
		for (size_t i = 0; i < total; i++)
			s[i] = c->answer_len > 0 ? (char)c->answer[i % c->answer_len] : '7';
	} else {
		memcpy(s, c->answer, head);
		memcpy(s + head, tail, strlen(tail));
	}
	s[total] = '\0';
	return s;
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp,
		void *appdata)
{
	struct conv_state *c = appdata;
	struct pam_response *r;

	if (c->mode == ANS_CONV_ERR)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	FUZZ_ASSERT(r != NULL);
	for (int i = 0; i < n; i++) {
		int style = msg[i]->msg_style;

		FUZZ_ASSERT(msg[i]->msg != NULL);
		if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON)
			continue;
		if (c->mode == ANS_NULL)
			continue;
		if (c->answers_left == 0) {
			for (int j = 0; j < i; j++)
				free(r[j].resp);
			free(r);
			return PAM_CONV_ERR;
		}
		c->answers_left--;
		r[i].resp = make_answer(c);
	}
	*resp = r;
	return PAM_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const users[] = { "root", "daemon", "bin", "nosuchuser", "ROOT" };
	static const char *const sources[] = { NULL, "try_first_pass", "use_first_pass",
					      "forward_pass" };
	struct reader r = { data, size };
	uint8_t flags = take_byte(&r), who = take_byte(&r), mode = take_byte(&r);
	uint8_t prompts = take_byte(&r);
	const uint8_t *tok, *answer, *extra, *name;
	size_t tok_len, answer_len, extra_len, name_len;
	char *tok_s, *extra_s, *name_s, arg_conf[128], code[TP_CODE_MAX + 1];
	const char *argv[16], *user = NULL;
	int argc = 0, rv;
	unsigned which = who % 7u;
	bool svm = flags & 0x20;
	struct conv_state c;
	struct pam_conv pc = { conv, &c };
	static pam_handle_t *pamh;

	take_field(&r, &tok, &tok_len);
	take_field(&r, &answer, &answer_len);
	take_field(&r, &extra, &extra_len);
	take_field(&r, &name, &name_len);
	tok_s = fuzz_string(tok, tok_len);
	extra_s = fuzz_string(extra, extra_len);
	name_s = fuzz_string(name, name_len);

	if (++runs % 128 == 0)
		reset_store();
	/* the current code of root's profile in the chosen owner */
	FUZZ_ASSERT(tp_hotp(key, sizeof(key), svm ? TP_SHA256 : TP_SHA1, svm ? 8 : 6,
			    (uint64_t)tp_totp_step((int64_t)time(NULL), 30), code) == TP_OK);
	memset(&c, 0, sizeof(c));
	c.answer = answer;
	c.answer_len = answer_len;
	c.mode = mode % ANS_MODES;
	c.answers_left = prompts % 4u;
	c.code = code;

	if (sources[flags & 3])
		argv[argc++] = sources[flags & 3];
	if (flags & 0x04)
		argv[argc++] = "nullok";
	if (flags & 0x08)
		argv[argc++] = "debug";
	if (!(flags & 0x80)) {
		snprintf(arg_conf, sizeof(arg_conf), "config=%s",
			 flags & 0x10 ? conf_lock : conf);
		argv[argc++] = arg_conf;
	}
	if (svm)
		argv[argc++] = flags & 0x40 ? "owner=" SVM_UUID : "owner=vs0";
	/* extra arguments: NUL-separated pieces of the field */
	for (size_t off = 0; off < extra_len && argc < 15; ) {
		argv[argc++] = extra_s + off;
		off += strlen(extra_s + off) + 1;
	}
	argv[argc] = NULL;

	if (which < 5)
		user = users[which];
	else if (which == 5)
		user = name_s;
	/* one handle for every run, as sshd keeps one per connection: the
	 * user, the conversation and PAM_AUTHTOK are set afresh each time */
	if (pamh == NULL) {
		rv = pam_start_confdir("fuzz", NULL, &pc, confdir, &pamh);
		FUZZ_ASSERT(rv == PAM_SUCCESS);
		FUZZ_ASSERT(pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay) == PAM_SUCCESS);
	}
	FUZZ_ASSERT(pam_set_item(pamh, PAM_USER, user) == PAM_SUCCESS);
	FUZZ_ASSERT(pam_set_item(pamh, PAM_CONV, &pc) == PAM_SUCCESS);
	memset(&call, 0, sizeof(call));
	call.argc = argc;
	call.argv = argv;
	call.authtok = tok_len > 0 ? tok_s : NULL;
	(void)pam_authenticate(pamh, 0);
	FUZZ_ASSERT(call.called);
	rv = call.rv;
	FUZZ_ASSERT(rv == PAM_SUCCESS || rv == PAM_AUTH_ERR || rv == PAM_IGNORE ||
		    rv == PAM_AUTHINFO_UNAVAIL || rv == PAM_SERVICE_ERR ||
		    rv == PAM_CONV_ERR || rv == PAM_USER_UNKNOWN || rv == PAM_BUF_ERR ||
		    rv == PAM_ABORT);
	if (rv == PAM_SUCCESS) {
		const void *u = NULL;
		/* whom libpam knows as the user (asked for when none was given) */
		FUZZ_ASSERT(pam_get_item(pamh, PAM_USER, &u) == PAM_SUCCESS && u != NULL);
		/* only root has an enabled profile (both owners); daemon's is
		 * disabled in the cluster, which the default config lets in
		 * (an extra owner= argument may pick the cluster) */
		FUZZ_ASSERT(strcmp(u, "root") == 0 || strcmp(u, "daemon") == 0);
	}
	free(tok_s);
	free(extra_s);
	free(name_s);
	return 0;
}
