#include <string.h>

#include "base32.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t tp_base32_encoded_len(size_t len)
{
	return (len * 8 + 4) / 5;
}

enum tp_status tp_base32_encode(const unsigned char *in, size_t len,
				char *out, size_t outsz)
{
	size_t need = tp_base32_encoded_len(len);
	size_t o = 0;
	unsigned buffer = 0;
	int bits = 0;

	if (outsz < need + 1)
		return TP_EINVAL;
	for (size_t i = 0; i < len; i++) {
		buffer = (buffer << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = alphabet[(buffer >> bits) & 31u];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(buffer << (5 - bits)) & 31u];
	out[o] = '\0';
	return TP_OK;
}

static int symbol_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

enum tp_status tp_base32_decode(const char *in, unsigned char *out,
				size_t outsz, size_t *outlen)
{
	unsigned buffer = 0;
	int bits = 0;
	size_t o = 0, symbols = 0, padding = 0;

	for (const char *c = in; *c != '\0'; c++) {
		if (*c == ' ' || *c == '-')
			continue;
		if (*c == '=') {
			padding++;
			continue;
		}
		if (padding > 0)
			return TP_EINVAL;      /* data after padding */
		int v = symbol_value(*c);
		if (v < 0)
			return TP_EINVAL;
		symbols++;
		buffer = ((buffer << 5) | (unsigned)v) & 0xffffu;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return TP_EINVAL;
			out[o++] = (unsigned char)(buffer >> bits);
		}
	}
	/* Valid group tails are 2, 4, 5 or 7 symbols; the leftover bits of
	 * a canonical encoding are zero. */
	switch (symbols % 8) {
	case 0: case 2: case 4: case 5: case 7:
		break;
	default:
		return TP_EINVAL;
	}
	if (bits > 0 && (buffer & ((1u << bits) - 1u)) != 0)
		return TP_EINVAL;
	if (padding > 0 && (symbols + padding) % 8 != 0)
		return TP_EINVAL;
	*outlen = o;
	return TP_OK;
}
