/* One complainant action through complainant_act() (see act.h). */
#include "act.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const char *const act_names[] = {"message", "remedy_response", "appeal", "feedback"};

static const char *const ACT_SQL =
    "SELECT complainant_act($1, decode($2, 'hex'), $3, $4::jsonb, $5, decode($6, 'hex'), "
    "$7::jsonb)::text";

typedef struct {
    Worker *worker;
    RequestSlot slot;
    ActReplyCb reply;
    void (*ctx_free)(void *ctx);
    void *ctx;
    char reference[16];
    char rhash_hex[65];
    char request_hash_hex[65];
    char *idempotency_key;
    char *args_json;
    char *limits_json;
    const char *params[7];
    DbQuery call;      /* complainant_act, or the caller's (act_run) */
    Db *db;            /* the connection it runs on */
    json_t *answer;    /* complainant_act's {"http", "body", "replayed"} */
    json_t *error;     /* a refusal's DETAIL {"code", "field", "retry_after"} */
    char message[512]; /* a refusal's sentence */
    char sqlstate[6];
    bool committed;
} Act;

char *act_limits_json(const Config *cfg)
{
    json_t *o = json_pack("{s:i, s:i, s:i}", "message_max_chars", cfg->message_max_chars,
                          "messages_per_day", cfg->messages_per_day, "appeal_window_days",
                          cfg->appeal_window_days);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void act_free(Act *a)
{
    if (a->ctx_free)
        a->ctx_free(a->ctx);
    json_decref(a->answer);
    json_decref(a->error);
    free(a->idempotency_key);
    free(a->args_json);
    free(a->limits_json);
    free(a);
}

static void act_result_cb(void *arg, int index, const PGresult *res)
{
    Act *a = arg;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR && !a->sqlstate[0]) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(a->sqlstate, sizeof a->sqlstate, "%s", state ? state : "");
        /* Our own refusals (class RE) carry a sentence and a JSON detail written for the person;
         * any other error's text is never read (a DETAIL may carry column values). */
        if (strncmp(a->sqlstate, "RE", 2) == 0) {
            const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
            snprintf(a->message, sizeof a->message, "%s", msg ? msg : "refused");
            if (detail)
                a->error = json_loads(detail, 0, NULL);
        }
        return;
    }
    if (index == 1 && st == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        a->answer = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    else if (index == 2)
        a->committed =
            st == PGRES_COMMAND_OK && strcmp(PQcmdStatus((PGresult *)res), "COMMIT") == 0;
}

/* A serialization failure, deadlock, lock or statement timeout or a lost connection: not stored
 * (or not known), safe to retry. */
static bool act_retryable(const char *sqlstate)
{
    return strncmp(sqlstate, "40", 2) == 0 || strcmp(sqlstate, "55P03") == 0 ||
           strcmp(sqlstate, "57014") == 0 || strncmp(sqlstate, "08", 2) == 0 ||
           strcmp(sqlstate, "57P01") == 0;
}

static void act_done_cb(void *arg, DbStatus status)
{
    Act *a = arg;
    struct evhttp_request *req = conn_slot_release(&a->slot);
    ActResult r = {500, "internal", NULL, "the request could not be completed; please retry",
                   0,   NULL,       false};
    if (status != DB_OK || act_retryable(a->sqlstate)) {
        r = (ActResult){
            503,  "unavailable",
            NULL, "the database is unavailable; please retry with the same Idempotency-Key",
            2,    NULL,
            false};
    } else if (strncmp(a->sqlstate, "RE", 2) == 0) {
        r.http = atoi(a->sqlstate + 2);
        if (r.http < 400 || r.http > 499)
            r.http = 422;
        json_t *code = json_object_get(a->error, "code"),
               *field = json_object_get(a->error, "field");
        r.code = json_is_string(code) ? json_string_value(code) : "refused";
        r.field = json_is_string(field) ? json_string_value(field) : NULL;
        r.message = a->message;
        r.retry_after = (int)json_integer_value(json_object_get(a->error, "retry_after"));
    } else if (a->sqlstate[0]) {
        LOG_ERROR("worker %d: complainant action refused by the database (SQLSTATE %s)",
                  a->worker->id, a->sqlstate);
    } else if (a->committed && json_is_object(a->answer)) {
        r.http = (int)json_integer_value(json_object_get(a->answer, "http"));
        r.body = json_object_get(a->answer, "body");
        r.replayed = json_is_true(json_object_get(a->answer, "replayed"));
        r.code = r.message = NULL;
        if (r.http < 200 || r.http > 299 || !json_is_object(r.body))
            r = (ActResult){500, "internal", NULL, "unexpected answer from the database",
                            0,   NULL,       false};
    } else if (!a->committed) {
        r = (ActResult){503,
                        "unavailable",
                        NULL,
                        "the request may not have been stored; please retry with the same "
                        "Idempotency-Key",
                        2,
                        NULL,
                        false};
    }
    if (req)
        a->reply(req, &r, a->ctx);
    act_free(a);
}

static void act_submit(Act *a, IntakeConn *conn, struct evhttp_request *req)
{
    /* After an error inside BEGIN..COMMIT the session is left in an aborted transaction: a
     * ROLLBACK after the sync point ends it (harmless after a COMMIT). */
    DbQuery q[5] = {
        {"BEGIN", 0, NULL}, a->call, {"COMMIT", 0, NULL}, {NULL, 0, NULL}, {"ROLLBACK", 0, NULL}};
    conn_slot_attach(conn, &a->slot, req);
    if (!db_ready(a->db) || db_job_submit(a->db, q, 5, act_result_cb, act_done_cb, a) < 0)
        act_done_cb(a, DB_FAILED);
}

static Act *act_new(Worker *w, ActReplyCb reply, void (*ctx_free)(void *ctx), void *ctx)
{
    Act *a = xcalloc(1, sizeof *a);
    a->worker = w;
    a->reply = reply;
    a->ctx_free = ctx_free;
    a->ctx = ctx;
    return a;
}

void act_run(Worker *w, Db *db, IntakeConn *conn, struct evhttp_request *req, const DbQuery *call,
             ActReplyCb reply, void (*ctx_free)(void *ctx), void *ctx)
{
    Act *a = act_new(w, reply, ctx_free, ctx);
    a->db = db;
    a->call = *call;
    act_submit(a, conn, req);
}

void act_start(Worker *w, IntakeConn *conn, struct evhttp_request *req, const ActRequest *ar)
{
    Act *a = act_new(w, ar->reply, ar->ctx_free, ar->ctx);
    snprintf(a->reference, sizeof a->reference, "%s", ar->reference);
    hex_encode(ar->rhash, 32, a->rhash_hex);
    if (ar->idempotency_key) {
        a->idempotency_key = xstrdup(ar->idempotency_key);
        hex_encode(ar->request_hash, 32, a->request_hash_hex);
    }
    a->args_json = json_dumps(ar->args, JSON_COMPACT);
    a->limits_json = act_limits_json(w->shared->cfg);
    const char *p[7] = {a->reference,        a->rhash_hex,
                        act_names[ar->kind], a->args_json,
                        a->idempotency_key,  a->idempotency_key ? a->request_hash_hex : NULL,
                        a->limits_json};
    memcpy(a->params, p, sizeof p);
    a->call = (DbQuery){ACT_SQL, 7, a->params};
    a->db = w->db;
    act_submit(a, conn, req);
}
