/* One triage batch (batch.h): the storing half. The flow, all in one transaction:
 *   claim -> plan the items (plan.c: owners, cluster keys, signatures) -> lock the cluster keys
 *   in ascending order -> read open candidate cases of those keys -> plan_assign, plan_score ->
 *   write: new case ids, new cases, grown cases, grievances, owners, decisions, events -> COMMIT.
 * Locks are taken in one global order (ascending lock id), so two workers never deadlock; a
 * worker that waits on a key re-reads its candidates after the other committed, so it joins the
 * case the other opened instead of opening a second one. Result columns are found by name and
 * array parameters are named columns of an unnest (txn.h), never positions. */
#include "batch.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casewrite.h"
#include "cluster.h"
#include "log.h"
#include "plan.h"
#include "sqlarray.h"
#include "txn.h"
#include "util.h"

/* The claim's columns. */
enum {
    CL_ID,
    CL_RECEIVED,
    CL_COUNTRY,
    CL_CATEGORY,
    CL_DESCRIPTION,
    CL_COMPANIES,
    CL_SERVICES,
    CL_PEOPLE,
    CL_ONGOING,
    CL_VULN,
    CL_DANGER,
    CL_N
};
static const char *const claim_cols[CL_N] = {
    [CL_ID] = "id",
    [CL_RECEIVED] = "received",
    [CL_COUNTRY] = "country",
    [CL_CATEGORY] = "category",
    [CL_DESCRIPTION] = "description",
    [CL_COMPANIES] = "companies",
    [CL_SERVICES] = "services",
    [CL_PEOPLE] = "people",
    [CL_ONGOING] = "ongoing",
    [CL_VULN] = "vuln",
    [CL_DANGER] = "danger",
};
static const char claim_sql[] =
    "SELECT id, extract(epoch FROM received_at)::float8 AS received, country, category, "
    "description, array_to_json(companies)::text AS companies, "
    "array_to_json(services)::text AS services, coalesce(people_affected, 1) AS people, ongoing, "
    "array_to_json(vulnerability)::text AS vuln, coalesce(immediate_danger, false) AS danger "
    "FROM grievance WHERE triaged_at IS NULL ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED";

/* Claimed rows -> plan items. */
static int batch_items_load(Plan *p, PGresult *res, const Rules *rules, const Members *members,
                            char *err, size_t errlen)
{
    int col[CL_N];
    if (txn_columns(res, "claiming grievances", claim_cols, CL_N, col, err, errlen) < 0)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        PlanGrievance g = {
            .id = strtoll(PQgetvalue(res, r, col[CL_ID]), NULL, 10),
            .received = strtod(PQgetvalue(res, r, col[CL_RECEIVED]), NULL),
            .country = PQgetvalue(res, r, col[CL_COUNTRY]),
            .category = PQgetvalue(res, r, col[CL_CATEGORY]),
            .description = PQgetvalue(res, r, col[CL_DESCRIPTION]),
            .people = strtoll(PQgetvalue(res, r, col[CL_PEOPLE]), NULL, 10),
            .ongoing = PQgetvalue(res, r, col[CL_ONGOING])[0] == 't',
            .danger = PQgetvalue(res, r, col[CL_DANGER])[0] == 't',
        };
        if (sqlarray_strings_parse(PQgetvalue(res, r, col[CL_COMPANIES]), &g.companies,
                                   &g.ncompanies) < 0 ||
            sqlarray_strings_parse(PQgetvalue(res, r, col[CL_SERVICES]), &g.services,
                                   &g.nservices) < 0 ||
            sqlarray_strings_parse(PQgetvalue(res, r, col[CL_VULN]), &g.vuln, &g.nvuln) < 0) {
            sqlarray_strings_free(g.companies, g.ncompanies);
            sqlarray_strings_free(g.services, g.nservices);
            snprintf(err, errlen, "grievance %lld: unreadable array column", g.id);
            return -1;
        }
        plan_item_add(p, rules, members, &g);
    }
    return 0;
}

