/* base32 both ways.  Decoding arbitrary text must stay inside the output
 * buffer, and whatever it accepts must be the canonical spelling of its
 * bytes (upper case, no separators, no padding) once normalised: encoding
 * the result gives that spelling back.  Encoding arbitrary bytes must
 * decode to the same bytes. */
#include <stdbool.h>

#include "fuzz.h"
#include "base32.h"

#define OUT_MAX 128

/* The input without the separators and padding decode ignores, upper case. */
static char *normalised(const char *in)
{
	char *out = malloc(strlen(in) + 1), *o = out;

	FUZZ_ASSERT(out != NULL);
	for (const char *c = in; *c; c++) {
		if (*c == ' ' || *c == '-' || *c == '=')
			continue;
		*o++ = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : *c;
	}
	*o = '\0';
	return out;
}

static void decode_text(const uint8_t *data, size_t size)
{
	char *in = fuzz_string(data, size);
	/* exactly as large as asked, so ASan catches a write past it */
	size_t outsz = size % (OUT_MAX + 1);
	unsigned char *out = malloc(outsz + 1);
	size_t outlen = (size_t)-1;

	FUZZ_ASSERT(out != NULL);
	if (tp_base32_decode(in, out, outsz, &outlen) == TP_OK) {
		char *canon = normalised(in);
		char *enc = malloc(tp_base32_encoded_len(outlen) + 1);
		FUZZ_ASSERT(outlen <= outsz);
		FUZZ_ASSERT(enc != NULL);
		FUZZ_ASSERT(tp_base32_encode(out, outlen, enc,
					     tp_base32_encoded_len(outlen) + 1) == TP_OK);
		FUZZ_ASSERT(strcmp(enc, canon) == 0);
		free(enc);
		free(canon);
	}
	free(out);
	free(in);
}

static void encode_bytes(const uint8_t *data, size_t size)
{
	size_t need = tp_base32_encoded_len(size) + 1;
	char *enc = malloc(need);
	unsigned char *back = malloc(size + 1);
	size_t backlen = 0;

	FUZZ_ASSERT(enc != NULL && back != NULL);
	/* one byte short is refused, not overrun */
	FUZZ_ASSERT(tp_base32_encode(data, size, enc, need - 1) == TP_EINVAL);
	FUZZ_ASSERT(tp_base32_encode(data, size, enc, need) == TP_OK);
	FUZZ_ASSERT(strlen(enc) == need - 1);
	FUZZ_ASSERT(tp_base32_decode(enc, back, size, &backlen) == TP_OK);
	FUZZ_ASSERT(backlen == size && memcmp(back, data, size) == 0);
	if (size > 0)   /* and a buffer one byte short is refused */
		FUZZ_ASSERT(tp_base32_decode(enc, back, size - 1, &backlen) == TP_EINVAL);
	free(back);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_text(data, size);
	encode_bytes(data, size);
	return 0;
}
