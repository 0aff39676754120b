/* JSON API handlers. */
#include "api.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch.h"
#include "crypto.h"
#include "grievance.h"
#include "log.h"
#include "priority_words.h"
#include "reply.h"
#include "status.h"
#include "submit.h"
#include "util.h"

#define IDEMPOTENCY_KEY_MAX 200

char *api_body_copy(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = xmalloc(n + 1);
    evbuffer_copyout(in, body, n);
    body[n] = '\0';
    *len = n;
    return body;
}

bool api_content_type_is(struct evhttp_request *req, const char *type)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!ct)
        return false;
    size_t n = strlen(type);
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

bool api_idempotency_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e)
            return false;
    }
    return true;
}

bool api_json_request_check(struct evhttp_request *req, const char *type_message)
{
    if (!api_content_type_is(req, "application/json")) {
        reply_error(req, 415, "unsupported_media_type", type_message, NULL);
        return false;
    }
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    if (key && !api_idempotency_key_valid(key)) {
        reply_error(req, 400, "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 200 visible ASCII characters", "Idempotency-Key");
        return false;
    }
    return true;
}

static void api_submit_reply(struct evhttp_request *req, const SubmitResult *r, void *ctx)
{
    (void)ctx;
    char url[64];
    switch (r->outcome) {
    case SUBMIT_STORED:
    case SUBMIT_REPLAYED:
        snprintf(url, sizeof url, "/v1/grievances/%s", r->reference);
        if (r->outcome == SUBMIT_REPLAYED)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Idempotent-Replayed",
                              "true");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", url);
        /* Built by hand: every value is base32, a path or a timestamp, nothing to escape. */
        struct evbuffer *body = evbuffer_new();
        evbuffer_add_printf(body,
                            "{\"reference\":\"%s\",\"receipt\":\"%s\",\"status_url\":\"%s\","
                            "\"received_at\":\"%s\",\"status\":\"received\"}\n",
                            r->reference, r->receipt, url, r->received_at);
        reply_send(req, 201, "application/json; charset=utf-8", body);
        return;
    case SUBMIT_CONFLICT:
        reply_error(req, 409, "idempotency_conflict",
                    "this Idempotency-Key was already used with a different body",
                    "Idempotency-Key");
        return;
    case SUBMIT_UNAVAILABLE:
        reply_unavailable(req);
        return;
    case SUBMIT_FAILED:
        reply_error(req, 500, "internal", "the grievance could not be stored; please retry", NULL);
        return;
    }
}

void api_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    GrievanceError gerr;
    unsigned char request_hash[32];

    if (!api_json_request_check(req, N_("send the grievance as application/json")))
        return;
    /* Parsed where it lies: the body is usually one chunk already, so this copies nothing. */
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    Grievance *g = grievance_parse(body, len, w->shared->tax, &gerr);
    if (!g) {
        reply_grievance_error(req, gerr.malformed ? 400 : 422, &gerr);
        return;
    }
    if (!db_ready(w->db)) {
        reply_unavailable(req);
        goto done;
    }
    if (batcher_overloaded(w->batch)) {
        reply_busy(req);
        goto done;
    }
    if (key)
        sha256_bytes(body, len, request_hash);
    SubmitRequest sr = {"api", key, key ? request_hash : NULL, api_submit_reply, NULL, NULL};
    submit_start(w, conn, req, g, &sr);
done:
    grievance_free(g);
}

