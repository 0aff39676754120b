/* The periodic sweep of a triage worker beyond claiming work: missed deadlines. Finds stages past
 * due, records one deadline_missed event per stage, marks the cases overdue, escalates a case
 * whose lead missed two stages to the mechanism staff's queue, and clears the mark of cases no
 * longer late (all in SQL: triage_deadline_sweep() in sql/007). */
#ifndef REDRESS_TRIAGE_SWEEP_H
#define REDRESS_TRIAGE_SWEEP_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct {
    long long missed;    /* deadline_missed events recorded */
    long long escalated; /* cases escalated to the staff's queue */
    long long cleared;   /* cases no longer overdue */
} SweepStats;

/* One sweep in its own transaction. 0 (counts added to stats), or -1 with the SQLSTATE in err. */
int sweep_deadlines(PGconn *conn, SweepStats *stats, char *err, size_t errlen);

#endif
