/* Re-scoring (rescore.h). The cluster-key locks, the deadlines and the decisions and events are
 * written as batch.c writes them (casewrite.h). */
#include "rescore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casewrite.h"
#include "cluster.h"
#include "log.h"
#include "score.h"
#include "sqlarray.h"
#include "txn.h"
#include "util.h"

#define RESCORE_PAGE 500

enum { RK_ID, RK_KEY, RK_N };
static const char *const key_cols[RK_N] = {[RK_ID] = "id", [RK_KEY] = "cluster_key"};

enum {
    RC_ID,
    RC_CATEGORY,
    RC_COUNT,
    RC_PEOPLE,
    RC_ONGOING,
    RC_DANGER,
    RC_VULN,
    RC_BAND,
    RC_SCORE,
    RC_VERSION,
    RC_N
};
static const char *const case_cols[RC_N] = {
    [RC_ID] = "id",           [RC_CATEGORY] = "category", [RC_COUNT] = "n",
    [RC_PEOPLE] = "people",   [RC_ONGOING] = "ongoing",   [RC_DANGER] = "danger",
    [RC_VULN] = "vuln",       [RC_BAND] = "band",         [RC_SCORE] = "score",
    [RC_VERSION] = "version",
};

enum { RU_ID, RU_SCORE, RU_BAND, RU_DANGER, RU_N };
static const TxnColumn update_cols[RU_N] = {
    [RU_ID] = {"id", "int8"},
    [RU_SCORE] = {"score", "numeric"},
    [RU_BAND] = {"band", "text"},
    [RU_DANGER] = {"danger", "bool"},
};

/* Locks the cluster keys of a page of open cases (column RK_KEY of keys). */
static int rescore_lock(PGconn *conn, PGresult *keys, const int *col, char *err, size_t errlen)
{
    int n = PQntuples(keys);
    int32_t *ids = xmalloc(((size_t)n + 1) * sizeof *ids);
    size_t nl = 0;
    for (int i = 0; i < n; i++)
        if (PQgetvalue(keys, i, col[RK_KEY])[0])
            ids[nl++] = cluster_lock_id(PQgetvalue(keys, i, col[RK_KEY]));
    cluster_lock_ids_sort(ids, &nl);
    int rc = casewrite_lock_keys(conn, NULL, ids, nl, err, errlen);
    free(ids);
    return rc;
}

/* Scores the locked rows; gathers the updates, decisions and events. */
static void rescore_rows(PGresult *rows, const int *col, const Rules *rules, SqlArray *u,
                         CaseWrites *w)
{
    char note[512];
    for (int i = 0; i < PQntuples(rows); i++) {
        char **vuln;
        size_t nvuln;
        if (sqlarray_strings_parse(PQgetvalue(rows, i, col[RC_VULN]), &vuln, &nvuln) < 0) {
            vuln = NULL;
            nvuln = 0;
        }
        ScoreInput in = {PQgetvalue(rows, i, col[RC_CATEGORY]),
                         strtoll(PQgetvalue(rows, i, col[RC_PEOPLE]), NULL, 10),
                         strtoll(PQgetvalue(rows, i, col[RC_COUNT]), NULL, 10),
                         PQgetvalue(rows, i, col[RC_ONGOING])[0] == 't',
                         PQgetvalue(rows, i, col[RC_DANGER])[0] == 't',
                         (const char *const *)vuln,
                         nvuln};
        Score s;
        score_compute(rules, &in, &s);
        sqlarray_strings_free(vuln, nvuln);
        long long id = strtoll(PQgetvalue(rows, i, col[RC_ID]), NULL, 10);
        sqlarray_add_int(&u[RU_ID], id);
        sqlarray_add_fixed2(&u[RU_SCORE], s.score);
        sqlarray_add_text(&u[RU_BAND], band_name(s.band));
        sqlarray_add_bool(&u[RU_DANGER], in.danger);
        casewrite_decision(w, id, 0, &s);
        const char *old_band = PQgetvalue(rows, i, col[RC_BAND]);
        const char *old_version = PQgetvalue(rows, i, col[RC_VERSION]);
        snprintf(note, sizeof note,
                 "re-scored on request under rules %s (was %s): band %s -> %s, score %.2f -> %.2f",
                 rules->version, old_version[0] ? old_version : "none",
                 old_band[0] ? old_band : "none", band_name(s.band),
                 strtod(PQgetvalue(rows, i, col[RC_SCORE]), NULL), s.score);
        casewrite_event(w, id, "rescored", NULL, note);
    }
}

