/* Request dispatch: the one evhttp callback. Checks what evhttp lets through (duplicated
 * Content-Length, body size against our limit), matches the path, answers 404/405 itself. */
#ifndef REDRESS_INTAKE_ROUTES_H
#define REDRESS_INTAKE_ROUTES_H

#include <event2/http.h>

/* evhttp_set_gencb callback; arg is the Worker. */
void routes_request_cb(struct evhttp_request *req, void *arg);

#endif
