/* Small transaction helpers shared by batch.c and rescore.c: statements checked by result status
 * with errors reduced to SQLSTATEs (never server text, which can carry column values), a COMMIT
 * that is checked for the ROLLBACK answer of an aborted transaction, and case references. */
#ifndef REDRESS_TRIAGE_TXN_H
#define REDRESS_TRIAGE_TXN_H

#include <libpq-fe.h>
#include <stddef.h>

/* Runs a statement that must succeed with the given status; on failure puts what failed and
 * the SQLSTATE in err and returns NULL. Caller PQclears.  */
PGresult *txn_exec(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, ExecStatusType want, char *err, size_t errlen);
/* COMMIT, checked: an aborted transaction answers COMMIT with ROLLBACK. 0 or -1. */
int txn_commit(PGconn *conn, char *err, size_t errlen);
void txn_rollback(PGconn *conn);
/* 'C' and 10 random Crockford base32 symbols. */
void txn_case_reference(char out[12]);

#endif
