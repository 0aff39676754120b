/* Group commit: queue, optional window timer, at most BATCH_MAX_INFLIGHT transactions in flight.
 * Batches fill by themselves under load: while a transaction is in flight new rows wait, and all
 * of them go in the next one the moment it completes; an idle connection sends at once. One
 * backend runs a connection's transactions one after another, so a second one is pipelined only
 * when a full batch waits (it saves the round trip, and makes no smaller batches).
 * Announcing: a transaction that notifies 'grievance_new' holds a database-wide lock until its
 * commit is flushed, which would serialize the commits of the workers. So a batch notifies only if
 * none of this worker did for BATCH_ANNOUNCE_S; a timer sends the notification that batches sent
 * since then still owe (after them, on the same connection: triage wakes once they are visible). */
#include "batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define BATCH_MAX_INFLIGHT 2
#define BATCH_MAX_ATTEMPTS 3
#define BATCH_QUEUE_FACTOR 16 /* queue at most this many full batches before refusing */
#define BATCH_ANNOUNCE_S 0.010

/* Submissions handed from one thread to another: posted under the lock, taken all at once by the
 * reader's event, which a post activates only when the list was empty (once per burst) and the
 * reader has not said it will look by itself (held: the stream, while a transaction is out, takes
 * what came at its answer; waking it for each submission cost a context switch apiece). */
typedef struct {
    pthread_mutex_t lock;
    Submission *head, *tail;
    bool held;
    struct event *ev;
} Mailbox;

struct Batcher {
    Worker *worker;
    struct event *window;    /* armed when the first row of a batch arrives */
    bool flush_due;          /* the window has passed, or a full batch is waiting */
    Submission *head, *tail; /* waiting, in arrival order */
    int npending;
    int inflight; /* transactions sent and not yet answered */
    int inflight_rows;
    struct event *announce; /* armed while a batch sent went unannounced */
    double announced_at;    /* metrics_now() of the last notification sent */
    bool unannounced;       /* a batch was sent after it */
    /* Shared with the workers' threads. */
    Mailbox inbox;      /* submissions handed over, not yet queued; read in the stream's thread */
    _Atomic int queued; /* submissions added and not yet answered */
    _Atomic int ports;  /* ports open on this stream */
};

/* A worker's handle on a stream; the stream posts its answers to done, read in the port's own
 * thread. */
struct BatchPort {
    Batcher *stream;
    int outstanding; /* touched only in the port's thread */
    bool closed;
    Mailbox done;
};

typedef struct {
    Batcher *batcher;
    Submission **subs;
    int n;
    RowBatch *rows; /* the parameters; borrowed by libpq until done */
    /* The batch's arrays (binary), then the announce flag (text). */
    const char *params[ROW_NCOLS + 1];
    int lengths[ROW_NCOLS + 1], formats[ROW_NCOLS + 1];
    bool select_ok;
    bool committed;
    char sqlstate[6];
    char constraint[64]; /* the constraint the first error names, if any */
    double sent_at;      /* metrics_now() */
} Flight;

static void batch_try_flush(Batcher *b);
static void batch_take_inbox(Batcher *b);

/* Failures of the moment, not of the rows: the transaction was rolled back (nothing stored) and
 * the same rows may succeed if sent again. */
static bool sqlstate_transient(const char *s)
{
    static const char *const transient[] = {
        "40001", /* serialization_failure */
        "40P01", /* deadlock_detected */
        "55P03", /* lock_not_available: lock_timeout */
        "57014", /* query_canceled: statement_timeout, or our cancel request */
        "57P01", /* admin_shutdown */
        "57P02", /* crash_shutdown */
        "57P03", /* cannot_connect_now */
    };
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0) /* connection; resources */
        return true;
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        if (strcmp(s, transient[i]) == 0)
            return true;
    }
    return false;
}

/* Keyed rows by key (as encoded, length first: any fixed total order will do, as long as every
 * transaction uses the same one), then keyless ones, each in arrival order (pos breaks ties: qsort
 * is not stable). */
typedef struct {
    Submission *sub;
    int pos;
} BatchSlot;

