/* totpctl: manage TOTP profiles the way the storage OS REST API does
 * (POST/PATCH/GET/DELETE /api/security/login/totps).  See totpctl(1). */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_json.h"
#include "config.h"
#include "totpctl.h"

static const struct {
	const char *name;
	enum ctl_verb verb;
	unsigned accepts;            /* enum ctl_opt bits */
} verbs[] = {
	{ "create", CTL_CREATE, OPT_OWNER | OPT_ACCOUNT | OPT_COMMENT | OPT_NO_QR },
	{ "modify", CTL_MODIFY, OPT_OWNER | OPT_ACCOUNT | OPT_COMMENT | OPT_ENABLED },
	{ "show",   CTL_SHOW,   OPT_OWNER | OPT_ACCOUNT | OPT_FIELDS },
	{ "list",   CTL_LIST,   OPT_OWNER | OPT_ACCOUNT | OPT_ENABLED | OPT_SCOPE | OPT_FIELDS },
	{ "delete", CTL_DELETE, OPT_OWNER | OPT_ACCOUNT },
	{ "migrate", CTL_MIGRATE, OPT_KEEP_LOCAL },
	{ "unlock", CTL_UNLOCK, OPT_OWNER | OPT_ACCOUNT },
};
#define ALWAYS (OPT_JSON | OPT_CONFIG | OPT_HELP)

/* getopt_long_only: "--owner", "-owner" and the storage OS CLI's
 * "-vserver"/"-username" all work. */
static const struct option long_opts[] = {
	{ "owner",    required_argument, NULL, OPT_OWNER },
	{ "vserver",  required_argument, NULL, OPT_OWNER },
	{ "account",  required_argument, NULL, OPT_ACCOUNT },
	{ "username", required_argument, NULL, OPT_ACCOUNT },
	{ "comment",  required_argument, NULL, OPT_COMMENT },
	{ "enabled",  required_argument, NULL, OPT_ENABLED },
	{ "fields",   required_argument, NULL, OPT_FIELDS },
	{ "scope",    required_argument, NULL, OPT_SCOPE },
	{ "json",     no_argument,       NULL, OPT_JSON },
	{ "no-qr",    no_argument,       NULL, OPT_NO_QR },
	{ "config",   required_argument, NULL, OPT_CONFIG },
	{ "help",     no_argument,       NULL, OPT_HELP },
	{ "keep-local", no_argument,     NULL, OPT_KEEP_LOCAL },
	{ NULL, 0, NULL, 0 },
};

static const char *opt_name(unsigned bit)
{
	for (const struct option *lo = long_opts; lo->name != NULL; lo++)
		if ((unsigned)lo->val == bit)
			return lo->name;
	return "?";
}

static void usage_fail(struct ctl_result *r, const char *target, const char *what,
		       const char *arg)
{
	ctl_fail(r, TP_API_INVALID, target, "%s%s%s", what, arg ? ": " : "",
		 arg ? arg : "");
	r->usage = true;
}

static void parse_args(int argc, char **argv, struct ctl_opts *o, struct ctl_result *r)
{
	unsigned accepts = ALWAYS;
	int c, idx;

	opterr = 0;                  /* we report errors ourselves, as error 2 */
	while ((c = getopt_long_only(argc, argv, ":", long_opts, &idx)) != -1) {
		unsigned bit = (unsigned)c;
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			usage_fail(r, NULL, c == ':' ? "option needs a value"
				   : "unknown option", bad);
			continue;
		}
		if (o->given & bit) {
			usage_fail(r, opt_name(bit), "option given twice", opt_name(bit));
			continue;
		}
		o->given |= bit;
		switch (bit) {
		case OPT_OWNER:   o->owner = optarg; break;
		case OPT_ACCOUNT: o->account = optarg; break;
		case OPT_COMMENT: o->comment = optarg; break;
		case OPT_ENABLED: o->enabled = optarg; break;
		case OPT_FIELDS:  o->fields = optarg; break;
		case OPT_SCOPE:   o->scope = optarg; break;
		case OPT_CONFIG:  o->config = optarg; break;
		case OPT_JSON:    o->json = true; break;
		case OPT_NO_QR:   o->no_qr = true; break;
		case OPT_HELP:    o->help = true; break;
		case OPT_KEEP_LOCAL: o->keep_local = true; break;
		default: break;
		}
	}
	if (o->help)
		return;
	if (optind >= argc) {
		usage_fail(r, NULL, "no verb given (create, modify, show, list, delete, unlock, migrate)", NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[optind], verbs[i].name) == 0) {
			o->verb = verbs[i].verb;
			accepts |= verbs[i].accepts;
		}
	}
	if (o->verb == CTL_NONE) {
		usage_fail(r, NULL, "unknown verb", argv[optind]);
		return;
	}
	if (optind + 1 < argc)
		usage_fail(r, NULL, "unexpected argument", argv[optind + 1]);
	for (unsigned bit = 1; bit <= OPT_KEEP_LOCAL; bit <<= 1)
		if ((o->given & bit) && !(accepts & bit))
			usage_fail(r, opt_name(bit), "option not accepted by this verb",
				   opt_name(bit));
}

