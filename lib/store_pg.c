/* The PostgreSQL store: every profile of a fleet in one database
 * (docs/fleet.md, sql/).  The only file that knows SQL.
 *
 * No secret reaches a host: the database judges each code itself
 * (totp.login_charge, then totp.login_verdict), on its clock, under its
 * policy, with one conditional UPDATE, so a code accepted through one
 * host is refused through every other.  The callback operations (update, login), which
 * would need the secret here, are refused; callers use the higher-level
 * ones (attempt, create, modify, take_back, import).
 *
 * Fails closed: an unreachable server, a missing or unknown schema, a
 * role without the right, an answer that does not come within the bound
 * -- each is an error with one line of cause (never the conninfo, so
 * never its password), which the module turns into PAM_AUTHINFO_UNAVAIL
 * and totpctl into error 5.  Every statement is parameterised. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include "pg_conninfo.h"
#include "pq_dl.h"
#include "secret.h"
#include "store.h"

/* The schema version this build speaks (sql/001_schema.sql and the
 * migrations after it, up to this one). */
#define PG_SCHEMA_VERSION 5
#define PG_SCHEMA_FILE "sql/005_login_charge.sql"
#define DETAIL_MAX 512

struct pg_store {
	struct tp_store base;
	PGconn *conn;
	bool admin;                 /* admin_conninfo: the totp_admin functions */
	bool checked;               /* the schema's version and the role's right */
	int timeout;                /* seconds: connect, and each statement */
	/* a login's phase (connect and the probe before the prompt; the
	 * attempt) ends at this CLOCK_MONOTONIC instant in ms, whatever its
	 * statements; 0: each statement gets s->timeout (totpctl) */
	int64_t deadline;
	char *conninfo;             /* a login's, to reconnect after the prompt */
	int server;                 /* which of its servers answered (-1: none
				     * yet): tried first after the prompt */
	char detail[DETAIL_MAX];
};

static struct pg_store *pg(struct tp_store *s)
{
	return (struct pg_store *)s;
}

/* One line, printable: libpq's messages span lines. */
static void set_detail(struct pg_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_detail(struct pg_store *s, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	for (char *c = s->detail; *c; c++)
		if (*c == '\n' || *c == '\t' || *c == '\r')
			*c = ' ';
	n = strlen(s->detail);
	while (n > 0 && s->detail[n - 1] == ' ')
		s->detail[--n] = '\0';
	s->base.detail = s->detail;
}

/* SQLSTATEs whose message says all: the status they map to */
static const struct {
	const char *state;
	enum tp_status status;
} plain_states[] = {
	{ "TP001", TP_EEXIST },      /* duplicate */
	{ "TP009", TP_EEXIST },      /* conflict (import) */
	{ "TP011", TP_ENOENT },      /* deleted from the database (import) */
	{ "TP002", TP_EINVAL },
	{ "TP004", TP_ENOENT },
	/* a read-only transaction: a standby, or default_transaction_read_only */
	{ "25006", TP_EROFS },
};

/* A failed statement: the cause in the detail, the status by SQLSTATE
 * (sql/001_schema.sql raises TP001..TP009; docs/fleet.md has the table). */
static enum tp_status fail_result(struct pg_store *s, const PGresult *res,
				  const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(s->conn);
	if (state == NULL)
		state = "";
	for (size_t i = 0; i < sizeof(plain_states) / sizeof(plain_states[0]); i++)
		if (strcmp(state, plain_states[i].state) == 0) {
			set_detail(s, "%s: %s", what, msg);
			return plain_states[i].status;
		}
	if (strcmp(state, "42501") == 0) {
		set_detail(s, "%s: %s: the role lacks the right (grant it %s)", what, msg,
			   s->admin ? "totp_admin" : "totp_login");
		return TP_EPERM;
	}
	if (strcmp(state, "3F000") == 0 || strcmp(state, "42883") == 0 ||
	    strcmp(state, "42P01") == 0) {
		set_detail(s, "%s: %s: the schema is missing; apply sql/*.sql in name order "
			   "(psql -v ON_ERROR_STOP=1 -f FILE)", what, msg);
		return TP_EIO;
	}
	set_detail(s, "%s: %s%s%s%s", what, msg, state[0] ? " (SQLSTATE " : "", state,
		   state[0] ? ")" : "");
	return TP_EIO;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A statement given up on must not go on without us: a commit waiting
 * for a synchronous standby that is down would hold its rows (the user's
 * next login fails on the lock) and a connection slot until the standby
 * came back.  Closing our end does not stop it (the server reads the
 * socket only between statements), a cancel request does.  libpq's
 * PQcancel waits for the server without a bound, and the server may be
 * the one that hangs, so a grandchild sends it, under an alarm, and
 * nobody waits for it: the child that made it is reaped at once, and the
 * grandchild, orphaned, is init's.  PQcancel is safe after fork (it is
 * safe in a signal handler). */
static void cancel_abandoned(PGconn *conn)
{
	PGcancel *c = PQgetCancel(conn);
	char why[64];
	pid_t pid;

	if (c == NULL)
		return;
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		if (fork() != 0)
			_exit(0);
		/* none of the caller's descriptors (sshd's socket to the user)
		 * kept open for as long as the cancel takes */
		closefrom(0);
		(void)sigaction(SIGALRM, &dfl, NULL);
		alarm(5);
		(void)PQcancel(c, why, (int)sizeof(why));
		_exit(0);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	PQfreeCancel(c);
}

/* Wait until libpq can hand over a result without blocking, at most
 * until deadline.  false: the cause is in the detail and, on a timeout,
 * the connection is dropped (a half-read answer is no state to reuse). */
static bool await_result(struct pg_store *s, const char *what, int64_t deadline)
{
	while (PQisBusy(s->conn)) {
		struct pollfd p = { .fd = PQsocket(s->conn), .events = POLLIN };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0) {
			set_detail(s, "%s: no answer from the profile database within %d s",
				   what, s->timeout + (s->deadline != 0));
			cancel_abandoned(s->conn);
			PQfinish(s->conn);
			s->conn = NULL;
			return false;
		}
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR) {
			set_detail(s, "%s: poll: %s", what, strerror(errno));
			return false;
		}
		if (r > 0 && PQconsumeInput(s->conn) != 1) {
			set_detail(s, "%s: %s", what, PQerrorMessage(s->conn));
			return false;
		}
	}
	return true;
}

