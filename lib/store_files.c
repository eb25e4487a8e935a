/* The file backend of the profile store:
 *
 *   STORE/                      owned by the store user (or root), 0755 or tighter
 *   STORE/OWNER-UUID/           owned by the store user, 0700
 *   STORE/OWNER-UUID/ACCOUNT.ini   one profile, 0600, one link
 *   STORE/OWNER-UUID/.ACCOUNT.lock the account's lock (flock) and its
 *                                  login state record, 0600, one link
 *   STORE/OWNER-UUID/.ACCOUNT.tmp  the next version while it is written
 *
 * Account names never start with '.', so the dot files cannot collide
 * with profiles.  Nothing is ever opened through a symlink.
 *
 * The profile file is replaced atomically (temp file, fsync, rename,
 * folder fsync) and only by update (totpctl).  A login writes only the
 * state record, in place, under the lock: no temp file, no rename, no
 * folder flush.  The record has two slots, at offsets 0 and 512 (each in
 * its own disk sector: a sector is written whole or not at all, so a torn
 * write of one slot leaves the other intact), written alternately:
 * generation g goes to slot g % 2, so a write never touches the newest
 * good slot and a torn write leaves it whole.  Each slot (STATE_LEN
 * bytes, little-endian):
 *
 *     0  "TPs1"          magic and format
 *     4  u32 length      STATE_LEN
 *     8  u64 generation
 *    16  16 bytes        binding: SHA-256 of the profile's secret, salt
 *                        and code hashes (cut to 16 bytes)
 *    32  i64 last_step   40  i64 lock_until
 *    48  u32 failures    52  u32 spent codes (bit i: code i+1)
 *    56  u32 zero        60  u32 CRC-32 of bytes 0..59
 *
 * The reader takes the valid slot with the higher generation.  No valid
 * slot: if slot 0 holds only zero bytes (an empty lock file, as every
 * release before this format left it, or a first write that never reached
 * the disk, so never flushed and never acknowledged) the state is the one
 * in the profile file; otherwise the record is corrupt and logins are
 * refused.  A record bound to another profile (a create over a disabled
 * profile, a delete that crashed before removing the lock file, a create
 * that crashed between the profile file and the record) is ignored: update
 * writes the profile file, with the state merged in, before the record, so
 * the profile file's state is then the current one. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "names.h"
#include "secret.h"
#include "store.h"

#define OPEN_FLAGS (O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
#define PROFILE_SUFFIX ".ini"
#define LOCK_RETRIES 64
#define LOCK_WAIT_US 10000000L     /* give up on a lock held this long (10 s) */
#define REOPEN_RETRIES 16          /* a file replaced between open and fstat */
#define STATE_MAGIC "TPs1"
#define STATE_LEN 64
#define STATE_SLOT_GAP 512
#define BINDING_LEN 16

/* A profile read by get, kept for the login that follows: while its file
 * is held open its inode number cannot be reused, and a profile file is
 * never written in place, so the same inode (with the same size and
 * times) under the lock means the same profile.  The owner folder and
 * the lock file get opened are kept too (not locked: nothing is held
 * across the prompt), for the login to use once it has checked that
 * their names still point at them. */
struct profile_cache {
	int fd;
	struct stat st;
	int dir_fd;             /* the owner folder, or -1 */
	struct stat dir_st;
	int lock_fd;            /* the lock file, opened read-write, or -1 */
	char owner[TP_UUID_LEN + 1];
	char account[TP_NAME_MAX + 2];
	struct tp_profile p;
	unsigned char binding[BINDING_LEN];   /* p's state binding, hashed once */
};

/* One slot of the state record, decoded. */
struct state_rec {
	uint64_t gen;
	unsigned char binding[BINDING_LEN];
	int64_t last_step, lock_until;
	uint32_t failures, spent;
};

struct files_store {
	struct tp_store base;
	char *root_path;
	int root_fd;
	uid_t uid;              /* the store user: owner of every file */
	gid_t gid;
	bool chown_needed;      /* we are root writing for another user */
	struct profile_cache cache;
	EVP_MD *sha256;         /* fetched once: a fetch per login costs more than the hash */
	long lock_wait_us;      /* LOCK_WAIT_US, or the caller's shorter bound */
};

static struct files_store *files(struct tp_store *s)
{
	return (struct files_store *)s;
}

__attribute__((format(printf, 2, 3)))
static void detail(struct files_store *fs, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(fs->base.detail);
	fs->base.detail = msg;
}

static enum tp_status from_errno(int e)
{
	switch (e) {
	case ENOENT:              return TP_ENOENT;
	case ENOSPC: case EDQUOT: return TP_ENOSPC;
	case EROFS:               return TP_EROFS;
	case ENOMEM:              return TP_ENOMEM;
	case EACCES: case EPERM:
	case ELOOP: case ENOTDIR: return TP_EPERM;
	default:                  return TP_EIO;
	}
}

static enum tp_status sys_fail(struct files_store *fs, const char *what,
			       const char *owner, const char *name)
{
	int e = errno;
	detail(fs, "%s %s/%s%s%s: %s", what, fs->root_path, owner,
	       name ? "/" : "", name ? name : "",
	       e == ELOOP ? "is a symbolic link" : strerror(e));
	return from_errno(e);
}

