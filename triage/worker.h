/* The triage worker threads: each owns one blocking libpq connection (a triage thread does
 * nothing but database work, so blocking is the simple and right thing here), LISTENs on
 * grievance_new, and runs batches until none is waiting; then it sleeps until a notification, the
 * periodic sweep, or a stop request. A lost connection is reopened with back-off. */
#ifndef REDRESS_TRIAGE_WORKER_H
#define REDRESS_TRIAGE_WORKER_H

#include <stdbool.h>

#include "batch.h"
#include "config.h"
#include "rules.h"

typedef struct WorkerPool WorkerPool;

/* Starts cfg->triage_workers threads. once: each drains the backlog and ends (no LISTEN).
 * rules borrowed until worker_pool_join returns. NULL with a reason in err. */
WorkerPool *worker_pool_start(const Config *cfg, const Rules *rules, bool once, char *err,
                              size_t errlen);
/* Asks every worker to stop after its current batch (async-signal-safe). */
void worker_pool_stop(WorkerPool *pool);
/* Waits for every worker, adds up their counts, frees the pool. Returns 0, or -1 when a worker
 * gave up (in once mode: a batch kept failing). */
int worker_pool_join(WorkerPool *pool, BatchStats *total);

#endif
