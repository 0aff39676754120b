/* The intake server: N worker threads, each an event_base with its own SO_REUSEPORT listening
 * socket, evhttp (every limit set), database connection and batcher. */
#ifndef REDRESS_INTAKE_SERVER_H
#define REDRESS_INTAKE_SERVER_H

#include <stddef.h>

#include "worker.h"

typedef struct Server Server;

/* Binds every worker's socket and starts the threads. NULL with the reason in err. */
/* Commit stream threads the server runs besides its workers: [database] commit_streams, at most
 * one per worker. */
int server_commit_streams(const Config *cfg);
Server *server_start(const Shared *shared, char *err, size_t errlen);
/* Runs fn(w, arg) in each worker's own thread and waits up to timeout_ms for all of them.
 * Returns how many ran in time. Calls from several threads are serialised. After a timeout fn may
 * still run later: arg must outlive the server. */
int server_run_in_workers(Server *s, void (*fn)(Worker *w, void *arg), void *arg, int timeout_ms);
/* Worker threads (for the watchdog's beat slots 0..n-1). */
int server_workers(const Server *s);
/* Stops accepting, lets queued submissions finish (up to a few seconds), joins the threads. */
void server_stop(Server *s);

#endif