/* The owner folder, created (0700, store user) if `create`. */
static enum tp_status open_owner_dir(struct files_store *fs, const char *owner,
				     bool create, int *out, struct stat *st_out)
{
	struct stat st;
	int fd;

	fd = openat(fs->root_fd, owner, O_RDONLY | O_DIRECTORY | OPEN_FLAGS);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(fs->root_fd, owner, 0700) != 0 && errno != EEXIST)
			return sys_fail(fs, "cannot create", owner, NULL);
		fd = openat(fs->root_fd, owner, O_RDONLY | O_DIRECTORY | OPEN_FLAGS);
		if (fd >= 0 && fs->chown_needed && fchown(fd, fs->uid, fs->gid) != 0) {
			enum tp_status st2 = sys_fail(fs, "cannot chown", owner, NULL);
			close(fd);
			return st2;
		}
		if (fd >= 0 && fsync(fs->root_fd) != 0) {
			enum tp_status st2 = sys_fail(fs, "cannot sync", ".", NULL);
			close(fd);
			return st2;
		}
	}
	if (fd < 0) {
		/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR, not
		 * ELOOP: say what it really is, or the log blames the wrong thing */
		if (errno == ENOTDIR && fstatat(fs->root_fd, owner, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			errno = ELOOP;
		return sys_fail(fs, "cannot open", owner, NULL);
	}
	if (fstat(fd, &st) != 0) {
		enum tp_status st2 = sys_fail(fs, "cannot stat", owner, NULL);
		close(fd);
		return st2;
	}
	if (st.st_uid != fs->uid || (st.st_mode & 077) != 0) {
		detail(fs, "%s/%s: must be owned by uid %u with mode 0700 (is uid %u, mode %04o)",
		       fs->root_path, owner, (unsigned)fs->uid, (unsigned)st.st_uid,
		       (unsigned)(st.st_mode & 07777));
		close(fd);
		return TP_EPERM;
	}
	if (st_out != NULL)
		*st_out = st;
	*out = fd;
	return TP_OK;
}

/* Regular file, store owner, mode 0600, exactly one link.  A file with no
 * link left was replaced or removed after we opened it: not unsafe, only
 * stale (*gone set, TP_ENOENT returned); the caller opens the name again. */
static enum tp_status check_stat(struct files_store *fs, const struct stat *sp,
				 const char *owner, const char *name, bool *gone)
{
	const struct stat st = *sp;

	*gone = false;
	if (S_ISREG(st.st_mode) && st.st_nlink == 0) {
		*gone = true;
		detail(fs, "%s/%s/%s: replaced or removed while being opened",
		       fs->root_path, owner, name);
		return TP_ENOENT;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != fs->uid ||
	    (st.st_mode & 07777) != 0600 || st.st_nlink != 1) {
		detail(fs, "%s/%s/%s: refused: must be a regular file owned by uid %u, "
		       "mode 0600, one link (is uid %u, mode %04o, %lu links)",
		       fs->root_path, owner, name, (unsigned)fs->uid,
		       (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		       (unsigned long)st.st_nlink);
		return TP_EPERM;
	}
	return TP_OK;
}

/* check_stat of the open file fd; *out (if not NULL) gets its fstat. */
static enum tp_status check_file(struct files_store *fs, int fd, const char *owner,
				 const char *name, struct stat *out, bool *gone)
{
	struct stat st;

	*gone = false;
	if (fstat(fd, &st) != 0)
		return sys_fail(fs, "cannot stat", owner, name);
	if (out != NULL)
		*out = st;
	return check_stat(fs, &st, owner, name, gone);
}

/* prefix account suffix, cut to fit as snprintf would (a login builds
 * four of these; snprintf was a thousand instructions each) */
static void file_name(char *buf, size_t len, const char *prefix,
		      const char *account, const char *suffix)
{
	const char *const parts[] = { prefix, account, suffix };
	size_t o = 0;

	for (size_t i = 0; i < 3; i++)
		for (const char *c = parts[i]; *c != '\0' && o + 1 < len; c++)
			buf[o++] = *c;
	buf[o] = '\0';
}

/* Parse the profile file; *fd_out (if not NULL) gets the open file and
 * *st_out its identity.  A file replaced while we opened it is opened
 * again: a login racing totpctl must not log a false alarm. */
static enum tp_status read_profile(struct files_store *fs, int dirfd, const char *owner,
				   const char *account, struct tp_profile *out,
				   struct stat *st_out, int *fd_out)
{
	char name[TP_NAME_MAX + 16];
	struct stat sb;
	enum tp_status st = TP_EIO;
	bool gone = true;
	int fd = -1;

	file_name(name, sizeof(name), "", account, PROFILE_SUFFIX);
	for (int attempt = 0; gone && attempt < REOPEN_RETRIES; attempt++) {
		if (fd >= 0)
			close(fd);
		fd = openat(dirfd, name, O_RDONLY | OPEN_FLAGS | O_NONBLOCK);
		if (fd < 0)
			return sys_fail(fs, "cannot open", owner, name);
		st = check_file(fs, fd, owner, name, &sb, &gone);
	}
	if (st == TP_OK && st_out != NULL)
		*st_out = sb;
	if (st == TP_OK) {
		/* the size just seen: a read of all of it needs no second read */
		st = tp_profile_from_fd_sized(fd, sb.st_size, out);
		if (st == TP_OK && (strcmp(out->owner_uuid, owner) != 0 ||
				    strcmp(out->account, account) != 0))
			st = TP_ECORRUPT;   /* a file copied under another name */
		if (st != TP_OK) {
			tp_profile_wipe(out);
			detail(fs, "%s/%s/%s: %s", fs->root_path, owner, name,
			       st == TP_ECORRUPT ? "corrupt, truncated or over-large profile file"
						 : tp_status_str(st));
		}
	}
	if (st == TP_OK && fd_out != NULL)
		*fd_out = fd;
	else
		close(fd);
	return st;
}

static enum tp_status read_at(struct files_store *fs, int dirfd, const char *owner,
			      const char *account, struct tp_profile *out)
{
	return read_profile(fs, dirfd, owner, account, out, NULL, NULL);
}

/* ---- the login state record ---- */

/* CRC-32 (IEEE, reflected, as zlib's), four bits a step: a login checks
 * it on each slot it reads, and bit by bit that was a tenth of a login. */
static uint32_t crc32_of(const unsigned char *b, size_t n)
{
	static const uint32_t nibble[16] = {
		0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu,
		0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
		0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
		0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
	};
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		c = (c >> 4) ^ nibble[c & 15u];
		c = (c >> 4) ^ nibble[c & 15u];
	}
	return ~c;
}

static void put32(unsigned char *b, uint32_t v) { v = htole32(v); memcpy(b, &v, 4); }
static void put64(unsigned char *b, uint64_t v) { v = htole64(v); memcpy(b, &v, 8); }
static uint32_t get32(const unsigned char *b) { uint32_t v; memcpy(&v, b, 4); return le32toh(v); }
static uint64_t get64(const unsigned char *b) { uint64_t v; memcpy(&v, b, 8); return le64toh(v); }

/* What ties a state record to one profile: a new secret or new emergency
 * codes make a new binding, so their state starts from the profile file. */
static enum tp_status profile_binding(struct files_store *fs, const struct tp_profile *p,
				      unsigned char out[BINDING_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char n[4];
	int ok;

	put32(n, p->ec_count);
	ok = ctx != NULL &&
	     EVP_DigestInit_ex(ctx, fs->sha256, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, "pam_totp_profile state\n", 23) == 1 &&
	     EVP_DigestUpdate(ctx, p->secret, p->secret_len) == 1 &&
	     EVP_DigestUpdate(ctx, p->ec_salt, TP_SALT_LEN) == 1 &&
	     EVP_DigestUpdate(ctx, n, sizeof(n)) == 1 &&
	     EVP_DigestUpdate(ctx, p->ec_hash,
			      (size_t)(p->ec_count < TP_EMERGENCY_MAX ? p->ec_count
								      : TP_EMERGENCY_MAX) * TP_HASH_LEN) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &len) == 1 && len >= BINDING_LEN;
	EVP_MD_CTX_free(ctx);
	if (ok)
		memcpy(out, md, BINDING_LEN);
	tp_wipe(md, sizeof(md));
	return ok ? TP_OK : TP_ECRYPTO;
}

static bool state_decode(const unsigned char *b, unsigned slot, struct state_rec *r)
{
	if (memcmp(b, STATE_MAGIC, 4) != 0 || get32(b + 4) != STATE_LEN ||
	    get32(b + 60) != crc32_of(b, 60) || get32(b + 56) != 0)
		return false;
	r->gen = get64(b + 8);
	memcpy(r->binding, b + 16, BINDING_LEN);
	r->last_step = (int64_t)get64(b + 32);
	r->lock_until = (int64_t)get64(b + 40);
	r->failures = get32(b + 48);
	r->spent = get32(b + 52);
	/* a slot holds its own parity of generations: a record copied into
	 * the other slot is not taken for a newer one */
	return (r->gen & 1u) == slot && r->last_step >= -1 && r->lock_until >= 0 &&
	       r->failures <= TP_FAILURES_MAX && r->spent < (1u << TP_EMERGENCY_MAX);
}

static void state_encode(const struct state_rec *r, unsigned char *b)
{
	memset(b, 0, STATE_LEN);
	memcpy(b, STATE_MAGIC, 4);
	put32(b + 4, STATE_LEN);
	put64(b + 8, r->gen);
	memcpy(b + 16, r->binding, BINDING_LEN);
	put64(b + 32, (uint64_t)r->last_step);
	put64(b + 40, (uint64_t)r->lock_until);
	put32(b + 48, r->failures);
	put32(b + 52, r->spent);
	put32(b + 60, crc32_of(b, 60));
}

static ssize_t pread_full(int fd, unsigned char *b, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The newest valid slot of the record in fd.  *present false: no record
 * yet (the state is the profile file's).  TP_ECORRUPT: there is one, and
 * no slot of it can be trusted. */
static enum tp_status state_read(struct files_store *fs, int fd, const char *owner,
				 const char *account, struct state_rec *out, bool *present)
{
	/* both slots in one read: a login reads the record twice */
	unsigned char b[STATE_SLOT_GAP + STATE_LEN];
	struct state_rec r[2];
	bool ok[2], blank = true;
	ssize_t n = pread_full(fd, b, sizeof(b), 0);

	if (n < 0)
		return sys_fail(fs, "cannot read the state in the lock of", owner, account);
	for (unsigned i = 0; i < 2; i++) {
		size_t at = (size_t)i * STATE_SLOT_GAP;
		ok[i] = (size_t)n >= at + STATE_LEN && state_decode(b + at, i, &r[i]);
	}
	for (ssize_t k = 0; k < n && k < STATE_LEN; k++)
		blank = blank && b[k] == 0;
	*present = ok[0] || ok[1];
	if (ok[0] && ok[1])
		*out = r[0].gen > r[1].gen ? r[0] : r[1];
	else if (ok[0] || ok[1])
		*out = ok[0] ? r[0] : r[1];
	else if (!blank) {
		detail(fs, "%s/%s/.%s.lock: login state record corrupt (no valid slot); "
		       "logins are refused until the profile is deleted and created again",
		       fs->root_path, owner, account);
		return TP_ECORRUPT;
	}
	return TP_OK;
}

/* The state of the record in fd merged into p, if the record is p's. */
static enum tp_status state_load(struct files_store *fs, int fd, struct tp_profile *p,
				 const unsigned char binding[BINDING_LEN],
				 struct state_rec *rec, bool *present)
{
	enum tp_status st = state_read(fs, fd, p->owner_uuid, p->account, rec, present);

	if (st != TP_OK || !*present ||
	    memcmp(rec->binding, binding, BINDING_LEN) != 0)
		return st;
	p->last_step = rec->last_step;
	p->lock_until = rec->lock_until;
	p->failures = rec->failures;
	for (unsigned i = 0; i < TP_EMERGENCY_MAX; i++)
		p->ec_spent[i] = (rec->spent >> i) & 1u;
	return TP_OK;
}

/* Write p's state as the next generation after rec (the first if none is
 * present), into the slot that does not hold rec; flush if asked. */
static enum tp_status state_write(struct files_store *fs, int fd, const struct tp_profile *p,
				  const unsigned char binding[BINDING_LEN],
				  const struct state_rec *rec, bool present, bool flush)
{
	struct state_rec n = {
		.gen = present ? rec->gen + 1 : 0,
		.last_step = p->last_step,
		.lock_until = p->lock_until,
		.failures = p->failures,
	};
	/* the first write lays out both slots, so that no later write
	 * extends the file: a flush is then of data only */
	unsigned char b[STATE_SLOT_GAP + STATE_LEN];
	size_t len = present ? STATE_LEN : sizeof(b);
	off_t off;
	ssize_t w;

	memcpy(n.binding, binding, BINDING_LEN);
	for (unsigned i = 0; i < TP_EMERGENCY_MAX && i < p->ec_count; i++)
		n.spent |= (uint32_t)p->ec_spent[i] << i;
	if (!present)
		memset(b, 0, sizeof(b));
	state_encode(&n, b);
	off = (off_t)(n.gen & 1u) * STATE_SLOT_GAP;
	do
		w = pwrite(fd, b, len, off);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)len) {
		if (w >= 0)
			errno = EIO;
		return sys_fail(fs, "cannot write the login state of", p->owner_uuid, p->account);
	}
	if (flush && fdatasync(fd) != 0)
		return sys_fail(fs, "cannot flush the login state of", p->owner_uuid, p->account);
	return TP_OK;
}

/* Open the account's lock file, creating it if missing.  An existing file
 * is checked before anything is done to it; only a file this call created
 * gets its mode and owner set (root must never chown a file it did not
 * make: a planted hard link would hand that file to the store user). */
static enum tp_status open_lock_file(struct files_store *fs, int dirfd,
				     const char *owner, const char *name, int *out)
{
	for (;;) {
		bool created = false;
		enum tp_status st;
		int fd = openat(dirfd, name, O_RDWR | OPEN_FLAGS);

		if (fd < 0 && errno == ENOENT) {
			fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | OPEN_FLAGS, 0600);
			if (fd < 0 && errno == EEXIST)
				continue;               /* created by a racing login */
			created = fd >= 0;
		}
		if (fd < 0)
			return sys_fail(fs, "cannot open lock", owner, name);
		if (created && (fchmod(fd, 0600) != 0 ||
				(fs->chown_needed && fchown(fd, fs->uid, fs->gid) != 0))) {
			st = sys_fail(fs, "cannot set owner and mode of lock", owner, name);
			close(fd);
			return st;
		}
		bool gone = false;
		st = check_file(fs, fd, owner, name, NULL, &gone);
		if (st != TP_OK) {
			close(fd);
			if (gone)
				continue;       /* removed by a delete meanwhile */
			return st;
		}
		*out = fd;
		return TP_OK;
	}
}