/* The candidates' columns. */
enum {
    CA_ID,
    CA_KEY,
    CA_SIG,
    CA_COUNT,
    CA_PEOPLE,
    CA_FIRST,
    CA_LAST,
    CA_ONGOING,
    CA_DANGER,
    CA_VULN,
    CA_BAND,
    CA_SCORE,
    CA_VERSION,
    CA_N
};
static const char *const cand_cols[CA_N] = {
    [CA_ID] = "id",           [CA_KEY] = "cluster_key", [CA_SIG] = "sig",
    [CA_COUNT] = "n",         [CA_PEOPLE] = "people",   [CA_FIRST] = "first",
    [CA_LAST] = "last",       [CA_ONGOING] = "ongoing", [CA_DANGER] = "danger",
    [CA_VULN] = "vuln",       [CA_BAND] = "band",       [CA_SCORE] = "score",
    [CA_VERSION] = "version",
};
/* Per key the most recently active open cases and the most recently active open collective
 * cases: a mass event stays a candidate however many single cases share its key. Each case's
 * whole row comes straight from the index scan that found it: no second look-up by id and no
 * server-side sort of thousands of wide rows (which spilled to disk past work_mem: half of the
 * statement's ~100 ms for 200 keys). A collective case among the recent ones comes twice; the
 * caller sorts oldest first, as plan_candidate_add wants, and drops the repeat. */
#define CAND_COLS                                                                                  \
    "o.id, o.cluster_key, encode(o.signature, 'hex') AS sig, o.grievance_count AS n, "             \
    "o.people_affected AS people, extract(epoch FROM o.first_received_at)::float8 AS first, "      \
    "extract(epoch FROM o.last_received_at)::float8 AS last, o.ongoing, "                          \
    "o.immediate_danger AS danger, array_to_json(o.vulnerability)::text AS vuln, "                 \
    "coalesce(o.band, '') AS band, coalesce(o.score, 0) AS score, "                                \
    "coalesce(o.rules_version, '') AS version "
static const char cand_sql[] =
    "SELECT x.* FROM unnest($1::text[]) AS k CROSS JOIN LATERAL ("
    "  (SELECT " CAND_COLS "FROM remedy_case o WHERE o.cluster_key = k "
    "   AND o.status NOT IN ('closed', 'rejected', 'referred') "
    "   AND o.last_received_at >= to_timestamp($2::float8) "
    "   ORDER BY o.last_received_at DESC LIMIT $3::int) "
    "  UNION ALL "
    "  (SELECT " CAND_COLS "FROM remedy_case o WHERE o.cluster_key = k AND o.collective "
    "   AND o.status NOT IN ('closed', 'rejected', 'referred') "
    "   AND o.last_received_at >= to_timestamp($2::float8) "
    "   ORDER BY o.last_received_at DESC LIMIT $3::int)) x";

/* A candidate row's place: last activity, then id (the order the statement once sorted by). */
typedef struct {
    double last;
    long long id;
    int row;
} CandOrder;

static int cand_order_cmp(const void *a, const void *b)
{
    const CandOrder *x = a, *y = b;
    if (x->last != y->last)
        return x->last < y->last ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return 0;
}

/* Locks the plan's cluster keys, then reads their candidates: two statements, one round trip.
 * The read is a statement of its own after the locks, so its snapshot holds what a worker that
 * had a key before us committed. */
