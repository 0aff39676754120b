/* Worker threads (worker.h). Stop requests arrive through a pipe every worker polls next to its
 * database socket, so a sleeping worker wakes at once; a worker in a batch finishes (commits) the
 * batch first. The rules in use are reference-counted: a worker holds the current rules for one
 * batch, a reload swaps in new ones for the next batch, and the last holder of the old ones frees
 * them. Logs name the worker and SQLSTATEs only. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "owners.h"
#include "pgconn.h"
#include "service.h"
#include "sweep.h"
#include "upkeep.h"
#include "util.h"

/* Rules with the number of their holders: the pool (while current) and each worker mid-batch. */
typedef struct {
    Rules *rules;
    int holders;
} RulesHold;

typedef struct {
    WorkerPool *pool;
    int no;
    pthread_t thread;
    bool started;
    PGconn *conn;
    Members members;
    BatchStats stats;
    SweepStats sweep;
    double last_sweep;          /* monotonic seconds of the last deadline sweep */
    long long planned_pages[2]; /* sizes of plan_tables when this session's plans were dropped */
    int failed;                 /* gave up */
} Worker;

struct WorkerPool {
    const Config *cfg;
    pthread_mutex_t rules_mutex;
    RulesHold *rules; /* current; under rules_mutex */
    bool once;
    atomic_bool stopping;
    atomic_int finished; /* workers whose thread has returned */
    int stop_pipe[2];
    Worker *workers;
    int n;
};

static bool worker_stopping(const Worker *w)
{
    return atomic_load(&w->pool->stopping);
}

static RulesHold *worker_rules_take(WorkerPool *pool)
{
    pthread_mutex_lock(&pool->rules_mutex);
    RulesHold *h = pool->rules;
    h->holders++;
    pthread_mutex_unlock(&pool->rules_mutex);
    return h;
}

static void worker_rules_release(WorkerPool *pool, RulesHold *h)
{
    pthread_mutex_lock(&pool->rules_mutex);
    bool last = --h->holders == 0;
    pthread_mutex_unlock(&pool->rules_mutex);
    if (last) {
        rules_free(h->rules);
        free(h);
    }
}

static double worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The deadline sweep, at most once per sweep interval (and whenever force). A failure is logged
 * and retried at the next interval: it never holds up triage. */
static void worker_sweep(Worker *w, bool force)
{
    double now = worker_now();
    if (!force && now - w->last_sweep < w->pool->cfg->triage_sweep_s)
        return;
    w->last_sweep = now;
    char err[256];
    if (sweep_deadlines(w->conn, &w->sweep, err, sizeof err) < 0)
        LOG_WARN("worker %d: deadline sweep: %s", w->no, err);
}

/* The tables the batch's foreign keys point at. PostgreSQL checks every referencing row with a
 * plan the session caches (a generic plan, after five custom ones) and keeps until the table's
 * statistics change: made while the case table held a few pages it is a sequential scan, and
 * stays one as the table grows until autovacuum next analyzes it (a minute or more; measured
 * with the 200,000-grievance backlog of bench/triage.py: 0.4 ms per check, 44 s of a 93 s run).
 * So whenever one of them has doubled since the session's plans were made, the plans are
 * dropped and made again for the sizes of now: a handful of times over a session's life. */
static const char plan_tables_sql[] =
    "SELECT pg_relation_size('remedy_case') / 8192, pg_relation_size('grievance_key') / 8192";
enum { PLAN_TABLES = 2, PLAN_MIN_PAGES = 8 };

/* Drops the session's cached plans when a table of plan_tables has doubled since they were last
 * dropped (or, for a new session, has reached PLAN_MIN_PAGES). Outside a transaction; a failure
 * is logged and changes nothing. */
