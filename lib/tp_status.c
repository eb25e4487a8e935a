#include "tp_status.h"

const char *tp_status_str(enum tp_status st)
{
	switch (st) {
	case TP_OK:       return "success";
	case TP_ENOENT:   return "not found";
	case TP_EEXIST:   return "already exists";
	case TP_EINVAL:   return "invalid value";
	case TP_EPERM:    return "refused: unsafe owner, mode, link or symlink";
	case TP_ECORRUPT: return "corrupt or unreadable file";
	case TP_EIO:      return "input/output error";
	case TP_ENOSPC:   return "no space left on the store";
	case TP_EROFS:    return "store is read-only";
	case TP_ENOMEM:   return "out of memory";
	case TP_ECRYPTO:  return "cryptographic library failure";
	case TP_EBUSY:    return "locked by another process";
	}
	return "unknown error";
}
