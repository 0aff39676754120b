/* The complainant's actions over the JSON API, all POST with Authorization: Receipt <receipt>:
 *   /v1/grievances/{ref}/messages      {"text"}
 *   /v1/grievances/{ref}/remedies/{id} {"decision": "accept"|"decline", "comment"}
 *   /v1/grievances/{ref}/appeal        {"reason"}
 *   /v1/grievances/{ref}/feedback      {"rating": 1..5, "comment"}
 *   /v1/grievances/{ref}/attachments   multipart/form-data, one file (evidence.c)
 * A wrong or missing receipt is a 404 like an unknown reference; an unknown field a 422 naming it;
 * Idempotency-Key works as for submissions. */
#ifndef REDRESS_INTAKE_DIALOGUE_H
#define REDRESS_INTAKE_DIALOGUE_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "act.h"
#include "conn.h"
#include "worker.h"

/* rest: what follows "/v1/grievances/", e.g. "7K3QMZ9X2FA/messages". */
void dialogue_api(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *rest);

/* Answers an action's API request from its ActResult (JSON body or error, Retry-After,
 * Idempotent-Replayed); an ActReplyCb, ctx unused. */
void dialogue_reply(struct evhttp_request *req, const ActResult *r, void *ctx);

/* The action named by a path's tail ("messages", "remedies/12", "appeal", "feedback"): its kind
 * and, for a remedy, the remedy's id in *remedy_id. false for anything else. */
bool dialogue_parse_action(const char *tail, ActKind *kind, long long *remedy_id);

/* Checks args (an object of the action's fields) for unknown fields and wrong types. true, or false
 * with the field and a sentence. Shared by the API and the status page's forms. */
bool dialogue_args_check(ActKind kind, const json_t *args, const char **field, const char **why);

#endif