static int batch_candidates_load(PGconn *conn, Plan *p, const Rules *rules, const int32_t *locks,
                                 size_t nlocks, char *err, size_t errlen)
{
    SqlArray keys;
    sqlarray_init(&keys);
    for (size_t i = 0; i < p->ngroups; i++)
        sqlarray_add_text(&keys, p->groups[i].key);
    char since_s[40], limit_s[16];
    snprintf(since_s, sizeof since_s, "%.6f", plan_candidates_since(p, rules));
    snprintf(limit_s, sizeof limit_s, "%d", rules->max_candidates);
    PGresult *res = NULL;
    TxnPipe pipe;
    int rc = txn_pipe_begin(conn, &pipe, err, errlen);
    if (rc == 0) {
        if (casewrite_lock_keys(conn, &pipe, locks, nlocks, err, errlen) == 0) {
            const char *params[] = {sqlarray_text(&keys), since_s, limit_s};
            txn_pipe_exec(conn, &pipe, "reading candidate cases", cand_sql, 3, params,
                          PGRES_TUPLES_OK, &res, err, errlen);
        }
        rc = txn_pipe_end(conn, &pipe, err, errlen);
    }
    sqlarray_free(&keys);
    if (rc < 0 || !res) {
        PQclear(res);
        return -1;
    }
    int col[CA_N];
    if (txn_columns(res, "reading candidate cases", cand_cols, CA_N, col, err, errlen) < 0) {
        PQclear(res);
        return -1;
    }
    int nrows = PQntuples(res);
    CandOrder *order = xmalloc((size_t)(nrows > 0 ? nrows : 1) * sizeof *order);
    for (int r = 0; r < nrows; r++)
        order[r] = (CandOrder){.last = strtod(PQgetvalue(res, r, col[CA_LAST]), NULL),
                               .id = strtoll(PQgetvalue(res, r, col[CA_ID]), NULL, 10),
                               .row = r};
    qsort(order, (size_t)nrows, sizeof *order, cand_order_cmp);
    for (int k = 0; k < nrows; k++) {
        if (k > 0 && order[k].id == order[k - 1].id)
            continue; /* a collective case that is also among the most recent */
        int r = order[k].row;
        uint32_t sig[CLUSTER_SIG_LEN];
        if (cluster_signature_parse(PQgetvalue(res, r, col[CA_SIG]), sig) < 0)
            continue; /* a case without a usable signature is never joined */
        PlanCase *c = plan_candidate_add(p, PQgetvalue(res, r, col[CA_KEY]));
        if (!c)
            continue;
        c->id = strtoll(PQgetvalue(res, r, col[CA_ID]), NULL, 10);
        memcpy(c->sig, sig, sizeof sig);
        c->count = strtoll(PQgetvalue(res, r, col[CA_COUNT]), NULL, 10);
        c->people = strtoll(PQgetvalue(res, r, col[CA_PEOPLE]), NULL, 10);
        c->first = strtod(PQgetvalue(res, r, col[CA_FIRST]), NULL);
        c->last = strtod(PQgetvalue(res, r, col[CA_LAST]), NULL);
        c->ongoing = PQgetvalue(res, r, col[CA_ONGOING])[0] == 't';
        c->danger = PQgetvalue(res, r, col[CA_DANGER])[0] == 't';
        char **v;
        size_t nv;
        if (sqlarray_strings_parse(PQgetvalue(res, r, col[CA_VULN]), &v, &nv) == 0) {
            for (size_t i = 0; i < nv; i++)
                plan_case_vuln_add(c, v[i]);
            sqlarray_strings_free(v, nv);
        }
        c->old_band = band_parse(PQgetvalue(res, r, col[CA_BAND]));
        c->old_score = strtod(PQgetvalue(res, r, col[CA_SCORE]), NULL);
        c->old_version = strcmp(PQgetvalue(res, r, col[CA_VERSION]), rules->version) != 0;
    }
    free(order);
    PQclear(res);
    return 0;
}

/* Draws ids for the new cases from the sequence, so rows can be linked before inserting. */
static int batch_ids_draw(PGconn *conn, Plan *p, size_t nnew, char *err, size_t errlen)
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
    for (size_t i = 0; i < p->ncases && r < PQntuples(res); i++)
        if (p->cases[i].is_new)
            p->cases[i].id = strtoll(PQgetvalue(res, r++, 0), NULL, 10);
    PQclear(res);
    return 0;
}

enum {
    NC_ID,
    NC_REF,
    NC_CATEGORY,
    NC_COUNTRY,
    NC_KEY,
    NC_SIG,
    NC_COUNT,
    NC_PEOPLE,
    NC_SCORE,
    NC_BAND,
    NC_LEAD,
    NC_FIRST,
    NC_LAST,
    NC_VULN,
    NC_ONGOING,
    NC_DANGER,
    NC_N
};
static const TxnColumn new_case_cols[NC_N] = {
    [NC_ID] = {"id", "int8"},           [NC_REF] = {"ref", "text"},
    [NC_CATEGORY] = {"cat", "text"},    [NC_COUNTRY] = {"country", "text"},
    [NC_KEY] = {"key", "text"},         [NC_SIG] = {"sig", "text"},
    [NC_COUNT] = {"n", "int"},          [NC_PEOPLE] = {"people", "int8"},
    [NC_SCORE] = {"score", "numeric"},  [NC_BAND] = {"band", "text"},
    [NC_LEAD] = {"lead", "int8"},       [NC_FIRST] = {"first", "float8"},
    [NC_LAST] = {"last", "float8"},     [NC_VULN] = {"vuln", "text"},
    [NC_ONGOING] = {"ongoing", "bool"}, [NC_DANGER] = {"danger", "bool"},
};

