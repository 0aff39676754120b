/* The JSON API: submit a grievance, look up its status by receipt, the taxonomy, health. Each
 * handler is called by routes.c with the request complete and the method already checked. */
#ifndef REDRESS_INTAKE_API_H
#define REDRESS_INTAKE_API_H

#include <event2/http.h>
#include <stdbool.h>

#include "conn.h"
#include "i18n.h"
#include "taxonomy.h"
#include "worker.h"

void api_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);
/* GET /v1/grievances/{reference} with Authorization: Receipt <receipt>. */
void api_status(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference);
void api_taxonomy(Worker *w, struct evhttp_request *req);
void api_health(Worker *w, IntakeConn *conn, struct evhttp_request *req);

/* The taxonomy body with labels in l (caller frees). */
char *api_taxonomy_json(const Taxonomy *tax, const Lang *l);

/* Shared with form.c. */

/* The request body as a NUL-terminated copy (caller frees); its length in *len. */
char *api_body_copy(struct evhttp_request *req, size_t *len);
/* True when the Content-Type's media type (before any ';') is type, case-insensitively. */
bool api_content_type_is(struct evhttp_request *req, const char *type);
/* An Idempotency-Key header value: 1..200 visible ASCII characters. */
bool api_idempotency_key_valid(const char *key);
/* The checks of every JSON request: Content-Type application/json (else 415 with type_message, a
 * literal) and a well-formed Idempotency-Key if any (else 400). true, or false after answering
 * req. */
bool api_json_request_check(struct evhttp_request *req, const char *type_message);

#endif
