/* Result codes of the library.  Every function that can fail returns one of
 * these; callers map them to PAM results or API error codes. */
#ifndef TP_STATUS_H
#define TP_STATUS_H

enum tp_status {
	TP_OK = 0,
	TP_ENOENT,      /* no such profile / file */
	TP_EEXIST,      /* already exists */
	TP_EINVAL,      /* bad input (name, value, code) */
	TP_EPERM,       /* ownership, mode, symlink, link count refused */
	TP_ECORRUPT,    /* file present but unreadable as a profile/config */
	TP_EIO,         /* read/write/fsync/rename failed */
	TP_ENOSPC,      /* disk full or quota */
	TP_EROFS,       /* read-only store */
	TP_ENOMEM,
	TP_ECRYPTO,     /* OpenSSL failure */
	TP_EBUSY        /* a lock held by another process past the wait allowed */
};

const char *tp_status_str(enum tp_status st);

#endif
