/* A complainant's action on their own case (a message, an answer to a remedy, an appeal,
 * feedback), shared by the JSON API and the HTML status page: one call of complainant_act() in
 * BEGIN..COMMIT, answered only when the COMMIT is acknowledged. The database checks the receipt,
 * the state of the case, the limits and the Idempotency-Key, and writes the audit event in the
 * same transaction; a refusal rolls everything back and comes back as an ActResult with the HTTP
 * code, the API's error code, the field and a sentence for the person (never a submitted value). */
#ifndef REDRESS_INTAKE_ACT_H
#define REDRESS_INTAKE_ACT_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "conn.h"
#include "worker.h"

typedef enum {
    ACT_MESSAGE = 0, /* {"text"} */
    ACT_REMEDY,      /* {"remedy_id", "decision", "comment"} */
    ACT_APPEAL,      /* {"reason"} */
    ACT_FEEDBACK,    /* {"rating", "comment"} */
} ActKind;

typedef struct {
    int http;          /* 200/201; 4xx refused; 503 unavailable or outcome unknown; 500 */
    const char *code;  /* error: the API's code ("too_many_messages"); borrowed */
    const char *field; /* error: the field at fault, or NULL */
    const char *message;
    int retry_after;    /* seconds for a 429/503, else 0 */
    const json_t *body; /* 2xx: the answer's object; borrowed for the call */
    bool replayed;      /* 2xx: an Idempotency-Key retry got the first answer again */
} ActResult;

/* Answers req; ctx is the caller's. Not called if the client went away; ctx_free(ctx) runs in
 * any case after the reply callback (or instead of it). */
typedef void (*ActReplyCb)(struct evhttp_request *req, const ActResult *r, void *ctx);

typedef struct {
    ActKind kind;
    const char *reference;             /* canonical */
    const unsigned char *rhash;        /* SHA-256 of the canonical receipt, 32 bytes */
    const json_t *args;                /* the action's fields (borrowed; serialised here) */
    const char *idempotency_key;       /* NULL: none */
    const unsigned char *request_hash; /* 32 bytes when idempotency_key is set */
    ActReplyCb reply;
    void (*ctx_free)(void *ctx); /* may be NULL */
    void *ctx;
} ActRequest;

/* Starts the action; the reply callback always runs from the event loop or from inside this call
 * when the database is unavailable. */
void act_start(Worker *w, IntakeConn *conn, struct evhttp_request *req, const ActRequest *ar);

/* Runs call on db, a function answering as complainant_act does ({"http", "body", "replayed"} or
 * a refusal of class RE), in BEGIN..COMMIT with the same outcomes and reply as act_start. call and
 * its parameters are borrowed until the reply: ctx usually owns them (ctx_free frees it). */
void act_run(Worker *w, Db *db, IntakeConn *conn, struct evhttp_request *req, const DbQuery *call,
             ActReplyCb reply, void (*ctx_free)(void *ctx), void *ctx);

/* The status-page settings complainant_act and grievance_story read from the config, as JSON
 * text (caller frees). */
char *act_limits_json(const Config *cfg);

#endif