/* flock() with a deadline: a hung or stopped holder must not hang sshd. */
static enum tp_status flock_bounded(struct files_store *fs, int fd,
				    const char *owner, const char *name)
{
	long waited_us = 0, nap_us = 100;

	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return sys_fail(fs, "cannot lock", owner, name);
		if (waited_us >= fs->lock_wait_us) {
			detail(fs, "%s/%s/%s: still locked after %ld ms, giving up",
			       fs->root_path, owner, name, fs->lock_wait_us / 1000);
			return TP_EBUSY;
		}
		struct timespec ts = { 0, nap_us * 1000 };
		nanosleep(&ts, NULL);
		waited_us += nap_us;
		if (nap_us < 20000)
			nap_us *= 2;
	}
	return TP_OK;
}

/* Does the name in dirfd point at the file held (the lock file we hold
 * the flock of)?  *held gets its fstat. */
static bool name_holds(int dirfd, const char *name, int fd, struct stat *held)
{
	struct stat named;

	return fstat(fd, held) == 0 &&
	       fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
	       held->st_dev == named.st_dev && held->st_ino == named.st_ino;
}

/* Take the account's lock.  The lock file may be unlinked by a delete while
 * we wait for it, so after flock() succeeds we make sure the name still
 * points at the inode we hold; otherwise we retry with the new file.
 * cached (or -1): the lock file get opened read-write before the prompt,
 * given to this call, tried first: once locked, its name must still point
 * at it, and it must still pass check_file's checks (on the same fstat);
 * a file that is no longer the lock goes, and the loop opens the name. */