static int batch_slot_cmp(const void *a, const void *b)
{
    const GrievanceRow *x = &((const BatchSlot *)a)->sub->row;
    const GrievanceRow *y = &((const BatchSlot *)b)->sub->row;
    if (x->has_key != y->has_key)
        return x->has_key ? -1 : 1;
    if (x->has_key) {
        uint32_t xn = x->cell_len[ROW_IDEMPOTENCY_KEY], yn = y->cell_len[ROW_IDEMPOTENCY_KEY];
        int c = memcmp(x->cells + x->cell_off[ROW_IDEMPOTENCY_KEY],
                       y->cells + y->cell_off[ROW_IDEMPOTENCY_KEY], xn < yn ? xn : yn);
        if (c || xn != yn)
            return c ? c : (xn < yn ? -1 : 1);
    }
    return ((const BatchSlot *)a)->pos - ((const BatchSlot *)b)->pos;
}

static void queue_push(Batcher *b, Submission *sub, bool front)
{
    sub->next = NULL;
    if (!b->head) {
        b->head = b->tail = sub;
    } else if (front) {
        sub->next = b->head;
        b->head = sub;
    } else {
        b->tail->next = sub;
        b->tail = sub;
    }
    b->npending++;
}

static Submission *queue_pop(Batcher *b)
{
    Submission *sub = b->head;
    if (sub) {
        b->head = sub->next;
        if (!b->head)
            b->tail = NULL;
        sub->next = NULL;
        b->npending--;
    }
    return sub;
}

static void mailbox_init(Mailbox *m, struct event_base *base, event_callback_fn cb, void *arg)
{
    pthread_mutex_init(&m->lock, NULL);
    m->ev = event_new(base, -1, 0, cb, arg);
}

static void mailbox_post(Mailbox *m, Submission *sub)
{
    sub->next = NULL;
    pthread_mutex_lock(&m->lock);
    bool wake = !m->head && !m->held; /* else the reader's event is on its way, or not needed */
    if (m->tail)
        m->tail->next = sub;
    else
        m->head = sub;
    m->tail = sub;
    pthread_mutex_unlock(&m->lock);
    if (wake)
        event_active(m->ev, EV_READ, 0);
}

/* Everything posted so far, in order (a list linked by next). Posts from now on wake the reader
 * unless hold: then the reader takes them later by itself. */
static Submission *mailbox_take(Mailbox *m, bool hold)
{
    pthread_mutex_lock(&m->lock);
    Submission *head = m->head;
    m->head = m->tail = NULL;
    m->held = hold;
    pthread_mutex_unlock(&m->lock);
    return head;
}

static void mailbox_hold(Mailbox *m)
{
    pthread_mutex_lock(&m->lock);
    m->held = true;
    pthread_mutex_unlock(&m->lock);
}

static void mailbox_free(Mailbox *m)
{
    event_free(m->ev);
    pthread_mutex_destroy(&m->lock);
}

/* The one way a submission leaves the stream: its done runs in its own worker's thread
 * (batch_port_done_cb). */
static void batch_finish(Batcher *b, Submission *sub, SubmitOutcome outcome)
{
    atomic_fetch_sub_explicit(&b->queued, 1, memory_order_relaxed);
    sub->result = outcome;
    mailbox_post(&sub->port->done, sub);
}

/* Sends sub again at the head of the queue (alone if solo, with a new reference if rekey), or
 * fails it once it has had BATCH_MAX_ATTEMPTS tries. */
static void batch_retry(Batcher *b, Submission *sub, bool rekey, bool solo)
{
    if (++sub->attempts >= BATCH_MAX_ATTEMPTS) {
        batch_finish(b, sub, SUBMIT_FAILED);
        return;
    }
    if (rekey)
        grievance_row_rekey(&sub->row, b->worker->shared->receipt_key);
    sub->solo = solo;
    queue_push(b, sub, true);
}

static void flight_free(Flight *f)
{
    free(f->subs);
    row_batch_free(f->rows);
    free(f);
}