/* A statement's bound: the login's deadline, or s->timeout seconds
 * outside a login (a server that hangs does not hang the login). */
static int64_t statement_deadline(const struct pg_store *s)
{
	return s->deadline != 0 ? s->deadline : now_ms() + (int64_t)s->timeout * 1000;
}

static bool connected(struct pg_store *s, const char *what)
{
	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		return true;
	set_detail(s, "%s: the connection to the profile database is lost", what);
	return false;
}

/* The answer to what was sent, awaited until deadline: the last
 * statement's rows, or the first failure's status with its cause in the
 * detail (the statements after a failure are not run).  NULL on any
 * failure; the caller PQclears the rest. */
static PGresult *collect(struct pg_store *s, const char *what, int64_t deadline,
			 enum tp_status *st)
{
	PGresult *last = NULL, *res;
	bool failed = false;

	*st = TP_EIO;
	for (;;) {
		if (!await_result(s, what, deadline)) {
			PQclear(last);
			return NULL;
		}
		if ((res = PQgetResult(s->conn)) == NULL)
			break;
		if (failed) {
			PQclear(res);
		} else if (PQresultStatus(res) != PGRES_TUPLES_OK &&
			   PQresultStatus(res) != PGRES_COMMAND_OK) {
			*st = fail_result(s, res, what);
			failed = true;
			PQclear(res);
		} else {
			PQclear(last);
			last = res;
		}
	}
	if (!failed && last != NULL) {
		*st = TP_OK;
		return last;
	}
	PQclear(last);
	if (!failed)
		set_detail(s, "%s: no answer", what);
	return NULL;
}

/* One parameterised statement. */
static PGresult *run(struct pg_store *s, const char *what, const char *sql,
		     int n, const char *const *vals, enum tp_status *st)
{
	int64_t deadline = statement_deadline(s);

	*st = TP_EIO;
	if (!connected(s, what))
		return NULL;
	if (PQsendQueryParams(s->conn, sql, n, NULL, vals, NULL, NULL, 0) != 1) {
		set_detail(s, "%s: %s", what, PQerrorMessage(s->conn));
		return NULL;
	}
	return collect(s, what, deadline, st);
}