static int batch_cases_insert(PGconn *conn, TxnPipe *pipe, Plan *p, const CaseWriteScalars *sc,
                              char *err, size_t errlen)
{
    SqlArray a[NC_N];
    for (int i = 0; i < NC_N; i++)
        sqlarray_init(&a[i]);
    char buf[PLAN_MAX_VULN * 42], hex[2 * CLUSTER_SIG_BYTES + 1];
    for (size_t i = 0; i < p->ncases; i++) {
        const PlanCase *c = &p->cases[i];
        if (!c->is_new)
            continue;
        const PlanItem *op = &p->items[c->opener];
        sqlarray_add_int(&a[NC_ID], c->id);
        sqlarray_add_text(&a[NC_REF], c->reference);
        sqlarray_add_text(&a[NC_CATEGORY], op->category);
        sqlarray_add_text(&a[NC_COUNTRY], op->country);
        sqlarray_add_text(&a[NC_KEY], p->groups[c->group].key);
        cluster_signature_hex(c->sig, hex);
        sqlarray_add_text(&a[NC_SIG], hex);
        sqlarray_add_int(&a[NC_COUNT], c->count);
        sqlarray_add_int(&a[NC_PEOPLE], c->people);
        sqlarray_add_fixed2(&a[NC_SCORE], c->score->score);
        sqlarray_add_text(&a[NC_BAND], band_name(c->score->band));
        if (op->own.n > 0)
            sqlarray_add_int(&a[NC_LEAD], op->own.owners[0].member->id);
        else
            sqlarray_add_text(&a[NC_LEAD], NULL);
        sqlarray_add_double(&a[NC_FIRST], c->first);
        sqlarray_add_double(&a[NC_LAST], c->last);
        plan_case_vuln_join(c, buf, sizeof buf);
        sqlarray_add_text(&a[NC_VULN], buf);
        sqlarray_add_bool(&a[NC_ONGOING], c->ongoing);
        sqlarray_add_bool(&a[NC_DANGER], c->danger);
    }
    long long nnew = (long long)a[NC_ID].n;
    int rc = txn_exec_unnest(
        conn, pipe, "inserting cases",
        "INSERT INTO remedy_case (id, reference, status, category, country, collective, "
        "cluster_key, signature, grievance_count, people_affected, score, band, rules_version, "
        "lead_member_id, mechanism_queue, referral_flag, first_received_at, last_received_at, "
        "ack_due, response_due, remedy_due, vulnerability, ongoing, immediate_danger) "
        "SELECT u.id, u.ref, 'triaged', u.cat, u.country, u.n > 1, u.key, decode(u.sig, 'hex'), "
        "u.n, u.people, u.score, u.band, $1, u.lead, u.lead IS NULL, u.lead IS NULL, "
        "to_timestamp(u.first), to_timestamp(u.last), "
        "case_due(now(), $2::int[], u.band, u.danger, 1), "
        "case_due(now(), $2::int[], u.band, u.danger, 2), "
        "case_due(now(), $2::int[], u.band, u.danger, 3), "
        "string_to_array(u.vuln, ','), u.ongoing, u.danger FROM ",
        new_case_cols, a, NC_N, "", sc->params, 2, nnew, err, errlen);
    for (int i = 0; i < NC_N; i++)
        sqlarray_free(&a[i]);
    return rc;
}

enum {
    GC_ID,
    GC_ADDED,
    GC_PEOPLE,
    GC_FIRST,
    GC_LAST,
    GC_SCORE,
    GC_BAND,
    GC_VULN,
    GC_ONGOING,
    GC_DANGER,
    GC_N
};
static const TxnColumn grown_case_cols[GC_N] = {
    [GC_ID] = {"id", "int8"},           [GC_ADDED] = {"added", "int"},
    [GC_PEOPLE] = {"people", "int8"},   [GC_FIRST] = {"first", "float8"},
    [GC_LAST] = {"last", "float8"},     [GC_SCORE] = {"score", "numeric"},
    [GC_BAND] = {"band", "text"},       [GC_VULN] = {"vuln", "text"},
    [GC_ONGOING] = {"ongoing", "bool"}, [GC_DANGER] = {"danger", "bool"},
};

