#include "api_error.h"

static const struct {
	const char *code;
	const char *message;
} table[TP_API_ERROR_COUNT] = {
	[TP_API_DUPLICATE]           = { "1", "duplicate entry" },
	[TP_API_INVALID]             = { "2", "invalid or missing field" },
	[TP_API_NOT_SUPPORTED]       = { "3", "operation not supported" },
	[TP_API_NO_ENTRY]            = { "4", "entry doesn't exist" },
	[TP_API_INTERNAL]            = { "5", "internal error" },
	[TP_API_PERMISSION]          = { "6", "permission denied" },
	[TP_API_TOTP_NOT_CONFIGURED] = { "144834561", "TOTP is not configured for the user." },
	[TP_API_ENABLED_ADMIN_ONLY]  = { "144834564", "Only users with the admin role are allowed to modify the TOTP status." },
	[TP_API_ENABLED_INVALID]     = { "144834565", "Invalid option for the field -enabled" },
	/* the PATCH page's text: no full stop, unlike 144834561's */
	[TP_API_NOTHING_TO_MODIFY]   = { "144834566", "TOTP is not configured for the user" },
};

const char *tp_api_error_code(enum tp_api_error e)
{
	return table[e].code;
}

const char *tp_api_error_message(enum tp_api_error e)
{
	return table[e].message;
}

enum tp_api_error tp_api_error_from_status(enum tp_status st)
{
	switch (st) {
	case TP_ENOENT:  return TP_API_NO_ENTRY;
	case TP_EEXIST:  return TP_API_DUPLICATE;
	case TP_EINVAL:  return TP_API_INVALID;
	case TP_EPERM:   return TP_API_PERMISSION;
	default:         return TP_API_INTERNAL;
	}
}