/* One page of cases with id > *after; returns how many were re-scored (0: done, -2: a page whose
 * cases all closed meanwhile) or -1. */
static int rescore_page(PGconn *conn, const Rules *rules, long long *after, char *err,
                        size_t errlen)
{
    PGresult *keys = NULL, *rows = NULL, *res = NULL;
    SqlArray ids, u[RU_N];
    CaseWrites w;
    CaseWriteScalars sc;
    int kcol[RK_N], ccol[RC_N];
    int rc = -1;
    sqlarray_init(&ids);
    for (int i = 0; i < RU_N; i++)
        sqlarray_init(&u[i]);
    casewrite_init(&w);
    casewrite_scalars(rules, &sc);

    res = txn_exec(conn, "BEGIN", "BEGIN", 0, NULL, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        goto fail;
    PQclear(res);
    char after_s[24], page_s[16];
    snprintf(after_s, sizeof after_s, "%lld", *after);
    snprintf(page_s, sizeof page_s, "%d", RESCORE_PAGE);
    const char *p1[] = {after_s, page_s};
    keys = txn_exec(conn, "listing open cases",
                    "SELECT id, coalesce(cluster_key, '') AS cluster_key FROM remedy_case "
                    "WHERE status NOT IN ('closed', 'rejected', 'referred') AND id > $1::int8 "
                    "ORDER BY id LIMIT $2::int",
                    2, p1, PGRES_TUPLES_OK, err, errlen);
    if (!keys || txn_columns(keys, "listing open cases", key_cols, RK_N, kcol, err, errlen) < 0)
        goto fail;
    int n = PQntuples(keys);
    if (n == 0) {
        rc = 0;
        goto fail; /* nothing left: roll back the empty transaction */
    }
    for (int i = 0; i < n; i++)
        sqlarray_add_text(&ids, PQgetvalue(keys, i, kcol[RK_ID]));
    *after = strtoll(PQgetvalue(keys, n - 1, kcol[RK_ID]), NULL, 10);
    if (rescore_lock(conn, keys, kcol, err, errlen) < 0)
        goto fail;
    const char *p3[] = {sqlarray_text(&ids)};
    rows = txn_exec(conn, "reading cases",
                    "SELECT id, category, grievance_count AS n, people_affected AS people, "
                    "ongoing, immediate_danger AS danger, "
                    "array_to_json(vulnerability)::text AS vuln, coalesce(band, '') AS band, "
                    "coalesce(score, 0) AS score, coalesce(rules_version, '') AS version "
                    "FROM remedy_case WHERE id = ANY($1::int8[]) "
                    "AND status NOT IN ('closed', 'rejected', 'referred') ORDER BY id FOR UPDATE",
                    1, p3, PGRES_TUPLES_OK, err, errlen);
    if (!rows || txn_columns(rows, "reading cases", case_cols, RC_N, ccol, err, errlen) < 0)
        goto fail;
    rescore_rows(rows, ccol, rules, u, &w);
    if (u[RU_ID].n > 0 &&
        (txn_exec_unnest(conn, NULL, "updating cases",
                         "UPDATE remedy_case c SET score = u.score, band = u.band, "
                         "rules_version = $1, " CASEWRITE_DEADLINES_TIGHTEN "FROM ",
                         update_cols, u, RU_N, " WHERE c.id = u.id", sc.params, 2, TXN_ANY, err,
                         errlen) < 0 ||
         casewrite_flush(conn, NULL, &w, rules, err, errlen) < 0))
        goto fail;
    if (txn_commit(conn, err, errlen) < 0)
        goto fail;
    rc = u[RU_ID].n > 0 ? (int)u[RU_ID].n : -2;
    goto done;
fail:
    txn_rollback(conn);
done:
    PQclear(keys);
    PQclear(rows);
    sqlarray_free(&ids);
    for (int i = 0; i < RU_N; i++)
        sqlarray_free(&u[i]);
    casewrite_free(&w);
    return rc;
}

long long rescore_run(PGconn *conn, const Rules *rules, char *err, size_t errlen)
{
    long long after = 0, total = 0;
    for (;;) {
        int n = rescore_page(conn, rules, &after, err, errlen);
        if (n == 0)
            break;
        if (n == -1)
            return -1;
        if (n > 0)
            total += n;
        LOG_DEBUG("rescore: %lld cases so far", total);
    }
    return total;
}
