/* Non-blocking libpq in pipeline mode under libevent. The state changes in one place,
 * db_set_state(), which also sets the timer each state needs: a path that drops the connection
 * (a read error, a watchdog, a send failing inside a completion callback) cannot leave the adapter
 * disconnected without its retry timer. */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "util.h"

#define DB_JOB_MAX_QUERIES 8
#define DB_MAX_PREPARED 4
#define DB_RETRY_MIN_MS 200
#define DB_RETRY_MAX_MS 5000
#define DB_CANCELS_MAX                                                                             \
    4 /* cancel threads at once, process-wide (each may wait on a stuck server) */

typedef enum {
    DB_DISCONNECTED = 0, /* no connection; ev_retry is armed (back-off) */
    DB_CONNECTING,       /* PQconnectPoll in progress; ev_retry bounds it (connect timeout) */
    DB_CONNECTED,        /* in pipeline mode, accepting jobs; ev_watchdog runs while jobs are out */
    DB_CLOSED,           /* closed for good (shutdown): no timer, no reconnect */
} DbState;

static const char *const db_state_names[] = {"disconnected", "connecting", "connected", "closed"};

typedef enum {
    DB_JOB_CALLER,   /* db_job_submit's */
    DB_JOB_PREPARE,  /* the prepared statements of a new connection, or of db_prepare */
    DB_JOB_ROLLBACK, /* ends the transaction block a job left aborted */
} DbJobKind;

typedef struct DbJob {
    struct DbJob *next;
    DbJobKind kind;
    int nqueries; /* queries, not counting sync points */
    int syncs;    /* inner sync points still to pass before the job's last one */
    int index;    /* query whose results are arriving */
    DbResultCb on_result;
    DbDoneCb on_done;
    void *arg;
    struct timeval sent_at;
} DbJob;

struct Db {
    struct event_base *base;
    const Config *cfg;
    char *user;
    char *application;
    char options[96]; /* libpq "options": the session's statement and lock timeouts */
    PGconn *conn;
    DbState state;          /* changed only by db_set_state */
    _Atomic bool connected; /* state == DB_CONNECTED, readable from any thread (db_ready) */
    int sock;               /* PQsocket at the time the events were made */
    struct event *ev_read;
    struct event *ev_write;
    struct event *ev_retry;    /* back-off while disconnected; connect timeout while connecting */
    struct event *ev_watchdog; /* the oldest job's deadline while connected */
    int retry_ms;
    DbJob *head, *tail; /* jobs in flight, in send order */
    int njobs;
    DbJob *done_head, *done_tail; /* failed jobs whose callbacks run at the next safe point */
    struct event *ev_done;
    const char *prepared[DB_MAX_PREPARED]; /* db_prepare's statements, by address */
    int prepared_nparams[DB_MAX_PREPARED];
    int nprepared;
    bool prepare_failed; /* a statement of the preparing job in flight was refused */
};

static atomic_int db_cancels_running;

static void db_connect_start(Db *db);
static void db_io_cb(evutil_socket_t fd, short what, void *arg);
static void db_prepare_send(Db *db, int from);
static void db_rollback_send(Db *db);

static void db_events_clear(Db *db)
{
    if (db->ev_read) {
        event_free(db->ev_read);
        db->ev_read = NULL;
    }
    if (db->ev_write) {
        event_free(db->ev_write);
        db->ev_write = NULL;
    }
}

static void db_events_watch(Db *db, short what)
{
    int sock = PQsocket(db->conn);
    if (sock != db->sock || !db->ev_read) {
        db_events_clear(db);
        db->sock = sock;
        db->ev_read = event_new(db->base, sock, EV_READ | EV_PERSIST, db_io_cb, db);
        db->ev_write = event_new(db->base, sock, EV_WRITE, db_io_cb, db);
    }
    if (what & EV_READ)
        event_add(db->ev_read, NULL);
    else
        event_del(db->ev_read);
    if (what & EV_WRITE)
        event_add(db->ev_write, NULL);
    else
        event_del(db->ev_write);
}