static void api_status_reply(struct evhttp_request *req, StatusOutcome outcome,
                             const StatusInfo *info)
{
    if (outcome == STATUS_UNAVAILABLE) {
        reply_unavailable(req);
        return;
    }
    if (outcome == STATUS_NOT_FOUND) {
        reply_error(req, 404, "not_found", "no grievance matches this reference and receipt", NULL);
        return;
    }
    if (info->story) { /* the whole story (sql/013 grievance_story) */
        json_t *story = json_deep_copy(info->story);
        /* triage's mark: a deadline passed and the sweep recorded it (sql/007) */
        json_object_set_new(story, "overdue", json_boolean(info->overdue));
        json_t *priority = json_object_get(story, "priority");
        if (json_is_object(priority)) { /* the reasons in the negotiated language */
            const Lang *l = reply_lang(req);
            json_object_set_new(priority, "reasons", priority_reasons(story, l));
            reply_content_language(req, l);
        }
        reply_json(req, 200, story);
        return;
    }
    json_t *deadline = json_null();
    if (info->next_stage[0])
        deadline = json_pack("{s:s, s:s}", "stage", info->next_stage, "due", info->next_due);
    reply_json(req, 200,
               json_pack("{s:s, s:s, s:s, s:o, s:b}", "reference", info->reference, "status",
                         info->status, "received_at", info->received_at, "next_deadline", deadline,
                         "overdue", info->overdue));
}

void api_status(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *receipt = NULL;
    if (auth && strncasecmp(auth, "Receipt ", 8) == 0)
        receipt = auth + 8;
    /* URL libraries percent-encode the check symbols '*', '$' and '=' (and '~' sometimes). */
    size_t len = 0;
    char *decoded = evhttp_uridecode(reference, 0, &len);
    if (decoded && strlen(decoded) != len) { /* %00 */
        free(decoded);
        decoded = NULL;
    }
    status_lookup(w, conn, req, decoded ? decoded : "", receipt, api_status_reply);
    free(decoded);
}

char *api_taxonomy_json(const Taxonomy *tax, const Lang *l)
{
    static const TaxonomyList lists[] = {TAXONOMY_CATEGORIES, TAXONOMY_RIGHTS,
                                         TAXONOMY_VULNERABILITY, TAXONOMY_SECTORS,
                                         TAXONOMY_COUNTRIES};
    json_t *root = json_object();
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        json_t *arr = json_array();
        for (size_t i = 0; i < taxonomy_count(tax, lists[k]); i++)
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s}", "id", taxonomy_id(tax, lists[k], i), "label",
                          trc(l, taxonomy_list_name(lists[k]), taxonomy_label(tax, lists[k], i))));
        json_object_set_new(root, taxonomy_list_name(lists[k]), arr);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

void api_taxonomy(Worker *w, struct evhttp_request *req)
{
    const Lang *l = reply_lang(req);
    char *text = api_taxonomy_json(w->shared->tax, l);
    struct evbuffer *body = evbuffer_new();
    evbuffer_add(body, text, strlen(text));
    free(text);
    reply_content_language(req, l);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Vary", "Accept-Language");
    reply_send(req, 200, "application/json; charset=utf-8", body);
}

typedef struct {
    RequestSlot slot;
    bool ok;
} HealthCheck;

static void health_result_cb(void *arg, int index, const PGresult *res)
{
    (void)index;
    HealthCheck *h = arg;
    h->ok = PQresultStatus(res) == PGRES_TUPLES_OK;
}

static void health_reply(struct evhttp_request *req, bool ok)
{
    if (ok)
        reply_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "database", "ok"));
    else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
        reply_json(req, 503, json_pack("{s:s, s:s}", "status", "unavailable", "database", "down"));
    }
}

static void health_done_cb(void *arg, DbStatus status)
{
    HealthCheck *h = arg;
    struct evhttp_request *req = conn_slot_release(&h->slot);
    if (req)
        health_reply(req, status == DB_OK && h->ok);
    free(h);
}

/* Ready when both of the worker's connections are: its own (status look-ups, answered here with
 * SELECT 1) and its commit stream's, which stores submissions. */
void api_health(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    if (!db_ready(w->db) || !batch_port_connected(w->batch)) {
        health_reply(req, false);
        return;
    }
    HealthCheck *h = xcalloc(1, sizeof *h);
    DbQuery q = {"SELECT 1", 0, NULL};
    conn_slot_attach(conn, &h->slot, req);
    if (db_job_submit(w->db, &q, 1, health_result_cb, health_done_cb, h) < 0) {
        conn_slot_release(&h->slot);
        free(h);
        health_reply(req, false);
    }
}