static enum tp_status lock_account(struct files_store *fs, int dirfd, const char *owner,
				   const char *account, int cached, int *out)
{
	char name[TP_NAME_MAX + 16];

	file_name(name, sizeof(name), ".", account, ".lock");
	if (cached >= 0) {
		struct stat held;
		bool gone = false;
		enum tp_status st = flock_bounded(fs, cached, owner, name);

		if (st == TP_OK && name_holds(dirfd, name, cached, &held)) {
			st = check_stat(fs, &held, owner, name, &gone);
			if (st == TP_OK) {
				*out = cached;
				return TP_OK;
			}
		}
		close(cached);
		if (st != TP_OK && !gone)
			return st;
	}
	for (int attempt = 0; attempt < LOCK_RETRIES; attempt++) {
		struct stat held;
		int fd = -1;
		enum tp_status st = open_lock_file(fs, dirfd, owner, name, &fd);

		if (st != TP_OK)
			return st;
		st = flock_bounded(fs, fd, owner, name);
		if (st != TP_OK) {
			close(fd);
			return st;
		}
		if (name_holds(dirfd, name, fd, &held)) {
			*out = fd;
			return TP_OK;
		}
		close(fd);
	}
	detail(fs, "%s/%s/%s: lock file keeps changing", fs->root_path, owner, name);
	return TP_EIO;
}