/* Clear a result that held secrets: libpq frees without wiping. */
static void clear_wiped(PGresult *res)
{
	if (res == NULL)
		return;
	for (int r = 0; r < PQntuples(res); r++)
		for (int c = 0; c < PQnfields(res); c++)
			tp_wipe(PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
	PQclear(res);
}

/* libpq keeps the bytes it sent and received in its connection buffers
 * (16 KiB each to start with) and frees them unwiped, so after a statement
 * that carried a secret (a create's answer, an import's parameters) a copy
 * stays there, and in the freed heap after PQfinish.  libpq writes each
 * message from the start of its buffer once the last one is consumed: a
 * statement of 8 KB out and 32 rows of 1 KB back overwrites both, and, no
 * message being larger than the buffers, does not make them grow (growing
 * reallocates, leaving the old buffer unwiped in the heap).  The detail of
 * the statement before is kept. */
#define SCRUB_OUT 8000
static void scrub_buffers(struct pg_store *s)
{
	static char pad[SCRUB_OUT + 1];
	const char *vals[1] = { pad };
	char detail[DETAIL_MAX];
	enum tp_status st;

	memset(pad, ' ', SCRUB_OUT);
	memcpy(detail, s->detail, sizeof(detail));
	PQclear(run(s, "overwriting the connection's buffers",
		    "SELECT repeat('0', 1000) FROM generate_series(1, 32) "
		    "WHERE length($1) > 0", 1, vals, &st));
	memcpy(s->detail, detail, sizeof(detail));
}

static bool get_i64(const PGresult *res, int row, int col, int64_t *out)
{
	char *end;
	long long v;

	if (PQgetisnull(res, row, col)) {
		*out = 0;
		return true;
	}
	errno = 0;
	v = strtoll(PQgetvalue(res, row, col), &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool get_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static enum tp_status check_schema(struct pg_store *s);
static enum tp_status version_ok(struct pg_store *s, int64_t version);

/* Nothing but the schema check is tried before the schema is known to be
 * this build's.  A host's login checks it in its first statement
 * (totp.login_begin, in pg_get); everything else here. */
static enum tp_status ensure_checked(struct pg_store *s)
{
	return s->checked ? TP_OK : check_schema(s);
}

/* The schema or the role found wrong at a host's first statement: what
 * opening the store would have said, marked as the whole store's so the
 * module logs it as such. */
static enum tp_status unavailable(struct pg_store *s, enum tp_status st)
{
	char why[DETAIL_MAX];

	memcpy(why, s->detail, sizeof(why));
	set_detail(s, "postgresql store: %s", why);
	s->base.unavailable = true;
	return st;
}

/* ---- reading ---- */

/* The columns of totp.profile_info, in this order. */
#define INFO_COLS "owner_uuid, account, comment, enabled, algorithm, digits, period, " \
	"created, sha_fingerprint, emergency_codes, emergency_left, last_step, " \
	"failures, coalesce(locked_until, 0)"

/* One totp.profile_info row into *p, without the secret (the fingerprint
 * stands in for it) and the emergency hashes: the first
 * emergency_codes - emergency_left slots count as spent. */
static enum tp_status info_row(struct pg_store *s, const PGresult *res, int row,
			       struct tp_profile *p)
{
	/* digits, period, created, emergency_codes, emergency_left,
	 * last_step, failures */
	static const int cols[7] = { 5, 6, 7, 9, 10, 11, 12 };
	int64_t v[7];

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 7; i++)
		if (!get_i64(res, row, cols[i], &v[i]))
			goto bad;
	if (!copy_str(p->owner_uuid, sizeof(p->owner_uuid), PQgetvalue(res, row, 0)) ||
	    !copy_str(p->account, sizeof(p->account), PQgetvalue(res, row, 1)) ||
	    !copy_str(p->comment, sizeof(p->comment), PQgetvalue(res, row, 2)) ||
	    tp_algorithm_parse(PQgetvalue(res, row, 4), &p->totp.alg) != TP_OK ||
	    PQgetlength(res, row, 8) != TP_FINGERPRINT_HEX ||
	    v[3] < 0 || v[3] > TP_EMERGENCY_MAX || v[4] < 0 || v[4] > v[3] ||
	    v[0] < TP_DIGITS_MIN || v[0] > TP_DIGITS_MAX || v[1] < 1 || v[6] < 0)
		goto bad;
	memcpy(p->fingerprint, PQgetvalue(res, row, 8), TP_FINGERPRINT_HEX + 1);
	p->enabled = get_bool(res, row, 3);
	p->totp.digits = (unsigned)v[0];
	p->totp.period = (unsigned)v[1];
	p->created = v[2];
	p->ec_count = (unsigned)v[3];
	for (int64_t i = 0; i < v[3] - v[4]; i++)
		p->ec_spent[i] = true;
	p->last_step = v[5];
	p->failures = (unsigned)v[6];
	if (!get_i64(res, row, 13, &p->lock_until))
		goto bad;
	return TP_OK;
bad:
	set_detail(s, "the profile database gave a record this build cannot read");
	return TP_ECORRUPT;
}

static enum tp_status pg_get(struct tp_store *st, const char *owner_uuid,
			     const char *account, struct tp_profile *out)
{
	struct pg_store *s = pg(st);
	const char *vals[2] = { owner_uuid, account };
	enum tp_status rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if (s->admin) {
		res = run(s, "totp.admin_show", "SELECT " INFO_COLS
			  " FROM totp.admin_show($1::uuid, $2)", 2, vals, &rc);
		if (res == NULL)
			return rc;
		rc = PQntuples(res) == 1 ? info_row(s, res, 0, out) : TP_ECORRUPT;
		PQclear(res);
		return rc;
	}
	/* a host learns only what the prompt needs: found, enabled, digits;
	 * and, in the same statement, the schema's version */
	res = run(s, "totp.login_begin", "SELECT found, enabled, digits, schema_version "
		  "FROM totp.login_begin($1::uuid, $2)", 2, vals, &rc);
	if (res == NULL) {
		/* a database without login_begin (an older schema, or none) or
		 * a role without the right: the full check says which */
		if (!s->checked && s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK) {
			char why[DETAIL_MAX];
			enum tp_status cs;

			memcpy(why, s->detail, sizeof(why));
			cs = check_schema(s);
			if (cs != TP_OK)
				return unavailable(s, cs);
			set_detail(s, "%s", why);
		}
		return rc;
	}
	if (!s->checked) {
		int64_t version = 0;

		if (PQntuples(res) != 1 || PQgetisnull(res, 0, 3) ||
		    !get_i64(res, 0, 3, &version)) {
			set_detail(s, "totp.login_begin gave no schema version: the schema is "
				   "incomplete; apply %s", PG_SCHEMA_FILE);
			PQclear(res);
			return unavailable(s, TP_EIO);
		}
		rc = version_ok(s, version);
		if (rc != TP_OK) {
			PQclear(res);
			return unavailable(s, rc);
		}
		s->checked = true;
	}
	if (PQntuples(res) != 1) {
		rc = TP_ECORRUPT;
	} else if (!get_bool(res, 0, 0)) {
		rc = TP_ENOENT;
	} else {
		int64_t digits = 0;

		rc = TP_ECORRUPT;
		if (get_i64(res, 0, 2, &digits) && digits >= TP_DIGITS_MIN &&
		    digits <= TP_DIGITS_MAX) {
			(void)copy_str(out->owner_uuid, sizeof(out->owner_uuid), owner_uuid);
			(void)copy_str(out->account, sizeof(out->account), account);
			out->enabled = get_bool(res, 0, 1);
			out->totp.digits = (unsigned)digits;
			out->totp.period = 30;
			out->last_step = -1;
			rc = TP_OK;
		}
	}
	if (rc == TP_ECORRUPT)
		set_detail(s, "totp.login_begin gave an answer this build cannot read");
	PQclear(res);
	return rc;
}

static enum tp_status pg_list(struct tp_store *st, const char *owner_uuid,
			      tp_list_fn fn, void *ctx, unsigned *skipped)
{
	struct pg_store *s = pg(st);
	const char *vals[1] = { owner_uuid };
	enum tp_status rc = ensure_checked(s);
	PGresult *res;

	if (rc != TP_OK)
		return rc;
	res = run(s, "totp.admin_list", "SELECT " INFO_COLS
		  " FROM totp.admin_list($1::uuid)", 1, vals, &rc);
	if (res == NULL)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		struct tp_profile p;

		if (info_row(s, res, i, &p) != TP_OK) {
			(*skipped)++;
			continue;
		}
		if (fn(&p, ctx) != 0)
			break;
	}
	PQclear(res);
	return TP_OK;
}

/* ---- logins ---- */

/* A text[] literal: every element quoted, '"' and '\' escaped. */
static char *array_literal(const char *const *elems, size_t n)
{
	size_t cap = 3, o = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(elems[i]) + 3;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	out[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = ',';
		out[o++] = '"';
		for (const char *c = elems[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				out[o++] = '\\';
			out[o++] = *c;
		}
		out[o++] = '"';
	}
	out[o++] = '}';
	out[o] = '\0';
	return out;
}

static const struct {
	const char *name;
	enum tp_login_outcome o;
} outcomes[] = {
	{ "totp", TP_LOGIN_TOTP }, { "emergency", TP_LOGIN_EMERGENCY },
	{ "replay", TP_LOGIN_REPLAY }, { "spent", TP_LOGIN_SPENT },
	{ "wrong", TP_LOGIN_WRONG }, { "locked", TP_LOGIN_LOCKED },
};

static bool shaped(const char *code)
{
	size_t n = strnlen(code, TP_CODE_MAX + 1);

	return n >= TP_DIGITS_MIN && n <= TP_CODE_MAX && strspn(code, "0123456789") == n;
}

static enum tp_status connect_db(struct pg_store *s, const char *conninfo);

/* A login's phase starts: connect_timeout + 1 s for all it does. */
static void start_phase(struct pg_store *s, int64_t t0)
{
	if (!s->admin)
		s->deadline = t0 + ((int64_t)s->timeout + 1) * 1000;
}

/* A charge's name: 122 random bits as a uuid (version 4). */
static bool make_nonce(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return false;
	b[6] = (unsigned char)((b[6] & 0x0fu) | 0x40u);
	b[8] = (unsigned char)((b[8] & 0x3fu) | 0x80u);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
		 b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return true;
}

/* Several statements in one query string: one round trip.  A failure
 * inside the string's BEGIN leaves the session in a failed transaction
 * block: the connection is dropped then (the next operation opens
 * another). */
static PGresult *run_script(struct pg_store *s, const char *what, const char *sql,
			    enum tp_status *st)
{
	int64_t deadline = statement_deadline(s);
	PGresult *res;

	*st = TP_EIO;
	if (!connected(s, what))
		return NULL;
	if (PQsendQuery(s->conn, sql) != 1) {
		set_detail(s, "%s: %s", what, PQerrorMessage(s->conn));
		return NULL;
	}
	res = collect(s, what, deadline, st);
	if (res == NULL && s->conn != NULL && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	return res;
}

/* One login after the prompt: one query string, two transactions.  The
 * first, totp.login_charge, charges the guess a failure and records its
 * candidates; it decides nothing.  The second, totp.login_verdict, runs
 * only once the first is committed and durable, judges, refunds the
 * charge on an acceptance, and gives the verdict
 * (sql/005_login_charge.sql).  After a prompt the connection is opened
 * again.  policy and now are the host's and play no part. */
static enum tp_status pg_attempt(struct tp_store *st, const char *owner_uuid,
				 const char *account, const char *const *codes,
				 size_t ncodes, const struct tp_login_policy *policy,
				 int64_t now, struct tp_attempt *out)
{
	static const char what[] = "totp.login_charge and totp.login_verdict";
	struct pg_store *s = pg(st);
	const char *sent[2];
	size_t index[2], n = 0;
	char *arr = NULL, *owner_lit = NULL, *account_lit = NULL, *codes_lit = NULL;
	char *sql = NULL;
	const char *name;
	enum tp_status rc;
	PGresult *res = NULL;
	int64_t matched = 0, left = 0, t0 = now_ms();
	char nonce[37];

	(void)policy;
	(void)now;
	start_phase(s, t0);
	if (s->conn == NULL && s->conninfo != NULL) {
		rc = connect_db(s, s->conninfo);
		start_phase(s, t0);
		if (rc != TP_OK)
			goto unavailable;
	}
	rc = ensure_checked(s);
	if (rc != TP_OK)
		goto unavailable;
	/* Only what could be a code is sent: anything else (the whole answer
	 * of a user who typed their password, bytes that are not UTF-8) is
	 * a miss all the same, and the database charges the failure for an
	 * empty list too.  forward_pass's tails differ in length. */
	for (size_t i = 0; i < ncodes && n < 2; i++) {
		if (shaped(codes[i])) {
			index[n] = i;
			sent[n++] = codes[i];
		}
	}
	if (n == 2 && strlen(sent[0]) == strlen(sent[1]))
		n = 1;
	rc = TP_ENOMEM;
	if ((arr = array_literal(sent, n)) == NULL ||
	    (owner_lit = PQescapeLiteral(s->conn, owner_uuid, strlen(owner_uuid))) == NULL ||
	    (account_lit = PQescapeLiteral(s->conn, account, strlen(account))) == NULL ||
	    (codes_lit = PQescapeLiteral(s->conn, arr, strlen(arr))) == NULL)
		goto out;
	rc = TP_EIO;
	if (!make_nonce(nonce)) {
		set_detail(s, "%s: no random bytes for the charge's name", what);
		goto unavailable;
	}
	if (asprintf(&sql, "BEGIN; SELECT totp.login_charge('%s', %s::uuid, %s, %s::text[]); "
		     "COMMIT; SELECT outcome::text, matched, emergency_left "
		     "FROM totp.login_verdict('%s')",
		     nonce, owner_lit, account_lit, codes_lit, nonce) < 0) {
		sql = NULL;
		rc = TP_ENOMEM;
		goto out;
	}
	res = run_script(s, what, sql, &rc);
	if (res == NULL) {
		/* a read-only database is a store that cannot record, as a
		 * read-only file store is; anything else is the store's */
		if (rc == TP_EIO || rc == TP_EPERM)
			goto unavailable;
		goto out;
	}
	rc = TP_ECORRUPT;
	if (PQntuples(res) != 1 || !get_i64(res, 0, 1, &matched) ||
	    !get_i64(res, 0, 2, &left) || left < 0 || left > TP_EMERGENCY_MAX ||
	    matched < 0 || (size_t)matched >= (n > 0 ? n : 1))
		goto out;
	name = PQgetvalue(res, 0, 0);
	out->emergency_left = (unsigned)left;
	if (strcmp(name, "no_profile") == 0) {
		set_detail(s, "no profile (deleted meanwhile)");
		rc = TP_ENOENT;
		goto out;
	}
	if (strcmp(name, "disabled") == 0) {
		out->disabled = true;
		rc = TP_OK;
		goto out;
	}
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
		if (strcmp(name, outcomes[i].name) == 0) {
			out->outcome = outcomes[i].o;
			out->matched = n > 0 ? index[matched] : 0;
			rc = TP_OK;
		}
	}
	goto out;
unavailable:
	/* whatever kept the attempt from its verdict is the store's: the
	 * module logs it as it does before the prompt */
	rc = unavailable(s, rc);
out:
	if (rc == TP_ECORRUPT)
		set_detail(s, "totp.login_verdict gave an answer this build cannot read");
	PQclear(res);
	if (sql != NULL) {
		tp_wipe(sql, strlen(sql));
		free(sql);
	}
	if (codes_lit != NULL) {
		tp_wipe(codes_lit, strlen(codes_lit));
		PQfreemem(codes_lit);
	}
	if (arr != NULL) {
		tp_wipe(arr, strlen(arr));
		free(arr);
	}
	PQfreemem(owner_lit);
	PQfreemem(account_lit);
	return rc;
}

/* A login is about to wait for its user: hold no connection meanwhile
 * (a pending login must not keep a server slot for LoginGraceTime);
 * pg_attempt connects again, under a deadline of its own. */
static void pg_release(struct tp_store *st)
{
	struct pg_store *s = pg(st);

	if (s->admin || s->conninfo == NULL)
		return;
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = NULL;
	s->deadline = 0;
}

/* ---- admin writes ---- */

static bool hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return true;
}

/* The database draws the secret and the codes (gen_random_bytes) and
 * gives them back once; only their hashes stay there. */
static enum tp_status pg_create(struct tp_store *st, const struct tp_create_request *rq,
				struct tp_created_profile *out)
{
	struct pg_store *s = pg(st);
	char digits[16], period[16], ncodes[16], secret_len[16];
	const char *vals[8];
	struct tp_profile *p = &out->fresh;
	enum tp_status rc;
	PGresult *res;
	size_t slen = 0;
	int64_t created = 0;
	const char *codes;

	rc = ensure_checked(s);
	if (rc != TP_OK)
		return rc;
	snprintf(digits, sizeof(digits), "%u", rq->totp.digits);
	snprintf(period, sizeof(period), "%u", rq->totp.period);
	snprintf(ncodes, sizeof(ncodes), "%u", rq->n_codes);
	snprintf(secret_len, sizeof(secret_len), "%zu", rq->secret_len);
	vals[0] = rq->owner_uuid;
	vals[1] = rq->account;
	vals[2] = tp_algorithm_name(rq->totp.alg);
	vals[3] = digits;
	vals[4] = period;
	vals[5] = rq->comment ? rq->comment : "";
	vals[6] = ncodes;
	vals[7] = secret_len;
	res = run(s, "totp.admin_create",
		  "SELECT encode(c.secret, 'hex'), array_to_string(c.emergency_codes, ' '), "
		  "c.created, c.replaced FROM totp.admin_create($1::uuid, $2, $3, $4::int, "
		  "$5::int, $6, $7::int, $8::int) c", 8, vals, &rc);
	if (res == NULL)
		return rc;
	rc = TP_ECORRUPT;
	if (PQntuples(res) != 1 || !get_i64(res, 0, 2, &created) ||
	    !hex_decode(PQgetvalue(res, 0, 0), p->secret, sizeof(p->secret), &slen) ||
	    slen != rq->secret_len)
		goto out;
	(void)copy_str(p->owner_uuid, sizeof(p->owner_uuid), rq->owner_uuid);
	(void)copy_str(p->account, sizeof(p->account), rq->account);
	(void)copy_str(p->comment, sizeof(p->comment), vals[5]);
	p->secret_len = slen;
	p->totp = rq->totp;
	p->enabled = true;
	p->created = created;
	p->last_step = -1;
	codes = PQgetvalue(res, 0, 1);
	for (unsigned i = 0; i < rq->n_codes; i++) {
		const char *c = codes + (size_t)i * (TP_EMERGENCY_DIGITS + 1);

		if (strlen(codes) < (size_t)i * (TP_EMERGENCY_DIGITS + 1) + TP_EMERGENCY_DIGITS)
			goto out;
		memcpy(out->codes[i], c, TP_EMERGENCY_DIGITS);
		out->codes[i][TP_EMERGENCY_DIGITS] = '\0';
		if (strspn(out->codes[i], "0123456789") != TP_EMERGENCY_DIGITS)
			goto out;
	}
	if (strlen(codes) != (rq->n_codes ? rq->n_codes * (TP_EMERGENCY_DIGITS + 1) - 1 : 0))
		goto out;
	p->ec_count = rq->n_codes;
	out->replaced = get_bool(res, 0, 3);
	rc = TP_OK;
out:
	if (rc != TP_OK) {
		set_detail(s, "totp.admin_create gave an answer this build cannot read");
		tp_profile_wipe(p);
		tp_wipe(out->codes, sizeof(out->codes));
	}
	clear_wiped(res);
	scrub_buffers(s);
	return rc;
}

static enum tp_status pg_modify(struct tp_store *st, const char *owner_uuid,
				const char *account, const char *comment,
				const bool *enabled)
{
	struct pg_store *s = pg(st);
	const char *vals[4] = { owner_uuid, account, comment,
				enabled == NULL ? NULL : *enabled ? "true" : "false" };
	enum tp_status rc = ensure_checked(s);
	PGresult *res;

	if (rc != TP_OK)
		return rc;
	res = run(s, "totp.admin_modify", "SELECT account FROM "
		  "totp.admin_modify($1::uuid, $2, $3, $4::boolean)", 4, vals, &rc);
	PQclear(res);
	return rc;
}

/* An admin function of one profile whose answer is only whether it
 * worked. */
static enum tp_status admin_on_profile(struct tp_store *st, const char *fn,
				       const char *sql, const char *owner_uuid,
				       const char *account)
{
	struct pg_store *s = pg(st);
	const char *vals[2] = { owner_uuid, account };
	enum tp_status rc = ensure_checked(s);

	if (rc == TP_OK)
		PQclear(run(s, fn, sql, 2, vals, &rc));
	return rc;
}

/* totp.admin_delete leaves a tombstone (sql/005_login_charge.sql). */
static enum tp_status pg_remove(struct tp_store *st, const char *owner_uuid,
				const char *account)
{
	return admin_on_profile(st, "totp.admin_delete",
				"SELECT totp.admin_delete($1::uuid, $2)", owner_uuid, account);
}

/* An admin's unlock (sql/004_admin_unlock.sql): failures 0, no lock. */
static enum tp_status pg_unlock(struct tp_store *st, const char *owner_uuid,
				const char *account)
{
	return admin_on_profile(st, "totp.admin_unlock",
				"SELECT totp.admin_unlock($1::uuid, $2)", owner_uuid, account);
}

/* Undo a create whose key was never shown.  The database keeps no copy of
 * a replaced profile's secret to put back, so a create that replaced a
 * disabled profile is disabled again (its owner could not log in with
 * either); one that replaced nothing is deleted.  Only while the stored
 * profile is still this create's. */
static enum tp_status pg_take_back(struct tp_store *st, const struct tp_created_profile *c,
				   bool *changed)
{
	struct tp_profile now;
	char fp[TP_FINGERPRINT_HEX + 1];
	bool off = false;
	enum tp_status rc;

	rc = pg_get(st, c->fresh.owner_uuid, c->fresh.account, &now);
	if (rc == TP_ENOENT) {
		*changed = true;
		return TP_OK;
	}
	if (rc != TP_OK)
		return rc;
	rc = tp_profile_fingerprint(&c->fresh, fp);
	if (rc != TP_OK)
		return rc;
	if (now.created != c->fresh.created ||
	    !tp_equal(now.fingerprint, fp, TP_FINGERPRINT_HEX)) {
		*changed = true;
		return TP_OK;
	}
	if (c->replaced)
		return pg_modify(st, c->fresh.owner_uuid, c->fresh.account, NULL, &off);
	return pg_remove(st, c->fresh.owner_uuid, c->fresh.account);
}

/* One file-store profile in, losslessly (totp.admin_import). */
static enum tp_status pg_import(struct tp_store *st, const struct tp_profile *p,
				enum tp_import_result *how)
{
	struct pg_store *s = pg(st);
	char secret[2 + 2 * TP_SECRET_MAX + 1], salt[2 + 2 * TP_SALT_LEN + 1];
	char hashes[2 + TP_EMERGENCY_MAX * (2 * TP_HASH_LEN + 6) + 1];
	char spent[2 + TP_EMERGENCY_MAX * 2 + 1];
	char digits[16], period[16], created[24], last_step[24], failures[16], lock[24];
	const char *vals[15];
	size_t o = 0, q = 0;
	enum tp_status rc;
	PGresult *res;
	const char *r;

	rc = ensure_checked(s);
	if (rc != TP_OK)
		return rc;
	memcpy(secret, "\\x", 2);
	tp_hex_encode(p->secret, p->secret_len, secret + 2);
	memcpy(salt, "\\x", 2);
	tp_hex_encode(p->ec_salt, TP_SALT_LEN, salt + 2);
	hashes[o++] = '{';
	spent[q++] = '{';
	for (unsigned i = 0; i < p->ec_count && i < TP_EMERGENCY_MAX; i++) {
		if (i > 0) {
			hashes[o++] = ',';
			spent[q++] = ',';
		}
		memcpy(hashes + o, "\"\\\\x", 4);
		o += 4;
		tp_hex_encode(p->ec_hash[i], TP_HASH_LEN, hashes + o);
		o += 2 * TP_HASH_LEN;
		hashes[o++] = '"';
		spent[q++] = p->ec_spent[i] ? 't' : 'f';
	}
	hashes[o++] = '}';
	hashes[o] = '\0';
	spent[q++] = '}';
	spent[q] = '\0';
	snprintf(digits, sizeof(digits), "%u", p->totp.digits);
	snprintf(period, sizeof(period), "%u", p->totp.period);
	snprintf(created, sizeof(created), "%" PRId64, p->created);
	snprintf(last_step, sizeof(last_step), "%" PRId64, p->last_step);
	snprintf(failures, sizeof(failures), "%u", p->failures);
	snprintf(lock, sizeof(lock), "%" PRId64, p->lock_until);
	vals[0] = p->owner_uuid;
	vals[1] = p->account;
	vals[2] = secret;
	vals[3] = tp_algorithm_name(p->totp.alg);
	vals[4] = digits;
	vals[5] = period;
	vals[6] = p->comment;
	vals[7] = p->enabled ? "true" : "false";
	vals[8] = created;
	vals[9] = last_step;
	vals[10] = failures;
	vals[11] = lock;
	vals[12] = salt;
	vals[13] = hashes;
	vals[14] = spent;
	res = run(s, "totp.admin_import",
		  "SELECT totp.admin_import($1::uuid, $2, $3::bytea, $4, $5::int, $6::int, $7, "
		  "$8::boolean, $9::bigint, $10::bigint, $11::int, $12::bigint, $13::bytea, "
		  "$14::bytea[], $15::boolean[])", 15, vals, &rc);
	tp_wipe(secret, sizeof(secret));
	tp_wipe(salt, sizeof(salt));
	tp_wipe(hashes, sizeof(hashes));
	scrub_buffers(s);
	if (res == NULL)
		return rc;
	r = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
	rc = TP_OK;
	if (strcmp(r, "copied") == 0)
		*how = TP_IMPORT_COPIED;
	else if (strcmp(r, "merged") == 0)
		*how = TP_IMPORT_MERGED;
	else if (strcmp(r, "unchanged") == 0)
		*how = TP_IMPORT_UNCHANGED;
	else {
		set_detail(s, "totp.admin_import gave an answer this build cannot read");
		rc = TP_ECORRUPT;
	}
	PQclear(res);
	return rc;
}

/* The callback operations would need the secret in this process. */
static enum tp_status pg_update(struct tp_store *st, const char *owner_uuid,
				const char *account, tp_update_fn fn, void *ctx)
{
	(void)owner_uuid;
	(void)account;
	(void)fn;
	(void)ctx;
	set_detail(pg(st), "not possible with the postgresql store: the secret stays "
		   "in the database");
	return TP_EINVAL;
}

static enum tp_status pg_login(struct tp_store *st, const char *owner_uuid,
			       const char *account, tp_login_fn fn, void *ctx)
{
	(void)fn;
	return pg_update(st, owner_uuid, account, NULL, ctx);
}

static void pg_close(struct tp_store *st)
{
	struct pg_store *s = pg(st);

	if (s->conn != NULL)
		PQfinish(s->conn);
	if (s->conninfo != NULL) {
		tp_wipe(s->conninfo, strlen(s->conninfo));   /* may hold a password */
		free(s->conninfo);
	}
	free(s);
}

static const struct tp_store_ops pg_ops = {
	.get = pg_get,
	.update = pg_update,
	.login = pg_login,
	.remove = pg_remove,
	.list = pg_list,
	.close = pg_close,
	.attempt = pg_attempt,
	.create = pg_create,
	.modify = pg_modify,
	.take_back = pg_take_back,
	.import = pg_import,
	.release = pg_release,
	.unlock = pg_unlock,
};

/* ---- opening ---- */

static enum tp_status open_fail(struct pg_store *s, char **err, enum tp_status st)
{
	if (err != NULL && asprintf(err, "postgresql store: %s", s->detail) < 0)
		*err = NULL;
	pg_close(&s->base);
	return st;
}

/* libpq prints the server's NOTICE and WARNING messages on stderr, which
 * is the user's terminal under su or sudo: they are dropped.  The
 * functions this store calls raise none; an error still fails the
 * statement and is reported through its result. */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The conninfo's keywords and nothing from the environment, a service file
 * or the home directory, TLS verify-full to a host that is not local,
 * connect_timeout bounded (pg_conninfo.h), and a statement_timeout of the
 * same length, so the server gives up when we do. */
static enum tp_status connect_db(struct pg_store *s, const char *conninfo)
{
	struct tp_conninfo c;
	const char *problem = NULL;
	enum tp_status st;

	st = tp_conninfo_build(&c, conninfo, s->admin ? "totpctl" : "pam_totp_profile",
			       &problem);
	if (st != TP_OK) {
		/* libpq's own message would quote the string, password and all */
		if (problem != NULL)
			set_detail(s, "%s %s", s->admin ? "store.admin_conninfo"
				   : "store.conninfo", problem);
		else
			set_detail(s, "cannot connect: out of memory");
		tp_conninfo_free(&c);
		return st;
	}
	s->timeout = c.timeout_s;
	if (s->server > 0 && tp_conninfo_prefer(&c, s->server) != TP_OK) {
		set_detail(s, "cannot connect: out of memory");
		tp_conninfo_free(&c);
		return TP_ENOMEM;
	}
	s->conn = tp_pq_connect(&c);
	st = TP_ENOMEM;
	if (s->conn == NULL) {
		set_detail(s, "cannot connect: out of memory");
	} else if (PQstatus(s->conn) != CONNECTION_OK) {
		set_detail(s, "cannot connect to the profile database: %s",
			   PQerrorMessage(s->conn));
		st = TP_EIO;
	} else {
		PQsetNoticeProcessor(s->conn, drop_notice, NULL);
		s->server = tp_conninfo_server(&c, PQhost(s->conn), PQport(s->conn));
		st = TP_OK;
	}
	tp_conninfo_free(&c);
	return st;
}

/* The schema must be the one this build speaks, and the role must have
 * its right, or nothing is tried. */
static enum tp_status check_schema(struct pg_store *s)
{
	const char *fn = s->admin ? "totp.admin_show(uuid, text)"
				  : "totp.login_charge(uuid, uuid, text, text[])";
	const char *vals[1] = { fn };
	enum tp_status st;
	int64_t version = 0;
	PGresult *res;

	res = run(s, "totp.schema_version",
		  "SELECT totp.schema_version(), to_regprocedure($1) IS NOT NULL "
		  "AND has_function_privilege($1, 'EXECUTE')",
		  1, vals, &st);
	if (res == NULL)
		return st;
	st = TP_EIO;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || !get_i64(res, 0, 0, &version)) {
		set_detail(s, "totp.schema_version() gave no version: the schema is "
			   "incomplete; apply %s", PG_SCHEMA_FILE);
	} else if ((st = version_ok(s, version)) != TP_OK) {
		/* the detail says which migration or build */
	} else if (!get_bool(res, 0, 1)) {
		set_detail(s, "role \"%s\" may not execute %s: grant it %s",
			   PQuser(s->conn), fn, s->admin ? "totp_admin" : "totp_login");
		st = TP_EPERM;
	} else {
		s->checked = true;
	}
	PQclear(res);
	return st;
}