static void worker_plans_refresh(Worker *w)
{
    PGresult *res = PQexec(w->conn, plan_tables_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        LOG_WARN("worker %d: reading table sizes failed (SQLSTATE %s)", w->no,
                 pgconn_sqlstate(res));
        PQclear(res);
        return;
    }
    long long pages[PLAN_TABLES];
    bool grown = false;
    for (int i = 0; i < PLAN_TABLES; i++) {
        pages[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
        if (pages[i] >= PLAN_MIN_PAGES && pages[i] >= 2 * w->planned_pages[i])
            grown = true;
    }
    PQclear(res);
    if (!grown)
        return;
    res = PQexec(w->conn, "DISCARD PLANS");
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        LOG_DEBUG("worker %d: plans dropped (tables at %lld and %lld pages)", w->no, pages[0],
                  pages[1]);
        memcpy(w->planned_pages, pages, sizeof pages);
    } else
        LOG_WARN("worker %d: DISCARD PLANS failed (SQLSTATE %s)", w->no, pgconn_sqlstate(res));
    PQclear(res);
}

/* Sleeps up to ms, waking on the stop pipe (and on fd when >= 0). Returns 1 if fd is readable. */
static int worker_wait(Worker *w, int fd, int ms)
{
    struct pollfd p[2] = {{w->pool->stop_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int rc = poll(p, fd >= 0 ? 2 : 1, ms);
    if (rc > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
        return 1;
    return 0;
}

static void worker_disconnect(Worker *w)
{
    if (w->conn)
        PQfinish(w->conn);
    w->conn = NULL;
}

static int worker_connect(Worker *w)
{
    char err[512], app[48];
    snprintf(app, sizeof app, "redress-triage/%d", w->no);
    w->conn = pgconn_open(w->pool->cfg, w->pool->cfg->triage_user, app, err, sizeof err);
    if (!w->conn) {
        LOG_WARN("worker %d: %s", w->no, err);
        return -1;
    }
    if (!w->pool->once) {
        PGresult *res = PQexec(w->conn, "LISTEN grievance_new");
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            LOG_WARN("worker %d: LISTEN failed (SQLSTATE %s)", w->no, pgconn_sqlstate(res));
        PQclear(res);
        if (!ok) {
            worker_disconnect(w);
            return -1;
        }
    }
    return 0;
}

static int worker_members_reload(Worker *w)
{
    char err[256];
    Members fresh;
    if (owners_members_load(w->conn, &fresh, err, sizeof err) < 0) {
        LOG_WARN("worker %d: %s", w->no, err);
        return -1;
    }
    owners_members_free(&w->members);
    w->members = fresh;
    return 0;
}

/* True when untriaged grievances remain (claimed by others, or not yet visible to us). */
static int worker_backlog_left(Worker *w)
{
    PGresult *res =
        PQexec(w->conn, "SELECT EXISTS (SELECT 1 FROM grievance WHERE triaged_at IS NULL)");
    int left = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0)[0] == 't' : -1;
    PQclear(res);
    return left;
}

/* Discards queued notifications (they carry nothing); returns how many there were. */
static int worker_notifies_drain(Worker *w)
{
    PGnotify *n;
    int count = 0;
    PQconsumeInput(w->conn);
    while ((n = PQnotifies(w->conn)) != NULL) {
        PQfreemem(n);
        count++;
    }
    return count;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    const Config *cfg = w->pool->cfg;
    int backoff_ms = 200, failures = 0;
    bool need_members = true;
    log_thread_id(w->no);

    while (!worker_stopping(w)) {
        service_beat(w->no - 1);
        if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
            worker_disconnect(w);
            if (worker_connect(w) < 0)
                goto retry;
            memset(w->planned_pages, 0, sizeof w->planned_pages); /* a new session */
            need_members = true;
        }
        if (need_members) {
            if (worker_members_reload(w) < 0)
                goto retry;
            need_members = false;
        }
        char err[256];
        RulesHold *rules = worker_rules_take(w->pool);
        int n = batch_run(w->conn, rules->rules, &w->members, cfg->triage_batch_size, &w->stats,
                          err, sizeof err);
        worker_rules_release(w->pool, rules);
        triage_metrics_batch(n);
        if (n < 0) {
            LOG_WARN("worker %d: batch rolled back: %s", w->no, err);
            goto retry;
        }
        failures = 0;
        backoff_ms = 200;
        if (n > 0) {
            worker_plans_refresh(w);
            continue;
        }
        /* Nothing waiting. */
        if (w->pool->once) {
            int left = worker_backlog_left(w);
            if (left == 0) {
                worker_sweep(w, true);
                break;
            }
            worker_wait(w, -1, 50); /* rows claimed by others: they commit or roll back */
            continue;
        }
        /* A notification that came in during the claim may be for a row the claim could not see
         * yet: claim again before sleeping. */
        if (worker_notifies_drain(w) > 0)
            continue;
        worker_sweep(w, false);
        if (worker_wait(w, PQsocket(w->conn), cfg->triage_sweep_s * 1000) == 1)
            worker_notifies_drain(w);
        upkeep_run(w->conn, cfg, w->no);
        need_members = true; /* a woken worker sees member changes */
        continue;
    retry:
        upkeep_run(w->conn, cfg, w->no); /* a member session may be what blocked the batch */
        if (++failures >= 5 && w->pool->once) {
            LOG_ERROR("worker %d: giving up after %d failed attempts", w->no, failures);
            w->failed = 1;
            break;
        }
        worker_wait(w, -1, backoff_ms);
        if (backoff_ms < 5000)
            backoff_ms *= 2;
    }
    worker_disconnect(w);
    owners_members_free(&w->members);
    atomic_fetch_add(&w->pool->finished, 1);
    return NULL;
}

static RulesHold *worker_rules_hold(Rules *rules)
{
    RulesHold *h = xmalloc(sizeof *h);
    h->rules = rules;
    h->holders = 1; /* the pool */
    return h;
}

WorkerPool *worker_pool_start(const Config *cfg, Rules *rules, bool once, char *err, size_t errlen)
{
    WorkerPool *pool = xcalloc(1, sizeof *pool);
    pool->cfg = cfg;
    pthread_mutex_init(&pool->rules_mutex, NULL);
    pool->rules = worker_rules_hold(rules);
    pool->once = once;
    atomic_init(&pool->stopping, false);
    atomic_init(&pool->finished, 0);
    pool->n = cfg->triage_workers;
    if (pipe2(pool->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        worker_rules_release(pool, pool->rules);
        pthread_mutex_destroy(&pool->rules_mutex);
        free(pool);
        return NULL;
    }
    pool->workers = xcalloc((size_t)pool->n, sizeof *pool->workers);
    for (int i = 0; i < pool->n; i++) {
        Worker *w = &pool->workers[i];
        w->pool = pool;
        w->no = i + 1;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            snprintf(err, errlen, "starting worker %d: %s", w->no, strerror(rc));
            worker_pool_stop(pool);
            worker_pool_join(pool, NULL, NULL);
            return NULL;
        }
        w->started = true;
    }
    return pool;
}

void worker_pool_rules_set(WorkerPool *pool, Rules *rules)
{
    RulesHold *fresh = worker_rules_hold(rules);
    pthread_mutex_lock(&pool->rules_mutex);
    RulesHold *old = pool->rules;
    pool->rules = fresh;
    pthread_mutex_unlock(&pool->rules_mutex);
    worker_rules_release(pool, old); /* freed now, or by the last worker still using it */
}

bool worker_pool_finished(WorkerPool *pool)
{
    return atomic_load(&pool->finished) == pool->n;
}

void worker_pool_stop(WorkerPool *pool)
{
    atomic_store(&pool->stopping, true);
    ssize_t rc = write(pool->stop_pipe[1], "x", 1);
    (void)rc;
}

int worker_pool_join(WorkerPool *pool, BatchStats *total, SweepStats *swept)
{
    int rc = 0;
    for (int i = 0; i < pool->n; i++) {
        Worker *w = &pool->workers[i];
        if (!w->started)
            continue;
        pthread_join(w->thread, NULL);
        if (w->failed)
            rc = -1;
        if (total) {
            total->grievances += w->stats.grievances;
            total->opened += w->stats.opened;
            total->joined += w->stats.joined;
            total->decisions += w->stats.decisions;
        }
        if (swept) {
            swept->missed += w->sweep.missed;
            swept->escalated += w->sweep.escalated;
            swept->cleared += w->sweep.cleared;
        }
    }
    close(pool->stop_pipe[0]);
    close(pool->stop_pipe[1]);
    worker_rules_release(pool, pool->rules);
    pthread_mutex_destroy(&pool->rules_mutex);
    free(pool->workers);
    free(pool);
    return rc;
}