static void db_timer_arm(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

static bool db_transition_allowed(DbState from, DbState to)
{
    switch (to) {
    case DB_DISCONNECTED: /* from itself too: a connect that failed to start backs off further */
        return from != DB_CLOSED;
    case DB_CONNECTING:
        return from == DB_DISCONNECTED;
    case DB_CONNECTED:
        return from == DB_CONNECTING;
    case DB_CLOSED:
        return true;
    }
    return false;
}

/* The one place db->state changes. Each state gets its timer here and loses the others'. */
static void db_set_state(Db *db, DbState next)
{
    if (!db_transition_allowed(db->state, next))
        BUG("database adapter: no transition %s -> %s", db_state_names[db->state],
            db_state_names[next]);
    db->state = next;
    atomic_store_explicit(&db->connected, next == DB_CONNECTED, memory_order_relaxed);
    switch (next) {
    case DB_DISCONNECTED:
        event_del(db->ev_watchdog);
        db->retry_ms = db->retry_ms ? db->retry_ms * 2 : DB_RETRY_MIN_MS;
        if (db->retry_ms > DB_RETRY_MAX_MS)
            db->retry_ms = DB_RETRY_MAX_MS;
        db_timer_arm(db->ev_retry, db->retry_ms);
        break;
    case DB_CONNECTING:
        event_del(db->ev_watchdog);
        db_timer_arm(db->ev_retry, db->cfg->db_timeout_s * 1000);
        break;
    case DB_CONNECTED:
        event_del(db->ev_retry);
        db->retry_ms = 0;
        break;
    case DB_CLOSED:
        event_del(db->ev_retry);
        event_del(db->ev_watchdog);
        break;
    }
}

/* Arms the watchdog for the oldest job in flight (or stops it when none is); connected only. */
static void db_watchdog_arm(Db *db)
{
    if (db->state != DB_CONNECTED)
        return;
    if (!db->head) {
        event_del(db->ev_watchdog);
        return;
    }
    struct timeval now, due, left;
    event_base_gettimeofday_cached(db->base, &now);
    due = db->head->sent_at;
    due.tv_sec += db->cfg->db_timeout_s;
    if (timercmp(&due, &now, <))
        timerclear(&left);
    else
        timersub(&due, &now, &left);
    event_add(db->ev_watchdog, &left);
}

static void db_done_run_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Db *db = arg;
    while (db->done_head) {
        DbJob *job = db->done_head;
        db->done_head = job->next;
        if (!db->done_head)
            db->done_tail = NULL;
        job->on_done(job->arg, DB_FAILED);
        free(job);
    }
}

static void *db_cancel_main(void *arg)
{
    PGcancel *cancel = arg;
    char err[256];
    /* Blocks until the server has taken the request (or forever, if the postmaster is stopped:
     * which is why this is a thread of its own and not the event loop). */
    int sent = PQcancel(cancel, err, sizeof err);
    PQfreeCancel(cancel);
    LOG_INFO("database cancel request %s", sent ? "sent" : "failed");
    atomic_fetch_sub(&db_cancels_running, 1);
    return NULL;
}

/* Asks the server to cancel what the connection is running, so a transaction we are about to
 * abandon is rolled back rather than left to commit after we answered 503. PQcancel blocks (and
 * PQcancelConn is PostgreSQL 17), so it runs in a detached thread; at most DB_CANCELS_MAX at a
 * time, since each may hang on a stopped server. */
static void db_cancel_send(Db *db)
{
    if (atomic_fetch_add(&db_cancels_running, 1) >= DB_CANCELS_MAX) {
        atomic_fetch_sub(&db_cancels_running, 1);
        LOG_WARN("database cancel skipped: %d cancel requests still waiting", DB_CANCELS_MAX);
        return;
    }
    PGcancel *cancel = PQgetCancel(db->conn);
    pthread_attr_t attr;
    pthread_t thread;
    int rc = -1;
    if (cancel && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&thread, &attr, db_cancel_main, cancel);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        PQfreeCancel(cancel);
        atomic_fetch_sub(&db_cancels_running, 1);
        LOG_WARN("database cancel request could not be started");
    }
}

