/* One triage batch, in one transaction: claim up to batch_size untriaged grievances (FOR UPDATE
 * SKIP LOCKED, so workers never share a row), plan them (plan.h: owners, grouping into open or new
 * cases, scores; serialised per cluster key by advisory locks so one event never splits across
 * workers), then write grievances, cases, owners, decisions and audit events with one statement
 * each (arrays and unnest) and COMMIT. Any failure rolls the whole batch back: its grievances are
 * claimed again later. */
#ifndef REDRESS_TRIAGE_BATCH_H
#define REDRESS_TRIAGE_BATCH_H

#include <libpq-fe.h>
#include <stddef.h>

#include "owners.h"
#include "rules.h"

typedef struct {
    long long grievances; /* triaged */
    long long opened;     /* new cases */
    long long joined;     /* grievances that joined an existing case */
    long long decisions;  /* triage_decision rows */
} BatchStats;

/* Runs one batch. Returns the number of grievances triaged (0: nothing was waiting), or -1 with
 * a reason (an SQLSTATE, never server text) in err after rolling back. rules and members are
 * borrowed. */
int batch_run(PGconn *conn, const Rules *rules, const Members *members, int batch_size,
              BatchStats *stats, char *err, size_t errlen);

#endif
