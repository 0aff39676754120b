/* Intake metrics; see metrics.h. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "promhttp.h"
#include "routes.h"

#define METRICS_MAX_ROUTES 64
#define METRICS_MAX_WORKERS 64

static const int metrics_statuses[] = {200, 201, 303, 400, 403, 404, 405,
                                       409, 413, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof metrics_statuses / sizeof metrics_statuses[0])
static const char *const metrics_methods[] = {"GET", "HEAD", "POST", "other"};
#define NMETHOD 4
static const char *const metrics_outcomes[] = {"stored", "replayed", "conflict", "unavailable",
                                               "failed"};
#define NOUTCOME 5

/* [route row or the last for "unmatched"][method][status index or the last for other] */
static _Atomic uint64_t metrics_requests[METRICS_MAX_ROUTES + 1][NMETHOD][NSTATUS + 1];
static _Atomic uint64_t metrics_outcome_count[NOUTCOME];
static _Atomic uint64_t metrics_batches_failed;
static PromHistogram metrics_batch_rows = {
    13, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}, {0}, 0, 0};
static PromHistogram metrics_commit_seconds = {
    12, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}, {0}, 0, 0};

/* Filled by each worker in its own thread at every scrape. */
static _Atomic int metrics_worker_db_up[METRICS_MAX_WORKERS];
static _Atomic int metrics_worker_conns[METRICS_MAX_WORKERS];
static _Atomic int metrics_worker_pending[METRICS_MAX_WORKERS];
static _Atomic int metrics_worker_seen[METRICS_MAX_WORKERS]; /* answered this scrape */

static PromServer *metrics_server;
static Server *metrics_intake;

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void metrics_reply(struct evhttp_request *req, int status)
{
    int route = routes_index_of(req);
    if (route < 0 || route >= METRICS_MAX_ROUTES)
        route = METRICS_MAX_ROUTES;
    int method;
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        method = 0;
        break;
    case EVHTTP_REQ_HEAD:
        method = 1;
        break;
    case EVHTTP_REQ_POST:
        method = 2;
        break;
    default:
        method = 3;
    }
    size_t s = 0;
    while (s < NSTATUS && metrics_statuses[s] != status)
        s++;
    atomic_fetch_add_explicit(&metrics_requests[route][method][s], 1, memory_order_relaxed);
}

void metrics_submission(SubmitOutcome outcome)
{
    if ((int)outcome >= 0 && (int)outcome < NOUTCOME)
        atomic_fetch_add_explicit(&metrics_outcome_count[outcome], 1, memory_order_relaxed);
}

void metrics_batch(int rows, bool committed, double seconds)
{
    if (!committed) {
        atomic_fetch_add_explicit(&metrics_batches_failed, 1, memory_order_relaxed);
        return;
    }
    prom_histogram_observe(&metrics_batch_rows, rows);
    prom_histogram_observe(&metrics_commit_seconds, seconds);
}

static void metrics_worker_snapshot_cb(Worker *w, void *arg)
{
    (void)arg;
    if (w->id < 0 || w->id >= METRICS_MAX_WORKERS)
        return;
    atomic_store(&metrics_worker_db_up[w->id], db_ready(w->db));
    atomic_store(&metrics_worker_conns[w->id], w->nconns);
    atomic_store(&metrics_worker_pending[w->id], batch_port_outstanding(w->batch));
    atomic_store(&metrics_worker_seen[w->id], 1);
}

