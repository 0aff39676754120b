/* Open311 GeoReport v2: discovery, services and their definition, a request's status by receipt,
 * the refused list, and the error format of every answer under /open311/. */
#include "open311.h"

#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "reference.h"
#include "reply.h"
#include "status.h"
#include "util.h"

#define OPEN311_SPEC "http://wiki.open311.org/GeoReport_v2"
#define OPEN311_BASE "/open311/v2"
#define OPEN311_HOST_MAX 255

void open311_error(struct evhttp_request *req, int code, const char *description)
{
    reply_json(req, code, json_pack("[{s:i, s:s}]", "code", code, "description", description));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void open311_format_error(struct evhttp_request *req)
{
    open311_error(req, 400, "only the json format is served: ask for the .json address");
}

void open311_route_error(struct evhttp_request *req, int code, const char *errcode,
                         const char *message)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (code == 404 && strcmp(errcode, "not_found") == 0 && path && ends_with(path, ".xml")) {
        open311_format_error(req);
        return;
    }
    open311_error(req, code, message);
}

/* The query parameter name of req into *value (NULL when absent; caller frees, and wipes what is
 * secret). 0, or -1 when the query cannot be read, holds a NUL, or gives name more than once. */
static int query_param(struct evhttp_request *req, const char *name, char **value)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    struct evkeyval *kv;
    int rc = 0, seen = 0;
    *value = NULL;
    TAILQ_INIT(&params);
    if (!query)
        return 0;
    if (strcasestr(query, "%00") || evhttp_parse_query_str(query, &params) < 0)
        rc = -1;
    TAILQ_FOREACH(kv, &params, next)
    {
        if (rc == 0 && strcmp(kv->key, name) == 0 && seen++ == 0)
            *value = xstrdup(kv->value);
        OPENSSL_cleanse(kv->value, strlen(kv->value)); /* an api_key is a receipt */
    }
    evhttp_clear_headers(&params);
    if (rc < 0 || seen > 1) {
        if (*value)
            OPENSSL_cleanse(*value, strlen(*value));
        free(*value);
        *value = NULL;
        return -1;
    }
    return 0;
}

/* A jurisdiction_id, when given, must be a country of the taxonomy: the joint mechanism's
 * jurisdictions are the countries it covers. true, or false after answering 404. */
static bool jurisdiction_ok(Worker *w, struct evhttp_request *req)
{
    char *j = NULL;
    bool ok = query_param(req, "jurisdiction_id", &j) == 0;
    if (ok && j && *j) {
        char cc[3] = "";
        if (strlen(j) == 2) {
            cc[0] = (char)(j[0] & ~0x20);
            cc[1] = (char)(j[1] & ~0x20);
        }
        ok = cc[0] && taxonomy_has(w->shared->tax, TAXONOMY_COUNTRIES, cc);
    }
    free(j);
    if (!ok)
        open311_error(req, 404,
                      "jurisdiction_id must be a country this mechanism covers (ISO 3166-1 "
                      "alpha-2, see GET /v1/taxonomy)");
    return ok;
}

static bool host_valid(const char *host)
{
    size_t n = host ? strlen(host) : 0;
    return n > 0 && n <= OPEN311_HOST_MAX &&
           strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n;
}

void open311_discovery(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)conn;
    (void)rest;
    const Config *cfg = w->shared->cfg;
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    char url[OPEN311_HOST_MAX + 64];
    /* The address the client reached us by; a Host we would not echo gives the listener's. */
    if (host_valid(host))
        snprintf(url, sizeof url, "https://%s" OPEN311_BASE, host);
    else
        snprintf(url, sizeof url,
                 strchr(cfg->listen_addr, ':') ? "https://[%s]:%d" OPEN311_BASE
                                               : "https://%s:%d" OPEN311_BASE,
                 cfg->listen_addr, cfg->port);
    /* The services are the taxonomy: its version is the document's. */
    const char *changeset =
        *taxonomy_version(w->shared->tax) ? taxonomy_version(w->shared->tax) : REDRESS_VERSION;
    const char *contact =
        *cfg->open311_contact ? cfg->open311_contact : "none published ([open311] contact)";
    json_t *endpoint =
        json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "specification", OPEN311_SPEC, "url", url,
                  "changeset", changeset, "type", "production", "formats", "application/json");
    reply_json(req, 200,
               json_pack("{s:s, s:s, s:s, s:[o]}", "changeset", changeset, "contact", contact,
                         "key_service",
                         "No key is needed to file a request. The receipt returned once when a "
                         "request is filed is the api_key of its status look-up.",
                         "endpoints", endpoint));
}

/* "network_shutdown" -> "network, shutdown" */
static void keywords_of(const char *id, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = id; *p && n + 3 < outlen; p++) {
        if (*p == '_') {
            out[n++] = ',';
            out[n++] = ' ';
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

void open311_services(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)conn;
    (void)rest;
    if (!jurisdiction_ok(w, req))
        return;
    const Taxonomy *tax = w->shared->tax;
    const Lang *l = reply_lang(req);
    json_t *arr = json_array();
    for (size_t i = 0; i < taxonomy_count(tax, TAXONOMY_CATEGORIES); i++) {
        const char *id = taxonomy_id(tax, TAXONOMY_CATEGORIES, i);
        const char *name = trc(l, "categories", taxonomy_label(tax, TAXONOMY_CATEGORIES, i));
        char keywords[160];
        keywords_of(id, keywords, sizeof keywords);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "service_code",
                                             id, "service_name", name, "description", name,
                                             "metadata", 1, "type", "realtime", "keywords",
                                             keywords, "group", tr(l, N_("File a grievance"))));
    }
    reply_content_language(req, l);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Vary", "Accept-Language");
    reply_json(req, 200, arr);
}

