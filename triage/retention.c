/* The retention sweep (see retention.h): one statement, so what it erases and its audit events
 * commit together. */
#include "retention.h"

#include <stdlib.h>

#include "log.h"
#include "txn.h"

long retention_sweep_run(PGconn *conn, const Config *cfg, int worker_no)
{
    char err[256];
    char *periods = config_retention_json(cfg);
    if (!periods)
        return 0;
    const char *p[] = {periods};
    PGresult *res = txn_exec(conn, "retention sweep", "SELECT retention_sweep($1::jsonb)", 1, p,
                             PGRES_TUPLES_OK, err, sizeof err);
    free(periods);
    if (!res) {
        LOG_WARN("worker %d: %s", worker_no, err);
        return -1;
    }
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n > 0)
        LOG_INFO("worker %d: retention sweep erased the contact and narrative of %ld grievances",
                 worker_no, n);
    return n;
}
