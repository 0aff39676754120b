/* Triage metrics; see metrics.h. */
#include "metrics.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "promhttp.h"

static _Atomic uint64_t triage_metrics_triaged;
static _Atomic uint64_t triage_metrics_failed;
static PromServer *triage_metrics_server;
static PGconn *triage_metrics_conn; /* the listener thread's own */
static const Config *triage_metrics_cfg;

#define OPEN_CASE "status NOT IN ('closed', 'rejected', 'referred')"

void triage_metrics_batch(int n)
{
    if (n < 0)
        atomic_fetch_add_explicit(&triage_metrics_failed, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&triage_metrics_triaged, (uint64_t)n, memory_order_relaxed);
}

static PGconn *triage_metrics_db(void)
{
    if (triage_metrics_conn && PQstatus(triage_metrics_conn) == CONNECTION_OK)
        return triage_metrics_conn;
    if (triage_metrics_conn)
        PQfinish(triage_metrics_conn);
    char err[256];
    triage_metrics_conn = pgconn_open(triage_metrics_cfg, triage_metrics_cfg->triage_user,
                                      "redress-triage/metrics", err, sizeof err);
    if (!triage_metrics_conn) {
        LOG_WARN("metrics: %s", err);
        return NULL;
    }
    PQclear(PQexec(triage_metrics_conn, "SET statement_timeout = '5s'"));
    return triage_metrics_conn;
}

/* Runs sql; NULL (and a warning with the SQLSTATE) unless it returned rows. Caller PQclears. */
static PGresult *triage_metrics_query(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    LOG_WARN("metrics: query failed (SQLSTATE %s)", pgconn_sqlstate(res));
    PQclear(res);
    return NULL;
}

static void triage_metrics_render(struct evbuffer *out, void *arg)
{
    (void)arg;
    prom_header(out, "redress_triage_grievances_total", "counter",
                "Grievances triaged by this process");
    evbuffer_add_printf(out, "redress_triage_grievances_total %llu\n",
                        (unsigned long long)atomic_load(&triage_metrics_triaged));
    prom_header(out, "redress_triage_batches_failed_total", "counter",
                "Batches rolled back (their grievances are claimed again)");
    evbuffer_add_printf(out, "redress_triage_batches_failed_total %llu\n",
                        (unsigned long long)atomic_load(&triage_metrics_failed));

    PGconn *conn = triage_metrics_db();
    PGresult *backlog = NULL, *open = NULL, *missed = NULL;
    if (conn) {
        backlog = triage_metrics_query(
            conn, "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0) "
                  "FROM grievance WHERE triaged_at IS NULL");
        open = triage_metrics_query(
            conn,
            "SELECT b.band, count(c.id) FROM unnest(ARRAY['P1', 'P2', 'P3', 'P4']) AS b(band) "
            "LEFT JOIN remedy_case c ON c.band = b.band AND c." OPEN_CASE " GROUP BY b.band "
            "ORDER BY b.band");
        missed = triage_metrics_query(
            conn, "SELECT c.band, d.stage, count(*) FROM remedy_case c "
                  "CROSS JOIN LATERAL case_next_deadline(c.status, c.ack_due, c.response_due, "
                  "c.remedy_due) d WHERE c." OPEN_CASE " AND c.band IS NOT NULL AND d.due < now() "
                  "GROUP BY 1, 2 ORDER BY 1, 2");
    }
    prom_header(out, "redress_triage_database_up", "gauge",
                "1 when this scrape's database queries answered");
    evbuffer_add_printf(out, "redress_triage_database_up %d\n", backlog && open && missed);
    if (backlog) {
        prom_header(out, "redress_triage_backlog", "gauge", "Stored grievances not yet triaged");
        evbuffer_add_printf(out, "redress_triage_backlog %s\n", PQgetvalue(backlog, 0, 0));
        prom_header(out, "redress_triage_backlog_oldest_seconds", "gauge",
                    "Age of the oldest untriaged grievance (0: none)");
        evbuffer_add_printf(out, "redress_triage_backlog_oldest_seconds %s\n",
                            PQgetvalue(backlog, 0, 1));
    }
    if (open) {
        prom_header(out, "redress_cases_open", "gauge", "Open cases by priority band");
        for (int r = 0; r < PQntuples(open); r++)
            evbuffer_add_printf(out, "redress_cases_open{band=\"%s\"} %s\n", PQgetvalue(open, r, 0),
                                PQgetvalue(open, r, 1));
    }
    if (missed) {
        prom_header(out, "redress_cases_deadline_missed", "gauge",
                    "Open cases whose current stage's deadline has passed, by band and stage");
        for (int r = 0; r < PQntuples(missed); r++)
            evbuffer_add_printf(out, "redress_cases_deadline_missed{band=\"%s\",stage=\"%s\"} %s\n",
                                PQgetvalue(missed, r, 0), PQgetvalue(missed, r, 1),
                                PQgetvalue(missed, r, 2));
    }
    PQclear(backlog);
    PQclear(open);
    PQclear(missed);
}

int triage_metrics_start(const Config *cfg, char *err, size_t errlen)
{
    if (!cfg->metrics_enabled)
        return 0;
    triage_metrics_cfg = cfg;
    triage_metrics_server = prom_server_start(cfg->metrics_listen, cfg->metrics_triage_port,
                                              triage_metrics_render, NULL, err, errlen);
    if (!triage_metrics_server)
        return -1;
    LOG_INFO("metrics on http://%s:%d/metrics", cfg->metrics_listen, cfg->metrics_triage_port);
    return 0;
}

void triage_metrics_stop(void)
{
    prom_server_stop(triage_metrics_server);
    triage_metrics_server = NULL;
    if (triage_metrics_conn)
        PQfinish(triage_metrics_conn);
    triage_metrics_conn = NULL;
}
