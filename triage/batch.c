/* One triage batch (batch.h). The flow, all in one transaction:
 *   claim -> decide owners, cluster keys, signatures (C) -> lock cluster keys in ascending order
 *   -> read open candidate cases of those keys -> assign each grievance to the most similar case
 *   of its key, or a new one (C) -> score touched cases (C) -> write: new case ids, new cases,
 *   grown cases, grievances, owners, decisions, events -> COMMIT.
 * Locks are taken in one global order (ascending lock id), so two workers never deadlock; a
 * worker that waits on a key re-reads its candidates after the other committed, so it joins the
 * case the other opened instead of opening a second one. */
#include "batch.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "pgconn.h"
#include "score.h"
#include "sqlarray.h"
#include "txn.h"
#include "util.h"

#define BATCH_MAX_VULN 16

typedef struct {
    long long id;
    double received;                /* epoch seconds */
    const char *country, *category; /* borrowed from the claim result */
    long long people;
    bool ongoing;
    char **companies, **services, **vuln;
    size_t ncompanies, nservices, nvuln;
    Ownership own;
    char *key;
    size_t group;
    size_t ci; /* its case */
    uint32_t sig[CLUSTER_SIG_LEN];
} BatchItem;

typedef struct {
    long long id; /* 0 for a new case until its id is drawn */
    bool is_new;
    size_t group;
    uint32_t sig[CLUSTER_SIG_LEN];
    long long count, added, people;
    double first, last;
    bool ongoing;
    char *vuln[BATCH_MAX_VULN];
    size_t nvuln;
    const char *category, *country; /* borrowed from an item */
    int old_band;                   /* -1: none */
    double old_score;
    bool old_version; /* last scored under other rules: the next decision records this version */
    long long last_gid;
    size_t opener; /* new cases: the item that opened it */
    Score *score;  /* computed for touched cases only (it is ~6 KB) */
    char reference[12];
} BatchCase;

typedef struct {
    char *key; /* owned */
    int32_t lock;
    size_t *cases; /* indexes into cases, oldest first */
    size_t ncases, capcases;
} BatchGroup;

typedef struct {
    BatchItem *items;
    size_t nitems;
    BatchCase *cases;
    size_t ncases, capcases;
    BatchGroup *groups;
    size_t ngroups;
    size_t *table; /* open addressing: group index + 1, 0 empty */
    size_t tablecap;
} Batch;

static uint64_t batch_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The group of a key, made when new (takes a copy of key). */
static size_t batch_group(Batch *b, const char *key)
{
    size_t mask = b->tablecap - 1;
    for (size_t i = (size_t)batch_hash(key) & mask;; i = (i + 1) & mask) {
        if (b->table[i] == 0) {
            BatchGroup *g = &b->groups[b->ngroups];
            memset(g, 0, sizeof *g);
            g->key = xstrdup(key);
            g->lock = cluster_lock_id(key);
            b->table[i] = ++b->ngroups;
            return b->ngroups - 1;
        }
        if (strcmp(b->groups[b->table[i] - 1].key, key) == 0)
            return b->table[i] - 1;
    }
}

static size_t batch_group_find(const Batch *b, const char *key, bool *found)
{
    size_t mask = b->tablecap - 1;
    for (size_t i = (size_t)batch_hash(key) & mask;; i = (i + 1) & mask) {
        if (b->table[i] == 0) {
            *found = false;
            return 0;
        }
        if (strcmp(b->groups[b->table[i] - 1].key, key) == 0) {
            *found = true;
            return b->table[i] - 1;
        }
    }
}

static size_t batch_case_new(Batch *b, size_t group)
{
    if (b->ncases == b->capcases) {
        b->capcases = b->capcases ? 2 * b->capcases : 64;
        b->cases = xrealloc(b->cases, b->capcases * sizeof *b->cases);
    }
    size_t ci = b->ncases++;
    BatchCase *c = &b->cases[ci];
    memset(c, 0, sizeof *c);
    c->group = group;
    c->old_band = -1;
    BatchGroup *g = &b->groups[group];
    if (g->ncases == g->capcases) {
        g->capcases = g->capcases ? 2 * g->capcases : 4;
        g->cases = xrealloc(g->cases, g->capcases * sizeof *g->cases);
    }
    g->cases[g->ncases++] = ci;
    return ci;
}

