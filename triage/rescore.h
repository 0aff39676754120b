/* Re-scoring open cases on request (redress-triage --rescore) after the rules file changed:
 * every open case gets a new decision under the current rules, its score and band are updated,
 * and an audit event records the change. Earlier decisions stay, each with the rules version it
 * was made under. Pages of cases, one transaction each, holding the cluster-key locks so a running
 * worker growing the same case waits instead of racing. */
#ifndef REDRESS_TRIAGE_RESCORE_H
#define REDRESS_TRIAGE_RESCORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "rules.h"

/* Returns the number of cases re-scored, or -1 with a reason (SQLSTATE) in err. */
long long rescore_run(PGconn *conn, const Rules *rules, char *err, size_t errlen);

#endif