/* The id before ".json" in rest (a path segment), decoded; NULL after answering the error. */
static char *resource_id(struct evhttp_request *req, const char *rest)
{
    if (ends_with(rest, ".xml")) {
        open311_format_error(req);
        return NULL;
    }
    size_t n = strlen(rest), len = 0;
    if (!ends_with(rest, ".json") || n == strlen(".json")) {
        open311_error(req, 404, "there is nothing at this address");
        return NULL;
    }
    char *raw = xstrdup(rest);
    raw[n - strlen(".json")] = '\0';
    char *id = evhttp_uridecode(raw, 0, &len);
    free(raw);
    if (!id || strlen(id) != len) { /* %00 */
        free(id);
        open311_error(req, 404, "there is nothing at this address");
        return NULL;
    }
    return id;
}

void open311_service_definition(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                                const char *rest)
{
    (void)conn;
    char *code = resource_id(req, rest);
    if (!code)
        return;
    if (!jurisdiction_ok(w, req))
        goto done;
    if (!taxonomy_has(w->shared->tax, TAXONOMY_CATEGORIES, code)) {
        open311_error(req, 404,
                      "no service has this service_code (see GET /open311/v2/services.json)");
        goto done;
    }
    const Lang *l = reply_lang(req);
    reply_content_language(req, l);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Vary", "Accept-Language");
    reply_json(req, 200,
               json_pack("{s:s, s:o}", "service_code", code, "attributes",
                         open311_attributes_json(w->shared->tax, l)));
done:
    free(code);
}

void open311_request_list(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)w;
    (void)conn;
    (void)rest;
    open311_error(req, 403,
                  "listing requests is not offered: it would show other people's grievances. Ask "
                  "for one request at /open311/v2/requests/{service_request_id}.json with its "
                  "receipt");
}

/* Terminal decisions are "closed"; everything still moving, or that may still move (a declined
 * remedy can be followed by another), is "open". An appeal reopens a closed one. */
static const char *open311_status_of(const char *status)
{
    static const char *const closed[] = {"closed", "rejected", "referred"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        if (strcmp(status, closed[i]) == 0)
            return "closed";
    }
    return "open";
}

/* The last time the case moved (the story's history), or when it was received. */
static const char *updated_at(const StatusInfo *info)
{
    json_t *history = json_object_get(info->story, "history");
    size_t n = json_array_size(history);
    const char *at =
        n ? json_string_value(json_object_get(json_array_get(history, n - 1), "at")) : NULL;
    return at ? at : info->received_at;
}

/* The lead owner's name, or NULL. */
static const char *agency_of(const StatusInfo *info)
{
    json_t *owners = json_object_get(info->story, "owners"), *o;
    size_t i;
    json_array_foreach(owners, i, o)
    {
        const char *role = json_string_value(json_object_get(o, "role"));
        if (role && strcmp(role, "lead") == 0)
            return json_string_value(json_object_get(o, "name"));
    }
    return NULL;
}

static json_t *string_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static void open311_status_reply(struct evhttp_request *req, StatusOutcome outcome,
                                 const StatusInfo *info)
{
    if (outcome == STATUS_UNAVAILABLE) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
        open311_error(req, 503, "the database is unavailable; please retry in a moment");
        return;
    }
    if (outcome == STATUS_NOT_FOUND) {
        open311_error(req, 404, "no request matches this service_request_id and receipt");
        return;
    }
    const Lang *l = reply_lang(req);
    /* The case team's reason for a decision (rejection, referral, closure) when there is one. */
    const char *reason =
        json_string_value(json_object_get(json_object_get(info->story, "outcome"), "reason"));
    const char *notes = reason && *reason ? reason : tr(l, form_status_words(info->status));
    const char *label = taxonomy_label_of(info->tax, TAXONOMY_CATEGORIES, info->category);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "service_request_id", info->reference, "status",
        open311_status_of(info->status), "status_notes", notes, "service_code", info->category,
        "service_name", label ? trc(l, "categories", label) : info->category, "requested_datetime",
        info->received_at, "updated_datetime", updated_at(info));
    json_object_set_new(o, "expected_datetime", string_or_null(info->next_due));
    json_object_set_new(o, "agency_responsible", string_or_null(agency_of(info)));
    reply_content_language(req, l);
    reply_json(req, 200, json_pack("[o]", o));
}

void open311_request_status(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                            const char *rest)
{
    char *id = resource_id(req, rest);
    if (!id)
        return;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    char *api_key = NULL;
    query_param(req, "api_key", &api_key); /* unreadable or repeated: no receipt, a 404 */
    const char *receipt = api_key;
    if (auth && strncasecmp(auth, "Receipt ", 8) == 0)
        receipt = auth + 8;
    status_lookup(w, conn, req, id, receipt, open311_status_reply);
    if (api_key) {
        OPENSSL_cleanse(api_key, strlen(api_key));
        free(api_key);
    }
    free(id);
}
