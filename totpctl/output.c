/* Everything totpctl prints: the API's JSON bodies, tables for people,
 * error lines, and the install URL as a QR code.  Runs only after the
 * store user's identity is given up for good.
 *
 * stdout goes through a buffer of our own so that the secret, the codes
 * and the QR code can be wiped from it once printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <qrencode.h>

#include "api_json.h"
#include "secret.h"
#include "totpctl.h"

#define QUIET_ZONE 2                 /* modules of margin around the code */

static char out_buf[1 << 16];

void ctl_output_init(void)
{
	(void)setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
}

/* 0 when every byte reached stdout, else an errno.  durable (create):
 * a regular file is also synced, since a full disk may only say so then. */
int ctl_output_done(bool durable)
{
	struct stat st;
	int err = 0;

	if (fflush(stdout) != 0)
		err = errno != 0 ? errno : EIO;
	else if (ferror(stdout))
		err = EIO;                   /* an earlier write failed */
	if (err == 0 && durable && fstat(STDOUT_FILENO, &st) == 0 &&
	    S_ISREG(st.st_mode) && fsync(STDOUT_FILENO) != 0)
		err = errno;
	if (fclose(stdout) != 0 && err == 0)
		err = errno != 0 ? errno : EIO;
	tp_wipe(out_buf, sizeof(out_buf));
	return err;
}

static void print_json(const json_t *j)
{
	char *s = ctl_body_text(j);

	if (s == NULL) {
		fputs("totpctl: cannot format the JSON body\n", stderr);
		return;
	}
	fputs(s, stdout);
	tp_free_str(s);
}

static const char *str_at(const json_t *rec, const char *obj, const char *key)
{
	const json_t *o = obj ? json_object_get(rec, obj) : rec;
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* ---- tables ---- */

struct column {
	unsigned field;              /* enum tp_field */
	const char *title;
	const char *obj, *key;       /* where the value is in a record */
};

static const struct column columns[] = {
	{ TP_F_OWNER_NAME,  "Owner",           "owner", "name" },
	{ TP_F_OWNER_UUID,  "Owner UUID",      "owner", "uuid" },
	{ TP_F_ACCOUNT,     "Account",         "account", "name" },
	{ TP_F_SCOPE,       "Scope",           NULL, "scope" },
	{ TP_F_ENABLED,     "Enabled",         NULL, "enabled" },
	{ TP_F_COMMENT,     "Comment",         NULL, "comment" },
	{ TP_F_FINGERPRINT, "SHA Fingerprint", NULL, "sha_fingerprint" },
};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

static const char *cell(const json_t *rec, const struct column *c)
{
	const json_t *v = json_object_get(c->obj ? json_object_get(rec, c->obj) : rec,
					  c->key);

	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	/* a comment stored before format characters were refused could
	 * still reorder or hide the table's text: not shown as is */
	if (c->field == TP_F_COMMENT && json_string_value(v) != NULL &&
	    !tp_valid_comment(json_string_value(v)))
		return "(hidden: invisible characters; see --json)";
	return json_string_value(v) ? json_string_value(v) : "-";
}

/* Display width: count UTF-8 lead bytes (comments are validated UTF-8). */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0u) != 0x80u;
	return n;
}

static void pad(const char *s, size_t w, bool last)
{
	fputs(s, stdout);
	if (!last)
		for (size_t n = width(s); n < w + 2; n++)
			fputc(' ', stdout);
}

/* People see the owner by name; the uuid column only when --fields names
 * it (owner.uuid, owner or *), and then instead of the name unless the
 * name is named too.  `fields` always holds both (the API's keys), so the
 * choice is made on `named`. */
static bool shown(const struct column *c, unsigned fields, unsigned named)
{
	if (c->field == TP_F_OWNER_UUID)
		return (named & TP_F_OWNER_UUID) != 0;
	if (c->field == TP_F_OWNER_NAME)
		return (named & TP_F_OWNER_NAME) || !(named & TP_F_OWNER_UUID);
	return (fields & c->field) != 0;
}

