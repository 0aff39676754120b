/* The deadline sweep (sweep.h). */
#include "sweep.h"

#include <stdlib.h>

#include "log.h"
#include "txn.h"

#define SWEEP_MAX_CASES "1000" /* cases per transaction: a long backlog is taken in turns */

int sweep_deadlines(PGconn *conn, SweepStats *stats, char *err, size_t errlen)
{
    enum { SW_MISSED, SW_ESCALATED, SW_CLEARED, SW_N };
    static const char *const cols[SW_N] = {
        [SW_MISSED] = "missed", [SW_ESCALATED] = "escalated", [SW_CLEARED] = "cleared"};
    const char *params[] = {SWEEP_MAX_CASES};
    int col[SW_N];
    PGresult *res =
        txn_exec(conn, "sweeping deadlines",
                 "SELECT missed, escalated, cleared FROM triage_deadline_sweep($1::int)", 1, params,
                 PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -1;
    if (txn_columns(res, "sweeping deadlines", cols, SW_N, col, err, errlen) < 0 ||
        PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    long long missed = strtoll(PQgetvalue(res, 0, col[SW_MISSED]), NULL, 10);
    long long escalated = strtoll(PQgetvalue(res, 0, col[SW_ESCALATED]), NULL, 10);
    long long cleared = strtoll(PQgetvalue(res, 0, col[SW_CLEARED]), NULL, 10);
    PQclear(res);
    if (missed || escalated)
        LOG_INFO("deadlines: %lld stage(s) missed, %lld case(s) escalated to the staff's queue",
                 missed, escalated);
    stats->missed += missed;
    stats->escalated += escalated;
    stats->cleared += cleared;
    return 0;
}
