/* Blocking connections with keepalives and timeouts. */
#include "pgconn.h"

#include <stdio.h>
#include <string.h>

PGconn *pgconn_open(const Config *cfg, const char *user, const char *application, char *err,
                    size_t errlen)
{
    /* Later keywords override what the expanded conninfo (dbname) says. */
    const char *keys[] = {"dbname",
                          "user",
                          "application_name",
                          "connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          NULL};
    const char *vals[] = {cfg->conninfo, (user && *user) ? user : NULL,
                          application,   "10",
                          "1",           "30",
                          "10",          "3",
                          "30000",       NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        snprintf(err, errlen, "out of memory connecting to the database");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        /* The message may name the host; it carries no grievance data. Keep the first line. */
        const char *msg = PQerrorMessage(conn);
        size_t n = strcspn(msg, "\n");
        snprintf(err, errlen, "cannot connect to the database: %.*s", (int)n, msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

const char *pgconn_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}
