/* Sending replies. Every reply we send carries the security headers (HSTS, no-store,
 * no-referrer, nosniff, a CSP without external sources, frame denial). Error bodies for the API
 * are {"error":{"code","message","field"}} and never echo a submitted value. */
#ifndef REDRESS_INTAKE_REPLY_H
#define REDRESS_INTAKE_REPLY_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

/* Sends body (may be NULL; freed by the call) with the content type and the security headers. */
void reply_send(struct evhttp_request *req, int code, const char *content_type,
                struct evbuffer *body);
/* Sends obj as JSON; takes ownership of obj. */
void reply_json(struct evhttp_request *req, int code, json_t *obj);
/* An API error; field may be NULL. */
void reply_error(struct evhttp_request *req, int code, const char *errcode, const char *message,
                 const char *field);
/* 503 with Retry-After: the database is unavailable or the outcome of a commit is unknown. */
void reply_unavailable(struct evhttp_request *req);
/* 429 with Retry-After: too many submissions are waiting for the database. */
void reply_busy(struct evhttp_request *req);
/* Asks evhttp to close the connection after this reply (e.g. after a malformed request). */
void reply_close_after(struct evhttp_request *req);

#endif
