/* The file backend of the profile store:
 *
 *   STORE/                      owned by the store user (or root), 0755 or tighter
 *   STORE/OWNER-UUID/           owned by the store user, 0700
 *   STORE/OWNER-UUID/ACCOUNT.ini   one profile, 0600, one link
 *   STORE/OWNER-UUID/.ACCOUNT.lock the account's lock (flock)
 *   STORE/OWNER-UUID/.ACCOUNT.tmp  the next version while it is written
 *
 * Account names never start with '.', so the dot files cannot collide
 * with profiles.  Nothing is ever opened through a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "names.h"
#include "secret.h"
#include "store.h"

#define OPEN_FLAGS (O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
#define PROFILE_SUFFIX ".ini"
#define LOCK_RETRIES 64
#define LOCK_WAIT_US 10000000L     /* give up on a lock held this long (10 s) */

struct files_store {
	struct tp_store base;
	char *root_path;
	int root_fd;
	uid_t uid;              /* the store user: owner of every file */
	gid_t gid;
	bool chown_needed;      /* we are root writing for another user */
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
				     bool create, int *out)
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
	*out = fd;
	return TP_OK;
}

/* Regular file, store owner, mode 0600, exactly one link. */
static enum tp_status check_file(struct files_store *fs, int fd, const char *owner,
				 const char *name)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return sys_fail(fs, "cannot stat", owner, name);
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

static void file_name(char *buf, size_t len, const char *prefix,
		      const char *account, const char *suffix)
{
	snprintf(buf, len, "%s%s%s", prefix, account, suffix);
}

static enum tp_status read_at(struct files_store *fs, int dirfd, const char *owner,
			      const char *account, struct tp_profile *out)
{
	char name[TP_NAME_MAX + 16];
	enum tp_status st;
	int fd;

	file_name(name, sizeof(name), "", account, PROFILE_SUFFIX);
	fd = openat(dirfd, name, O_RDONLY | OPEN_FLAGS | O_NONBLOCK);
	if (fd < 0)
		return sys_fail(fs, "cannot open", owner, name);
	st = check_file(fs, fd, owner, name);
	if (st == TP_OK) {
		st = tp_profile_from_fd(fd, out);
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
	close(fd);
	return st;
}

static enum tp_status files_get(struct tp_store *s, const char *owner,
				const char *account, struct tp_profile *out)
{
	struct files_store *fs = files(s);
	int dirfd;
	enum tp_status st = open_owner_dir(fs, owner, false, &dirfd);

	if (st != TP_OK)
		return st;
	st = read_at(fs, dirfd, owner, account, out);
	close(dirfd);
	return st;
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
		st = check_file(fs, fd, owner, name);
		if (st != TP_OK) {
			close(fd);
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
		if (waited_us >= LOCK_WAIT_US) {
			detail(fs, "%s/%s/%s: still locked after %ld s, giving up",
			       fs->root_path, owner, name, LOCK_WAIT_US / 1000000);
			return TP_EIO;
		}
		struct timespec ts = { 0, nap_us * 1000 };
		nanosleep(&ts, NULL);
		waited_us += nap_us;
		if (nap_us < 20000)
			nap_us *= 2;
	}
	return TP_OK;
}

/* Take the account's lock.  The lock file may be unlinked by a delete while
 * we wait for it, so after flock() succeeds we make sure the name still
 * points at the inode we hold; otherwise we retry with the new file. */
static enum tp_status lock_account(struct files_store *fs, int dirfd,
				   const char *owner, const char *account, int *out)
{
	char name[TP_NAME_MAX + 16];

	file_name(name, sizeof(name), ".", account, ".lock");
	for (int attempt = 0; attempt < LOCK_RETRIES; attempt++) {
		struct stat held, named;
		int fd = -1;
		enum tp_status st = open_lock_file(fs, dirfd, owner, name, &fd);

		if (st != TP_OK)
			return st;
		st = flock_bounded(fs, fd, owner, name);
		if (st != TP_OK) {
			close(fd);
			return st;
		}
		if (fstat(fd, &held) == 0 &&
		    fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
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

static enum tp_status files_update(struct tp_store *s, const char *owner,
				   const char *account, tp_update_fn fn, void *ctx)
{
	struct files_store *fs = files(s);
	struct tp_profile p;
	enum tp_update_action action;
	enum tp_status st, fail = TP_OK;
	bool exists, removed = false;
	int dirfd = -1, lockfd = -1;

	st = open_owner_dir(fs, owner, true, &dirfd);
	if (st != TP_OK)
		return st;
	st = lock_account(fs, dirfd, owner, account, &lockfd);
	if (st != TP_OK)
		goto out;
	/* re-read now that nobody else can write it */
	st = read_at(fs, dirfd, owner, account, &p);
	if (st == TP_ENOENT) {
		memset(&p, 0, sizeof(p));
		memcpy(p.owner_uuid, owner, TP_UUID_LEN + 1);
		strcpy(p.account, account);
		exists = false;
	} else if (st != TP_OK) {
		goto out;
	} else {
		exists = true;
	}
	action = fn(&p, exists, ctx, &fail);
	if (fail != TP_OK)
		st = fail;
	else if (action == TP_UPDATE_WRITE)
		st = write_at(fs, dirfd, owner, &p);
	else if (action == TP_UPDATE_DELETE)
		st = exists ? remove_at(fs, dirfd, owner, account) : TP_ENOENT;
	else
		st = TP_OK;
	removed = st == TP_OK && action == TP_UPDATE_DELETE;
	tp_profile_wipe(&p);
out:
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

	st = open_owner_dir(fs, owner, false, &dirfd);
	if (st != TP_OK)
		return st;
	st = lock_account(fs, dirfd, owner, account, &lockfd);
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
	enum tp_status st = open_owner_dir(fs, owner, false, &dirfd);

	if (st == TP_ENOENT)
		return TP_OK;          /* no profile of this owner yet */
	if (st != TP_OK)
		return st;
	st = read_names(dirfd, true, &names, &n);
	for (size_t i = 0; st == TP_OK && i < n && !*stop; i++) {
		struct tp_profile p;
		if (read_at(fs, dirfd, owner, names[i], &p) != TP_OK) {
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

	if (fs->root_fd >= 0)
		close(fs->root_fd);
	free(fs->root_path);
	free(fs->base.detail);
	free(fs);
}

static const struct tp_store_ops files_ops = {
	.get = files_get,
	.update = files_update,
	.remove = files_remove,
	.list = files_list,
	.close = files_close,
};

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
	fs->root_path = strdup(cfg->store_path);
	if (fs->root_path == NULL)
		goto fail;
	if (cfg->store_user != NULL) {
		struct passwd *pw = getpwnam(cfg->store_user);
		if (pw == NULL) {
			rv = TP_EINVAL;
			if (asprintf(err, "%s: store.user '%s' does not exist",
				     cfg->path, cfg->store_user) < 0)
				*err = NULL;
			goto fail;
		}
		fs->uid = pw->pw_uid;
		fs->gid = pw->pw_gid;
	} else {
		fs->uid = geteuid();
		fs->gid = getegid();
	}
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