static bool batch_vuln_ok(const char *s)
{
    if (!*s || strlen(s) > 40)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void batch_vuln_add(BatchCase *c, const char *v)
{
    if (!batch_vuln_ok(v) || c->nvuln == BATCH_MAX_VULN)
        return;
    for (size_t i = 0; i < c->nvuln; i++)
        if (strcmp(c->vuln[i], v) == 0)
            return;
    c->vuln[c->nvuln++] = xstrdup(v);
}

static void batch_case_join(BatchCase *c, const BatchItem *it)
{
    c->count++;
    c->added++;
    if (it->people > c->people)
        c->people = it->people;
    if (c->count > c->people)
        c->people = c->count;
    if (it->received > c->last)
        c->last = it->received;
    if (it->received < c->first)
        c->first = it->received;
    c->ongoing = c->ongoing || it->ongoing;
    for (size_t i = 0; i < it->nvuln; i++)
        batch_vuln_add(c, it->vuln[i]);
    c->last_gid = it->id;
    c->category = it->category;
    c->country = it->country;
}

static void batch_free(Batch *b)
{
    for (size_t i = 0; i < b->nitems; i++) {
        BatchItem *it = &b->items[i];
        sqlarray_strings_free(it->companies, it->ncompanies);
        sqlarray_strings_free(it->services, it->nservices);
        sqlarray_strings_free(it->vuln, it->nvuln);
        free(it->key);
    }
    for (size_t i = 0; i < b->ncases; i++) {
        for (size_t j = 0; j < b->cases[i].nvuln; j++)
            free(b->cases[i].vuln[j]);
        free(b->cases[i].score);
    }
    for (size_t i = 0; i < b->ngroups; i++) {
        free(b->groups[i].key);
        free(b->groups[i].cases);
    }
    free(b->items);
    free(b->cases);
    free(b->groups);
    free(b->table);
}

static int batch_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int batch_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Claimed rows -> items with owners, keys and signatures. */
static int batch_items_load(Batch *b, PGresult *res, const Rules *rules, const Members *members,
                            char *err, size_t errlen)
{
    int rows = PQntuples(res);
    b->items = xcalloc((size_t)rows, sizeof *b->items);
    b->groups = xcalloc((size_t)rows, sizeof *b->groups);
    b->tablecap = 16;
    while (b->tablecap < 2 * (size_t)rows)
        b->tablecap *= 2;
    b->table = xcalloc(b->tablecap, sizeof *b->table);
    for (int r = 0; r < rows; r++) {
        BatchItem *it = &b->items[b->nitems++];
        it->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        it->received = strtod(PQgetvalue(res, r, 1), NULL);
        it->country = PQgetvalue(res, r, 2);
        it->category = PQgetvalue(res, r, 3);
        it->people = strtoll(PQgetvalue(res, r, 7), NULL, 10);
        if (it->people < 1)
            it->people = 1;
        it->ongoing = PQgetvalue(res, r, 8)[0] == 't';
        if (sqlarray_strings_parse(PQgetvalue(res, r, 5), &it->companies, &it->ncompanies) < 0 ||
            sqlarray_strings_parse(PQgetvalue(res, r, 6), &it->services, &it->nservices) < 0 ||
            sqlarray_strings_parse(PQgetvalue(res, r, 9), &it->vuln, &it->nvuln) < 0) {
            snprintf(err, errlen, "grievance %lld: unreadable array column", it->id);
            return -1;
        }
        OwnersInput oin = {it->category,
                           it->country,
                           (const char *const *)it->companies,
                           it->ncompanies,
                           (const char *const *)it->services,
                           it->nservices};
        owners_decide(rules, members, &oin, &it->own);
        long long ids[OWNERS_MAX];
        for (size_t i = 0; i < it->own.n; i++)
            ids[i] = it->own.owners[i].member->id;
        qsort(ids, it->own.n, sizeof *ids, batch_cmp_ll);
        it->key = cluster_key_make(it->category, it->country, ids, it->own.n);
        it->group = batch_group(b, it->key);
        cluster_signature(PQgetvalue(res, r, 4), it->sig);
    }
    return 0;
}

static int batch_lock_keys(PGconn *conn, Batch *b, char *err, size_t errlen)
{
    int32_t *ids = xmalloc(b->ngroups * sizeof *ids);
    for (size_t i = 0; i < b->ngroups; i++)
        ids[i] = b->groups[i].lock;
    qsort(ids, b->ngroups, sizeof *ids, batch_cmp_i32);
    SqlArray a;
    sqlarray_init(&a);
    for (size_t i = 0; i < b->ngroups; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            sqlarray_add_int(&a, ids[i]);
    char cls[16];
    snprintf(cls, sizeof cls, "%d", BATCH_LOCK_CLASS);
    const char *params[] = {cls, sqlarray_text(&a)};
    /* unnest keeps the array's order: the locks are taken in ascending id order. */
    PGresult *res = txn_exec(conn, "locking cluster keys",
                             "SELECT pg_advisory_xact_lock($1::int4, k) "
                             "FROM unnest($2::int4[]) AS k",
                             2, params, PGRES_TUPLES_OK, err, errlen);
    sqlarray_free(&a);
    free(ids);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

static int batch_candidates_load(PGconn *conn, Batch *b, const Rules *rules, char *err,
                                 size_t errlen)
{
    double since = INFINITY;
    for (size_t i = 0; i < b->nitems; i++)
        if (b->items[i].received < since)
            since = b->items[i].received;
    since -= rules->window_h * 3600;
    SqlArray keys;
    sqlarray_init(&keys);
    for (size_t i = 0; i < b->ngroups; i++)
        sqlarray_add_text(&keys, b->groups[i].key);
    char since_s[40], limit_s[16];
    snprintf(since_s, sizeof since_s, "%.6f", since);
    snprintf(limit_s, sizeof limit_s, "%d", rules->max_candidates);
    const char *params[] = {sqlarray_text(&keys), since_s, limit_s};
    /* Per key the most recently active open cases and the most recently active open collective
     * cases: a mass event stays a candidate however many single cases share its key. Narrow id
     * lists first, whole rows once (IN drops the duplicates). */
    PGresult *res = txn_exec(
        conn, "reading candidate cases",
        "SELECT c.id, c.cluster_key, encode(c.signature, 'hex'), c.grievance_count, "
        "c.people_affected, extract(epoch FROM c.first_received_at)::float8, "
        "extract(epoch FROM c.last_received_at)::float8, c.ongoing, "
        "array_to_json(c.vulnerability)::text, coalesce(c.band, ''), coalesce(c.score, 0), "
        "coalesce(c.rules_version, '') "
        "FROM remedy_case c WHERE c.id IN ("
        "  SELECT x.id FROM unnest($1::text[]) AS k CROSS JOIN LATERAL ("
        "    (SELECT o.id FROM remedy_case o WHERE o.cluster_key = k "
        "     AND o.status NOT IN ('closed', 'rejected', 'referred') "
        "     AND o.last_received_at >= to_timestamp($2::float8) "
        "     ORDER BY o.last_received_at DESC LIMIT $3::int) "
        "    UNION ALL "
        "    (SELECT o.id FROM remedy_case o WHERE o.cluster_key = k AND o.collective "
        "     AND o.status NOT IN ('closed', 'rejected', 'referred') "
        "     AND o.last_received_at >= to_timestamp($2::float8) "
        "     ORDER BY o.last_received_at DESC LIMIT $3::int)) x)",
        3, params, PGRES_TUPLES_OK, err, errlen);
    sqlarray_free(&keys);
    if (!res)
        return -1;
    for (int r = PQntuples(res) - 1; r >= 0; r--) {
        bool found;
        size_t g = batch_group_find(b, PQgetvalue(res, r, 1), &found);
        uint32_t sig[CLUSTER_SIG_LEN];
        if (!found || cluster_signature_parse(PQgetvalue(res, r, 2), sig) < 0)
            continue;                     /* a case without a usable signature is never joined */
        size_t ci = batch_case_new(b, g); /* may move b->cases */
        BatchCase *c = &b->cases[ci];
        c->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        memcpy(c->sig, sig, sizeof sig);
        c->count = strtoll(PQgetvalue(res, r, 3), NULL, 10);
        c->people = strtoll(PQgetvalue(res, r, 4), NULL, 10);
        c->first = strtod(PQgetvalue(res, r, 5), NULL);
        c->last = strtod(PQgetvalue(res, r, 6), NULL);
        c->ongoing = PQgetvalue(res, r, 7)[0] == 't';
        char **v;
        size_t nv;
        if (sqlarray_strings_parse(PQgetvalue(res, r, 8), &v, &nv) == 0) {
            for (size_t i = 0; i < nv; i++)
                batch_vuln_add(c, v[i]);
            sqlarray_strings_free(v, nv);
        }
        c->old_band = band_parse(PQgetvalue(res, r, 9));
        c->old_score = strtod(PQgetvalue(res, r, 10), NULL);
        c->old_version = strcmp(PQgetvalue(res, r, 11), rules->version) != 0;
    }
    PQclear(res);
    return 0;
}

/* Each grievance joins the most similar recent case of its group, or opens one. */
static void batch_assign(Batch *b, const Rules *rules)
{
    double window = rules->window_h * 3600;
    for (size_t i = 0; i < b->nitems; i++) {
        BatchItem *it = &b->items[i];
        BatchGroup *g = &b->groups[it->group];
        double best_sim = -1;
        size_t best = 0;
        size_t singles = 0;
        /* Every collective case of the group, and the most recent single cases. */
        for (size_t k = g->ncases; k-- > 0;) {
            BatchCase *c = &b->cases[g->cases[k]];
            if (c->count <= 1 && singles++ >= (size_t)rules->max_candidates)
                continue;
            if (it->received > c->last + window || it->received < c->first - window)
                continue;
            double sim = cluster_similarity(it->sig, c->sig);
            if (sim > best_sim) {
                best_sim = sim;
                best = g->cases[k];
            }
        }
        if (best_sim >= rules->similarity) {
            it->ci = best;
        } else {
            it->ci = batch_case_new(b, it->group);
            BatchCase *c = &b->cases[it->ci];
            c->is_new = true;
            c->opener = i;
            memcpy(c->sig, it->sig, sizeof c->sig);
            c->first = c->last = it->received;
            txn_case_reference(c->reference);
        }
        batch_case_join(&b->cases[it->ci], it);
    }
}

static void batch_score(Batch *b, const Rules *rules)
{
    for (size_t i = 0; i < b->ncases; i++) {
        BatchCase *c = &b->cases[i];
        if (c->added == 0)
            continue;
        ScoreInput in = {c->category, c->people, c->count, c->ongoing, (const char *const *)c->vuln,
                         c->nvuln};
        c->score = xmalloc(sizeof *c->score);
        score_compute(rules, &in, c->score);
    }
}

/* Runs sql with the arrays' texts as $1..$n, then the extra parameters, expecting a command
 * result. 0, with the rows affected in *affected when not NULL; -1 with err. */
static int batch_exec_arrays(PGconn *conn, const char *what, const char *sql, SqlArray *arrays,
                             int narrays, const char *const *extra, int nextra,
                             unsigned long *affected, char *err, size_t errlen)
{
    const char *params[32];
    if (narrays + nextra > 32)
        abort(); /* a programmer error: no statement here has that many parameters */
    for (int i = 0; i < narrays; i++)
        params[i] = sqlarray_text(&arrays[i]);
    for (int i = 0; i < nextra; i++)
        params[narrays + i] = extra[i];
    PGresult *res =
        txn_exec(conn, what, sql, narrays + nextra, params, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        return -1;
    if (affected)
        *affected = strtoul(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

/* Draws ids for the new cases from the sequence, so rows can be linked before inserting. */
static int batch_ids_draw(PGconn *conn, Batch *b, size_t nnew, char *err, size_t errlen)
{
    char n_s[24];
    snprintf(n_s, sizeof n_s, "%zu", nnew);
    const char *params[] = {n_s};
    PGresult *res =
        txn_exec(conn, "drawing case ids",
                 "SELECT nextval('remedy_case_id_seq') FROM generate_series(1, $1::int)", 1, params,
                 PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -1;
    int r = 0;
    for (size_t i = 0; i < b->ncases && r < PQntuples(res); i++)
        if (b->cases[i].is_new)
            b->cases[i].id = strtoll(PQgetvalue(res, r++, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static void batch_vuln_join(const BatchCase *c, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nvuln && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", c->vuln[i]);
}

static int batch_cases_insert(PGconn *conn, Batch *b, const Rules *rules, char *err, size_t errlen)
{
    enum { N = 15 };
    SqlArray a[N];
    for (int i = 0; i < N; i++)
        sqlarray_init(&a[i]);
    char buf[BATCH_MAX_VULN * 42], hex[2 * CLUSTER_SIG_BYTES + 1];
    for (size_t i = 0; i < b->ncases; i++) {
        const BatchCase *c = &b->cases[i];
        if (!c->is_new)
            continue;
        const BatchItem *op = &b->items[c->opener];
        sqlarray_add_int(&a[0], c->id);
        sqlarray_add_text(&a[1], c->reference);
        sqlarray_add_text(&a[2], op->category);
        sqlarray_add_text(&a[3], op->country);
        sqlarray_add_text(&a[4], b->groups[c->group].key);
        cluster_signature_hex(c->sig, hex);
        sqlarray_add_text(&a[5], hex);
        sqlarray_add_int(&a[6], c->count);
        sqlarray_add_int(&a[7], c->people);
        sqlarray_add_fixed2(&a[8], c->score->score);
        sqlarray_add_text(&a[9], band_name(c->score->band));
        if (op->own.n > 0)
            sqlarray_add_int(&a[10], op->own.owners[0].member->id);
        else
            sqlarray_add_text(&a[10], NULL);
        sqlarray_add_double(&a[11], c->first);
        sqlarray_add_double(&a[12], c->last);
        batch_vuln_join(c, buf, sizeof buf);
        sqlarray_add_text(&a[13], buf);
        sqlarray_add_bool(&a[14], c->ongoing);
    }
    char dl[128];
    rules_deadlines_literal(rules, dl, sizeof dl);
    const char *extra[] = {rules->version, dl};
    int rc = batch_exec_arrays(
        conn, "inserting cases",
        "INSERT INTO remedy_case (id, reference, status, category, country, collective, "
        "cluster_key, signature, grievance_count, people_affected, score, band, rules_version, "
        "lead_member_id, mechanism_queue, referral_flag, first_received_at, last_received_at, "
        "ack_due, response_due, remedy_due, vulnerability, ongoing) "
        "SELECT u.id, u.ref, 'triaged', u.cat, u.country, u.n > 1, u.key, decode(u.sig, 'hex'), "
        "u.n, u.people, u.score, u.band, $16, u.lead, u.lead IS NULL, u.lead IS NULL, "
        "to_timestamp(u.first), to_timestamp(u.last), "
        "now() + make_interval(hours => ($17::int[])[b.i][1]), "
        "now() + make_interval(hours => ($17::int[])[b.i][2]), "
        "now() + make_interval(hours => ($17::int[])[b.i][3]), "
        "string_to_array(u.vuln, ','), u.ongoing "
        "FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
        "$7::int[], $8::int8[], $9::numeric[], $10::text[], $11::int8[], $12::float8[], "
        "$13::float8[], $14::text[], $15::bool[]) "
        "AS u(id, ref, cat, country, key, sig, n, people, score, band, lead, first, last, vuln, "
        "ongoing) CROSS JOIN LATERAL (SELECT substr(u.band, 2)::int AS i) b",
        a, N, extra, 2, NULL, err, errlen);
    for (int i = 0; i < N; i++)
        sqlarray_free(&a[i]);
    return rc;
}

static int batch_cases_update(PGconn *conn, Batch *b, const Rules *rules, size_t *ngrown, char *err,
                              size_t errlen)
{
    enum { N = 9 };
    SqlArray a[N];
    for (int i = 0; i < N; i++)
        sqlarray_init(&a[i]);
    char buf[BATCH_MAX_VULN * 42];
    *ngrown = 0;
    for (size_t i = 0; i < b->ncases; i++) {
        const BatchCase *c = &b->cases[i];
        if (c->is_new || c->added == 0)
            continue;
        (*ngrown)++;
        sqlarray_add_int(&a[0], c->id);
        sqlarray_add_int(&a[1], c->added);
        sqlarray_add_int(&a[2], c->people);
        sqlarray_add_double(&a[3], c->last);
        sqlarray_add_fixed2(&a[4], c->score->score);
        sqlarray_add_text(&a[5], band_name(c->score->band));
        batch_vuln_join(c, buf, sizeof buf);
        sqlarray_add_text(&a[6], buf);
        sqlarray_add_bool(&a[7], c->ongoing);
        sqlarray_add_double(&a[8], c->first);
    }
    int rc = 0;
    if (*ngrown > 0) {
        char dl[128];
        rules_deadlines_literal(rules, dl, sizeof dl);
        const char *extra[] = {rules->version, dl};
        /* Counts add up (a concurrent writer cannot be lost); deadlines only ever tighten when
         * a growing case moves to a more urgent band. */
        unsigned long updated = 0;
        rc = batch_exec_arrays(
            conn, "updating cases",
            "UPDATE remedy_case c SET grievance_count = c.grievance_count + u.added, "
            "people_affected = greatest(c.people_affected, u.people, c.grievance_count + u.added), "
            "collective = true, "
            "first_received_at = least(c.first_received_at, to_timestamp(u.first)), "
            "last_received_at = greatest(c.last_received_at, to_timestamp(u.last)), "
            "score = u.score, band = u.band, rules_version = $10, "
            "vulnerability = string_to_array(u.vuln, ','), ongoing = u.ongoing, "
            "ack_due = least(c.ack_due, c.opened_at + make_interval(hours => "
            "($11::int[])[b.i][1])), "
            "response_due = least(c.response_due, "
            "  c.opened_at + make_interval(hours => ($11::int[])[b.i][2])), "
            "remedy_due = least(c.remedy_due, "
            "  c.opened_at + make_interval(hours => ($11::int[])[b.i][3])) "
            "FROM unnest($1::int8[], $2::int[], $3::int8[], $4::float8[], $5::numeric[], "
            "$6::text[], $7::text[], $8::bool[], $9::float8[]) "
            "AS u(id, added, people, last, score, band, vuln, ongoing, first) "
            "CROSS JOIN LATERAL (SELECT substr(u.band, 2)::int AS i) b "
            "WHERE c.id = u.id",
            a, N, extra, 2, &updated, err, errlen);
        if (rc == 0 && updated != *ngrown) {
            snprintf(err, errlen, "updating cases: %lu of %zu rows", updated, *ngrown);
            rc = -1;
        }
    }
    for (int i = 0; i < N; i++)
        sqlarray_free(&a[i]);
    return rc;
}

static int batch_grievances_update(PGconn *conn, Batch *b, char *err, size_t errlen)
{
    SqlArray ids, cases;
    sqlarray_init(&ids);
    sqlarray_init(&cases);
    for (size_t i = 0; i < b->nitems; i++) {
        sqlarray_add_int(&ids, b->items[i].id);
        sqlarray_add_int(&cases, b->cases[b->items[i].ci].id);
    }
    const char *params[] = {sqlarray_text(&ids), sqlarray_text(&cases)};
    PGresult *res = txn_exec(conn, "updating grievances",
                             "UPDATE grievance g SET case_id = u.case_id, triaged_at = now() "
                             "FROM unnest($1::int8[], $2::int8[]) AS u(id, case_id) "
                             "WHERE g.id = u.id AND g.triaged_at IS NULL",
                             2, params, PGRES_COMMAND_OK, err, errlen);
    sqlarray_free(&ids);
    sqlarray_free(&cases);
    if (!res)
        return -1;
    int rc = 0;
    if (strtoul(PQcmdTuples(res), NULL, 10) != b->nitems) {
        snprintf(err, errlen, "updating grievances: %s of %zu rows", PQcmdTuples(res), b->nitems);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int batch_owners_insert(PGconn *conn, Batch *b, char *err, size_t errlen)
{
    SqlArray a[4];
    for (int i = 0; i < 4; i++)
        sqlarray_init(&a[i]);
    for (size_t i = 0; i < b->ncases; i++) {
        const BatchCase *c = &b->cases[i];
        if (!c->is_new)
            continue;
        const Ownership *own = &b->items[c->opener].own;
        for (size_t k = 0; k < own->n; k++) {
            sqlarray_add_int(&a[0], c->id);
            sqlarray_add_int(&a[1], own->owners[k].member->id);
            sqlarray_add_text(&a[2], owners_role(own, k));
            sqlarray_add_text(&a[3], owners_involvement_name(own->owners[k].involvement));
        }
    }
    int rc = 0;
    if (a[0].n > 0) {
        rc = batch_exec_arrays(
            conn, "inserting owners",
            "INSERT INTO case_owner (case_id, member_id, role, involvement) "
            "SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[])",
            a, 4, NULL, 0, NULL, err, errlen);
    }
    for (int i = 0; i < 4; i++)
        sqlarray_free(&a[i]);
    return rc;
}

/* Decisions for new cases and for grown cases whose score moved; events: 'created' for a new
 * case (severity and the ownership decision with their reasons), 'grievances_joined' for a case
 * that grew (how many, the new score and any band change). */
static int batch_decisions_insert(PGconn *conn, Batch *b, const Rules *rules, long long *ndec,
                                  char *err, size_t errlen)
{
    SqlArray d[6], e[4];
    for (int i = 0; i < 6; i++)
        sqlarray_init(&d[i]);
    for (int i = 0; i < 4; i++)
        sqlarray_init(&e[i]);
    char note[1600], owners[1200];
    for (size_t i = 0; i < b->ncases; i++) {
        const BatchCase *c = &b->cases[i];
        if (c->added == 0)
            continue;
        bool moved = c->is_new || fabs(c->score->score - c->old_score) >= 0.005 ||
                     c->old_band != (int)c->score->band || c->old_version;
        if (!moved)
            continue;
        char *comp = score_components_json(c->score), *fired = score_factors_json(c->score);
        sqlarray_add_int(&d[0], c->id);
        sqlarray_add_int(&d[1], c->is_new ? b->items[c->opener].id : c->last_gid);
        sqlarray_add_fixed2(&d[2], c->score->score);
        sqlarray_add_text(&d[3], band_name(c->score->band));
        sqlarray_add_text(&d[4], comp);
        sqlarray_add_text(&d[5], fired);
        free(comp);
        free(fired);
        if (c->is_new) {
            const BatchItem *op = &b->items[c->opener];
            owners_note(rules, &op->own, op->category, op->country, owners, sizeof owners);
            snprintf(note, sizeof note, "opened by triage: band %s, score %.2f under rules %s; %s",
                     band_name(c->score->band), c->score->score, rules->version, owners);
            sqlarray_add_int(&e[0], c->id);
            sqlarray_add_text(&e[1], "created");
            sqlarray_add_text(&e[2], "triaged");
            sqlarray_add_text(&e[3], note);
        }
    }
    /* One event per grown case per batch, not one per grievance: a case of 50,000 grievances
     * keeps a readable trail. */
    for (size_t i = 0; i < b->ncases; i++) {
        const BatchCase *c = &b->cases[i];
        if (c->is_new || c->added == 0)
            continue;
        char band[96] = "";
        if (c->old_band != (int)c->score->band)
            snprintf(band, sizeof band, "; band %s -> %s",
                     c->old_band >= 0 ? band_name((Band)c->old_band) : "none",
                     band_name(c->score->band));
        snprintf(note, sizeof note,
                 "%lld grievance%s joined: the case now holds %lld; score %.2f -> %.2f%s "
                 "(rules %s)",
                 c->added, c->added == 1 ? "" : "s", c->count, c->old_score, c->score->score, band,
                 rules->version);
        sqlarray_add_int(&e[0], c->id);
        sqlarray_add_text(&e[1], "grievances_joined");
        sqlarray_add_text(&e[2], NULL);
        sqlarray_add_text(&e[3], note);
    }
    int rc = 0;
    *ndec = (long long)d[0].n;
    if (d[0].n > 0) {
        const char *extra[] = {rules->version};
        /* decided_at is the insert's own time, not the transaction's start: a worker that
         * waited on a cluster-key lock must order after the one it waited for. */
        rc = batch_exec_arrays(
            conn, "inserting decisions",
            "INSERT INTO triage_decision (case_id, grievance_id, score, band, "
            "components, rules_fired, rules_version, decided_at) "
            "SELECT u.c, u.g, u.s, u.b, u.comp::jsonb, u.fired::jsonb, $7, clock_timestamp() "
            "FROM unnest($1::int8[], $2::int8[], $3::numeric[], $4::text[], "
            "$5::text[], $6::text[]) AS u(c, g, s, b, comp, fired)",
            d, 6, extra, 1, NULL, err, errlen);
    }
    if (rc == 0 && e[0].n > 0) {
        rc = batch_exec_arrays(conn, "inserting events",
                               "INSERT INTO case_event (case_id, action, to_status, note) "
                               "SELECT u.c, u.a, u.s::case_status, u.n "
                               "FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) "
                               "AS u(c, a, s, n)",
                               e, 4, NULL, 0, NULL, err, errlen);
    }
    for (int i = 0; i < 6; i++)
        sqlarray_free(&d[i]);
    for (int i = 0; i < 4; i++)
        sqlarray_free(&e[i]);
    return rc;
}

int batch_run(PGconn *conn, const Rules *rules, const Members *members, int batch_size,
              BatchStats *stats, char *err, size_t errlen)
{
    Batch b;
    memset(&b, 0, sizeof b);
    PGresult *claim = NULL;
    int rc = -1;
    size_t nnew = 0, ngrown = 0;
    long long ndec = 0;

    PGresult *res = txn_exec(conn, "BEGIN", "BEGIN", 0, NULL, PGRES_COMMAND_OK, err, errlen);
    if (!res)
        goto fail;
    PQclear(res);
    char limit_s[16];
    snprintf(limit_s, sizeof limit_s, "%d", batch_size);
    const char *cp[] = {limit_s};
    claim = txn_exec(conn, "claiming grievances",
                     "SELECT id, extract(epoch FROM received_at)::float8, country, category, "
                     "description, array_to_json(companies)::text, "
                     "array_to_json(services)::text, coalesce(people_affected, 1), ongoing, "
                     "array_to_json(vulnerability)::text "
                     "FROM grievance WHERE triaged_at IS NULL ORDER BY id LIMIT $1::int "
                     "FOR UPDATE SKIP LOCKED",
                     1, cp, PGRES_TUPLES_OK, err, errlen);
    if (!claim)
        goto fail;
    if (PQntuples(claim) == 0) {
        PQclear(claim);
        txn_rollback(conn);
        return 0;
    }
    if (batch_items_load(&b, claim, rules, members, err, errlen) < 0 ||
        batch_lock_keys(conn, &b, err, errlen) < 0 ||
        batch_candidates_load(conn, &b, rules, err, errlen) < 0)
        goto fail;
    batch_assign(&b, rules);
    batch_score(&b, rules);
    for (size_t i = 0; i < b.ncases; i++)
        nnew += b.cases[i].is_new;
    if (nnew > 0 && (batch_ids_draw(conn, &b, nnew, err, errlen) < 0 ||
                     batch_cases_insert(conn, &b, rules, err, errlen) < 0))
        goto fail;
    if (batch_cases_update(conn, &b, rules, &ngrown, err, errlen) < 0 ||
        batch_grievances_update(conn, &b, err, errlen) < 0 ||
        batch_owners_insert(conn, &b, err, errlen) < 0 ||
        batch_decisions_insert(conn, &b, rules, &ndec, err, errlen) < 0 ||
        txn_commit(conn, err, errlen) < 0)
        goto fail;
    rc = (int)b.nitems;
    stats->grievances += (long long)b.nitems;
    stats->opened += (long long)nnew;
    stats->joined += (long long)b.nitems - (long long)nnew;
    stats->decisions += ndec;
    LOG_DEBUG("batch: %zu grievances, %zu cases opened, %zu grown, %lld decisions", b.nitems, nnew,
              ngrown, ndec);
    PQclear(claim);
    batch_free(&b);
    return rc;
fail:
    txn_rollback(conn);
    PQclear(claim);
    batch_free(&b);
    return -1;
}