/* Drops the connection; every job in flight completes with DB_FAILED from the event loop. With
 * cancel, the server is first asked to abandon what it is running (our decision to drop, not a
 * connection the server already lost). Then next: DB_DISCONNECTED (retry) or DB_CLOSED. */
static void db_drop(Db *db, const char *why, bool cancel, DbState next)
{
    if (db->state == DB_CONNECTED)
        LOG_WARN("database connection lost (%s); %d job(s) in flight fail", why, db->njobs);
    db_events_clear(db);
    if (db->conn) {
        if (cancel && db->head)
            db_cancel_send(db);
        PQfinish(db->conn);
        db->conn = NULL;
    }
    if (db->head) {
        if (db->done_tail)
            db->done_tail->next = db->head;
        else
            db->done_head = db->head;
        db->done_tail = db->tail;
        db->head = db->tail = NULL;
        db->njobs = 0;
        event_active(db->ev_done, 0, 0);
    }
    db_set_state(db, next);
}

static void db_fail(Db *db, const char *why)
{
    db_drop(db, why, false, DB_DISCONNECTED);
}

static void db_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Db *db = arg;
    if (db->state == DB_DISCONNECTED)
        db_connect_start(db);
    else if (db->state == DB_CONNECTING)
        db_fail(db, "connect timed out");
}

static void db_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Db *db = arg;
    if (db->state == DB_CONNECTED)
        db_drop(db, "no answer within the timeout", true, DB_DISCONNECTED);
}

static void db_notice_cb(void *arg, const PGresult *res)
{
    /* Notices can quote values; they are dropped, never logged. */
    (void)arg;
    (void)res;
}

static void db_connect_step(Db *db)
{
    switch (PQconnectPoll(db->conn)) {
    case PGRES_POLLING_READING:
        db_events_watch(db, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        db_events_watch(db, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(db->conn, 1) != 0 || PQenterPipelineMode(db->conn) != 1) {
            db_fail(db, "cannot enter pipeline mode");
            return;
        }
        PQsetNoticeReceiver(db->conn, db_notice_cb, NULL);
        db_set_state(db, DB_CONNECTED);
        db_events_watch(db, EV_READ);
        LOG_INFO("database connected");
        if (db->nprepared > 0)
            db_prepare_send(db, 0);
        return;
    default:
        db_fail(db, "connect failed");
        return;
    }
}

static void db_connect_start(Db *db)
{
    PgConnParams p;
    pgconn_params(&p, db->cfg, db->user, db->application);
    /* The session's own timeouts, after the shared keywords (a later keyword wins). */
    const char *keys[sizeof p.keys / sizeof p.keys[0] + 1], *vals[sizeof keys / sizeof keys[0]];
    size_t n = 0;
    for (; p.keys[n]; n++) {
        keys[n] = p.keys[n];
        vals[n] = p.vals[n];
    }
    keys[n] = "options";
    vals[n] = db->options;
    keys[n + 1] = vals[n + 1] = NULL;
    db->conn = PQconnectStartParams(keys, vals, 1);
    if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
        db_fail(db, "connect failed");
        return;
    }
    db_set_state(db, DB_CONNECTING);
    db_connect_step(db);
}

/* Reads every complete result and hands it to its job; a sync result completes the job. A
 * completion callback may send the next job, and that send may drop the connection: the loop
 * re-checks the state after every callback. */