static enum tp_status write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return TP_EIO;
		}
		buf += w;
		len -= (size_t)w;
	}
	return TP_OK;
}

/* Durable atomic replace: temp file in the same folder, write, fsync,
 * rename over the profile, fsync the folder.  A crash at any point leaves
 * either the old or the new version; a stale temp file is removed by the
 * next write (we hold the account's lock, so nobody else is writing it). */
static enum tp_status write_at(struct files_store *fs, int dirfd, const char *owner,
			       const struct tp_profile *p)
{
	char tmp[TP_NAME_MAX + 16], name[TP_NAME_MAX + 16];
	char *text = NULL;
	size_t len = 0;
	enum tp_status st;
	int fd = -1;

	file_name(tmp, sizeof(tmp), ".", p->account, ".tmp");
	file_name(name, sizeof(name), "", p->account, PROFILE_SUFFIX);
	st = tp_profile_to_ini(p, &text, &len);
	if (st != TP_OK) {
		detail(fs, "cannot serialise profile %s/%s: %s", owner, p->account,
		       tp_status_str(st));
		return st;
	}
	if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT) {
		st = sys_fail(fs, "cannot remove stale", owner, tmp);
		goto out;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | OPEN_FLAGS, 0600);
	if (fd < 0) {
		st = sys_fail(fs, "cannot create", owner, tmp);
		goto out;
	}
	if (fchmod(fd, 0600) != 0 ||
	    (fs->chown_needed && fchown(fd, fs->uid, fs->gid) != 0)) {
		st = sys_fail(fs, "cannot set owner/mode of", owner, tmp);
		goto out;
	}
	if (write_all(fd, text, len) != TP_OK || fsync(fd) != 0) {
		st = sys_fail(fs, "cannot write", owner, tmp);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		st = sys_fail(fs, "cannot write", owner, tmp);
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		st = sys_fail(fs, "cannot rename into place", owner, name);
		goto out;
	}
	if (fsync(dirfd) != 0) {
		st = sys_fail(fs, "cannot sync folder of", owner, name);
		goto out;
	}
	st = TP_OK;
out:
	if (fd >= 0)
		close(fd);
	if (st != TP_OK)
		(void)unlinkat(dirfd, tmp, 0);
	tp_wipe(text, len);
	free(text);
	return st;
}

static enum tp_status remove_at(struct files_store *fs, int dirfd,
				const char *owner, const char *account)
{
	char name[TP_NAME_MAX + 16];

	file_name(name, sizeof(name), "", account, PROFILE_SUFFIX);
	if (unlinkat(dirfd, name, 0) != 0)
		return sys_fail(fs, "cannot remove", owner, name);
	if (fsync(dirfd) != 0)
		return sys_fail(fs, "cannot sync folder of", owner, name);
	return TP_OK;
}

static void unlock_account(int dirfd, const char *account, int lockfd, bool drop)
{
	char name[TP_NAME_MAX + 16];

	if (drop) {
		/* waiters re-check the inode after flock and retry */
		file_name(name, sizeof(name), ".", account, ".lock");
		(void)unlinkat(dirfd, name, 0);
	}
	close(lockfd);
}

/* The account's state merged into p, read without the lock (get, list).
 * A login may be writing a slot at this moment: the other slot is whole,
 * but a first write may be half copied, so a record that looks corrupt
 * is read again under the lock before it is called so.  keep (get's):
 * the lock file is opened read-write if we may, and then *keep gets it,
 * unlocked, for the login's lock_account; else it is closed (*keep -1). */
static enum tp_status state_peek(struct files_store *fs, int dirfd, struct tp_profile *p,
				 const unsigned char known[BINDING_LEN], int *keep)
{
	char name[TP_NAME_MAX + 16];
	unsigned char binding[BINDING_LEN];
	struct state_rec rec;
	bool present = false, gone = true, writable = false;
	enum tp_status st = TP_OK;
	int fd = -1;

	if (keep != NULL)
		*keep = -1;
	file_name(name, sizeof(name), ".", p->account, ".lock");
	for (int attempt = 0; gone && attempt < REOPEN_RETRIES; attempt++) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (keep != NULL)
			fd = openat(dirfd, name, O_RDWR | OPEN_FLAGS | O_NONBLOCK);
		writable = fd >= 0;
		/* a reader without write access (totpctl on a store it may
		 * only read), or a folder in the name: opened to be read
		 * only, and checked, as before */
		if (keep == NULL || (fd < 0 && (errno == EACCES || errno == EPERM ||
						errno == EROFS || errno == EISDIR)))
			fd = openat(dirfd, name, O_RDONLY | OPEN_FLAGS | O_NONBLOCK);
		if (fd < 0 && errno == ENOENT)
			return TP_OK;           /* no login yet: the file's state */
		if (fd < 0)
			return sys_fail(fs, "cannot open lock", p->owner_uuid, name);
		st = check_file(fs, fd, p->owner_uuid, name, NULL, &gone);
	}
	if (st == TP_OK && known != NULL)
		memcpy(binding, known, BINDING_LEN);
	else if (st == TP_OK)
		st = profile_binding(fs, p, binding);
	if (st == TP_OK)
		st = state_load(fs, fd, p, binding, &rec, &present);
	if (st == TP_OK && writable && keep != NULL)
		*keep = fd;
	else
		close(fd);
	if (st == TP_ECORRUPT) {
		int lockfd = -1;
		st = lock_account(fs, dirfd, p->owner_uuid, p->account, -1, &lockfd);
		if (st == TP_OK) {
			st = state_load(fs, lockfd, p, binding, &rec, &present);
			close(lockfd);
		}
	}
	tp_wipe(binding, sizeof(binding));
	return st;
}

