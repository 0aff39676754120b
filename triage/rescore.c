/* Re-scoring (rescore.h). */
#include "rescore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cluster.h"
#include "log.h"
#include "score.h"
#include "sqlarray.h"
#include "txn.h"
#include "util.h"

#define RESCORE_PAGE 500

static int rescore_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* One page of cases with id > *after; returns how many were re-scored (0: done) or -1. */
static int rescore_page(PGconn *conn, const Rules *rules, long long *after, char *err,
                        size_t errlen)
{
    PGresult *keys = NULL, *rows = NULL, *res = NULL;
    SqlArray ids, locks, a[5], e[2];
    int32_t *lockv = NULL;
    int rc = -1;
    sqlarray_init(&ids);
    sqlarray_init(&locks);
    for (int i = 0; i < 5; i++)
        sqlarray_init(&a[i]);
    for (int i = 0; i < 2; i++)
        sqlarray_init(&e[i]);

    res = txn_exec(conn, "BEGIN", "BEGIN", 0, NULL, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        goto fail;
    PQclear(res);
    char after_s[24], page_s[16];
    snprintf(after_s, sizeof after_s, "%lld", *after);
    snprintf(page_s, sizeof page_s, "%d", RESCORE_PAGE);
    const char *p1[] = {after_s, page_s};
    keys = txn_exec(conn, "listing open cases",
                    "SELECT id, coalesce(cluster_key, '') FROM remedy_case "
                    "WHERE status NOT IN ('closed', 'rejected', 'referred') AND id > $1::int8 "
                    "ORDER BY id LIMIT $2::int",
                    2, p1, PGRES_TUPLES_OK, err, errlen);
    if (!keys)
        goto fail;
    int n = PQntuples(keys);
    if (n == 0) {
        rc = 0;
        goto fail; /* nothing left: roll back the empty transaction */
    }
    lockv = xmalloc((size_t)n * sizeof *lockv);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        sqlarray_add_text(&ids, PQgetvalue(keys, i, 0));
        if (PQgetvalue(keys, i, 1)[0])
            lockv[nl++] = cluster_lock_id(PQgetvalue(keys, i, 1));
    }
    *after = strtoll(PQgetvalue(keys, n - 1, 0), NULL, 10);
    qsort(lockv, (size_t)nl, sizeof *lockv, rescore_cmp_i32);
    for (int i = 0; i < nl; i++)
        if (i == 0 || lockv[i] != lockv[i - 1])
            sqlarray_add_int(&locks, lockv[i]);
    char cls[16];
    snprintf(cls, sizeof cls, "%d", BATCH_LOCK_CLASS);
    const char *p2[] = {cls, sqlarray_text(&locks)};
    res = txn_exec(conn, "locking cluster keys",
                   "SELECT pg_advisory_xact_lock($1::int4, k) FROM unnest($2::int4[]) AS k", 2, p2,
                   PGRES_TUPLES_OK, err, errlen);
    if (!res)
        goto fail;
    PQclear(res);
    const char *p3[] = {sqlarray_text(&ids)};
    rows = txn_exec(conn, "reading cases",
                    "SELECT id, category, grievance_count, people_affected, ongoing, "
                    "array_to_json(vulnerability)::text, coalesce(band, ''), coalesce(score, 0), "
                    "coalesce(rules_version, '') FROM remedy_case WHERE id = ANY($1::int8[]) "
                    "AND status NOT IN ('closed', 'rejected', 'referred') ORDER BY id FOR UPDATE",
                    1, p3, PGRES_TUPLES_OK, err, errlen);
    if (!rows)
        goto fail;
    char note[512];
    for (int i = 0; i < PQntuples(rows); i++) {
        char **vuln;
        size_t nvuln;
        if (sqlarray_strings_parse(PQgetvalue(rows, i, 5), &vuln, &nvuln) < 0) {
            vuln = NULL;
            nvuln = 0;
        }
        ScoreInput in = {PQgetvalue(rows, i, 1),
                         strtoll(PQgetvalue(rows, i, 3), NULL, 10),
                         strtoll(PQgetvalue(rows, i, 2), NULL, 10),
                         PQgetvalue(rows, i, 4)[0] == 't',
                         (const char *const *)vuln,
                         nvuln};
        Score s;
        score_compute(rules, &in, &s);
        sqlarray_strings_free(vuln, nvuln);
        char *comp = score_components_json(&s), *fired = score_factors_json(&s);
        sqlarray_add_text(&a[0], PQgetvalue(rows, i, 0));
        sqlarray_add_fixed2(&a[1], s.score);
        sqlarray_add_text(&a[2], band_name(s.band));
        sqlarray_add_text(&a[3], comp);
        sqlarray_add_text(&a[4], fired);
        free(comp);
        free(fired);
        const char *old_band = PQgetvalue(rows, i, 6);
        snprintf(note, sizeof note,
                 "re-scored on request under rules %s (was %s): band %s -> %s, score %.2f -> %.2f",
                 rules->version, PQgetvalue(rows, i, 8)[0] ? PQgetvalue(rows, i, 8) : "none",
                 old_band[0] ? old_band : "none", band_name(s.band),
                 strtod(PQgetvalue(rows, i, 7), NULL), s.score);
        sqlarray_add_text(&e[0], PQgetvalue(rows, i, 0));
        sqlarray_add_text(&e[1], note);
    }
    if (a[0].n > 0) {
        char dl[128];
        rules_deadlines_literal(rules, dl, sizeof dl);
        const char *p4[] = {sqlarray_text(&a[0]),
                            sqlarray_text(&a[1]),
                            sqlarray_text(&a[2]),
                            sqlarray_text(&a[3]),
                            sqlarray_text(&a[4]),
                            rules->version,
                            dl};
        /* Deadlines already promised are kept; a more urgent band brings them forward. */
        res = txn_exec(
            conn, "updating cases",
            "WITH u AS (SELECT * FROM unnest($1::int8[], $2::numeric[], $3::text[], $4::text[], "
            "$5::text[]) AS u(id, score, band, comp, fired)), "
            "upd AS (UPDATE remedy_case c SET score = u.score, band = u.band, rules_version = $6, "
            "ack_due = least(c.ack_due, c.opened_at + "
            "  make_interval(hours => ($7::int[])[substr(u.band, 2)::int][1])), "
            "response_due = least(c.response_due, c.opened_at + "
            "  make_interval(hours => ($7::int[])[substr(u.band, 2)::int][2])), "
            "remedy_due = least(c.remedy_due, c.opened_at + "
            "  make_interval(hours => ($7::int[])[substr(u.band, 2)::int][3])) "
            "FROM u WHERE c.id = u.id RETURNING c.id) "
            "INSERT INTO triage_decision (case_id, grievance_id, score, band, components, "
            "rules_fired, rules_version, decided_at) "
            "SELECT u.id, NULL, u.score, u.band, u.comp::jsonb, u.fired::jsonb, $6, "
            "clock_timestamp() "
            "FROM u",
            7, p4, PGRES_COMMAND_OK, err, errlen);
        if (!res)
            goto fail;
        PQclear(res);
        const char *p5[] = {sqlarray_text(&e[0]), sqlarray_text(&e[1])};
        res = txn_exec(conn, "inserting events",
                       "INSERT INTO case_event (case_id, action, note) "
                       "SELECT u.c, 'rescored', u.n FROM unnest($1::int8[], $2::text[]) AS u(c, n)",
                       2, p5, PGRES_COMMAND_OK, err, errlen);
        if (!res)
            goto fail;
        PQclear(res);
    }
    if (txn_commit(conn, err, errlen) < 0)
        goto fail;
    rc = (int)a[0].n;
    if (rc == 0)
        rc = -2; /* a page whose cases all closed meanwhile: go on */
    goto done;
fail:
    txn_rollback(conn);
done:
    PQclear(keys);
    PQclear(rows);
    free(lockv);
    sqlarray_free(&ids);
    sqlarray_free(&locks);
    for (int i = 0; i < 5; i++)
        sqlarray_free(&a[i]);
    for (int i = 0; i < 2; i++)
        sqlarray_free(&e[i]);
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
