/* Status look-up by reference and receipt, shared by the API and the HTML status page. A wrong or
 * missing receipt is indistinguishable from an unknown reference. */
#ifndef REDRESS_INTAKE_STATUS_H
#define REDRESS_INTAKE_STATUS_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "conn.h"
#include "taxonomy.h"
#include "worker.h"

typedef enum {
    STATUS_FOUND = 0,
    STATUS_NOT_FOUND,   /* unknown reference, or wrong receipt */
    STATUS_UNAVAILABLE, /* database unavailable */
} StatusOutcome;

typedef struct {
    char reference[16];
    char status[32];
    char received_at[32];
    char next_stage[32]; /* "" when no deadline is known yet */
    char next_due[32];
    json_t *story;     /* grievance_story(): the whole story as the API returns it; borrowed */
    bool overdue;      /* the mechanism is past a deadline it promised (triage's sweep marks it) */
    char language[36]; /* the language the grievance was filed in, or "" */
    char category[72]; /* the harm category (a taxonomy id) it was filed under */
    const Taxonomy *tax; /* the worker's, to name the category in the reader's language */
} StatusInfo;

/* Answers req; info is set only for STATUS_FOUND. Not called if the client went away. */
typedef void (*StatusReplyCb)(struct evhttp_request *req, StatusOutcome outcome,
                              const StatusInfo *info);

/* reference and receipt as typed (normalised here); either may be NULL. */
void status_lookup(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference,
                   const char *receipt, StatusReplyCb reply);

#endif
