/* The complainant's actions over the JSON API (see dialogue.h). Lengths, limits, states and the
 * receipt itself are checked by the database (complainant_act), in the same transaction as the
 * write; here only the request's shape. */
#include "dialogue.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crypto.h"
#include "evidence.h"
#include "reference.h"
#include "reply.h"
#include "util.h"

typedef struct {
    const char *name; /* the field */
    json_type type;   /* JSON_STRING or JSON_INTEGER */
} ActField;

typedef struct {
    ActKind kind;
    const char *path; /* the path's tail */
    ActField fields[3];
} ActSpec;

static const ActSpec act_specs[] = {
    {ACT_MESSAGE, "messages", {{"text", JSON_STRING}}},
    {ACT_REMEDY, "remedies/", {{"decision", JSON_STRING}, {"comment", JSON_STRING}}},
    {ACT_APPEAL, "appeal", {{"reason", JSON_STRING}}},
    {ACT_FEEDBACK, "feedback", {{"rating", JSON_INTEGER}, {"comment", JSON_STRING}}},
};
#define NSPECS (sizeof act_specs / sizeof act_specs[0])

static const ActSpec *spec_of(ActKind kind)
{
    for (size_t i = 0; i < NSPECS; i++)
        if (act_specs[i].kind == kind)
            return &act_specs[i];
    return NULL;
}

bool dialogue_parse_action(const char *tail, ActKind *kind, long long *remedy_id)
{
    *remedy_id = 0;
    for (size_t i = 0; i < NSPECS; i++) {
        const ActSpec *s = &act_specs[i];
        size_t n = strlen(s->path);
        if (s->kind != ACT_REMEDY) {
            if (strcmp(tail, s->path) == 0) {
                *kind = s->kind;
                return true;
            }
            continue;
        }
        if (strncmp(tail, s->path, n) != 0)
            continue;
        const char *id = tail + n;
        size_t digits = strspn(id, "0123456789");
        if (digits == 0 || digits > 18 || id[digits] != '\0' || id[0] == '0')
            return false;
        *remedy_id = strtoll(id, NULL, 10);
        *kind = ACT_REMEDY;
        return true;
    }
    return false;
}

bool dialogue_args_check(ActKind kind, const json_t *args, const char **field, const char **why)
{
    const ActSpec *s = spec_of(kind);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)args, key, value)
    {
        const ActField *f = NULL;
        for (size_t i = 0; i < 3 && s->fields[i].name; i++)
            if (strcmp(s->fields[i].name, key) == 0)
                f = &s->fields[i];
        if (!f) {
            *field = key;
            *why = "this field is not known here";
            return false;
        }
        if (json_is_null(value))
            continue;
        if (f->type == JSON_STRING && !json_is_string(value)) {
            *field = f->name;
            *why = "must be a string";
            return false;
        }
        if (f->type == JSON_INTEGER && !json_is_integer(value)) {
            *field = f->name;
            *why = "must be a whole number";
            return false;
        }
    }
    return true;
}

void dialogue_reply(struct evhttp_request *req, const ActResult *r, void *ctx)
{
    (void)ctx;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (r->http >= 200 && r->http < 300) {
        if (r->replayed)
            evhttp_add_header(out, "Idempotent-Replayed", "true");
        reply_json(req, r->http, json_deep_copy(r->body));
        return;
    }
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        evhttp_add_header(out, "Retry-After", secs);
    }
    reply_error(req, r->http, r->code, r->message, r->field);
}

/* Splits "REF/tail" and canonicalises the reference (percent-decoded first: URL libraries encode
 * the check symbols * $ =). false when either part is unusable. */
static bool dialogue_split(const char *rest, char ref[REFERENCE_LEN + 1], const char **tail)
{
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || slash - rest > 64)
        return false;
    char raw[65];
    memcpy(raw, rest, (size_t)(slash - rest));
    raw[slash - rest] = '\0';
    size_t len = 0;
    char *decoded = evhttp_uridecode(raw, 0, &len);
    bool ok = decoded && strlen(decoded) == len && reference_normalize(decoded, ref);
    free(decoded);
    *tail = slash + 1;
    return ok;
}

void dialogue_api(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(in, "Authorization");
    const char *key = evhttp_find_header(in, "Idempotency-Key");
    char ref[REFERENCE_LEN + 1], receipt[RECEIPT_LEN + 1];
    const char *tail = NULL, *field, *why;
    ActKind kind;
    long long remedy_id;
    json_error_t jerr;
    char *body = NULL;
    json_t *args = NULL;
    size_t len;

    bool ref_ok = dialogue_split(rest, ref, &tail);
    const char *action = ref_ok ? tail : strchr(rest, '/') + 1;
    bool upload = strcmp(action, "attachments") == 0;
    if (!upload && !dialogue_parse_action(action, &kind, &remedy_id)) {
        reply_error(req, 404, "not_found", "there is nothing at this address", NULL);
        return;
    }
    /* Like the status look-up: a malformed reference or receipt matches nothing. */
    if (!ref_ok || !auth || strncasecmp(auth, "Receipt ", 8) != 0 ||
        !receipt_normalize(auth + 8, receipt)) {
        reply_error(req, 404, "not_found", "no grievance matches this reference and receipt", NULL);
        return;
    }
    if (upload) {
        evidence_api(w, conn, req, ref, receipt);
        return;
    }
    if (!api_json_request_check(req, "send the request as application/json"))
        return;
    body = api_body_copy(req, &len);
    args = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!args) {
        reply_error(
            req, 400,
            json_error_code(&jerr) == json_error_invalid_utf8 ? "invalid_utf8" : "malformed_json",
            json_error_code(&jerr) == json_error_invalid_utf8    ? "the body is not valid UTF-8"
            : json_error_code(&jerr) == json_error_duplicate_key ? "the body repeats a field"
                                                                 : "the body is not valid JSON",
            NULL);
        goto done;
    }
    if (!json_is_object(args)) {
        reply_error(req, 400, "malformed_json", "the body must be a JSON object", NULL);
        goto done;
    }
    if (!dialogue_args_check(kind, args, &field, &why)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%.60s: %s", field, why);
        reply_error(req, 422, "invalid", msg, field);
        goto done;
    }
    if (kind == ACT_REMEDY)
        json_object_set_new(args, "remedy_id", json_integer(remedy_id));

    /* The key covers the action and its target too: the same key on another path conflicts. */
    unsigned char rhash[32], request_hash[32];
    receipt_hash(receipt, rhash);
    size_t tl = strlen(tail);
    char *keyed = xmalloc(tl + 1 + len);
    memcpy(keyed, tail, tl);
    keyed[tl] = '\n';
    memcpy(keyed + tl + 1, body, len);
    sha256_bytes(keyed, tl + 1 + len, request_hash);
    free(keyed);
    ActRequest ar = {kind, ref, rhash, args, key, request_hash, dialogue_reply, NULL, NULL};
    act_start(w, conn, req, &ar);
done:
    json_decref(args);
    free(body);
}
