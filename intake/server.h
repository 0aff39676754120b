/* The intake server: N worker threads, each an event_base with its own SO_REUSEPORT listening
 * socket, evhttp (every limit set), database connection and batcher. */
#ifndef REDRESS_INTAKE_SERVER_H
#define REDRESS_INTAKE_SERVER_H

#include <stddef.h>

#include "worker.h"

typedef struct Server Server;

/* Binds every worker's socket and starts the threads. NULL with the reason in err. */
Server *server_start(const Shared *shared, char *err, size_t errlen);
/* Stops accepting, lets queued submissions finish (up to a few seconds), joins the threads. */
void server_stop(Server *s);

#endif
