/* Small transaction helpers shared by batch.c and rescore.c: statements checked by result status
 * with errors reduced to SQLSTATEs (never server text, which can carry column values), a COMMIT
 * that is checked for the ROLLBACK answer of an aborted transaction, and case references. */
#ifndef REDRESS_TRIAGE_TXN_H
#define REDRESS_TRIAGE_TXN_H

#include <libpq-fe.h>
#include <stddef.h>

#include "sqlarray.h"

/* Runs a statement that must succeed with the given status; on failure puts what failed and
 * the SQLSTATE in err and returns NULL. Caller PQclears.  */
PGresult *txn_exec(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, ExecStatusType want, char *err, size_t errlen);
/* A column of an unnest() over array parameters: the statement refers to it as u.name, the
 * caller fills the SqlArray of the same index. */
typedef struct {
    const char *name;
    const char *type; /* element type: int8, text, numeric, ... */
} TxnColumn;

/* Runs head || "unnest($k::type[], ...) AS u(name, ...)" || tail with the scalars as $1..$nscalars
 * and the arrays' texts after them, expecting a command result. 0, with the rows affected in
 * *affected when not NULL; -1 with err. */
int txn_exec_unnest(PGconn *conn, const char *what, const char *head, const TxnColumn *cols,
                    SqlArray *arrays, int ncols, const char *tail, const char *const *scalars,
                    int nscalars, unsigned long *affected, char *err, size_t errlen);
/* Finds result columns by name (PQfnumber once per result): idx[i] for names[i]. 0, or -1 with
 * the missing name in err (a programmer error in the statement, reported rather than read
 * from the wrong column). */
int txn_columns(const PGresult *res, const char *what, const char *const *names, int n, int *idx,
                char *err, size_t errlen);
/* COMMIT, checked: an aborted transaction answers COMMIT with ROLLBACK. 0 or -1. */
int txn_commit(PGconn *conn, char *err, size_t errlen);
void txn_rollback(PGconn *conn);
/* 'C' and 10 random Crockford base32 symbols. */
void txn_case_reference(char out[12]);

#endif
