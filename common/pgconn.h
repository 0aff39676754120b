/* Blocking PostgreSQL connections for the triage worker and redressctl (the intake server uses
 * the non-blocking adapter in db.h). Adds keepalive and timeout settings so a network cut does not
 * leave a program waiting forever. */
#ifndef REDRESS_PGCONN_H
#define REDRESS_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"

/* The connection keywords every program uses: cfg->conninfo (expanded), the role, the
 * application name, and keepalive/timeout settings so a network cut without RST is noticed.
 * Strings are borrowed from the arguments, or held in the struct itself. */
typedef struct {
    const char *keys[10];
    const char *vals[10];
    char timeout[16];
} PgConnParams;

void pgconn_params(PgConnParams *p, const Config *cfg, const char *user, const char *application);

/* Connects with cfg->conninfo as role user (NULL or "": conninfo's or libpq's environment default,
 * e.g. PGUSER). Returns the connection (caller PQfinish-es) or NULL with a reason in err that
 * carries no server message text. */
PGconn *pgconn_open(const Config *cfg, const char *user, const char *application, char *err,
                    size_t errlen);

/* The SQLSTATE of a failed result, or "" when there is none. Use this, never the message text,
 * in logs: messages can carry column values. */
const char *pgconn_sqlstate(const PGresult *res);

#endif
