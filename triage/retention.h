/* The retention sweep: erases the contact and narrative of grievances whose case closed longer
 * ago than their category's [retention] period, by calling retention_sweep() in the database
 * (sql/006_integrity.sql), which writes each case's 'erased' event. */
#ifndef REDRESS_TRIAGE_RETENTION_H
#define REDRESS_TRIAGE_RETENTION_H

#include <libpq-fe.h>

#include "config.h"

/* One sweep on conn (outside a transaction), logged as worker worker_no's: the number of
 * grievances erased, 0 when retention is off or nothing is due, or -1 (logged with its SQLSTATE;
 * the next sweep tries again). */
long retention_sweep_run(PGconn *conn, const Config *cfg, int worker_no);

#endif