static void print_table(const json_t *records, unsigned fields, unsigned named,
			unsigned skipped)
{
	size_t w[N_COLUMNS], n = json_array_size(records), last = 0;
	const json_t *rec;
	size_t i;

	for (size_t c = 0; c < N_COLUMNS; c++) {
		w[c] = width(columns[c].title);
		if (shown(&columns[c], fields, named))
			last = c;
		json_array_foreach(records, i, rec)
			if (width(cell(rec, &columns[c])) > w[c])
				w[c] = width(cell(rec, &columns[c]));
	}
	if (n > 0) {
		for (size_t c = 0; c < N_COLUMNS; c++)
			if (shown(&columns[c], fields, named))
				pad(columns[c].title, w[c], c == last);
		fputc('\n', stdout);
		/* each underline as wide as its column, however wide */
		for (size_t c = 0; c < N_COLUMNS; c++) {
			if (!shown(&columns[c], fields, named))
				continue;
			for (size_t k = 0; k < w[c]; k++)
				fputc('-', stdout);
			if (c != last)
				fputs("  ", stdout);
		}
		fputc('\n', stdout);
	}
	json_array_foreach(records, i, rec) {
		for (size_t c = 0; c < N_COLUMNS; c++)
			if (shown(&columns[c], fields, named))
				pad(cell(rec, &columns[c]), w[c], c == last);
		fputc('\n', stdout);
	}
	printf("%zu %s displayed.\n", n, n == 1 ? "entry was" : "entries were");
	if (skipped > 0)
		fprintf(stderr, "totpctl: warning: %u unreadable profile%s skipped "
			"(see the store's files; an admin can delete them)\n",
			skipped, skipped == 1 ? "" : "s");
}

/* show: one field per line, like the storage OS CLI's "show -instance". */
static void print_record(const json_t *rec, unsigned fields)
{
	for (size_t c = 0; c < N_COLUMNS; c++) {
		if (!(fields & columns[c].field))
			continue;
		printf("%17s: %s\n", columns[c].title, cell(rec, &columns[c]));
	}
}

/* show: the login state an admin needs to see a lockout (not in the
 * API's body, which keeps the pages' fields) */
