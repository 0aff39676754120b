/* The Open311 GeoReport v2 profile under /open311/v2, so civic-reporting apps can file grievances:
 * discovery, the taxonomy's categories as services (with one service definition whose attributes
 * are the grievance's other fields), filing a request (form-encoded, mapped to the same Grievance
 * the JSON API builds and stored through the same path), and its status by receipt. Every error
 * on these paths is Open311's [{"code", "description"}]. README "Open311 GeoReport v2" has the
 * mapping. Handlers have the route table's signature (routes.c calls them with the method already
 * checked); rest is the path after the route's prefix ("" for an exact route). */
#ifndef REDRESS_INTAKE_OPEN311_H
#define REDRESS_INTAKE_OPEN311_H

#include <event2/http.h>
#include <jansson.h>

#include "conn.h"
#include "i18n.h"
#include "taxonomy.h"
#include "worker.h"

#define OPEN311_PREFIX "/open311/"

void open311_discovery(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest);
void open311_services(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest);
/* GET /open311/v2/services/{rest}: rest is "<service_code>.json". */
void open311_service_definition(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                                const char *rest);
/* POST /open311/v2/requests.json (open311_request.c). */
void open311_request_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                            const char *rest);
/* GET /open311/v2/requests.json: refused (it would list other people's grievances). */
void open311_request_list(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                          const char *rest);
/* GET /open311/v2/requests/{rest}: rest is "<service_request_id>.json"; the receipt comes as
 * Authorization: Receipt <receipt> or the api_key query parameter. */
void open311_request_status(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                            const char *rest);

/* An Open311 error: [{"code": code, "description": description}]. */
void open311_error(struct evhttp_request *req, int code, const char *description);
/* A route-level error (errcode as routes.c names it: not_found, method_not_allowed, ...) on an
 * Open311 path; a .xml path is told that only JSON is served. */
void open311_route_error(struct evhttp_request *req, int code, const char *errcode,
                         const char *message);

/* The attributes of the one service definition every service shares, labels in l (a new array;
 * open311_request.c, beside the table the POST reads them with). */
json_t *open311_attributes_json(const Taxonomy *tax, const Lang *l);

#endif
