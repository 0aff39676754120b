/* Sending replies. Every reply we send carries the security headers (HSTS, no-store,
 * no-referrer, nosniff, a CSP without external sources, frame denial). Error bodies for the API
 * are {"error":{"code","message","field"}} and never echo a submitted value. */
#ifndef REDRESS_INTAKE_REPLY_H
#define REDRESS_INTAKE_REPLY_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "grievance.h"
#include "i18n.h"

/* Sends body (may be NULL; freed by the call) with the content type and the security headers. */
void reply_send(struct evhttp_request *req, int code, const char *content_type,
                struct evbuffer *body);
/* Sends obj as JSON; takes ownership of obj. */
void reply_json(struct evhttp_request *req, int code, json_t *obj);
/* The language a person reading this request's answer wants: ?lang= when it names one of ours,
 * else Accept-Language, else English. */
const Lang *reply_lang(struct evhttp_request *req);
/* Sets Content-Language: l's tag. */
void reply_content_language(struct evhttp_request *req, const Lang *l);
/* An API error; field may be NULL. message is an English msgid (mark it N_()): it is sent
 * translated into reply_lang(req), with Content-Language. code and field stay English. */
void reply_error(struct evhttp_request *req, int code, const char *errcode, const char *message,
                 const char *field);
/* A validation error of the API: code and field as the validator set them, the message in
 * reply_lang(req) (see errtext.h). */
void reply_grievance_error(struct evhttp_request *req, int code, const GrievanceError *err);
/* A readable error page in l for a person; message is an English msgid. */
void reply_page_error(struct evhttp_request *req, int code, const Lang *l, const char *message);
/* The error page for a person of a route-level error (errcode as the API would send it). */
void reply_page_error_code(struct evhttp_request *req, int code, const char *errcode);
/* 503 with Retry-After: the database is unavailable or the outcome of a commit is unknown. */
void reply_unavailable(struct evhttp_request *req);
/* 429 with Retry-After: too many submissions are waiting for the database. */
void reply_busy(struct evhttp_request *req);
/* Asks evhttp to close the connection after this reply (e.g. after a malformed request). */
void reply_close_after(struct evhttp_request *req);

#endif
