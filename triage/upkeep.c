/* Upkeep between batches (see upkeep.h): each part is one statement, so what it changes and its
 * audit events commit together. */
#include "upkeep.h"

#include <stdlib.h>

#include "log.h"
#include "txn.h"

/* One statement returning one integer; -1 after logging the SQLSTATE. */
static long upkeep_count(PGconn *conn, const char *what, const char *sql, const char *param,
                         int worker_no)
{
    char err[256];
    const char *p[] = {param};
    PGresult *res = txn_exec(conn, what, sql, param ? 1 : 0, p, PGRES_TUPLES_OK, err, sizeof err);
    if (!res) {
        LOG_WARN("worker %d: %s", worker_no, err);
        return -1;
    }
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* The coming months' partitions, rows of a default partition moved into their month, and the
 * months the retention rules let go (partition_upkeep() in sql/016). */
static void upkeep_partitions(PGconn *conn, const Config *cfg, int worker_no)
{
    char err[256], days[16];
    snprintf(days, sizeof days, "%d", cfg->retention_skeleton_days);
    const char *p[] = {days};
    PGresult *res =
        txn_exec(conn, "partition upkeep", "SELECT made, dropped FROM partition_upkeep($1)", 1, p,
                 PGRES_TUPLES_OK, err, sizeof err);
    if (!res) {
        LOG_WARN("worker %d: %s", worker_no, err);
        return;
    }
    long made = atol(PQgetvalue(res, 0, 0)), dropped = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (made > 0)
        LOG_INFO("worker %d: partition upkeep made %ld month partition(s)", worker_no, made);
    if (dropped > 0)
        LOG_INFO("worker %d: retention dropped %ld month(s) of erased grievances", worker_no,
                 dropped);
}

void upkeep_run(PGconn *conn, const Config *cfg, int worker_no)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
        return;
    long n = upkeep_count(conn, "guarding against stuck sessions", "SELECT member_sessions_reap()",
                          NULL, worker_no);
    if (n > 0)
        LOG_WARN("worker %d: ended %ld member session(s) holding a transaction past their role's "
                 "timeouts",
                 worker_no, n);
    upkeep_partitions(conn, cfg, worker_no);
    char *periods = config_retention_json(cfg);
    if (!periods)
        return;
    n = upkeep_count(conn, "retention sweep", "SELECT retention_sweep($1::jsonb)", periods,
                     worker_no);
    free(periods);
    if (n > 0)
        LOG_INFO("worker %d: retention sweep erased the contact and narrative of %ld grievances",
                 worker_no, n);
}
