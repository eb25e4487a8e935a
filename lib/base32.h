/* RFC 4648 base32 (the alphabet authenticator apps use for TOTP secrets). */
#ifndef TP_BASE32_H
#define TP_BASE32_H

#include <stddef.h>
#include "tp_status.h"

/* Encode len bytes to upper-case base32 without '=' padding.  out must
 * hold tp_base32_encoded_len(len) + 1 bytes. */
size_t tp_base32_encoded_len(size_t len);
enum tp_status tp_base32_encode(const unsigned char *in, size_t len,
				char *out, size_t outsz);

/* Decode: accepts upper or lower case, ignores spaces and dashes, accepts
 * optional trailing '=' padding; anything else (other characters, padding
 * in the middle, impossible lengths, non-zero trailing bits) is TP_EINVAL.
 * *outlen receives the number of bytes written. */
enum tp_status tp_base32_decode(const char *in, unsigned char *out,
				size_t outsz, size_t *outlen);

#endif
