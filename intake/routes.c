/* The route table and the checks every request passes first. */
#include "routes.h"

#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "conn.h"
#include "dialogue.h"
#include "evidence.h"
#include "form.h"
#include "framing.h"
#include "open311.h"
#include "openapi.h"
#include "storypage.h"
#include "reply.h"

/* PREFIX: the path continues with one segment; NESTED: with more than one. */
typedef enum { ROUTE_EXACT, ROUTE_PREFIX, ROUTE_NESTED } RouteMatch;

typedef struct {
    const char *path;
    RouteMatch match;
    enum evhttp_cmd_type method;
    const char *allow; /* the Allow header for a 405 */
    bool html;         /* errors for this path are pages, not JSON */
    void (*handle)(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest);
    const char *template; /* the path as the metrics name it, when it is not the path itself (a
                             prefix route: docs/openapi.json's template; a nested one: the
                             templates of its actions in one); never a raw request path */
} Route;

static void route_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    api_submit(w, conn, req);
}
static void route_status(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    api_status(w, conn, req, rest);
}
static void route_taxonomy(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                           const char *rest)
{
    (void)conn;
    (void)rest;
    api_taxonomy(w, req);
}
static void route_health(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    api_health(w, conn, req);
}
static void route_openapi(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)w;
    (void)conn;
    (void)rest;
    openapi_reply(req);
}
static void route_form(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)conn;
    (void)rest;
    form_page(w, req);
}
static void route_form_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                              const char *rest)
{
    (void)rest;
    form_submit(w, conn, req);
}
static void route_status_page(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                              const char *rest)
{
    (void)conn;
    (void)rest;
    form_status_page(w, req);
}
static void route_status_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                                const char *rest)
{
    (void)rest;
    form_status_submit(w, conn, req);
}

static void route_dialogue(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                           const char *rest)
{
    dialogue_api(w, conn, req, rest);
}

static void route_receipt(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest)
{
    (void)conn;
    (void)rest;
    form_receipt_submit(w, req);
}

static void route_story_action(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                               const char *rest)
{
    (void)rest;
    storypage_action_submit(w, conn, req);
}

static void route_evidence_upload(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                                  const char *rest)
{
    (void)rest;
    storypage_upload_submit(w, conn, req);
}

