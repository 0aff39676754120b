/* The HTML intake for people, not programs: a plain accessible form (every field labelled, works
 * without JavaScript), its urlencoded submission, and the status page whose form POSTs the receipt
 * so it never travels in a URL. Cross-site posts are refused. */
#ifndef REDRESS_INTAKE_FORM_H
#define REDRESS_INTAKE_FORM_H

#include <event2/http.h>

#include "conn.h"
#include "worker.h"

void form_page(Worker *w, struct evhttp_request *req);
void form_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);
void form_status_page(Worker *w, struct evhttp_request *req);
void form_status_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);
/* A readable error page. */
void form_error_page(struct evhttp_request *req, int code, const char *message);

#endif
