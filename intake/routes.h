/* Request dispatch: the one evhttp callback. Checks what evhttp lets through (duplicated
 * Content-Length, body size against our limit), matches the path, answers 404/405 itself. */
#ifndef REDRESS_INTAKE_ROUTES_H
#define REDRESS_INTAKE_ROUTES_H

#include <event2/http.h>

/* evhttp_set_gencb callback; arg is the Worker. */
void routes_request_cb(struct evhttp_request *req, void *arg);

/* For the metrics: rows of the route table, the template of row i ("/v1/grievances/{reference}";
 * NULL for a row repeating an earlier row's path with another method), and the first row whose
 * path matches req (-1: none). */
int routes_count(void);
const char *routes_template(int i);
int routes_index_of(struct evhttp_request *req);

#endif
