#include <string.h>

#include "config.h"
#include "names.h"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool tp_valid_account(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > TP_NAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '$' && i == n - 1 && i > 0)
			continue;
		if (!name_char(s[i]))
			return false;
	}
	return strstr(s, "..") == NULL;
}

bool tp_valid_owner_name(const char *s)
{
	return tp_valid_account(s);
}

bool tp_valid_uuid(const char *s)
{
	if (s == NULL || strlen(s) != TP_UUID_LEN)
		return false;
	for (size_t i = 0; i < TP_UUID_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}
