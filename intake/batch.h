/* Group commit. Submissions that arrive within a short window (server batch_window_us), or until
 * batch_max_rows are waiting, are written by one intake_submit() call in one transaction; each
 * submission's callback runs once, after COMMIT was acknowledged (PQcmdStatus "COMMIT") or when
 * the outcome is known to be a failure. The rows travel as one array per column (RowBatch). If a
 * batch fails in the database, its rows are retried one by one so one bad row never fails its
 * neighbours; if it failed for a reason of the moment (deadlock, serialization failure, lock or
 * statement timeout, a lost connection) its rows were not stored and get SUBMIT_UNAVAILABLE at
 * once. Rows go to the database sorted by idempotency key, so two transactions wait on each
 * other's keys in one order and cannot deadlock on them. */
#ifndef REDRESS_INTAKE_BATCH_H
#define REDRESS_INTAKE_BATCH_H

#include <stdbool.h>

#include "db.h"
#include "grievance_row.h"
#include "worker.h"

typedef enum {
    SUBMIT_STORED = 0,  /* committed now */
    SUBMIT_REPLAYED,    /* the idempotency key exists with the same body: the earlier row */
    SUBMIT_CONFLICT,    /* the idempotency key exists with a different body */
    SUBMIT_UNAVAILABLE, /* database down, or the commit's outcome is unknown: retry */
    SUBMIT_FAILED,      /* the database refused this row alone */
} SubmitOutcome;

typedef struct Submission Submission;
typedef void (*SubmissionDoneCb)(Submission *sub, SubmitOutcome outcome);

struct Submission {
    Submission *next;     /* batcher's queue link */
    GrievanceRow row;     /* owned; after STORED/REPLAYED its reference and receipt are the stored
                             row's (an earlier row's when replayed) */
    char received_at[32]; /* RFC 3339 UTC, after STORED/REPLAYED */
    bool solo;            /* retry alone after its batch failed */
    bool answered;        /* the current flight's statement returned this row */
    SubmitOutcome result; /* when answered: STORED, REPLAYED or CONFLICT */
    int attempts;         /* references tried */
    SubmissionDoneCb done;
    void *arg; /* the caller's context */
};

Batcher *batcher_new(Worker *w);
/* Fails every queued submission with SUBMIT_UNAVAILABLE. Accepts NULL. */
void batcher_free(Batcher *b);
/* Queues sub. done runs exactly once, possibly before this returns; after the call the caller
 * touches sub only from done (which frees it). */
void batcher_add(Batcher *b, Submission *sub);
/* Submissions queued or in flight. */
int batcher_pending(const Batcher *b);
/* True when so many submissions wait for the database that new ones should be turned away (429)
 * instead of queueing without bound. */
bool batcher_overloaded(const Batcher *b);

#endif
