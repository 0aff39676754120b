/* Worker threads (worker.h). Stop requests arrive through a pipe every worker polls next to its
 * database socket, so a sleeping worker wakes at once; a worker in a batch finishes (commits) the
 * batch first. Logs name the worker and SQLSTATEs only. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "owners.h"
#include "pgconn.h"
#include "upkeep.h"
#include "util.h"

typedef struct {
    WorkerPool *pool;
    int no;
    pthread_t thread;
    bool started;
    PGconn *conn;
    Members members;
    BatchStats stats;
    int failed; /* gave up */
} Worker;

struct WorkerPool {
    const Config *cfg;
    const Rules *rules;
    bool once;
    volatile sig_atomic_t stopping;
    int stop_pipe[2];
    Worker *workers;
    int n;
};

static bool worker_stopping(const Worker *w)
{
    return w->pool->stopping != 0;
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

    while (!worker_stopping(w)) {
        if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
            worker_disconnect(w);
            if (worker_connect(w) < 0)
                goto retry;
            need_members = true;
        }
        if (need_members) {
            if (worker_members_reload(w) < 0)
                goto retry;
            need_members = false;
        }
        char err[256];
        int n = batch_run(w->conn, w->pool->rules, &w->members, cfg->triage_batch_size, &w->stats,
                          err, sizeof err);
        if (n < 0) {
            LOG_WARN("worker %d: batch rolled back: %s", w->no, err);
            goto retry;
        }
        failures = 0;
        backoff_ms = 200;
        if (n > 0)
            continue;
        /* Nothing waiting. */
        if (w->pool->once) {
            int left = worker_backlog_left(w);
            if (left == 0)
                break;
            worker_wait(w, -1, 50); /* rows claimed by others: they commit or roll back */
            continue;
        }
        /* A notification that came in during the claim may be for a row the claim could not see
         * yet: claim again before sleeping. */
        if (worker_notifies_drain(w) > 0)
            continue;
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
    return NULL;
}

WorkerPool *worker_pool_start(const Config *cfg, const Rules *rules, bool once, char *err,
                              size_t errlen)
{
    WorkerPool *pool = xcalloc(1, sizeof *pool);
    pool->cfg = cfg;
    pool->rules = rules;
    pool->once = once;
    pool->n = cfg->triage_workers;
    if (pipe2(pool->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
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
            worker_pool_join(pool, NULL);
            return NULL;
        }
        w->started = true;
    }
    return pool;
}

void worker_pool_stop(WorkerPool *pool)
{
    pool->stopping = 1;
    ssize_t rc = write(pool->stop_pipe[1], "x", 1);
    (void)rc;
}

int worker_pool_join(WorkerPool *pool, BatchStats *total)
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
    }
    close(pool->stop_pipe[0]);
    close(pool->stop_pipe[1]);
    free(pool->workers);
    free(pool);
    return rc;
}
