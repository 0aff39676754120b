/* Shared writes of batch.c and rescore.c (casewrite.h). */
#include "casewrite.h"

#include <stdio.h>
#include <stdlib.h>

#include "txn.h"

int casewrite_lock_keys(PGconn *conn, TxnPipe *pipe, const int32_t *ids, size_t n, char *err,
                        size_t errlen)
{
    if (n == 0)
        return 0;
    SqlArray a;
    sqlarray_init(&a);
    for (size_t i = 0; i < n; i++)
        sqlarray_add_int(&a, ids[i]);
    char cls[16];
    snprintf(cls, sizeof cls, "%d", CASEWRITE_LOCK_CLASS);
    const char *params[] = {cls, sqlarray_text(&a)};
    /* unnest keeps the array's order: the locks are taken in ascending id order. */
    static const char sql[] = "SELECT pg_advisory_xact_lock($1::int4, k) "
                              "FROM unnest($2::int4[]) AS k";
    if (pipe) {
        int rc = txn_pipe_exec(conn, pipe, "locking cluster keys", sql, 2, params, PGRES_TUPLES_OK,
                               NULL, err, errlen);
        sqlarray_free(&a);
        return rc;
    }
    PGresult *res =
        txn_exec(conn, "locking cluster keys", sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    sqlarray_free(&a);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

void casewrite_init(CaseWrites *w)
{
    for (int i = 0; i < CW_DEC_N; i++)
        sqlarray_init(&w->dec[i]);
    for (int i = 0; i < CW_EV_N; i++)
        sqlarray_init(&w->ev[i]);
}

void casewrite_free(CaseWrites *w)
{
    for (int i = 0; i < CW_DEC_N; i++)
        sqlarray_free(&w->dec[i]);
    for (int i = 0; i < CW_EV_N; i++)
        sqlarray_free(&w->ev[i]);
}

void casewrite_decision(CaseWrites *w, long long case_id, long long grievance_id, const Score *s)
{
    char *comp = score_components_json(s), *fired = score_factors_json(s);
    sqlarray_add_int(&w->dec[CW_DEC_CASE], case_id);
    if (grievance_id > 0)
        sqlarray_add_int(&w->dec[CW_DEC_GRIEVANCE], grievance_id);
    else
        sqlarray_add_text(&w->dec[CW_DEC_GRIEVANCE], NULL);
    sqlarray_add_fixed2(&w->dec[CW_DEC_SCORE], s->score);
    sqlarray_add_text(&w->dec[CW_DEC_BAND], band_name(s->band));
    sqlarray_add_text(&w->dec[CW_DEC_COMP], comp);
    sqlarray_add_text(&w->dec[CW_DEC_FIRED], fired);
    free(comp);
    free(fired);
}

void casewrite_event(CaseWrites *w, long long case_id, const char *action, const char *to_status,
                     const char *note)
{
    sqlarray_add_int(&w->ev[CW_EV_CASE], case_id);
    sqlarray_add_text(&w->ev[CW_EV_ACTION], action);
    sqlarray_add_text(&w->ev[CW_EV_STATUS], to_status);
    sqlarray_add_text(&w->ev[CW_EV_NOTE], note);
}

size_t casewrite_decisions(const CaseWrites *w)
{
    return w->dec[CW_DEC_CASE].n;
}

static const TxnColumn casewrite_dec_cols[CW_DEC_N] = {
    [CW_DEC_CASE] = {"case_id", "int8"},   [CW_DEC_GRIEVANCE] = {"grievance_id", "int8"},
    [CW_DEC_SCORE] = {"score", "numeric"}, [CW_DEC_BAND] = {"band", "text"},
    [CW_DEC_COMP] = {"comp", "text"},      [CW_DEC_FIRED] = {"fired", "text"},
};

int casewrite_flush(PGconn *conn, TxnPipe *pipe, CaseWrites *w, const Rules *rules, char *err,
                    size_t errlen)
{
    const char *version[] = {rules->version};
    /* decided_at is the insert's own time, not the transaction's start: a worker that waited on
     * a cluster-key lock must order after the one it waited for. */
    if (w->dec[CW_DEC_CASE].n > 0 &&
        txn_exec_unnest(conn, pipe, "inserting decisions",
                        "INSERT INTO triage_decision (case_id, grievance_id, score, band, "
                        "components, rules_fired, rules_version, decided_at) "
                        "SELECT u.case_id, u.grievance_id, u.score, u.band, u.comp::jsonb, "
                        "u.fired::jsonb, $1, clock_timestamp() FROM ",
                        casewrite_dec_cols, w->dec, CW_DEC_N, "", version, 1, TXN_ANY, err,
                        errlen) < 0)
        return -1;
    if (w->ev[CW_EV_CASE].n == 0)
        return 0;
    /* One call chains the whole set (sql/029): the heads move set by set instead of one
     * statement per event in the row trigger; each event gets the same link either way. */
    static const char ev_sql[] =
        "SELECT triage_events_append($1::int8[], $2::text[], $3::text[], $4::text[])";
    const char *ev[] = {sqlarray_text(&w->ev[CW_EV_CASE]), sqlarray_text(&w->ev[CW_EV_ACTION]),
                        sqlarray_text(&w->ev[CW_EV_STATUS]), sqlarray_text(&w->ev[CW_EV_NOTE])};
    return txn_send(conn, pipe, "inserting events", ev_sql, 4, ev, PGRES_TUPLES_OK, TXN_ANY, err,
                    errlen);
}

void casewrite_scalars(const Rules *rules, CaseWriteScalars *out)
{
    rules_deadlines_literal(rules, out->deadlines, sizeof out->deadlines);
    out->params[0] = rules->version;
    out->params[1] = out->deadlines;
}