static void flight_result_cb(void *arg, int index, const PGresult *res)
{
    Flight *f = arg;
    ExecStatusType st = PQresultStatus(res);
    if (index == 1 && st == PGRES_TUPLES_OK) {
        f->select_ok = true;
        for (int r = 0; r < PQntuples(res); r++) {
            int n = atoi(PQgetvalue(res, r, ROWS_RES_N));
            if (n < 0 || n >= f->n || f->subs[n]->answered)
                continue;
            Submission *sub = f->subs[n];
            GrievanceRow *row = &sub->row;
            const char *reference = PQgetvalue(res, r, ROWS_RES_REFERENCE);
            sub->answered = true;
            if (strcmp(row->reference, reference) != 0) {
                /* An earlier row with this idempotency key: its receipt, not ours. */
                snprintf(row->reference, sizeof row->reference, "%s", reference);
                receipt_derive(f->batcher->worker->shared->receipt_key, row->reference,
                               row->receipt);
            }
            snprintf(sub->received_at, sizeof sub->received_at, "%s",
                     PQgetvalue(res, r, ROWS_RES_RECEIVED_AT));
            if (PQgetvalue(res, r, ROWS_RES_STORED)[0] == 't') {
                sub->result = SUBMIT_STORED;
            } else {
                unsigned char existing[32];
                bool same =
                    row->has_key &&
                    hex_decode(PQgetvalue(res, r, ROWS_RES_REQUEST_HASH), existing, 32) == 0 &&
                    memcmp(existing, row->request_hash, 32) == 0;
                sub->result = same ? SUBMIT_REPLAYED : SUBMIT_CONFLICT;
            }
        }
    } else if (index == 2 && st != PGRES_FATAL_ERROR) {
        f->committed =
            st == PGRES_COMMAND_OK && strcmp(PQcmdStatus((PGresult *)res), "COMMIT") == 0;
    }
    /* The first error is the cause; COMMIT has its own (e.g. a lock wait for NOTIFY's queue). */
    if (st == PGRES_FATAL_ERROR && !f->sqlstate[0]) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        snprintf(f->sqlstate, sizeof f->sqlstate, "%s", state ? state : "");
        snprintf(f->constraint, sizeof f->constraint, "%s", constraint ? constraint : "");
    }
}

static void flight_done_cb(void *arg, DbStatus status)
{
    Flight *f = arg;
    Batcher *b = f->batcher;
    b->inflight--;
    b->inflight_rows -= f->n;
    batch_take_inbox(b);
    metrics_batch(f->n, status == DB_OK && f->committed && f->select_ok,
                  metrics_now() - f->sent_at);
    if (status != DB_OK) {
        for (int i = 0; i < f->n; i++)
            batch_finish(b, f->subs[i], SUBMIT_UNAVAILABLE);
    } else if (f->committed && f->select_ok) {
        for (int i = 0; i < f->n; i++) {
            Submission *sub = f->subs[i];
            if (sub->answered)
                continue;
            f->subs[i] = NULL; /* handed on: requeued or failed */
            /* Neither stored nor answered as a replay (its key's grievance left with its month):
             * try again with a new reference, a bounded number of times. */
            batch_retry(b, sub, true, false);
        }
        /* The next batch goes before these answers are written: the database works on it while
         * this thread encrypts and sends the replies. */
        if (b->npending > 0) {
            b->flush_due = true;
            batch_try_flush(b);
        }
        for (int i = 0; i < f->n; i++) {
            if (f->subs[i])
                batch_finish(b, f->subs[i], f->subs[i]->result);
        }
    } else if (strcmp(f->sqlstate, "25P02") == 0) {
        /* Pipelined behind a transaction that failed: never run. The same rows go again. */
        for (int i = f->n - 1; i >= 0; i--)
            queue_push(b, f->subs[i], true);
        b->flush_due = true;
    } else if (sqlstate_transient(f->sqlstate)) {
        /* Rolled back: nothing of this batch was stored. Rows alone would meet the same lock. */
        LOG_WARN("worker %d: batch of %d not stored (SQLSTATE %s); answering 503", b->worker->id,
                 f->n, f->sqlstate);
        for (int i = 0; i < f->n; i++)
            batch_finish(b, f->subs[i], SUBMIT_UNAVAILABLE);
    } else if (f->n > 1) {
        /* The batch was refused: retry every row on its own so the bad one fails alone. */
        LOG_WARN("worker %d: batch of %d refused (SQLSTATE %s); retrying rows one by one",
                 b->worker->id, f->n, f->sqlstate[0] ? f->sqlstate : "none");
        for (int i = f->n - 1; i >= 0; i--) {
            f->subs[i]->solo = true;
            queue_push(b, f->subs[i], true);
        }
        b->flush_due = true;
    } else if (strcmp(f->sqlstate, "23505") == 0 && f->subs[0]->attempts + 1 < BATCH_MAX_ATTEMPTS) {
        /* A key taken (sql/025): its reference, by chance, gets a new one; its Idempotency-Key,
         * by a writer that committed meanwhile, is answered with that row when sent again. */
        batch_retry(b, f->subs[0], strcmp(f->constraint, "grievance_key_reference_key") == 0, true);
        b->flush_due = true;
    } else {
        LOG_ERROR("worker %d: grievance refused by the database (SQLSTATE %s)", b->worker->id,
                  f->sqlstate[0] ? f->sqlstate : "none");
        batch_finish(b, f->subs[0], SUBMIT_FAILED);
    }
    flight_free(f);
    if (b->npending > 0)
        b->flush_due = true; /* they already waited for a commit: no second window */
    batch_try_flush(b);
}

