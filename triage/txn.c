/* Transaction helpers of the triage worker (txn.h). */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "pgconn.h"

/* Why a call failed when the server gave no SQLSTATE: "connection lost", or otherwise. */
static const char *txn_conn_word(PGconn *conn, const char *otherwise)
{
    return PQstatus(conn) == CONNECTION_OK ? otherwise : "connection lost";
}

static const char *txn_state(PGconn *conn, const PGresult *res)
{
    const char *state = pgconn_sqlstate(res);
    return state[0] ? state : txn_conn_word(conn, "none");
}

PGresult *txn_exec(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        snprintf(err, errlen, "%s failed (SQLSTATE %s)", what, txn_state(conn, res));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* The row count a command result reports must be expect (unless TXN_ANY). */
static int txn_count_check(const PGresult *res, const char *what, long long expect, char *err,
                           size_t errlen)
{
    if (expect == TXN_ANY)
        return 0;
    unsigned long long got = strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
    if (got != (unsigned long long)expect) {
        snprintf(err, errlen, "%s: %llu of %lld rows", what, got, expect);
        return -1;
    }
    return 0;
}

int txn_exec_unnest(PGconn *conn, TxnPipe *pipe, const char *what, const char *head,
                    const TxnColumn *cols, SqlArray *arrays, int ncols, const char *tail,
                    const char *const *scalars, int nscalars, long long expect, char *err,
                    size_t errlen)
{
    enum { MAX_PARAMS = 32 };
    const char *params[MAX_PARAMS];
    char sql[8192], names[1024];
    if (ncols + nscalars > MAX_PARAMS)
        BUG("%s: %d parameters", what, ncols + nscalars);
    size_t off = (size_t)snprintf(sql, sizeof sql, "%sunnest(", head), noff = 0;
    for (int i = 0; i < nscalars; i++)
        params[i] = scalars[i];
    for (int i = 0; i < ncols && off < sizeof sql && noff < sizeof names; i++) {
        params[nscalars + i] = sqlarray_text(&arrays[i]);
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%s$%d::%s[]", i ? ", " : "",
                                nscalars + i + 1, cols[i].type);
        noff += (size_t)snprintf(names + noff, sizeof names - noff, "%s%s", i ? ", " : "",
                                 cols[i].name);
    }
    if (off < sizeof sql)
        off += (size_t)snprintf(sql + off, sizeof sql - off, ") AS u(%s)%s", names, tail);
    if (off >= sizeof sql || noff >= sizeof names)
        BUG("%s: statement longer than %zu bytes", what, sizeof sql);
    return txn_send(conn, pipe, what, sql, nscalars + ncols, params, PGRES_COMMAND_OK, expect, err,
                    errlen);
}

int txn_send(PGconn *conn, TxnPipe *pipe, const char *what, const char *sql, int nparams,
             const char *const *params, ExecStatusType want, long long expect, char *err,
             size_t errlen)
{
    if (pipe) {
        if (txn_pipe_exec(conn, pipe, what, sql, nparams, params, want, NULL, err, errlen) < 0)
            return -1;
        txn_pipe_expect(pipe, expect);
        return 0;
    }
    PGresult *res = txn_exec(conn, what, sql, nparams, params, want, err, errlen);
    if (!res)
        return -1;
    int rc = txn_count_check(res, what, expect, err, errlen);
    PQclear(res);
    return rc;
}

int txn_pipe_begin(PGconn *conn, TxnPipe *pipe, char *err, size_t errlen)
{
    pipe->n = 0;
    pipe->failed = false;
    if (PQenterPipelineMode(conn) != 1) {
        snprintf(err, errlen, "entering pipeline mode failed");
        return -1;
    }
    return 0;
}

int txn_pipe_exec(PGconn *conn, TxnPipe *pipe, const char *what, const char *sql, int nparams,
                  const char *const *params, ExecStatusType want, PGresult **keep, char *err,
                  size_t errlen)
{
    if (pipe->n >= TXN_PIPE_MAX)
        BUG("%s: more than %d statements in a pipeline", what, TXN_PIPE_MAX);
    if (keep)
        *keep = NULL;
    if (PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) != 1) {
        snprintf(err, errlen, "%s failed (sending: %s)", what, txn_conn_word(conn, "refused"));
        pipe->failed = true;
        return -1;
    }
    pipe->what[pipe->n] = what;
    pipe->want[pipe->n] = want;
    pipe->expect[pipe->n] = TXN_ANY;
    pipe->keep[pipe->n++] = keep;
    return 0;
}

void txn_pipe_expect(TxnPipe *pipe, long long rows)
{
    if (pipe->n > 0)
        pipe->expect[pipe->n - 1] = rows;
}

int txn_pipe_end(PGconn *conn, TxnPipe *pipe, char *err, size_t errlen)
{
    int rc = pipe->failed ? -1 : 0; /* then err already says why */
    if (PQpipelineSync(conn) != 1 && rc == 0) {
        snprintf(err, errlen, "pipeline sync failed (%s)", txn_conn_word(conn, "refused"));
        rc = -1;
    }
    /* One result and a NULL per statement sent, then the sync's own result. A statement after
     * a failed one answers PGRES_PIPELINE_ABORTED; the first failure is the one reported. */
    for (int i = 0; i < pipe->n && rc == 0; i++) {
        PGresult *res = PQgetResult(conn);
        if (!res) {
            snprintf(err, errlen, "%s failed (no result: %s)", pipe->what[i],
                     txn_conn_word(conn, "none"));
            rc = -1;
            break;
        }
        if (PQresultStatus(res) != pipe->want[i]) {
            snprintf(err, errlen, "%s failed (SQLSTATE %s)", pipe->what[i], txn_state(conn, res));
            rc = -1;
        } else
            rc = txn_count_check(res, pipe->what[i], pipe->expect[i], err, errlen);
        if (rc == 0 && pipe->keep[i])
            *pipe->keep[i] = res;
        else
            PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) /* the end of this statement's results */
            PQclear(res);
    }
    /* Whatever is left, up to the sync (after a failure, the aborted statements' answers). */
    for (int nulls = 0; PQstatus(conn) == CONNECTION_OK && nulls < 2;) {
        PGresult *res = PQgetResult(conn);
        if (!res) {
            nulls++;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(res);
        PQclear(res);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(conn) != 1 && rc == 0) {
        snprintf(err, errlen, "leaving pipeline mode failed");
        rc = -1;
    }
    pipe->n = 0;
    return rc;
}

int txn_columns(const PGresult *res, const char *what, const char *const *names, int n, int *idx,
                char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        if ((idx[i] = PQfnumber(res, names[i])) < 0) {
            snprintf(err, errlen, "%s: no column %s in the result", what, names[i]);
            return -1;
        }
    return 0;
}

int txn_commit(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = txn_exec(conn, "COMMIT", "COMMIT", 0, NULL, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        return -1;
    int ok = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (!ok) {
        snprintf(err, errlen, "COMMIT answered ROLLBACK");
        return -1;
    }
    return 0;
}

void txn_rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

void txn_case_reference(char out[12])
{
    static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char rnd[10];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        abort(); /* the kernel's generator does not fail for 10 bytes */
    out[0] = 'C';
    for (int i = 0; i < 10; i++)
        out[1 + i] = crockford[rnd[i] & 31];
    out[11] = '\0';
}