/* The schema's version against this build's. */
static enum tp_status version_ok(struct pg_store *s, int64_t version)
{
	if (version < PG_SCHEMA_VERSION) {
		set_detail(s, "the database's schema is version %" PRId64 ", this build "
			   "needs %d: apply sql/%03" PRId64 "_*.sql and the later ones",
			   version, PG_SCHEMA_VERSION, version + 1);
	} else if (version > PG_SCHEMA_VERSION) {
		set_detail(s, "the database's schema is version %" PRId64 ", newer than "
			   "this build knows (%d, %s): install the pam_totp_profile that "
			   "brought that migration", version, PG_SCHEMA_VERSION, PG_SCHEMA_FILE);
	} else {
		return TP_OK;
	}
	return TP_EIO;
}

enum tp_status tp_store_pg_open(const struct tp_config *cfg, struct tp_store **out,
				char **err)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	const char *conninfo;
	enum tp_status st;
	int64_t t0;

	*out = NULL;
	if (err != NULL)
		*err = NULL;
	if (s == NULL)
		return TP_ENOMEM;
	s->base.ops = &pg_ops;
	s->base.detail = s->detail;
	s->admin = cfg->store_admin;
	s->server = -1;
	conninfo = s->admin ? cfg->store_admin_conninfo : cfg->store_conninfo;
	if (conninfo == NULL && s->admin) {
		/* a login host of the fleet: profiles are managed, and users
		 * enrol, where the admin role's conninfo is */
		set_detail(s, "%s: store.admin_conninfo is not set: this host only checks "
			   "codes; create, modify, list and delete profiles on the fleet's "
			   "enrolment host (docs/fleet.md)", cfg->path);
		return open_fail(s, err, TP_EINVAL);
	}
	if (conninfo == NULL) {
		set_detail(s, "%s: store.conninfo is not set", cfg->path);
		return open_fail(s, err, TP_EINVAL);
	}
	if (!s->admin && (s->conninfo = strdup(conninfo)) == NULL)
		return open_fail(s, err, TP_ENOMEM);
	t0 = now_ms();
	st = connect_db(s, conninfo);
	/* connect, schema check and profile probe: one deadline */
	start_phase(s, t0);
	/* a host's login checks the schema in its first statement (pg_get:
	 * totp.login_begin), one round trip fewer; totpctl here */
	if (st == TP_OK && s->admin)
		st = check_schema(s);
	if (st != TP_OK)
		return open_fail(s, err, st);
	s->detail[0] = '\0';
	*out = &s->base;
	return TP_OK;
}
