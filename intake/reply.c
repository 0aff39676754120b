/* Replies with our headers, in the request's language. */
#include "reply.h"

#include <event2/bufferevent.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "errtext.h"
#include "html.h"

static const char *reply_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

void reply_send(struct evhttp_request *req, int code, const char *content_type,
                struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Strict-Transport-Security", "max-age=63072000");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    /* libevent 2.1.12 would send a HEAD reply's body: it must not have one. */
    if (body && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        evbuffer_drain(body, evbuffer_get_length(body));
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    metrics_reply(req, code);
    evhttp_send_reply(req, code, reply_reason(code), body);
    /* evhttp leaves the head and the body in separate chains, and the TLS bufferevent makes one
     * record and one write() of each when the socket is next writable: one chain, one write. */
    if (bev)
        evbuffer_pullup(bufferevent_get_output(bev), -1);
    if (body)
        evbuffer_free(body);
}

void reply_json(struct evhttp_request *req, int code, json_t *obj)
{
    struct evbuffer *body = evbuffer_new();
    char *text = json_dumps(obj, JSON_COMPACT);
    evbuffer_add(body, text, strlen(text));
    evbuffer_add(body, "\n", 1);
    free(text);
    json_decref(obj);
    reply_send(req, code, "application/json; charset=utf-8", body);
}

const Lang *reply_lang(struct evhttp_request *req)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const Lang *l = NULL;
    if (query) {
        struct evkeyvalq params;
        TAILQ_INIT(&params);
        if (evhttp_parse_query_str(query, &params) == 0)
            l = i18n_find(evhttp_find_header(&params, "lang"));
        evhttp_clear_headers(&params);
    }
    if (!l)
        l = i18n_negotiate(
            evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Language"));
    return l;
}

void reply_content_language(struct evhttp_request *req, const Lang *l)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Language");
    evhttp_add_header(h, "Content-Language", lang_tag(l));
}

static void reply_error_in(struct evhttp_request *req, int code, const char *errcode,
                           const char *message, const char *field, const Lang *l)
{
    json_t *err = json_pack("{s:s, s:s}", "code", errcode, "message", message);
    if (field && *field)
        json_object_set_new(err, "field", json_string(field));
    reply_content_language(req, l);
    reply_json(req, code, json_pack("{s:o}", "error", err));
}

void reply_error(struct evhttp_request *req, int code, const char *errcode, const char *message,
                 const char *field)
{
    const Lang *l = reply_lang(req);
    reply_error_in(req, code, errcode, tr(l, message), field, l);
}

void reply_grievance_error(struct evhttp_request *req, int code, const GrievanceError *err)
{
    const Lang *l = reply_lang(req);
    reply_error_in(req, code, err->code, errtext_api(l, err), err->field, l);
}

void reply_unavailable(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
    reply_error(req, 503, "unavailable",
                N_("the grievance may not have been stored (database unavailable or busy); sending "
                   "it again with the same Idempotency-Key is safe"),
                NULL);
}

void reply_busy(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    reply_error(req, 429, "too_many_requests",
                N_("the server is busy; nothing was stored, please retry in a moment"), NULL);
}

void reply_page_error(struct evhttp_request *req, int code, const Lang *l, const char *message)
{
    struct evbuffer *out = evbuffer_new();
    /* A switch back to the page the error came from only makes sense for a GET. */
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    bool get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    LangSwitch sw = {SWITCH_LINKS, get && path && path[0] == '/' ? path : "/", NULL};
    html_page_open(out, l, tr(l, N_("Something went wrong")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, l, N_("Sorry, that did not work"));
    evbuffer_add_printf(out, "</h1>\n<p class=\"error\">");
    html_tr(out, l, message);
    evbuffer_add_printf(out, "</p>\n");
    html_page_close(out, l);
    reply_content_language(req, l);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

void reply_page_error_code(struct evhttp_request *req, int code, const char *errcode)
{
    static const char *const pages[][2] = {
        {"not_found", N_("There is no page at this address.")},
        {"method_not_allowed", N_("This page cannot be used that way. Please go back and try "
                                  "again.")},
        {"body_too_large", N_("What you sent is larger than this site accepts.")},
    };
    const char *message = N_("The request could not be read. Please go back and try again.");
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        if (strcmp(pages[i][0], errcode) == 0)
            message = pages[i][1];
    }
    reply_page_error(req, code, reply_lang(req), message);
}

void reply_close_after(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
}
