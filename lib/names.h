/* Names that end up in paths: refuse anything that is not a plain login
 * name, so no profile can be addressed outside its owner's folder. */
#ifndef TP_NAMES_H
#define TP_NAMES_H

#include <stdbool.h>

/* Login name: 1..32 of [A-Za-z0-9._-], not starting with '-' or '.',
 * optionally ending in '$'.  No '/', no "..", no control characters. */
bool tp_valid_account(const char *s);

/* Lower-case canonical UUID 8-4-4-4-12. */
bool tp_valid_uuid(const char *s);

/* SVM/cluster name: same rules as an account name. */
bool tp_valid_owner_name(const char *s);

#endif
