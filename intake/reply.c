/* Replies with our headers. */
#include "reply.h"

#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

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

void reply_error(struct evhttp_request *req, int code, const char *errcode, const char *message,
                 const char *field)
{
    json_t *err = json_pack("{s:s, s:s}", "code", errcode, "message", message);
    if (field && *field)
        json_object_set_new(err, "field", json_string(field));
    reply_json(req, code, json_pack("{s:o}", "error", err));
}

void reply_unavailable(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
    reply_error(req, 503, "unavailable",
                "the grievance may not have been stored (database unavailable or busy); sending it "
                "again with the same Idempotency-Key is safe",
                NULL);
}

void reply_busy(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    reply_error(req, 429, "too_many_requests",
                "the server is busy; nothing was stored, please retry in a moment", NULL);
}

void reply_close_after(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
}
