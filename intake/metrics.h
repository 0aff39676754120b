/* redress-intake's Prometheus metrics (config [metrics]; off by default). The hot paths only
 * bump atomic counters; the listener thread (common/promhttp.h) renders them, and asks each
 * worker, in its own thread, for its database state and open connections. Labels are route
 * templates, methods, status codes and outcomes: never a raw path, a reference or an address. */
#ifndef REDRESS_INTAKE_METRICS_H
#define REDRESS_INTAKE_METRICS_H

#include <event2/http.h>

#include "batch.h"
#include "server.h"

/* A reply with this status was sent for req (reply.c: every reply of ours). */
void metrics_reply(struct evhttp_request *req, int status);
/* One submission's outcome (submit.c). */
void metrics_submission(SubmitOutcome outcome);
/* One group-commit transaction answered: its rows, whether it committed, and seconds since it
 * was sent (batch.c). */
void metrics_batch(int rows, bool committed, double seconds);
/* Seconds on CLOCK_MONOTONIC, for metrics_batch. */
double metrics_now(void);

/* Starts the listener when cfg->metrics_enabled; 0 also when off, -1 with the reason in err. */
int metrics_start(Server *server, const Config *cfg, char *err, size_t errlen);
void metrics_stop(void);

#endif
