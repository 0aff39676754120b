/* What batch.c and rescore.c both write, written one way: the cluster-key locks (taken in one
 * global order), the deadlines of a band (tightened, never relaxed), and the triage decisions and
 * audit events of the cases a transaction scored. Statements that use these take the rules
 * version as $1 and the deadlines (rules_deadlines_literal) as $2. */
#ifndef REDRESS_TRIAGE_CASEWRITE_H
#define REDRESS_TRIAGE_CASEWRITE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "score.h"
#include "sqlarray.h"
#include "txn.h"

/* The advisory lock class of cluster keys: pg_advisory_xact_lock(CASEWRITE_LOCK_CLASS, id). The
 * two-key form never collides with single-key locks on case ids. */
#define CASEWRITE_LOCK_CLASS 1953653345 /* 'tria' */

/* Locks the cluster keys ids (ascending and distinct: cluster_lock_ids_sort) for the rest of the
 * transaction: at once (pipe NULL), or sent into the pipe, where the statements after it run
 * once the locks are held. 0, or -1 with err. */
int casewrite_lock_keys(PGconn *conn, TxnPipe *pipe, const int32_t *ids, size_t n, char *err,
                        size_t errlen);

/* SET clause of an UPDATE of remedy_case c FROM an unnest u with columns band and danger: each
 * deadline moves to that of the band (or of immediate danger) counted from opening, when that is
 * earlier. Deadlines already promised are kept; case_due() is in sql/007. */
#define CASEWRITE_DEADLINES_TIGHTEN                                                                \
    "ack_due = least(c.ack_due, case_due(c.opened_at, $2::int[], u.band, u.danger, 1)), "          \
    "response_due = least(c.response_due, case_due(c.opened_at, $2::int[], u.band, u.danger, "     \
    "2)), "                                                                                        \
    "remedy_due = least(c.remedy_due, case_due(c.opened_at, $2::int[], u.band, u.danger, 3)) "

/* Decisions and events gathered over a transaction, inserted by casewrite_flush. */
enum {
    CW_DEC_CASE,
    CW_DEC_GRIEVANCE,
    CW_DEC_SCORE,
    CW_DEC_BAND,
    CW_DEC_COMP,
    CW_DEC_FIRED,
    CW_DEC_N
};
enum { CW_EV_CASE, CW_EV_ACTION, CW_EV_STATUS, CW_EV_NOTE, CW_EV_N };
typedef struct {
    SqlArray dec[CW_DEC_N];
    SqlArray ev[CW_EV_N];
} CaseWrites;

void casewrite_init(CaseWrites *w);
void casewrite_free(CaseWrites *w);
/* A triage_decision of case_id from s; grievance_id 0 when no grievance caused it (re-scoring). */
void casewrite_decision(CaseWrites *w, long long case_id, long long grievance_id, const Score *s);
/* A case_event; to_status may be NULL. */
void casewrite_event(CaseWrites *w, long long case_id, const char *action, const char *to_status,
                     const char *note);
size_t casewrite_decisions(const CaseWrites *w);
/* Inserts what was gathered under the rules' version: at once (pipe NULL) or sent into the pipe
 * (txn_exec_unnest). 0, or -1 with err. */
int casewrite_flush(PGconn *conn, TxnPipe *pipe, CaseWrites *w, const Rules *rules, char *err,
                    size_t errlen);

/* The scalar parameters every casewrite statement starts with: $1 version, $2 deadlines. */
typedef struct {
    const char *params[2];
    char deadlines[160];
} CaseWriteScalars;
void casewrite_scalars(const Rules *rules, CaseWriteScalars *out);

#endif