static const Route routes[] = {
    {"/v1/grievances", ROUTE_EXACT, EVHTTP_REQ_POST, "POST", false, route_submit},
    {"/v1/grievances/", ROUTE_PREFIX, EVHTTP_REQ_GET, "GET", false, route_status,
     "/v1/grievances/{reference}"},
    {"/v1/grievances/", ROUTE_NESTED, EVHTTP_REQ_POST, "POST", false, route_dialogue,
     "/v1/grievances/{reference}/{action}"},
    {"/v1/taxonomy", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", false, route_taxonomy},
    {"/v1/openapi.json", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", false, route_openapi},
    {"/healthz", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", false, route_health},
    {"/", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", true, route_form},
    {"/grievances", ROUTE_EXACT, EVHTTP_REQ_POST, "POST", true, route_form_submit},
    {"/status", ROUTE_EXACT, EVHTTP_REQ_GET, "GET, POST", true, route_status_page},
    {"/status", ROUTE_EXACT, EVHTTP_REQ_POST, "GET, POST", true, route_status_submit},
    {"/status/action", ROUTE_EXACT, EVHTTP_REQ_POST, "POST", true, route_story_action},
    {"/status/attachments", ROUTE_EXACT, EVHTTP_REQ_POST, "POST", true, route_evidence_upload},
    {"/receipt", ROUTE_EXACT, EVHTTP_REQ_POST, "POST", true, route_receipt},
    /* Open311 GeoReport v2 (open311.h): its errors are Open311's, see route_error */
    {"/open311/v2/discovery.json", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", false, open311_discovery},
    {"/open311/v2/services.json", ROUTE_EXACT, EVHTTP_REQ_GET, "GET", false, open311_services},
    {"/open311/v2/services/", ROUTE_PREFIX, EVHTTP_REQ_GET, "GET", false,
     open311_service_definition, "/open311/v2/services/{service_code}.json"},
    {"/open311/v2/requests.json", ROUTE_EXACT, EVHTTP_REQ_POST, "GET, POST", false,
     open311_request_submit},
    {"/open311/v2/requests.json", ROUTE_EXACT, EVHTTP_REQ_GET, "GET, POST", false,
     open311_request_list},
    {"/open311/v2/requests/", ROUTE_PREFIX, EVHTTP_REQ_GET, "GET", false, open311_request_status,
     "/open311/v2/requests/{service_request_id}.json"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static bool route_is_open311(const char *path)
{
    return path && strstr(path, OPEN311_PREFIX) == path;
}

static void route_error(struct evhttp_request *req, bool html, int code, const char *errcode,
                        const char *message)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (route_is_open311(path))
        open311_route_error(req, code, errcode, message);
    else if (html)
        reply_page_error_code(req, code, errcode);
    else
        reply_error(req, code, errcode, message, NULL);
}

static bool route_path_matches(const Route *r, const char *path)
{
    size_t n = strlen(r->path);
    return r->match == ROUTE_EXACT
               ? strcmp(path, r->path) == 0
               : strncmp(path, r->path, n) == 0 && path[n] != '\0' &&
                     (strchr(path + n, '/') != NULL) == (r->match == ROUTE_NESTED);
}

static const char *route_request_path(struct evhttp_request *req)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    return path && *path ? path : "/";
}

int routes_count(void)
{
    return (int)NROUTES;
}

const char *routes_template(int i)
{
    if (i < 0 || i >= (int)NROUTES)
        return NULL;
    for (int j = 0; j < i; j++) {
        if (strcmp(routes[j].path, routes[i].path) == 0 && routes[j].match == routes[i].match)
            return NULL; /* the same path with another method: counted under row j */
    }
    return routes[i].template ? routes[i].template : routes[i].path;
}

int routes_index_of(struct evhttp_request *req)
{
    const char *path = route_request_path(req);
    for (size_t i = 0; i < NROUTES; i++) {
        if (route_path_matches(&routes[i], path))
            return (int)i;
    }
    return -1;
}

void routes_request_cb(struct evhttp_request *req, void *arg)
{
    Worker *w = arg;
    IntakeConn *conn = conn_of_request(req);
    conn_request_begin(conn, req);

    const char *path = route_request_path(req);
    bool html =
        strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/healthz") != 0 && !route_is_open311(path);

    const char *why;
    if (!framing_ok(req, &why)) {
        reply_close_after(req);
        route_error(req, html, 400, "bad_request", why);
        return;
    }
    /* A form of 20,000 CJK characters is ~180 KB urlencoded: forms get their own limit, and an
     * oversized one is shown again with its text rather than refused bare. */
    const Config *cfg = w->shared->cfg;
    const char *mname = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "";
    size_t limit = evidence_upload_limit(cfg, mname, strlen(mname), path, strlen(path));
    bool form_post = strcmp(path, "/grievances") == 0 && *mname;
    size_t got = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    /* The form takes files only as multipart: urlencoded, it keeps the form's own limit, and a
     * body past the ordinary cap (which libevent enforced before the form had files) is refused
     * bare rather than shown again. */
    if (form_post && !api_content_type_is(req, "multipart/form-data")) {
        limit = 0;
        if (got > conn_ordinary_cap(cfg)) {
            reply_close_after(req);
            route_error(req, html, 413, "body_too_large",
                        "the request body is larger than allowed");
            return;
        }
    }
    if (!limit)
        limit = (size_t)(html ? cfg->max_form_bytes : cfg->max_body_bytes);
    if (got > limit) {
        if (form_post) {
            form_submit_too_large(w, req);
            return;
        }
        reply_close_after(req);
        route_error(req, html, 413, "body_too_large", "the request body is larger than allowed");
        return;
    }

    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const Route *path_match = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        const Route *r = &routes[i];
        if (!route_path_matches(r, path))
            continue;
        path_match = r;
        /* HEAD is GET without a body: evhttp leaves the body out of the reply. */
        if (r->method == method || (method == EVHTTP_REQ_HEAD && r->method == EVHTTP_REQ_GET)) {
            r->handle(w, conn, req, path + strlen(r->path));
            return;
        }
    }
    if (path_match) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", path_match->allow);
        route_error(req, path_match->html, 405, "method_not_allowed",
                    "this method is not allowed here");
        return;
    }
    route_error(req, html, 404, "not_found", "there is nothing at this address");
}
