/* Small transaction helpers shared by batch.c and rescore.c: statements checked by result status
 * with errors reduced to SQLSTATEs (never server text, which can carry column values), a COMMIT
 * that is checked for the ROLLBACK answer of an aborted transaction, and case references. */
#ifndef REDRESS_TRIAGE_TXN_H
#define REDRESS_TRIAGE_TXN_H

#include <libpq-fe.h>
#include <stdbool.h>
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

/* Statements sent without waiting for their results (libpq pipeline mode), between
 * txn_pipe_begin and txn_pipe_end: the server runs one while the client builds the next, and a
 * batch waits for the server a few times instead of once per statement (each wait is a wake-up
 * of both processes, which on a busy machine costs more than the statement). The statements of
 * a pipeline belong to the caller's transaction (a sync does not commit inside BEGIN); what each
 * is, what it must return and how many rows it must affect are kept here until it is read. */
enum { TXN_PIPE_MAX = 16 };
#define TXN_ANY (-1LL) /* no row count expected */
typedef struct {
    int n;
    bool failed; /* a statement could not be sent: its error is the one reported */
    const char *what[TXN_PIPE_MAX];
    ExecStatusType want[TXN_PIPE_MAX];
    long long expect[TXN_PIPE_MAX];
    PGresult **keep[TXN_PIPE_MAX]; /* where the result goes (caller PQclears), or NULL */
} TxnPipe;

/* Enters pipeline mode. 0, or -1 with err. */
int txn_pipe_begin(PGconn *conn, TxnPipe *pipe, char *err, size_t errlen);
/* Sends a statement that must end with status want; its result is handed to *keep at
 * txn_pipe_end when keep is not NULL (*keep is set to NULL here). 0, or -1 with err when even
 * sending failed, which the pipe remembers (send nothing more; txn_pipe_end returns -1). */
int txn_pipe_exec(PGconn *conn, TxnPipe *pipe, const char *what, const char *sql, int nparams,
                  const char *const *params, ExecStatusType want, PGresult **keep, char *err,
                  size_t errlen);
/* The statement last sent into the pipe must affect exactly rows rows (txn_pipe_end checks). */
void txn_pipe_expect(TxnPipe *pipe, long long rows);
/* Sends a sync, reads every result in order and leaves pipeline mode. 0 when each statement
 * was sent, succeeded and affected the rows it had to; -1 with err naming the first that did not
 * (after a failed send, err stays as that send left it; the
 * transaction is then aborted or must be rolled back: the caller never commits after -1, and
 * results kept so far are the caller's to PQclear either way). */
int txn_pipe_end(PGconn *conn, TxnPipe *pipe, char *err, size_t errlen);

/* A statement that must end with status want and affect expect rows (or any number: TXN_ANY).
 * With pipe NULL it runs at once: 0, or -1 with err. With a pipe it is only sent (-1 with err if
 * even that failed) and txn_pipe_end checks it. */
int txn_send(PGconn *conn, TxnPipe *pipe, const char *what, const char *sql, int nparams,
             const char *const *params, ExecStatusType want, long long expect, char *err,
             size_t errlen);
/* txn_send of head || "unnest($k::type[], ...) AS u(name, ...)" || tail, a command, with the
 * scalars as $1..$nscalars and the arrays' texts after them. */
int txn_exec_unnest(PGconn *conn, TxnPipe *pipe, const char *what, const char *head,
                    const TxnColumn *cols, SqlArray *arrays, int ncols, const char *tail,
                    const char *const *scalars, int nscalars, long long expect, char *err,
                    size_t errlen);
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
