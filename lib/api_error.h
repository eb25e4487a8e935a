/* The API's error codes: one table (code, message) used by every path that
 * reports an error to a user, in text or as the API's JSON error body. */
#ifndef TP_API_ERROR_H
#define TP_API_ERROR_H

#include "tp_status.h"

enum tp_api_error {
	TP_API_DUPLICATE = 0,        /* 1 */
	TP_API_INVALID,              /* 2 */
	TP_API_NOT_SUPPORTED,        /* 3 */
	TP_API_NO_ENTRY,             /* 4 */
	TP_API_INTERNAL,             /* 5 */
	TP_API_PERMISSION,           /* 6 */
	TP_API_TOTP_NOT_CONFIGURED,  /* 144834561 */
	TP_API_ENABLED_ADMIN_ONLY,   /* 144834564 */
	TP_API_ENABLED_INVALID,      /* 144834565 */
	TP_API_NOTHING_TO_MODIFY,    /* 144834566 */
	TP_API_ERROR_COUNT
};

const char *tp_api_error_code(enum tp_api_error e);
const char *tp_api_error_message(enum tp_api_error e);

/* The API error that a library failure stands for. */
enum tp_api_error tp_api_error_from_status(enum tp_status st);

#endif
