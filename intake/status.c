/* One query, grievance_status($1), then a constant-time receipt check in C. With [database]
 * read_conninfo the query goes to the read connection (a standby when one is up); a grievance it
 * does not find, or a failure there, is asked of the primary before answering, so a grievance just
 * filed is never "not found" because the standby has not replayed it yet. What a standby returns
 * may be behind the primary by the replication lag (README "Scaling out"). */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "reference.h"
#include "util.h"

typedef struct {
    Worker *worker;
    RequestSlot slot;
    StatusReplyCb reply;
    unsigned char receipt_hash[32];
    char reference[REFERENCE_LEN + 1];
    const char *params[1];
    char rhash_hex[65];
    char *limits_json;
    const char *story_params[3];
    bool found;
    bool failed;     /* the query itself failed: unavailable, not "not found" */
    bool on_primary; /* asked on the primary's connection (always the last try) */
    StatusInfo info;
} StatusQuery;

static const char *const STATUS_SQL =
    "SELECT reference, encode(receipt_hash, 'hex'), status, "
    "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(next_stage, ''), "
    "coalesce(to_char(next_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "overdue FROM grievance_status($1)";

/* The rest of the story (history, owners, priority, remedies, messages, ...): sql/013. */
static const char *const STORY_SQL =
    "SELECT grievance_story($1, decode($2, 'hex'), $3::jsonb)::text";

static void status_result_cb(void *arg, int index, const PGresult *res)
{
    StatusQuery *q = arg;
    unsigned char stored[32];
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        q->failed = true;
    if (index == 1 && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0))
        q->info.story = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (index != 0 || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return;
    if (hex_decode(PQgetvalue(res, 0, 1), stored, 32) < 0 ||
        !bytes_equal_ct(stored, q->receipt_hash, 32))
        return;
    q->found = true;
    snprintf(q->info.reference, sizeof q->info.reference, "%s", PQgetvalue(res, 0, 0));
    snprintf(q->info.status, sizeof q->info.status, "%s", PQgetvalue(res, 0, 2));
    snprintf(q->info.received_at, sizeof q->info.received_at, "%s", PQgetvalue(res, 0, 3));
    snprintf(q->info.next_stage, sizeof q->info.next_stage, "%s", PQgetvalue(res, 0, 4));
    snprintf(q->info.next_due, sizeof q->info.next_due, "%s", PQgetvalue(res, 0, 5));
    int overdue = PQfnumber(res, "overdue");
    q->info.overdue = overdue >= 0 && PQgetvalue(res, 0, overdue)[0] == 't';
}

static int status_submit(StatusQuery *q, Db *db);

static void status_done_cb(void *arg, DbStatus status)
{
    StatusQuery *q = arg;
    if (!q->on_primary && !q->found && q->slot.req) {
        /* Not on the standby (yet), or the standby failed: the primary decides. */
        q->failed = false;
        json_decref(q->info.story);
        q->info.story = NULL;
        if (status_submit(q, q->worker->db) == 0)
            return;
        q->failed = true;
    }
    struct evhttp_request *req = conn_slot_release(&q->slot);
    if (req) {
        if (status != DB_OK || q->failed)
            q->reply(req, STATUS_UNAVAILABLE, NULL);
        else
            q->reply(req, q->found ? STATUS_FOUND : STATUS_NOT_FOUND, q->found ? &q->info : NULL);
    }
    json_decref(q->info.story);
    free(q->limits_json);
    free(q);
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
    q->reply = reply;
    receipt_hash(canon_receipt, q->receipt_hash);
    memcpy(q->reference, canon_ref, sizeof canon_ref);
    q->params[0] = q->reference;
    hex_encode(q->receipt_hash, 32, q->rhash_hex);
    q->limits_json = act_limits_json(w->shared->cfg);
    q->story_params[0] = q->reference;
    q->story_params[1] = q->rhash_hex;
    q->story_params[2] = q->limits_json;
    conn_slot_attach(conn, &q->slot, req);
    if (status_submit(q, db) < 0) {
        conn_slot_release(&q->slot);
        free(q->limits_json);
        free(q);
        reply(req, STATUS_UNAVAILABLE, NULL);
    }
}

/* Sends the look-up on db. 0, or -1 when db is not connected (nothing sent). */
static int status_submit(StatusQuery *q, Db *db)
{
    DbQuery query[2] = {{STATUS_SQL, 1, q->params}, {STORY_SQL, 3, q->story_params}};
    q->on_primary = db == q->worker->db;
    return db_job_submit(db, query, 2, status_result_cb, status_done_cb, q);
}
