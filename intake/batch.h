/* Group commit. A Batcher is one commit stream: a thread of its own (server.c) with the submissions
 * connection. Every worker hands its submissions to a stream through its own BatchPort, across
 * threads (a locked inbox), and gets each answer back the same way, so done always runs in the
 * thread that called batcher_add. One stream for all workers (the default) makes batches as large
 * as the load allows, and a batch costs PostgreSQL a fixed part (executor start, commit) besides
 * its rows. Submissions that arrive within a short window (server batch_window_us), or until
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
typedef struct BatchPort BatchPort;
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
    BatchPort *port;      /* the worker it came from: done runs in that worker's thread */
    SubmissionDoneCb done;
    void *arg; /* the caller's context */
};

/* A commit stream on sw's connection (sw->db), run in sw's thread: a Worker without HTTP
 * (server.c). */
Batcher *batcher_new(Worker *sw);
/* Fails every queued submission with SUBMIT_UNAVAILABLE. Accepts NULL. Call after every port of
 * it was closed and its thread has stopped. */
void batcher_free(Batcher *b);
/* Whether the stream has submissions queued or in flight, from any worker (atomic). */
int batcher_pending(const Batcher *b);

/* w's way into stream b (b may be w's own). */
BatchPort *batch_port_new(Worker *w, Batcher *b);
/* Accepts NULL. Submissions still out are dropped unanswered (their clients are gone with the
 * server). */
void batch_port_free(BatchPort *p);
/* Queues sub, from the port's worker thread. done runs exactly once, in that thread, possibly
 * before this returns; after the call the caller touches sub only from done (which frees it). */
void batcher_add(BatchPort *p, Submission *sub);
/* This worker's submissions not yet answered (its own thread). */
int batch_port_outstanding(const BatchPort *p);
/* The port's worker will add nothing more: its stream may stop once every port is closed. */
void batch_port_close(BatchPort *p);
/* Whether any port is still open on the stream (atomic). */
bool batcher_has_ports(const Batcher *b);
/* True when so many submissions wait for the database that new ones should be turned away (429)
 * instead of queueing without bound; any thread. */
bool batcher_overloaded(const BatchPort *p);
/* Whether the port's stream is connected to the database (any thread; a snapshot). */
bool batch_port_connected(const BatchPort *p);

#endif