static void db_results_drain(Db *db)
{
    while (db->state == DB_CONNECTED && db->head && !PQisBusy(db->conn)) {
        PGresult *res = PQgetResult(db->conn);
        DbJob *job = db->head;
        if (!res) {
            job->index++; /* end of one query's results */
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC && job->syncs > 0) {
            job->syncs--; /* an inner sync point: the job goes on */
            PQclear(res);
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            /* Left in an aborted transaction block (an error between BEGIN and COMMIT): end it
             * before anything the completion callback sends. A job already pipelined behind
             * this one fails with 25P02, and is followed by this ROLLBACK. */
            if (PQtransactionStatus(db->conn) == PQTRANS_INERROR &&
                !(job->next && job->next->kind == DB_JOB_ROLLBACK)) {
                db_rollback_send(db);
                if (db->state != DB_CONNECTED)
                    break; /* the send failed: this job is among those failed */
            }
            db->head = job->next;
            if (!db->head)
                db->tail = NULL;
            db->njobs--;
            job->on_done(job->arg, DB_OK);
            free(job);
            continue;
        }
        if (job->index < job->nqueries)
            job->on_result(job->arg, job->index, res);
        PQclear(res);
    }
    db_watchdog_arm(db);
}

static void db_io_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    Db *db = arg;
    if (db->state == DB_CONNECTING) {
        db_connect_step(db);
        return;
    }
    if (db->state != DB_CONNECTED)
        return;
    if (what & EV_WRITE) {
        int rc = PQflush(db->conn);
        if (rc < 0) {
            db_fail(db, "write failed");
            return;
        }
        if (rc == 1)
            event_add(db->ev_write, NULL);
    }
    if (what & EV_READ) {
        if (!PQconsumeInput(db->conn)) {
            db_fail(db, "read failed");
            return;
        }
        db_results_drain(db);
        if (db->state == DB_CONNECTED && PQstatus(db->conn) == CONNECTION_BAD)
            db_fail(db, "connection closed");
    }
}

Db *db_new(struct event_base *base, const Config *cfg, const char *user, const char *application)
{
    Db *db = xcalloc(1, sizeof *db);
    db->base = base;
    db->cfg = cfg;
    db->user = (user && *user) ? xstrdup(user) : NULL;
    db->application = xstrdup(application);
    db->sock = -1;
    /* A statement ends (and its transaction rolls back) before the watchdog gives up on it, so a
     * 503 for a timeout means "not stored": half the timeout, as two transactions may be queued
     * on the connection ahead of a reply; a lock wait ends sooner still. */
    int statement_ms = cfg->db_timeout_s * 500;
    snprintf(db->options, sizeof db->options, "-c statement_timeout=%d -c lock_timeout=%d",
             statement_ms, statement_ms / 2);
    db->ev_retry = evtimer_new(base, db_retry_cb, db);
    db->ev_watchdog = evtimer_new(base, db_watchdog_cb, db);
    db->ev_done = event_new(base, -1, 0, db_done_run_cb, db);
    db_connect_start(db);
    return db;
}

void db_free(Db *db)
{
    if (!db)
        return;
    db_drop(db, "shutting down", false, DB_CLOSED);
    db_done_run_cb(-1, 0, db);
    event_free(db->ev_retry);
    event_free(db->ev_watchdog);
    event_free(db->ev_done);
    free(db->user);
    free(db->application);
    free(db);
}

void db_close(Db *db)
{
    db_drop(db, "closing", true, DB_CLOSED);
}

bool db_ready(const Db *db)
{
    return atomic_load_explicit(&db->connected, memory_order_relaxed);
}

int db_jobs_in_flight(const Db *db)
{
    return db->njobs;
}

static int db_prepared_find(const Db *db, const char *sql)
{
    for (int i = 0; i < db->nprepared; i++) {
        if (db->prepared[i] == sql)
            return i;
    }
    return -1;
}

static void db_statement_name(char *buf, size_t len, int i)
{
    snprintf(buf, len, "redress_%d", i);
}