int main(int argc, char **argv)
{
	struct ctl_priv pv;
	struct ctl_opts o;
	struct ctl_request req;
	struct ctl_store_access access;
	struct ctl_result r;
	struct ctl_caller caller = { 0 };
	struct ctl_guard guard = { .pid = -1, .fd = -1 };
	struct tp_config *cfg = NULL;
	struct passwd *pw;
	char why[256] = "", *err = NULL;
	const char *cause = NULL;
	enum ctl_undo undo = CTL_UNDO_KEPT;
	int rv = 1, out_err;

	/* Before anything else: fds 0-2, who is calling (the real uid, never
	 * the environment), then an environment of our own.  The caller is
	 * looked up before the environment is cleared: in a setuid process
	 * the dynamic loader has already removed every variable NSS would
	 * honour, and a test's nss_wrapper reads its files' names at the
	 * first lookup. */
	if (ctl_ensure_std_fds(&caller.stdout_closed) != 0)
		return 127;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	caller.uid = getuid();
	pw = getpwuid(caller.uid);
	if (pw != NULL && strlen(pw->pw_name) <= TP_NAME_MAX)
		memcpy(caller.name, pw->pw_name, strlen(pw->pw_name) + 1);
	ctl_sanitize_env();
	umask(077);
	ctl_no_core_dumps();
	if (ctl_priv_init(&pv, why, sizeof(why)) != 0) {
		ctl_fail(&r, TP_API_PERMISSION, NULL, "%s", why);
		goto out;
	}
	if (caller.name[0] == '\0') {
		ctl_fail(&r, TP_API_PERMISSION, NULL,
			 "uid %u has no (usable) user name", (unsigned)caller.uid);
		goto out;
	}

	parse_args(argc, argv, &o, &r);
	if (r.failed || o.help)
		goto out;
	/* A setuid copy reads only its own config: another file could name
	 * another store or make anyone an admin. */
	if (o.config != NULL && pv.privileged) {
		ctl_fail(&r, TP_API_PERMISSION, "config",
			 "--config is refused when totpctl runs with another user's "
			 "privileges; run an unprivileged copy to use another config");
		goto out;
	}
	if (tp_config_load(o.config ? o.config : TP_DEFAULT_CONFIG, &cfg, &err) != TP_OK) {
		ctl_fail(&r, TP_API_INTERNAL, "config", "%s",
			 err ? err : "cannot load the configuration");
		goto out;
	}
	caller.admin = tp_config_is_admin(cfg, caller.uid);
	req = (struct ctl_request){ .verb = o.verb, .owner = o.owner, .account = o.account,
				    .comment = o.comment, .enabled = o.enabled,
				    .fields = o.fields, .scope = o.scope, .json = o.json };
	access = ctl_priv_access(&pv);
	cfg->store_admin = true;     /* postgresql: admin_conninfo, totp_admin */
	if (o.verb == CTL_MIGRATE)
		ctl_migrate(cfg, &caller, &pv, o.keep_local, &r);
	else
		ctl_run(cfg, &caller, &req, &access, &r);
	/* A profile create wrote stays only if its key reaches the caller. */
	if (r.created.written && r.failed) {
		(void)ctl_create_undo(cfg, &pv, &r.created);
	} else if (r.created.written &&
		   ctl_guard_start(cfg, &pv, &r.created, &guard) != 0) {
		int e = errno;
		enum ctl_undo u = ctl_create_undo(cfg, &pv, &r.created);
		ctl_json_free(r.body);
		r.body = NULL;
		ctl_fail(&r, TP_API_INTERNAL, NULL, "cannot start the process that "
			 "takes the profile back if its key is not shown (%s); %s",
			 strerror(e), u == CTL_UNDO_DONE ? "nothing was created"
			 : "the new profile could not be removed");
	}
out:
	/* for good, and before anything is printed */
	if (ctl_priv_drop(&pv) != 0) {
		ctl_json_free(r.body);
		fputs("totpctl: cannot drop privileges; nothing printed\n", stderr);
		if (guard.pid >= 0)
			(void)ctl_guard_finish(&guard, false);
		tp_profile_wipe(&r.created.old);
		tp_config_free(cfg);
		free(err);
		return 1;
	}
	/* a reader that went away is an error to report, not a silent death */
	(void)signal(SIGPIPE, SIG_IGN);
	ctl_output_init();
	if (o.help && !r.failed)
		ctl_print_help();
	else
		ctl_print_result(&o, &r);
	out_err = ctl_output_done(o.verb == CTL_CREATE && !r.failed);
	if (caller.stdout_closed)
		cause = "standard output is closed";
	else if (out_err != 0)
		cause = strerror(out_err);
	if (guard.pid >= 0)
		undo = ctl_guard_finish(&guard, cause == NULL);
	rv = r.failed ? (r.usage ? 2 : 1) : r.partial ? 1 : 0;
	if (cause != NULL && !r.failed) {
		ctl_print_output_failure(&o, &r, cause, r.created.written, undo);
		rv = 1;
	}
	ctl_json_free(r.body);
	tp_profile_wipe(&r.created.old);
	tp_config_free(cfg);
	free(err);
	return rv;
}
