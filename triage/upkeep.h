/* Upkeep the triage workers do between batches: the month partitions of grievance and case_event
 * (the coming months made ahead, the months the retention rules let go dropped: sql/016's
 * partition_upkeep()), the retention sweep, which erases the contact and
 * narrative of grievances whose case closed longer ago than their category's [retention] period
 * (retention_sweep() in the database writes each case's 'erased' event), and the guard that ends
 * member sessions holding a transaction open past their role's timeouts even though they SET
 * those timeouts off (member_sessions_reap()). */
#ifndef REDRESS_TRIAGE_UPKEEP_H
#define REDRESS_TRIAGE_UPKEEP_H

#include <libpq-fe.h>

#include "config.h"

/* Runs them all on conn when it is connected and outside a transaction, logging as worker worker_no
 * (counts and SQLSTATEs only); a failure is logged and retried at the next call. */
void upkeep_run(PGconn *conn, const Config *cfg, int worker_no);

#endif
