/* The triage worker threads: each owns one blocking libpq connection (a triage thread does
 * nothing but database work, so blocking is the simple and right thing here), LISTENs on
 * grievance_new, and runs batches until none is waiting; then it sweeps missed deadlines (at most
 * once per sweep interval) and sleeps until a notification, the periodic sweep, or a stop request.
 * A lost connection is reopened with back-off. */
#ifndef REDRESS_TRIAGE_WORKER_H
#define REDRESS_TRIAGE_WORKER_H

#include <stdbool.h>

#include "batch.h"
#include "config.h"
#include "rules.h"
#include "sweep.h"

typedef struct WorkerPool WorkerPool;

/* Starts cfg->triage_workers threads. once: each drains the backlog, sweeps deadlines once and
 * ends (no LISTEN). Takes ownership of rules (even on failure). NULL with a reason in err. */
WorkerPool *worker_pool_start(const Config *cfg, Rules *rules, bool once, char *err, size_t errlen);
/* Replaces the rules (takes ownership; validated by the caller): each worker's next batch uses
 * them, a batch under way finishes with the old ones, freed after it. */
void worker_pool_rules_set(WorkerPool *pool, Rules *rules);
/* True once every worker has ended (in once mode: the backlog is done). */
bool worker_pool_finished(WorkerPool *pool);
/* Asks every worker to stop after its current batch (async-signal-safe). */
void worker_pool_stop(WorkerPool *pool);
/* Waits for every worker, adds up their counts (either may be NULL), frees the pool and its
 * rules. Returns 0, or -1 when a worker gave up (in once mode: a batch kept failing). */
int worker_pool_join(WorkerPool *pool, BatchStats *total, SweepStats *swept);

#endif
