/* libpq, loaded only when the PostgreSQL store is used.
 *
 * Linking libpq would make every process that loads the PAM module load
 * it too, with the twenty libraries it needs (Kerberos, LDAP, SASL,
 * GnuTLS, ...): about 3 ms and 7 MB more for every login under sshd, on
 * the file store as well.  So nothing links it: the first use of the
 * PostgreSQL store (reading its conninfo, opening it) loads libpq.so.5
 * with dlopen, and the files that call libpq (store_pg.c,
 * pg_conninfo.c) include this header after <libpq-fe.h>, which turns each
 * PQ* call into a call through the table filled then.
 *
 * A PQ* call before tp_pq_load() succeeded is a bug: every path into
 * those two files starts with tp_pq_load() (tp_conninfo_problem,
 * tp_conninfo_build; nothing else there is reachable before them). */
#ifndef TP_PQ_DL_H
#define TP_PQ_DL_H

#include <stddef.h>
#include <libpq-fe.h>

#define TP_PQ_FUNCS(X) \
	X(PQclear) X(PQconnectdbParams) X(PQconninfoFree) X(PQconninfoParse) \
	X(PQconsumeInput) X(PQerrorMessage) X(PQfinish) X(PQfreemem) \
	X(PQgetResult) X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQisBusy) \
	X(PQnfields) X(PQntuples) X(PQresultErrorField) X(PQresultStatus) \
	X(PQsendQueryParams) X(PQsetNoticeProcessor) X(PQsocket) X(PQstatus) \
	X(PQuser) X(PQsendQuery) X(PQescapeLiteral) X(PQgetCancel) X(PQcancel) \
	X(PQfreeCancel) X(PQtransactionStatus) X(PQhost) X(PQport)

#define TP_PQ_MEMBER(f) __typeof__(f) *f;
struct tp_pq_table {
	TP_PQ_FUNCS(TP_PQ_MEMBER)
};
#undef TP_PQ_MEMBER

extern struct tp_pq_table tp_pq;

/* 0 once libpq is loaded (the first call loads it); -1 if it cannot be,
 * with why in why[whylen]. */
int tp_pq_load(char *why, size_t whylen);

#ifndef TP_PQ_DL_SELF
#define PQclear (*tp_pq.PQclear)
#define PQconnectdbParams (*tp_pq.PQconnectdbParams)
#define PQconninfoFree (*tp_pq.PQconninfoFree)
#define PQconninfoParse (*tp_pq.PQconninfoParse)
#define PQconsumeInput (*tp_pq.PQconsumeInput)
#define PQerrorMessage (*tp_pq.PQerrorMessage)
#define PQfinish (*tp_pq.PQfinish)
#define PQfreemem (*tp_pq.PQfreemem)
#define PQgetResult (*tp_pq.PQgetResult)
#define PQgetisnull (*tp_pq.PQgetisnull)
#define PQgetlength (*tp_pq.PQgetlength)
#define PQgetvalue (*tp_pq.PQgetvalue)
#define PQisBusy (*tp_pq.PQisBusy)
#define PQnfields (*tp_pq.PQnfields)
#define PQntuples (*tp_pq.PQntuples)
#define PQresultErrorField (*tp_pq.PQresultErrorField)
#define PQresultStatus (*tp_pq.PQresultStatus)
#define PQsendQueryParams (*tp_pq.PQsendQueryParams)
#define PQsetNoticeProcessor (*tp_pq.PQsetNoticeProcessor)
#define PQsocket (*tp_pq.PQsocket)
#define PQstatus (*tp_pq.PQstatus)
#define PQuser (*tp_pq.PQuser)
#define PQsendQuery (*tp_pq.PQsendQuery)
#define PQescapeLiteral (*tp_pq.PQescapeLiteral)
#define PQgetCancel (*tp_pq.PQgetCancel)
#define PQcancel (*tp_pq.PQcancel)
#define PQfreeCancel (*tp_pq.PQfreeCancel)
#define PQtransactionStatus (*tp_pq.PQtransactionStatus)
#define PQhost (*tp_pq.PQhost)
#define PQport (*tp_pq.PQport)
#endif

#endif
