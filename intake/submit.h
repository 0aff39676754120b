/* The path of one grievance from a validated Grievance to a committed row, shared by the JSON API
 * and the HTML form: seal the contact, choose reference and receipt, queue for group commit, and
 * answer the request when the outcome is known (if its connection is still there). */
#ifndef REDRESS_INTAKE_SUBMIT_H
#define REDRESS_INTAKE_SUBMIT_H

#include <event2/http.h>

#include "batch.h"
#include "conn.h"
#include "grievance.h"
#include "reference.h"
#include "worker.h"

typedef struct {
    SubmitOutcome outcome;
    const char *reference;   /* STORED/REPLAYED: the row's reference */
    const char *receipt;     /* STORED/REPLAYED: its receipt, to show once */
    const char *received_at; /* STORED/REPLAYED: RFC 3339 UTC */
} SubmitResult;

/* Answers req; ctx is the caller's (freed by the callback). Not called if the client went away;
 * then ctx_free(ctx) runs instead. */
typedef void (*SubmitReplyCb)(struct evhttp_request *req, const SubmitResult *result, void *ctx);

typedef struct {
    const char *channel;               /* "api" or "form" */
    const char *idempotency_key;       /* NULL: none */
    const unsigned char *request_hash; /* 32 bytes when idempotency_key is set */
    SubmitReplyCb reply;
    void (*ctx_free)(void *ctx); /* may be NULL */
    void *ctx;
} SubmitRequest;

/* Queues g (borrowed: everything needed is copied) for storage. */
void submit_start(Worker *w, IntakeConn *conn, struct evhttp_request *req, const Grievance *g,
                  const SubmitRequest *sr);

#endif