/* Whether the batch about to be sent notifies; if not, the timer will. */
static bool batch_announce_due(Batcher *b)
{
    double now = metrics_now(), left = b->announced_at + BATCH_ANNOUNCE_S - now;
    if (left <= 0) {
        b->announced_at = now;
        b->unannounced = false;
        return true;
    }
    b->unannounced = true;
    if (!evtimer_pending(b->announce, NULL)) {
        struct timeval tv = {0, (suseconds_t)(left * 1e6) + 1};
        evtimer_add(b->announce, &tv);
    }
    return false;
}

static void announce_result_cb(void *arg, int index, const PGresult *res)
{
    (void)arg;
    (void)index;
    (void)res;
}

static void announce_done_cb(void *arg, DbStatus status)
{
    (void)arg;
    (void)status; /* lost with the connection: triage's sweep finds the rows all the same */
}

static void batch_announce_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Batcher *b = arg;
    static const DbQuery q = {"SELECT pg_notify('grievance_new', '')", 0, NULL};
    if (!b->unannounced)
        return;
    if (b->inflight > 0 && b->npending > 0) {
        /* A batch goes when this one is answered: it carries the notification. */
        b->announced_at = 0;
        struct timeval tv = {0, (suseconds_t)(BATCH_ANNOUNCE_S * 1e6)};
        evtimer_add(b->announce, &tv);
        return;
    }
    b->unannounced = false;
    b->announced_at = metrics_now();
    db_job_submit(b->worker->db, &q, 1, announce_result_cb, announce_done_cb, NULL);
}

static void batch_send(Batcher *b)
{
    int max = b->worker->shared->cfg->batch_max_rows;
    Flight *f = xcalloc(1, sizeof *f);
    f->batcher = b;
    f->sent_at = metrics_now();
    f->subs = xcalloc((size_t)(b->npending < max ? b->npending : max), sizeof(Submission *));
    f->rows = row_batch_new();
    bool solo = b->head->solo;
    while (b->head && f->n < max && (!solo || f->n == 0) && b->head->solo == solo) {
        Submission *sub = queue_pop(b);
        sub->solo = false;
        sub->answered = false;
        f->subs[f->n++] = sub;
    }
    BatchSlot *order = xcalloc((size_t)f->n, sizeof *order);
    for (int i = 0; i < f->n; i++)
        order[i] = (BatchSlot){f->subs[i], i};
    qsort(order, (size_t)f->n, sizeof *order, batch_slot_cmp);
    for (int i = 0; i < f->n; i++) { /* inserted in this order (sql/010: ORDER BY ordinality) */
        f->subs[i] = order[i].sub;
        row_batch_add(f->rows, &f->subs[i]->row);
    }
    free(order);
    const RowBatchParams *p = row_batch_params(f->rows);
    memcpy(f->params, p->values, sizeof p->values);
    memcpy(f->lengths, p->lengths, sizeof p->lengths);
    memcpy(f->formats, p->formats, sizeof p->formats);
    f->params[ROW_NCOLS] = batch_announce_due(b) ? "t" : "f";
    /* After an error the server leaves the transaction block aborted: the adapter ends it (db.h).
     */
    DbQuery q[3] = {{"BEGIN", 0, NULL},
                    {GRIEVANCE_ROWS_ANNOUNCE_SQL, ROW_NCOLS + 1, f->params, f->lengths, f->formats},
                    {"COMMIT", 0, NULL}};
    b->inflight++;
    b->inflight_rows += f->n;
    if (db_job_submit(b->worker->db, q, 3, flight_result_cb, flight_done_cb, f) < 0) {
        b->inflight--;
        b->inflight_rows -= f->n;
        for (int i = 0; i < f->n; i++)
            batch_finish(b, f->subs[i], SUBMIT_UNAVAILABLE);
        flight_free(f);
        return;
    }
    mailbox_hold(&b->inbox);
}

/* Whether the head of the queue goes now (see the top of the file). */
static bool batch_should_send(const Batcher *b)
{
    if (b->npending == 0 || b->inflight >= BATCH_MAX_INFLIGHT)
        return false;
    if (b->npending >= b->worker->shared->cfg->batch_max_rows)
        return true;
    return b->inflight == 0 && b->flush_due;
}

static void batch_try_flush(Batcher *b)
{
    while (batch_should_send(b))
        batch_send(b);
    if (b->npending == 0)
        b->flush_due = false;
}