static void cache_drop(struct profile_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	tp_profile_wipe(&c->p);
	memset(c, 0, sizeof(*c));
	c->fd = c->dir_fd = c->lock_fd = -1;
}

static enum tp_status files_get(struct tp_store *s, const char *owner,
				const char *account, struct tp_profile *out)
{
	struct files_store *fs = files(s);
	struct stat st_file, st_dir;
	int dirfd, fd = -1;
	enum tp_status st = open_owner_dir(fs, owner, false, &dirfd, &st_dir);

	if (st != TP_OK)
		return st;
	cache_drop(&fs->cache);
	st = read_profile(fs, dirfd, owner, account, out, &st_file, &fd);
	if (st == TP_OK) {
		fs->cache.fd = fd;
		fs->cache.st = st_file;
		memcpy(fs->cache.owner, owner, TP_UUID_LEN + 1);
		snprintf(fs->cache.account, sizeof(fs->cache.account), "%s", account);
		fs->cache.p = *out;
		/* the binding is hashed once, here, for the login that follows */
		st = profile_binding(fs, out, fs->cache.binding);
		if (st == TP_OK)
			st = state_peek(fs, dirfd, out, fs->cache.binding, &fs->cache.lock_fd);
		if (st != TP_OK) {
			tp_profile_wipe(out);
			cache_drop(&fs->cache);
		}
	}
	if (st == TP_OK) {
		fs->cache.dir_fd = dirfd;
		fs->cache.dir_st = st_dir;
	} else {
		close(dirfd);
	}
	return st;
}

/* The owner folder get kept, if the login is for its owner and the name
 * still points at it, with open_owner_dir's owner and mode: taken out of
 * the cache (the caller closes it).  Else -1: open the folder again. */
