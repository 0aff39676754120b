/* Status look-ups in two steps. First grievance_status_by_receipt($1): by the receipt's hash
 * (indexed), with the reference compared afterwards in constant time in C; the database's work
 * does not depend on the reference at all, so whether a reference exists cannot be read from the
 * time a wrong receipt takes (sql/011). Only when receipt and reference match, a second job asks
 * for the rest of the story (grievance_story, sql/013), which goes by reference, on the same
 * connection. With [database] read_conninfo the look-up goes to the read connection (a standby
 * when one is up); a grievance it does not find, or a failure there, is asked of the primary before
 * answering, so a grievance just filed is never "not found" because the standby has not replayed
 * it yet. What a standby returns may be behind the primary by the replication lag (README
 * "Scaling out"). */
#include "status.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "priority_words.h"
#include "reference.h"
#include "util.h"

typedef struct {
    Worker *worker;
    RequestSlot slot;
    StatusReplyCb reply;
    char reference[REFERENCE_LEN + 1];
    char rhash_hex[65];
    char hash_param[2 + 64 + 1]; /* bytea input: \x and the receipt's SHA-256 in hex */
    const char *params[1];
    char *limits_json;
    const char *story_params[3];
    Db *db; /* the connection asked last */
    bool found;
    bool failed; /* a query itself failed: unavailable, not "not found" */
    StatusInfo info;
} StatusQuery;

static const char *const STATUS_SQL =
    "SELECT reference, status, "
    "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(next_stage, ''), "
    "coalesce(to_char(next_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "overdue, coalesce(language, ''), "
    "coalesce(grievance_category(reference, $1::bytea), '') "
    "FROM grievance_status_by_receipt($1::bytea)";

enum {
    COL_REFERENCE,
    COL_STATUS,
    COL_RECEIVED_AT,
    COL_NEXT_STAGE,
    COL_NEXT_DUE,
    COL_OVERDUE,
    COL_LANGUAGE,
    COL_CATEGORY
};

/* The rest of the story (history, owners, priority, remedies, messages, ...): sql/013; and the
 * evidence files' numbers, types, sizes and hashes: sql/014. */
static const char *const STORY_SQL =
    "SELECT (CASE WHEN jsonb_typeof(s -> 'priority') = 'object' "
    "THEN jsonb_set(s, '{priority,factors}', grievance_priority_factors($1, decode($2, 'hex'))) "
    "ELSE s END || jsonb_build_object('attachments', "
    "grievance_attachment_list($1, decode($2, 'hex'))))::text "
    "FROM grievance_story($1, decode($2, 'hex'), $3::jsonb) s";

static void status_free(StatusQuery *q)
{
    json_decref(q->info.story);
    free(q->limits_json);
    OPENSSL_cleanse(q, sizeof *q);
    free(q);
}

static void status_answer(StatusQuery *q, DbStatus status)
{
    struct evhttp_request *req = conn_slot_release(&q->slot);
    if (req) {
        if (status != DB_OK || q->failed)
            q->reply(req, STATUS_UNAVAILABLE, NULL);
        else
            q->reply(req, q->found ? STATUS_FOUND : STATUS_NOT_FOUND, q->found ? &q->info : NULL);
    }
    status_free(q);
}

static void status_result_cb(void *arg, int index, const PGresult *res)
{
    (void)index;
    StatusQuery *q = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        q->failed = true;
        return;
    }
    /* Every row is compared, each in constant time. */
    int match = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *ref = PQgetvalue(res, r, COL_REFERENCE);
        if (PQgetlength(res, r, COL_REFERENCE) == REFERENCE_LEN &&
            bytes_equal_ct((const unsigned char *)ref, (const unsigned char *)q->reference,
                           REFERENCE_LEN))
            match = r;
    }
    if (match < 0)
        return;
    q->found = true;
    snprintf(q->info.reference, sizeof q->info.reference, "%s",
             PQgetvalue(res, match, COL_REFERENCE));
    snprintf(q->info.status, sizeof q->info.status, "%s", PQgetvalue(res, match, COL_STATUS));
    snprintf(q->info.received_at, sizeof q->info.received_at, "%s",
             PQgetvalue(res, match, COL_RECEIVED_AT));
    snprintf(q->info.next_stage, sizeof q->info.next_stage, "%s",
             PQgetvalue(res, match, COL_NEXT_STAGE));
    snprintf(q->info.next_due, sizeof q->info.next_due, "%s", PQgetvalue(res, match, COL_NEXT_DUE));
    q->info.overdue = PQgetvalue(res, match, COL_OVERDUE)[0] == 't';
    snprintf(q->info.language, sizeof q->info.language, "%s", PQgetvalue(res, match, COL_LANGUAGE));
    snprintf(q->info.category, sizeof q->info.category, "%s", PQgetvalue(res, match, COL_CATEGORY));
}

