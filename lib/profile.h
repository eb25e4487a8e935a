/* One TOTP profile: the record the store keeps per (owner uuid, account). */
#ifndef TP_PROFILE_H
#define TP_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <stddef.h>
#include "config.h"
#include "totp.h"

#define TP_SECRET_MAX 64
#define TP_SALT_LEN 16
#define TP_HASH_LEN 32
#define TP_COMMENT_MAX 256
#define TP_EMERGENCY_DIGITS 8
#define TP_FINGERPRINT_HEX (2 * TP_HASH_LEN)

/* Fixed size on purpose: one tp_profile_wipe() clears every secret. */
struct tp_profile {
	char owner_uuid[TP_UUID_LEN + 1];
	char account[TP_NAME_MAX + 2];
	unsigned char secret[TP_SECRET_MAX];
	size_t secret_len;
	struct tp_totp_params totp;
	char comment[TP_COMMENT_MAX + 1];
	bool enabled;
	int64_t created;
	int64_t last_step;          /* last accepted TOTP step; -1: none */
	unsigned failures;          /* consecutive failures */
	int64_t lock_until;         /* Unix time; 0: not locked */
	unsigned char ec_salt[TP_SALT_LEN];
	unsigned ec_count;
	unsigned char ec_hash[TP_EMERGENCY_MAX][TP_HASH_LEN];
	bool ec_spent[TP_EMERGENCY_MAX];
	/* a store that keeps the secret elsewhere (secret_len 0) gives the
	 * secret's fingerprint instead; "" otherwise */
	char fingerprint[TP_FINGERPRINT_HEX + 1];
};

void tp_profile_wipe(struct tp_profile *p);

/* Fresh profile with a random secret of secret_len bytes and n emergency
 * codes; the plaintext codes are written to codes[i] (wipe them after
 * showing).  created is now. */
enum tp_status tp_profile_generate(struct tp_profile *p, const char *owner_uuid,
				   const char *account,
				   const struct tp_totp_params *params,
				   size_t secret_len, unsigned n_codes,
				   char codes[][TP_EMERGENCY_DIGITS + 1]);

/* Append one emergency code (8 digits) to p, stored as its salted hash. */
enum tp_status tp_profile_add_emergency(struct tp_profile *p, const char *code);

/* Hex SHA-256 of the secret key (or the fingerprint a store gave for a
 * profile whose secret it keeps to itself). */
/* len bytes as lower-case hex in out, which holds 2 * len + 1 bytes. */
void tp_hex_encode(const unsigned char *in, size_t len, char *out);

enum tp_status tp_profile_fingerprint(const struct tp_profile *p,
				      char out[TP_FINGERPRINT_HEX + 1]);

/* Try `code` as an unspent emergency code; constant time over all codes.
 * On TP_OK the code's slot index is in *slot (not yet marked spent);
 * TP_EEXIST: it is one of the codes already spent; TP_EINVAL: no match. */
enum tp_status tp_profile_match_emergency(const struct tp_profile *p,
					  const char *code, unsigned *slot);

unsigned tp_profile_emergency_left(const struct tp_profile *p);

/* A new comment: at most TP_COMMENT_MAX bytes of strict UTF-8, without
 * controls (C0, C1), format characters (Unicode category Cf: bidi
 * overrides, zero-width characters...), line/paragraph separators or
 * noncharacters.  Stored records are read with the older, looser rule
 * (no controls) so that a profile saved before still loads. */
bool tp_valid_comment(const char *s);

/* Serialise to / parse from the INI text of a profile file.  Parsing is
 * strict: every key present once, every value in range, nothing unknown. */
enum tp_status tp_profile_to_ini(const struct tp_profile *p, char **text,
				 size_t *len);
/* fd: an open, already-checked profile file (read from offset 0).  Text
 * exactly as tp_profile_to_ini writes it is read by
 * tp_profile_parse_canonical; any other goes to tp_profile_from_fd_ini. */
enum tp_status tp_profile_from_fd(int fd, struct tp_profile *p);
/* The same, with the file's st_size from an fstat of fd just made (or -1
 * if unknown): a first read of exactly that many bytes is then known to
 * be the whole file. */
enum tp_status tp_profile_from_fd_sized(int fd, off_t size, struct tp_profile *p);
/* The reader for any text: iniparser, then every check of the format. */
enum tp_status tp_profile_from_fd_ini(int fd, struct tp_profile *p);
/* The fast reader: true and *p filled only for the exact text
 * tp_profile_to_ini writes; false (*p wiped): not canonical, read it with
 * tp_profile_from_fd_ini.  The values are NUL-terminated in place, so
 * text is modified (and holds the secret: wipe it). */
bool tp_profile_parse_canonical(char *text, size_t len, struct tp_profile *p);
#define TP_FAILURES_MAX 1000000     /* the failure counter saturates here */
#define TP_PROFILE_FILE_MAX 8192    /* larger files are refused as corrupt */

/* otpauth:// URL for authenticator apps (never a third-party chart URL). */
enum tp_status tp_profile_install_url(const struct tp_profile *p,
				      const char *issuer, char **url);

#endif