static void batch_window_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Batcher *b = arg;
    b->flush_due = true;
    batch_try_flush(b);
}

/* Queues a submission, in the stream's thread. */
static void batch_enqueue(Batcher *b, Submission *sub)
{
    int us = b->worker->shared->cfg->batch_window_us;
    queue_push(b, sub, false);
    if (b->inflight == 0 && !b->flush_due) {
        /* Idle: go now, or after the configured wait for company. */
        if (us == 0) {
            b->flush_due = true;
        } else if (!evtimer_pending(b->window, NULL)) {
            struct timeval tv = {us / 1000000, us % 1000000};
            evtimer_add(b->window, &tv);
        }
    }
}

/* Everything the workers handed over joins the queue; while a transaction is out, what they hand
 * over next waits in the inbox for its answer (flight_done_cb takes it), waking nobody. */
static void batch_take_inbox(Batcher *b)
{
    Submission *sub = mailbox_take(&b->inbox, b->inflight > 0);
    while (sub) {
        Submission *next = sub->next;
        batch_enqueue(b, sub);
        sub = next;
    }
}

/* The workers' submissions, in the stream's thread: all of them join the queue, then one flush,
 * so what arrived together goes together. */
static void batch_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Batcher *b = arg;
    batch_take_inbox(b);
    batch_try_flush(b);
}

Batcher *batcher_new(Worker *sw)
{
    Batcher *b = xcalloc(1, sizeof *b);
    b->worker = sw;
    b->window = evtimer_new(sw->base, batch_window_cb, b);
    b->announce = evtimer_new(sw->base, batch_announce_cb, b);
    mailbox_init(&b->inbox, sw->base, batch_inbox_cb, b);
    db_prepare(sw->db, GRIEVANCE_ROWS_ANNOUNCE_SQL, ROW_NCOLS + 1);
    return b;
}

void batcher_free(Batcher *b)
{
    if (!b)
        return;
    Submission *sub = mailbox_take(&b->inbox, false);
    while (sub) {
        Submission *next = sub->next;
        queue_push(b, sub, false);
        sub = next;
    }
    while ((sub = queue_pop(b)) != NULL)
        batch_finish(b, sub, SUBMIT_UNAVAILABLE);
    event_free(b->window);
    event_free(b->announce);
    mailbox_free(&b->inbox);
    free(b);
}

int batcher_pending(const Batcher *b)
{
    return atomic_load_explicit(&b->queued, memory_order_relaxed);
}

bool batcher_has_ports(const Batcher *b)
{
    return atomic_load_explicit(&b->ports, memory_order_acquire) > 0;
}

/* Answers for this worker's submissions that another thread's stream finished. */
static void batch_port_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    BatchPort *p = arg;
    Submission *sub = mailbox_take(&p->done, false);
    while (sub) {
        Submission *next = sub->next;
        p->outstanding--;
        sub->done(sub, sub->result);
        sub = next;
    }
}

BatchPort *batch_port_new(Worker *w, Batcher *b)
{
    BatchPort *p = xcalloc(1, sizeof *p);
    p->stream = b;
    mailbox_init(&p->done, w->base, batch_port_done_cb, p);
    atomic_fetch_add_explicit(&b->ports, 1, memory_order_relaxed);
    return p;
}

void batch_port_close(BatchPort *p)
{
    if (p && !p->closed) {
        p->closed = true;
        atomic_fetch_sub_explicit(&p->stream->ports, 1, memory_order_release);
    }
}

void batch_port_free(BatchPort *p)
{
    if (!p)
        return;
    batch_port_close(p);
    Submission *sub = mailbox_take(&p->done, false);
    while (sub) { /* answered after this worker stopped: nobody is left to tell */
        Submission *next = sub->next;
        sub->done(sub, SUBMIT_UNAVAILABLE);
        sub = next;
    }
    mailbox_free(&p->done);
    free(p);
}

void batcher_add(BatchPort *p, Submission *sub)
{
    Batcher *b = p->stream;
    sub->port = p;
    p->outstanding++;
    atomic_fetch_add_explicit(&b->queued, 1, memory_order_relaxed);
    mailbox_post(&b->inbox, sub);
}

int batch_port_outstanding(const BatchPort *p)
{
    return p->outstanding;
}

bool batch_port_connected(const BatchPort *p)
{
    return db_ready(p->stream->worker->db);
}

bool batcher_overloaded(const BatchPort *p)
{
    const Batcher *b = p->stream;
    return batcher_pending(b) >= BATCH_QUEUE_FACTOR * b->worker->shared->cfg->batch_max_rows;
}