static void print_state(const struct ctl_result *r)
{
	char when[64] = "";
	time_t t = (time_t)r->lock_until;
	struct tm tm;

	printf("%17s: %u\n", "Failures", r->failures);
	if (r->lock_until == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		printf("%17s: %s\n", "Locked until", "not locked");
	else
		printf("%17s: %s (totpctl unlock ends it)\n", "Locked until", when);
}

/* ---- the QR code ---- */

static bool dark(const QRcode *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return false;
	return (qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1u) != 0;
}

/* Two module rows per text line with half blocks.  Light modules are
 * drawn (as qrencode -t UTF8 does) so the code reads on a dark terminal;
 * on a terminal we also force white on black so it reads on a light one. */
static void print_qr(const char *url)
{
	QRcode *qr = QRcode_encodeString(url, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	bool tty = isatty(STDOUT_FILENO) == 1;

	if (qr == NULL) {
		fputs("totpctl: cannot draw the QR code; enter the secret key by hand\n",
		      stderr);
		return;
	}
	for (int y = -QUIET_ZONE; y < qr->width + QUIET_ZONE; y += 2) {
		if (tty)
			fputs("\033[40;97m", stdout);
		for (int x = -QUIET_ZONE; x < qr->width + QUIET_ZONE; x++) {
			bool top = !dark(qr, x, y), bottom = !dark(qr, x, y + 1);
			if (y + 1 >= qr->width + QUIET_ZONE)
				bottom = false;
			fputs(top && bottom ? "\u2588" : top ? "\u2580" :
			      bottom ? "\u2584" : " ", stdout);
		}
		fputs(tty ? "\033[0m\n" : "\n", stdout);
	}
	tp_wipe(qr->data, (size_t)qr->width * (size_t)qr->width);
	QRcode_free(qr);
}

static void print_created(const struct ctl_opts *o, const struct ctl_result *r)
{
	const json_t *rec = json_array_get(json_object_get(r->body, "records"), 0);
	const json_t *codes = json_object_get(rec, "emergency_codes");
	const json_t *c;
	size_t i;
	bool qr;

	printf("%s\n\n", r->done);
	printf("%17s: %s\n", "Owner", str_at(rec, "owner", "name"));
	printf("%17s: %s\n", "Account", str_at(rec, "account", "name"));
	printf("%17s: %s\n", "Scope", str_at(rec, NULL, "scope"));
	printf("%17s: %s\n", "Comment", str_at(rec, NULL, "comment"));
	printf("%17s: %s\n", "Secret key", str_at(rec, NULL, "secret_key"));
	printf("%17s: %s\n", "Install URL", str_at(rec, NULL, "install_url"));
	printf("%17s: %s\n", "Verification code", str_at(rec, NULL, "verification_code"));
	printf("%17s:", "Emergency codes");
	json_array_foreach(codes, i, c)
		printf(" %s", json_string_value(c));
	printf("\n%17s: %s\n", "SHA fingerprint", str_at(rec, NULL, "sha_fingerprint"));
	/* only on a terminal: in a file or a pipe the blocks are noise, and
	 * a picture of the secret outlives the screen */
	qr = !o->no_qr && isatty(STDOUT_FILENO) == 1;
	if (qr) {
		fputc('\n', stdout);
		print_qr(str_at(rec, NULL, "install_url"));
	}
	printf("\n%s into your authenticator app and check that it shows the "
	       "verification code above.\n"
	       "Keep the emergency codes somewhere safe: each one works once, and "
	       "they are not shown again.\n",
	       qr ? "Scan the QR code (or type the secret key)"
		  : "Type the secret key (or open the install URL)");
}

static void print_error(const struct ctl_opts *o, const struct ctl_result *r)
{
	const char *detail = r->detail[0] ? r->detail : NULL;

	fprintf(stderr, "totpctl: error %s: %s", tp_api_error_code(r->err),
		tp_api_error_message(r->err));
	if (r->target != NULL)
		fprintf(stderr, " (%s)", r->target);
	fputc('\n', stderr);
	if (detail != NULL)
		fprintf(stderr, "totpctl: %s\n", detail);
	if (r->usage)
		fputs("Try 'totpctl --help'.\n", stderr);
	if (o->json) {
		json_t *body = ctl_result_json(r);
		if (body == NULL)
			fputs("totpctl: cannot format the JSON error body\n", stderr);
		else
			print_json(body);
		json_decref(body);
	}
}

/* migrate: one line per profile, then the counts */
static void print_migrated(const struct ctl_result *r)
{
	json_t *recs = json_object_get(r->body, "records");
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec) {
		const char *name = str_at(rec, "owner", "name");
		printf("%-9s %s/%s\n", str_at(rec, NULL, "result"),
		       name[0] ? name : str_at(rec, "owner", "uuid"),
		       str_at(rec, "account", "name"));
	}
	printf("%s\n", r->done);
}

void ctl_print_result(const struct ctl_opts *o, const struct ctl_result *r)
{
	if (r->failed) {
		print_error(o, r);
		return;
	}
	if (r->warning[0] != '\0')
		fprintf(stderr, "totpctl: warning: %s\n", r->warning);
	if (o->json) {
		json_t *body = ctl_result_json(r);   /* {} for modify and delete */
		if (body == NULL)
			fputs("totpctl: cannot format the JSON body\n", stderr);
		else
			print_json(body);
		json_decref(body);
		if (r->skipped > 0)
			fprintf(stderr, "totpctl: warning: %u unreadable profile%s skipped\n",
				r->skipped, r->skipped == 1 ? "" : "s");
		return;
	}
	switch (o->verb) {
	case CTL_CREATE:
		print_created(o, r);
		break;
	case CTL_SHOW:
		print_record(r->body, r->fields);
		if (o->fields == NULL && r->have_state)
			print_state(r);
		break;
	case CTL_LIST:
		print_table(json_object_get(r->body, "records"), r->fields, r->named,
			    r->skipped);
		break;
	case CTL_MODIFY:
	case CTL_DELETE:
	case CTL_UNLOCK:
		printf("%s\n", r->done);
		break;
	case CTL_MIGRATE:
		print_migrated(r);
		break;
	case CTL_NONE:
		break;
	}
}

/* The output did not (all) reach stdout: error 5 on stderr (stdout is
 * what failed, so no JSON body), with what became of the request. */
void ctl_print_output_failure(const struct ctl_opts *o, const struct ctl_result *r,
			      const char *cause, bool guarded, enum ctl_undo undo)
{
	const char *after = "";
	char fix[200] = "";

	switch (o->verb) {
	case CTL_CREATE:
		if (!guarded)
			break;
		switch (undo) {
		case CTL_UNDO_DONE:
			after = !r->created.replaced
				? "; nothing was created: the new profile was removed"
				: r->created.restorable
				? "; nothing was created: the disabled profile it replaced is back"
				: "; the new profile was disabled: the disabled profile it "
				  "replaced is gone (the database keeps no copy of its key)";
			break;
		case CTL_UNDO_CHANGED:
			after = "; the new profile had already been changed or deleted "
				"by someone else and was left as it is";
			break;
		case CTL_UNDO_KEPT:
		case CTL_UNDO_FAILED:
			after = "; the new profile could NOT be removed and its key is lost";
			snprintf(fix, sizeof(fix), "totpctl: delete it with: totpctl delete "
				 "--owner %s --account %s\n", r->created.owner_uuid,
				 r->created.account);
			break;
		}
		break;
	case CTL_MODIFY:
		after = "; the profile was modified";
		break;
	case CTL_DELETE:
		after = "; the profile was deleted";
		break;
	default:
		break;
	}
	fprintf(stderr, "totpctl: error %s: %s\n", tp_api_error_code(TP_API_INTERNAL),
		tp_api_error_message(TP_API_INTERNAL));
	fprintf(stderr, "totpctl: cannot write the output: %s%s\n", cause, after);
	fputs(fix, stderr);
}

void ctl_print_help(void)
{
	fputs(
"Usage: totpctl VERB [OPTIONS]\n"
"Manage TOTP second-factor profiles for SSH logins (see totpctl(1)).\n"
"\n"
"Verbs (the REST API method in brackets):\n"
"  create [--owner NAME|UUID] [--account NAME] [--comment TEXT] [--no-qr]\n"
"        create your own profile (POST); prints the secret key, install URL,\n"
"        verification code, emergency codes and (on a terminal) a QR code, once\n"
"  modify [--owner NAME|UUID] --account NAME [--comment TEXT] [--enabled true|false]\n"
"        change a profile (PATCH); only an admin may change --enabled\n"
"  show [--owner NAME|UUID] --account NAME [--fields LIST]\n"
"        one profile (GET); never shows the secret or emergency codes;\n"
"        the human form adds the failure count and the end of a lock\n"
"  list [--owner NAME|UUID] [--account PATTERN] [--enabled true|false]\n"
"       [--scope cluster|svm] [--fields LIST]\n"
"        profiles (GET collection): an admin sees all, a user their own\n"
"  delete [--owner NAME|UUID] --account NAME\n"
"        remove a profile (DELETE)\n"
"  unlock [--owner NAME|UUID] --account NAME\n"
"        admin: end a lockout (failure count 0, no lock); logged\n"
"  migrate [--keep-local]\n"
"        admin: copy the file store (store.path) into the postgresql store\n"
"        (store.backend), then remove the copies the database holds from\n"
"        this host (--keep-local: keep them); idempotent; a line per profile\n"
"\n"
"Options:\n"
"  --owner, -vserver NAME|UUID    the cluster (the default) or an SVM\n"
"  --account, -username NAME      the login name (create: yourself)\n"
"  --fields LIST                  e.g. comment,enabled or * (the API's fields=)\n"
"  --json                         print the API's JSON bodies\n"
"  --no-qr                        create: no QR code, even on a terminal\n"
"  --config PATH                  another config file (refused when setuid)\n"
"  --help                         this text\n"
"\n"
"Errors print 'totpctl: error CODE: MESSAGE (TARGET)' on stderr, with the\n"
"API's codes; exit status 1 on an API error, 2 on a command-line error.\n",
	      stdout);
}