/* Queues a job whose queries were sent, then ends it with a sync point and flushes. */
static int db_job_queue(Db *db, DbJobKind kind, int nqueries, int syncs, DbResultCb on_result,
                        DbDoneCb on_done, void *arg)
{
    if (!PQpipelineSync(db->conn)) {
        db_fail(db, "send failed");
        return -1;
    }
    DbJob *job = xcalloc(1, sizeof *job);
    job->kind = kind;
    job->nqueries = nqueries;
    job->syncs = syncs;
    job->on_result = on_result;
    job->on_done = on_done;
    job->arg = arg;
    event_base_gettimeofday_cached(db->base, &job->sent_at);
    if (db->tail)
        db->tail->next = job;
    else
        db->head = job;
    db->tail = job;
    db->njobs++;
    int rc = PQflush(db->conn);
    if (rc < 0) {
        db_fail(db, "write failed"); /* the job completes with DB_FAILED from the loop */
        return 0;
    }
    if (rc == 1)
        event_add(db->ev_write, NULL);
    if (db->njobs == 1)
        db_watchdog_arm(db);
    return 0;
}

static void db_prepare_result_cb(void *arg, int index, const PGresult *res)
{
    (void)index;
    Db *db = arg;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        db->prepare_failed = true;
}

static void db_rollback_result_cb(void *arg, int index, const PGresult *res)
{
    (void)arg;
    (void)index;
    (void)res;
}

static void db_rollback_done_cb(void *arg, DbStatus status)
{
    (void)arg;
    (void)status;
}

static void db_prepare_done_cb(void *arg, DbStatus status)
{
    Db *db = arg;
    bool failed = db->prepare_failed;
    db->prepare_failed = false;
    /* Every later job would fail on the missing statement: start again (with back-off). */
    if (status == DB_OK && failed && db->state == DB_CONNECTED)
        db_fail(db, "preparing a statement failed");
}

/* Prepares the statements from index from on, as one job ahead of any that uses them. */
static void db_prepare_send(Db *db, int from)
{
    char name[32];
    for (int i = from; i < db->nprepared; i++) {
        db_statement_name(name, sizeof name, i);
        if (!PQsendPrepare(db->conn, name, db->prepared[i], db->prepared_nparams[i], NULL)) {
            db_fail(db, "send failed");
            return;
        }
    }
    db_job_queue(db, DB_JOB_PREPARE, db->nprepared - from, 0, db_prepare_result_cb,
                 db_prepare_done_cb, db);
}

static void db_rollback_send(Db *db)
{
    if (!PQsendQueryParams(db->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0)) {
        db_fail(db, "send failed");
        return;
    }
    db_job_queue(db, DB_JOB_ROLLBACK, 1, 0, db_rollback_result_cb, db_rollback_done_cb, db);
}

void db_prepare(Db *db, const char *sql, int nparams)
{
    if (db_prepared_find(db, sql) >= 0)
        return;
    if (db->nprepared == DB_MAX_PREPARED)
        BUG("database adapter: more than %d prepared statements", DB_MAX_PREPARED);
    db->prepared[db->nprepared] = sql;
    db->prepared_nparams[db->nprepared] = nparams;
    db->nprepared++;
    if (db->state == DB_CONNECTED)
        db_prepare_send(db, db->nprepared - 1);
}

int db_job_submit(Db *db, const DbQuery *queries, int n, DbResultCb on_result, DbDoneCb on_done,
                  void *arg)
{
    if (db->state != DB_CONNECTED || n < 1 || n > DB_JOB_MAX_QUERIES)
        return -1;
    int syncs = 0;
    char name[32];
    for (int i = 0; i < n; i++) {
        const DbQuery *q = &queries[i];
        int prepared = q->sql ? db_prepared_find(db, q->sql) : -1;
        if (prepared >= 0)
            db_statement_name(name, sizeof name, prepared);
        if (!q->sql) {
            syncs++;
            if (!PQpipelineSync(db->conn)) {
                db_fail(db, "send failed");
                return -1;
            }
        } else if (!(prepared >= 0 ? PQsendQueryPrepared(db->conn, name, q->nparams, q->params,
                                                         q->lengths, q->formats, 0)
                                   : PQsendQueryParams(db->conn, q->sql, q->nparams, NULL,
                                                       q->params, q->lengths, q->formats, 0))) {
            db_fail(db, "send failed");
            return -1;
        }
    }
    return db_job_queue(db, DB_JOB_CALLER, n - syncs, syncs, on_result, on_done, arg);
}