static void metrics_render_requests(struct evbuffer *out)
{
    prom_header(out, "redress_intake_requests_total", "counter",
                "Replies sent, by route template, method and status (other: a status not listed)");
    for (int r = 0; r <= METRICS_MAX_ROUTES; r++) {
        const char *route = r == METRICS_MAX_ROUTES ? "unmatched" : routes_template(r);
        if (!route)
            continue;
        for (int m = 0; m < NMETHOD; m++) {
            for (size_t s = 0; s <= NSTATUS; s++) {
                uint64_t v = atomic_load_explicit(&metrics_requests[r][m][s], memory_order_relaxed);
                /* Untouched series are left out, except the main ones so rates start at 0. */
                if (v == 0)
                    continue;
                char status[8];
                if (s < NSTATUS)
                    snprintf(status, sizeof status, "%d", metrics_statuses[s]);
                else
                    snprintf(status, sizeof status, "other");
                evbuffer_add_printf(out,
                                    "redress_intake_requests_total{route=\"%s\",method=\"%s\","
                                    "status=\"%s\"} %llu\n",
                                    route, metrics_methods[m], status, (unsigned long long)v);
            }
        }
    }
}

/* One gauge per worker; only_seen: 0 for a worker that did not answer this scrape (its last
 * values would be stale). */
static void metrics_worker_gauge(struct evbuffer *out, const char *name, const char *help,
                                 _Atomic int *values, int n, bool only_seen)
{
    prom_header(out, name, "gauge", help);
    for (int i = 0; i < n; i++) {
        int v = only_seen && !atomic_load(&metrics_worker_seen[i]) ? 0 : atomic_load(&values[i]);
        evbuffer_add_printf(out, "%s{worker=\"%d\"} %d\n", name, i, v);
    }
}

static void metrics_render(struct evbuffer *out, void *arg)
{
    (void)arg;
    metrics_render_requests(out);
    prom_header(out, "redress_intake_submissions_total", "counter",
                "Submissions by outcome; stored ones were committed");
    for (int i = 0; i < NOUTCOME; i++)
        evbuffer_add_printf(out, "redress_intake_submissions_total{outcome=\"%s\"} %llu\n",
                            metrics_outcomes[i],
                            (unsigned long long)atomic_load(&metrics_outcome_count[i]));
    prom_histogram_write(out, "redress_intake_batch_rows",
                         "Rows per committed group-commit transaction", &metrics_batch_rows);
    prom_histogram_write(out, "redress_intake_commit_seconds",
                         "From sending a group-commit transaction to its COMMIT",
                         &metrics_commit_seconds);
    prom_header(out, "redress_intake_batches_failed_total", "counter",
                "Group-commit transactions that did not commit (refused, or connection lost)");
    evbuffer_add_printf(out, "redress_intake_batches_failed_total %llu\n",
                        (unsigned long long)atomic_load(&metrics_batches_failed));

    int n = server_workers(metrics_intake);
    if (n > METRICS_MAX_WORKERS)
        n = METRICS_MAX_WORKERS;
    for (int i = 0; i < n; i++)
        atomic_store(&metrics_worker_seen[i], 0);
    server_run_in_workers(metrics_intake, metrics_worker_snapshot_cb, NULL, 2000);
    metrics_worker_gauge(out, "redress_intake_worker_up",
                         "1 when the worker's event loop answered this scrape within 2 s",
                         metrics_worker_seen, n, false);
    metrics_worker_gauge(out, "redress_intake_database_up",
                         "1 when the worker's database connection is ready", metrics_worker_db_up,
                         n, true);
    metrics_worker_gauge(out, "redress_intake_open_connections", "Open client connections",
                         metrics_worker_conns, n, true);
    metrics_worker_gauge(out, "redress_intake_submissions_waiting",
                         "Submissions queued or in flight to the database", metrics_worker_pending,
                         n, true);
}

int metrics_start(Server *server, const Config *cfg, char *err, size_t errlen)
{
    if (!cfg->metrics_enabled)
        return 0;
    metrics_intake = server;
    metrics_server = prom_server_start(cfg->metrics_listen, cfg->metrics_port, metrics_render, NULL,
                                       err, errlen);
    return metrics_server ? 0 : -1;
}

void metrics_stop(void)
{
    prom_server_stop(metrics_server);
    metrics_server = NULL;
}
