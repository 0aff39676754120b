/* Blocking connections with keepalives and timeouts. */
#include "pgconn.h"

#include <stdio.h>
#include <string.h>

void pgconn_params(PgConnParams *p, const Config *cfg, const char *user, const char *application)
{
    /* Later keywords override what the expanded conninfo (dbname) says. */
    static const char *const keys[] = {"dbname",
                                       "user",
                                       "application_name",
                                       "connect_timeout",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       NULL};
    snprintf(p->timeout, sizeof p->timeout, "%d", cfg->db_timeout_s);
    const char *vals[] = {cfg->conninfo, (user && *user) ? user : NULL,
                          application,   p->timeout,
                          "1",           "10",
                          "5",           "3",
                          "15000",       NULL};
    memcpy(p->keys, keys, sizeof keys);
    memcpy(p->vals, vals, sizeof vals);
}

PGconn *pgconn_open(const Config *cfg, const char *user, const char *application, char *err,
                    size_t errlen)
{
    PgConnParams p;
    pgconn_params(&p, cfg, user, application);
    PGconn *conn = PQconnectdbParams(p.keys, p.vals, 1);
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
