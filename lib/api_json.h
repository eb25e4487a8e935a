/* The API's JSON bodies (jansson): records and the error body. */
#ifndef TP_API_JSON_H
#define TP_API_JSON_H

#include <jansson.h>
#include "api_error.h"
#include "config.h"
#include "profile.h"

/* Fields of a record, as named by the API's fields= parameter. */
enum tp_field {
	TP_F_OWNER_NAME  = 1u << 0,
	TP_F_OWNER_UUID  = 1u << 1,
	TP_F_ACCOUNT     = 1u << 2,
	TP_F_COMMENT     = 1u << 3,
	TP_F_ENABLED     = 1u << 4,
	TP_F_SCOPE       = 1u << 5,
	TP_F_FINGERPRINT = 1u << 6,
	TP_F_LINKS       = 1u << 7,
};
#define TP_F_KEYS (TP_F_OWNER_NAME | TP_F_OWNER_UUID | TP_F_ACCOUNT | TP_F_LINKS)
#define TP_F_ALL  (TP_F_KEYS | TP_F_COMMENT | TP_F_ENABLED | TP_F_SCOPE | TP_F_FINGERPRINT)

/* Parse "comment,enabled" or "*" into a mask (the keys are always added).
 * On TP_EINVAL *bad points into a static copy of the offending name. */
enum tp_status tp_fields_parse(const char *list, unsigned *mask, const char **bad);
/* The same, and *named gets the fields the list names, without the keys
 * (a table shows the owner's uuid only when it was asked for). */
enum tp_status tp_fields_parse_named(const char *list, unsigned *mask,
				     unsigned *named, const char **bad);

/* One record (the API's `totp` object) with the selected fields. */
json_t *tp_json_profile(const struct tp_profile *p, const struct tp_owner *owner,
			unsigned fields);

/* {"error":{"code":"…","message":"…","target":"…"[,"arguments":[…]]}} */
json_t *tp_json_error(enum tp_api_error e, const char *target, const char *detail);

/* The body as the API gives it for Accept: application/json: every
 * "_links" taken out, but the collection's next link (a paging client
 * needs it).  Changes j in place. */
void tp_json_drop_links(json_t *j);

/* "/api/security/login/totps/{owner.uuid}/{account.name}" */
char *tp_profile_href(const char *owner_uuid, const char *account);

#endif
