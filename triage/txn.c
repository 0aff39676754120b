/* Transaction helpers of the triage worker (txn.h). */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "pgconn.h"

PGresult *txn_exec(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params, ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        const char *state = pgconn_sqlstate(res);
        snprintf(err, errlen, "%s failed (SQLSTATE %s)", what,
                 state[0] ? state : (PQstatus(conn) == CONNECTION_OK ? "none" : "connection lost"));
        PQclear(res);
        return NULL;
    }
    return res;
}

int txn_exec_unnest(PGconn *conn, const char *what, const char *head, const TxnColumn *cols,
                    SqlArray *arrays, int ncols, const char *tail, const char *const *scalars,
                    int nscalars, unsigned long *affected, char *err, size_t errlen)
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
    PGresult *res =
        txn_exec(conn, what, sql, nscalars + ncols, params, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        return -1;
    if (affected)
        *affected = strtoul(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
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
