/* Transaction helpers of the triage worker (txn.h). */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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
