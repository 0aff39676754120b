/* GET /v1/openapi.json: docs/openapi.json, the OpenAPI 3.1 description of every route, built into
 * the binary so the document served always matches the server that serves it. */
#ifndef REDRESS_INTAKE_OPENAPI_H
#define REDRESS_INTAKE_OPENAPI_H

#include <event2/http.h>

void openapi_reply(struct evhttp_request *req);

#endif