static int batch_cases_update(PGconn *conn, TxnPipe *pipe, Plan *p, const CaseWriteScalars *sc,
                              size_t *ngrown, char *err, size_t errlen)
{
    SqlArray a[GC_N];
    for (int i = 0; i < GC_N; i++)
        sqlarray_init(&a[i]);
    char buf[PLAN_MAX_VULN * 42];
    *ngrown = 0;
    for (size_t i = 0; i < p->ncases; i++) {
        const PlanCase *c = &p->cases[i];
        if (c->is_new || c->added == 0)
            continue;
        (*ngrown)++;
        sqlarray_add_int(&a[GC_ID], c->id);
        sqlarray_add_int(&a[GC_ADDED], c->added);
        sqlarray_add_int(&a[GC_PEOPLE], c->people);
        sqlarray_add_double(&a[GC_FIRST], c->first);
        sqlarray_add_double(&a[GC_LAST], c->last);
        sqlarray_add_fixed2(&a[GC_SCORE], c->score->score);
        sqlarray_add_text(&a[GC_BAND], band_name(c->score->band));
        plan_case_vuln_join(c, buf, sizeof buf);
        sqlarray_add_text(&a[GC_VULN], buf);
        sqlarray_add_bool(&a[GC_ONGOING], c->ongoing);
        sqlarray_add_bool(&a[GC_DANGER], c->danger);
    }
    int rc = 0;
    if (*ngrown > 0) {
        /* Counts add up (a concurrent writer cannot be lost); deadlines only ever tighten when
         * a growing case moves to a more urgent band. Every case must be there to grow. */
        rc = txn_exec_unnest(
            conn, pipe, "updating cases",
            "UPDATE remedy_case c SET grievance_count = c.grievance_count + u.added, "
            "people_affected = greatest(c.people_affected, u.people, c.grievance_count + u.added), "
            "collective = true, "
            "first_received_at = least(c.first_received_at, to_timestamp(u.first)), "
            "last_received_at = greatest(c.last_received_at, to_timestamp(u.last)), "
            "score = u.score, band = u.band, rules_version = $1, "
            "vulnerability = string_to_array(u.vuln, ','), ongoing = u.ongoing, "
            "immediate_danger = u.danger, " CASEWRITE_DEADLINES_TIGHTEN "FROM ",
            grown_case_cols, a, GC_N, " WHERE c.id = u.id", sc->params, 2, (long long)*ngrown, err,
            errlen);
    }
    for (int i = 0; i < GC_N; i++)
        sqlarray_free(&a[i]);
    return rc;
}

/* The claimed rows with their cases, sorted by id (the UPDATE's binary search needs it). */
typedef struct {
    long long id;
    long long case_id;
} GrievancePlace;