static int cached_owner_dir(struct files_store *fs, const char *owner)
{
	struct profile_cache *c = &fs->cache;
	struct stat now;
	int fd = c->dir_fd;

	if (fd < 0 || strcmp(c->owner, owner) != 0 ||
	    fstatat(fs->root_fd, owner, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
	    now.st_dev != c->dir_st.st_dev || now.st_ino != c->dir_st.st_ino ||
	    !S_ISDIR(now.st_mode) || now.st_uid != fs->uid || (now.st_mode & 077) != 0)
		return -1;
	c->dir_fd = -1;
	return fd;
}

/* The profile under the lock: the one get read if its file is still the
 * one in place, else read again.  *p gets the file's state fields. */
static enum tp_status profile_locked(struct files_store *fs, int dirfd, const char *owner,
				     const char *account, struct tp_profile *p,
				     unsigned char binding[BINDING_LEN])
{
	struct profile_cache *c = &fs->cache;
	char name[TP_NAME_MAX + 16];
	struct stat named;

	file_name(name, sizeof(name), "", account, PROFILE_SUFFIX);
	if (c->fd >= 0 && strcmp(c->owner, owner) == 0 && strcmp(c->account, account) == 0 &&
	    fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
	    named.st_dev == c->st.st_dev && named.st_ino == c->st.st_ino &&
	    /* and not rewritten in place (cp over it): totpctl never does */
	    named.st_size == c->st.st_size &&
	    named.st_mtim.tv_sec == c->st.st_mtim.tv_sec &&
	    named.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec &&
	    named.st_ctim.tv_sec == c->st.st_ctim.tv_sec &&
	    named.st_ctim.tv_nsec == c->st.st_ctim.tv_nsec) {
		*p = c->p;
		memcpy(binding, c->binding, BINDING_LEN);
		return TP_OK;
	}
	enum tp_status st = read_at(fs, dirfd, owner, account, p);
	return st == TP_OK ? profile_binding(fs, p, binding) : st;
}

static enum tp_status files_login(struct tp_store *s, const char *owner,
				  const char *account, tp_login_fn fn, void *ctx)
{
	struct files_store *fs = files(s);
	struct tp_profile p;
	unsigned char binding[BINDING_LEN];
	struct state_rec rec;
	enum tp_state_write action;
	bool present = false;
	int dirfd = -1, lockfd = -1, cached_lock = -1;
	enum tp_status st;

	memset(&p, 0, sizeof(p));
	dirfd = cached_owner_dir(fs, owner);
	if (dirfd >= 0 && fs->cache.lock_fd >= 0 && strcmp(fs->cache.account, account) == 0) {
		cached_lock = fs->cache.lock_fd;     /* lock_account's from here */
		fs->cache.lock_fd = -1;
	}
	if (dirfd < 0) {
		st = open_owner_dir(fs, owner, false, &dirfd, NULL);
		if (st != TP_OK) {
			cache_drop(&fs->cache);
			return st;
		}
	}
	st = lock_account(fs, dirfd, owner, account, cached_lock, &lockfd);
	if (st != TP_OK)
		goto out;
	st = profile_locked(fs, dirfd, owner, account, &p, binding);
	if (st == TP_OK)
		st = state_load(fs, lockfd, &p, binding, &rec, &present);
	if (st != TP_OK)
		goto out;
	action = fn(&p, ctx);
	if (action != TP_STATE_KEEP)
		st = state_write(fs, lockfd, &p, binding, &rec, present,
				 action == TP_STATE_FLUSH);
out:
	tp_profile_wipe(&p);
	tp_wipe(binding, sizeof(binding));
	cache_drop(&fs->cache);
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	return st;
}

static enum tp_status files_update(struct tp_store *s, const char *owner,
				   const char *account, tp_update_fn fn, void *ctx)
{
	struct files_store *fs = files(s);
	struct tp_profile p;
	unsigned char binding[BINDING_LEN];
	struct state_rec rec;
	enum tp_update_action action;
	enum tp_status st, fail = TP_OK;
	bool exists, removed = false, present = false;
	int dirfd = -1, lockfd = -1;

	memset(&p, 0, sizeof(p));
	memset(binding, 0, sizeof(binding));
	cache_drop(&fs->cache);
	st = open_owner_dir(fs, owner, true, &dirfd, NULL);
	if (st != TP_OK)
		return st;
	st = lock_account(fs, dirfd, owner, account, -1, &lockfd);
	if (st != TP_OK)
		goto out;
	/* re-read now that nobody else can write it */
	st = read_at(fs, dirfd, owner, account, &p);
	if (st == TP_ENOENT) {
		memset(&p, 0, sizeof(p));
		memcpy(p.owner_uuid, owner, TP_UUID_LEN + 1);
		strcpy(p.account, account);
		exists = false;
		/* the generation goes on from a stale record, if any, so the
		 * next write never lands on its newest slot */
		st = state_read(fs, lockfd, owner, account, &rec, &present);
		if (st == TP_ECORRUPT)
			present = false, st = TP_OK;    /* nobody's state: overwritten */
	} else if (st != TP_OK) {
		goto out;
	} else {
		exists = true;
		st = profile_binding(fs, &p, binding);
		if (st == TP_OK)
			st = state_load(fs, lockfd, &p, binding, &rec, &present);
	}
	if (st != TP_OK)
		goto out;
	action = fn(&p, exists, ctx, &fail);
	if (fail != TP_OK) {
		st = fail;
	} else if (action == TP_UPDATE_WRITE) {
		/* the profile file (with the state in it) first: a crash before
		 * the record is written leaves a record bound to the old
		 * profile, which the next reader ignores for the file's state */
		st = write_at(fs, dirfd, owner, &p);
		if (st == TP_OK)
			st = profile_binding(fs, &p, binding);
		if (st == TP_OK)
			st = state_write(fs, lockfd, &p, binding, &rec, present, true);
	} else if (action == TP_UPDATE_DELETE) {
		st = exists ? remove_at(fs, dirfd, owner, account) : TP_ENOENT;
	} else {
		st = TP_OK;
	}
	removed = st == TP_OK && action == TP_UPDATE_DELETE;
out:
	tp_profile_wipe(&p);
	tp_wipe(binding, sizeof(binding));
	if (lockfd >= 0)
		unlock_account(dirfd, account, lockfd, removed);
	close(dirfd);
	return st;
}

static enum tp_status files_remove(struct tp_store *s, const char *owner,
				   const char *account)
{
	struct files_store *fs = files(s);
	enum tp_status st;
	int dirfd = -1, lockfd = -1;

	cache_drop(&fs->cache);
	st = open_owner_dir(fs, owner, false, &dirfd, NULL);
	if (st != TP_OK)
		return st;
	st = lock_account(fs, dirfd, owner, account, -1, &lockfd);
	if (st == TP_OK)
		st = remove_at(fs, dirfd, owner, account);
	if (lockfd >= 0)
		unlock_account(dirfd, account, lockfd, st == TP_OK);
	close(dirfd);
	return st;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in a folder that pass `want`; the suffix is cut off. */
static enum tp_status read_names(int dirfd, bool profiles, char ***out, size_t *count)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (fd < 0)
		return from_errno(errno);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return from_errno(errno);
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		char buf[256];
		size_t len = strlen(e->d_name);
		snprintf(buf, sizeof(buf), "%s", e->d_name);
		if (profiles) {
			size_t sl = strlen(PROFILE_SUFFIX);
			if (len <= sl || strcmp(buf + len - sl, PROFILE_SUFFIX) != 0)
				continue;
			buf[len - sl] = '\0';
			if (!tp_valid_account(buf))
				continue;
		} else if (!tp_valid_uuid(buf)) {
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL)
				goto nomem;
			v = nv;
			cap = ncap;
		}
		if ((v[n] = strdup(buf)) == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), compare_names);
	*out = v;
	*count = n;
	return TP_OK;

nomem:                          /* a partial list must not pass as the list */
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return TP_ENOMEM;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static enum tp_status list_owner(struct files_store *fs, const char *owner,
				 tp_list_fn fn, void *ctx, unsigned *skipped,
				 bool *stop)
{
	char **names = NULL;
	size_t n = 0;
	int dirfd;
	enum tp_status st = open_owner_dir(fs, owner, false, &dirfd, NULL);

	if (st == TP_ENOENT)
		return TP_OK;          /* no profile of this owner yet */
	if (st != TP_OK)
		return st;
	st = read_names(dirfd, true, &names, &n);
	for (size_t i = 0; st == TP_OK && i < n && !*stop; i++) {
		struct tp_profile p;
		if (read_at(fs, dirfd, owner, names[i], &p) != TP_OK ||
		    state_peek(fs, dirfd, &p, NULL, NULL) != TP_OK) {
			tp_profile_wipe(&p);
			(*skipped)++;
			continue;
		}
		*stop = fn(&p, ctx) != 0;
		tp_profile_wipe(&p);
	}
	free_names(names, n);
	close(dirfd);
	return st;
}

