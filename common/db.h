/* The non-blocking PostgreSQL adapter of the intake server: one libpq connection driven by a
 * libevent loop, in pipeline mode, never blocking the thread. Work is submitted as jobs: a few
 * queries sent back to back and ended by a sync point; results come back in order, one callback
 * per result, then one completion callback. The adapter PQclear-s every result.
 * On a lost connection or a job unanswered for cfg->db_timeout_s, every job in flight completes
 * with DB_FAILED (its outcome unknown) and the adapter reconnects with back-off. */
#ifndef REDRESS_DB_H
#define REDRESS_DB_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "config.h"

typedef struct Db Db;

typedef enum {
    DB_OK = 0, /* every query answered and the sync point reached (results may still be errors) */
    DB_FAILED, /* connection lost or timed out: the outcome of the job is unknown */
} DbStatus;

typedef struct {
    const char *sql;
    int nparams;
    const char *const *params; /* text parameters, borrowed until the job completes */
    const int *lengths;        /* NULL, or each parameter's length where formats says binary */
    const int *formats;        /* NULL (all text), or 1 for a binary parameter (a large bytea) */
} DbQuery;

/* res is borrowed for the call; index is the query's position in the job. */
typedef void (*DbResultCb)(void *arg, int index, const PGresult *res);
typedef void (*DbDoneCb)(void *arg, DbStatus status);

/* Starts connecting at once as role user (NULL or "": conninfo's default). Never NULL. */
Db *db_new(struct event_base *base, const Config *cfg, const char *user, const char *application);
/* Fails every job still in flight with DB_FAILED, then closes. Accepts NULL. */
void db_free(Db *db);
/* Closes the connection now and does not reconnect: every job in flight completes with DB_FAILED
 * from the event loop (used at shutdown so waiting clients get an answer). */
void db_close(Db *db);
/* True when connected and accepting jobs. Any thread may ask; from another thread than db's own
 * the answer is a snapshot that may change the next moment. */
bool db_ready(const Db *db);
/* Makes sql (a string that lives as long as db) a prepared statement of every connection db
 * opens, prepared again after a reconnect: a query of a job whose sql is this same address is
 * sent as that statement (no parse or plan per use). At most 4. */
void db_prepare(Db *db, const char *sql, int nparams);
/* Sends a job of n queries (at most 8). Returns 0, or -1 when not connected (nothing sent, no
 * callback will come). Callbacks run later from the event loop, never from inside this call.
 * A query with sql NULL is an inner sync point: an error before it skips only the queries up to
 * it, and a transaction block the server left aborted there can be ended by the queries after it.
 * Result indexes count queries only, not sync points. A job that leaves a transaction block
 * aborted at its last sync point is followed by a ROLLBACK the adapter sends itself; a job already
 * pipelined behind it fails with SQLSTATE 25P02 (in failed transaction) and changes nothing. */
int db_job_submit(Db *db, const DbQuery *queries, int n, DbResultCb on_result, DbDoneCb on_done,
                  void *arg);
/* Jobs sent and not yet completed. */
int db_jobs_in_flight(const Db *db);

#endif