static int grievance_place_cmp(const void *a, const void *b)
{
    const GrievancePlace *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* No join, so no join plan to get wrong: each row's case is found by width_bucket(), a binary
 * search of the sorted id list ($3), and the same list finds the rows through the partition's
 * index whatever the statistics say. The join to an unnest() it replaces became a nested loop
 * with the unnest inner when the statistics said few rows were untriaged (a month analysed while
 * quiet): 260-400 ms per 1,000 rows against 22 ms. $1, $2 are the batch's months (the claimed
 * rows' times, a second of slack either side, the epoch seconds having gone through float8), so
 * the planner keeps only the months the batch holds rows of. */
static const char grievances_update_sql[] =
    "UPDATE grievance g SET case_id = ($4::int8[])[width_bucket(g.id, $3::int8[])], "
    "triaged_at = now() "
    "WHERE g.id = ANY ($3::int8[]) AND g.triaged_at IS NULL "
    "AND g.received_at >= to_timestamp($1::float8) AND g.received_at <= to_timestamp($2::float8)";

static int batch_grievances_update(PGconn *conn, TxnPipe *pipe, Plan *p, char *err, size_t errlen)
{
    GrievancePlace *place = xmalloc(p->nitems * sizeof *place);
    double lo = p->items[0].received, hi = p->items[0].received;
    for (size_t i = 0; i < p->nitems; i++) {
        place[i] = (GrievancePlace){p->items[i].id, p->cases[p->items[i].ci].id};
        lo = fmin(lo, p->items[i].received);
        hi = fmax(hi, p->items[i].received);
    }
    qsort(place, p->nitems, sizeof *place, grievance_place_cmp);
    SqlArray ids, cases;
    sqlarray_init(&ids);
    sqlarray_init(&cases);
    for (size_t i = 0; i < p->nitems; i++) {
        sqlarray_add_int(&ids, place[i].id);
        sqlarray_add_int(&cases, place[i].case_id);
    }
    free(place);
    char lo_s[40], hi_s[40];
    snprintf(lo_s, sizeof lo_s, "%.0f", floor(lo) - 1);
    snprintf(hi_s, sizeof hi_s, "%.0f", ceil(hi) + 1);
    const char *params[] = {lo_s, hi_s, sqlarray_text(&ids), sqlarray_text(&cases)};
    /* Every claimed row, still untriaged (it was locked since the claim). */
    int rc = txn_pipe_exec(conn, pipe, "updating grievances", grievances_update_sql, 4, params,
                           PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc == 0)
        txn_pipe_expect(pipe, (long long)p->nitems);
    sqlarray_free(&ids);
    sqlarray_free(&cases);
    return rc;
}

enum { OW_CASE, OW_MEMBER, OW_ROLE, OW_INVOLVEMENT, OW_N };
static const TxnColumn owner_cols[OW_N] = {
    [OW_CASE] = {"case_id", "int8"},
    [OW_MEMBER] = {"member_id", "int8"},
    [OW_ROLE] = {"role", "text"},
    [OW_INVOLVEMENT] = {"involvement", "text"},
};

static int batch_owners_insert(PGconn *conn, TxnPipe *pipe, Plan *p, char *err, size_t errlen)
{
    SqlArray a[OW_N];
    for (int i = 0; i < OW_N; i++)
        sqlarray_init(&a[i]);
    for (size_t i = 0; i < p->ncases; i++) {
        const PlanCase *c = &p->cases[i];
        if (!c->is_new)
            continue;
        const Ownership *own = &p->items[c->opener].own;
        for (size_t k = 0; k < own->n; k++) {
            sqlarray_add_int(&a[OW_CASE], c->id);
            sqlarray_add_int(&a[OW_MEMBER], own->owners[k].member->id);
            sqlarray_add_text(&a[OW_ROLE], owners_role(own, k));
            sqlarray_add_text(&a[OW_INVOLVEMENT],
                              owners_involvement_name(own->owners[k].involvement));
        }
    }
    int rc = 0;
    if (a[OW_CASE].n > 0)
        rc = txn_exec_unnest(conn, pipe, "inserting owners",
                             "INSERT INTO case_owner (case_id, member_id, role, involvement) "
                             "SELECT u.case_id, u.member_id, u.role, u.involvement FROM ",
                             owner_cols, a, OW_N, "", NULL, 0, TXN_ANY, err, errlen);
    for (int i = 0; i < OW_N; i++)
        sqlarray_free(&a[i]);
    return rc;
}

/* Decisions for new cases and for grown cases whose score moved; events: 'created' for a new
 * case (severity and the ownership decision with their reasons), 'grievances_joined' for a case
 * that grew (how many, the new score and any band change): one per grown case per batch, not one
 * per grievance, so a case of 50,000 grievances keeps a readable trail. */
static void batch_decisions_gather(Plan *p, const Rules *rules, CaseWrites *w)
{
    char note[1600], owners[1200];
    for (size_t i = 0; i < p->ncases; i++) {
        const PlanCase *c = &p->cases[i];
        if (c->added == 0)
            continue;
        if (plan_case_rescored(c))
            casewrite_decision(w, c->id, c->is_new ? p->items[c->opener].id : c->last_gid,
                               c->score);
        if (c->is_new) {
            const PlanItem *op = &p->items[c->opener];
            owners_note(rules, &op->own, op->category, op->country, owners, sizeof owners);
            snprintf(note, sizeof note,
                     "opened by triage: band %s, score %.2f under rules %s%s; %s",
                     band_name(c->score->band), c->score->score, rules->version,
                     c->danger ? "; someone is in immediate danger" : "", owners);
            casewrite_event(w, c->id, "created", "triaged", note);
            continue;
        }
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
        casewrite_event(w, c->id, "grievances_joined", NULL, note);
    }
}

/* Opens the batch's transaction and claims up to batch_size grievances: one round trip. The claim
 * runs with sorting disabled, so its only plan is an ordered scan of each month's untriaged index
 * merged up to the limit: with statistics that said few rows were untriaged (a month analysed
 * while quiet), the planner read and sorted every untriaged row on each claim instead (an on-disk
 * sort of 100,000 rows, 120 ms against 2 ms per claim). SET LOCAL and RESET keep the setting to
 * this one statement. 0 with *claim set (caller PQclears), or -1 with err. */
static int batch_claim(PGconn *conn, int batch_size, PGresult **claim, char *err, size_t errlen)
{
    char limit_s[16];
    snprintf(limit_s, sizeof limit_s, "%d", batch_size);
    const char *cp[] = {limit_s};
    TxnPipe pipe;
    if (txn_pipe_begin(conn, &pipe, err, errlen) < 0)
        return -1;
    if (txn_pipe_exec(conn, &pipe, "BEGIN", "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, err,
                      errlen) == 0 &&
        txn_pipe_exec(conn, &pipe, "claim plan", "SET LOCAL enable_sort = off", 0, NULL,
                      PGRES_COMMAND_OK, NULL, err, errlen) == 0 &&
        txn_pipe_exec(conn, &pipe, "claiming grievances", claim_sql, 1, cp, PGRES_TUPLES_OK, claim,
                      err, errlen) == 0)
        txn_pipe_exec(conn, &pipe, "claim plan", "RESET enable_sort", 0, NULL, PGRES_COMMAND_OK,
                      NULL, err, errlen);
    if (txn_pipe_end(conn, &pipe, err, errlen) < 0 || !*claim)
        return -1;
    return 0;
}

int batch_run(PGconn *conn, const Rules *rules, const Members *members, int batch_size,
              BatchStats *stats, char *err, size_t errlen)
{
    Plan p;
    CaseWrites w;
    CaseWriteScalars sc;
    plan_init(&p);
    casewrite_init(&w);
    casewrite_scalars(rules, &sc);
    PGresult *claim = NULL;
    int32_t *locks = NULL;
    int rc = -1;
    size_t nnew = 0, ngrown = 0, nlocks = 0;

    TxnPipe pipe;
    if (batch_claim(conn, batch_size, &claim, err, errlen) < 0)
        goto fail;
    if (PQntuples(claim) == 0) {
        rc = 0;
        goto fail; /* nothing waiting: roll back the empty transaction */
    }
    if (batch_items_load(&p, claim, rules, members, err, errlen) < 0)
        goto fail;
    PQclear(claim);
    claim = NULL;
    locks = plan_lock_ids(&p, &nlocks);
    if (batch_candidates_load(conn, &p, rules, locks, nlocks, err, errlen) < 0)
        goto fail;
    plan_assign(&p, rules);
    plan_score(&p, rules);
    for (size_t i = 0; i < p.ncases; i++)
        nnew += p.cases[i].is_new;
    if (nnew > 0 && batch_ids_draw(conn, &p, nnew, err, errlen) < 0)
        goto fail;
    /* The writes go out pipelined: each is built while the server runs the one before, and all
     * their results (statuses, row counts) are checked before the COMMIT is sent. */
    if (txn_pipe_begin(conn, &pipe, err, errlen) < 0)
        goto fail;
    if (nnew == 0 || batch_cases_insert(conn, &pipe, &p, &sc, err, errlen) == 0) {
        batch_decisions_gather(&p, rules, &w);
        if (batch_cases_update(conn, &pipe, &p, &sc, &ngrown, err, errlen) == 0 &&
            batch_grievances_update(conn, &pipe, &p, err, errlen) == 0 &&
            batch_owners_insert(conn, &pipe, &p, err, errlen) == 0)
            casewrite_flush(conn, &pipe, &w, rules, err, errlen);
    }
    /* A statement not sent is a failed pipe (txn.h): never a commit. */
    if (txn_pipe_end(conn, &pipe, err, errlen) < 0 || txn_commit(conn, err, errlen) < 0)
        goto fail;
    rc = (int)p.nitems;
    stats->grievances += (long long)p.nitems;
    stats->opened += (long long)nnew;
    stats->joined += (long long)p.nitems - (long long)nnew;
    stats->decisions += (long long)casewrite_decisions(&w);
    LOG_DEBUG("batch: %zu grievances, %zu cases opened, %zu grown, %zu decisions", p.nitems, nnew,
              ngrown, casewrite_decisions(&w));
fail:
    if (rc <= 0)
        txn_rollback(conn);
    PQclear(claim);
    free(locks);
    casewrite_free(&w);
    plan_free(&p);
    return rc;
}