static enum tp_status files_list(struct tp_store *s, const char *owner,
				 tp_list_fn fn, void *ctx, unsigned *skipped)
{
	struct files_store *fs = files(s);
	char **owners = NULL;
	size_t n = 0;
	bool stop = false;
	enum tp_status st;

	if (owner != NULL)
		return list_owner(fs, owner, fn, ctx, skipped, &stop);
	st = read_names(fs->root_fd, false, &owners, &n);
	for (size_t i = 0; st == TP_OK && i < n && !stop; i++) {
		/* one refused folder (symlink, wrong owner or mode) is skipped
		 * and counted like an unreadable profile; it must not hide the
		 * other owners' profiles from an admin */
		if (list_owner(fs, owners[i], fn, ctx, skipped, &stop) != TP_OK)
			(*skipped)++;
	}
	free_names(owners, n);
	return st;
}

static void files_close(struct tp_store *s)
{
	struct files_store *fs = files(s);

	cache_drop(&fs->cache);
	EVP_MD_free(fs->sha256);
	if (fs->root_fd >= 0)
		close(fs->root_fd);
	free(fs->root_path);
	free(fs->base.detail);
	free(fs);
}

static const struct tp_store_ops files_ops = {
	.get = files_get,
	.update = files_update,
	.login = files_login,
	.remove = files_remove,
	.list = files_list,
	.close = files_close,
};

bool tp_store_files_left(const struct tp_config *cfg, char *where, size_t cap)
{
	for (size_t i = 0; i < cfg->n_owners; i++) {
		char dir[PATH_MAX];
		struct dirent *e;
		DIR *d;
		bool found = false;

		snprintf(dir, sizeof(dir), "%s/%s", cfg->store_path, cfg->owners[i].uuid);
		if ((d = opendir(dir)) == NULL)
			continue;
		while (!found && (e = readdir(d)) != NULL) {
			size_t len = strlen(e->d_name), sl = strlen(PROFILE_SUFFIX);

			if (e->d_name[0] != '.' && len > sl &&
			    strcmp(e->d_name + len - sl, PROFILE_SUFFIX) == 0) {
				snprintf(where, cap, "%s/%s", dir, e->d_name);
				found = true;
			}
		}
		closedir(d);
		if (found)
			return true;
	}
	return false;
}

enum tp_status tp_store_files_open(const struct tp_config *cfg,
				   struct tp_store **out, char **err)
{
	struct files_store *fs = calloc(1, sizeof(*fs));
	struct stat st;
	enum tp_status rv = TP_ENOMEM;

	*out = NULL;
	*err = NULL;
	if (fs == NULL)
		goto fail;
	fs->base.ops = &files_ops;
	fs->root_fd = -1;
	fs->cache.fd = fs->cache.dir_fd = fs->cache.lock_fd = -1;
	fs->lock_wait_us = cfg->store_lock_wait_ms > 0 &&
			   cfg->store_lock_wait_ms * 1000L < LOCK_WAIT_US
			   ? cfg->store_lock_wait_ms * 1000L : LOCK_WAIT_US;
	fs->root_path = strdup(cfg->store_path);
	if (fs->root_path == NULL)
		goto fail;
	fs->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (fs->sha256 == NULL) {
		rv = TP_ECRYPTO;
		*err = strdup("cannot load SHA-256 from libcrypto");
		goto fail;
	}
	/* store.user always has a value (the default is _totp); the
	 * reentrant call: totpd opens stores in several threads at once */
	struct passwd pwent, *pw = NULL;
	char pwbuf[4096];
	if (getpwnam_r(cfg->store_user, &pwent, pwbuf, sizeof(pwbuf), &pw) != 0)
		pw = NULL;
	if (pw == NULL) {
		rv = TP_EINVAL;
		if (asprintf(err, "%s: store.user '%s'%s does not exist", cfg->path,
			     cfg->store_user,
			     cfg->store_user_set ? "" : " (the default; set store.user)") < 0)
			*err = NULL;
		goto fail;
	}
	fs->uid = pw->pw_uid;
	fs->gid = pw->pw_gid;
	fs->chown_needed = geteuid() == 0 && fs->uid != 0;
	fs->root_fd = open(cfg->store_path, O_RDONLY | O_DIRECTORY | OPEN_FLAGS);
	if (fs->root_fd < 0) {
		int e = errno;
		rv = from_errno(e);
		if (asprintf(err, "store %s: %s", cfg->store_path,
			     e == ELOOP || e == ENOTDIR ? "is a symbolic link or not a folder"
							: strerror(e)) < 0)
			*err = NULL;
		goto fail;
	}
	if (fstat(fs->root_fd, &st) != 0 ||
	    (st.st_uid != fs->uid && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		rv = TP_EPERM;
		if (asprintf(err, "store %s: must be owned by root or uid %u and not "
			     "writable by group or others", cfg->store_path,
			     (unsigned)fs->uid) < 0)
			*err = NULL;
		goto fail;
	}
	*out = &fs->base;
	return TP_OK;
fail:
	if (fs != NULL)
		files_close(&fs->base);
	if (*err == NULL && rv == TP_ENOMEM)
		*err = strdup("out of memory");
	return rv;
}