static void status_done_cb(void *arg, DbStatus status);

/* Step one, by receipt hash, on db. 0, or -1 when db is not connected (nothing sent). */
static int status_submit(StatusQuery *q, Db *db)
{
    DbQuery query = {STATUS_SQL, 1, q->params};
    q->db = db;
    return db_job_submit(db, &query, 1, status_result_cb, status_done_cb, q);
}

static void story_result_cb(void *arg, int index, const PGresult *res)
{
    (void)index;
    StatusQuery *q = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        q->failed = true;
    else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        q->info.story = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        priority_factors_label(q->info.story, q->worker->shared->tax);
    }
}

static void story_done_cb(void *arg, DbStatus status)
{
    status_answer(arg, status);
}

static void status_done_cb(void *arg, DbStatus status)
{
    StatusQuery *q = arg;
    if (q->db != q->worker->db && !q->found && q->slot.req) {
        /* Not on the standby (yet), or the standby failed: the primary decides. */
        q->failed = false;
        if (status_submit(q, q->worker->db) == 0)
            return;
        status = DB_FAILED;
    }
    if (status != DB_OK || q->failed || !q->found || !q->slot.req) {
        status_answer(q, status);
        return;
    }
    q->limits_json = act_limits_json(q->worker->shared->cfg);
    q->story_params[0] = q->reference;
    q->story_params[1] = q->rhash_hex;
    q->story_params[2] = q->limits_json;
    DbQuery query = {STORY_SQL, 3, q->story_params};
    if (db_job_submit(q->db, &query, 1, story_result_cb, story_done_cb, q) < 0)
        status_answer(q, DB_FAILED);
}

void status_lookup(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference,
                   const char *receipt, StatusReplyCb reply)
{
    char canon_ref[REFERENCE_LEN + 1], canon_receipt[RECEIPT_LEN + 1];
    /* A malformed reference or receipt cannot match anything: same answer as a wrong one. */
    if (!reference || !receipt || !reference_normalize(reference, canon_ref) ||
        !receipt_normalize(receipt, canon_receipt)) {
        reply(req, STATUS_NOT_FOUND, NULL);
        return;
    }
    Db *db = (w->db_read && db_ready(w->db_read)) ? w->db_read : w->db;
    if (!db_ready(db)) {
        reply(req, STATUS_UNAVAILABLE, NULL);
        return;
    }
    StatusQuery *q = xcalloc(1, sizeof *q);
    q->worker = w;
    q->info.tax = w->shared->tax;
    q->reply = reply;
    unsigned char hash[32];
    receipt_hash(canon_receipt, hash);
    OPENSSL_cleanse(canon_receipt, sizeof canon_receipt);
    hex_encode(hash, sizeof hash, q->rhash_hex);
    memcpy(q->hash_param, "\\x", 2);
    memcpy(q->hash_param + 2, q->rhash_hex, sizeof q->rhash_hex);
    memcpy(q->reference, canon_ref, sizeof canon_ref);
    q->params[0] = q->hash_param;
    conn_slot_attach(conn, &q->slot, req);
    if (status_submit(q, db) < 0) {
        conn_slot_release(&q->slot);
        status_free(q);
        reply(req, STATUS_UNAVAILABLE, NULL);
    }
}
