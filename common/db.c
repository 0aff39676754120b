/* Non-blocking libpq in pipeline mode under libevent. States: DB_DISCONNECTED (waiting to retry),
 * DB_CONNECTING (PQconnectPoll steps), DB_CONNECTED (pipeline open, jobs flow). */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "util.h"

#define DB_JOB_MAX_QUERIES 8
#define DB_RETRY_MIN_MS 200
#define DB_RETRY_MAX_MS 5000

typedef enum {
    DB_DISCONNECTED = 0, /* no connection; a retry timer is armed */
    DB_CONNECTING,       /* PQconnectPoll in progress */
    DB_CONNECTED,        /* in pipeline mode, accepting jobs */
} DbState;

typedef struct DbJob {
    struct DbJob *next;
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
    PGconn *conn;
    DbState state;
    int sock; /* PQsocket at the time the events were made */
    struct event *ev_read;
    struct event *ev_write;
    struct event *ev_timer; /* retry back-off while disconnected; watchdog while connected */
    int retry_ms;
    DbJob *head, *tail; /* jobs in flight, in send order */
    int njobs;
    DbJob *done_head, *done_tail; /* failed jobs whose callbacks run at the next safe point */
    struct event *ev_done;
};

static void db_connect_start(Db *db);
static void db_io_cb(evutil_socket_t fd, short what, void *arg);

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

static void db_timer_arm(Db *db, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(db->ev_timer, &tv);
}

static void db_watchdog_arm(Db *db)
{
    if (!db->head) {
        event_del(db->ev_timer);
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
    event_add(db->ev_timer, &left);
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

/* Drops the connection; every job in flight completes with DB_FAILED from the event loop. */
static void db_fail(Db *db, const char *why)
{
    if (db->state == DB_CONNECTED)
        LOG_WARN("database connection lost (%s); %d job(s) in flight fail", why, db->njobs);
    db_events_clear(db);
    if (db->conn) {
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
    db->state = DB_DISCONNECTED;
    db->retry_ms = db->retry_ms ? db->retry_ms * 2 : DB_RETRY_MIN_MS;
    if (db->retry_ms > DB_RETRY_MAX_MS)
        db->retry_ms = DB_RETRY_MAX_MS;
    db_timer_arm(db, db->retry_ms);
}

static void db_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Db *db = arg;
    if (db->state == DB_CONNECTED)
        db_fail(db, "no answer within the timeout");
    else if (db->state == DB_DISCONNECTED)
        db_connect_start(db);
    else
        db_fail(db, "connect timed out");
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
        db->state = DB_CONNECTED;
        db->retry_ms = 0;
        event_del(db->ev_timer);
        db_events_watch(db, EV_READ);
        LOG_INFO("database connected");
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
    db->conn = PQconnectStartParams(p.keys, p.vals, 1);
    if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
        db_fail(db, "connect failed");
        return;
    }
    db->state = DB_CONNECTING;
    db_timer_arm(db, db->cfg->db_timeout_s * 1000);
    db_connect_step(db);
}

/* Reads every complete result and hands it to its job; a sync result completes the job. */
static void db_results_drain(Db *db)
{
    while (db->head && !PQisBusy(db->conn)) {
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
    db->ev_timer = evtimer_new(base, db_timer_cb, db);
    db->ev_done = event_new(base, -1, 0, db_done_run_cb, db);
    db_connect_start(db);
    return db;
}

void db_free(Db *db)
{
    if (!db)
        return;
    db->state = DB_DISCONNECTED;
    db_fail(db, "shutting down");
    db_done_run_cb(-1, 0, db);
    event_free(db->ev_timer);
    event_free(db->ev_done);
    free(db->user);
    free(db->application);
    free(db);
}

void db_close(Db *db)
{
    db_fail(db, "closing");
    event_del(db->ev_timer); /* no reconnect */
}

bool db_ready(const Db *db)
{
    return db->state == DB_CONNECTED;
}

int db_jobs_in_flight(const Db *db)
{
    return db->njobs;
}

int db_job_submit(Db *db, const DbQuery *queries, int n, DbResultCb on_result, DbDoneCb on_done,
                  void *arg)
{
    if (db->state != DB_CONNECTED || n < 1 || n > DB_JOB_MAX_QUERIES)
        return -1;
    int syncs = 0;
    for (int i = 0; i < n; i++) {
        if (!queries[i].sql) {
            syncs++;
            if (!PQpipelineSync(db->conn)) {
                db_fail(db, "send failed");
                return -1;
            }
        } else if (!PQsendQueryParams(db->conn, queries[i].sql, queries[i].nparams, NULL,
                                      queries[i].params, NULL, NULL, 0)) {
            db_fail(db, "send failed");
            return -1;
        }
    }
    if (!PQpipelineSync(db->conn)) {
        db_fail(db, "send failed");
        return -1;
    }
    DbJob *job = xcalloc(1, sizeof *job);
    job->nqueries = n - syncs;
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
